"""Top-K ranking metrics over 0-based ranks of each user's relevant (target) items.

Inputs: ``ranks`` float array [U, T] (0-based position of each target in the user's
ranked candidate list; ``inf`` = not retrievable, padding = ``inf`` too) and ``n_rel``
[U] (the number of targets per user, ``|T_u|``, padding excluded). Each function returns
the per-user values [U]. Definitions (binary relevance) follow DESIGN.md and RecBole:

* Precision@K = hits / K;  Recall@K = hits / |T_u|;  F1@K = harmonic mean.
* HR@K = 1 if any hit;  MRR@K = 1 / (first hit rank + 1), 0 if none within K.
* NDCG@K = sum_hits 1/log2(rank + 2) / sum_{i < min(K, |T_u|)} 1/log2(i + 2).
* MAP@K = (1 / min(K, |T_u|)) * sum over hits at rank r of Precision@(r + 1).

Other entries say what they need (``needs``): ``"scores"`` metrics (AUC, GAUC) take per-user pair
counts ``f(correct, pairs, n_rel) -> [U]`` that the evaluator counts over every candidate's score,
and say how users are averaged (``aggregate``: ``"users"`` or ``"targets"``); ``"top_k_lists"``
metrics (coverage) take ``f(in_some_top_k [n_items]) -> float`` per cut-off. Changing any definition
is a new ``METRIC_VERSION``.
"""

from __future__ import annotations

import numpy as np

from ..registry import register_metric

METRIC_VERSION = "1"
#: The built-in top-K metrics and all built-in metrics: the default ``Protocol.metrics``. What a name
#: means (and whether it exists at all) is its registry entry's: ``needs`` ("ranks": a top-K metric
#: ``f(ranks, n_rel, k)``; "scores": AUC-type ``f(correct, pairs, n_rel)`` from pair counts over every
#: candidate's score; "top_k_lists": coverage-type ``f(in_some_top_k)``), ``label`` and
#: ``higher_is_better``. A metric a plugin registers with any of the three works end to end.
TOPK_METRICS = ("precision", "recall", "f1", "ndcg", "hr", "mrr", "map")
ALL_METRICS = (*TOPK_METRICS, "auc", "gauc", "coverage")

__all__ = [
    "ALL_METRICS",
    "METRIC_VERSION",
    "TOPK_METRICS",
    "aggregate",
    "compute_topk",
    "metric_entry",
    "metric_kind",
    "metric_label",
    "normalize_metric",
]


def metric_entry(name: str):
    """The registry entry of metric ``name`` (case-insensitive; unknown names raise with suggestions)."""
    from ..registry import METRICS

    return METRICS.entry(str(name).lower())


def metric_kind(name: str) -> str:
    """What the metric needs: ``"ranks"`` (a top-K metric), ``"scores"`` or ``"top_k_lists"`` (evaluator-computed)."""
    return str(metric_entry(name).meta.get("needs", "ranks"))


def metric_label(name: str) -> str:
    """Display label of a metric name (``"ndcg"`` -> ``"NDCG"``), from its registry entry."""
    try:
        entry = metric_entry(name)
    except KeyError:
        return name
    return str(entry.meta.get("label") or entry.name)


def normalize_metric(spec: str, where: str = "metric") -> str:
    """``"NDCG@10"`` -> ``"ndcg@10"``: a known metric name (canonical, lower case), with ``@K`` for top-K ones.

    Raises :class:`~ssl4rec.registry.ConfigError` naming ``where`` with "did you mean" for an unknown
    name and for a top-K metric without a cut-off (or a cut-off on one that takes none).
    """
    from ..registry import METRICS, ConfigError, UnknownNameError, did_you_mean

    text = str(spec).strip().lower()
    name, sep, k = text.partition("@")
    try:
        entry = METRICS.entry(name)
    except UnknownNameError:
        known = [f"{n}@10" if METRICS.entry(n).meta.get("needs", "ranks") == "ranks" else n for n in METRICS.names()]
        raise ConfigError(
            f"{where}: unknown metric {spec!r}.{did_you_mean(text, known)} Known: {', '.join(known)}."
        ) from None
    if entry.meta.get("needs", "ranks") == "ranks":
        if not (sep and k.isdigit() and int(k) > 0):
            raise ConfigError(f"{where}: {spec!r} needs a cut-off, e.g. '{entry.name}@10'")
        return f"{entry.name}@{int(k)}"
    if sep:
        raise ConfigError(f"{where}: {entry.name} takes no cut-off; write {entry.name!r}")
    return entry.name


def _hits(ranks: np.ndarray, k: int) -> np.ndarray:
    return ranks < k


@register_metric("precision", needs="ranks", label="Precision", higher_is_better=True, summary="|top-K ∩ targets| / K")
def precision(ranks: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _hits(ranks, k).sum(1) / k


@register_metric(
    "recall", needs="ranks", label="Recall", higher_is_better=True, summary="|top-K ∩ targets| / |targets|"
)
def recall(ranks: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _hits(ranks, k).sum(1) / np.maximum(n_rel, 1)


@register_metric(
    "f1", needs="ranks", label="F1", higher_is_better=True, summary="harmonic mean of Precision@K and Recall@K"
)
def f1(ranks: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    p = precision(ranks, n_rel, k)
    r = recall(ranks, n_rel, k)
    s = p + r
    return np.divide(2 * p * r, s, out=np.zeros_like(s, dtype=np.float64), where=s > 0)


@register_metric(
    "hr", needs="ranks", label="HR", higher_is_better=True, aliases=("hit",), summary="1 if any target is in the top K"
)
def hr(ranks: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _hits(ranks, k).any(1).astype(np.float64)


@register_metric(
    "mrr", needs="ranks", label="MRR", higher_is_better=True, summary="1 / (rank of the first hit), 0 if none within K"
)
def mrr(ranks: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    first = ranks.min(1) if ranks.shape[1] else np.full(len(ranks), np.inf)
    return np.where(first < k, 1.0 / (first + 1.0), 0.0)


def _discount(ranks: np.ndarray) -> np.ndarray:
    return 1.0 / np.log2(ranks + 2.0)


@register_metric(
    "ndcg",
    needs="ranks",
    label="NDCG",
    higher_is_better=True,
    summary="DCG@K / IDCG@K, gain 1/log2(rank+2), IDCG over min(K, |T_u|)",
)
def ndcg(ranks: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    hit = _hits(ranks, k)
    dcg = np.where(hit, _discount(np.where(hit, ranks, 0)), 0.0).sum(1)
    ideal_cum = np.r_[0.0, np.cumsum(_discount(np.arange(k, dtype=np.float64)))]
    idcg = ideal_cum[np.minimum(n_rel, k)]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


@register_metric(
    "map",
    needs="ranks",
    label="MAP",
    higher_is_better=True,
    summary="mean of Precision@rank over hits within K, / min(K, |T_u|)",
)
def average_precision(ranks: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    hit = _hits(ranks, k)
    r = np.where(hit, ranks, np.inf)
    r.sort(axis=1)
    # the j-th hit (0-based, in rank order) at rank r contributes (j + 1) / (r + 1)
    j = np.arange(r.shape[1])[None, :] + 1.0
    contrib = np.where(np.isfinite(r), j / (r + 1.0), 0.0).sum(1)
    denom = np.minimum(n_rel, k)
    return np.divide(contrib, denom, out=np.zeros_like(contrib), where=denom > 0)


def compute_topk(
    ranks: np.ndarray, n_rel: np.ndarray, metrics: tuple[str, ...], ks: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Per-user values ``{"ndcg@10": [U], ...}`` for every top-K metric in ``metrics`` x ``ks``."""
    from ..registry import METRICS

    out: dict[str, np.ndarray] = {}
    for name in metrics:
        fn = METRICS.get(str(name).lower())
        for k in ks:
            out[f"{name}@{k}"] = np.asarray(fn(ranks, n_rel, int(k)), dtype=np.float64)
    return out


@register_metric(
    "auc",
    needs="scores",
    aggregate="users",
    label="AUC",
    higher_is_better=True,
    summary="per-user fraction of (target, non-target candidate) pairs ordered correctly, ties ½; mean over users",
)
def auc(correct: np.ndarray, pairs: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """Per-user AUC from pair counts: ``correct`` [U] = ordered pairs (ties ½), ``pairs`` [U]; NaN without pairs."""
    return np.divide(correct, pairs, out=np.full(len(pairs), np.nan), where=pairs > 0)


@register_metric(
    "gauc",
    needs="scores",
    aggregate="targets",
    label="GAUC",
    higher_is_better=True,
    summary="per-user AUC weighted by the user's number of targets",
)
def gauc(correct: np.ndarray, pairs: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """Per-user AUC; the evaluator weights each user by ``n_rel`` (``aggregate="targets"``)."""
    return auc(correct, pairs, n_rel)


@register_metric(
    "coverage",
    needs="top_k_lists",
    label="Cov",
    higher_is_better=True,
    summary="fraction of the catalogue appearing in any user's top K",
)
def coverage(in_some_top_k: np.ndarray) -> float:
    """``in_some_top_k`` [n_items] bool: whether each item is in at least one user's top K."""
    # float32, as records have always computed it (the count is exact; the quotient rounded to float32)
    return float(np.mean(in_some_top_k, dtype=np.float32)) if len(in_some_top_k) else float("nan")


def aggregate(name: str, values: np.ndarray, n_rel: np.ndarray) -> float:
    """A metric's value over users from its per-user ``values`` (users without a value are NaN): the mean,
    or for ``aggregate="targets"`` entries the mean weighted by each user's number of targets."""
    ok = np.isfinite(values)
    if not ok.any():
        return float("nan")
    if metric_entry(name).meta.get("aggregate", "users") == "targets":
        w = n_rel[ok]
        return float((values[ok] * w).sum() / w.sum())
    return float(values[ok].mean())
