"""Supervised contrastive learning between sequences with the same next item (DuoRec)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from ..registry import ConfigError, register_objective
from .base import IncompatibleError, Objective, ObjectiveConfig, TrainBatch, TrainData, check_choice, trim_left
from .losses import info_nce

__all__ = ["PositivePool", "SupervisedContrastive", "SupervisedContrastiveConfig"]


@dataclasses.dataclass
class SupervisedContrastiveConfig(ObjectiveConfig):
    """Parameters of :class:`SupervisedContrastive`."""

    objective_weight: float = 0.1
    """Weight of the loss (DuoRec's ``lmd_sem``)."""
    temperature: float = 1.0
    """InfoNCE temperature (DuoRec's ``tau``)."""
    similarity: str = "dot"
    """``"dot"`` (DuoRec's ``sim: dot``) or ``"cosine"``."""
    positive: str = "same_target"
    """The positive of a sequence: ``"same_target"`` = another training sequence with the same next item
    (DuoRec's supervised positive; the sequence itself when no other has that target); ``"dropout"`` = the
    same sequence again (DuoRec's unsupervised, model-level view)."""
    mask_same_target: bool = True
    """Sequences of the batch with the same next item are not negatives of each other. DuoRec's code
    keeps them as negatives (``False``)."""
    anchor: str = "dropout_view"
    """The anchor's representation: ``"dropout_view"`` = the training sequence through the encoder once
    more (DuoRec's code: a pass of its own, with its own dropout masks); ``"main_pass"`` = the main
    objective's forward output of the same sequence (``next_item`` with ``positions: last``, listed before
    this objective): one encoder pass fewer per step, and the same loss and gradient in expectation (each
    term still sees one independent dropout draw; the two terms now share it)."""


class PositivePool:
    """Every training prefix, grouped by its next item: the candidates of DuoRec's supervised positives.

    A prefix is an absolute position ``p`` of the training log that is not a user's first
    interaction: its sequence is the user's items before ``p``, its target the item at ``p``. DuoRec
    draws from all prefixes of all training users (every prefix is a training sequence there).
    """

    def __init__(self, train: Any) -> None:
        indptr = np.asarray(train.indptr, dtype=np.int64)
        items = np.asarray(train.item_array, dtype=np.int64)
        users = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        first = np.zeros(len(items), dtype=bool)
        first[indptr[:-1][np.diff(indptr) > 0]] = True
        pos = np.flatnonzero(~first)
        order = np.lexsort((pos, items[pos]))  # by target item, then position
        self.positions = pos[order]
        self.users = users[self.positions]
        target = items[self.positions]
        self.start = np.searchsorted(target, np.arange(train.n_items + 1))
        self.train = train

    def pick(self, ends: np.ndarray, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
        """For rows whose last item sits at ``ends - 1``: a random *other* prefix with the same target.

        Returns ``(users, positions)`` of the positives (a positive's sequence is its user's items
        before its position). A row whose target no other prefix shares gets its own prefix.
        """
        own = np.asarray(ends, dtype=np.int64) - 1
        target = np.asarray(self.train.item_array, dtype=np.int64)[own]
        lo, hi = self.start[target], self.start[target + 1]
        count = hi - lo
        u = torch.rand(len(own), generator=generator).numpy()
        r = np.minimum((u * np.maximum(count - 1, 1)).astype(np.int64), np.maximum(count - 2, 0))
        self_idx = lo + _block_rank(self.positions, lo, hi, own)  # the row's own prefix, skipped
        pick = lo + r
        pick = np.minimum(np.where(pick >= self_idx, pick + 1, pick), len(self.positions) - 1)
        alone = count <= 1
        users = np.where(alone, self._user_of(own), self.users[pick])
        return users, np.where(alone, own, self.positions[pick])

    def draw(self, ends: np.ndarray, generator: torch.Generator, max_len: int) -> torch.Tensor:
        """The sequences [B, max_len] (left-padded, +1 shifted) of :meth:`pick`'s positives."""
        users, positions = self.pick(ends, generator)
        return self.train.sequences(users, max_len, ends=positions)

    def _user_of(self, pos: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.train.indptr), pos, side="right") - 1


def _block_rank(sorted_pos: np.ndarray, lo: np.ndarray, hi: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Index of ``value`` within each sorted block ``sorted_pos[lo:hi]`` (vectorised binary search)."""
    left, right = lo.copy(), hi.copy()
    while True:
        active = left < right
        if not active.any():
            return left - lo
        mid = (left + right) // 2
        less = active & (sorted_pos[np.minimum(mid, len(sorted_pos) - 1)] < value)
        left = np.where(less, mid + 1, left)
        right = np.where(active & ~less, mid, right)


@register_objective(
    "supervised_contrastive",
    config=SupervisedContrastiveConfig,
    requires=("sequence",),
    search_space={
        "objective_weight": ("float", 0.01, 1.0, "log"),
        "temperature": ("float", 0.05, 2.0, "log"),
    },
    paper="Qiu et al., Contrastive Learning for Representation Degeneration Problem in Sequential Recommendation "
    "(DuoRec), WSDM 2022",
    tags=("ssl", "sequence"),
)
class SupervisedContrastive(Objective):
    """InfoNCE between a sequence's dropout view and another training sequence with the same next item.

    Qiu et al., "Contrastive Learning for Representation Degeneration Problem in Sequential
    Recommendation" (DuoRec), WSDM 2022, its ``us_x`` contrast: the anchor is the training sequence
    through the encoder once more (a model-level view: only the dropout masks differ from the main
    objective's pass); its positive is a training sequence with the same target item, drawn uniformly
    from every prefix of every training user (the sequence itself when none other has that target);
    the other 2N - 2 representations of the batch are negatives (:func:`info_nce`). Representations
    are the hidden state at the last position. Deviation (default, ``mask_same_target``): batch rows
    with the same target are not negatives of each other; DuoRec's code keeps them.
    The anchor is the sequence the main objective reads (its last item is the target).
    """

    Config = SupervisedContrastiveConfig
    requires = ("sequence",)
    main = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        c = self.config
        check_choice(c.similarity, ("dot", "cosine"), "objective 'supervised_contrastive' option similarity")
        check_choice(c.positive, ("same_target", "dropout"), "objective 'supervised_contrastive' option positive")
        check_choice(c.anchor, ("dropout_view", "main_pass"), "objective 'supervised_contrastive' option anchor")
        if c.temperature <= 0:
            raise ConfigError(f"objective 'supervised_contrastive': temperature must be positive, got {c.temperature}")
        self.pool: PositivePool | None = None
        self._ends: torch.Tensor | None = None

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        if self.config.anchor == "main_pass":
            before = []
            for obj in net.objectives.values():
                if obj is self:
                    break
                before.append(obj)
            if not any(getattr(getattr(o, "config", None), "positions", None) == "last" and o.main for o in before):
                raise IncompatibleError(
                    "supervised_contrastive anchor 'main_pass' reads the main objective's pass: it needs "
                    "next_item with positions 'last' listed before it (or anchor 'dropout_view')"
                )
        self._ends = data.ends
        if self.config.positive == "same_target":
            self.pool = PositivePool(data.train)

    def _pairs(self, net: nn.Module, batch: TrainBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The step's anchors, their positives and targets, drawn once (in :meth:`plan`)."""
        if "supervised_contrastive" not in batch.memo:
            inputs, targets = batch.pairs
            last = targets[:, -1]
            keep = last != 0  # rows with a target (a user with a single item has none)
            if self.config.positive == "dropout" or self.pool is None:
                pos_seq = inputs[keep]
            else:
                assert self._ends is not None
                ends = self._ends[batch.rows][keep.cpu()].numpy()
                pos_seq = trim_left(self.pool.draw(ends, batch.generator, net.max_len).to(inputs.device))
            batch.memo["supervised_contrastive"] = (inputs[keep], pos_seq, last[keep])
        return batch.memo["supervised_contrastive"]

    def plan(self, net: nn.Module, batch: TrainBatch) -> None:
        anchor_seq, pos_seq, _ = self._pairs(net, batch)
        if self.config.anchor == "dropout_view":
            batch.request(("supervised_contrastive", "anchor"), anchor_seq)
        batch.request(("supervised_contrastive", "positive"), pos_seq)

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        anchor_seq, pos_seq, last = self._pairs(net, batch)
        if self.config.anchor == "main_pass":
            anchor = batch.memo["next_item_last_hidden"]  # next_item's output for the same rows (checked in prepare)
        else:
            anchor = batch.hidden(net, ("supervised_contrastive", "anchor"), anchor_seq)
        positive = batch.hidden(net, ("supervised_contrastive", "positive"), pos_seq)
        keys = last if self.config.mask_same_target else None
        return info_nce(anchor, positive, self.config.temperature, self.config.similarity, keys=keys)
