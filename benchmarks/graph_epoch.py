"""Seconds per training epoch and per evaluation pass of the graph presets (LightGCN, SGL, SimGCL, XSimGCL).

Usage::

    python benchmarks/graph_epoch.py [--datasets ml-100k,amazon-beauty] [--presets lightgcn,sgl,simgcl,xsimgcl]
                                     [--epochs 2] [--threads N] [--profile] [--readme]

Each dataset is split at random 8:1:1 per user (seed 0), as the graph-CF papers and SELFRec do;
each preset trains ``--epochs`` epochs without validation with its own settings (SELFRec's: 64-d,
2 layers, batches of 2048 edges) and is then evaluated once on the test targets (full ranking,
history masked). The table gives the median s/epoch, its ratio to LightGCN's, the evaluation
pass in seconds and test NDCG@20 after those epochs (a smoke check, not a result). ``--readme``
writes the table into ``benchmarks/README.md``.

``--profile`` trains under torch's profiler and adds where the training time goes: the share of
the operators' self CPU time in dense matrix products (``aten::mm``: the in-batch InfoNCE of the
contrastive presets, computed the same way by SELFRec), in the sparse graph products (``aten::addmm``:
propagation and its backward; the graph presets have no dense layers) and in ``exp`` (InfoNCE's
softmax). Profiling slows every operator a little; its table goes to its own README section.
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

import ssl4rec.ssl  # noqa: E402, F401  (registers the presets)
from ssl4rec.datasets import load_dataset  # noqa: E402
from ssl4rec.evaluation.evaluator import Protocol, evaluate  # noqa: E402
from ssl4rec.evaluation.splits import make_split  # noqa: E402
from ssl4rec.registry import PRESETS  # noqa: E402


def op_shares(prof: torch.profiler.profile) -> dict[str, float]:
    """Shares of the profiled operators' self CPU time: dense and sparse products and ``exp``."""
    total = 0.0
    parts = {"dense": 0.0, "sparse": 0.0, "exp": 0.0}
    for e in prof.key_averages():
        t = e.self_cpu_time_total
        total += t
        if e.key in ("aten::mm", "aten::bmm"):
            parts["dense"] += t
        elif e.key.startswith("aten::addmm"):
            parts["sparse"] += t
        elif e.key.startswith("aten::exp"):
            parts["exp"] += t
    return {k: v / total if total else 0.0 for k, v in parts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="ml-100k,amazon-beauty")
    ap.add_argument("--presets", default="lightgcn,sgl,simgcl,xsimgcl")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--profile", action="store_true", help="where the training time goes (torch profiler)")
    ap.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    protocol = Protocol(ks=(20,), metrics=("ndcg",), valid_metric="ndcg@20")
    rows = []
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        ds = load_dataset(name, download=False)
        split = make_split(ds, "random", seed=0, ratios=(0.8, 0.1, 0.1))
        train = split.train
        print(f"data: {name} random 8:1:1: {train.n_users} users, {train.n_items} items, {len(train)} training edges")
        base = None
        for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
            model = PRESETS.get(preset)(epochs=args.epochs, seed=0)
            model.device = torch.device("cpu")
            shares = None
            if args.profile:
                with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                    model.fit(train)
                shares = op_shares(prof)
            else:
                model.fit(train)
            secs = statistics.median(model.fit_info["epoch_seconds"])
            t0 = time.perf_counter()
            res = evaluate(model, split, "test", protocol, progress=False)
            ev = time.perf_counter() - t0
            base = base or (secs if preset == "lightgcn" else None)
            rows.append((name, preset, secs, ev, res.metrics["ndcg@20"], shares))
            print(f"  {preset}: {secs:.2f} s/epoch, eval {ev:.2f} s, ndcg@20 {res.metrics['ndcg@20']:.4f}", flush=True)
    header = [
        "dataset",
        "preset",
        f"median s/epoch ({torch.get_num_threads()} threads)",
        "x LightGCN",
        "eval s",
        f"NDCG@20 after {args.epochs} epochs",
    ]
    if args.profile:
        header += ["dense products %", "sparse products %", "exp %"]
    body = []
    for name, preset, secs, ev, ndcg, shares in rows:
        ref = next((r[2] for r in rows if r[0] == name and r[1] == "lightgcn"), None)
        body.append([name, preset, f"{secs:.2f}", f"{secs / ref:.2f}" if ref else "-", f"{ev:.2f}", f"{ndcg:.4f}"])
        if shares is not None:
            body[-1] += [f"{100 * shares[k]:.0f}" for k in ("dense", "sparse", "exp")]
    print()
    print(_report.table(header, body))
    if args.readme:
        load = os.getloadavg()[0]
        caption = (
            f"Random 8:1:1 split (seed 0); each preset trained {args.epochs} epoch(s) with its own settings, no "
            f"validation; 1-minute load average at the end {load:.1f} on {os.cpu_count()} cores (other jobs "
            "running make every figure slower)."
            + (
                " Trained under torch's profiler (slower); the last columns are shares of the operators' self "
                "CPU time: dense products (`aten::mm`), sparse graph products (`aten::addmm`), `exp`."
                if args.profile
                else ""
            )
        )
        section = (
            ("graph_epoch profile", "Where a graph preset's epoch goes")
            if args.profile
            else ("graph_epoch", "Seconds per epoch of the graph presets")
        )
        _report.update_readme(*section, caption + "\n\n" + _report.table(header, body))


if __name__ == "__main__":
    main()
