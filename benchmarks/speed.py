"""Training and evaluation speed of every baseline and named SSL preset, with the NDCG@10 reached.

Usage::

    python benchmarks/speed.py [--datasets ml-100k amazon-beauty] [--models pop,sasrec,...]
                               [--epochs 20] [--beauty-epochs 5] [--repeats 3] [--threads N] [--readme]

For each (dataset, model) a fresh subprocess (so that peak memory is the model's own) loads
the data, makes the split — ML-100K ``random`` 8:1:1, Amazon Beauty (S3-Rec file)
``leave_one_out`` — trains the model for a fixed epoch budget without validation, then runs
the full-ranking evaluation pass on the test targets (all items, history masked, top-K
metrics at K = 5/10/20) ``--repeats`` times. Reported:

* ``s/epoch``: median of the epochs' wall times (``fit_info["epoch_seconds"]``); models fitted
  in closed form (Pop, ItemKNN, EASE, content) report the median fit time of ``--repeats`` fits;
* ``throughput``: training sequences per second for sequence models (one per user and epoch),
  training interactions per second for the others;
* ``eval s``: median seconds of one evaluation pass;
* ``peak MB``: peak resident memory of the subprocess (data + model + evaluation);
* ``NDCG@10``: on the test targets after the epoch budget (not early-stopped, not tuned: a
  speed figure, not a leaderboard entry; the leaderboards are under ``leaderboards/``).

On Beauty the SSL presets use the ICLRec settings of ``configs/reproduce/iclrec_beauty.yaml``
(the reproduction's models), with the epoch budget replacing its ``epochs``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

DATASETS = {
    # name: (split, dataset preprocessing)
    "ml-100k": ("random", {"dedup": "last"}),
    "amazon-beauty": ("leave_one_out", {"dedup": "keep"}),
}
PROTOCOL = {"ks": (5, 10, 20), "metrics": ("precision", "recall", "ndcg", "hr", "mrr", "map")}


def all_models() -> list[str]:
    import ssl4rec.ssl  # noqa: F401  (registers the presets)
    from ssl4rec.registry import BASELINES, PRESETS

    return [n for n in BASELINES.names() if n != "random"] + list(PRESETS.names())


def model_spec(dataset: str, name: str, epochs: int):
    """The ModelSpec of ``name`` with the epoch budget (Beauty presets: the ICLRec settings)."""
    from ssl4rec.registry import BASELINES, PRESETS
    from ssl4rec.running.plan import ModelSpec, load_suite

    if name in PRESETS.names():
        params: dict = {}
        if dataset == "amazon-beauty":
            suite = load_suite(REPO / "configs" / "reproduce" / "iclrec_beauty.yaml")
            params = next((dict(m.params) for m in suite.models if m.name == name), {})
        params.update(epochs=epochs)
        params.pop("patience", None)
        return ModelSpec(label=name, kind="preset", name=name, params=params)
    accepted = BASELINES.entry(name).accepted_params()
    params = {"epochs": epochs} if "epochs" in accepted else {}
    return ModelSpec(label=name, kind="baseline", name=name, params=params)


def measure_one(dataset: str, name: str, epochs: int, repeats: int) -> dict:
    """Runs in the subprocess: fit + evaluation passes of one model; returns the figures."""
    import ssl4rec.ssl  # noqa: F401
    from ssl4rec.datasets import load_dataset
    from ssl4rec.evaluation.evaluator import Protocol, evaluate
    from ssl4rec.evaluation.splits import make_split
    from ssl4rec.running.runner import build_model

    split_name, prep = DATASETS[dataset]
    ds = load_dataset(dataset, preprocessing=prep, download=False)
    split = make_split(ds, split_name, seed=0)
    train = split.train
    spec = model_spec(dataset, name, epochs)
    fits = []
    model = None
    for _ in range(1 if "epochs" in spec.params else repeats):
        model, _ = build_model(spec, seed=0)
        t0 = time.perf_counter()
        model.fit(train)
        fits.append(time.perf_counter() - t0)
    info = getattr(model, "fit_info", {}) or {}
    epoch_s = info.get("epoch_seconds")
    per_epoch = statistics.median(epoch_s) if epoch_s else statistics.median(fits)
    sequential = spec.kind == "preset" and name not in ("multvae", "multdae")
    units = len(train.active_users) if sequential else len(train)
    proto = Protocol(**PROTOCOL)
    evals, res = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = evaluate(model, split, "test", proto, progress=False)
        evals.append(time.perf_counter() - t0)
    return {
        "dataset": dataset,
        "split": split_name,
        "model": name,
        "epochs": len(epoch_s) if epoch_s else None,
        "s_per_epoch": per_epoch,
        "throughput": units / per_epoch if per_epoch > 0 else float("inf"),
        "unit": "seq/s" if sequential else "inter/s",
        "eval_s": statistics.median(evals),
        "eval_users": res.info["n_users"]["all"],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ndcg@10": res.metrics["ndcg@10"],
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--models", default=None, help="comma-separated (default: every baseline but random, every preset)")
    ap.add_argument("--epochs", type=int, default=20, help="epoch budget of iterative models on ML-100K")
    ap.add_argument("--beauty-epochs", type=int, default=5, help="epoch budget on Amazon Beauty")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    ap.add_argument("--one", nargs=2, metavar=("DATASET", "MODEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    if args.one:
        dataset, name = args.one
        epochs = args.beauty_epochs if dataset == "amazon-beauty" else args.epochs
        try:
            result = measure_one(dataset, name, epochs, args.repeats)
        except ValueError as exc:  # a text model on a dataset without item text: not applicable, not a failure
            if "no item text" not in str(exc):
                raise
            print("NA " + json.dumps(str(exc).split(";")[0].split("(")[0].strip()), flush=True)
            return
        print("RESULT " + json.dumps(result), flush=True)
        return

    models = [m.strip() for m in args.models.split(",")] if args.models else all_models()
    print(
        f"torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}; epochs: ML-100K "
        f"{args.epochs}, Beauty {args.beauty_epochs}; evaluation passes: {args.repeats}"
    )
    head = (
        f"{'dataset':<14} {'model':<12} {'s/epoch':>8} {'throughput':>16} {'eval s':>7} {'peak MB':>8} {'NDCG@10':>8}"
    )
    print(head)
    rows = []
    for dataset in args.datasets:
        for name in models:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                dataset,
                name,
                "--epochs",
                str(args.epochs),
                "--beauty-epochs",
                str(args.beauty_epochs),
                "--repeats",
                str(args.repeats),
            ]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            env = {**os.environ, "TQDM_DISABLE": "1"}
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            na = next((ln for ln in proc.stdout.splitlines() if ln.startswith("NA ")), None)
            if na is not None:
                reason = json.loads(na[len("NA ") :])
                print(f"{dataset:<14} {name:<12} n/a: {reason}", flush=True)
                rows.append([dataset, name, "n/a", reason, "", "", "", ""])
                continue
            if line is None:
                err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"{dataset:<14} {name:<12} failed: {err}", flush=True)
                rows.append([dataset, name, "failed", err, "", "", "", ""])
                continue
            r = json.loads(line[len("RESULT ") :])
            thr = (
                f"{r['throughput']:,.3g} {r['unit']}" if r["throughput"] < 1e4 else f"{r['throughput']:.3g} {r['unit']}"
            )
            print(
                f"{dataset:<14} {name:<12} {r['s_per_epoch']:>8.3g} {thr:>16} {r['eval_s']:>7.2f} "
                f"{r['peak_mb']:>8.0f} {r['ndcg@10']:>8.4f}",
                flush=True,
            )
            ep = r["epochs"] if r["epochs"] is not None else "closed form"
            rows.append(
                [
                    dataset,
                    name,
                    ep,
                    f"{r['s_per_epoch']:.3g}",
                    thr,
                    f"{r['eval_s']:.2f}",
                    f"{r['peak_mb']:.0f}",
                    f"{r['ndcg@10']:.4f}",
                ]
            )
    if args.readme:
        from _report import table, update_readme

        header = [
            "dataset",
            "model",
            "epochs",
            "s/epoch (median)",
            "throughput",
            "eval pass s (median)",
            "peak MB",
            "NDCG@10 after the budget",
        ]
        body = (
            "ML-100K: random 8:1:1 split; Amazon Beauty (S3-Rec file): leave-one-out, SSL presets with the ICLRec "
            "settings. Fixed epoch budget, no validation, no early stopping; evaluation = full ranking of all items "
            f"with the history masked, top-K metrics at K = 5/10/20, median of {args.repeats} passes; closed-form "
            f"models: median of {args.repeats} fits. NDCG@10 is after the budget, not a tuned result.\n\n"
            + table(header, rows)
        )
        update_readme("speed", "Training and evaluation speed per model", body)


if __name__ == "__main__":
    main()
