"""An ssl4rec plugin: alignment + uniformity of user and next-item representations."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ssl4rec.objectives import Objective, ObjectiveConfig
from ssl4rec.registry import register_objective


@dataclasses.dataclass
class AlignUniformConfig(ObjectiveConfig):
    """Parameters of :class:`AlignUniform`."""

    objective_weight: float = 0.1
    """Weight of this loss next to the main objective."""
    gamma: float = 1.0
    """Weight of the uniformity term against the alignment term."""


def uniformity(z: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """log E exp(-t ||z_i - z_j||^2) over distinct pairs of rows (lower = more uniform)."""
    return torch.pdist(z).pow(2).mul(-t).exp().mean().log()


@register_objective(
    "align_uniform",
    config=AlignUniformConfig,
    requires=("sequence",),
    search_space={
        "objective_weight": ("float", 0.01, 1.0, "log"),
        "gamma": ("float", 0.1, 10.0, "log"),
    },
    paper="Wang et al., Towards Representation Alignment and Uniformity in Collaborative Filtering, KDD 2022",
    tags=("ssl", "sequence"),
)
class AlignUniform(Objective):
    """Pull each user's representation towards their next item; spread both over the sphere.

    Wang et al., "Towards Representation Alignment and Uniformity in Collaborative
    Filtering" (DirectAU), KDD 2022. Deviation: an auxiliary loss on a sequence encoder
    (user = hidden state before the last item, positive = the last item) instead of the
    main loss of a matrix factorisation model.
    """

    Config = AlignUniformConfig
    requires = ("sequence",)
    main = False

    def loss(self, net, batch):
        inputs, targets = batch.pairs  # the sequence before each user's last item, and that item
        user = F.normalize(net.encode(inputs)[:, -1], dim=-1)
        item = F.normalize(net.item_embedding(targets[:, -1]), dim=-1)
        align = (user - item).pow(2).sum(-1).mean()
        return align + self.config.gamma * (uniformity(user) + uniformity(item)) / 2
