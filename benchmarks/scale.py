"""ML-20M-scale pipeline on a synthetic log with ML-20M's shape, each step timed with peak memory.

Writes 138,493 users x 26,744 items x ~20,000,263 interactions (Zipf item popularity,
log-normal user activity, increasing timestamps) in the ML-20M ``ratings.csv`` format to a
temporary data root, then: load -> 5-core -> temporal split -> Pop / ItemKNN / BPR (one epoch)
fit -> full-ranking evaluation of every test user. Prints one line per step. ``--models`` picks
others: ``lightgcn`` (the preset, one epoch in batches of 131,072 edges: the graph's build,
propagation and the evaluator pass at this size) writes its own README section.

    python benchmarks/scale.py [--interactions 20000263] [--threads N] [--keep DIR] [--metrics top-k|all]
                               [--models pop,itemknn,bpr] [--readme]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

N_USERS, N_ITEMS, N_INTER = 138_493, 26_744, 20_000_263
#: Models the script can fit, with their parameters at this scale (one epoch each where they train).
MODELS = {
    "pop": {},
    "itemknn": {"k": 100},
    "bpr": {"epochs": 1, "batch_size": 8192},
    "lightgcn": {"epochs": 1, "batch_size": 131_072},
}
DEFAULT_MODELS = ("pop", "itemknn", "bpr")


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def write_ml20m_like(root: Path, n_inter: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    act = rng.lognormal(0.0, 1.0, N_USERS)
    counts = np.maximum(20, np.round(act / act.sum() * n_inter)).astype(np.int64)
    counts[: int(n_inter - counts.sum()) if counts.sum() < n_inter else 0] += 1
    users = np.repeat(np.arange(1, N_USERS + 1), counts)[:n_inter]
    pop = 1.0 / np.arange(1, N_ITEMS + 1) ** 1.0
    items = rng.choice(np.arange(1, N_ITEMS + 1), size=len(users), p=pop / pop.sum())
    ratings = rng.integers(1, 11, len(users)) / 2.0
    ts = rng.integers(789_652_009, 1_427_784_002, len(users))  # spread over time across users
    d = root / "ml-20m"
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"userId": users, "movieId": items, "rating": ratings, "timestamp": ts}).to_csv(d / "ratings.csv", index=False)
    pd.DataFrame({"movieId": np.arange(1, N_ITEMS + 1), "title": [f"Movie {i} (2000)" for i in range(1, N_ITEMS + 1)], "genres": "Drama"}).to_csv(d / "movies.csv", index=False)
    (d / "tags.csv").write_text("userId,movieId,tag,timestamp\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interactions", type=int, default=N_INTER)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--keep", default=None, help="write the data here and keep it (default: a temp folder, removed)")
    ap.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"of {', '.join(MODELS)}")
    ap.add_argument("--metrics", choices=("top-k", "all"), default="top-k",
                    help="top-K metrics only (default) or also AUC, which compares every candidate with every target")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import ssl4rec.ssl  # noqa: F401  (registers the presets)
    from ssl4rec.datasets import load_dataset
    from ssl4rec.evaluation.evaluator import Protocol, evaluate
    from ssl4rec.evaluation.splits import make_split
    from ssl4rec.registry import BASELINES, PRESETS

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)} (choose from {', '.join(MODELS)})")

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ssl4rec-scale-"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; data root {root}")
    rows = []

    def step(name: str, fn):
        t0 = time.perf_counter()
        out = fn()
        rows.append((name, time.perf_counter() - t0, peak_gb()))
        print(f"{name:<34} {rows[-1][1]:>8.1f} s   peak RSS {rows[-1][2]:.2f} GB", flush=True)
        return out

    try:
        if not (root / "ml-20m" / "ratings.csv").exists():
            step("generate ratings.csv (not counted)", lambda: write_ml20m_like(root, args.interactions))
        t_load = time.perf_counter()
        ds = step("load ratings.csv", lambda: load_dataset("ml-20m", data_dir=root, download=False))
        ds = step("load + 5-core", lambda: load_dataset("ml-20m", data_dir=root, download=False, preprocessing={"k_core": 5}))
        split = step("temporal split 8:1:1", lambda: make_split(ds, "temporal", seed=0))
        t_lcs = time.perf_counter() - t_load - rows[-3][1]
        shape = (f"{len(ds.interactions):,} interactions, {ds.n_users:,} users, {ds.n_items:,} items after 5-core; "
                 f"test users {split.info['counts']['test_users']:,}")
        print(f"load + 5-core + split: {t_lcs:.1f} s (second load includes 5-core); {shape}")
        notes = []
        metrics = ("precision", "recall", "ndcg", "hr", "mrr", "map") + (("auc",) if args.metrics == "all" else ())
        proto = Protocol(batch_size=2048, metrics=metrics)
        for name in models:
            params = MODELS[name]
            model = PRESETS.get(name)(**params) if name in PRESETS else BASELINES.build(name, **params)
            step(f"{name} fit", lambda model=model: model.fit(split.train))
            res = step(f"{name} full-ranking eval (test users)", lambda model=model: evaluate(model, split, "test", proto, progress=False))
            notes.append(f"{name}: NDCG@10 {res.metrics['ndcg@10']:.4f} over {res.info['n_users']['all']:,} test users")
            print(f"    {notes[-1]}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"peak RSS of the whole script: {peak_gb():.2f} GB")
    if args.readme:
        from _report import table, update_readme

        body = (
            f"Synthetic log with ML-20M's shape ({args.interactions:,} ratings written as `ratings.csv`), then "
            f"load, 5-core, temporal 8:1:1 split, fit ({'; '.join(f'{m} {MODELS[m]}' for m in models)}) and full-ranking evaluation (all items, history masked; "
            f"metrics: {', '.join(metrics)} at K = 5/10/20) of every test user. {shape}.\n\n"
            + table(["step", "seconds", "peak RSS so far (GB)"], [[n, f"{t:.1f}", f"{m:.2f}"] for n, t, m in rows])
            + f"\n\n- load + 5-core + split: **{t_lcs:.1f} s** (the plain load is not counted twice)\n"
            + "".join(f"- {n}\n" for n in notes)
            + f"- peak RSS of the whole script: **{peak_gb():.2f} GB**\n"
        )
        if tuple(models) == DEFAULT_MODELS:
            update_readme("scale", "ML-20M-scale pipeline (scale.py)", body)
        else:
            update_readme(f"scale-{'-'.join(models)}", f"ML-20M-scale pipeline: {', '.join(models)} (scale.py)", body)


if __name__ == "__main__":
    main()
