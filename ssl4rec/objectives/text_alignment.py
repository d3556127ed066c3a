"""Contrastive alignment of sequence representations with the text of the item they lead to."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..registry import ConfigError, register_objective
from .base import Objective, ObjectiveConfig, TrainBatch, check_choice
from .losses import info_nce

__all__ = ["TextAlignment", "TextAlignmentConfig"]


@dataclasses.dataclass
class TextAlignmentConfig(ObjectiveConfig):
    """Parameters of :class:`TextAlignment`."""

    objective_weight: float = 0.1
    """Weight of the alignment loss next to the main objective."""
    temperature: float = 0.07
    """InfoNCE temperature (UniSRec's 0.07)."""
    similarity: str = "cosine"
    """``"cosine"`` (UniSRec, Recformer) or ``"dot"`` similarity."""
    max_anchors: int = 1024
    """At most this many positions per batch are aligned (a seeded uniform sample of them);
    InfoNCE costs ``(2 x anchors)^2``."""
    mask_prob: float = 0.2
    """Bidirectional encoders only: probability that a position is masked and aligned with
    the text of the item it hides."""


@register_objective(
    "text_alignment",
    config=TextAlignmentConfig,
    requires=("sequence",),
    search_space={
        "temperature": ("float", 0.02, 1.0, "log"),
        "objective_weight": ("float", 0.01, 1.0, "log"),
    },
    paper=(
        "Hou et al., Towards Universal Sequence Representation Learning for Recommender Systems (UniSRec), "
        "KDD 2022; Li et al., Text Is All You Need: Learning Language Representations for Sequential "
        "Recommendation (Recformer), KDD 2023"
    ),
    tags=("ssl", "sequence", "text"),
)
class TextAlignment(Objective):
    """InfoNCE between each position's sequence representation and the text of the item it predicts.

    The "sentence similarity" / text-behaviour alignment pretext task of Hou et al., "Towards
    Universal Sequence Representation Learning for Recommender Systems" (UniSRec), KDD 2022
    (sequence-item contrastive task) and Li et al., "Text Is All You Need: Learning Language
    Representations for Sequential Recommendation" (Recformer), KDD 2023: a sequence's
    representation should be close to the language-model embedding of the item that follows
    it and far from the other items of the batch. The text vectors are frozen (the model's
    ``text_encoder``, loaded whatever ``item_repr`` is) and pass through this objective's own
    learned linear projection to the encoder's size, so the loss cannot be met by the
    item-representation adapter alone; the sequence side is the encoder's hidden state.

    Causal encoders: the hidden state at every non-padding position ``t`` is paired with the
    text of item ``t + 1`` (the targets of ``next_item``). Bidirectional encoders would see
    item ``t + 1`` and solve that trivially, so positions are masked with ``mask_prob`` (the
    last one when none is drawn) and each masked position is paired with the text of the item
    it hides. At most ``max_anchors`` positions per batch are used (a seeded uniform sample);
    the other pairs of the batch are the negatives of :func:`info_nce` (2N - 2 per anchor),
    except pairs with the same target item, which are not counted as negatives.

    Deviations: UniSRec contrasts the last position only, against MoE-adapted text of the
    next item, and adds a sequence-sequence task; Recformer contrasts a language model's
    encoding of the item-text sequence with the next item's text encoding. Here the
    sequence encoder is any registered one over item representations, every position
    contributes, and the language model stays frozen.
    """

    Config = TextAlignmentConfig
    requires = ("sequence",)
    main = False
    needs_text = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        c = self.config
        check_choice(c.similarity, ("dot", "cosine"), "objective 'text_alignment' option similarity")
        if c.temperature <= 0:
            raise ConfigError(f"objective 'text_alignment': temperature must be positive, got {c.temperature}")
        if c.max_anchors < 2:
            raise ConfigError(f"objective 'text_alignment': max_anchors must be at least 2, got {c.max_anchors}")
        if not 0.0 < c.mask_prob < 1.0:
            raise ConfigError(f"objective 'text_alignment': mask_prob must be in (0, 1), got {c.mask_prob}")
        self.projection: nn.Linear | None = None

    def setup(self, net: nn.Module) -> None:
        text = getattr(net, "item_text", None)
        if text is None:
            raise ValueError(
                "objective 'text_alignment' needs item text vectors; the model loads them in fit() "
                "from the dataset's item 'text' column"
            )
        self.projection = nn.Linear(text.shape[1], net.item_embedding.dim).to(text.device)

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        if self.projection is None or net.item_text is None:
            raise RuntimeError("objective 'text_alignment': the network has no item text (setup() was not called)")
        if getattr(net.encoder, "direction", "causal") == "bidirectional":
            seq = batch.sequence
            real = seq != 0
            where = real & (batch.rand(*seq.shape) < self.config.mask_prob)
            where[:, -1] |= real[:, -1] & ~where.any(1)
            inputs, targets = seq.masked_fill(where, net.mask_token), seq
        else:
            inputs, targets = batch.pairs
            where = inputs != 0
        pos = where.nonzero()
        if pos.shape[0] == 0:
            return self.projection.weight.sum() * 0.0
        if pos.shape[0] > self.config.max_anchors:
            keep = torch.randperm(pos.shape[0], generator=batch.generator)[: self.config.max_anchors]
            pos = pos[keep.to(pos.device)]
            where = torch.zeros_like(where)
            where[pos[:, 0], pos[:, 1]] = True
        h = net.encode_at(inputs, where)
        items = targets[where]  # row-major, the order of encode_at
        z_text = self.projection(net.item_text[items - 1])
        return info_nce(h, z_text, self.config.temperature, self.config.similarity, keys=items)
