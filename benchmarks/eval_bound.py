"""Evaluator full-ranking pass vs the bare bound ``scores = U @ I.T; topk`` on the same tensors.

Prints, for a Beauty-sized and an ML-20M-sized catalogue (leave-one-out targets, history
masked, all metrics at K = 5/10/20 incl. AUC and coverage), the seconds of one evaluator pass,
of the bare matmul + top-k over the same user chunks, and their ratio.

    python benchmarks/eval_bound.py [--sizes beauty ml20m] [--metrics top-k all] [--repeats 3]
                                    [--threads N] [--readme]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
import torch

from ssl4rec.evaluation.evaluator import Protocol, evaluate
from ssl4rec.interactions import Interactions, SplitData

SIZES = {
    # name: (users, items, mean history length)
    "beauty": (22_363, 12_101, 9),
    "ml20m": (138_493, 26_744, 144),
}


class Embeddings:
    """A model whose scores are U[users] @ I.T."""

    def __init__(self, u: torch.Tensor, i: torch.Tensor) -> None:
        self.u, self.i = u, i

    def score(self, batch):
        return self.u[batch.users] @ self.i.T

    def scorable_items(self):
        return None


def make_log(n_users: int, n_items: int, mean_len: int, seed: int = 0) -> pd.DataFrame:
    """Zipf-popular items, log-normal history lengths (>= 3), one interaction per (user, item), time-ordered."""
    rng = np.random.default_rng(seed)
    lens = np.maximum(3, rng.lognormal(np.log(mean_len), 0.8, n_users).astype(np.int64))
    lens = np.minimum(lens, n_items // 2)
    users = np.repeat(np.arange(n_users), lens)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, size=len(users), p=pop / pop.sum())
    df = pd.DataFrame({"user": users, "item": items, "rating": 1.0, "timestamp": np.arange(len(users))})
    return df.drop_duplicates(["user", "item"], keep="last").reset_index(drop=True)


def make_split(n_users: int, n_items: int, mean_len: int, seed: int = 0) -> SplitData:
    df = make_log(n_users, n_items, mean_len, seed)
    last = df.groupby("user").tail(1)
    train = df.drop(last.index)
    return SplitData(train=Interactions(train, n_users, n_items), valid=last.iloc[:0], test=last.reset_index(drop=True))


def bare(model: Embeddings, n_users: int, batch: int, k: int) -> float:
    t0 = time.perf_counter()
    for lo in range(0, n_users, batch):
        s = model.u[lo : lo + batch] @ model.i.T
        torch.topk(s, k, dim=1)
    return time.perf_counter() - t0


METRIC_SETS = {
    # name: metrics of the evaluator pass
    "top-k": ("precision", "recall", "f1", "ndcg", "hr", "mrr", "map", "coverage"),
    "all": ("precision", "recall", "f1", "ndcg", "hr", "mrr", "map", "auc", "gauc", "coverage"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--metrics", nargs="+", default=list(METRIC_SETS), choices=list(METRIC_SETS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, dim {args.dim}, user chunk {args.batch}")
    header = ["catalogue", "users", "items", "train interactions", "metrics", "evaluator s", "bare s", "ratio"]
    print(f"{'catalogue':<10} {'users':>8} {'items':>7} {'hist':>10} {'metrics':>7} {'eval s':>8} {'bare s':>8} {'ratio':>6}")
    rows = []
    for name in args.sizes:
        n_users, n_items, mean_len = SIZES[name]
        split = make_split(n_users, n_items, mean_len)
        g = torch.Generator().manual_seed(0)
        model = Embeddings(torch.randn(n_users, args.dim, generator=g), torch.randn(n_items, args.dim, generator=g))
        _ = split.history("test").csr  # build once, outside the timing (cached per split in a suite)
        for mset in args.metrics:
            proto = Protocol(batch_size=args.batch, metrics=METRIC_SETS[mset])
            ev, bd = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                evaluate(model, split, "test", proto, progress=False)
                ev.append(time.perf_counter() - t0)
                bd.append(bare(model, n_users, args.batch, max(proto.ks)))
            e, b = statistics.median(ev), statistics.median(bd)
            print(f"{name:<10} {n_users:>8} {n_items:>7} {len(split.train):>10} {mset:>7} {e:>8.2f} {b:>8.2f} {e / b:>6.2f}", flush=True)
            rows.append([name, f"{n_users:,}", f"{n_items:,}", f"{len(split.train):,}", mset, f"{e:.2f}", f"{b:.2f}", f"{e / b:.2f}"])
    if args.readme:
        from _report import table, update_readme

        body = (
            "One evaluator pass (leave-one-out targets, history masked, K = 5/10/20; \"top-k\" = precision, "
            "recall, F1, NDCG, HR, MRR, MAP and coverage; \"all\" adds AUC and GAUC, which need every "
            "candidate's comparison with the target) vs the bare `scores = U @ I.T; topk(20)` over the same "
            f"user chunks of {args.batch}; median of {args.repeats} runs.\n\n" + table(header, rows)
        )
        update_readme("eval_bound", "Evaluator vs the bare matmul + top-k bound", body)


if __name__ == "__main__":
    main()
