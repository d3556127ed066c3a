"""Attribute-link prediction: each item's attributes predicted from its representation."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import register_objective
from .base import IncompatibleError, Objective, ObjectiveConfig, TrainBatch, TrainData

__all__ = ["AttributeLink", "AttributeLinkConfig"]


@dataclasses.dataclass
class AttributeLinkConfig(ObjectiveConfig):
    """Parameters of :class:`AttributeLink`."""

    objective_weight: float = 0.1
    """Weight of the attribute loss in the total."""


@register_objective(
    "attribute_link",
    config=AttributeLinkConfig,
    requires=(),
    search_space={"objective_weight": ("float", 0.01, 1.0, "log")},
    paper=(
        "Zhou et al., S3-Rec, CIKM 2020 (item-attribute prediction); "
        "Wang et al., KGAT: Knowledge Graph Attention Network for Recommendation, KDD 2019 (item-attribute links)"
    ),
    tags=("ssl", "side-information"),
)
class AttributeLink(Objective):
    """Predict the attributes of the step's items from their item vectors (multi-label BCE).

    For every distinct item of the step (the rows' items for sequence encoders, the positive items
    of the edges for graph encoders) that has at least one attribute: ``sigmoid(W e_i . a_j)`` over all
    attributes ``j`` (``e_i`` the item's vector in the shared item representation, ``a_j`` a learned
    attribute vector, ``W`` a learned map), binary cross-entropy against the item's multi-hot
    attributes (attribute ids, genres, categories, brand: every attribute column the items table
    has), summed over attributes and averaged over items. The item-attribute link of S3-Rec's AAP and
    MIP, on the item table instead of sequence states, so it works with any encoder that has a
    shared item representation; data without attributes make the cell n/a.
    """

    Config = AttributeLinkConfig
    requires = ()
    main = False
    reads_item_table = True
    """Refused with encoders without the shared item representation (bag encoders)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.attributes: torch.Tensor | None = None
        self.attribute_embedding: nn.Embedding | None = None
        self.head: nn.Linear | None = None

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        from ..encoders.text_items import attribute_matrix

        try:
            table, _ = attribute_matrix(data.train.items, net.n_items)
        except ValueError as exc:
            raise IncompatibleError(f"attribute_link needs item attributes: {exc}") from exc
        if self.attributes is not None and tuple(self.attributes.shape) == table.shape:
            return  # prepared already (a resumed fit)
        d = net.item_embedding.dim
        self.attributes = torch.from_numpy(table).to(net.device)
        self.attribute_embedding = nn.Embedding(table.shape[1], d).to(net.device)
        self.head = nn.Linear(d, d, bias=False).to(net.device)
        nn.init.normal_(self.attribute_embedding.weight, 0.0, 0.02)  # S3-Rec's; the head keeps Linear's init

    def step_items(self, batch: TrainBatch) -> torch.Tensor:
        """The distinct 0-based ids of the step's items."""
        if batch.items is not None:
            ids = batch.items.to(batch.device)
        elif batch.window is not None:
            seq = batch.sequence
            ids = seq[seq != 0] - 1
        else:
            raise IncompatibleError("attribute_link needs item ids in the batch (sequence or graph encoders)")
        return torch.unique(ids)

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        if self.attributes is None or self.attribute_embedding is None or self.head is None:
            raise RuntimeError("objective 'attribute_link': prepare() was not called")
        ids = self.step_items(batch)
        ids = ids[self.attributes[ids].sum(1) > 0]
        if ids.numel() == 0:
            return self.attribute_embedding.weight.sum() * 0.0
        h = net.item_embedding.scoring_matrix().index_select(0, ids)
        logits = self.head(h) @ self.attribute_embedding.weight.T
        target = self.attributes.index_select(0, ids).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / ids.numel()

    def predict(self, net: nn.Module, items: torch.Tensor) -> torch.Tensor:
        """Attribute probabilities ``[len(items), n_attr]`` of 0-based ``items``."""
        assert self.attribute_embedding is not None and self.head is not None
        h = net.item_embedding.scoring_matrix().index_select(0, items.to(net.device))
        return torch.sigmoid(self.head(h) @ self.attribute_embedding.weight.T)
