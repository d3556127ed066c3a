"""Masked-item (cloze) prediction with a bidirectional sequence encoder (BERT4Rec)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..interactions import Batch
from ..registry import ConfigError, register_objective
from .base import Objective, ObjectiveConfig, TrainBatch, check_choice, trim_left
from .losses import ITEM_LOSSES, item_loss
from .next_item import score_last_position

__all__ = ["MaskedItem", "MaskedItemConfig"]


@dataclasses.dataclass
class MaskedItemConfig(ObjectiveConfig):
    """Parameters of :class:`MaskedItem`."""

    mask_prob: float = 0.2
    """Probability that each item of a training sequence is replaced by the mask token."""
    loss: str = "ce"
    """``"ce"``: softmax over all items; ``"bce"`` / ``"bpr"``: against sampled negatives."""
    num_negatives: int = 1
    """Uniform negatives per masked item for ``"bce"`` / ``"bpr"``."""
    last_item_prob: float = 0.0
    """Probability that a training sequence masks only its last item instead (the paper's extra
    samples that "only mask the last item", matching the test task; RecBole's ``ft_ratio``,
    0.5 there, draws it per batch rather than per sequence)."""


@register_objective(
    "masked_item",
    config=MaskedItemConfig,
    requires=("sequence", "bidirectional"),
    provides=("scoring",),
    search_space={"mask_prob": ("float", 0.1, 0.6, "linear")},
    paper="Sun et al., BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations "
    "from Transformer, CIKM 2019",
    tags=("main", "sequence"),
)
class MaskedItem(Objective):
    """Cloze task: predict randomly masked items of the sequence from both sides.

    Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
    Representations from Transformer", CIKM 2019. Each item is replaced by the mask token
    (id ``n_items + 1``) with probability ``mask_prob``; a sequence that drew no mask gets
    its last item masked; with ``last_item_prob`` a sequence masks only its last item (the
    paper's extra last-item-only samples, which match the test task). Scoring appends the mask token to the user's most recent ``max_len - 1`` items
    and reads the prediction at that position. Deviation: masked items are always replaced
    by the mask token (no 10 % random / 10 % unchanged, as in the paper's code).
    """

    Config = MaskedItemConfig
    requires = ("sequence", "bidirectional")
    main = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        check_choice(self.config.loss, ITEM_LOSSES, "objective 'masked_item' option loss")
        if not 0.0 < self.config.mask_prob < 1.0:
            raise ConfigError(f"objective 'masked_item': mask_prob must be in (0, 1), got {self.config.mask_prob}")
        if not 0.0 <= self.config.last_item_prob <= 1.0:
            raise ConfigError(
                f"objective 'masked_item': last_item_prob must be in [0, 1], got {self.config.last_item_prob}"
            )

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        seq = batch.sequence
        real = seq != 0
        masked = real & (batch.rand(*seq.shape) < self.config.mask_prob)
        none = real[:, -1] & ~masked.any(1)
        masked[:, -1] |= none
        if self.config.last_item_prob > 0:  # no extra random draw otherwise (same results as before)
            last_only = real[:, -1] & (batch.rand(seq.shape[0]) < self.config.last_item_prob)
            masked[last_only] = False
            masked[last_only, -1] = True
        h = net.encode_at(seq.masked_fill(masked, net.mask_token), masked)
        return item_loss(
            net, h, seq[masked], loss=self.config.loss, num_negatives=self.config.num_negatives, batch=batch
        )

    def score(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        return score_last_position(net, self._scoring_input(net, batch))

    def user_vectors(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        return net.represent(trim_left(self._scoring_input(net, batch)))

    @staticmethod
    def _scoring_input(net: nn.Module, batch: Batch) -> torch.Tensor:
        """The user's most recent ``max_len - 1`` items followed by the mask token."""
        seq = batch.sequences(net.max_len).to(net.device)
        mask = torch.full((seq.shape[0], 1), net.mask_token, dtype=seq.dtype, device=seq.device)
        return torch.cat([seq[:, 1:], mask], dim=1)
