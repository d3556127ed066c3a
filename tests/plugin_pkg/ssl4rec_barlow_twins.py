"""An ssl4rec plugin: Barlow Twins redundancy reduction between two dropout passes of each sequence."""

from __future__ import annotations

import dataclasses

import torch

from ssl4rec.objectives import Objective, ObjectiveConfig
from ssl4rec.registry import register_objective


@dataclasses.dataclass
class BarlowTwinsConfig(ObjectiveConfig):
    """Parameters of :class:`BarlowTwins`."""

    objective_weight: float = 0.01
    """Weight of this loss next to the main objective."""
    off_diagonal: float = 0.005
    """Weight of the decorrelation (off-diagonal) term against the invariance (diagonal) term."""


def standardize(z: torch.Tensor) -> torch.Tensor:
    """Each dimension to zero mean and unit variance over the batch."""
    return (z - z.mean(0)) / (z.std(0) + 1e-5)


@register_objective(
    "barlow_twins",
    config=BarlowTwinsConfig,
    requires=("sequence",),
    search_space={
        "objective_weight": ("float", 0.001, 0.1, "log"),
        "off_diagonal": ("float", 0.001, 0.05, "log"),
    },
    paper="Zbontar et al., Barlow Twins: Self-Supervised Learning via Redundancy Reduction, ICML 2021",
    tags=("ssl", "sequence"),
)
class BarlowTwins(Objective):
    """Make two dropout passes of each user's representation agree dimension by dimension.

    Zbontar, Jing, Misra, LeCun and Deny, "Barlow Twins: Self-Supervised Learning via Redundancy
    Reduction", ICML 2021: the cross-correlation matrix of the two standardised views is pushed
    towards the identity. Deviation: the views are two forward passes of the same sequence with
    independent dropout masks (no input augmentation) and no projection head.
    """

    Config = BarlowTwinsConfig
    requires = ("sequence",)
    main = False

    def loss(self, net, batch):
        z1 = standardize(net.represent(batch.sequence))
        z2 = standardize(net.represent(batch.sequence))  # another dropout mask
        c = z1.T @ z2 / z1.shape[0]
        on = (torch.diagonal(c) - 1).pow(2).sum()
        off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
        return on + self.config.off_diagonal * off
