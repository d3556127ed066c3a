"""RecBole side of ``benchmarks/eval_recbole.py``: one full-ranking test pass of RecBole 1.2.1's evaluator.

Run by the RecBole virtual environment's interpreter (never imported by ssl4rec)::

    /work/venvs/recbole/bin/python benchmarks/_recbole_eval_side.py --workdir TMP --spec JSON

The caller writes ssl4rec's leave-one-out split into ``WORKDIR/<dataset>/<dataset>.{train,valid,test}.inter``
(tokens = ssl4rec's internal user / item ids) and the score model's factors into ``WORKDIR/factors.npz``
(``users [n_users, d]``, ``items [n_items, d]``, rows indexed by those ids). RecBole loads the
pre-split files (``benchmark_filename``), builds its full-ranking test loader (history = the earlier
files' items, excluded from the candidates), and a ``BPR`` model whose embeddings are set to the
given factors through RecBole's token maps, so both frameworks rank with identical scores
``u . i``. Nothing is trained. ``trainer.evaluate(test_data, load_best_model=False)`` is timed
``repeats`` times for every ``eval_batch_size`` in ``--spec`` (RecBole scores
``eval_batch_size // n_items`` users per call), each with a test loader built as
``data_preparation`` builds it, over the dataset prepared once.

Prints progress on stderr and one line ``RESULT_JSON: {...}`` on stdout: data preparation seconds,
per batch size the evaluation seconds and test metrics, peak RSS, and the versions.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
import time
import traceback
from pathlib import Path

log = logging.getLogger("recbole-eval-side")


def run(spec: dict, workdir: Path) -> dict:
    import numpy as np
    import recbole
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    threads = int(spec.get("threads", 1))
    torch.set_num_threads(threads)
    factors = np.load(workdir / "factors.npz")
    users, items = factors["users"], factors["items"]
    out: dict = {"ok": True, "versions": {"recbole": recbole.__version__, "torch": torch.__version__, "numpy": np.__version__}}
    out["runs"] = []
    cfg = dict(spec["config"])
    cfg.update(
        data_path=str(workdir),
        checkpoint_dir=str(workdir / "saved"),
        use_gpu=False,
        show_progress=False,
        embedding_size=int(users.shape[1]),
        eval_batch_size=int(spec["eval_batch_sizes"][0]),
    )
    t0 = time.perf_counter()
    config = Config(model="BPR", dataset=spec["dataset"], config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    torch.set_num_threads(threads)
    dataset = create_dataset(config)
    train_data, _valid, test_data = data_preparation(config, dataset)
    prep = time.perf_counter() - t0
    log.info("data preparation %.1fs: %d users, %d items", prep, dataset.user_num - 1, dataset.item_num - 1)
    model = get_model("BPR")(config, train_data.dataset)
    u_tok = dataset.field2id_token[dataset.uid_field]
    i_tok = dataset.field2id_token[dataset.iid_field]
    with torch.no_grad():
        ue, ie = model.user_embedding.weight, model.item_embedding.weight
        ue.zero_()
        ie.zero_()
        ue[1:] = torch.from_numpy(users[np.asarray(u_tok[1:], dtype=np.int64)])  # row 0 = [PAD]
        ie[1:] = torch.from_numpy(items[np.asarray(i_tok[1:], dtype=np.int64)])
    trainer = get_trainer(config["MODEL_TYPE"], "BPR")(config, model)
    for batch in spec["eval_batch_sizes"]:
        # a new test loader over the same prepared dataset (its torch batch sampler is fixed at
        # construction), as data_preparation builds it
        config["eval_batch_size"] = int(batch)
        loader = type(test_data)(config, test_data._dataset, test_data._sampler, shuffle=False)
        times, result = [], None
        for _ in range(int(spec.get("repeats", 3))):
            t = time.perf_counter()
            res = trainer.evaluate(loader, load_best_model=False, show_progress=False)
            times.append(time.perf_counter() - t)
            result = result or {k: float(v) for k, v in res.items()}
        log.info("eval_batch_size %d: eval %s s", batch, ", ".join(f"{x:.2f}" for x in times))
        out["runs"].append(
            {
                "eval_batch_size": int(batch),
                "users_per_call": max(1, int(batch) // int(dataset.item_num)),
                "eval_seconds": statistics.median(times),
                "eval_seconds_all": times,
                "test": result,
            }
        )
    out.update(prep_seconds=prep, n_users=int(dataset.user_num - 1), n_items=int(dataset.item_num - 1))
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--spec", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s recbole: %(message)s", datefmt="%H:%M:%S")
    try:
        out = run(json.loads(args.spec), Path(args.workdir))
    except Exception as exc:  # reported to the caller as a table cell
        traceback.print_exc()
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print("RESULT_JSON: " + json.dumps(out))


if __name__ == "__main__":
    main()
