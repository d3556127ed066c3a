"""RecBole side of ``benchmarks/compare_recbole.py``: one model, trained and evaluated by RecBole 1.2.1.

Run by the RecBole virtual environment's interpreter (never imported by ssl4rec)::

    /work/venvs/recbole/bin/python benchmarks/_recbole_side.py --data U.DATA --workdir TMP --spec JSON

``--spec`` is a JSON object ``{"model": "SASRec", "threads": 1, "eval_repeats": 3, "config": {...}}``
whose ``config`` is passed to RecBole's ``Config`` as ``config_dict`` (``data_path`` and
``checkpoint_dir`` are set here, inside ``--workdir``), on top of RecBole's own ``ml-100k``
dataset settings (``properties/dataset/ml-100k.yaml``).

The split is not made here: the caller writes ssl4rec's split into ``WORKDIR/ml-100k-ssl4rec/``
as the pre-split atomic files ``ml-100k-ssl4rec.{train,valid,test}.inter`` (raw GroupLens ids as
tokens) and sets ``benchmark_filename: [train, valid, test]``. RecBole 1.2.1 then loads the three
files, concatenates them, skips its interaction filtering (``Dataset._data_processing``), remaps
the ids over the concatenation and, in ``Dataset.build``, cuts the rows back into the three files
without ordering or splitting them. For sequential models ``SequentialDataset`` also skips its data
augmentation (``_change_feat_format`` returns before ``data_augmentation``), so the files carry
the model inputs themselves as an ``item_id_list:token_seq`` column (one training row per (prefix,
next item); valid / test rows hold the user's most recent train, resp. train + valid, items) and
``alias_of_item_id: [item_id_list]`` puts that column in the item id map. ``--data`` (GroupLens
``u.data``) is only compared with the copy bundled in RecBole's package (under the name ``ml-100k``
RecBole would read that copy instead of ``data_path``; the result records whether the two files
hold the same rows). The process runs with ``WORKDIR`` as its working directory, because RecBole
writes logs and TensorBoard files relative to it.

Training uses RecBole's ``Trainer.fit`` (early stopping on the valid metric, best checkpoint
restored by ``Trainer.evaluate``); each ``_train_epoch`` call is timed. The evaluation time is
the median over ``eval_repeats`` calls of ``trainer.evaluate(test_data, load_best_model=False)``;
the time spent in ``model.full_sort_predict`` during those calls is reported beside it.

With torch >= 2.6, RecBole 1.2.1 cannot reload its own checkpoint (``torch.load`` now defaults
to ``weights_only=True``); ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` restores the old default for
this process only.

One change to RecBole's evaluation: for sequential models RecBole's full-ranking loader does
not exclude the user's history from the candidates (general models' loaders do: the items of
the earlier benchmark files). To evaluate the same protocol as ssl4rec ("history masked"),
history items (train items for validation, train + valid items for test) get ``-inf`` for
sequential models too, in ``_full_sort_batch_eval``; the test NDCG@10 of RecBole's unmodified
evaluation is reported beside it (``native``).

Prints progress on stderr and one line ``RESULT_JSON: {...}`` on stdout: timings, curves, test
metrics, and what RecBole actually loaded, read back through its own id maps, so the caller can
check it against its split: the (user, item) pairs of each part (``pairs``; for sequential models
the train pairs are the training rows' targets and prefix items), and for sequential models a
sha256 of the training rows (``train_rows_sha256``, over sorted ``user<TAB>target<TAB>prefix``
lines) and the valid / test rows with their input sequences (``inputs``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

log = logging.getLogger("recbole-side")


DATASET = "ml-100k-ssl4rec"
"""Dataset token of the pre-split files (not ``ml-100k``: RecBole would load its bundled copy)."""
PARTS = ("train", "valid", "test")


def same_as_bundled(u_data: Path, package: Path) -> bool:
    """Whether GroupLens ``u.data`` holds the rows of the ``ml-100k.inter`` bundled with RecBole."""
    bundled = package / "dataset_example" / "ml-100k" / "ml-100k.inter"
    if not bundled.is_file():
        return False
    ours = sorted("\t".join(line.split()) for line in u_data.read_text(encoding="latin-1").splitlines() if line.strip())
    return ours == sorted(bundled.read_text().splitlines()[1:])


def check_files(workdir: Path) -> dict[str, int]:
    """Rows of each pre-split file the caller wrote (header excluded); raises when one is missing."""
    rows = {}
    for part in PARTS:
        f = workdir / DATASET / f"{DATASET}.{part}.inter"
        if not f.is_file():
            raise FileNotFoundError(f"pre-split file {f} missing (written by compare_recbole.py)")
        with open(f, encoding="utf-8") as fh:
            rows[part] = sum(1 for _ in fh) - 1
    return rows


def loaded_parts(dataset, parts: dict, sequential: bool) -> dict:
    """What RecBole loaded, as raw tokens: (user, item) pairs per part; for sequential models the
    training rows' digest and the valid / test rows with their input sequences."""
    import hashlib

    import numpy as np

    uid, iid = dataset.uid_field, dataset.iid_field
    out: dict = {"pairs": {}, "rows": {}}
    for part, ds in parts.items():
        users = dataset.id2token(uid, ds.inter_feat[uid].numpy())
        items = dataset.id2token(iid, ds.inter_feat[iid].numpy())
        out["rows"][part] = len(users)
        if not sequential:
            out["pairs"][part] = [[str(u), str(i)] for u, i in zip(users, items, strict=True)]
            continue
        seqs = ds.inter_feat[ds.item_id_list_field].numpy()
        lens = ds.inter_feat[ds.item_list_length_field].numpy()
        lists = [dataset.id2token(iid, seq[:n]).tolist() for seq, n in zip(seqs, lens, strict=True)]
        if part == "train":
            pairs = {(str(u), str(i)) for u, i in zip(users, items, strict=True)}
            pairs |= {(str(u), str(j)) for u, lst in zip(users, lists, strict=True) for j in lst}
            out["pairs"][part] = sorted(pairs)
            lines = sorted(f"{u}\t{i}\t{' '.join(lst)}" for u, i, lst in zip(users, items, lists, strict=True))
            out["train_rows_sha256"] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
            out["train_prefix_lengths"] = [int(np.min(lens)), int(np.max(lens))]
        else:
            out["pairs"][part] = [[str(u), str(i)] for u, i in zip(users, items, strict=True)]
            out.setdefault("inputs", {})[part] = [
                [str(u), str(i), lst] for u, i, lst in zip(users, items, lists, strict=True)
            ]
    return out


def history_matrix(user_ids, item_ids, n_users: int, n_items: int):
    """Binary CSR user x item matrix from parallel id arrays."""
    import numpy as np
    import scipy.sparse as sp

    m = sp.csr_matrix(
        (np.ones(len(user_ids), dtype=np.float32), (np.asarray(user_ids), np.asarray(item_ids))),
        shape=(n_users, n_items),
    )
    m.sum_duplicates()
    return m


def sequential_histories(train_ds, valid_ds, n_users: int, n_items: int):
    """Known items per user at validation (train) and at test (train + valid) for a sequential split.

    RecBole's sequential train split holds (prefix, target) rows; the train items are the targets
    plus the items of the prefixes (the first item of a sequence is never a target).
    """
    import numpy as np

    uid, iid = train_ds.uid_field, train_ds.iid_field
    lst = train_ds.item_id_list_field
    tu = train_ds.inter_feat[uid].numpy()
    ti = train_ds.inter_feat[iid].numpy()
    seqs = train_ds.inter_feat[lst].numpy()
    rows, cols = np.nonzero(seqs)
    users = np.concatenate([tu, tu[rows]])
    items = np.concatenate([ti, seqs[rows, cols]])
    hist_valid = history_matrix(users, items, n_users, n_items)
    vu = valid_ds.inter_feat[uid].numpy()
    vi = valid_ds.inter_feat[iid].numpy()
    hist_test = history_matrix(np.concatenate([users, vu]), np.concatenate([items, vi]), n_users, n_items)
    return hist_valid, hist_test


def run(spec: dict, data: Path, workdir: Path) -> dict:
    # RecBole 1.2.1 reloads its own best checkpoint with torch.load(path) and pickled config
    # inside; torch >= 2.6 defaults to weights_only=True, which refuses it. The file is the
    # one this process just wrote, so the old behaviour is safe here.
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    import numpy as np
    import torch

    threads = int(spec.get("threads", 1))
    torch.set_num_threads(threads)
    import recbole
    import yaml
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import ModelType, get_model, get_trainer, init_seed

    file_rows = check_files(workdir)
    package = Path(recbole.__file__).resolve().parent
    bundled_same = same_as_bundled(data, package)
    cfg = yaml.safe_load((package / "properties" / "dataset" / "ml-100k.yaml").read_text())
    cfg.update(spec["config"])
    cfg.update(data_path=str(workdir), checkpoint_dir=str(workdir / "saved"), use_gpu=False, show_progress=False)
    if list(cfg.get("benchmark_filename") or []) != list(PARTS):
        raise ValueError(
            f"expected benchmark_filename {list(PARTS)} (ssl4rec's split), got {cfg.get('benchmark_filename')}"
        )
    t0 = time.perf_counter()
    config = Config(model=spec["model"], dataset=DATASET, config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    torch.set_num_threads(threads)  # after Config/init_seed, which may touch torch settings
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    prep_seconds = time.perf_counter() - t0
    sequential = config["MODEL_TYPE"] == ModelType.SEQUENTIAL
    log.info(
        "%s: %d users, %d items, %d rows; train rows %d, valid rows %d, test rows %d (data %.1fs)",
        spec["model"],
        dataset.user_num - 1,
        dataset.item_num - 1,
        dataset.inter_num,
        len(train_data.dataset),
        len(valid_data.dataset),
        len(test_data.dataset),
        prep_seconds,
    )

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    t0 = time.perf_counter()
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    build_seconds = time.perf_counter() - t0

    hist = {"valid": None, "test": None}
    if sequential:
        hist["valid"], hist["test"] = sequential_histories(
            train_data._dataset, valid_data._dataset, dataset.user_num, dataset.item_num
        )
    uid_field = dataset.uid_field
    base = get_trainer(config["MODEL_TYPE"], config["model"])

    class TimedTrainer(base):
        """RecBole's trainer with timed epochs and history masking for sequential models."""

        epoch_seconds: list[float]
        mask = None

        def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
            t = time.perf_counter()
            loss = super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)
            self.epoch_seconds.append(time.perf_counter() - t)
            total = sum(loss) if isinstance(loss, tuple) else loss
            self.losses.append(float(total))
            log.info("%s epoch %d: %.2fs, loss %.4f", spec["model"], epoch_idx, self.epoch_seconds[-1], float(total))
            return loss

        def _valid_epoch(self, valid_data, show_progress=False):
            self.mask = hist["valid"]
            try:
                score, result = super()._valid_epoch(valid_data, show_progress=show_progress)
            finally:
                self.mask = None
            self.valid_curve.append(float(score))
            log.info("%s valid %s: %.4f", spec["model"], config["valid_metric"], score)
            return score, result

        def _full_sort_batch_eval(self, batched_data):
            interaction, history_index, positive_u, positive_i = batched_data
            if history_index is None and self.mask is not None:
                users = interaction[uid_field].cpu().numpy()
                rows = self.mask[users]
                lens = np.diff(rows.indptr)
                history_index = (
                    torch.from_numpy(np.repeat(np.arange(len(users)), lens)),
                    torch.from_numpy(rows.indices.astype(np.int64)),
                )
            return super()._full_sort_batch_eval((interaction, history_index, positive_u, positive_i))

    trainer = TimedTrainer(config, model)
    trainer.epoch_seconds, trainer.losses, trainer.valid_curve = [], [], []
    t0 = time.perf_counter()
    best_valid, _ = trainer.fit(train_data, valid_data, verbose=False, saved=True, show_progress=False)
    fit_seconds = time.perf_counter() - t0

    trainer.mask = hist["test"]
    result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    # the model's own forward pass inside each timed evaluation (RecBole's evaluator calls
    # model.full_sort_predict once per batch): the part of the pass no evaluator can remove
    forward = [0.0]
    predict = trainer.model.full_sort_predict

    def timed_predict(interaction):
        t = time.perf_counter()
        out = predict(interaction)
        forward[0] += time.perf_counter() - t
        return out

    trainer.model.full_sort_predict = timed_predict
    eval_times, forward_times = [], []
    for _ in range(max(1, int(spec.get("eval_repeats", 3)))):
        forward[0] = 0.0
        t = time.perf_counter()
        again = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
        eval_times.append(time.perf_counter() - t)
        forward_times.append(forward[0])
    trainer.model.full_sort_predict = predict
    # closed-form models (one pass, well under a second): a single timed fit is mostly noise and
    # first-call costs, so it is repeated (fresh model: build + its one epoch) and the median kept
    whole_fits = [build_seconds + sum(trainer.epoch_seconds)]
    for _ in range(max(0, int(spec.get("fit_repeats", 1)) - 1)):
        init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
        t0 = time.perf_counter()
        again_model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
        again_trainer = TimedTrainer(config, again_model)
        again_trainer.epoch_seconds, again_trainer.losses, again_trainer.valid_curve = [], [], []
        again_trainer._train_epoch(train_data, 0)
        whole_fits.append(time.perf_counter() - t0)
    native = None
    if sequential:
        trainer.mask = None
        native = {k: float(v) for k, v in trainer.evaluate(test_data, load_best_model=False).items()}
    loaded = loaded_parts(
        dataset,
        {"train": train_data._dataset, "valid": valid_data._dataset, "test": test_data._dataset},
        sequential,
    )
    vm = config["valid_metric"].lower()
    best_epoch = None
    if trainer.valid_curve:
        best_epoch = int(np.argmax(trainer.valid_curve)) * int(config["eval_step"])
    return {
        "ok": True,
        "model": spec["model"],
        "recbole": recbole.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
        "sequential": sequential,
        "data_path": config["data_path"],
        "same_rows_as_recbole_bundled_ml100k": bundled_same,
        "benchmark_file_rows": file_rows,
        "history_masked_by_us": sequential,
        "counts": {
            "users": int(dataset.user_num - 1),
            "items": int(dataset.item_num - 1),
            "interactions": int(dataset.inter_num),
            "train_rows": len(train_data.dataset),
            "valid_rows": len(valid_data.dataset),
            "test_rows": len(test_data.dataset),
        },
        "examples_per_epoch": int(train_data.sample_size),
        "prep_seconds": prep_seconds,
        "build_seconds": build_seconds,
        "fit_seconds": fit_seconds,
        "epoch_seconds": trainer.epoch_seconds,
        "whole_fit_seconds": whole_fits,
        "losses": trainer.losses,
        "valid_curve": trainer.valid_curve,
        "best_valid": float(best_valid) if best_valid is not None else None,
        "best_epoch": best_epoch,
        "valid_metric": vm,
        "epochs_run": len(trainer.epoch_seconds),
        "test": {k: float(v) for k, v in result.items()},
        "test_repeat_check": {k: float(v) for k, v in again.items()},
        "test_native": native,
        "eval_seconds": statistics.median(eval_times),
        "eval_seconds_all": eval_times,
        "eval_forward_seconds": statistics.median(forward_times),
        "config": {k: _plain(config[k]) for k in sorted(cfg) if k in config.final_config_dict},
        **loaded,
    }


def _plain(v):
    try:
        json.dumps(v)
        return v
    except TypeError:
        return str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="GroupLens ml-100k u.data (compared with RecBole's copy)")
    ap.add_argument(
        "--workdir",
        required=True,
        type=Path,
        help=f"scratch folder holding {DATASET}/ (pre-split files); checkpoints, logs",
    )
    ap.add_argument("--spec", required=True, help="JSON: model, threads, eval_repeats, config")
    args = ap.parse_args()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("  [recbole] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # RecBole logs through the root logger; left at WARNING
    spec = json.loads(args.spec)
    sys.argv = sys.argv[:1]  # RecBole's Config also reads "--key=value" options from the command line
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(args.workdir)
    try:
        out = run(spec, args.data.resolve(), args.workdir.resolve())
    except Exception as exc:  # reported to the caller, which prints it in the table
        traceback.print_exc()
        out = {"ok": False, "model": spec.get("model"), "error": f"{type(exc).__name__}: {exc}"}
    print("RESULT_JSON: " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
