"""Seconds per epoch and one full-ranking pass, GPU vs CPU: SASRec, CL4SRec and Mult-VAE on
Amazon Beauty and on an ML-20M-sized synthetic log, with peak GPU memory.

Usage::

    python benchmarks/gpu.py [--epochs 2] [--threads N] [--models sasrec,cl4srec,multvae]
                             [--devices cpu,cuda] [--precision fp32] [--data beauty,ml20m] [--readme]

Each (data, model, device) trains ``--epochs`` epochs without validation (ICLRec's Beauty settings,
see ``ssl_epoch.py``; Mult-VAE its preset), then scores every user once with the evaluator's
full-ranking pass (history masked, top 20). Beauty: the real leave-one-out train part when
``$SSL4REC_DATA/s3rec/Beauty.txt`` exists, else random data of its shape; ML-20M: random sequences
with ML-20M's shape after 5-core (138,000 users, 26,744 items, 13.9M interactions; Zipf item
popularity). A device the machine lacks is skipped with a note (on a CPU-only machine the table has
CPU rows only). Peak GPU memory is ``torch.cuda.max_memory_allocated`` over the row.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _report  # noqa: E402, I001  (imported first: stamps the commit the run starts from)
from ssl_epoch import overrides, real_beauty, synthetic_beauty  # noqa: E402

import ssl4rec.ssl  # noqa: E402, F401  (registers the presets)
from ssl4rec.evaluation.evaluator import Protocol, evaluate  # noqa: E402
from ssl4rec.interactions import Interactions, SplitData  # noqa: E402
from ssl4rec.registry import PRESETS  # noqa: E402


def ml20m_like(seed: int = 0, n_users: int = 138_000, n_items: int = 26_744, n_inter: int = 13_900_000) -> Interactions:
    rng = np.random.default_rng(seed)
    lens = np.maximum(5, rng.geometric(n_users / n_inter, n_users))
    lens = np.round(lens * (n_inter / lens.sum())).astype(np.int64).clip(5)
    users = np.repeat(np.arange(n_users), lens)
    items = (rng.zipf(1.2, len(users)) - 1) % n_items
    df = pd.DataFrame(
        {"user": users.astype(np.int32), "item": items.astype(np.int32), "rating": np.float32(1.0),
         "timestamp": np.arange(len(users), dtype=np.int64)}
    )  # fmt: skip
    return Interactions(df, n_users, n_items)


def ranking_seconds(model, train: Interactions) -> float:
    """One full-ranking pass over every user with history: each user's last item as the target."""
    users = train.active_users
    last = train.indptr[users + 1] - 1
    test = pd.DataFrame({"user": users, "item": train.item_array[last], "rating": 1.0, "timestamp": 0})
    split = SplitData(train=train, valid=test.iloc[:0], test=test, info={})
    t0 = time.perf_counter()
    evaluate(model, split, "test", Protocol(ks=(20,), metrics=("ndcg",), mask_history=True), progress=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--models", default="sasrec,cl4srec,multvae")
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    ap.add_argument("--data", default="beauty,ml20m")
    ap.add_argument("--readme", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows, notes = [], []
    for data in [d.strip() for d in args.data.split(",") if d.strip()]:
        train = (real_beauty() or synthetic_beauty()) if data == "beauty" else ml20m_like()
        for dev in [d.strip() for d in args.devices.split(",") if d.strip()]:
            if dev.startswith("cuda") and not torch.cuda.is_available():
                notes.append(f"{dev}: no CUDA device on this machine, skipped")
                continue
            for name in [m.strip() for m in args.models.split(",") if m.strip()]:
                model = PRESETS.get(name)(**overrides(name, args.epochs, "preset", None))
                model.device = torch.device(dev)
                model.precision = args.precision
                if dev.startswith("cuda"):
                    torch.cuda.reset_peak_memory_stats()
                model.fit(train)
                rank_s = ranking_seconds(model, train)
                peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f}" if dev.startswith("cuda") else "–"
                spe = statistics.median(model.fit_info["epoch_seconds"])
                rows.append([data, name, dev, args.precision, f"{spe:.2f}", f"{rank_s:.2f}", peak])
                print(" | ".join(map(str, rows[-1])), flush=True)
    header = ["data", "model", "device", "precision", "median s/epoch", "full-ranking pass s", "peak GPU GB"]
    body = _report.table(header, rows) + ("\n\n" + "; ".join(sorted(set(notes))) if notes else "")
    print(body)
    if args.readme:
        _report.update_readme("gpu", "GPU vs CPU: s/epoch and a full-ranking pass (gpu.py)", body)


if __name__ == "__main__":
    main()
