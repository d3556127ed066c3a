"""Contrastive learning between two augmented views of each sequence (CL4SRec)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..registry import AUGMENTATIONS, ConfigError, register_objective
from .base import Objective, ObjectiveConfig, TrainBatch, check_choice, trim_left
from .losses import flat_similarity, info_nce

__all__ = ["Contrastive", "ContrastiveConfig", "augment"]


@dataclasses.dataclass
class ContrastiveConfig(ObjectiveConfig):
    """Parameters of :class:`Contrastive`."""

    objective_weight: float = 0.1
    """Weight of the contrastive loss (``lambda`` in CL4SRec)."""
    temperature: float = 1.0
    """InfoNCE temperature."""
    similarity: str = "dot"
    """``"dot"`` (CL4SRec) or ``"cosine"`` similarity between views."""
    augmentations: list[str] = dataclasses.field(default_factory=lambda: ["crop", "mask", "reorder"])
    """Registered augmentations; each view of each sequence draws one of them uniformly."""
    view_repr: str = "last"
    """How a view is represented: ``"last"`` = the hidden state at the last position (the user
    representation used for scoring); ``"flatten"`` = every position's hidden state of the
    right-aligned view concatenated (padding positions are zeros), as in the CL4SRec / ICLRec code."""
    crop_ratio: float = 0.2
    """Fraction kept by ``crop`` (``eta``)."""
    mask_ratio: float = 0.7
    """Fraction masked by ``mask`` (``gamma``)."""
    mask_value: str = "token"
    """What ``mask`` puts in place of an item: ``"token"`` (the paper's ``[mask]``) or
    ``"padding"`` (the CL4SRec / ICLRec code, which writes the padding id 0)."""
    reorder_ratio: float = 0.2
    """Fraction shuffled by ``reorder`` (``beta``)."""


def augment(seq: torch.Tensor, augmentations: list, generator: torch.Generator, mask_token: int) -> torch.Tensor:
    """Apply one augmentation, drawn uniformly per row, to each row of ``seq`` [B, L]."""
    if len(augmentations) == 1:
        return augmentations[0](seq, generator, mask_token)
    choice = torch.randint(len(augmentations), (seq.shape[0],), generator=generator).to(seq.device)
    out = seq.clone()
    for k, aug in enumerate(augmentations):
        rows = (choice == k).nonzero().squeeze(1)
        if rows.numel():
            out[rows] = aug(seq[rows], generator, mask_token)
    return out


@register_objective(
    "contrastive",
    config=ContrastiveConfig,
    requires=("sequence",),
    search_space={
        "objective_weight": ("float", 0.01, 1.0, "log"),
        "temperature": ("float", 0.05, 2.0, "log"),
        "crop_ratio": ("float", 0.1, 0.9, "linear"),
        "mask_ratio": ("float", 0.1, 0.9, "linear"),
        "reorder_ratio": ("float", 0.1, 0.9, "linear"),
    },
    paper="Xie et al., Contrastive Learning for Sequential Recommendation, ICDE 2022",
    tags=("ssl", "sequence"),
)
class Contrastive(Objective):
    """InfoNCE between the user representations of two augmented views of each sequence.

    Xie et al., "Contrastive Learning for Sequential Recommendation" (CL4SRec), ICDE 2022.
    Each view applies one of ``augmentations`` (default crop / mask / reorder, chosen per
    sequence) to the user's most recent ``max_len`` items; the two views of a sequence are a
    positive pair and the other 2N - 2 views of the batch are negatives (:func:`info_nce`).
    Defaults follow the authors' code (dot-product similarity, temperature 1.0, weight 0.1,
    ratios 0.2 / 0.7 / 0.2). Deviation by default (``view_repr="last"``): views are compared by
    the hidden state at the last position (the user representation used for scoring);
    ``view_repr="flatten"`` compares the flattened sequence outputs as the authors' code does.
    Masked items take the mask token (the paper's ``[mask]``) by default; ``mask_value="padding"``
    writes the padding id as the authors' code does.
    """

    Config = ContrastiveConfig
    requires = ("sequence",)
    main = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        from ..ssl import augmentations as _builtin  # noqa: F401  (registers crop / mask / reorder)

        c = self.config
        check_choice(c.similarity, ("dot", "cosine"), "objective 'contrastive' option similarity")
        check_choice(c.view_repr, ("last", "flatten"), "objective 'contrastive' option view_repr")
        if not c.augmentations:
            raise ConfigError("objective 'contrastive': augmentations must name at least one augmentation")
        if c.temperature <= 0:
            raise ConfigError(f"objective 'contrastive': temperature must be positive, got {c.temperature}")
        check_choice(c.mask_value, ("token", "padding"), "objective 'contrastive' option mask_value")
        options = {"crop": {"ratio": c.crop_ratio}, "mask": {"ratio": c.mask_ratio, "value": c.mask_value}, "reorder": {"ratio": c.reorder_ratio}}
        self.augmentations = [AUGMENTATIONS.build(name, **options.get(name, {})) for name in c.augmentations]

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        seq = batch.sequence
        views = [augment(seq, self.augmentations, batch.generator, net.mask_token) for _ in range(2)]
        both = trim_left(torch.cat(views))  # one width for both views: positions align from the right
        if self.config.view_repr == "flatten":
            # z @ z.T of the flattened views, by span (padding outputs are zero): dense cost only for long rows
            rows, chunks = net.encode_chunks(both)
            inv = torch.empty_like(rows)
            inv[rows] = torch.arange(rows.numel(), device=rows.device)
            gram = flat_similarity(chunks).index_select(0, inv).index_select(1, inv)
            z1 = gram[: seq.shape[0]]
            return info_nce(z1, z1, self.config.temperature, self.config.similarity, gram=gram)
        z1, z2 = net.represent(both).chunk(2)
        return info_nce(z1, z2, self.config.temperature, self.config.similarity)
