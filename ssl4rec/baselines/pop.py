"""Popularity and random baselines: the floors every model must beat."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import torch

from ..interactions import Batch, Interactions
from ..recommender import Recommender, Validator
from ..registry import register_baseline
from ._common import batch_users, make_config

logger = logging.getLogger(__name__)

__all__ = ["Pop", "PopConfig", "RandomConfig", "RandomScores"]


@dataclasses.dataclass
class PopConfig:
    """Parameters of :class:`Pop` (none)."""


@register_baseline(
    "pop",
    config=PopConfig,
    search_space={},
    paper="",
    tags=("baseline", "non-personalized"),
)
class Pop(Recommender):
    """Most-popular: every user gets the items ranked by their number of training interactions.

    No paper; the classic non-personalised floor (RecBole ``Pop``). Counts every training
    interaction, repeats included. Users absent from train (cold users) get the same scores.
    """

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.config = make_config(PopConfig, params, "baseline 'pop'")
        self.counts: torch.Tensor | None = None

    def fit(self, train: Interactions, valid: Validator | None = None) -> Pop:
        t0 = time.perf_counter()
        self._remember_train(train)
        self.counts = torch.from_numpy(train.item_counts.astype(np.float32))
        self.fit_info = {"epochs_run": 0, "fit_seconds": time.perf_counter() - t0}
        return self

    def score(self, batch: Batch) -> torch.Tensor:
        if self.counts is None:
            raise RuntimeError("pop: call fit() before score()")
        return self.counts.unsqueeze(0).expand(len(batch), -1).clone()


@dataclasses.dataclass
class RandomConfig:
    """Parameters of :class:`RandomScores`."""

    seed: int = 0
    """Seed of the scores; a (seed, user, item) triple always gets the same score."""


_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    x = x + _M1
    x = (x ^ (x >> np.uint64(30))) * _M2
    x = (x ^ (x >> np.uint64(27))) * _M3
    return x ^ (x >> np.uint64(31))


@register_baseline(
    "random",
    config=RandomConfig,
    search_space={},
    paper="",
    tags=("baseline", "non-personalized", "sanity"),
)
class RandomScores(Recommender):
    """Uniform random scores: the sanity floor (any learning model must beat it).

    No paper. Scores are a hash of (seed, user, item) mapped to [0, 1), so they do not depend
    on batching or call order and the same seed always gives identical scores.
    """

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.config = make_config(RandomConfig, params, "baseline 'random'")

    def fit(self, train: Interactions, valid: Validator | None = None) -> RandomScores:
        self._remember_train(train)
        self.fit_info = {"epochs_run": 0}
        return self

    def score(self, batch: Batch) -> torch.Tensor:
        if not self.n_items:
            raise RuntimeError("random: call fit() before score()")
        users = batch_users(batch).astype(np.uint64)
        items = np.arange(self.n_items, dtype=np.uint64)
        seed = _splitmix64(np.array([self.config.seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
        out = np.empty((len(users), self.n_items), dtype=np.float32)
        step = max(1, (1 << 22) // max(1, self.n_items))  # bounds the uint64 temporaries
        with np.errstate(over="ignore"):
            user_keys = _splitmix64(seed ^ _splitmix64(users))
            for r0 in range(0, len(users), step):
                key = user_keys[r0 : r0 + step, None] ^ items[None, :]
                bits = _splitmix64(key) >> np.uint64(40)  # 24 bits: exact in float32
                out[r0 : r0 + step] = bits.astype(np.float32) * np.float32(2.0**-24)
        return torch.from_numpy(out)
