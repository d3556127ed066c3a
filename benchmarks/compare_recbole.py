"""ssl4rec vs RecBole 1.2.1: same models, data and protocol; seconds per epoch, seconds per evaluation, NDCG@10.

Usage::

    python benchmarks/compare_recbole.py [--models pop,itemknn,bpr,ease,multivae,gru4rec,sasrec,bert4rec]
        [--threads 1] [--max-epochs 300] [--patience 10] [--recbole-seq-max-epochs N]
        [--train-windows all|last] [--eval-repeats 3] [--seed 2020]
        [--recbole-python /work/venvs/recbole/bin/python] [--sides ssl4rec,recbole] [--json OUT.json] [--readme]

Both frameworks train each model on MovieLens 100K (GroupLens ``u.data``, every rating a
positive) with matched hyperparameters (``MODELS`` below) and early stopping on valid NDCG@10,
then evaluate the test set once by full ranking over all items with the user's history
excluded. Printed per model: the median seconds per training epoch of each framework (for
Pop, ItemKNN and EASE, which do not iterate, the median of repeated whole fits), the median seconds of one test
evaluation pass, their ratios ssl4rec / RecBole (< 1: ssl4rec is faster), the seconds each
side's pass spent in the model's own forward pass (ssl4rec ``score``, RecBole
``full_sort_predict``), the epochs run, and both test NDCG@10 values.

One split, ssl4rec's, on both sides (seed ``--seed``):

* general models (Pop, ItemKNN, BPR, EASE, MultiVAE): ssl4rec split ``random``, 8:1:1 per user
  (RecBole's per-user rounding rule).
* sequential models (GRU4Rec, SASRec, BERT4Rec): ssl4rec split ``leave_one_out`` by timestamp
  (ties in file order). Both use the full softmax (CE) loss and ``max_len`` 50.

RecBole receives the split as pre-split atomic files (``presplit``; RecBole's
``benchmark_filename: [train, valid, test]`` reads ``<dataset>.train.inter``,
``<dataset>.valid.inter``, ``<dataset>.test.inter``), with the raw GroupLens user / item ids as
tokens on both sides. What RecBole 1.2.1 does with such files (its source,
``recbole/data/dataset/dataset.py`` and ``sequential_dataset.py``; maintainers in RUCAIBox/RecBole
issues #1303 and #1813): it concatenates them, skips its interaction filtering, remaps ids over the
concatenation and cuts the rows back into the three parts as given (``eval_args.split`` is not
read). General models' full ranking then excludes the items of the earlier parts (the sampler's
used ids: train for valid, train + valid for test). ``SequentialDataset`` does *not* augment
benchmark files: every row must carry its input sequence as ``item_id_list:token_seq``, and valid /
test rows see no train items unless the file lists them. So the files hold RecBole's usual
inputs, built from ssl4rec's split: one training row per train interaction after a user's first
(preceding <= 50 train items -> that item, as RecBole's own augmentation), and valid / test rows
whose input is the user's most recent <= 50 train (valid) / train + valid (test) items in
ssl4rec's time order, i.e. the sequence ssl4rec's models read; ``alias_of_item_id:
[item_id_list]`` makes the sequence share the item id map (without it the two are remapped
apart, issue #1813). RecBole's sequential full ranking does not exclude history at all; the
RecBole side adds that mask (``_recbole_side``). Each run checks what RecBole loaded, read back
through its id maps: the (user, item) pairs of every part, the training rows and the valid /
test input sequences must equal ssl4rec's ("identical" in the caption). (Before this, each
framework drew its own split and the report counted the overlapping held-out pairs.)

Sequential training work (``--train-windows``, ssl4rec's SSL option ``train_windows``): with
``all`` (default) ssl4rec cuts every user's training sequence into windows of ``max_len + 1``
items whose targets do not overlap (``Interactions.windows``), so both sides use every training interaction after a user's first
(97,171 on ML-100K) as a next-item target once per epoch: ssl4rec in windows with a loss at
every position, RecBole as one (prefix, next item) example each. ``last`` trains ssl4rec on one
window per user (the most recent ``max_len + 1`` items, as SASRec's and BERT4Rec's own code).
The ``examples / epoch`` column and the notes state what each side's epoch holds.

ssl4rec runs in this process (``ssl4rec.running.plan.parse_suite`` -> ``runner.build_model`` ->
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

Budget: a RecBole epoch of a sequential model is one full-length forward pass per (prefix, next
item) example (97,171 on ML-100K), about 40x the forward passes of an ssl4rec epoch with
``--train-windows all`` (2,412 windows) and 100x with ``last`` (943 windows, one per user);
``--recbole-seq-max-epochs`` caps RecBole's epochs for those models when the full budget does not
fit the time available.
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
MAX_LEN = 50
"""Input length of the sequential models on both sides (ssl4rec ``max_len``, RecBole ``MAX_ITEM_LIST_LENGTH``)."""


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
    ssl4rec_patience: int | None = None
    """ssl4rec's early-stopping patience when it differs from ``--patience`` (see BERT4Rec)."""


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
        # RecBole solves EASE in float32 (X.astype(np.float32), np.linalg.inv): ssl4rec matches it
        Pair("ease", "EASE", "general", "ease", "EASE", {"l2": 250.0, "dtype": "float32"}, {"reg_weight": 250.0}, iterative=False),
        Pair(
            "multivae", "MultiVAE", "general", "multvae", "MultiVAE",
            # RecBole's latent_dimension 128 is split into mu and logvar: a 64-dim latent, = ssl4rec's 64;
            # RecBole samples z = mu + eps * sigma with eps ~ N(0, 0.01^2): noise_scale 0.01 matches it
            {"batch_size": 256, "learning_rate": LR,
             "encoder": {"embedding_size": 64, "hidden_sizes": [600], "dropout": 0.5, "noise_scale": 0.01},
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
            batch="ssl4rec: windows (--train-windows); RecBole: (prefix, next item) rows",
        ),
        Pair(
            "sasrec", "SASRec", "sequential", "sasrec", "SASRec",
            {"batch_size": 256, "learning_rate": LR, "max_len": 50,
             "encoder": {**TRANSFORMER, "dropout": 0.5, "causal": True},
             "objectives": {"next_item": {"loss": "ce"}}},
            {"train_batch_size": 256, "MAX_ITEM_LIST_LENGTH": 50, **RB_TRANSFORMER,
             "hidden_dropout_prob": 0.5, "attn_dropout_prob": 0.5, "loss_type": "CE"},
            batch="ssl4rec: windows (--train-windows); RecBole: (prefix, next item) rows",
        ),
        Pair(
            "bert4rec", "BERT4Rec", "sequential", "bert4rec", "BERT4Rec",
            {"batch_size": 256, "learning_rate": LR, "max_len": 50,
             "encoder": {**TRANSFORMER, "dropout": 0.2, "causal": False},
             # RecBole's ft_ratio 0.5 (last-item-only batches) is not matched: last_item_prob 0.5 lowered
             # ssl4rec's test NDCG@10 from 0.0777 to 0.0636 here (fewer masked targets per epoch)
             "objectives": {"masked_item": {"mask_prob": 0.2, "loss": "ce"}}},
            {"train_batch_size": 256, "MAX_ITEM_LIST_LENGTH": 50, **RB_TRANSFORMER,
             "hidden_dropout_prob": 0.2, "attn_dropout_prob": 0.2, "mask_ratio": 0.2, "loss_type": "CE"},
            batch="ssl4rec: windows (--train-windows); RecBole: (prefix, next item) rows",
            # An ssl4rec epoch holds each training item once and masks a fifth of them (about 20k
            # masked targets); RecBole's epoch re-masks every prefix row (97k rows, up to 10 masked
            # items each). With patience 10 ssl4rec's BERT4Rec stopped at epoch 17 while still
            # improving (valid NDCG@10 0.037 at epoch 6, 0.099 at epoch 73 with patience 50).
            ssl4rec_patience=50,
        ),
    ]
}  # fmt: skip

SPLITS = {
    "general": {"name": "random", "params": {"ratios": [0.8, 0.1, 0.1]}},
    "sequential": {"name": "leave_one_out"},
}
RECBOLE_DATASET = "ml-100k-ssl4rec"
"""Dataset token of the pre-split atomic files (= ``_recbole_side.DATASET``)."""
PARTS = ("train", "valid", "test")
RECBOLE_EVAL = {
    # eval_args.split is not read with benchmark files (Dataset.build returns the files' rows as
    # they are); order "TO" is still required by SequentialDataset.build.
    "general": {"order": "RO", "group_by": "user", "mode": "full"},
    "sequential": {"order": "TO", "group_by": "user", "mode": "full"},
}
RECBOLE_COLUMNS = {
    "general": ["user_id", "item_id", "rating", "timestamp"],
    "sequential": ["user_id", "item_id", "timestamp", "item_id_list"],
}


# -- ssl4rec side ----------------------------------------------------------------
def ssl4rec_suite(pairs: list[Pair], max_epochs: int, patience: int, train_windows: str = "all") -> Any:
    """The comparison as an ssl4rec suite (validated by ``ssl4rec.running.plan.parse_suite``)."""
    from ssl4rec.running.plan import parse_suite

    models = []
    for p in pairs:
        params = dict(p.ssl4rec_params)
        if p.iterative:
            params.update(epochs=max_epochs, patience=p.ssl4rec_patience or patience, eval_every=1)
        if p.protocol == "sequential":
            params["train_windows"] = train_windows
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


def run_ssl4rec(
    pair: Pair, spec: Any, split: Any, protocol: Any, seed: int, eval_repeats: int, train_windows: str = "all"
) -> dict[str, Any]:
    """Train and evaluate one model with ssl4rec; timings, metrics and bookkeeping."""
    import numpy as np
    import torch

    from ssl4rec.evaluation.evaluator import RankingValidator, evaluate
    from ssl4rec.running.runner import build_model

    model, _resolved = build_model(spec, seed)
    validator = RankingValidator(split, protocol, seed=seed)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    model.fit(split.train, validator)
    fit_seconds = time.perf_counter() - t0
    info = getattr(model, "fit_info", {}) or {}
    whole_fits = [fit_seconds]
    if not pair.iterative:  # a closed-form fit takes a fraction of a second: median of repeated fits
        for _ in range(max(0, eval_repeats - 1)):
            again, _ = build_model(spec, seed)
            t0 = time.perf_counter()
            again.fit(split.train, RankingValidator(split, protocol, seed=seed))
            whole_fits.append(time.perf_counter() - t0)
    _ = split.history("test").csr  # the known-history matrix, built once (RecBole builds its own at data preparation)
    result, eval_times, score_times = None, [], []
    for _ in range(max(1, eval_repeats)):
        t = time.perf_counter()
        res = evaluate(model, split, "test", protocol, seed=seed, progress=False)
        eval_times.append(time.perf_counter() - t)
        score_times.append(float(res.info.get("score_seconds", float("nan"))))  # the model's own forward
        result = result or res
    targets = None
    if pair.protocol == "sequential":
        examples = int(info.get("examples_per_epoch") or len(split.train.active_users))  # users or windows
        last, every = window_targets(split.train, int(pair.ssl4rec_params.get("max_len", 50)))
        if "next_item" in pair.ssl4rec_params.get("objectives", {}):  # BERT4Rec: masked items, not next-item targets
            targets = every if train_windows == "all" else last
    elif pair.ssl4rec == "multvae":
        examples = len(split.train.active_users)
    else:
        examples = int(split.train.csr.nnz)
    valid = info.get("valid") or []
    return {
        "ok": True,
        "fit_seconds": fit_seconds,
        "whole_fit_seconds": whole_fits,
        "epoch_seconds": list(info.get("epoch_seconds") or []),
        "epochs_run": int(info.get("epochs_run") or 0),
        "best_epoch": info.get("best_epoch"),
        "best_valid": info.get("best_valid"),
        "valid_curve": [float(v) for _, v in valid],
        "examples_per_epoch": examples,
        "targets_per_epoch": targets,
        "test": result.metrics,
        "eval_seconds": statistics.median(eval_times),
        "eval_seconds_all": eval_times,
        "eval_score_seconds": statistics.median(score_times),
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
        # ssl4rec's split, written by write_presplit: <dataset>.{train,valid,test}.inter
        "benchmark_filename": list(PARTS),
        "load_col": {"inter": RECBOLE_COLUMNS[pair.protocol]},
    }
    if pair.protocol == "sequential":
        cfg["train_neg_sample_args"] = None  # required by RecBole for the CE loss
        cfg["alias_of_item_id"] = ["item_id_list"]  # one id map for targets and input sequences
    cfg.update(pair.recbole_params)
    return cfg


def run_recbole(
    pair: Pair,
    cfg: dict[str, Any],
    python: str,
    data: Path,
    files: dict[str, list[str]],
    threads: int,
    eval_repeats: int,
    keep: bool,
) -> dict[str, Any]:
    """One RecBole subprocess on the pre-split ``files`` (part -> lines); its ``RESULT_JSON`` line, or an error."""
    work = Path(tempfile.mkdtemp(prefix=f"recbole-{pair.key}-"))
    folder = work / RECBOLE_DATASET
    folder.mkdir()
    for part, lines in files.items():
        (folder / f"{RECBOLE_DATASET}.{part}.inter").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if keep:
        log.info("RecBole %s: working folder %s (kept)", pair.recbole, work)
    spec = {"model": pair.recbole, "threads": threads, "eval_repeats": eval_repeats, "config": cfg,
            "fit_repeats": 1 if pair.iterative else eval_repeats}
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
@dataclasses.dataclass
class Presplit:
    """ssl4rec's split as RecBole atomic files, and what RecBole should read back from them."""

    files: dict[str, list[str]]
    """part -> lines of ``<dataset>.<part>.inter`` (header first)."""
    pairs: dict[str, set[tuple[str, str]]]
    """part -> (user, item) pairs as raw GroupLens ids."""
    train_rows_sha256: str | None = None
    """Sequential: sha256 over the sorted ``user<TAB>target<TAB>prefix`` training rows."""
    inputs: dict[str, dict[tuple[str, str], list[str]]] | None = None
    """Sequential: valid / test (user, target) -> input sequence (raw ids, oldest first)."""


def presplit(split: Any, ds: Any, protocol: str, max_len: int = 50) -> Presplit:
    """Atomic files holding exactly ``split``, tokens = raw GroupLens ids.

    general: one row per (user, item, rating, timestamp) of each part. sequential (RecBole does not
    augment benchmark files, see ``_recbole_side``): train = one row per train interaction after a
    user's first, ``item_id_list`` = the preceding <= ``max_len`` train items (RecBole's own
    augmentation); valid / test = one row per held-out interaction, ``item_id_list`` = the user's most
    recent <= ``max_len`` items of ``split.history(stage)`` (train; train + valid), in ssl4rec's time
    order, which is what ssl4rec's sequence models read for that stage.
    """
    import hashlib

    users, items = ds.users["raw_id"].astype(str).to_numpy(), ds.items["raw_id"].astype(str).to_numpy()
    frames = {"train": split.train.df, "valid": split.valid, "test": split.test}
    pairs = {
        part: set(zip(users[df["user"].to_numpy()], items[df["item"].to_numpy()], strict=True))
        for part, df in frames.items()
    }
    if protocol == "general":
        head = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
        files = {}
        for part, df in frames.items():
            u, i = users[df["user"].to_numpy()], items[df["item"].to_numpy()]
            r, t = df["rating"].to_numpy(), df["timestamp"].to_numpy()
            files[part] = [head] + [f"{a}\t{b}\t{c:g}\t{d}" for a, b, c, d in zip(u, i, r, t, strict=True)]
        return Presplit(files, pairs)
    head = "user_id:token\titem_id:token\ttimestamp:float\titem_id_list:token_seq"
    train = split.train
    t_items, t_times = items[train.item_array], train.df["timestamp"].to_numpy()
    rows, digest = [head], []
    for u in train.active_users:
        lo, hi = int(train.indptr[u]), int(train.indptr[u + 1])
        for k in range(lo + 1, hi):
            prefix = " ".join(t_items[max(lo, k - max_len) : k])
            rows.append(f"{users[u]}\t{t_items[k]}\t{t_times[k]}\t{prefix}")
            digest.append(f"{users[u]}\t{t_items[k]}\t{prefix}")
    files = {"train": rows}
    inputs: dict[str, dict[tuple[str, str], list[str]]] = {}
    for part in ("valid", "test"):
        hist, df = split.history(part), frames[part]
        h_items = items[hist.item_array]
        lines, seen = [head], {}
        for u, i, t in zip(df["user"].to_numpy(), df["item"].to_numpy(), df["timestamp"].to_numpy(), strict=True):
            seq = list(h_items[max(hist.indptr[u], hist.indptr[u + 1] - max_len) : hist.indptr[u + 1]])
            lines.append(f"{users[u]}\t{items[i]}\t{t}\t{' '.join(seq)}")
            seen[(users[u], items[i])] = seq
        files[part], inputs[part] = lines, seen
    sha = hashlib.sha256("\n".join(sorted(digest)).encode()).hexdigest()
    return Presplit(files, pairs, sha, inputs)


def split_check(expected: Presplit, recbole: dict[str, Any]) -> str:
    """Whether RecBole trained / validated / tested on ``expected``: pairs per part, for sequential
    models also the training rows and the valid / test input sequences."""
    parts, same = [], True
    for part in PARTS:
        listed = [tuple(p) for p in (recbole.get("pairs") or {}).get(part, [])]
        theirs, ours = set(listed), expected.pairs[part]
        ok = theirs == ours and len(listed) == len(theirs)
        same &= ok
        parts.append(
            f"{part} {len(theirs & ours):,} of {len(ours):,} pairs" + ("" if ok else f" (RecBole {len(listed):,} rows)")
        )
    text = ", ".join(parts)
    if expected.inputs is not None:
        rows_ok = recbole.get("train_rows_sha256") == expected.train_rows_sha256
        same &= rows_ok
        checks = [f"(prefix, next item) training rows {'identical' if rows_ok else 'DIFFERENT'}"]
        for part in ("valid", "test"):
            got = (recbole.get("inputs") or {}).get(part, [])
            n_ok = sum(1 for u, i, seq in got if expected.inputs[part].get((u, i)) == seq)
            same &= n_ok == len(expected.inputs[part]) == len(got)
            checks.append(f"{part} input sequences {n_ok:,} of {len(expected.inputs[part]):,} equal")
        text += "; " + ", ".join(checks)
    return ("identical: " if same else "NOT identical: ") + text


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
    if side.get("whole_fit_seconds"):
        return _median(side["whole_fit_seconds"])
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
        "ssl4rec forward alone / RecBole eval",
        "forward s ssl4rec ; RecBole",
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
        # the model's own forward pass (score) in ssl4rec's eval: no evaluator can go below it
        fw_s = s.get("eval_score_seconds") if s.get("ok") else None
        fw_r = r.get("eval_forward_seconds") if r.get("ok") else None
        name = pair.label + ("" if pair.iterative else " (fit s)")
        ex = " ; ".join(_count(side.get("examples_per_epoch")) for side in (s, r)) if pair.iterative else "–"
        if pair.protocol == "sequential" and s.get("ok"):
            t = s.get("targets_per_epoch")
            ex = (
                f"{_count(s.get('examples_per_epoch'))} windows{f' ({t:,} targets)' if t is not None else ''} ; "
                f"{_count(r.get('examples_per_epoch'))}"
            )
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
                _ratio(fw_s, ev_r),
                f"{_f(fw_s, '{:.4f}')} ; {_f(fw_r, '{:.4f}')}",
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
    window: tuple[int, int, int, int] | None = None,
) -> str:
    names = {"general": "random 8:1:1", "sequential": "leave-one-out"}
    own = [f"ssl4rec's {p.label} {p.ssl4rec_patience}" for p in pairs if p.ssl4rec_patience and p.iterative]
    special = f" ({', '.join(own)}: its epochs hold far fewer masked targets than RecBole's, see below)" if own else ""
    ov = "; ".join(f"{names[k]}: {v}" for k, v in overlap.items()) or "not checked (RecBole not run)"
    seq_cap = args.recbole_seq_max_epochs
    passes = ""
    if window is not None:
        ssl_rows = window[3] if args.train_windows == "all" else window[2]
        passes = f": {window[1]:,} forward passes of {MAX_LEN} steps, vs {ssl_rows:,} windows in an ssl4rec epoch"
    cap = (
        f" RecBole's sequential models were capped at **{seq_cap} epochs** to keep the run short "
        f"(one RecBole epoch there = one example per (prefix, next item) row{passes}), so early stopping "
        f"could not act for them."
        if seq_cap is not None and any(p.protocol == "sequential" for p in pairs)
        else ""
    )
    return (
        f"MovieLens 100K (GroupLens `u.data`, all 100,000 ratings as positives), {args.threads} torch thread(s) "
        f"on both sides; RecBole side: {rb_versions}. Training: at most **{args.max_epochs} epochs**, early "
        f"stopping after {args.patience} validations without a better valid NDCG@10{special}, best epoch "
        f"restored; seed {args.seed}.{cap} Test: one full-ranking pass over all items, user history (train + valid) "
        f"excluded, K = 10, metrics Recall/MRR/NDCG/Hit/Precision; eval s = median of {args.eval_repeats} passes. "
        f"Both frameworks train, validate and test on ssl4rec's split (RecBole reads it as pre-split atomic "
        f"files, `benchmark_filename`), so the NDCG values differ by implementation and training, not by split. "
        f"What RecBole loaded, read back through its id maps, against ssl4rec's split: {ov}. "
        f"examples / epoch: training units of one epoch (BPR (user, item) pairs, MultiVAE users; sequential: "
        f"ssl4rec windows (`--train-windows {args.train_windows}`) with the next-item targets they hold ; RecBole "
        f"(prefix, next item) rows). s / epoch = median over the epochs run; for Pop, ItemKNN and "
        f"EASE (no epochs) the median of {args.eval_repeats} whole fits, each of a fresh model (ssl4rec: `fit`, which "
        f"computes them; RecBole: model construction, where ItemKNN and EASE compute their "
        f"matrices, + its one pass over the data). ratio = ssl4rec / RecBole (< 1: ssl4rec faster). "
        f"Epochs run (best) counts from 0. Load average during the run {load[0]:.1f} → {load[1]:.1f} "
        f"(machine shared with other jobs: absolute seconds are noisy); total wall time {wall / 60:.1f} min."
    )


def notes(window: tuple[int, int, int, int] | None, train_windows: str = "all", max_len: int = MAX_LEN) -> str:
    """What differs between the two sides.

    ``window``: (next-item targets in one most-recent window per user, in all prefixes = every
    training interaction after a user's first, users, non-overlapping windows); ``train_windows``:
    ssl4rec's option for the sequential models.
    """
    import textwrap

    width = max_len + 1
    n = (lambda i: f" ({window[i]:,})") if window is not None else (lambda i: "")
    if train_windows == "all":
        seq = (
            f"Both sides use every training interaction after a user's first as a next-item target once per "
            f"epoch{n(1)}. RecBole makes each one an example of its own (the preceding ≤ {max_len} items -> that "
            f"item, loss at the last position only; a full {max_len}-step forward pass each). ssl4rec "
            f"(`train_windows: all`) cuts each user's training sequence from its end into windows of {width} "
            f"items that overlap by one item{n(3)} and puts a loss at every position, so one forward pass covers "
            f"up to {max_len} targets; a target early in a window sees only the items before it in that window "
            f"(RecBole: always up to {max_len} preceding items). Same targets, fewer forward passes and fewer "
            f"optimiser steps"
        )
        rows = window[3] if window is not None else None
        unit, bert = "windows", "one row per window"
    else:
        older = f" (its windows hold {window[0]:,} of the {window[1]:,} targets)" if window is not None else ""
        seq = (
            f"RecBole turns every training interaction after a user's first into one example{n(1)} (the "
            f"preceding ≤ {max_len} items -> that item, loss at the last position; a full {max_len}-step forward "
            f"pass each). ssl4rec (`train_windows: last`) trains on one window per user{n(2)}, the most recent "
            f"`max_len + 1` = {width} training items, with a loss at every position: older items of users with "
            f"more than {width} training items are never targets in ssl4rec{older}. Fewer targets, forward "
            f"passes and optimiser steps"
        )
        rows = window[2] if window is not None else None
        unit, bert = "user windows", "one row per user"
    if window is not None and rows is not None:
        seq += f" ({-(-rows // 256):,} vs {-(-window[1] // 256):,} batches of 256 per epoch)"
    seq += (
        ": per-epoch seconds are not the same amount of work, and equal epochs are not equal training. "
        "The `examples / epoch` column gives the units."
    )
    seq_bullet = textwrap.fill(
        f"- **Sequential training data.** {seq}", width=96, subsequent_indent="  ", break_on_hyphens=False
    )
    return f"""\
What differs between the two sides (same names, not the same computation):

- **Splits.** None: ssl4rec makes the split (random 8:1:1 per user with RecBole's rounding
  rule; leave-one-out by timestamp, ties in file order) and hands it to RecBole as pre-split
  atomic files (`benchmark_filename: [train, valid, test]`, raw GroupLens ids as tokens), which
  RecBole loads without filtering, reordering or splitting them (`Dataset.build`). RecBole does
  not augment benchmark files for sequential models (`SequentialDataset`), so the files carry
  its inputs: one training row per (preceding ≤ {max_len} train items, next train item), and
  valid / test rows whose `item_id_list` is the user's last ≤ {max_len} train (valid) or train +
  valid (test) items in ssl4rec's time order, the sequence ssl4rec's models read
  (`alias_of_item_id: [item_id_list]` gives it the item id map). The caption gives the check.
{seq_bullet}
- **Batches.** Same numbers, different units: BPR 2048 (user, item, negative) triples on both
  sides; MultiVAE 256 users on both sides (RecBole's `UserDataLoader`); sequential models 256
  {unit} (ssl4rec) vs 256 (prefix, next item) rows (RecBole).
- **Pop.** RecBole's Pop counts items in its training loop with `item_cnt[item] = item_cnt[item] + 1`,
  which adds 1 per batch however often an item occurs in that batch, and, being a pointwise
  model under the default `train_neg_sample_args`, it also counts the sampled negatives (80,808
  of the 161,616 rows it sees). In a check on this split (seed 2020) the highest count was 79 (the
  number of batches), shared by 16 items, while the most frequent training item has 466
  training interactions. ssl4rec counts every training interaction. RecBole's defaults were kept, hence its lower Pop value.
- **Negative sampling (BPR).** Both draw one uniform negative per positive pair, re-drawn when
  it is an item of the user's training history (ssl4rec: up to 10 re-draws; RecBole: until
  it is not).
- **BERT4Rec.** RecBole (one sequence per prefix): in each batch, with probability `ft_ratio`
  = 0.5 (its default) only the last item of every sequence is masked, otherwise each item with
  probability 0.2, the loss covering at most 10 masked positions per sequence
  (`mask_ratio * MAX_ITEM_LIST_LENGTH`); its scores add a learned per-item output bias. ssl4rec
  ({bert}): each item masked with probability 0.2, the last item when none was drawn; no
  output bias and no last-item-only samples (its `last_item_prob: 0.5`, the analogue of
  `ft_ratio`, gave test NDCG@10 0.0636 instead of 0.0777 in a check). An ssl4rec epoch holds each
  training item once, so far fewer masked targets than RecBole's re-masked prefix rows (every
  item in up to {max_len} contexts, the end of the sequence at every length); its patience is 50
  validations (with 10 it stopped at epoch 17 while still improving).
- **MultiVAE.** RecBole's reparameterisation samples with standard deviation 0.01 x sigma
  (its code; the paper uses sigma); ssl4rec is run with `noise_scale: 0.01` to match (its
  default is the paper's 1). Both average the multinomial log-likelihood per user (sum over the
  user's items) and add the annealed KL term averaged per user.
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
    ap.add_argument(
        "--train-windows",
        choices=("last", "all"),
        default="all",
        help="ssl4rec's training sequences for GRU4Rec/SASRec/BERT4Rec (SSL option train_windows): all = every "
        "user's history in non-overlapping windows, each training interaction a target once per epoch as in "
        "RecBole; last = one window per user, the most recent max_len + 1 items",
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

    from ssl4rec.datasets import data_root, load_dataset
    from ssl4rec.evaluation.splits import make_split

    t_start, load0 = time.perf_counter(), os.getloadavg()[0]
    suite = ssl4rec_suite(pairs, args.max_epochs, args.patience, args.train_windows)
    dspec = suite.datasets[0]
    ds = load_dataset(dspec.name, preprocessing=dspec.preprocessing, download=False)
    u_data = data_root(None) / "ml-100k" / "u.data"
    log.info("ml-100k: %d users, %d items, %d interactions (%s)", ds.n_users, ds.n_items, len(ds.interactions), u_data)
    splits, files = {}, {}
    for proto, sspec in zip(SPLITS, suite.splits, strict=True):
        if any(p.protocol == proto for p in pairs):
            splits[proto] = make_split(ds, sspec.name, seed=args.seed, **sspec.params)
            log.info("ssl4rec split %s: %s", sspec.label, splits[proto].info["counts"])
            if "recbole" in sides:
                files[proto] = presplit(splits[proto], ds, proto, MAX_LEN)
    rb_versions = recbole_env(args.recbole_python) if "recbole" in sides else "not run"
    log.info("RecBole environment %s: %s", args.recbole_python, rb_versions)

    rows, raw = [], {}
    for pair, mspec in zip(pairs, suite.models, strict=True):
        s: dict[str, Any] = {"ok": False, "error": "not run"}
        r: dict[str, Any] = {"ok": False, "error": "not run"}
        if "ssl4rec" in sides:
            log.info("ssl4rec %s: training (%s)", pair.label, splits[pair.protocol].info["name"])
            try:
                s = run_ssl4rec(
                    pair, mspec, splits[pair.protocol], suite.protocol, args.seed, args.eval_repeats, args.train_windows
                )
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
            log.info("RecBole %s: training (ssl4rec's %s split, max %d epochs)", pair.recbole, pair.protocol, epochs)
            r = run_recbole(
                pair, cfg, args.recbole_python, u_data, files[pair.protocol].files, args.threads, args.eval_repeats,
                args.keep,
            )  # fmt: skip
            if r.get("ok"):
                r["split_check"] = split_check(files[pair.protocol], r)
                for key in ("pairs", "inputs"):  # checked; too large for --json
                    r.pop(key, None)
                log.info("RecBole %s split check: %s", pair.recbole, r["split_check"])
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
    for proto in splits:
        checks = {p.label: r["split_check"] for p, _, r in rows if p.protocol == proto and r.get("split_check")}
        if len(set(checks.values())) == 1:
            overlap[proto] = next(iter(checks.values()))
        elif checks:
            overlap[proto] = "; ".join(f"{k}: {v}" for k, v in checks.items())
    window = None
    if "sequential" in splits:
        train = splits["sequential"].train
        n_windows = len(train.windows(train.active_users, MAX_LEN + 1)[0])
        window = (*window_targets(train, MAX_LEN), len(train.active_users), n_windows)
    wall = time.perf_counter() - t_start
    from _report import table, update_readme

    header, body_rows = report_rows(rows)
    text = table(header, body_rows)
    cap = caption(args, rb_versions, (load0, os.getloadavg()[0]), wall, pairs, overlap, window)
    note_text = notes(window, args.train_windows, MAX_LEN)
    native = [
        f"{pair.label} {r['test_native']['ndcg@10']:.4f}" for pair, _, r in rows if r.get("ok") and r.get("test_native")
    ]
    extra = ""
    if native:
        extra = (
            "\nRecBole's own evaluation of its sequential models, without excluding the history "
            f"(test NDCG@10): {', '.join(native)}.\n"
        )
    shares = [
        f"{pair.label} {s['eval_score_seconds'] / s['eval_seconds']:.0%}"
        for pair, s, _ in rows
        if s.get("ok") and s.get("eval_score_seconds") == s.get("eval_score_seconds") and s.get("eval_seconds")
    ]
    if shares:
        extra += (
            "\nShare of ssl4rec's evaluation pass spent in the model's `score` (its forward pass; the rest "
            f"is history masking, ranking and metrics): {', '.join(shares)}. The column *ssl4rec forward "
            "alone / RecBole eval* divides that forward time by RecBole's whole pass: the eval ratio no "
            "evaluator could go below with this model's network (target: 1/10). *forward s* is the "
            "time each side spent in the model's forward pass (ssl4rec `score`, RecBole "
            "`full_sort_predict`) during one pass.\n"
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
