"""LightGCN with sampled neighbourhoods (``propagation: sampled``) against the full propagation.

Usage::

    python benchmarks/graph_sampled.py [--users 138493] [--items 26744] [--edges 10000000] [--steps 10]
                                       [--fanouts 5,10] [--epochs 20] [--threads N] [--readme]

Two measurements:

1. Seconds per training step (batch of 2048 edges, BPR, 64-d, 2 layers) on a random graph with
   ML-20M's users and items (Zipf item popularity), full propagation against sampled ones: a full
   step propagates every edge; a sampled step only the sampled neighbourhoods of its nodes.
2. Quality on ML-100K (random 8:1:1, seed 0): the ``lightgcn`` preset trained ``--epochs`` epochs
   with each propagation, test NDCG@20 / Recall@20 (full ranking) and s/epoch. On a graph this
   small a sampled step's neighbourhoods cover most of the graph, so only the quality is of interest.

``--readme`` writes both tables into ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import _report  # noqa: E402, F401, I001  (imported first: stamps the commit the run starts from)

import ssl4rec.ssl  # noqa: E402, F401  (registers the presets)
from ssl4rec.datasets import load_dataset  # noqa: E402
from ssl4rec.encoders.graph import LightGCNEncoder  # noqa: E402
from ssl4rec.evaluation.evaluator import Protocol, evaluate  # noqa: E402
from ssl4rec.evaluation.splits import make_split  # noqa: E402
from ssl4rec.registry import PRESETS  # noqa: E402


def random_graph(users: int, items: int, edges: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    u = rng.integers(0, users, edges)
    i = rng.zipf(1.3, edges) % items
    m = sp.csr_matrix((np.ones(edges, np.float32), (u, i)), shape=(users, items))
    m.data[:] = 1.0  # duplicates summed: one edge
    return m


def step_seconds(graph: sp.csr_matrix, propagation: str, fanout: int, steps: int) -> tuple[float, float]:
    """(median s/step, set_graph s) of BPR steps on batches of 2048 edges."""
    from ssl4rec.objectives.graph import NegativeSampler

    n_users, n_items = graph.shape
    enc = LightGCNEncoder(n_items, n_users=n_users, embedding_size=64, num_layers=2, propagation=propagation, fanout=fanout)
    t0 = time.perf_counter()
    enc.set_graph(graph)
    t_graph = time.perf_counter() - t0
    opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
    sampler = NegativeSampler(graph, n_items)
    gen = torch.Generator().manual_seed(0)
    coo = graph.tocoo()
    times = []
    for _ in range(steps):
        pick = torch.randint(graph.nnz, (2048,), generator=gen).numpy()
        users, pos = torch.from_numpy(coo.row[pick].astype(np.int64)), torch.from_numpy(coo.col[pick].astype(np.int64))
        t0 = time.perf_counter()
        neg = sampler.sample(users, gen)
        if propagation == "sampled":
            out = enc.propagate_sampled(torch.cat([users, pos + n_users, neg + n_users]), gen)
        else:
            out = enc.propagate()
        u, p, q = out.users[users], out.items[pos], out.items[neg]
        loss = -torch.log(1e-5 + torch.sigmoid((u * p).sum(1) - (u * q).sum(1))).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), t_graph


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=138_493)
    ap.add_argument("--items", type=int, default=26_744)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--fanouts", default="5,10")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--readme", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fanouts = [int(f) for f in args.fanouts.split(",") if f.strip()]

    graph = random_graph(args.users, args.items, args.edges)
    print(f"random graph: {graph.shape[0]:,} users, {graph.shape[1]:,} items, {graph.nnz:,} edges")
    speed = []
    full, t_full = step_seconds(graph, "full", 10, args.steps)
    speed.append(["full", "-", f"{full:.3f}", "1.00", f"{t_full:.1f}"])
    print(f"  full: {full:.3f} s/step (graph built in {t_full:.1f} s)", flush=True)
    for f in fanouts:
        sec, t_graph = step_seconds(graph, "sampled", f, args.steps)
        speed.append(["sampled", str(f), f"{sec:.3f}", f"{full / sec:.2f}", f"{t_graph:.1f}"])
        print(f"  sampled, fanout {f}: {sec:.3f} s/step", flush=True)

    ds = load_dataset("ml-100k", download=False)
    split = make_split(ds, "random", seed=0, ratios=(0.8, 0.1, 0.1))
    protocol = Protocol(ks=(20,), metrics=("ndcg", "recall"), valid_metric="ndcg@20")
    quality = []
    for prop, f in [("full", None)] + [("sampled", f) for f in fanouts]:
        enc = {"propagation": prop} if f is None else {"propagation": prop, "fanout": f}
        model = PRESETS.get("lightgcn")(epochs=args.epochs, seed=0, encoder=enc)
        model.device = torch.device("cpu")
        model.fit(split.train)
        res = evaluate(model, split, "test", protocol, progress=False)
        secs = statistics.median(model.fit_info["epoch_seconds"])
        quality.append(
            [prop, "-" if f is None else str(f), f"{res.metrics['ndcg@20']:.4f}", f"{res.metrics['recall@20']:.4f}", f"{secs:.2f}"]
        )
        print(f"  ml-100k {prop} {f}: NDCG@20 {res.metrics['ndcg@20']:.4f}, {secs:.2f} s/epoch", flush=True)

    h1 = ["propagation", "fanout", "s/step", "speed-up", "graph build s"]
    h2 = ["propagation", "fanout", "test NDCG@20", "test Recall@20", "s/epoch"]
    print()
    print(_report.table(h1, speed))
    print()
    print(_report.table(h2, quality))
    if args.readme:
        body = (
            f"Training steps (BPR, batches of 2048 edges, 64-d, 2 layers, Adam) on a random graph with "
            f"{graph.shape[0]:,} users, {graph.shape[1]:,} items and {graph.nnz:,} edges (ML-20M's users and "
            f"items, Zipf item popularity); median of {args.steps} steps after building the graph.\n\n"
            + _report.table(h1, speed)
            + f"\n\nThe `lightgcn` preset on ML-100K (random 8:1:1, seed 0), {args.epochs} epochs without "
            "validation, test metrics (full ranking, history masked):\n\n"
            + _report.table(h2, quality)
        )
        _report.update_readme("graph_sampled", "LightGCN with sampled neighbourhoods", body)


if __name__ == "__main__":
    main()
