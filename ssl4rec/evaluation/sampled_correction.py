"""Corrected sampled metrics (Krichene & Rendle, "On Sampled Metrics for Item Recommendation", KDD 2020).

Under a sampled protocol a target is ranked among ``m`` uniformly sampled negatives; its sampled rank
``R~`` relates to its rank ``R`` among all ``N`` candidates by ``R~ - 1 ~ Hypergeometric(N - 1, R - 1, m)``
(how many of the ``R - 1`` items above it were drawn). A sampled metric ``M(R~)`` estimates the full
metric ``M(R)`` with a large bias (HR@10 among 101 items is not HR@10 among 1,682). The corrected
metric replaces the value of each sampled rank by ``x[R~]``, chosen so that the estimate is as close
to the full metric as possible for every true rank, traded against its variance (the paper's BV
estimator)::

    x = argmin  sum_r [ (E[x(R~) | R = r] - M(r))^2 + gamma * Var[x(R~) | R = r] ] / N

a linear system of size ``m + 1``. ``gamma = 0`` is the minimal-bias estimator; the default 0.01 keeps
the solution stable. Only for uniform negatives and one target per user (leave-one-out); the full
candidate count ``N`` differs per user (history masked), so users are grouped in ``bins`` by ``N`` and
each group uses its median.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

__all__ = ["DEFAULT_GAMMA", "bv_estimator", "corrected_metrics"]

DEFAULT_GAMMA = 0.01


@functools.lru_cache(maxsize=256)
def _transition(n_full: int, m: int) -> np.ndarray:
    """``P[r - 1, j] = P(R~ = j + 1 | R = r)`` for r = 1..n_full, j = 0..m (hypergeometric)."""
    from scipy.stats import hypergeom

    r = np.arange(1, n_full + 1)
    j = np.arange(m + 1)
    return hypergeom.pmf(j[None, :], n_full - 1, (r - 1)[:, None], m)


def bv_estimator(metric_at_rank: np.ndarray, m: int, gamma: float = DEFAULT_GAMMA) -> np.ndarray:
    """``x`` [m + 1]: the corrected value of each sampled rank 1..m+1 for the full metric ``metric_at_rank``
    [N] (its value when the target is at full rank 1..N), uniform weight over the true ranks."""
    values = np.asarray(metric_at_rank, dtype=np.float64)
    n_full = len(values)
    if not 1 <= m < n_full:
        raise ValueError(f"sampled correction: {m} negatives must be between 1 and N - 1 = {n_full - 1}")
    p = _transition(n_full, int(m))
    a = (1.0 - gamma) * (p.T @ p) + gamma * np.diag(p.sum(0))
    b = p.T @ values
    return np.linalg.lstsq(a / n_full, b / n_full, rcond=None)[0]


def corrected_metrics(
    sampled_rank: np.ndarray,
    n_full: np.ndarray,
    m: int,
    metric_names: tuple[str, ...],
    ks: tuple[int, ...],
    gamma: float = DEFAULT_GAMMA,
    bins: int = 8,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-user corrected values ``{"ndcg@10": [U], ...}`` (NaN where ``sampled_rank`` is not finite) and info.

    ``sampled_rank`` [U]: each user's target rank among its candidates, 0-based as the evaluator's (0 =
    first); ``n_full`` [U]: how many candidates the full protocol ranks it among.
    """
    from .metrics import compute_topk

    sampled_rank = np.asarray(sampled_rank, dtype=np.float64)
    n_full = np.asarray(n_full, dtype=np.int64)
    ok = np.isfinite(sampled_rank) & (n_full > m + 1)
    out = {f"{n}@{k}": np.full(len(sampled_rank), np.nan) for n in metric_names for k in ks}
    info: dict[str, Any] = {"method": "bv", "gamma": gamma, "users": int(ok.sum()), "negatives": int(m), "bins": []}
    if not ok.any():
        return out, info
    qs = np.unique(np.quantile(n_full[ok], np.linspace(0, 1, bins + 1)))
    group = np.clip(np.searchsorted(qs, n_full, side="right") - 1, 0, max(0, len(qs) - 2))
    for g in np.unique(group[ok]):
        members = ok & (group == g)
        n_rep = int(np.median(n_full[members]))
        full_ranks = np.arange(n_rep, dtype=np.float64)[:, None]  # 0-based, as the metrics read them
        at_rank = compute_topk(full_ranks, np.ones(n_rep, dtype=np.int64), metric_names, ks)
        idx = np.clip(sampled_rank[members].astype(np.int64), 0, m)
        for name, values in at_rank.items():
            out[name][members] = bv_estimator(values, m, gamma)[idx]
        info["bins"].append({"n_full": n_rep, "users": int(members.sum())})
    return out, info
