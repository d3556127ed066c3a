"""Exact ranks and AUC pair counts for many targets per user: direct comparisons vs binary search vs a full sort.

Usage::

    python benchmarks/eval_methods.py [--targets 1,4,8,16,24,34,64,128] [--threads 1] [--repeats 5] [--readme]

An evaluator pass that reports AUC / GAUC (or evaluates cold and warm targets apart) needs each
target's exact rank and its pair counts against every candidate. Three exact ways, same numbers:

- ``compare`` (the evaluator's choice up to ``COMPARE_MAX_TARGETS`` targets per user): every target
  against every candidate, O(T N) per user;
- ``search`` (above it): the row's targets sorted, each candidate placed among them by one binary
  search, O(N log T) per user (``ssl4rec.evaluation.evaluator._search_counts``);
- ``sort``: a stable sort of all N scores per user, O(N log N), the evaluator's method for more than
  8 targets before ``search`` (reimplemented here as the reference; not in the package).

Part 1 times ``_pair_counts`` per user on Beauty-wide rows (12,101 items, random scores) for each
target count T, in the chunk sizes the evaluator uses. Part 2 (when ``$SSL4REC_DATA`` has Beauty)
times whole evaluator passes with every metric, AUC and GAUC included, of a popularity model on Amazon
Beauty's random 8:1:1 and cold-items splits (seed 0), with the evaluator's methods and with ``sort``
in place of ``search``, and checks that both give the same metrics.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import _report  # noqa: E402, F401, I001  (imported first: stamps the commit the run starts from)

from ssl4rec.evaluation import evaluator as E  # noqa: E402

N_ITEMS = 12_101


def sort_counts(
    sc: torch.Tensor, ts: torch.Tensor, safe: torch.Tensor, tcand: torch.Tensor, n_cand: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(rank, lt, eq_all)`` as ``_search_counts`` gives them, from two sorts of all N scores (the reference)."""
    b, n = sc.shape
    cand = ~torch.isnan(sc)
    # stable descending sort keeps equal scores in id order = the tie rule
    order = torch.sort(torch.nan_to_num(sc, nan=-torch.inf), dim=1, descending=True, stable=True).indices
    cs = torch.gather(cand, 1, order).to(torch.int64)
    before = torch.cumsum(cs, 1) - cs  # candidates strictly ahead of each position
    pos = torch.empty_like(order)
    pos.scatter_(1, order, torch.arange(n).expand(b, n))
    rank = torch.gather(before, 1, torch.gather(pos, 1, safe))
    vals = torch.sort(torch.nan_to_num(sc, nan=torch.inf), dim=1).values
    tq = torch.nan_to_num(ts, nan=0.0).contiguous()
    lt = torch.searchsorted(vals, tq, right=False)
    return rank, lt, torch.searchsorted(vals, tq, right=True) - lt


def per_user(method: str, T: int, repeats: int, seed: int = 0) -> float:
    """Median microseconds per user of ``_pair_counts`` over one evaluator sub-chunk of users with T targets."""
    g = torch.Generator().manual_seed(seed)
    width = T if method == "compare" else 8  # the evaluator's sub-chunk rule
    b = max(1, (1 << 24) // (width * N_ITEMS))
    sc = torch.randn(b, N_ITEMS, generator=g)
    tgt = torch.stack([torch.randperm(N_ITEMS, generator=g)[:T] for _ in range(b)])
    tvalid = torch.ones(b, T, dtype=torch.bool)
    n_cand = torch.full((b, 1), N_ITEMS)
    real = E._search_counts
    if method == "sort":
        E._search_counts = sort_counts
    try:
        run = "search" if method == "sort" else method
        E._pair_counts(sc, tgt, tvalid, run, n_cand)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            E._pair_counts(sc, tgt, tvalid, run, n_cand)
            times.append((time.perf_counter() - t0) / b * 1e6)
    finally:
        E._search_counts = real
    return statistics.median(times)


def whole_passes(repeats: int) -> list[list[str]]:
    """Evaluator passes with every metric on Beauty's random and cold-items splits: evaluator vs ``sort``."""
    from ssl4rec.datasets import load_dataset
    from ssl4rec.evaluation.splits import make_split
    from ssl4rec.registry import BASELINES

    ds = load_dataset("amazon-beauty", preprocessing={"dedup": "keep"}, download=False)
    rows = []
    for name, params in (
        ("random", {"ratios": (0.8, 0.1, 0.1)}),
        ("cold_items", {"item_fraction": 0.2, "warm_test_ratio": 0.1}),
    ):
        split = make_split(ds, name, seed=0, **params)
        model = BASELINES.get("pop")()
        model.fit(split.train)
        T = split.target_matrix("test")[1].shape[1]
        secs, metrics = {}, {}
        for label in ("evaluator", "sort"):
            real = E._search_counts
            if label == "sort":
                E._search_counts = sort_counts
            try:
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    res = E.evaluate(model, split, "test", E.Protocol(ks=(5, 10, 20)), progress=False)
                    times.append(time.perf_counter() - t0)
            finally:
                E._search_counts = real
            secs[label], metrics[label] = statistics.median(times), res.metrics
        same = metrics["evaluator"] == metrics["sort"]
        method = "compare" if T <= E.COMPARE_MAX_TARGETS else "search"
        groups = "all, cold, warm" if name == "cold_items" else "all"
        rows.append(
            [
                f"amazon-beauty {name}",
                str(T),
                groups,
                method,
                f"{secs['evaluator']:.2f}",
                f"{secs['sort']:.2f}",
                f"{secs['sort'] / secs['evaluator']:.1f}x",
                "yes" if same else "NO",
                f"{metrics['evaluator']['auc']:.4f}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="1,4,8,16,24,34,64,128", help="targets per user (comma-separated)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--readme", action="store_true", help="write the tables into benchmarks/README.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    header1 = ["targets per user", "compare us/user", "search us/user", "sort us/user", "evaluator's choice"]
    body1 = []
    for T in [int(t) for t in args.targets.split(",")]:
        us = {m: per_user(m, T, args.repeats) for m in ("compare", "search", "sort")}
        choice = "compare" if T <= E.COMPARE_MAX_TARGETS else "search"
        body1.append([str(T), f"{us['compare']:.0f}", f"{us['search']:.0f}", f"{us['sort']:.0f}", choice])
        print(" | ".join(body1[-1]), flush=True)
    header2 = [
        "split",
        "targets per user (max)",
        "target groups",
        "method",
        "evaluator s",
        "with sort s",
        "speed-up",
        "same metrics",
        "AUC",
    ]
    body2 = []
    root = os.environ.get("SSL4REC_DATA")
    if root and (Path(root) / "s3rec" / "Beauty.txt").exists():
        body2 = whole_passes(args.repeats)
    if args.readme:
        from _report import table, update_readme

        load = os.getloadavg()[0]
        text = (
            f"Part 1: `_pair_counts` on {N_ITEMS:,}-item rows of random scores, median of {args.repeats} "
            "runs of one evaluator sub-chunk of users (compare: 2^24 / (T x items) users, search and sort: "
            "2^24 / (8 x items)).\n\n"
            + table(header1, body1)
            + "\n\nPart 2: whole evaluator passes of a popularity model on Amazon Beauty's test targets, every "
            f"metric at K = 5/10/20 with AUC and GAUC, median of {args.repeats}; 'with sort' replaces the search "
            "by the full sort of every row's scores (the method before it).\n\n"
            + (table(header2, body2) if body2 else "(Beauty not found in $SSL4REC_DATA: part 2 skipped)")
            + f"\n\n1-minute load average at the end {load:.1f} on {os.cpu_count()} cores."
        )
        update_readme("eval_methods", "Exact ranks and AUC pairs for many targets per user", text)


if __name__ == "__main__":
    main()
