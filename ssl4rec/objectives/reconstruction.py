"""Multinomial reconstruction of the user's item bag, with an annealed KL term (Mult-VAE)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.base import Bag
from ..interactions import Batch
from ..registry import register_objective
from .base import Objective, ObjectiveConfig, TrainBatch

__all__ = ["Reconstruction", "ReconstructionConfig"]


@dataclasses.dataclass
class ReconstructionConfig(ObjectiveConfig):
    """Parameters of :class:`Reconstruction`."""

    anneal_cap: float = 0.2
    """Largest weight of the KL term."""
    total_anneal_steps: int = 200_000
    """Optimiser steps over which the KL weight grows linearly from 0 to ``anneal_cap``."""


@register_objective(
    "reconstruction",
    config=ReconstructionConfig,
    requires=("bag",),
    provides=("scoring",),
    search_space={
        "anneal_cap": ("float", 0.05, 1.0, "linear"),
        "total_anneal_steps": ("categorical", [10_000, 50_000, 200_000]),
    },
    paper="Liang et al., Variational Autoencoders for Collaborative Filtering, WWW 2018",
    tags=("main", "bag"),
)
class Reconstruction(Objective):
    """Multinomial log-likelihood of the user's items, plus beta x KL for a variational encoder.

    Liang, Krishnan, Hoffman and Jebara, "Variational Autoencoders for Collaborative
    Filtering", WWW 2018: ``-sum_i x_i log softmax(logits)_i + beta * KL(q(z|x) || N(0, I))``
    with ``beta = min(anneal_cap, step / total_anneal_steps)``. A non-variational encoder
    (Mult-DAE) gets the likelihood only. Scores are the decoder's logits from ``mu``.
    """

    Config = ReconstructionConfig
    requires = ("bag",)
    main = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def beta(self) -> float:
        """The current KL weight."""
        total = max(1, int(self.config.total_anneal_steps))
        return min(float(self.config.anneal_cap), int(self.steps) / total)

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        bag = batch.bag
        out = net.encoder(bag)
        logp = F.log_softmax(out.logits, dim=-1)
        nll = -logp[bag.rows, bag.items].sum() / max(1, bag.size)
        if out.logvar is None:
            return nll
        kl = (-0.5 * (1 + out.logvar - out.mu.pow(2) - out.logvar.exp()).sum(1)).mean()
        beta = self.beta()
        if self.training:
            self.steps += 1
        return nll + beta * kl

    def score(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        return net.encoder(Bag.from_csr(batch.matrix(), net.device)).logits

    def user_vectors(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        """The decoder's last hidden layer at ``mu`` (scores add the decoder's output bias)."""
        mu, _ = net.encoder.encode(Bag.from_csr(batch.matrix(), net.device))
        return net.encoder.decode_hidden(mu)
