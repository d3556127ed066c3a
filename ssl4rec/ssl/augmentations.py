"""Sequence augmentations for contrastive learning: ``crop``, ``mask`` and ``reorder`` (CL4SRec).

Each augmentation is a registered class built from its config; calling it maps a left-padded
batch of item sequences (LongTensor [B, L], 0 = padding, items shifted +1) and a seeded CPU
``torch.Generator`` to an augmented batch of the same shape, still left-padded. They work on
whole batches with tensor ops: no Python loop over sequences.

Xie et al., "Contrastive Learning for Sequential Recommendation", ICDE 2022. Lengths follow
the authors' code (``int(ratio * n)``); a crop keeps at least one item.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from ..encoders.base import make_config
from ..registry import ConfigError, register_augmentation

__all__ = ["Augmentation", "Crop", "CropConfig", "Mask", "MaskConfig", "RatioConfig", "Reorder", "ReorderConfig"]

_PAPER = "Xie et al., Contrastive Learning for Sequential Recommendation, ICDE 2022"


@dataclasses.dataclass
class RatioConfig:
    """Parameters of the built-in augmentations."""

    ratio: float = 0.2
    """Fraction of each sequence the augmentation acts on (crop: kept; mask: masked; reorder: shuffled)."""


@dataclasses.dataclass
class CropConfig(RatioConfig):
    """Parameters of :class:`Crop` (``eta`` in CL4SRec)."""

    ratio: float = 0.2
    """Fraction of each sequence kept."""


@dataclasses.dataclass
class MaskConfig(RatioConfig):
    """Parameters of :class:`Mask` (``gamma`` in CL4SRec)."""

    ratio: float = 0.7
    """Fraction of each sequence's items replaced by the mask token."""
    value: str = "token"
    """What a masked item becomes: ``"token"`` = the mask token (the CL4SRec paper's ``[mask]``);
    ``"padding"`` = the padding id 0, as the CL4SRec / ICLRec code does (a Transformer then
    neither computes nor attends to that position, the other positions keep theirs)."""


@dataclasses.dataclass
class ReorderConfig(RatioConfig):
    """Parameters of :class:`Reorder` (``beta`` in CL4SRec)."""

    ratio: float = 0.2
    """Fraction of each sequence shuffled (one contiguous window)."""


class Augmentation:
    """Base of augmentations: ``aug(seq, generator, mask_token=None) -> seq``."""

    Config: ClassVar[type] = RatioConfig
    name: ClassVar[str] = "augmentation"

    def __init__(self, **params: Any) -> None:
        self.config = make_config(self.Config, params, f"augmentation {self.name!r}")
        if not 0.0 <= self.config.ratio <= 1.0:
            raise ConfigError(f"augmentation {self.name!r}: ratio must be in [0, 1], got {self.config.ratio}")

    def __call__(self, seq: torch.Tensor, generator: torch.Generator, mask_token: int | None = None) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.config.ratio})"


def _rand(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(shape, generator=generator).to(device)


def _lengths(seq: torch.Tensor) -> torch.Tensor:
    return (seq != 0).sum(1)


@register_augmentation("crop", config=CropConfig, paper=_PAPER, tags=("sequence",))
class Crop(Augmentation):
    """Keep a random contiguous sub-sequence of ``int(ratio * n)`` items (at least one)."""

    Config = CropConfig
    name = "crop"

    def __call__(self, seq: torch.Tensor, generator: torch.Generator, mask_token: int | None = None) -> torch.Tensor:
        b, w = seq.shape
        n = _lengths(seq)
        keep = torch.where(n > 0, (self.config.ratio * n).long().clamp(min=1), n)
        start = (_rand((b,), generator, seq.device) * (n - keep + 1)).long()
        j = torch.arange(w, device=seq.device)[None]
        src = (j + (keep - n + start)[:, None]).clamp(0, w - 1)
        return torch.where(j >= (w - keep)[:, None], torch.gather(seq, 1, src), torch.zeros_like(seq))


@register_augmentation("mask", config=MaskConfig, paper=_PAPER, tags=("sequence",))
class Mask(Augmentation):
    """Replace ``int(ratio * n)`` randomly chosen items by the mask token (or padding, ``value``)."""

    Config = MaskConfig
    name = "mask"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.config.value not in ("token", "padding"):
            raise ConfigError(f"augmentation 'mask': value must be 'token' or 'padding', got {self.config.value!r}")

    def __call__(self, seq: torch.Tensor, generator: torch.Generator, mask_token: int | None = None) -> torch.Tensor:
        if self.config.value == "padding":
            mask_token = 0
        if mask_token is None:
            raise ValueError("the mask augmentation needs mask_token (the encoder's n_items + 1)")
        n = _lengths(seq)
        k = (self.config.ratio * n).long()
        keys = _rand(tuple(seq.shape), generator, seq.device).masked_fill(seq == 0, 2.0)
        rank = keys.argsort(1).argsort(1)
        return seq.masked_fill(rank < k[:, None], mask_token)


@register_augmentation("reorder", config=ReorderConfig, paper=_PAPER, tags=("sequence",))
class Reorder(Augmentation):
    """Shuffle a random contiguous sub-sequence of ``int(ratio * n)`` items."""

    Config = ReorderConfig
    name = "reorder"

    def __call__(self, seq: torch.Tensor, generator: torch.Generator, mask_token: int | None = None) -> torch.Tensor:
        b, w = seq.shape
        n = _lengths(seq)
        size = (self.config.ratio * n).long()
        start = (_rand((b,), generator, seq.device) * (n - size + 1)).long()
        first = (w - n + start)[:, None]
        j = torch.arange(w, device=seq.device)[None].expand(b, -1)
        inside = (j >= first) & (j < first + size[:, None])
        keys = torch.where(inside, first + _rand((b, w), generator, seq.device) * size[:, None], j.to(torch.float32))
        return torch.gather(seq, 1, keys.argsort(dim=1, stable=True))
