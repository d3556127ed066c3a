"""ssl4rec vs RecBole 1.2.1: same models, data and protocol; seconds per epoch, seconds per evaluation, NDCG@10.

Usage::

    python benchmarks/compare_recbole.py [--models pop,itemknn,bpr,ease,multivae,gru4rec,sasrec,bert4rec]
        [--threads 1] [--max-epochs 300] [--patience 10] [--recbole-seq-max-epochs N]
        [--eval-repeats 3] [--seed 2020] [--recbole-python /work/venvs/recbole/bin/python]
        [--sides ssl4rec,recbole] [--json OUT.json] [--readme]

Both frameworks train each model on MovieLens 100K (GroupLens ``u.data``, every rating a
positive) with matched hyperparameters (``MODELS`` below) and early stopping on valid NDCG@10,
then evaluate the test set once by full ranking over all items with the user's history
excluded. Printed per model: the median seconds per training epoch of each framework (for
Pop, ItemKNN and EASE, which do not iterate, the whole fit), the median seconds of one test
evaluation pass, their ratios ssl4rec / RecBole (< 1: ssl4rec is faster), the epochs run, and
both test NDCG@10 values.

Protocols, each framework making its own split of the same data (so the splits are not the
same rows, and NDCG values differ by split noise as well as by implementation):

* general models (Pop, ItemKNN, BPR, EASE, MultiVAE): random 8:1:1 per user. RecBole
  ``eval_args: {split: {RS: [0.8, 0.1, 0.1]}, order: RO, group_by: user, mode: full}``;
  ssl4rec split ``random`` (ratios 0.8/0.1/0.1, RecBole's per-user rounding rule).
* sequential models (GRU4Rec, SASRec, BERT4Rec): leave-one-out by time. RecBole
  ``eval_args: {split: {LS: valid_and_test}, order: TO, mode: full}``; ssl4rec split
  ``leave_one_out``. Both use the full softmax (CE) loss and ``max_len`` 50.

ssl4rec runs in this process (``ssl4rec.config.parse_suite`` -> ``runner.build_model`` ->
``fit`` with a ``RankingValidator`` -> ``evaluation.evaluate``); RecBole runs one subprocess per
model in its own virtual environment (``benchmarks/_recbole_side.py``), in a temporary folder
holding the atomic files, checkpoints and logs, removed afterwards. Nothing is written into
the repository except ``benchmarks/README.md`` with ``--readme``.

The RecBole environment lives outside the repository (the main environment, which runs
ssl4rec, is never touched). Installed with::

    python3 -m venv /work/venvs/recbole
    /work/venvs/recbole/bin/pip install torch==2.13.0          # first: the CPU build, from local disk
    /work/venvs/recbole/bin/pip install recbole==1.2.1
    /work/venvs/recbole/bin/pip install "numpy<2" "scipy<1.13" "pandas<2.2" "setuptools>=77.0.3,<81"

giving recbole 1.2.1, torch 2.13.0+cpu, numpy 1.26.4, scipy 1.12.0, pandas 2.1.4, setuptools
80.10.2, ray 2.6.3 (``pip check`` clean). recbole 1.2.1 alone pulls numpy 2.4 / pandas 3.1 /
scipy 1.17; what it needs: numpy < 2 (it uses ``np.float_``), hence pandas < 3 (pandas 3 needs
numpy 2), and setuptools in [77.0.3, 81): torch 2.13 requires >= 77.0.3, and recbole's import of
``ray`` 2.6.3 needs ``pkg_resources``, removed in setuptools 81 (a lower cap makes pip trade
torch for an older CUDA build from PyPI). It also ran with scipy 1.17.1 and pandas 2.3.3; the
scipy / pandas pins are the measured environment's. ray, thop, tensorboard, colorlog,
scikit-learn etc. come with recbole's own requirements.

Budget: a RecBole epoch of a sequential model is one example per prefix of every training
sequence (97,171 on ML-100K), about 100x the forward passes of an ssl4rec epoch (one window
of the most recent ``max_len + 1`` items per user, 943); ``--recbole-seq-max-epochs`` caps
RecBole's epochs for those models when the full budget does not fit the time available.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("compare_recbole")

ROOT = Path(__file__).resolve().parents[1]
SIDE = Path(__file__).resolve().parent / "_recbole_side.py"
DEFAULT_RECBOLE_PYTHON = "/work/venvs/recbole/bin/python"
METRICS = ("recall", "mrr", "ndcg", "hr", "precision")
RECBOLE_METRICS = ["Recall", "MRR", "NDCG", "Hit", "Precision"]
LR = 1e-3


@dataclasses.dataclass(frozen=True)
class Pair:
    """One model in both frameworks: names and matched hyperparameters."""

    key: str
    label: str
    protocol: str
    """``"general"`` (random 8:1:1) or ``"sequential"`` (leave-one-out)."""
    ssl4rec: str
    """Baseline or preset name in ssl4rec."""
    recbole: str
    """Model class name in RecBole."""
    ssl4rec_params: dict[str, Any]
    recbole_params: dict[str, Any]
    iterative: bool = True
    """False: no epochs (Pop, ItemKNN, EASE); the whole fit is timed instead."""
    batch: str = ""
    """What one training example is on each side (the unit of an epoch)."""


TRANSFORMER = {"embedding_size": 64, "num_layers": 2, "num_heads": 2, "inner_size": 256}
RB_TRANSFORMER = {"hidden_size": 64, "n_layers": 2, "n_heads": 2, "inner_size": 256}

MODELS: dict[str, Pair] = {
    p.key: p
    for p in [
        Pair("pop", "Pop", "general", "pop", "Pop", {}, {}, iterative=False),
        Pair(
            "itemknn", "ItemKNN", "general", "itemknn", "ItemKNN",
            {"k": 100, "shrink": 0.0}, {"k": 100, "shrink": 0.0}, iterative=False,
        ),
        Pair(
            "bpr", "BPR", "general", "bpr", "BPR",
            # RecBole's BPR has no L2 term (weight_decay 0): ssl4rec's default 1e-5 is turned off
            {"embedding_size": 64, "learning_rate": LR, "batch_size": 2048, "weight_decay": 0.0},
            {"embedding_size": 64, "train_batch_size": 2048,
             "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}},
            batch="(user, item, 1 uniform negative) triples",
        ),
        Pair("ease", "EASE", "general", "ease", "EASE", {"l2": 250.0}, {"reg_weight": 250.0}, iterative=False),
        Pair(
            "multivae", "MultiVAE", "general", "multvae", "MultiVAE",
            # RecBole's latent_dimension 128 is split into mu and logvar: a 64-dim latent, = ssl4rec's 64
            {"batch_size": 256, "learning_rate": LR,
             "encoder": {"embedding_size": 64, "hidden_sizes": [600], "dropout": 0.5},
             "objectives": {"reconstruction": {"anneal_cap": 0.2, "total_anneal_steps": 200_000}}},
            {"train_batch_size": 256, "mlp_hidden_size": [600], "latent_dimension": 128, "dropout_prob": 0.5,
             "anneal_cap": 0.2, "total_anneal_steps": 200_000},
            batch="users (item bags)",
        ),
        Pair(
            "gru4rec", "GRU4Rec", "sequential", "gru4rec", "GRU4Rec",
            {"batch_size": 256, "learning_rate": LR, "max_len": 50,
             "encoder": {"embedding_size": 64, "hidden_size": 64, "num_layers": 1, "dropout": 0.3},
             "objectives": {"next_item": {"loss": "ce"}}},
            {"train_batch_size": 256, "MAX_ITEM_LIST_LENGTH": 50, "embedding_size": 64, "hidden_size": 64,
             "num_layers": 1, "dropout_prob": 0.3, "loss_type": "CE"},
            batch="ssl4rec: user windows; RecBole: (prefix, next item) rows",
        ),
        Pair(
            "sasrec", "SASRec", "sequential", "sasrec", "SASRec",
            {"batch_size": 256, "learning_rate": LR, "max_len": 50,
             "encoder": {**TRANSFORMER, "dropout": 0.5, "causal": True},
             "objectives": {"next_item": {"loss": "ce"}}},
            {"train_batch_size": 256, "MAX_ITEM_LIST_LENGTH": 50, **RB_TRANSFORMER,
             "hidden_dropout_prob": 0.5, "attn_dropout_prob": 0.5, "loss_type": "CE"},
            batch="ssl4rec: user windows; RecBole: (prefix, next item) rows",
        ),
        Pair(
            "bert4rec", "BERT4Rec", "sequential", "bert4rec", "BERT4Rec",
            {"batch_size": 256, "learning_rate": LR, "max_len": 50,
             "encoder": {**TRANSFORMER, "dropout": 0.2, "causal": False},
             "objectives": {"masked_item": {"mask_prob": 0.2, "loss": "ce"}}},
            {"train_batch_size": 256, "MAX_ITEM_LIST_LENGTH": 50, **RB_TRANSFORMER,
             "hidden_dropout_prob": 0.2, "attn_dropout_prob": 0.2, "mask_ratio": 0.2, "loss_type": "CE"},
            batch="ssl4rec: user windows; RecBole: (prefix, next item) rows",
        ),
    ]
}  # fmt: skip

SPLITS = {
    "general": {"name": "random", "params": {"ratios": [0.8, 0.1, 0.1]}},
    "sequential": {"name": "leave_one_out"},
}
RECBOLE_EVAL = {
    "general": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user", "mode": "full"},
    "sequential": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full"},
}


# -- ssl4rec side ----------------------------------------------------------------
def ssl4rec_suite(pairs: list[Pair], max_epochs: int, patience: int) -> Any:
    """The comparison as an ssl4rec suite (validated by ``ssl4rec.config.parse_suite``)."""
    from ssl4rec.config import parse_suite

    models = []
    for p in pairs:
        params = dict(p.ssl4rec_params)
        if p.iterative:
            params.update(epochs=max_epochs, patience=patience, eval_every=1)
        if p.ssl4rec not in ("pop", "itemknn", "bpr", "ease"):
            params["device"] = "cpu"
        models.append({"name": p.ssl4rec, "label": p.label, "params": params})
    return parse_suite(
        {
            "name": "compare_recbole",
            "datasets": [{"name": "ml-100k", "preprocessing": {"dedup": "keep"}}],
            "splits": list(SPLITS.values()),
            "models": models,
            "evaluation": {
                "ks": [10],
                "metrics": list(METRICS),
                "candidates": "full",
                "mask_history": True,
                "valid_metric": "ndcg@10",
            },
        },
        "<compare_recbole>",
    )


def run_ssl4rec(pair: Pair, spec: Any, split: Any, protocol: Any, seed: int, eval_repeats: int) -> dict[str, Any]:
    """Train and evaluate one model with ssl4rec; timings, metrics and bookkeeping."""
    import numpy as np
    import torch

    from ssl4rec.benchmark.evaluation import RankingValidator, evaluate
    from ssl4rec.benchmark.runner import build_model

    model, _resolved = build_model(spec, seed)
    validator = RankingValidator(split, protocol, seed=seed)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    model.fit(split.train, validator)
    fit_seconds = time.perf_counter() - t0
    info = getattr(model, "fit_info", {}) or {}
    _ = split.history("test").csr  # the known-history matrix, built once (RecBole builds its own at data preparation)
    result, eval_times = None, []
    for _ in range(max(1, eval_repeats)):
        t = time.perf_counter()
        res = evaluate(model, split, "test", protocol, seed=seed, progress=False)
        eval_times.append(time.perf_counter() - t)
        result = result or res
    if pair.protocol == "sequential" or pair.ssl4rec == "multvae":
        examples = len(split.train.active_users)
    else:
        examples = int(split.train.csr.nnz)
    valid = info.get("valid") or []
    return {
        "ok": True,
        "fit_seconds": fit_seconds,
        "epoch_seconds": list(info.get("epoch_seconds") or []),
        "epochs_run": int(info.get("epochs_run") or 0),
        "best_epoch": info.get("best_epoch"),
        "best_valid": info.get("best_valid"),
        "valid_curve": [float(v) for _, v in valid],
        "examples_per_epoch": examples,
        "test": result.metrics,
        "eval_seconds": statistics.median(eval_times),
        "eval_seconds_all": eval_times,
        "counts": split.info.get("counts"),
        "split_fingerprint": split.info.get("fingerprint"),
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
    }


# -- RecBole side ----------------------------------------------------------------
def recbole_config(pair: Pair, max_epochs: int, patience: int, seed: int) -> dict[str, Any]:
    """RecBole ``config_dict`` of one model."""
    cfg: dict[str, Any] = {
        "seed": seed,
        "reproducibility": True,
        "epochs": max_epochs,
        "learning_rate": LR,
        "stopping_step": patience,
        "eval_step": 1,
        "weight_decay": 0.0,
        "eval_args": RECBOLE_EVAL[pair.protocol],
        "metrics": RECBOLE_METRICS,
        "topk": [10],
        "valid_metric": "NDCG@10",
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
    }
    if pair.protocol == "sequential":
        cfg["train_neg_sample_args"] = None  # required by RecBole for the CE loss
    cfg.update(pair.recbole_params)
    return cfg


def run_recbole(
    pair: Pair, cfg: dict[str, Any], python: str, data: Path, threads: int, eval_repeats: int, keep: bool
) -> dict[str, Any]:
    """One RecBole subprocess; its ``RESULT_JSON`` line, or an error."""
    work = Path(tempfile.mkdtemp(prefix=f"recbole-{pair.key}-"))
    spec = {"model": pair.recbole, "threads": threads, "eval_repeats": eval_repeats, "config": cfg}
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "PYTHONWARNINGS": "ignore",  # RecBole 1.2.1 on torch 2.13: deprecation warnings on every epoch
    }
    env.pop("PYTHONPATH", None)
    cmd = [python, str(SIDE), "--data", str(data), "--workdir", str(work), "--spec", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=env, cwd=work)
    except OSError as exc:
        return {"ok": False, "error": f"cannot start {python}: {exc}"}
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT_JSON: "):
            return json.loads(line[len("RESULT_JSON: ") :])
    tail = proc.stdout.strip().splitlines()[-3:]
    return {"ok": False, "error": f"exit code {proc.returncode}, no result; stdout tail: {' | '.join(tail)}"}


def recbole_env(python: str) -> str:
    """Versions in the RecBole environment, or why it cannot run."""
    code = "import recbole, torch, numpy, scipy, pandas; print(recbole.__version__, torch.__version__, numpy.__version__, scipy.__version__, pandas.__version__)"
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unavailable ({exc})"
    if out.returncode:
        return f"unavailable ({out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode})"
    rb, t, n, s, p = out.stdout.split()
    return f"recbole {rb}, torch {t}, numpy {n}, scipy {s}, pandas {p}"


# -- split facts -----------------------------------------------------------------
def heldout_pairs(split: Any, ds: Any) -> dict[str, set[tuple[str, str]]]:
    """ssl4rec's held-out (user, item) pairs per stage, as raw GroupLens ids."""
    users, items = ds.users["raw_id"].to_numpy(), ds.items["raw_id"].to_numpy()
    return {
        stage: {
            (str(u), str(i)) for u, i in zip(users[df["user"].to_numpy()], items[df["item"].to_numpy()], strict=True)
        }
        for stage, df in (("valid", split.valid), ("test", split.test))
    }


def split_overlap(ours: dict[str, set[tuple[str, str]]], recbole: dict[str, list[list[str]]]) -> str:
    """How many of RecBole's held-out pairs ssl4rec's split also holds out, per stage."""
    parts = []
    for stage in ("test", "valid"):
        theirs = {(u, i) for u, i in recbole.get(stage, [])}
        parts.append(f"{stage} {len(theirs & ours[stage]):,} of {len(theirs):,}")
    return ", ".join(parts)


def window_targets(train: Any, max_len: int) -> tuple[int, int]:
    """Next-item targets per epoch: in ssl4rec's windows (most recent ``max_len + 1`` items) and in all prefixes."""
    import numpy as np

    lens = np.diff(train.indptr)
    lens = lens[lens > 0]
    return int((np.minimum(lens, max_len + 1) - 1).sum()), int((lens - 1).sum())


# -- report ----------------------------------------------------------------------
def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def epoch_time(side: dict[str, Any], iterative: bool, recbole: bool) -> float | None:
    """Median seconds per epoch; for non-iterative models the whole fit (RecBole: model build + its one epoch)."""
    if not side.get("ok"):
        return None
    if iterative:
        return _median(side.get("epoch_seconds") or [])
    if recbole:
        return float(side["build_seconds"]) + float(sum(side.get("epoch_seconds") or [0.0]))
    return float(side["fit_seconds"])


def _f(x: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def _count(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "–"
    r = a / b
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def _epochs(side: dict[str, Any], iterative: bool) -> str:
    if not side.get("ok"):
        return "–"
    if not iterative:
        return "fit"
    best = side.get("best_epoch")
    return f"{side.get('epochs_run', 0)} ({best if best is not None and best >= 0 else '–'})"


def _err(side: dict[str, Any]) -> str:
    msg = str(side.get("error", "failed")).replace("|", "/").replace("\n", " ")
    return "error: " + (msg[:160] + "…" if len(msg) > 160 else msg)


def report_rows(rows: list[tuple[Pair, dict[str, Any], dict[str, Any]]]) -> tuple[list[str], list[list[str]]]:
    header = [
        "model",
        "split",
        "examples / epoch (ssl4rec ; RecBole)",
        "s / epoch ssl4rec",
        "s / epoch RecBole",
        "ratio",
        "eval s ssl4rec",
        "eval s RecBole",
        "ratio",
        "epochs run (best) ssl4rec ; RecBole",
        "NDCG@10 ssl4rec",
        "NDCG@10 RecBole",
    ]
    out = []
    for pair, s, r in rows:
        split = "random 8:1:1" if pair.protocol == "general" else "leave-one-out"
        te_s, te_r = epoch_time(s, pair.iterative, False), epoch_time(r, pair.iterative, True)
        ev_s = s.get("eval_seconds") if s.get("ok") else None
        ev_r = r.get("eval_seconds") if r.get("ok") else None
        name = pair.label + ("" if pair.iterative else " (fit s)")
        ex = " ; ".join(_count(side.get("examples_per_epoch")) for side in (s, r)) if pair.iterative else "–"
        nd_s = _f(s["test"].get("ndcg@10"), "{:.4f}") if s.get("ok") else _err(s)
        nd_r = _f(r["test"].get("ndcg@10"), "{:.4f}") if r.get("ok") else _err(r)
        out.append(
            [
                name,
                split,
                ex,
                _f(te_s),
                _f(te_r),
                _ratio(te_s, te_r),
                _f(ev_s),
                _f(ev_r),
                _ratio(ev_s, ev_r),
                f"{_epochs(s, pair.iterative)} ; {_epochs(r, pair.iterative)}",
                nd_s,
                nd_r,
            ]
        )
    return header, out


def caption(
    args: argparse.Namespace,
    rb_versions: str,
    load: tuple[float, float],
    wall: float,
    pairs: list[Pair],
    overlap: dict[str, str],
) -> str:
    names = {"general": "random 8:1:1", "sequential": "leave-one-out"}
    ov = "; ".join(f"{names[k]}: {v}" for k, v in overlap.items()) or "not compared"
    seq_cap = args.recbole_seq_max_epochs
    cap = (
        f" RecBole's sequential models were capped at **{seq_cap} epochs** to keep the run short "
        f"(one RecBole epoch there = every (prefix, next item) example, ~100x the forward passes of an "
        f"ssl4rec epoch), so early stopping could not act for them."
        if seq_cap is not None and any(p.protocol == "sequential" for p in pairs)
        else ""
    )
    return (
        f"MovieLens 100K (GroupLens `u.data`, all 100,000 ratings as positives), {args.threads} torch thread(s) "
        f"on both sides; RecBole side: {rb_versions}. Training: at most **{args.max_epochs} epochs**, early "
        f"stopping after {args.patience} validations without a better valid NDCG@10, best epoch restored; "
        f"seed {args.seed}.{cap} Test: one full-ranking pass over all items, user history (train + valid) "
        f"excluded, K = 10, metrics Recall/MRR/NDCG/Hit/Precision; eval s = median of {args.eval_repeats} passes. "
        f"Each framework makes its own split of the same data, so NDCG also differs by split noise; "
        f"held-out (user, item) pairs of RecBole's split also held out by ssl4rec's: {ov}. s / epoch = median over the epochs run; for Pop, ItemKNN and "
        f"EASE (no epochs) the whole fit (RecBole: model construction, where ItemKNN and EASE compute their "
        f"matrices, + its one pass over the data). ratio = ssl4rec / RecBole (< 1: ssl4rec faster). "
        f"Epochs run (best) counts from 0. Load average during the run {load[0]:.1f} → {load[1]:.1f} "
        f"(machine shared with other jobs: absolute seconds are noisy); total wall time {wall / 60:.1f} min."
    )


def notes(window: tuple[int, int] | None, max_len: int = 50) -> str:
    """What differs between the two sides; ``window``: next-item targets per epoch (ssl4rec windows, all prefixes)."""
    if window is not None:
        targets = (
            f" Older items of users with more than {max_len + 1} training items are never training targets in "
            f"ssl4rec: its windows hold {window[0]:,} next-item targets per epoch, all prefixes {window[1]:,}."
        )
    else:
        targets = (
            f" Older items of users with more than {max_len + 1} training items are never training targets in ssl4rec."
        )
    return f"""\
What differs between the two sides (same names, not the same computation):

- **Splits.** Each framework splits the data itself. Random 8:1:1 uses the same per-user
  rounding rule (ssl4rec's `random` split implements RecBole's) with different random draws,
  so the held-out pairs differ. Leave-one-out: both order each user's ratings by timestamp and
  keep file order among equal timestamps (RecBole's sort is stable), but RecBole holds the
  timestamps as float32 (rescaled to [0, 1] by its `ml-100k` settings, `normalize_all`), which
  merges a few close ones, so a few users' held-out items differ (counts in the caption).
- **Sequential training data.** RecBole turns every training interaction after a user's first
  into one example (the preceding ≤ {max_len} items -> that item, loss at the last position; a
  full {max_len}-step forward pass each). ssl4rec trains on one window per user, the most recent
  `max_len + 1` = {max_len + 1} training items, with a loss at every position.{targets} Per-epoch seconds
  are therefore not the same amount of work; the `examples / epoch` column gives the units.
- **Batches.** Same numbers, different units: BPR 2048 (user, item, negative) triples on both
  sides; MultiVAE 256 users on both sides (RecBole's `UserDataLoader`); sequential models 256
  user windows (ssl4rec) vs 256 (prefix, next item) rows (RecBole).
- **Pop.** RecBole's Pop counts items in its training loop with `item_cnt[item] = item_cnt[item] + 1`,
  which adds 1 per batch however often an item occurs in that batch, and, being a pointwise
  model under the default `train_neg_sample_args`, it also counts the sampled negatives (80,808
  of the 161,616 rows it sees). In a check on this split the most popular item got 79 (the number
  of batches) instead of its 479 training interactions, with 14 items tied at the top. ssl4rec
  counts every training interaction. RecBole's defaults were kept, hence its lower Pop value.
- **Negative sampling (BPR).** Both draw one uniform negative per positive pair, re-drawn when
  it is an item of the user's training history (ssl4rec: up to 10 re-draws; RecBole: until
  it is not).
- **BERT4Rec.** RecBole (one sequence per prefix): in each batch, with probability `ft_ratio`
  = 0.5 (its default) only the last item of every sequence is masked, otherwise each item with
  probability 0.2, the loss covering at most 10 masked positions per sequence
  (`mask_ratio * MAX_ITEM_LIST_LENGTH`); its scores add a learned per-item output bias. ssl4rec
  (one window per user): each item masked with probability 0.2, the last item when none was
  drawn; no output bias and no last-item-only batches.
- **MultiVAE.** RecBole's reparameterisation samples with standard deviation 0.01 x sigma
  (its code) and averages the multinomial loss per user; ssl4rec samples with sigma and
  averages per item of the batch, so the KL weight and the effective step size differ.
- **Evaluation.** Both rank all items, exclude the user's history (train items for validation,
  train + valid items for test) and report metrics averaged over test users. RecBole does not
  exclude the history for sequential models; the RecBole side adds that mask (history items
  scored -inf) so both sides use one protocol. RecBole's own unmasked value is given below the
  table. RecBole's default evaluation batch (`eval_batch_size` 4096 user-item pairs, i.e. 2 users
  per call for general models; 4096 sequences for sequential ones) is kept; ssl4rec scores 1024
  users per call. Ties: ssl4rec breaks equal scores by item id; RecBole by `torch.topk` order.
  Items with no training interaction (a few, held out in valid/test only): ssl4rec's ID models
  score them -inf (counted as misses), RecBole scores them with their untrained embeddings.
- **Timing.** Epoch time covers one pass of each framework's training loop including its data
  loading / negative sampling, not validation. Evaluation time is one test pass after the data
  structures for it were built (RecBole builds them at data preparation, ssl4rec at the first
  test evaluation, done before timing).
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    ap.add_argument("--threads", type=int, default=1, help="torch (and BLAS) threads on both sides")
    ap.add_argument(
        "--max-epochs", type=int, default=300, help="maximum epochs, both frameworks (RecBole's default 300)"
    )
    ap.add_argument(
        "--patience",
        type=int,
        default=10,
        help="validations without improvement before stopping (RecBole's stopping_step)",
    )
    ap.add_argument(
        "--recbole-seq-max-epochs",
        type=int,
        default=None,
        help="cap RecBole's epochs for GRU4Rec/SASRec/BERT4Rec (default: --max-epochs); stated in the caption",
    )
    ap.add_argument("--eval-repeats", type=int, default=3, help="test evaluation passes timed per side (median)")
    ap.add_argument(
        "--seed", type=int, default=2020, help="seed of splits and models on both sides (RecBole's default)"
    )
    ap.add_argument("--recbole-python", default=DEFAULT_RECBOLE_PYTHON, help="interpreter of the RecBole environment")
    ap.add_argument("--sides", default="ssl4rec,recbole", help="run only one side (for checks): ssl4rec, recbole")
    ap.add_argument("--json", default=None, help="also write the raw results (both sides, every model) here")
    ap.add_argument("--keep", action="store_true", help="keep RecBole's temporary folders (paths are logged)")
    ap.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy / torch are imported (lazily, below)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

    import torch

    torch.set_num_threads(args.threads)
    keys = [k.strip().lower() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in keys if k not in MODELS]
    if unknown:
        ap.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    pairs = [MODELS[k] for k in keys]
    sides = {s.strip() for s in args.sides.split(",") if s.strip()}

    from ssl4rec.benchmark.splits import make_split
    from ssl4rec.datasets import data_root, load_dataset

    t_start, load0 = time.perf_counter(), os.getloadavg()[0]
    suite = ssl4rec_suite(pairs, args.max_epochs, args.patience)
    dspec = suite.datasets[0]
    ds = load_dataset(dspec.name, preprocessing=dspec.preprocessing, download=False)
    u_data = data_root(None) / "ml-100k" / "u.data"
    log.info("ml-100k: %d users, %d items, %d interactions (%s)", ds.n_users, ds.n_items, len(ds.interactions), u_data)
    splits = {}
    for proto, sspec in zip(SPLITS, suite.splits, strict=True):
        if any(p.protocol == proto for p in pairs):
            splits[proto] = make_split(ds, sspec.name, seed=args.seed, **sspec.params)
            log.info("ssl4rec split %s: %s", sspec.label, splits[proto].info["counts"])
    rb_versions = recbole_env(args.recbole_python) if "recbole" in sides else "not run"
    log.info("RecBole environment %s: %s", args.recbole_python, rb_versions)

    rows, raw = [], {}
    for pair, mspec in zip(pairs, suite.models, strict=True):
        s: dict[str, Any] = {"ok": False, "error": "not run"}
        r: dict[str, Any] = {"ok": False, "error": "not run"}
        if "ssl4rec" in sides:
            log.info("ssl4rec %s: training (%s)", pair.label, splits[pair.protocol].info["name"])
            try:
                s = run_ssl4rec(pair, mspec, splits[pair.protocol], suite.protocol, args.seed, args.eval_repeats)
            except Exception as exc:  # one model's failure is a table cell, not the end of the run
                log.exception("ssl4rec %s failed", pair.label)
                s = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            if s["ok"]:
                log.info(
                    "ssl4rec %s: %d epochs, median %s s/epoch, fit %.1fs, eval %.3fs, NDCG@10 %.4f",
                    pair.label, s["epochs_run"], _f(_median(s["epoch_seconds"])), s["fit_seconds"],
                    s["eval_seconds"], s["test"]["ndcg@10"],
                )  # fmt: skip
        if "recbole" in sides:
            epochs = args.max_epochs
            if pair.protocol == "sequential" and args.recbole_seq_max_epochs is not None:
                epochs = args.recbole_seq_max_epochs
            cfg = recbole_config(pair, epochs, args.patience, args.seed)
            log.info("RecBole %s: training (%s, max %d epochs)", pair.recbole, cfg["eval_args"]["split"], epochs)
            r = run_recbole(pair, cfg, args.recbole_python, u_data, args.threads, args.eval_repeats, args.keep)
            if r.get("ok"):
                log.info(
                    "RecBole %s: %d epochs, median %s s/epoch, fit %.1fs, eval %.3fs, NDCG@10 %.4f",
                    pair.recbole, r["epochs_run"], _f(_median(r["epoch_seconds"])), r["fit_seconds"],
                    r["eval_seconds"], r["test"]["ndcg@10"],
                )  # fmt: skip
            else:
                log.error("RecBole %s failed: %s", pair.recbole, r.get("error"))
        rows.append((pair, s, r))
        raw[pair.key] = {"ssl4rec": s, "recbole": r}

    overlap = {}
    for proto, split in splits.items():
        first = next((r for p, _, r in rows if p.protocol == proto and r.get("ok") and r.get("heldout")), None)
        if first is not None:
            overlap[proto] = split_overlap(heldout_pairs(split, ds), first["heldout"])
    window = window_targets(splits["sequential"].train, 50) if "sequential" in splits else None
    wall = time.perf_counter() - t_start
    from _report import table, update_readme

    header, body_rows = report_rows(rows)
    text = table(header, body_rows)
    cap = caption(args, rb_versions, (load0, os.getloadavg()[0]), wall, pairs, overlap)
    note_text = notes(window)
    native = [
        f"{pair.label} {r['test_native']['ndcg@10']:.4f}" for pair, _, r in rows if r.get("ok") and r.get("test_native")
    ]
    extra = ""
    if native:
        extra = (
            "\nRecBole's own evaluation of its sequential models, without excluding the history "
            f"(test NDCG@10): {', '.join(native)}.\n"
        )
    print()
    print(cap)
    print()
    print(text)
    print(extra)
    print(note_text)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"args": vars(args), "recbole_env": rb_versions, "results": raw}, indent=1)
        )
        log.info("raw results written to %s", args.json)
    if args.readme:
        update_readme(
            "compare_recbole", "ssl4rec vs RecBole 1.2.1 on ML-100K", f"{cap}\n\n{text}\n{extra}\n{note_text}"
        )
        log.info("benchmarks/README.md updated (section compare_recbole)")


if __name__ == "__main__":
    main()
