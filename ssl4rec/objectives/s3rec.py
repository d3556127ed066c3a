"""S3-Rec's four self-supervised pretraining objectives: AAP, MIP, MAP and SP.

Zhou et al., "S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual
Information Maximization", CIKM 2020. Each objective is registered on its own
(``s3rec_aap``, ``s3rec_mip``, ``s3rec_map``, ``s3rec_sp``) as an auxiliary objective, meant
for ``schedule: pretrain_finetune`` beside a main objective (``next_item`` for S3-Rec's
SASRec-style fine-tuning). Their default weights are S3-Rec's (0.2 AAP, 1 MIP, 1 MAP, 0.5 SP)
and each loss is summed over the batch and divided by the batch size, so the relative weights
match S3-Rec's summed losses.

Shared parts: :func:`bidirectional` (pretraining runs the transformer without its causal mask),
:func:`mask_items` (the masking of MIP, MAP and AAP), :func:`item_attribute_matrix` (the
multi-hot item attribute table of AAP and MAP, from ``train.items["attributes"]``) and
:func:`segment_views` (the three sequences of SP).

Deviations from the authors' code (RUCAIBox/CIKM2020-S3Rec) shared by all four:

* Training sequences are the model's training rows (each user's most recent ``max_len`` items,
  or every window with ``train_windows="all"``), not every prefix of each user's sequence.
* Each objective draws its own masking and runs its own forward pass; S3-Rec computes AAP, MIP
  and MAP from one masked sequence in one pass.
* GRU encoders (no ``causal`` switch) are used as they are, i.e. causally.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ConfigError, register_objective
from .base import IncompatibleError, Objective, ObjectiveConfig, TrainBatch, TrainData, span

__all__ = [
    "AssociatedAttributePrediction",
    "MaskedAttributePrediction",
    "MaskedItemPrediction",
    "S3RecAAPConfig",
    "S3RecMAPConfig",
    "S3RecMIPConfig",
    "S3RecSPConfig",
    "SegmentPrediction",
    "bidirectional",
    "item_attribute_matrix",
    "mask_items",
    "segment_views",
]

PAPER = (
    "Zhou et al., S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual "
    "Information Maximization, CIKM 2020"
)
TAGS = ("ssl", "sequence", "attributes")


# -- shared helpers ----------------------------------------------------------------------------


@contextlib.contextmanager
def bidirectional(encoder: nn.Module) -> Iterator[nn.Module]:
    """Run ``encoder`` bidirectionally (padding mask only) inside the ``with`` block.

    An encoder with a ``causal`` attribute (the transformer) gets ``causal = False`` for the
    duration and its own value back afterwards, also when the block raises. Encoders without
    one (GRU) are left as they are, i.e. causal.
    """
    if not hasattr(encoder, "causal"):
        yield encoder
        return
    was = encoder.causal
    encoder.causal = False
    try:
        yield encoder
    finally:
        encoder.causal = was


def mask_items(
    seq: torch.Tensor, mask_prob: float, mask_token: int, batch: TrainBatch
) -> tuple[torch.Tensor, torch.Tensor]:
    """S3-Rec's masking: each real item becomes ``mask_token`` with probability ``mask_prob``; the last always does.

    Args:
        seq: LongTensor [B, W], left-padded (0 = padding), its last column the most recent item.
        mask_prob: probability of masking each item but the last.
        mask_token: the id written in place of a masked item.
        batch: the source of randomness (``batch.rand``).

    Returns:
        ``(inputs, masked)``: the masked sequence [B, W] and the bool mask [B, W] of the
        replaced positions (never padding).
    """
    real = seq != 0
    masked = real & (batch.rand(*seq.shape) < mask_prob)
    masked[:, -1] |= real[:, -1]
    return seq.masked_fill(masked, mask_token), masked


def item_attribute_matrix(items: Any, n_items: int, name: str) -> torch.Tensor:
    """Multi-hot item attributes: bool [n_items + 2, n_attr] indexed by the shifted item id.

    Row 0 (padding) and row ``n_items + 1`` (mask token) are all False; row ``i + 1`` marks the
    attribute ids of item ``i``; ``n_attr`` = the largest attribute id + 1.

    Args:
        items: the items side table (index = dense item id) with a column ``attributes`` of
            lists of int ids (an item with a missing value has none), or None.
        n_items: the number of items.
        name: the objective's name, for the error message.

    Raises:
        IncompatibleError: the table is None, has no ``attributes`` column or no attribute id.
    """
    if items is None or "attributes" not in getattr(items, "columns", ()):
        raise IncompatibleError(f"{name} needs item attributes; dataset has none")
    col = items["attributes"]
    col = col[col.map(lambda v: isinstance(v, list | tuple | np.ndarray))]
    flat = col.explode().dropna()
    if flat.empty:
        raise IncompatibleError(f"{name} needs item attributes; the dataset's attribute lists are all empty")
    rows = flat.index.to_numpy().astype(np.int64)
    ids = flat.to_numpy().astype(np.int64)
    if rows.min() < 0 or rows.max() >= n_items:
        raise ValueError(f"{name}: the items table's index must be dense item ids in [0, {n_items})")
    if ids.min() < 0:
        raise ValueError(f"{name}: attribute ids must be non-negative, got {int(ids.min())}")
    out = torch.zeros(n_items + 2, int(ids.max()) + 1, dtype=torch.bool)
    out[torch.from_numpy(rows + 1), torch.from_numpy(ids)] = True
    return out


def uniform_below(high: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
    """Uniform integers in ``[0, high)`` for each element of ``high`` (LongTensor, all >= 1)."""
    return batch.randint(0, 2**62, *high.shape) % high


def segment_views(
    seq: torch.Tensor, pool: torch.Tensor, mask_token: int, batch: TrainBatch
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """S3-Rec's segment prediction inputs for the rows of ``seq`` with at least 2 items.

    Per row of length n: ``seg_len`` ~ U{1..n // 2}, ``start`` ~ U{0..n - seg_len} (counted from
    the row's first item); a negative segment of the same length is the slice of ``pool`` (the
    concatenated training log, shifted +1) at a uniform start.

    Args:
        seq: LongTensor [B, W], left-padded.
        pool: LongTensor [P] of item ids (shifted +1), P >= every row's length // 2.
        mask_token: the mask id.
        batch: the source of randomness.

    Returns:
        ``(rows, masked, pos, neg)``: ``rows`` [R] the rows of ``seq`` used (n >= 2); ``masked``
        [R, W] the rows with the segment replaced by the mask token; ``pos`` [R, W] the segment's
        items at their positions and the mask token on every other real position; ``neg`` [R, W]
        as ``pos`` with the negative segment's items. Padding stays padding in all three.
    """
    n = span(seq)
    rows = (n >= 2).nonzero().squeeze(1)
    seq, n = seq[rows], n[rows]
    real = seq != 0
    w = seq.shape[1]
    seg_len = 1 + uniform_below(n // 2, batch)
    start = (w - n) + uniform_below(n - seg_len + 1, batch)  # column of the segment's first item
    rel = torch.arange(w, device=seq.device)[None, :] - start[:, None]  # offset within the segment
    inside = (rel >= 0) & (rel < seg_len[:, None])
    outside = torch.where(real, mask_token, 0)
    neg_start = uniform_below(pool.shape[0] - seg_len + 1, batch)
    neg_items = pool[(neg_start[:, None] + rel.clamp(min=0)).clamp(max=pool.shape[0] - 1)]
    masked = seq.masked_fill(inside, mask_token)
    return rows, masked, torch.where(inside, seq, outside), torch.where(inside, neg_items, outside)


def make_head(dim: int) -> nn.Linear:
    """A ``Linear(dim, dim)`` with bias, N(0, 0.02) weights and a zero bias (S3-Rec's initialisation)."""
    head = nn.Linear(dim, dim)
    nn.init.normal_(head.weight, 0.0, 0.02)
    nn.init.zeros_(head.bias)
    return head


def _check_mask_prob(name: str, p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"objective {name!r}: mask_prob must be in [0, 1), got {p}")


# -- configs -----------------------------------------------------------------------------------


@dataclasses.dataclass
class S3RecAAPConfig(ObjectiveConfig):
    """Parameters of :class:`AssociatedAttributePrediction`."""

    objective_weight: float = 0.2
    """Weight of the AAP loss (S3-Rec's 0.2)."""
    mask_prob: float = 0.2
    """Probability that each item but the last (always masked) is masked; AAP predicts the
    attributes of the items left unmasked (S3-Rec runs AAP on the masked sequence)."""


@dataclasses.dataclass
class S3RecMIPConfig(ObjectiveConfig):
    """Parameters of :class:`MaskedItemPrediction`."""

    objective_weight: float = 1.0
    """Weight of the MIP loss (S3-Rec's 1)."""
    mask_prob: float = 0.2
    """Probability that each item but the last (always masked) is masked."""


@dataclasses.dataclass
class S3RecMAPConfig(ObjectiveConfig):
    """Parameters of :class:`MaskedAttributePrediction`."""

    objective_weight: float = 1.0
    """Weight of the MAP loss (S3-Rec's 1)."""
    mask_prob: float = 0.2
    """Probability that each item but the last (always masked) is masked."""


@dataclasses.dataclass
class S3RecSPConfig(ObjectiveConfig):
    """Parameters of :class:`SegmentPrediction`."""

    objective_weight: float = 0.5
    """Weight of the SP loss (S3-Rec's 0.5)."""


# -- objectives --------------------------------------------------------------------------------


class _S3RecObjective(Objective):
    """Common parts: the ``Linear(d, d)`` head (made in :meth:`setup`) and the mask-probability check."""

    requires = ("sequence",)
    main = False
    needs_attributes: ClassVar[bool] = False
    """True: :meth:`prepare` raises :class:`IncompatibleError` on data without item attributes."""
    registered_name: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if hasattr(self.config, "mask_prob"):
            _check_mask_prob(self.registered_name, self.config.mask_prob)
        self.head: nn.Linear | None = None

    def setup(self, net: nn.Module) -> None:
        self.head = make_head(net.item_embedding.dim).to(net.device)

    def _head(self) -> nn.Linear:
        if self.head is None:
            raise RuntimeError(f"objective {self.registered_name!r}: setup() was not called")
        return self.head


class _AttributeObjective(_S3RecObjective):
    """An objective that predicts item attributes: owns (or shares) the attribute table and embedding.

    The attribute embedding ``nn.Embedding(n_attr, d)`` (N(0, 0.02)) and the multi-hot table are
    made in :meth:`prepare`; when another attribute objective of the same network made them
    already (``s3rec_aap`` with ``s3rec_map``), this one shares them, as S3-Rec shares one
    attribute embedding. Each objective keeps its own head.
    """

    needs_attributes = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.register_buffer("attributes", None, persistent=False)
        self.attribute_embedding: nn.Embedding | None = None

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        for other in net.objectives.values():
            if other is not self and isinstance(other, _AttributeObjective) and other.attribute_embedding is not None:
                self.attributes, self.attribute_embedding = other.attributes, other.attribute_embedding
                return
        table = item_attribute_matrix(data.train.items, net.n_items, self.registered_name)
        emb = nn.Embedding(table.shape[1], net.item_embedding.dim)
        nn.init.normal_(emb.weight, 0.0, 0.02)
        self.attributes = table.to(net.device)
        self.attribute_embedding = emb.to(net.device)

    @staticmethod
    def positions(seq: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """[B, W] bool: where the attributes are predicted, given the sequence and its masked positions."""
        raise NotImplementedError

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        seq = batch.sequence
        inputs, masked = mask_items(seq, self.config.mask_prob, net.mask_token, batch)
        where = self.positions(seq, masked)
        if not bool(where.any()):
            return self._head().weight.sum() * 0.0
        with bidirectional(net.encoder):
            h = net.encode_at(inputs, where)
        return self.attribute_loss(h, seq[where]) / seq.shape[0]

    def attribute_loss(self, h: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Summed BCE of ``sigmoid(E_attr . W h)`` [N, n_attr] against the attributes of ``items`` [N] (shifted ids)."""
        if self.attribute_embedding is None or self.attributes is None:
            raise RuntimeError(f"objective {self.registered_name!r}: prepare() was not called (no attribute table)")
        logits = self._head()(h) @ self.attribute_embedding.weight.T
        return F.binary_cross_entropy_with_logits(logits, self.attributes[items].to(logits.dtype), reduction="sum")


@register_objective(
    "s3rec_aap",
    config=S3RecAAPConfig,
    requires=("sequence",),
    search_space={"objective_weight": ("float", 0.02, 2.0, "log"), "mask_prob": ("float", 0.1, 0.5, "linear")},
    paper=PAPER,
    tags=TAGS,
)
class AssociatedAttributePrediction(_AttributeObjective):
    """S3-Rec AAP: predict each unmasked item's attributes from its hidden state (item-attribute MI).

    Zhou et al., "S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual
    Information Maximization", CIKM 2020. On the masked sequence (:func:`mask_items`), at every
    real, unmasked position t: ``sigmoid(E_attr . W_aap h_t)`` over all attributes, BCE against
    the item's multi-hot attributes, summed over attributes and positions, divided by the batch
    size. The encoder runs bidirectionally (:func:`bidirectional`). Needs ``attributes`` in the
    items table (else :class:`IncompatibleError` at fit). Deviations: see the module docstring
    (training rows, own masking and forward pass, GRU stays causal); the attribute embedding is
    shared with ``s3rec_map`` when both are used (as in S3-Rec), the head is its own.
    """

    Config = S3RecAAPConfig
    registered_name = "s3rec_aap"

    @staticmethod
    def positions(seq: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        return (seq != 0) & ~masked  # the real, unmasked items


@register_objective(
    "s3rec_map",
    config=S3RecMAPConfig,
    requires=("sequence",),
    search_space={"objective_weight": ("float", 0.1, 10.0, "log"), "mask_prob": ("float", 0.1, 0.5, "linear")},
    paper=PAPER,
    tags=TAGS,
)
class MaskedAttributePrediction(_AttributeObjective):
    """S3-Rec MAP: predict a masked item's attributes from the context (sequence-attribute MI).

    Zhou et al., "S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual
    Information Maximization", CIKM 2020. At every masked position t (:func:`mask_items`):
    ``sigmoid(E_attr . W_map h_t)`` against the true item's multi-hot attributes, BCE summed over
    attributes and positions, divided by the batch size; bidirectional encoder. Needs item
    attributes (else :class:`IncompatibleError` at fit). Deviations: see the module docstring;
    the attribute embedding is shared with ``s3rec_aap`` when both are used, the head is its own.
    """

    Config = S3RecMAPConfig
    registered_name = "s3rec_map"

    @staticmethod
    def positions(seq: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        return masked


@register_objective(
    "s3rec_mip",
    config=S3RecMIPConfig,
    requires=("sequence",),
    search_space={"objective_weight": ("float", 0.1, 10.0, "log"), "mask_prob": ("float", 0.1, 0.5, "linear")},
    paper=PAPER,
    tags=TAGS,
)
class MaskedItemPrediction(_S3RecObjective):
    """S3-Rec MIP: tell a masked item from a sampled one given the context (sequence-item MI).

    Zhou et al., "S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual
    Information Maximization", CIKM 2020. At every masked position t (:func:`mask_items`):
    ``s_pos = sigmoid(<W_mip h_t, e_true>)``, ``s_neg = sigmoid(<W_mip h_t, e_neg>)`` with one
    uniform negative item; loss ``BCE(sigmoid(s_pos - s_neg), 1)`` summed over positions, divided
    by the batch size; bidirectional encoder. Needs no attributes. Negatives exclude the items of
    the row's sequence (the user's most recent ``max_len`` items; S3-Rec: the whole sequence) by
    resampling up to 10 times; with text item representations they range over the items with
    training interactions (as :func:`~ssl4rec.objectives.losses.item_loss`). Other deviations:
    see the module docstring.
    """

    Config = S3RecMIPConfig
    registered_name = "s3rec_mip"
    resample_rounds: ClassVar[int] = 10

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        seq = batch.sequence
        inputs, masked = mask_items(seq, self.config.mask_prob, net.mask_token, batch)
        if not bool(masked.any()):
            return self._head().weight.sum() * 0.0
        with bidirectional(net.encoder):
            h = self._head()(net.encode_at(inputs, masked))
        own = seq[masked.nonzero()[:, 0]]  # [N, W]: each position's row, row-major as encode_at
        neg = self._negatives(net, own, batch)
        vectors = net.item_embedding(torch.stack([seq[masked], neg], 1))  # [N, 2, d]
        s = torch.sigmoid(torch.bmm(vectors, h[:, :, None]).squeeze(2))
        return F.softplus(-(s[:, 0] - s[:, 1])).sum() / seq.shape[0]

    def _negatives(self, net: nn.Module, own: torch.Tensor, batch: TrainBatch) -> torch.Tensor:
        """One uniform item per row of ``own`` [N, W] (shifted ids), redrawn while it is in that row."""
        candidates = getattr(net, "candidate_items", None)

        def draw(k: int) -> torch.Tensor:
            if candidates is not None:
                return candidates[batch.randint(0, candidates.shape[0], k)] + 1
            return batch.randint(1, net.n_items + 1, k)

        neg = draw(own.shape[0])
        for _ in range(self.resample_rounds):
            clash = (own == neg[:, None]).any(1)
            k = int(clash.sum())
            if k == 0:
                break
            neg[clash] = draw(k)
        return neg


@register_objective(
    "s3rec_sp",
    config=S3RecSPConfig,
    requires=("sequence",),
    search_space={"objective_weight": ("float", 0.05, 5.0, "log")},
    paper=PAPER,
    tags=TAGS,
)
class SegmentPrediction(_S3RecObjective):
    """S3-Rec SP: tell a masked-out segment from a random one given the rest (sequence-segment MI).

    Zhou et al., "S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual
    Information Maximization", CIKM 2020. Per sequence of n >= 2 items (:func:`segment_views`):
    a segment of U{1..n // 2} items at a uniform start is replaced by mask tokens; the context
    (that masked sequence), the segment (its items in place, mask tokens on the other real
    positions) and a negative segment (a same-length slice of the training log at a uniform
    start) are encoded separately and represented by the last position; ``s = sigmoid(<W_sp ctx,
    seg>)``, loss ``BCE(sigmoid(s_pos - s_neg), 1)`` summed over the sequences, divided by the
    batch size; bidirectional encoder. Needs no attributes. Deviations: negative segments come
    from the training log (S3-Rec: every user's full sequence, which includes the validation and
    test items); sequences with one item are left out (S3-Rec scores them with pos = neg, a
    constant loss); a network whose :meth:`prepare` was not run draws negative segments from the
    batch's own items; others: see the module docstring.
    """

    Config = S3RecSPConfig
    registered_name = "s3rec_sp"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.register_buffer("pool", None, persistent=False)

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        self.pool = torch.from_numpy(np.asarray(data.train.item_array, dtype=np.int64) + 1).to(net.device)

    def segment_scores(self, net: nn.Module, batch: TrainBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(s_pos, s_neg)`` [R]: the scores of the true and the negative segment of each row with n >= 2."""
        seq = batch.sequence
        pool = self.pool if self.pool is not None else seq[seq != 0]
        _, masked, pos, neg = segment_views(seq, pool, net.mask_token, batch)
        if masked.shape[0] == 0:
            empty = self._head().weight.new_zeros(0)
            return empty, empty
        with bidirectional(net.encoder):
            z = net.represent(torch.cat([masked, pos, neg]))
        ctx, z_pos, z_neg = z.chunk(3)
        ctx = self._head()(ctx)
        return torch.sigmoid((ctx * z_pos).sum(1)), torch.sigmoid((ctx * z_neg).sum(1))

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        s_pos, s_neg = self.segment_scores(net, batch)
        if s_pos.shape[0] == 0:
            return self._head().weight.sum() * 0.0
        return F.softplus(-(s_pos - s_neg)).sum() / len(batch)
