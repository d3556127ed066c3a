"""Sequence augmentations for contrastive learning: ``crop``, ``mask``, ``reorder`` (CL4SRec),
``substitute``, ``insert`` (CoSeRec) and the model-level ``dropout`` view (DuoRec).

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

__all__ = [
    "Augmentation",
    "CorrelatedConfig",
    "Crop",
    "CropConfig",
    "DropoutView",
    "Insert",
    "InsertConfig",
    "Mask",
    "MaskConfig",
    "RatioConfig",
    "Reorder",
    "ReorderConfig",
    "Substitute",
]

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
    """Base of augmentations: ``aug(seq, generator, mask_token=None) -> seq``.

    Augmentations that read the training data (item correlations) implement ``prepare(net, data)``
    (once per fit) and ``epoch_start(net, epoch, data)``; the objective that owns them forwards its
    own hooks (:class:`~ssl4rec.objectives.base.Objective`). ``grows``: the augmentation may
    lengthen a sequence (``insert``), so it is given rows padded to ``max_len`` and keeps the most
    recent ``max_len`` items.
    """

    Config: ClassVar[type] = RatioConfig
    name: ClassVar[str] = "augmentation"
    grows: ClassVar[bool] = False
    positional: ClassVar[bool] = False
    """True when the output only moves, drops or masks the input's positions and its random draws
    depend on which positions hold items, not on the items: applied to position ids it tells where
    each output position came from, so the items' timestamps follow them (time-aware encoders)."""

    def prepare(self, net: Any, data: Any) -> None:
        """Read what the augmentation needs from the training data (nothing by default)."""

    def epoch_start(self, net: Any, epoch: int, data: Any) -> None:
        """Called before each training epoch (nothing by default)."""

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
    positional = True

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
    positional = True

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
    positional = True

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


def _pick(seq: torch.Tensor, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """[B, W] bool: ``max(1, int(ratio * n))`` distinct real positions per row (none in an empty row)."""
    n = _lengths(seq)
    k = torch.where(n > 0, (ratio * n).long().clamp(min=1), n)
    keys = _rand(tuple(seq.shape), generator, seq.device).masked_fill(seq == 0, 2.0)
    return keys.argsort(1).argsort(1) < k[:, None]


@dataclasses.dataclass
class DropoutViewConfig:
    """:class:`DropoutView` has no parameters."""


@register_augmentation(
    "dropout",
    config=DropoutViewConfig,
    paper="Qiu et al., Contrastive Learning for Representation Degeneration Problem in Sequential Recommendation (DuoRec), WSDM 2022",
    tags=("sequence", "model-level"),
)
class DropoutView(Augmentation):
    """Model-level view (DuoRec's unsupervised augmentation): the sequence unchanged.

    Two ``dropout`` views of a sequence are the same items through the encoder twice, so they
    differ only by the encoder's independent dropout masks.
    """

    Config = DropoutViewConfig
    name = "dropout"
    positional = True

    def __init__(self, **params: Any) -> None:
        self.config = make_config(self.Config, params, f"augmentation {self.name!r}")

    def __call__(self, seq: torch.Tensor, generator: torch.Generator, mask_token: int | None = None) -> torch.Tensor:
        return seq.clone()

    def __repr__(self) -> str:
        return "DropoutView()"


_COSEREC = "Liu et al., Contrastive Self-supervised Sequential Recommendation with Robust Augmentation (CoSeRec), arXiv 2108.06479, 2021"
SIMILARITIES = ("offline", "online", "hybrid")


@dataclasses.dataclass
class CorrelatedConfig(RatioConfig):
    """Parameters of the correlation-based augmentations (``substitute``, ``insert``)."""

    ratio: float = 0.1
    """Fraction of each sequence's items acted on (at least one)."""
    similarity: str = "offline"
    """Where item correlations come from: ``"offline"`` = ItemCF-IUF on the training split (CoSeRec's
    default similarity model); ``"online"`` = dot products of the model's current item embeddings;
    ``"hybrid"`` = per item the better-scoring of the two (CoSeRec after its warm-up)."""
    online_after: int = 0
    """``online`` / ``hybrid``: epochs of the offline similarity before the embeddings are used (CoSeRec's
    ``augmentation_warm_up_epoches``); from then on the embedding neighbours are recomputed every epoch."""


class _Correlated(Augmentation):
    """Base of ``substitute`` / ``insert``: each item's most correlated item, offline and/or online."""

    Config = CorrelatedConfig

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.config.similarity not in SIMILARITIES:
            raise ConfigError(
                f"augmentation {self.name!r}: similarity must be one of {list(SIMILARITIES)}, got {self.config.similarity!r}"
            )
        if self.config.online_after < 0:
            raise ConfigError(f"augmentation {self.name!r}: online_after must be >= 0, got {self.config.online_after}")
        self.neighbours = None
        self._offline = None

    def prepare(self, net: Any, data: Any) -> None:
        from .item_similarity import TopNeighbour, itemcf_neighbours

        self._offline = itemcf_neighbours(data.train)
        self.neighbours = TopNeighbour(*self._offline)

    def epoch_start(self, net: Any, epoch: int, data: Any) -> None:
        if self.config.similarity == "offline" or epoch < self.config.online_after:
            return
        from .item_similarity import TopNeighbour, embedding_neighbours, hybrid

        online = embedding_neighbours(net.item_embedding.scoring_matrix().detach())
        self.neighbours = hybrid(self._offline, online) if self.config.similarity == "hybrid" else TopNeighbour(*online)

    def _table(self):
        if self.neighbours is None:
            raise RuntimeError(f"augmentation {self.name!r} has no item correlations yet: prepare(net, data) first")
        return self.neighbours

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.config.ratio}, similarity={self.config.similarity!r})"


@register_augmentation("substitute", config=CorrelatedConfig, paper=_COSEREC, tags=("sequence", "correlation"))
class Substitute(_Correlated):
    """Replace ``max(1, int(ratio * n))`` random items by their most correlated item (CoSeRec)."""

    name = "substitute"

    def __call__(self, seq: torch.Tensor, generator: torch.Generator, mask_token: int | None = None) -> torch.Tensor:
        chosen = _pick(seq, self.config.ratio, generator)
        return torch.where(chosen, self._table().lookup(seq), seq)


@dataclasses.dataclass
class InsertConfig(CorrelatedConfig):
    """Parameters of :class:`Insert`."""

    ratio: float = 0.4
    """Fraction of each sequence's items before which a correlated item is inserted (at least one)."""


@register_augmentation("insert", config=InsertConfig, paper=_COSEREC, tags=("sequence", "correlation"))
class Insert(_Correlated):
    """Insert each of ``max(1, int(ratio * n))`` random items' most correlated item just before it (CoSeRec).

    The sequence grows by that many items; the most recent ``W`` (the row width) are kept, as the
    authors' code keeps the last ``max_len``.
    """

    Config = InsertConfig
    name = "insert"
    grows = True

    def __call__(self, seq: torch.Tensor, generator: torch.Generator, mask_token: int | None = None) -> torch.Tensor:
        b, w = seq.shape
        chosen = _pick(seq, self.config.ratio, generator)
        slots = torch.stack([torch.where(chosen, self._table().lookup(seq), 0), seq], dim=2).reshape(b, 2 * w)
        # compact: holes (empty slots and padding) to the left, items in order to the right; keep the last w
        order = (slots != 0).to(torch.int8).argsort(dim=1, stable=True)
        return torch.gather(slots, 1, order)[:, w:]
