"""Preprocessing shared by every dataset: duplicate policy, implicit threshold, k-core.

Steps run in a fixed order — ``dedup``, then ``implicit_threshold``, then the k-core — and
each is recorded with its parameters and the user / item / interaction counts before and
after, so ``Dataset.info['preprocessing']`` tells exactly what was done.
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..registry import ConfigError, check_keys, did_you_mean
from .base import DataError

logger = logging.getLogger(__name__)

__all__ = ["Preprocessing", "DEDUP_POLICIES", "apply_preprocessing", "counts_of"]

DEDUP_POLICIES = ("first", "last", "keep")


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """What to do to the raw interactions before ids are made dense.

    Attributes:
        implicit_threshold: keep interactions with ``rating >= implicit_threshold`` (None: keep all).
            Skipped, with a warning, for sources without ratings.
        k_core: iteratively drop users AND items with fewer than ``k_core`` interactions until
            every remaining user and item has at least that many (None: no k-core).
        user_core: minimum interactions per user; overrides ``k_core`` for users.
        item_core: minimum interactions per item; overrides ``k_core`` for items.
        dedup: repeated (user, item) pairs: ``"last"`` keeps the latest one (by timestamp, then
            file order), ``"first"`` the earliest, ``"keep"`` keeps them all.
    """

    implicit_threshold: float | None = None
    k_core: int | None = None
    user_core: int | None = None
    item_core: int | None = None
    dedup: str = "last"

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | Preprocessing | None) -> Preprocessing:
        """Validate a ``preprocessing`` mapping; unknown keys and bad values raise ConfigError."""
        if params is None:
            return cls()
        if isinstance(params, Preprocessing):
            return params
        if not isinstance(params, Mapping):
            raise ConfigError(f"preprocessing must be a mapping, got {type(params).__name__}")
        check_keys(params, [f.name for f in dataclasses.fields(cls)], "preprocessing")
        out = cls(**params)
        out.validate()
        return out

    def validate(self) -> None:
        t = self.implicit_threshold
        if t is not None and (isinstance(t, bool) or not isinstance(t, numbers.Real) or not np.isfinite(t)):
            raise ConfigError(f"preprocessing.implicit_threshold must be a number or null, got {t!r}")
        for key in ("k_core", "user_core", "item_core"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
                raise ConfigError(f"preprocessing.{key} must be a positive integer or null, got {v!r}")
        if self.dedup not in DEDUP_POLICIES:
            raise ConfigError(
                f"preprocessing.dedup must be one of {', '.join(map(repr, DEDUP_POLICIES))}, got {self.dedup!r}."
                + did_you_mean(str(self.dedup), DEDUP_POLICIES)
            )

    @property
    def cores(self) -> tuple[int, int]:
        """(minimum per user, minimum per item); 1 means no constraint."""
        k = self.k_core or 1
        return (
            self.user_core if self.user_core is not None else k,
            self.item_core if self.item_core is not None else k,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def counts_of(df: pd.DataFrame) -> dict[str, int]:
    """Distinct users, distinct items and rows of an interaction frame."""
    return {
        "users": int(df["user"].nunique()),
        "items": int(df["item"].nunique()),
        "interactions": len(df),
    }


def _counts(users: np.ndarray, items: np.ndarray, n_u: int, n_i: int) -> dict[str, int]:
    """``counts_of`` for non-negative integer codes, in O(n)."""
    return {
        "users": int(np.count_nonzero(np.bincount(users, minlength=n_u))),
        "items": int(np.count_nonzero(np.bincount(items, minlength=n_i))),
        "interactions": len(users),
    }


def _dedup_keep(users: np.ndarray, items: np.ndarray, times: np.ndarray, n_i: int, policy: str) -> np.ndarray:
    """Mask keeping the first / last (by timestamp, then row order) row of each (user, item) pair."""
    key = users.astype(np.int64) * max(1, n_i) + items
    dup = pd.Series(key).duplicated(keep=False).to_numpy()  # hashing: O(n), no sort when all are unique
    keep = ~dup
    if not dup.any():
        return keep
    rows = np.flatnonzero(dup)
    order = rows[np.lexsort((times[rows], key[rows]))]  # lexsort is stable: ties keep row order
    k = key[order]
    change = k[1:] != k[:-1]
    chosen = np.concatenate((change, [True])) if policy == "last" else np.concatenate(([True], change))
    keep[order[chosen]] = True
    return keep


def _k_core_keep(
    users: np.ndarray, items: np.ndarray, keep: np.ndarray, user_core: int, item_core: int
) -> tuple[np.ndarray, int]:
    """Iterative k-core: the mask of rows whose user and item keep enough rows; returns (mask, rounds)."""
    n_u = int(users.max()) + 1 if len(users) else 0
    n_i = int(items.max()) + 1 if len(items) else 0
    rounds = 0
    while True:
        rounds += 1
        uc = np.bincount(users[keep], minlength=n_u)
        ic = np.bincount(items[keep], minlength=n_i)
        ok = keep & (uc[users] >= user_core) & (ic[items] >= item_core)
        if np.array_equal(ok, keep):
            return keep, rounds
        keep = ok


def apply_preprocessing(
    df: pd.DataFrame, prep: Preprocessing, has_ratings: bool = True, name: str = "dataset"
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Run the configured steps on ``df`` (non-negative integer codes in ``user`` / ``item``).

    Returns:
        The filtered frame (original row order kept) and the list of step records.

    Raises:
        DataError: a step left no interactions; the message names the step and its parameters.
    """
    users = df["user"].to_numpy()
    items = df["item"].to_numpy()
    n_u = int(users.max()) + 1 if len(users) else 0
    n_i = int(items.max()) + 1 if len(items) else 0
    keep = np.ones(len(df), dtype=bool)
    steps: list[dict[str, Any]] = []
    current = _counts(users, items, n_u, n_i)

    def record(step: str, params: dict[str, Any], new_keep: np.ndarray, **extra: Any) -> np.ndarray:
        nonlocal current
        before = current
        after = _counts(users[new_keep], items[new_keep], n_u, n_i)
        steps.append({"step": step, "params": params, "before": before, "after": after, **extra})
        logger.debug("%s: %s %s -> %s", name, step, params, after)
        if after["interactions"] == 0:
            raise DataError(
                f"preprocessing of dataset {name!r} left no interactions at step {step!r} with {params} "
                f"(before it: {before['users']} users, {before['items']} items, {before['interactions']} interactions). "
                "Loosen that parameter."
            )
        current = after
        return new_keep

    if prep.dedup != "keep":
        dedup = _dedup_keep(users, items, df["timestamp"].to_numpy(), n_i, prep.dedup)
        keep = record("dedup", {"policy": prep.dedup}, dedup, removed=int(len(df) - np.count_nonzero(dedup)))
    else:
        steps.append({"step": "dedup", "params": {"policy": "keep"}, "skipped": "duplicates kept"})

    if prep.implicit_threshold is not None:
        if not has_ratings:
            logger.warning(
                "dataset %r has no ratings (implicit feedback); implicit_threshold=%s is not applied",
                name,
                prep.implicit_threshold,
            )
            steps.append(
                {
                    "step": "implicit_threshold",
                    "params": {"threshold": prep.implicit_threshold},
                    "skipped": "source has no ratings",
                }
            )
        else:
            above = keep & (df["rating"].to_numpy() >= prep.implicit_threshold)
            keep = record("implicit_threshold", {"threshold": float(prep.implicit_threshold)}, above)

    user_core, item_core = prep.cores
    if user_core > 1 or item_core > 1:
        cored, rounds = _k_core_keep(users, items, keep, user_core, item_core)
        keep = record("k_core", {"user_core": user_core, "item_core": item_core}, cored, rounds=rounds)
    return (df if keep.all() else df[keep]), steps
