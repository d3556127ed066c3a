"""Seconds per training epoch of the SSL presets on Amazon-Beauty-sized data.

Usage::

    python benchmarks/ssl_epoch.py [--epochs 2] [--threads N] [--presets sasrec,cl4srec]
                                   [--loss bce|preset] [--no-bucket] [--synthetic] [--readme]

Uses the real ``amazon-beauty`` dataset (leave-one-out train part) when
``$SSL4REC_DATA/s3rec/Beauty.txt`` exists, else random data of the same shape (22,363 users,
12,101 items, ~198k interactions, sequence lengths 5..204 with mean ~9). Every preset is
trained without validation for ``--epochs`` epochs with the ICLRec Beauty settings (hidden
64, 2 layers, 2 heads, dropout 0.5, max_len 50, batch 256; ``next_item`` with BCE and one
negative for the models whose authors' code trains that way, unless ``--loss preset``; DuoRec
keeps its softmax); each preset's own batching (CL4SRec, CoSeRec, ICLRec, DuoRec: uniformly
shuffled batches, computed in length-sorted chunks; the others: length buckets). The table gives
the median of ``fit_info["epoch_seconds"]`` and its ratio to SASRec's; S3-Rec: its pretraining
epochs (``--epochs`` of them) and fine-tuning epochs separately; ICLRec: the share of its epoch
spent clustering. A row ``NAME:ce`` trains the preset with the full softmax, ``NAME:prefixes`` with
the softmax at the last position of every training prefix (``sasrec:ce`` and ``sasrec:prefixes`` are
the references for DuoRec, whose authors' code trains on every prefix with the softmax: the second
ratio is DuoRec's contrastive overhead); ``NAME:bucketed`` trains the preset on length-bucketed
batches (the same encoder work without the padding of shuffled batches: the floor that computing
shuffled batches in length-sorted chunks can reach); ``duorec:main_pass`` takes DuoRec's anchor from
the main objective's forward pass (``supervised_contrastive`` option ``anchor: main_pass``: two encoder
passes per step instead of three); ``coserec:attending`` and ``iclrec:attending`` compute the flattened
views' (and ICLRec's window means') padding outputs as the authors' code does (``padding_outputs:
attending``, the "(padding attends)" rows of ``configs/reproduce/iclrec_beauty.yaml``). ``--readme`` writes the table into ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import _report  # noqa: E402, F401, I001  (imported first: stamps the commit the run starts from)

import ssl4rec.ssl  # noqa: E402, F401  (registers the presets)
from ssl4rec.interactions import Interactions  # noqa: E402
from ssl4rec.registry import PRESETS  # noqa: E402

PRESETS_ALL = ("gru4rec", "sasrec", "bert4rec", "cl4srec", "coserec", "iclrec", "duorec", "s3rec", "multvae")
#: Presets whose authors' code trains next-item prediction with BCE and one negative (ICLRec's protocol).
BCE_PRESETS = ("gru4rec", "sasrec", "cl4srec", "coserec", "iclrec", "s3rec")


def synthetic_beauty(seed: int = 0, n_users: int = 22_363, n_items: int = 12_101) -> Interactions:
    """Random interactions with Beauty's shape: lengths 5..204, mean ~9 (leave-one-out train: minus 2)."""
    rng = np.random.default_rng(seed)
    lens = np.minimum(
        5 + rng.geometric(1 / 4.0, n_users) - 1 + (rng.random(n_users) < 0.01) * rng.integers(0, 200, n_users), 204
    )
    lens = np.maximum(lens - 2, 1)  # valid and test items held out
    users = np.repeat(np.arange(n_users), lens)
    pop = rng.zipf(1.3, len(users)) % n_items
    df = pd.DataFrame(
        {
            "user": users.astype(np.int32),
            "item": pop.astype(np.int32),
            "rating": np.ones(len(users), dtype=np.float32),
            "timestamp": np.arange(len(users), dtype=np.int64),
        }
    )
    return Interactions(df, n_users, n_items)


def real_beauty() -> Interactions | None:
    root = os.environ.get("SSL4REC_DATA")
    if not root or not (Path(root) / "s3rec" / "Beauty.txt").exists():
        return None
    from ssl4rec.datasets import load_dataset
    from ssl4rec.evaluation.splits import make_split

    ds = load_dataset("amazon-beauty", preprocessing={"dedup": "keep"}, download=False)
    return make_split(ds, "leave_one_out").train


def overrides(name: str, epochs: int, loss: str, bucket: bool) -> dict:
    """Training overrides of a benchmark row: ``NAME:ce`` = the preset with next-item softmax (CE);
    ``NAME:prefixes`` = softmax at the last position of every training prefix (RecBole's training,
    DuoRec's base)."""
    name, _, variant = name.partition(":")
    out = _overrides(name, epochs, loss, bucket)
    if variant == "ce":
        out["objectives"] = {"next_item": {"loss": "ce"}}
    elif variant == "prefixes":
        out["objectives"] = {"next_item": {"loss": "ce", "positions": "last"}}
        out["train_windows"] = "prefixes"
    elif variant == "bucketed":
        out["bucket_by_length"] = True  # the same work in length buckets: what chunking can at best reach
    elif variant == "main_pass":  # DuoRec's anchor read from the main objective's pass: two passes, not three
        out["objectives"] = {"supervised_contrastive": {"anchor": "main_pass"}}
    elif variant == "attending" and name in ("coserec", "iclrec"):  # the "(padding attends)" reproduction rows
        out["objectives"] = {**out.get("objectives", {}), "contrastive": {"padding_outputs": "attending"}}
        if name == "iclrec":
            out["objectives"]["intent_contrastive"] = {"padding_outputs": "attending"}
    elif variant:
        raise SystemExit(
            f"unknown row variant {variant!r} in {name}:{variant} (ce, prefixes, bucketed, main_pass; "
            "attending for coserec and iclrec)"
        )
    return out


def _overrides(name: str, epochs: int, loss: str, bucket: bool) -> dict:
    train = {"epochs": epochs, "batch_size": 256, "learning_rate": 1e-3, "max_len": 50, "seed": 0}
    if bucket is not None:
        train["bucket_by_length"] = bucket
    if name == "multvae":
        return train
    if name == "gru4rec":
        enc = {"embedding_size": 64, "hidden_size": 64, "dropout": 0.5}
    else:
        enc = {"embedding_size": 64, "num_layers": 2, "num_heads": 2, "dropout": 0.5}
    out = {**train, "encoder": enc}
    if loss == "bce" and name in BCE_PRESETS:
        out["objectives"] = {"next_item": {"loss": "bce", "num_negatives": 1}}
    if name == "s3rec":
        out["pretrain_epochs"] = epochs
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--presets", default=",".join(PRESETS_ALL))
    ap.add_argument(
        "--loss", choices=("bce", "preset"), default="bce", help="next_item loss: ICLRec's BCE or the preset's own"
    )
    ap.add_argument("--no-bucket", action="store_true", help="random batches instead of length-bucketed ones")
    ap.add_argument("--synthetic", action="store_true", help="random data even when the real dataset is present")
    ap.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    train = None if args.synthetic else real_beauty()
    source = "amazon-beauty (leave_one_out train)"
    if train is None:
        train, source = synthetic_beauty(), "synthetic Beauty-shaped"
    lens = np.diff(train.indptr)[train.active_users]
    print(
        f"data: {source}: {train.n_users} users, {train.n_items} items, {len(train)} interactions, "
        f"lengths {lens.min()}..{lens.max()} (mean {lens.mean():.1f}); loaded in {time.perf_counter() - t0:.1f}s"
    )
    bucket = None if not args.no_bucket else False
    print(
        f"torch threads: {torch.get_num_threads()}; epochs: {args.epochs}; next_item loss: {args.loss}; "
        f"bucket_by_length: {'False' if args.no_bucket else 'default'}"
    )
    rows = []
    for name in [p.strip() for p in args.presets.split(",") if p.strip()]:
        model = PRESETS.get(name.partition(":")[0])(**overrides(name, args.epochs, args.loss, bucket))
        model.device = torch.device("cpu")
        model.fit(train)
        secs = model.fit_info["epoch_seconds"]
        loss = model.fit_info["losses"][-1]
        extra = ""
        if "pretrain" in model.fit_info:
            pre = model.fit_info["pretrain"]["epoch_seconds"]
            extra = f"pretraining {statistics.median(pre):.2f} s/epoch"
            print(f"  {name} pretrain: {', '.join(f'{s:.2f}' for s in pre)} s/epoch", flush=True)
        if "intent_contrastive" in model.fit_info["objectives"]:
            cluster = model.net.objective("intent_contrastive").cluster_seconds
            extra = f"clustering {statistics.median(cluster):.2f} s/epoch ({statistics.median(cluster) / statistics.median(secs):.0%})"
        rows.append((name, statistics.median(secs), loss, extra))
        print(f"  {name}: {', '.join(f'{s:.2f}' for s in secs)} s/epoch", flush=True)
    base = next((sec for name, sec, _, _ in rows if name == "sasrec"), None)
    for ref in ("sasrec:ce", "sasrec:prefixes"):  # DuoRec also against SASRec trained with its loss / its samples
        sec_ref = next((sec for name, sec, _, _ in rows if name == ref), None)
        if sec_ref:
            rows = [
                (n, sec, loss, (extra + "; " if extra else "") + f"{sec / sec_ref:.2f} x {ref}")
                if n.partition(":")[0] == "duorec"
                else (n, sec, loss, extra)
                for n, sec, loss, extra in rows
            ]
    header = ["preset", f"median s/epoch ({torch.get_num_threads()} threads)", "x SASRec", "last loss", "notes"]
    body = [
        [name, f"{sec:.2f}", f"{sec / base:.2f}" if base else "-", f"{loss:.4f}", extra]
        for name, sec, loss, extra in rows
    ]
    print()
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|---:|---|")
    for r in body:
        print("| " + " | ".join(r) + " |")
    if args.readme:
        from _report import table, update_readme  # noqa: F401  (already imported at start)

        load = os.getloadavg()[0]
        caption = (
            f"Data: {source}. Each preset trained {args.epochs} epoch(s) without validation (ICLRec Beauty "
            f"settings, see the script's docstring); 1-minute load average at the end {load:.1f} on "
            f"{os.cpu_count()} cores (other jobs running make every figure slower, the ratios less so)."
        )
        update_readme(
            "ssl_epoch", "Seconds per epoch of the SSL presets on Amazon Beauty", caption + "\n\n" + table(header, body)
        )


if __name__ == "__main__":
    main()
