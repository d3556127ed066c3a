"""Full-ranking (or labelled sampled) evaluation of any :class:`~ssl4rec.recommender.Recommender`.

For each chunk of users the model scores every item; the user's known history is excluded
from the candidates (``mask_history``), items the model cannot score (cold items for ID-only
models) get ``-inf`` and count as misses. The exact 0-based rank of each target among the
candidates is computed with the tie rule "equal scores: lower item id first", the same for
every model, so results do not depend on the evaluation batch size.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..interactions import Batch, Interactions, SplitData, target_matrix
from ..registry import ConfigError, check_keys, did_you_mean
from .metrics import ALL_METRICS, METRIC_VERSION, aggregate, compute_topk, metric_kind, normalize_metric

logger = logging.getLogger(__name__)

__all__ = ["Protocol", "EvalResult", "evaluate", "RankingValidator", "target_matrix"]


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How a model is evaluated; recorded with every result."""

    ks: tuple[int, ...] = (5, 10, 20)
    """Cut-offs of the top-K metrics."""
    metrics: tuple[str, ...] = ALL_METRICS
    """Metric names (see ``ssl4rec list metrics``)."""
    mask_history: bool = True
    """Exclude items of the user's known history from the candidates."""
    candidates: str = "full"
    """``"full"`` ranking over all items, or ``"sampled"`` (targets + n negatives; for reproducing older papers only)."""
    n_negatives: int = 100
    """Negatives per user for the sampled protocol."""
    sampling: str = "uniform"
    """``"uniform"`` or ``"popularity"`` negatives for the sampled protocol."""
    batch_size: int = 1024
    """Users scored per model call (does not change results)."""
    valid_metric: str = "ndcg@10"
    """Metric that drives early stopping and tuning."""
    subsets: bool = True
    """Also report ``cold/`` and ``warm/`` target subsets on cold-item splits."""

    def __post_init__(self) -> None:
        # metric names as the registry knows them (case-insensitive; plugins' metrics included)
        from ..registry import METRICS, UnknownNameError, load_plugins

        load_plugins()
        names = []
        for m in self.metrics:
            try:
                names.append(METRICS.entry(str(m).lower()).name)
            except UnknownNameError:
                known = METRICS.names()
                raise ConfigError(
                    f"evaluation metrics: unknown metric {m!r}.{did_you_mean(str(m).lower(), known)} Known: {', '.join(known)}."
                ) from None
        object.__setattr__(self, "metrics", tuple(names))
        object.__setattr__(self, "valid_metric", normalize_metric(self.valid_metric, "evaluation valid_metric"))
        if self.candidates not in ("full", "sampled"):
            raise ConfigError(f"candidates must be 'full' or 'sampled', got {self.candidates!r}")
        if not self.ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in self.ks):
            raise ConfigError(f"evaluation ks: cut-offs must be whole numbers >= 1, got {list(self.ks)}")
        for key in ("batch_size", "n_negatives"):
            value = getattr(self, key, None)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"evaluation {key}: must be a whole number >= 1, got {value!r}")
        if self.sampling not in ("uniform", "popularity"):
            raise ConfigError(f"sampling must be 'uniform' or 'popularity', got {self.sampling!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Protocol:
        d = dict(d or {})
        check_keys(d, [f.name for f in dataclasses.fields(cls)], "evaluation")
        for key in ("ks", "metrics"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["ks"] = list(self.ks)
        d["metrics"] = list(self.metrics)
        d["tie_rule"] = "equal scores: lower item id ranks first"
        d["unscorable_items"] = "scored -inf; a target the model cannot score counts as a miss"
        d["targets_in_history"] = "excluded from candidates when mask_history; counted as misses"
        d["metric_version"] = METRIC_VERSION
        d["label"] = self.label()
        if self.candidates == "full":
            d.pop("n_negatives")
            d.pop("sampling")
        return d

    def label(self) -> str:
        """Short human label, shown in every table header."""
        cand = "full ranking" if self.candidates == "full" else f"SAMPLED: {self.n_negatives} {self.sampling} negatives"
        mask = "history masked" if self.mask_history else "history not masked"
        return f"{cand}, {mask}"


@dataclasses.dataclass
class EvalResult:
    """Aggregated metrics, per-user arrays and bookkeeping of one evaluation pass."""

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    users: np.ndarray
    info: dict[str, Any]
    rankings: tuple[np.ndarray, np.ndarray] | None = None
    """With ``evaluate(..., rankings=K)``: each user's top-K candidates ``(items [U, K] int64,
    scores [U, K] float32)`` in ``users`` order, ranked by score with the tie rule (lower id
    first); excluded items (history, non-candidates, unscorable) never appear, -1 pads a shorter list."""


#: Up to this many targets per user, exact ranks and AUC pairs come from direct comparisons
#: (O(T N) per user); above it from one binary search per candidate among the targets (O(N log T)).
#: The two are even between 16 and 24 targets on Beauty-sized rows (12,101 items, one thread;
#: benchmarks/eval_methods.py); metrics are identical either way.
COMPARE_MAX_TARGETS = 16

def _count(mask: torch.Tensor) -> torch.Tensor:
    """Number of True values along the last dimension (int64).

    On the CPU numpy's ``count_nonzero`` is several times faster than torch's reductions over
    bool tensors (measured 9 ms vs 52 ms for 1024 x 12,101), so CPU masks are counted there.
    """
    if mask.device.type != "cpu":
        return torch.count_nonzero(mask, dim=-1)
    return torch.from_numpy(np.count_nonzero(mask.numpy(), axis=-1).astype(np.int64, copy=False))


def _pair_counts(
    sc: torch.Tensor, tgt: torch.Tensor, tvalid: torch.Tensor, method: str = "auto", n_cand: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Rank and AUC counts for targets ``tgt`` [b, T] given candidate scores ``sc`` [b, N].

    Non-candidates carry NaN in ``sc`` (NaN compares false with everything, so no mask pass
    is needed). ``rank``: 0-based position among candidates under "higher score first, equal
    scores: lower item id first" (``inf`` when the target is not a candidate or scored ``-inf``);
    ``less_neg`` / ``eq_neg``: non-target candidates scored below / equal to the target.
    Two exact methods: direct comparisons, O(b T N) (cheap for few targets, e.g. leave-one-out),
    and ``"search"``, every candidate placed among the row's sorted target scores by binary search,
    O(b N log T) (for many targets per user; :func:`_search_counts`).
    """
    b, n = sc.shape
    T = tgt.shape[1]
    safe = tgt.clamp(min=0)
    ts = torch.gather(sc, 1, safe)  # [b, T]; NaN for non-candidate targets
    tcand = ~torch.isnan(ts) & tvalid
    if method == "auto":
        method = "compare" if T <= COMPARE_MAX_TARGETS else "search"
    if n_cand is None:
        n_cand = sc.shape[1] - _count(torch.isnan(sc))[:, None]
    if method == "compare":
        tv = ts[:, :, None]
        gt = _count(sc[:, None, :] > tv)
        lt = _count(sc[:, None, :] < tv)
        eq_all = n_cand - gt - lt
        eq_before = torch.zeros_like(gt)
        tied = ((eq_all > 1) & tcand).any(-1)  # rows where some target shares its score
        if bool(tied.any()):
            rows = torch.nonzero(tied, as_tuple=True)[0]
            ids = torch.arange(n, device=sc.device)[None, None, :]
            eq = sc[rows][:, None, :] == ts[rows][:, :, None]
            eq_before[rows] = _count(eq & (ids < safe[rows][:, :, None]))
        rank = gt + eq_before
    else:
        rank, lt, eq_all = _search_counts(sc, ts, safe, tcand, n_cand)
    lt_t, eq_t = _target_pairs(ts, tcand)
    rank = rank.to(torch.float64)
    retrievable = tcand & torch.isfinite(ts)
    rank = torch.where(retrievable, rank, torch.full_like(rank, float("inf")))
    less_neg = (lt - lt_t).to(torch.float64)
    eq_neg = (eq_all - eq_t).to(torch.float64)
    return {"rank": rank, "less_neg": less_neg, "eq_neg": eq_neg, "tcand": tcand}


def _order_keys(x: torch.Tensor) -> torch.Tensor:
    """int64 keys of float32 scores in the scores' order (equal scores, equal keys; ``-0.0`` = ``0.0``)."""
    bits = (x + 0.0).view(torch.int32)  # + 0.0 turns -0.0 into 0.0
    return (bits ^ ((bits >> 31) & 0x7FFFFFFF)).to(torch.int64)  # negatives: magnitude bits reversed


def _search_counts(
    sc: torch.Tensor, ts: torch.Tensor, safe: torch.Tensor, tcand: torch.Tensor, n_cand: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(rank, lt, eq_all)`` of :func:`_pair_counts` in O(b N log T), without sorting the N scores.

    Each candidate gets one int64 key that orders it by score and, among equal scores, puts the lower
    item id first: ``score key * 2^32 + (2^32 - 1 - item id)`` (score keys: :func:`_order_keys`). Every
    count wanted is then "candidates whose key is below a bound": ``lt`` below ``t * 2^32`` (a lower
    score), ``le`` below ``(t + 1) * 2^32`` (a lower or equal score) and the candidates not ahead of the
    target below its own key + 1. The row's 3T bounds are sorted, each of its N candidates is placed
    among them by one binary search, and one scatter and cumulative sum give every count.
    Non-candidates (NaN) weigh 0; non-candidate targets get the largest bound and are masked by the caller.
    """
    if sc.dtype != torch.float32:
        raise TypeError(f"float32 scores expected, got {sc.dtype}")
    b, n = sc.shape
    T = ts.shape[1]
    cand = ~torch.isnan(sc)
    ids = torch.arange(n, dtype=torch.int64, device=sc.device)
    low = (1 << 32) - 1
    keys = (_order_keys(torch.where(cand, sc, 0.0)) << 32) + (low - ids)
    tkeys = _order_keys(torch.where(tcand, ts, 0.0))
    last = torch.iinfo(torch.int64).max
    bounds = torch.cat([tkeys << 32, (tkeys + 1) << 32, (tkeys << 32) + (low - safe) + 1], dim=1)
    bounds = torch.where(tcand.repeat(1, 3), bounds, last)
    sorted_bounds, order = torch.sort(bounds, dim=1)
    idx = torch.searchsorted(sorted_bounds, keys, right=True)  # bounds at or below each key
    counts = torch.zeros(b, 3 * T + 1, dtype=torch.int64, device=sc.device)
    below = counts.scatter_add_(1, idx, cand.to(torch.int64)).cumsum(1)[:, :-1]  # keys below each bound
    below = torch.empty_like(below).scatter_(1, order, below)
    lt, le, not_ahead = below[:, :T], below[:, T : 2 * T], below[:, 2 * T :]
    return n_cand.expand_as(not_ahead) - not_ahead, lt, le - lt


def _target_pairs(ts: torch.Tensor, tcand: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each target, the candidate targets of its row scored below it and equal to it (self included).

    Target-vs-target pairs are subtracted from the pair counts, by a sort of each row's target
    scores: O(T log T) per user, not O(T^2) (users with thousands of test items exist).
    """
    sv = torch.sort(torch.where(tcand, ts, torch.inf), dim=1).values  # non-candidates last, as +inf
    q = torch.where(tcand, ts, 0.0).contiguous()
    lt_t = torch.searchsorted(sv, q, right=False)
    placeholders = (~tcand).sum(1, keepdim=True)
    eq_t = torch.searchsorted(sv, q, right=True) - lt_t - torch.where(torch.isposinf(q), placeholders, 0)
    return lt_t, eq_t


def _in_rows(m: Any, tgt: torch.Tensor) -> torch.Tensor:
    """Bool [b, T]: whether target ``tgt[r, j]`` (``-1`` = padding) is a stored entry of row ``r`` of CSR ``m``."""
    b, n = m.shape
    keys = np.repeat(np.arange(b, dtype=np.int64), np.diff(m.indptr)) * n + m.indices
    if not m.has_sorted_indices:
        keys = np.sort(keys)
    t = tgt.numpy()
    q = np.arange(b, dtype=np.int64)[:, None] * n + np.maximum(t, 0)
    i = np.minimum(np.searchsorted(keys, q), max(len(keys) - 1, 0))
    found = (keys[i] == q) & (t >= 0) if len(keys) else np.zeros(t.shape, bool)
    return torch.from_numpy(found)


def _auc_counts(
    sc: torch.Tensor, tgt: torch.Tensor, tvalid: torch.Tensor, excluded_t: torch.Tensor, n_excl: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(less_neg, eq_neg, tcand)`` as :func:`_pair_counts` gives them, for scores whose
    non-candidates (the ``n_excl`` [b] excluded items of each row) are ``-inf`` instead of NaN.

    Excluded items sit below every finite target score and tie with a ``-inf`` (unscorable)
    one, so two comparison passes over all items, minus ``n_excl``, give the candidates' counts;
    ``excluded_t`` [b, T] marks targets that are excluded themselves (not candidates).
    """
    ts = torch.gather(sc, 1, tgt.clamp(min=0))
    tcand = tvalid & ~excluded_t
    tv = ts[:, :, None]
    lt_all = _count(sc[:, None, :] < tv)
    eq_all = _count(sc[:, None, :] == tv)
    ne = n_excl[:, None]
    ninf = torch.isneginf(ts)
    lt = torch.where(ninf, lt_all, lt_all - ne)
    eq = torch.where(ninf, eq_all - ne, eq_all)
    lt_t, eq_t = _target_pairs(ts, tcand)
    return (lt - lt_t).to(torch.float64), (eq - eq_t).to(torch.float64), tcand


def _topk_members(
    s: torch.Tensor, ks: tuple[int, ...], top: tuple[torch.Tensor, torch.Tensor] | None = None
) -> dict[int, torch.Tensor]:
    """Item ids of each row's top k for every k in ``ks`` (tie rule: lower id first), as flat id tensors.

    ``top``: ``torch.topk(s, min(max(ks) + 1, N))`` when the caller has it (sorted). One
    ``topk(kmax + 1)``; rows whose ``kmax``-th and ``kmax + 1``-th scores are equal (so a boundary
    tie group may extend past the returned items) fall back to the exact rule.
    """
    b, n = s.shape
    kmax = min(max(ks), n)
    vals, idx = top if top is not None else torch.topk(s, min(kmax + 1, n), dim=1)
    if vals.shape[1] > kmax:
        unsafe = vals[:, kmax - 1] == vals[:, kmax]
    else:  # every item was returned
        unsafe = torch.zeros(b, dtype=torch.bool)
    vals, idx = vals[:, :kmax], idx[:, :kmax]
    # order the returned items by (score desc, id asc)
    o = torch.argsort(idx, dim=1)
    idx, vals = torch.gather(idx, 1, o), torch.gather(vals, 1, o)
    o = torch.sort(vals, dim=1, descending=True, stable=True).indices
    idx, vals = torch.gather(idx, 1, o), torch.gather(vals, 1, o)
    out = {}
    for k_wanted in ks:
        k = min(k_wanted, n)
        sel = idx[:, :k][torch.isfinite(vals[:, :k])]
        if bool(unsafe.any()):
            rows = torch.nonzero(unsafe, as_tuple=True)[0]
            keep_rows = torch.ones(b, dtype=torch.bool)
            keep_rows[rows] = False
            sel = idx[keep_rows, :k][torch.isfinite(vals[keep_rows, :k])]
            exact = _topk_sets(s[rows], k)
            sel = torch.cat([sel, torch.nonzero(exact, as_tuple=True)[1]])
        out[k_wanted] = sel
    return out


def _topk_sets(s: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean [b, N] membership of each row's top ``k`` under the id tie rule (unordered)."""
    k = min(k, s.shape[1])
    v = torch.topk(s, k, dim=1).values[:, -1:]
    above = s > v
    need = k - above.sum(1, keepdim=True)
    eq = s == v
    take_eq = eq & (torch.cumsum(eq.to(torch.int32), 1) <= need)
    return (above | take_eq) & torch.isfinite(s)


def _topk_ranks(
    sc: torch.Tensor,
    tgt: torch.Tensor,
    tvalid: torch.Tensor,
    k: int,
    top: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Exact 0-based ranks of targets ``tgt`` [b, T] that rank below ``k``; ``inf`` for the others.

    Same ranks as :func:`_pair_counts` wherever they are ``< k`` (all a top-K metric with
    K <= k can see), from one ``topk`` of the candidate scores instead of comparisons
    against every item: a target scored above the k-th best candidate score has all the
    candidates that beat it (higher score, or equal score and lower id) among the top k.
    A target tied with the k-th score exactly also has every higher-scored item in the top k;
    the equal-scored items with a lower id are counted over its whole row.
    Non-candidates must be marked ``-inf`` (not NaN, which ``topk`` puts first): like unscorable
    items they never precede a finite score, and a target marked so is a miss. ``top``: a
    sorted ``torch.topk(sc, k')`` with ``k' >= k`` the caller already has (only its first ``k``
    columns are read).
    """
    b, n = sc.shape
    safe = tgt.clamp(min=0)
    ts = torch.gather(sc, 1, safe)  # -inf for non-candidate targets
    if top is not None:
        vals, idx = top[0][:, : min(k, n)], top[1][:, : min(k, n)]
    else:
        vals, idx = torch.topk(sc, min(k, n), dim=1, sorted=False)
    kth = vals.min(dim=1, keepdim=True).values
    ok = tvalid & torch.isfinite(ts)  # NaN (not a candidate) and -inf (unscorable) are misses
    above = (vals[:, None, :] > ts[:, :, None]).sum(-1)
    tie_before = ((vals[:, None, :] == ts[:, :, None]) & (idx[:, None, :] < safe[:, :, None])).sum(-1)
    rank = torch.where(ok & (ts > kth), (above + tie_before).to(torch.float64), float("inf"))
    tied = ok & (ts == kth)
    if bool(tied.any()):
        # a target tied with the k-th score: every item scored above it is in the top k (counted
        # in ``above``), but equal-scored items with a lower id may lie beyond it: count those
        # over the whole row, for the rows concerned only (one pass, no sort)
        rows = torch.nonzero(tied.any(1), as_tuple=True)[0]
        eq = (sc[rows] == kth[rows]).to(torch.int32)
        lower_tied = torch.gather(torch.cumsum(eq, 1) - eq, 1, safe[rows])
        r = (above[rows] + lower_tied).to(torch.float64)
        rank[rows] = torch.where(tied[rows] & (r < k), r, rank[rows])
    return rank


def evaluate(
    model: Any,
    split: SplitData,
    stage: str = "test",
    protocol: Protocol | None = None,
    seed: int = 0,
    users: np.ndarray | None = None,
    progress: bool = True,
    protocol_method: str = "auto",
    rankings: int = 0,
) -> EvalResult:
    """Evaluate ``model`` on ``split``'s ``stage`` targets under ``protocol``.

    Args:
        model: a fitted recommender (``score(batch) -> Tensor[B, n_items]``).
        split: the split (its history for ``stage`` is what the model may see).
        stage: ``"valid"`` or ``"test"``.
        protocol: evaluation protocol (defaults: full ranking, history masked, K = 5/10/20).
        seed: seeds negative sampling of the sampled protocol.
        users: evaluate only these users (still among those with targets).
        progress: show a progress bar.
        protocol_method: ``"auto"``, ``"compare"``, ``"search"``, ``"topk"`` or ``"counts"`` — how
            exact ranks and AUC pairs are computed (identical metrics; for tests and benchmarks).
            ``"auto"`` takes ``"topk"`` when no metric needs ranks beyond ``max(ks)`` (no AUC);
            with AUC, ``"counts"`` (ranks from the top-k, AUC pairs from two counting passes) for
            full candidates, no cold/warm subsets and at most 8 targets per user, else
            ``"compare"`` for at most :data:`COMPARE_MAX_TARGETS` targets per user and ``"search"`` for more.
        rankings: also return each user's top ``rankings`` ranked list (``EvalResult.rankings``).
    """
    protocol = protocol or Protocol()
    n_items = split.train.n_items
    if protocol.candidates == "sampled" and protocol.n_negatives >= n_items:
        raise ConfigError(
            f"evaluation n_negatives = {protocol.n_negatives} but the dataset has {n_items} items: a sampled "
            "protocol ranks each target among fewer negatives than items (lower n_negatives, or candidates: full)"
        )
    t0 = time.perf_counter()
    ctx = _EvalContext.make(model, split, stage, protocol, users)
    method = _choose_method(protocol_method, protocol, ctx)
    acc = _Accumulator.make(ctx, protocol)
    if rankings < 0:
        raise ConfigError(f"rankings = {rankings}: the length of the saved ranked lists must be >= 0")
    if rankings:
        k = min(int(rankings), ctx.n_items)
        acc.lists = (np.full((len(ctx.users), k), -1, np.int64), np.full((len(ctx.users), k), np.nan, np.float32))
    attack = split.info.get("attack")
    if attack and attack.get("targets") and protocol.candidates == "full":
        # the attack's target items: how often they reach genuine users' top k (fake users have no targets)
        acc.attack_targets = torch.as_tensor(attack["targets"], dtype=torch.long)
        acc.target_hits = {k: np.zeros(len(ctx.users)) for k in protocol.ks}
        acc.target_rank = np.full(len(ctx.users), np.nan)
    gen = np.random.default_rng([seed, 104729])
    bs = max(1, int(protocol.batch_size))
    bar = tqdm(total=len(ctx.users), desc=f"eval {stage}", leave=False, disable=not progress, dynamic_ncols=True)
    for lo in range(0, len(ctx.users), bs):
        pos = ctx.order[lo : min(lo + bs, len(ctx.users))]
        _eval_chunk(model, ctx, protocol, method, acc, pos, gen)
        bar.update(len(pos))
    bar.close()
    metrics, per_user, group_users = _aggregate(ctx, protocol, acc)
    for k, hits in (acc.target_hits or {}).items():
        metrics[f"attack/target_hr@{k}"] = float(hits.mean()) if len(hits) else 0.0
        per_user[f"attack/target_hr@{k}"] = hits.astype(np.float32)
    correction = None
    if protocol.candidates == "sampled" and protocol.sampling == "uniform" and stage == "test":
        correction = _corrected(ctx, protocol, acc, metrics, per_user)
    if acc.target_rank is not None:
        ranked = acc.target_rank[np.isfinite(acc.target_rank)]
        metrics["attack/target_rank"] = float(ranked.mean()) if len(ranked) else float("nan")
        per_user["attack/target_rank"] = acc.target_rank.astype(np.float32)
    info = {
        "stage": stage,
        "n_users": group_users,
        "n_targets": int((ctx.tmat >= 0).sum()),
        "unscorable_items": 0 if ctx.scorable is None else int(ctx.n_items - len(ctx.scorable)),
        "unscorable_targets": acc.unscorable_targets,
        "seconds": time.perf_counter() - t0,
        "score_seconds": acc.score_seconds,
        "protocol": protocol.label(),
    }
    if correction is not None:
        info["sampled_correction"] = correction
    return EvalResult(metrics=metrics, per_user=per_user, users=ctx.users, info=info, rankings=acc.lists)


def _corrected(
    ctx: _EvalContext, protocol: Protocol, acc: _Accumulator, metrics: dict[str, float], per_user: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Add ``corrected/<metric>`` (Krichene & Rendle's BV estimate of the full-ranking value from the sampled
    rank; :mod:`ssl4rec.evaluation.sampled_correction`) when every evaluated user has exactly one target.

    The estimator maps one target's sampled rank to the full metric; on a split where users have several
    targets (random, temporal, cold splits) it would cover only the users with one, a different population
    from the metric it sits beside, so nothing is added and the info says why."""
    from .sampled_correction import corrected_metrics

    names = tuple(m for m in protocol.metrics if metric_kind(m) == "ranks")
    valid = ctx.tmat >= 0
    single = valid.sum(1) == 1
    if not single.all():
        return {
            "method": "bv",
            "skipped": f"{int((~single).sum())} of {len(single)} users have several targets; "
            "the correction maps one target's sampled rank",
            "multi_target_users": int((~single).sum()),
        }
    rank = np.where(single, np.where(valid, acc.ranks[""], np.inf).min(1), np.nan)
    hist = np.diff(ctx.history.csr.indptr)[ctx.users] if protocol.mask_history else np.zeros(len(ctx.users), np.int64)
    n_full = ctx.n_items - hist
    values, info = corrected_metrics(rank, n_full, int(protocol.n_negatives), names, tuple(protocol.ks))
    for name, arr in values.items():
        per_user[f"corrected/{name}"] = arr.astype(np.float32)
        metrics[f"corrected/{name}"] = float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")
    info["multi_target_users"] = int((~single).sum())
    return info


def ranked_lists(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's top ``k`` ``(items [b, k], scores [b, k])`` by score, equal scores lower id first;
    ``-inf`` entries (excluded items) become id -1 / score NaN.

    One ``topk(k + 1)`` ordered exactly under the tie rule; rows whose ``k``-th and ``k + 1``-th
    scores are equal (a tie group crossing the cut) are sorted whole with a stable sort instead.
    """
    n = scores.shape[1]
    k = min(k, n)
    top, idx = torch.topk(scores, min(k + 1, n), dim=1)
    idx, perm = idx.sort(dim=1)  # ascending ids, then a stable sort by score: the tie rule
    vals = top.gather(1, perm)
    order = torch.sort(vals, dim=1, descending=True, stable=True).indices
    vals, idx = vals.gather(1, order)[:, :k].clone(), idx.gather(1, order)[:, :k].clone()
    if n > k:
        rows = torch.nonzero((top[:, k - 1] == top[:, k]) & torch.isfinite(top[:, k]), as_tuple=True)[0]
        if len(rows):
            full = torch.sort(scores[rows], dim=1, descending=True, stable=True)
            vals[rows], idx[rows] = full.values[:, :k], full.indices[:, :k]
    gone = ~torch.isfinite(vals) & (vals < 0)
    return idx.masked_fill(gone, -1), vals.masked_fill(gone, float("nan"))


@dataclasses.dataclass
class _EvalContext:
    """What one evaluation pass reads: the history, the target matrix, subsets and the scorable items."""

    history: Interactions
    n_items: int
    users: np.ndarray
    """[U] users with targets (in target-matrix order)."""
    tmat: np.ndarray
    """[U, T] target items, -1 = padding."""
    groups: dict[str, np.ndarray | None]
    """``{"": None, "cold/": mask, "warm/": mask}``: metric-name prefix -> which targets count (None: all)."""
    scorable: np.ndarray | None
    unscorable_mask: torch.Tensor | None
    """[n_items] True for items the model cannot score (None: every item scorable)."""
    pop: torch.Tensor
    order: np.ndarray
    """Users by history length: chunks of similar length pad less in sequence models (results go back by position)."""

    @classmethod
    def make(
        cls, model: Any, split: SplitData, stage: str, protocol: Protocol, users: np.ndarray | None
    ) -> _EvalContext:
        history: Interactions = split.history(stage)
        n_items = history.n_items
        all_users, tmat = split.target_matrix(stage)
        if users is not None:
            keep = np.isin(all_users, users)
            all_users, tmat = all_users[keep], tmat[keep]
        groups: dict[str, np.ndarray | None] = {"": None}
        if protocol.subsets and split.info.get("report_cold_warm") and len(split.cold_items):
            is_cold = np.zeros(n_items, bool)
            is_cold[split.cold_items] = True
            tc = np.where(tmat >= 0, is_cold[np.maximum(tmat, 0)], False)
            groups.update({"cold/": tc, "warm/": (tmat >= 0) & ~tc})
        scorable = model.scorable_items() if hasattr(model, "scorable_items") else None
        unscorable = None
        if scorable is not None:
            unscorable = torch.ones(n_items, dtype=torch.bool)
            unscorable[torch.as_tensor(scorable, dtype=torch.long)] = False
            if not bool(unscorable.any()):  # every item scorable: no marking pass, no copy of the scores
                unscorable = None
        return cls(
            history=history,
            n_items=n_items,
            users=all_users,
            tmat=tmat,
            groups=groups,
            scorable=scorable,
            unscorable_mask=unscorable,
            pop=torch.as_tensor(history.item_counts, dtype=torch.float64) + 1.0,
            order=np.argsort(history.user_counts[all_users], kind="stable"),
        )


@dataclasses.dataclass
class _Accumulator:
    """Per-user ranks and pair counts (per group), coverage sets and counters, filled chunk by chunk."""

    ranks: dict[str, np.ndarray]
    pair_correct: dict[str, np.ndarray]
    pair_total: dict[str, np.ndarray]
    covered: dict[int, torch.Tensor]
    want_pairs: bool
    want_lists: bool
    unscorable_targets: int = 0
    lists: tuple[np.ndarray, np.ndarray] | None = None
    """Ranked top-K lists (items, scores) by user position, when asked for."""
    attack_targets: torch.Tensor | None = None
    target_hits: dict[int, np.ndarray] | None = None
    """Per user position and k: 1 when any attack target is in the top k (attacked splits)."""
    target_rank: np.ndarray | None = None
    """Per user position: the best rank (1 = first) of an attack target among the candidates; NaN when
    every target is excluded for that user (in their history)."""
    score_seconds: float = 0.0

    @classmethod
    def make(cls, ctx: _EvalContext, protocol: Protocol) -> _Accumulator:
        kinds = {metric_kind(m) for m in protocol.metrics}
        return cls(
            ranks={g: np.full(ctx.tmat.shape, np.inf) for g in ctx.groups},
            pair_correct={g: np.zeros(len(ctx.users)) for g in ctx.groups},
            pair_total={g: np.zeros(len(ctx.users)) for g in ctx.groups},
            covered={k: torch.zeros(ctx.n_items, dtype=torch.bool) for k in protocol.ks},
            want_pairs="scores" in kinds,
            want_lists="top_k_lists" in kinds,
        )


def _choose_method(method: str, protocol: Protocol, ctx: _EvalContext) -> str:
    """How ranks and pair counts are computed (see :func:`evaluate`'s ``protocol_method``)."""
    want_pairs = any(metric_kind(m) == "scores" for m in protocol.metrics)
    kmax = max(protocol.ks)
    if method == "topk" and want_pairs:
        raise ValueError("protocol_method='topk' gives no AUC pair counts; use 'auto', 'compare' or 'search'")
    if method == "auto" and not want_pairs and kmax < ctx.n_items and protocol.candidates == "full":
        return "topk"  # only ranks below max(ks) matter: exact ranks from the top-k
    counts_ok = protocol.candidates == "full" and len(ctx.groups) == 1 and ctx.tmat.shape[1] <= 8 and kmax < ctx.n_items
    if method == "auto" and want_pairs and counts_ok:
        return "counts"  # ranks from the top-k, AUC pairs from two counting passes
    if method == "counts" and not counts_ok:
        raise ValueError(
            "protocol_method='counts' needs full candidates, no cold/warm subsets and <= 8 targets per user"
        )
    return method


def _eval_chunk(
    model: Any,
    ctx: _EvalContext,
    protocol: Protocol,
    method: str,
    acc: _Accumulator,
    pos: np.ndarray,
    gen: np.random.Generator,
) -> None:
    """Score the users at positions ``pos`` and add their ranks, pair counts and top-K lists to ``acc``."""
    n, n_items = len(pos), ctx.n_items
    chunk_users = ctx.users[pos]
    ts0 = time.perf_counter()
    with torch.no_grad():
        scores = model.score(Batch(torch.as_tensor(chunk_users, dtype=torch.long), ctx.history))
    acc.score_seconds += time.perf_counter() - ts0
    scores = torch.as_tensor(scores).detach().to("cpu", torch.float32)
    if scores.shape != (n, n_items):
        raise ValueError(f"{type(model).__name__}.score returned shape {tuple(scores.shape)}, expected {(n, n_items)}")
    if torch.isnan(scores.sum(dim=1)).any() and torch.isnan(scores).any():  # cheap check first
        raise FloatingPointError(f"{type(model).__name__}.score returned NaN")
    tg = torch.as_tensor(ctx.tmat[pos])
    tvalid = tg >= 0
    if ctx.unscorable_mask is not None:
        acc.unscorable_targets += int((ctx.unscorable_mask[tg.clamp(min=0)] & tvalid).sum())
    # Non-candidates are NaN (compares false with everything: pair counts need no mask pass).
    # Ranks from a top-k treat them like unscorable items, -inf, which saves a NaN-replacing
    # pass: below every finite score, never a hit (see _topk_ranks); pair counts then subtract
    # the known number of excluded items (see _auc_counts).
    from_top = method in ("topk", "counts")
    sc, n_excl, hist, restore = _candidates(
        scores, chunk_users, tg, tvalid, ctx, protocol, -torch.inf if from_top else torch.nan, gen
    )
    kmax = max(protocol.ks)
    top = torch.topk(sc, min(kmax + 1, n_items), dim=1) if from_top else None  # shared by coverage and ranks
    if acc.target_hits is not None:
        kmax_t = max(acc.target_hits)
        ranked, _ = ranked_lists(sc if from_top else sc.masked_fill(torch.isnan(sc), -torch.inf), kmax_t)
        is_target = torch.isin(ranked, acc.attack_targets)
        for k, hits in acc.target_hits.items():
            hits[pos] = is_target[:, :k].any(1).numpy()
        full = sc if from_top else sc.masked_fill(torch.isnan(sc), -torch.inf)
        best = torch.full((full.shape[0],), float("inf"), dtype=torch.float64)
        for t in acc.attack_targets.tolist():
            ts = full[:, t : t + 1]
            rank = ((full > ts).sum(1) + 1).to(torch.float64)
            best = torch.minimum(best, torch.where(torch.isfinite(ts[:, 0]), rank, torch.full_like(rank, float("inf"))))
        acc.target_rank[pos] = torch.where(torch.isfinite(best), best, torch.full_like(best, float("nan"))).numpy()
    if acc.lists is not None:
        items, vals = ranked_lists(
            sc if from_top else sc.masked_fill(torch.isnan(sc), -torch.inf), acc.lists[0].shape[1]
        )
        acc.lists[0][pos], acc.lists[1][pos] = items.numpy(), vals.numpy()
    if acc.want_lists:
        ranked = sc if from_top else sc.masked_fill(torch.isnan(sc), -torch.inf)
        for k, members in _topk_members(ranked, tuple(protocol.ks), top).items():
            acc.covered[k][members] = True
    # sub-chunks keep the [b, T, N] comparisons around 2^24 elements
    T = max(1, tg.shape[1])
    method = method if method != "auto" else ("compare" if T <= COMPARE_MAX_TARGETS else "search")
    sub = max(1, (1 << 24) // ((T if method in ("compare", "counts") else 8) * n_items)) if method != "topk" else n
    if method == "counts":  # no subsets here: one group
        acc.ranks[""][pos] = _topk_ranks(sc, tg, tvalid, kmax, top).numpy()
        excluded_t = _in_rows(hist, tg) if hist is not None else torch.zeros_like(tvalid)
        n_cand = n_items - n_excl
        for a in range(0, n, sub):
            b = min(a + sub, n)
            less, eq, tcand = _auc_counts(sc[a:b], tg[a:b], tvalid[a:b], excluded_t[a:b], n_excl[a:b])
            n_pos = tcand.sum(1).to(torch.float64)
            acc.pair_correct[""][pos[a:b]] = torch.where(tcand, less + 0.5 * eq, 0.0).sum(1).numpy()
            acc.pair_total[""][pos[a:b]] = (n_pos * (n_cand[a:b].to(torch.float64) - n_pos)).numpy()
    else:
        for g, gmask in ctx.groups.items():
            _group_ranks(sc, tg, tvalid, n_excl, gmask, pos, g, method, sub, top, kmax, n_items, acc, from_top)
    if restore is not None:  # the model's tensor as it returned it
        restore[0][restore[1]] = restore[2]


def _candidates(
    scores: torch.Tensor,
    chunk_users: np.ndarray,
    tg: torch.Tensor,
    tvalid: torch.Tensor,
    ctx: _EvalContext,
    protocol: Protocol,
    excluded: float,
    gen: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, Any, tuple | None]:
    """Candidate scores (non-candidates = ``excluded``, unscorable items -inf), the excluded count per
    user, the users' history rows and what restores the model's tensor when it was marked in place.

    The model's tensor is marked in place and its history entries restored after the chunk (no copy
    of the [b, N] matrix) unless it may alias itself (expanded views) or more is written.
    """
    n, n_items = scores.shape
    in_place = ctx.unscorable_mask is None and scores.is_contiguous()
    sc = scores if in_place else scores.clone()
    if ctx.unscorable_mask is not None:
        sc[:, ctx.unscorable_mask] = -torch.inf
    n_excl = torch.zeros(n, dtype=torch.int64)
    restore, hist = None, None
    if protocol.mask_history:
        hist = ctx.history.csr[chunk_users]
        lens = np.diff(hist.indptr)
        where = (torch.as_tensor(np.repeat(np.arange(n), lens)), torch.as_tensor(hist.indices, dtype=torch.long))
        if in_place:
            restore = (sc, where, sc[where])
        sc[where] = excluded
        n_excl = torch.as_tensor(lens, dtype=torch.int64)
    if protocol.candidates == "sampled":
        cand = _sample_candidates(~torch.isnan(sc), tg, tvalid, protocol, ctx.pop, gen)
        sc = sc.masked_fill(~cand, torch.nan)
        n_excl = n_items - cand.sum(1)
    return sc, n_excl, hist, restore


def _group_ranks(
    sc: torch.Tensor,
    tg: torch.Tensor,
    tvalid: torch.Tensor,
    n_excl: torch.Tensor,
    gmask: np.ndarray | None,
    pos: np.ndarray,
    g: str,
    method: str,
    sub: int,
    top: Any,
    kmax: int,
    n_items: int,
    acc: _Accumulator,
    from_top: bool,
) -> None:
    """Ranks (and pair counts) of one target group; the other group's targets are neither relevant nor negatives."""
    n = len(pos)
    excluded = -torch.inf if from_top else torch.nan
    gv = tvalid if gmask is None else torch.as_tensor(gmask[pos])
    gsc, g_excl = sc, n_excl
    if gmask is not None:
        other = tvalid & ~gv
        rr, cc = torch.nonzero(other, as_tuple=True)
        gsc = sc.clone()
        was_cand = ~torch.isnan(gsc[rr, tg[rr, cc]])
        gsc[rr, tg[rr, cc]] = excluded
        g_excl = n_excl + torch.bincount(rr[was_cand], minlength=n)
    n_cand = n_items - g_excl
    for a in range(0, n, sub):
        b = min(a + sub, n)
        pa = pos[a:b]
        if method == "topk":
            shared = top if gmask is None and (a, b) == (0, n) else None
            acc.ranks[g][pa] = _topk_ranks(gsc[a:b], tg[a:b], gv[a:b], kmax, shared).numpy()
            continue
        pc = _pair_counts(gsc[a:b], tg[a:b], gv[a:b], method, n_cand[a:b, None])
        acc.ranks[g][pa] = pc["rank"].numpy()
        if acc.want_pairs:
            tcand = pc["tcand"]
            n_pos = tcand.sum(1).to(torch.float64)
            n_neg = n_cand[a:b].to(torch.float64) - n_pos
            acc.pair_correct[g][pa] = torch.where(tcand, pc["less_neg"] + 0.5 * pc["eq_neg"], 0.0).sum(1).numpy()
            acc.pair_total[g][pa] = (n_pos * n_neg).numpy()


def _aggregate(
    ctx: _EvalContext, protocol: Protocol, acc: _Accumulator
) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, int]]:
    """Per-user values of every metric (by its registry entry) and their aggregates, per target group."""
    from ..registry import METRICS

    by_kind: dict[str, list[str]] = {}
    for m in protocol.metrics:
        by_kind.setdefault(metric_kind(m), []).append(m)
    metrics: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {}
    group_users: dict[str, int] = {}
    for g, gmask in ctx.groups.items():
        valid_t = (ctx.tmat >= 0) if gmask is None else gmask
        n_rel = valid_t.sum(1)
        has = n_rel > 0
        group_users[g or "all"] = int(has.sum())
        values = compute_topk(acc.ranks[g], n_rel, tuple(by_kind.get("ranks", ())), tuple(protocol.ks))
        for name in by_kind.get("scores", ()):
            values[name] = np.asarray(
                METRICS.get(name)(acc.pair_correct[g], acc.pair_total[g], n_rel), dtype=np.float64
            )
        for name, raw in values.items():
            arr = np.where(has, raw, np.nan)
            per_user[g + name] = arr.astype(np.float32)
            metrics[g + name] = aggregate(name.partition("@")[0], arr[has], n_rel[has])
    for name in by_kind.get("top_k_lists", ()):
        for k in protocol.ks:
            metrics[f"{name}@{k}"] = float(METRICS.get(name)(acc.covered[k].numpy()))
    return metrics, per_user, group_users


def _sample_candidates(
    cand: torch.Tensor,
    tg: torch.Tensor,
    tvalid: torch.Tensor,
    protocol: Protocol,
    pop: torch.Tensor,
    gen: np.random.Generator,
) -> torch.Tensor:
    """Targets plus ``n_negatives`` sampled non-history, non-target items per user (without replacement)."""
    b, n = cand.shape
    u = torch.as_tensor(gen.random((b, n)), dtype=torch.float64).clamp_min(1e-300)
    keys = -torch.log(u)  # Exp(1); smallest = uniform sample without replacement
    if protocol.sampling == "popularity":
        keys = keys / pop[None, :]  # Efraimidis-Spirakis: P proportional to popularity
    allowed = cand.clone()
    rr, cc = torch.nonzero(tvalid, as_tuple=True)
    allowed[rr, tg[rr, cc]] = False
    keys = torch.where(allowed, keys, torch.inf)
    m = min(protocol.n_negatives, n)
    idx = torch.topk(keys, m, dim=1, largest=False).indices
    picked = torch.zeros_like(cand)
    picked.scatter_(1, idx, True)
    picked &= allowed
    picked[rr, tg[rr, cc]] = cand[rr, tg[rr, cc]]
    return picked


class RankingValidator:
    """Validation for early stopping: ``protocol.valid_metric`` on the split's valid targets.

    Args:
        split: the split.
        protocol: evaluation protocol (its ``valid_metric`` is the score).
        seed: seed of the sampled protocol.
        max_users: evaluate a seeded subsample of at most this many users (``None``: all).
        callbacks: functions ``(epoch, value, logs)`` called after each evaluation (tracking,
            pruning; they may raise to stop training).
    """

    def __init__(
        self,
        split: SplitData,
        protocol: Protocol | None = None,
        seed: int = 0,
        max_users: int | None = None,
        callbacks: list | None = None,
    ) -> None:
        self.split = split
        self.protocol = protocol or Protocol()
        name, _, k = self.protocol.valid_metric.partition("@")
        self.metric = self.protocol.valid_metric
        self._eval_protocol = dataclasses.replace(
            self.protocol,
            metrics=(name,),
            ks=(int(k),) if k else self.protocol.ks,
            subsets=False,
        )
        self.seed = seed
        self.users = None
        if max_users is not None:
            u = np.unique(split.valid["user"].to_numpy())
            if len(u) > max_users:
                self.users = np.sort(np.random.default_rng([seed, 31]).choice(u, max_users, replace=False))
        self.callbacks = list(callbacks or [])
        self.history: list[tuple[int, float]] = []

    def evaluate(self, model: Any) -> float:
        if len(self.split.valid) == 0:
            return 0.0
        res = evaluate(
            model, self.split, "valid", self._eval_protocol, seed=self.seed, users=self.users, progress=False
        )
        return float(res.metrics[self.metric])

    def report(self, epoch: int, value: float, logs: dict[str, float] | None = None) -> None:
        self.history.append((epoch, value))
        for cb in self.callbacks:
            cb(epoch, value, logs or {})

    def restore(self, history: list[tuple[int, float]]) -> None:
        """The validation curve of a fit resumed from its checkpoint, up to the epoch it resumes after;
        callbacks with a ``restore`` method (a tuning trial's pruner reporter) get it too."""
        self.history[:] = list(history)
        for cb in self.callbacks:
            if hasattr(cb, "restore"):
                cb.restore(self.history)
