"""Splits: a dataset -> train / valid / test over the same id space.

Every split is deterministic in its seed and registered in ``SPLITS``. Invariants (tested):
no (user, item) pair of test is in train; temporal train precedes test; cold items have zero
training interactions; cold users have no training interaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..interactions import Dataset, Interactions, SplitData, normalize_frame
from ..registry import ConfigError, register_split

logger = logging.getLogger(__name__)

__all__ = ["make_split", "per_user_ratio_counts"]


def _empty(df: pd.DataFrame) -> pd.DataFrame:
    return df.iloc[:0].reset_index(drop=True)


def _finish(
    ds: Dataset,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    info: dict,
    context: pd.DataFrame | None = None,
    cold_users: np.ndarray | None = None,
    cold_items: np.ndarray | None = None,
) -> SplitData:
    tr = Interactions(
        train, ds.n_users, ds.n_items, items=ds.items, users=ds.users, has_timestamps=ds.info.get("has_timestamps", True)
    )
    if cold_items is None:
        seen = tr.item_counts > 0
        targets = pd.concat([valid, test], ignore_index=True)["item"].to_numpy()
        cold_items = np.unique(targets[~seen[targets]]) if len(targets) else np.zeros(0, np.int64)
    if cold_users is None:
        seen_u = tr.user_counts > 0
        targets_u = pd.concat([valid, test], ignore_index=True)["user"].to_numpy()
        cold_users = np.unique(targets_u[~seen_u[targets_u]]) if len(targets_u) else np.zeros(0, np.int64)
    info = dict(info)
    info["counts"] = {
        "train": len(tr),
        "valid": len(valid),
        "test": len(test),
        "context": 0 if context is None else len(context),
        "valid_users": int(valid["user"].nunique()) if len(valid) else 0,
        "test_users": int(test["user"].nunique()) if len(test) else 0,
        "cold_users": len(cold_users),
        "cold_items": len(cold_items),
    }
    split = SplitData(
        train=tr,
        valid=normalize_frame(valid).reset_index(drop=True),
        test=normalize_frame(test).reset_index(drop=True),
        context=None if context is None else normalize_frame(context).reset_index(drop=True),
        cold_users=np.asarray(cold_users, dtype=np.int64),
        cold_items=np.asarray(cold_items, dtype=np.int64),
        info=info,
    )
    split.info["fingerprint"] = split.fingerprint()
    return split


def per_user_ratio_counts(sizes: np.ndarray, ratios: Sequence[float]) -> np.ndarray:
    """Per-user part sizes for ``ratios`` (RecBole's rule, vectorised).

    Each part i>0 gets ``floor(r_i * n)``; part 0 gets the rest; then, while part 0 keeps more
    than one interaction, a later part whose share ``r_i * n`` lies in (0, 1) gets one.

    Returns:
        int array [n_users, len(ratios)].
    """
    r = np.asarray(ratios, dtype=np.float64)
    r = r / r.sum()
    n = np.asarray(sizes, dtype=np.int64)
    cnt = np.floor(r[None, :] * n[:, None] + 1e-9).astype(np.int64)
    cnt[:, 0] = n - cnt[:, 1:].sum(1)
    for i in range(1, len(r)):
        j = len(r) - i
        share = r[j] * n
        bump = (cnt[:, 0] > 1) & (share > 0) & (share < 1)
        cnt[bump, j] += 1
        cnt[bump, 0] -= 1
    return cnt


def check_ratios(ratios: Sequence[float]) -> list[float]:
    ratios = [float(x) for x in ratios]
    if len(ratios) != 3 or any(x < 0 for x in ratios) or ratios[0] <= 0:
        raise ConfigError(
            f"ratios must be three non-negative numbers [train, valid, test] with train > 0, got {ratios}"
        )
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise ConfigError(
            f"ratios must sum to 1 (they are shares of each user's interactions), got {ratios} (sum "
            f"{sum(ratios):g}); e.g. [0.8, 0.1, 0.1]"
        )
    return ratios


def _per_user_parts(df: pd.DataFrame, ratios: Sequence[float], order: str, rng: np.random.Generator) -> np.ndarray:
    """Part index (0 train, 1 valid, 2 test) for each row of ``df``.

    order "random": a seeded permutation within each user; "time": chronological, so the
    latest interactions of each user go to test.
    """
    users = df["user"].to_numpy()
    if order == "random":
        key = rng.random(len(df))
        idx = np.lexsort((key, users))
    else:
        idx = np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy(), users))
    su = users[idx]
    starts = np.r_[0, np.flatnonzero(np.diff(su)) + 1]
    sizes = np.diff(np.r_[starts, len(su)])
    pos = np.arange(len(su)) - np.repeat(starts, sizes)
    cnt = per_user_ratio_counts(sizes, ratios)
    c0 = np.repeat(cnt[:, 0], sizes)
    c1 = np.repeat(cnt[:, 0] + cnt[:, 1], sizes)
    part_sorted = np.where(pos < c0, 0, np.where(pos < c1, 1, 2))
    part = np.empty(len(df), dtype=np.int8)
    part[idx] = part_sorted
    return part


@register_split(
    "random",
    summary="Per-user random ratio split (train/valid/test), RecBole's RS rule.",
    warm_reference=True,  # what cold-start results are compared with in the HTML pages
)
def random_split(
    ds: Dataset, seed: int = 0, ratios: Sequence[float] = (0.8, 0.1, 0.1), order: str = "random"
) -> SplitData:
    """Per-user ratio split.

    Args:
        ratios: shares of each user's interactions for train, valid, test.
        order: ``"random"`` (seeded shuffle per user) or ``"time"`` (each user's latest go to test).
    """
    ratios = check_ratios(ratios)
    if order not in ("random", "time"):
        raise ConfigError(f"order must be 'random' or 'time', got {order!r}")
    df = ds.interactions
    part = _per_user_parts(df, ratios, order, np.random.default_rng(seed))
    info = {"name": "random", "params": {"ratios": ratios, "order": order}, "seed": seed}
    return _finish(ds, df[part == 0], df[part == 1], df[part == 2], info)


@register_split(
    "given", summary="The dataset's own train/test partition (LightGCN format); valid = a random share of train."
)
def given_split(ds: Dataset, seed: int = 0, valid_ratio: float = 0.1) -> SplitData:
    """The partition the dataset's files define (``info["given_test_from"]``: rows from that position on
    are test), with a seeded random ``valid_ratio`` of each user's training rows held out for validation
    (0: none; the LightGCN and SELFRec code validate on the test set, which this split never does).

    Raises:
        ConfigError: the dataset defines no partition, or ``valid_ratio`` is outside [0, 1).
    """
    test_from = (ds.info or {}).get("given_test_from")
    if test_from is None:
        raise ConfigError(
            f"split 'given': dataset {ds.name!r} defines no train/test partition "
            "(only the LightGCN-format datasets do: gowalla, yelp2018, amazon-book); use random or leave_one_out"
        )
    if not 0.0 <= float(valid_ratio) < 1.0:
        raise ConfigError(f"split 'given': valid_ratio must be in [0, 1), got {valid_ratio!r}")
    df = ds.interactions
    is_test = df["timestamp"].to_numpy() >= int(test_from)
    train_part = df[~is_test]
    part = _per_user_parts(train_part, (1.0 - valid_ratio, valid_ratio, 0.0), "random", np.random.default_rng(seed))
    info = {"name": "given", "params": {"valid_ratio": float(valid_ratio)}, "seed": seed}
    return _finish(ds, train_part[part == 0], train_part[part == 1], df[is_test], info)


@register_split("leave_one_out", summary="Last interaction per user = test, second-to-last = valid.")
def leave_one_out(ds: Dataset, seed: int = 0, min_train: int = 1) -> SplitData:
    """Leave-one-out by time (ties kept in source order).

    Users with fewer than ``min_train + 2`` interactions give no valid target; with fewer than
    ``min_train + 1`` they give no test target either (they stay in train).
    """
    df = ds.interactions
    users = df["user"].to_numpy()
    idx = np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy(), users))
    su = users[idx]
    ends = np.r_[np.flatnonzero(np.diff(su)) + 1, len(su)]
    starts = np.r_[0, ends[:-1]]
    sizes = ends - starts
    from_end = np.repeat(ends, sizes) - 1 - np.arange(len(su))
    size_r = np.repeat(sizes, sizes)
    part_sorted = np.zeros(len(su), dtype=np.int8)
    part_sorted[(from_end == 0) & (size_r >= min_train + 1)] = 2
    part_sorted[(from_end == 1) & (size_r >= min_train + 2)] = 1
    part = np.empty(len(df), dtype=np.int8)
    part[idx] = part_sorted
    info = {"name": "leave_one_out", "params": {"min_train": min_train}, "seed": seed}
    return _finish(ds, df[part == 0], df[part == 1], df[part == 2], info)


@register_split("temporal", summary="Global time cut: train before t1, valid in [t1, t2), test from t2.")
def temporal(
    ds: Dataset,
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    drop_unknown_users: bool = True,
    drop_unknown_items: bool = True,
) -> SplitData:
    """Global temporal split at the time quantiles given by ``ratios``.

    Every training interaction happens strictly before every valid/test interaction
    (interactions sharing the cut timestamp all go to the later part). Valid/test
    interactions of users (items) never seen in train are dropped when
    ``drop_unknown_users`` (``drop_unknown_items``); counts of dropped rows are recorded.
    """
    ratios = check_ratios(ratios)
    df = ds.interactions
    ts = df["timestamp"].to_numpy()
    total = sum(ratios)
    q1, q2 = ratios[0] / total, (ratios[0] + ratios[1]) / total
    srt = np.sort(ts)
    t1 = srt[min(len(srt) - 1, int(np.floor(q1 * len(srt))))]
    t2 = srt[min(len(srt) - 1, int(np.floor(q2 * len(srt))))] if ratios[2] > 0 else srt[-1] + 1
    train = df[ts < t1]
    valid = df[(ts >= t1) & (ts < t2)]
    test = df[ts >= t2]
    dropped = {}
    seen_u = np.zeros(ds.n_users, bool)
    seen_u[train["user"].to_numpy()] = True
    seen_i = np.zeros(ds.n_items, bool)
    seen_i[train["item"].to_numpy()] = True
    for label, part in (("valid", valid), ("test", test)):
        keep = np.ones(len(part), bool)
        if drop_unknown_users:
            keep &= seen_u[part["user"].to_numpy()]
        if drop_unknown_items:
            keep &= seen_i[part["item"].to_numpy()]
        dropped[label] = int((~keep).sum())
        if label == "valid":
            valid = part[keep]
        else:
            test = part[keep]
    info = {
        "name": "temporal",
        "params": {
            "ratios": ratios,
            "drop_unknown_users": drop_unknown_users,
            "drop_unknown_items": drop_unknown_items,
        },
        "seed": seed,
        "cut_timestamps": [int(t1), int(t2)],
        "dropped_unknown": dropped,
    }
    return _finish(ds, train, valid, test, info)


@register_split(
    "cold_users",
    cold_start="users",
    summary="Held-out users: first n interactions revealed as context, the rest predicted.",
)
def cold_users(
    ds: Dataset,
    seed: int = 0,
    user_fraction: float = 0.2,
    n_context: int = 3,
    valid_share: float = 0.5,
) -> SplitData:
    """Cold-start users.

    A seeded ``user_fraction`` of users (with more than ``n_context`` interactions) is held
    out of training; of those, ``valid_share`` predict for validation and the rest for
    test. Each held-out user's first ``n_context`` interactions (by time) are revealed as
    context at prediction time (never trained on); the remaining ones are the targets.
    """
    if not 0 < user_fraction < 1:
        raise ConfigError(f"user_fraction must be in (0, 1), got {user_fraction}")
    if n_context < 0:
        raise ConfigError(f"n_context must be >= 0, got {n_context}")
    rng = np.random.default_rng(seed)
    df = ds.interactions
    counts = np.bincount(df["user"].to_numpy(), minlength=ds.n_users)
    eligible = np.flatnonzero(counts > n_context)
    n_cold = int(round(user_fraction * ds.n_users))
    n_cold = min(n_cold, len(eligible))
    cold = np.sort(rng.choice(eligible, size=n_cold, replace=False))
    perm = rng.permutation(cold)
    n_valid = int(round(valid_share * len(cold)))
    valid_users = np.zeros(ds.n_users, bool)
    valid_users[perm[:n_valid]] = True
    is_cold = np.zeros(ds.n_users, bool)
    is_cold[cold] = True

    users = df["user"].to_numpy()
    idx = np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy(), users))
    su = users[idx]
    starts = np.r_[0, np.flatnonzero(np.diff(su)) + 1]
    sizes = np.diff(np.r_[starts, len(su)])
    pos = np.empty(len(df), dtype=np.int64)
    pos[idx] = np.arange(len(su)) - np.repeat(starts, sizes)
    cold_row = is_cold[users]
    ctx = cold_row & (pos < n_context)
    target = cold_row & ~ctx
    val_row = valid_users[users]
    info = {
        "name": "cold_users",
        "params": {"user_fraction": user_fraction, "n_context": n_context, "valid_share": valid_share},
        "seed": seed,
    }
    return _finish(
        ds,
        df[~cold_row],
        df[target & val_row],
        df[target & ~val_row],
        info,
        context=df[ctx],
        cold_users=cold,
    )


@register_split(
    "cold_items",
    cold_start="items",
    summary="Held-out items with zero training interactions; their interactions are the targets.",
)
def cold_items(
    ds: Dataset,
    seed: int = 0,
    item_fraction: float = 0.2,
    valid_share: float = 0.5,
    warm_valid_ratio: float = 0.1,
    warm_test_ratio: float = 0.0,
) -> SplitData:
    """Cold-start items.

    A seeded ``item_fraction`` of items is held out: none of their interactions is in train.
    Of the held-out items, ``valid_share`` give validation targets and the rest test targets.
    ``warm_valid_ratio`` (``warm_test_ratio``) of each user's remaining interactions also go
    to valid (test), so models that cannot score cold items can still early-stop, and warm
    and cold test items can be reported side by side (the evaluator reports ``cold`` and
    ``warm`` target subsets separately).
    """
    if not 0 < item_fraction < 1:
        raise ConfigError(f"item_fraction must be in (0, 1), got {item_fraction}")
    rng = np.random.default_rng(seed)
    df = ds.interactions
    present = np.flatnonzero(np.bincount(df["item"].to_numpy(), minlength=ds.n_items) > 0)
    n_cold = int(round(item_fraction * len(present)))
    cold = np.sort(rng.choice(present, size=n_cold, replace=False))
    perm = rng.permutation(cold)
    n_valid = int(round(valid_share * len(cold)))
    is_cold = np.zeros(ds.n_items, bool)
    is_cold[cold] = True
    is_valid_item = np.zeros(ds.n_items, bool)
    is_valid_item[perm[:n_valid]] = True
    items = df["item"].to_numpy()
    cold_row = is_cold[items]
    warm = df[~cold_row]
    wr = max(0.0, 1.0 - warm_valid_ratio - warm_test_ratio)
    if warm_valid_ratio > 0 or warm_test_ratio > 0:
        part = _per_user_parts(warm, [wr, warm_valid_ratio, warm_test_ratio], "random", rng)
    else:
        part = np.zeros(len(warm), dtype=np.int8)
    cold_df = df[cold_row]
    cv = is_valid_item[cold_df["item"].to_numpy()]
    valid = pd.concat([cold_df[cv], warm[part == 1]], ignore_index=True)
    test = pd.concat([cold_df[~cv], warm[part == 2]], ignore_index=True)
    info = {
        "name": "cold_items",
        "params": {
            "item_fraction": item_fraction,
            "valid_share": valid_share,
            "warm_valid_ratio": warm_valid_ratio,
            "warm_test_ratio": warm_test_ratio,
        },
        "seed": seed,
        "report_cold_warm": True,
    }
    return _finish(ds, warm[part == 0], valid, test, info, cold_items=cold)


def _base_of_sparsity(params: dict) -> tuple[str, dict]:
    """The split a sparsity level is cut from (its seed source, see ``Runner.split``)."""
    return str(params.get("base", "random")), dict(params.get("base_params") or {})


@register_split(
    "sparsity",
    summary="A base split whose train part keeps a fraction p of each user's interactions.",
    seed_from=_base_of_sparsity,
    level_param="p",  # the parameter the HTML pages plot results against
    level_label="fraction of training interactions kept (p)",
)
def sparsity(
    ds: Dataset,
    seed: int = 0,
    p: float = 0.5,
    base: str = "random",
    base_params: dict | None = None,
) -> SplitData:
    """Sparsity level ``p``: valid and test are exactly those of the base split (same seed),
    train keeps a seeded fraction ``p`` of each user's training interactions (at least one).

    Levels made with the same seed keep nested train parts (the interactions kept at a lower
    ``p`` are kept at every higher one), and ``p = 1`` is the base split. The runner gives every
    level its base split's seed (``seed_from``, read by ``split_seed_key``), so a suite's levels are comparable.
    """
    if not 0 < p <= 1:
        raise ConfigError(f"p must be in (0, 1], got {p}")
    if base == "sparsity":
        raise ConfigError("sparsity cannot be its own base split")
    base_split = make_split(ds, base, seed=seed, **(base_params or {}))
    tr = base_split.train.df
    rng = np.random.default_rng([seed, 7919])
    keep_n = np.maximum(1, np.floor(p * tr.groupby("user").size().to_numpy() + 1e-9)).astype(np.int64)
    users = tr["user"].to_numpy()
    idx = np.lexsort((rng.random(len(tr)), users))
    su = users[idx]
    starts = np.r_[0, np.flatnonzero(np.diff(su)) + 1]
    sizes = np.diff(np.r_[starts, len(su)])
    pos = np.arange(len(su)) - np.repeat(starts, sizes)
    keep = np.zeros(len(tr), bool)
    keep[idx] = pos < np.repeat(keep_n, sizes)
    info = {
        "name": "sparsity",
        "params": {"p": p, "base": base, "base_params": dict(base_params or {})},
        "seed": seed,
        "base_fingerprint": base_split.info["fingerprint"],
        "report_cold_warm": bool(base_split.info.get("report_cold_warm")),
    }
    return _finish(
        ds,
        tr[keep],
        base_split.valid,
        base_split.test,
        info,
        context=base_split.context,
        # the base's cold users / items when it designates them (cold-start bases); otherwise they
        # are the targets this sparser train part has not seen, recomputed like any split's
        cold_users=base_split.cold_users if base_split.context is not None else None,
        cold_items=base_split.cold_items if base_split.info.get("report_cold_warm") else None,
    )


def make_split(ds: Dataset, name: str, seed: int = 0, **params) -> SplitData:
    """Build split ``name`` with validated ``params``."""
    from ..registry import SPLITS

    entry = SPLITS.entry(name)
    resolved = entry.resolve({**params, "seed": seed})
    split = entry.obj(ds, **resolved)
    if len(split.test) == 0:
        logger.warning("split %s of %s has an empty test set", name, ds.name)
    return split
