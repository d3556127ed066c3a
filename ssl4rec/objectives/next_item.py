"""Next-item prediction at every position of a causal sequence encoder."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..interactions import Batch
from ..registry import register_objective
from .base import Objective, ObjectiveConfig, TrainBatch, check_choice, trim_left
from .losses import ITEM_LOSSES, item_loss

__all__ = ["NextItem", "NextItemConfig", "batch_inputs", "last_hidden", "score_last_position"]


@dataclasses.dataclass
class NextItemConfig(ObjectiveConfig):
    """Parameters of :class:`NextItem`."""

    loss: str = "ce"
    """``"ce"``: softmax over all items; ``"bce"`` / ``"bpr"``: against sampled negatives."""
    num_negatives: int = 1
    """Uniform negatives per target for ``"bce"`` / ``"bpr"``."""
    positions: str = "all"
    """``"all"``: every position of a training row predicts its next item (SASRec); ``"last"``: only the
    row's last item is a target (RecBole's training on prefixes, with ``train_windows: prefixes``)."""


def score_last_position(net: nn.Module, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
    """Scores ``[B, n_items]`` from the hidden state at the last position of ``seq``."""
    return last_hidden(net, seq, times) @ net.item_embedding.scoring_matrix().T


def last_hidden(net: nn.Module, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
    """``net.represent`` of ``seq`` trimmed of its all-padding columns (``times`` trimmed alike)."""
    seq = trim_left(seq)
    return net.represent(seq, None if times is None else times[:, -seq.shape[1] :])


def batch_inputs(net: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A scoring batch's item sequences ``[B, max_len]`` and, for a time-aware network, their timestamps."""
    seq = batch.sequences(net.max_len).to(net.device)
    return seq, batch.sequence_times(net.max_len).to(net.device) if getattr(net, "uses_time", False) else None


@register_objective(
    "next_item",
    config=NextItemConfig,
    requires=("sequence", "causal"),
    provides=("scoring",),
    search_space={},
    paper="Kang & McAuley, Self-Attentive Sequential Recommendation, ICDM 2018",
    tags=("main", "sequence"),
)
class NextItem(Objective):
    """Autoregressive next-item prediction at every position (SASRec / GRU4Rec training).

    Kang and McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018: each training
    example is a user's sequence truncated from the left to ``max_len + 1`` items; position
    ``t`` predicts item ``t + 1``. Deviation: the default loss is the full softmax over all
    items (as in RecBole's ``loss_type="CE"``) rather than SASRec's binary cross-entropy with
    one sampled negative, which ``loss="bce"`` restores (negatives are uniform over all
    items, not only the ones the user has not seen).
    """

    Config = NextItemConfig
    passes_time = True
    requires = ("sequence", "causal")
    main = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        check_choice(self.config.loss, ITEM_LOSSES, "objective 'next_item' option loss")
        check_choice(self.config.positions, ("all", "last"), "objective 'next_item' option positions")

    def plan(self, net: nn.Module, batch: TrainBatch) -> None:
        inputs, targets = batch.pairs
        times = batch.input_times
        if self.config.positions == "last":
            keep = targets[:, -1] != 0
            batch.request("next_item", inputs[keep], None, None if times is None else times[keep])
        else:
            batch.request("next_item", inputs, inputs != 0, times)

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        inputs, targets = batch.pairs
        times = batch.input_times
        if self.config.positions == "last":
            keep = targets[:, -1] != 0
            h = batch.hidden(net, "next_item", inputs[keep], None, None if times is None else times[keep])
            batch.memo["next_item_last_hidden"] = h  # the rows with a target (DuoRec's anchor 'main_pass')
            return item_loss(
                net,
                h,
                targets[keep, -1],
                loss=self.config.loss,
                num_negatives=self.config.num_negatives,
                batch=batch,
            )
        real = inputs != 0
        h = batch.hidden(net, "next_item", inputs, real, times)
        batch.memo["next_item_hidden"] = (inputs, real, h)  # the step's forward output (ICLRec's intent query)
        return item_loss(
            net, h, targets[real], loss=self.config.loss, num_negatives=self.config.num_negatives, batch=batch
        )

    def score(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        return score_last_position(net, *batch_inputs(net, batch))

    def user_vectors(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        return last_hidden(net, *batch_inputs(net, batch))
