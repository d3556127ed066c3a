"""ssl4rec's graph presets side by side with SELFRec (Coder-Yu/SELFRec) on the same split.

Usage::

    python benchmarks/compare_graph.py --selfrec PATH [--python PY] [--datasets ml-100k,amazon-beauty]
                                       [--models LightGCN,SGL,SimGCL,XSimGCL] [--epochs 8] [--threads 1]
                                       [--repeats 1] [--readme]

``PATH`` is a checkout of SELFRec (its ``.py`` files and ``conf/``); ``PY`` a Python with its
dependencies (torch, numba, numpy, scipy, pyyaml; faiss-cpu for NCL, whose ``faiss.Kmeans(gpu=True)`` runs
on the CPU when faiss sees no GPU), e.g. a virtual environment made for this benchmark (SELFRec is not a
package: it runs from its folder). SELFRec's code is not changed: a
small runner written next to the exported data makes ``.cuda()`` a no-op so its models run on
the CPU, overrides the data paths and the epoch count in its configuration, and times its
training apart from its per-epoch test evaluation.

For each dataset the script makes ssl4rec's random 8:1:1 split (seed 0), writes the training and
test interactions in SELFRec's ``user item weight`` format (ssl4rec's dense ids), checks from
SELFRec's own log that it loaded exactly those users, items and interactions, trains every model
``--epochs`` epochs on both sides (SELFRec's settings from its ``conf/`` for both: ssl4rec's presets
take them), and prints per model: test NDCG@20 and Recall@20 at the last epoch SELFRec evaluated
(its "current performance" line, not its best-on-test epoch; LightGCN evaluates every 5th epoch,
so ``--epochs 21`` ends on an evaluation), ssl4rec trained exactly that many epochs, and seconds
per training epoch. Both
rank all items the user has no training interaction with (the split's valid interactions are
neither trained on nor masked on either side: SELFRec is given only the training and test files);
SELFRec drops test pairs whose user or item has no training interaction, ssl4rec counts them as
misses (on a random 8:1:1 split almost none). ``--readme`` writes the table into ``benchmarks/README.md``
(a section per ``--datasets`` list: ML-100K's and Beauty's tables stand side by side).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import _report  # noqa: E402, F401, I001  (imported first: stamps the commit the run starts from)

import ssl4rec.ssl  # noqa: E402, F401  (registers the presets)
from ssl4rec.datasets import load_dataset  # noqa: E402
from ssl4rec.evaluation.evaluator import Protocol, evaluate  # noqa: E402
from ssl4rec.evaluation.splits import make_split  # noqa: E402
from ssl4rec.registry import PRESETS  # noqa: E402

PRESET_OF = {
    "LightGCN": "lightgcn",
    "SGL": "sgl",
    "SimGCL": "simgcl",
    "XSimGCL": "xsimgcl",
    "NCL": "ncl",
    "DirectAU": "directau",
}

RUNNER = '''"""Runs one SELFRec model on the CPU with the exported split (written by ssl4rec's compare_graph.py)."""
import importlib, os, random, sys, time
sys.path.insert(0, os.getcwd())  # SELFRec runs from its own folder
import numpy
import torch
torch.set_num_threads(int(sys.argv[4]))
seed = int(sys.argv[5])  # SELFRec seeds nothing itself: every source it draws from, seeded here
random.seed(seed)
numpy.random.seed(seed)
torch.manual_seed(seed)
torch.Tensor.cuda = lambda self, *a, **k: self
torch.nn.Module.cuda = lambda self, *a, **k: self
from data.loader import FileIO
from base.graph_recommender import GraphRecommender
from util.conf import ModelConf
spent = [0.0]
evaluate = GraphRecommender.fast_evaluation
def timed(self, epoch):
    t = time.perf_counter()
    try:
        return evaluate(self, epoch)
    finally:
        spent[0] += time.perf_counter() - t
GraphRecommender.fast_evaluation = timed
name, data, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
conf = ModelConf(f"./conf/{name}.yaml")
if len(sys.argv) > 6 and name == "NCL":  # --ncl-clusters: its k-means k (the conf's 2000 needs >= 2000 users)
    conf.config["NCL"]["num_clusters"] = int(sys.argv[6])
conf.config["training.set"] = f"{data}/train.txt"
conf.config["test.set"] = f"{data}/test.txt"
conf.config["max.epoch"] = epochs
conf.config["item.ranking.topN"] = [20]
conf.config["output"] = f"{data}/out/"
train = FileIO.load_data_set(conf["training.set"], "graph")
test = FileIO.load_data_set(conf["test.set"], "graph")
model = getattr(importlib.import_module(f"model.graph.{name}"), name)(conf, train, test)
model.initializing_log()
model.print_model_info()
model.build()
t = time.perf_counter()
model.train()  # SELFRec's own loop; its per-epoch test evaluation is timed apart
total = time.perf_counter() - t
print(f"COMPARE_GRAPH train_seconds={total - spent[0]:.3f} eval_seconds={spent[0]:.3f}")
'''


def export(split, folder: Path) -> dict[str, int]:
    """Our split's training and test interactions in SELFRec's format; returns what SELFRec should load."""
    folder.mkdir(parents=True, exist_ok=True)
    c = split.train.csr.tocoo()
    (folder / "train.txt").write_text("".join(f"{u} {i} 1\n" for u, i in zip(c.row, c.col, strict=True)))
    t = split.test
    (folder / "test.txt").write_text("".join(f"{u} {i} 1\n" for u, i in zip(t["user"], t["item"], strict=True)))
    return {
        "users": int((split.train.user_counts > 0).sum()),
        "items": int((split.train.item_counts > 0).sum()),
        "interactions": int(c.nnz),
    }


def run_selfrec(
    selfrec: Path,
    python: str,
    name: str,
    data: Path,
    epochs: int,
    threads: int,
    seed: int = 0,
    ncl_clusters: int | None = None,
) -> dict[str, float]:
    (data / "run_selfrec.py").write_text(RUNNER)
    extra = [str(ncl_clusters)] if ncl_clusters else []
    res = subprocess.run(
        [python, str(data / "run_selfrec.py"), name, str(data), str(epochs), str(threads), str(seed), *extra],
        cwd=selfrec,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    if res.returncode != 0:
        raise SystemExit(f"SELFRec {name} failed:\n{res.stderr[-3000:]}")
    out = res.stdout
    sizes = re.search(r"Training Set Size: \(user number: (\d+), item number: (\d+), interaction number: (\d+)\)", out)
    epochs_seen = re.findall(r"\*Current Performance\*\nEpoch: (\d+), (.*)", out)
    timing = re.search(r"COMPARE_GRAPH train_seconds=([\d.]+) eval_seconds=([\d.]+)", out)
    if not (sizes and epochs_seen and timing):
        raise SystemExit(f"SELFRec {name}: could not read its log (format changed?)\n{out[-3000:]}")
    last = dict(kv.split(": ") for kv in epochs_seen[-1][1].split(", "))
    return {
        "users": int(sizes.group(1)),
        "items": int(sizes.group(2)),
        "interactions": int(sizes.group(3)),
        "epoch": int(epochs_seen[-1][0]),
        "ndcg@20": float(last["NDCG"]),
        "recall@20": float(last["Recall"]),
        "s_epoch": float(timing.group(1)) / epochs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--selfrec", required=True, help="a checkout of Coder-Yu/SELFRec")
    ap.add_argument("--python", default=sys.executable, help="a Python with SELFRec's dependencies")
    ap.add_argument("--datasets", default="ml-100k")
    ap.add_argument("--models", default="LightGCN,SGL,SimGCL,XSimGCL")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--repeats", type=int, default=1, help="runs per model and side, seeds 0..N-1 (mean +- std of the metrics)"
    )
    ap.add_argument(
        "--ncl-clusters",
        type=int,
        default=None,
        help="NCL's k-means k on both sides (SELFRec's conf has 2000, which faiss refuses below 2000 users)",
    )
    ap.add_argument("--readme", action="store_true")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats must be >= 1, got {args.repeats}")
    torch.set_num_threads(args.threads)
    selfrec = Path(args.selfrec).resolve()
    protocol = Protocol(ks=(20,), metrics=("ndcg", "recall"), valid_metric="ndcg@20")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
            split = make_split(load_dataset(name, download=False), "random", seed=0, ratios=(0.8, 0.1, 0.1))
            data = Path(tmp) / name
            expect = export(split, data)
            for model in [m.strip() for m in args.models.split(",") if m.strip()]:
                runs = []  # (ours ndcg, ours recall, peer ndcg, peer recall, ours s/epoch, peer s/epoch) per seed
                for seed in range(args.repeats):
                    peer = run_selfrec(
                        selfrec, args.python, model, data, args.epochs, args.threads, seed, args.ncl_clusters
                    )
                    loaded = {k: peer[k] for k in ("users", "items", "interactions")}
                    if loaded != expect:
                        raise SystemExit(f"SELFRec loaded {loaded} for {name}, not the exported split {expect}")
                    # SELFRec's LightGCN evaluates every 5th epoch and SGL from the 6th: compare at the epoch
                    # of its last evaluation, which ours trains exactly
                    extra = {}
                    if model == "NCL" and args.ncl_clusters:
                        extra["objectives"] = {"prototype_contrastive": {"num_clusters": args.ncl_clusters}}
                    ours = PRESETS.get(PRESET_OF[model])(epochs=peer["epoch"], seed=seed, **extra)
                    ours.fit(split.train)
                    # SELFRec knows only the files it is given: the valid interactions are neither trained on nor
                    # masked there, so ours ranks them as candidates too (history = train only)
                    m = evaluate(
                        ours, dataclasses.replace(split, valid=split.valid.iloc[:0]), "test", protocol, progress=False
                    ).metrics
                    s_ep = sum(ours.fit_info["epoch_seconds"]) / len(ours.fit_info["epoch_seconds"])
                    runs.append(
                        (m["ndcg@20"], m["recall@20"], peer["ndcg@20"], peer["recall@20"], s_ep, peer["s_epoch"])
                    )
                    print(
                        f"  {name} {model} seed {seed}: ours NDCG@20 {m['ndcg@20']:.4f}, SELFRec {peer['ndcg@20']:.4f}; "
                        f"s/epoch {s_ep:.2f} vs {peer['s_epoch']:.2f}",
                        flush=True,
                    )
                rows.append((name, model, peer["epoch"], runs))
    header = [
        "dataset",
        "model",
        "epochs",
        "NDCG@20 ours",
        "NDCG@20 SELFRec",
        "Recall@20 ours",
        "Recall@20 SELFRec",
        "s/epoch ours",
        "s/epoch SELFRec",
        "speed-up",
    ]
    if args.repeats > 1:
        header[3:5] = ["NDCG@20 ours", "NDCG@20 SELFRec", "NDCG@20 diff"]

    def cell(values: list[float]) -> str:
        return f"{statistics.mean(values):.4f}" + (f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else "")

    body = []
    for d, mo, ep, runs in rows:
        n, r, pn, pr, s, ps = (list(col) for col in zip(*runs, strict=True))
        speed = statistics.median(ps) / statistics.median(s)
        ndcg = [cell(n), cell(pn)]
        if args.repeats > 1:
            ndcg.append(f"{statistics.mean(n) / statistics.mean(pn) - 1:+.1%}")
        times = [f"{statistics.median(s):.2f}", f"{statistics.median(ps):.2f}", f"{speed:.2f}x"]
        body.append([d, mo, ep, *ndcg, cell(r), cell(pr), *times])
    assert all(len(r) == len(header) for r in body), "table columns"
    print()
    print(_report.table(header, body))
    if args.readme:
        caption = (
            f"Same random 8:1:1 split (seed 0) loaded by both (checked from SELFRec's log); up to {args.epochs} epochs, "
            f"{args.threads} thread(s), SELFRec's settings on both sides; test metrics at SELFRec's last evaluated "
            "epoch (the epochs column), ssl4rec trained as many. "
            + (
                f"{args.repeats} runs per model and side (seeds 0-{args.repeats - 1}; SELFRec's random, numpy and torch "
                "sources seeded by the runner, as SELFRec seeds none): metrics are mean ± std, s/epoch the median "
                "of the runs' means. "
                if args.repeats > 1
                else "One run per model and side (seed 0). "
            )
            + "Other jobs shared the 2 cores while it ran."
        )
        # one README section per dataset list, so a Beauty run does not replace the ML-100K table
        names = [d.strip() for d in args.datasets.split(",") if d.strip()]
        section, title = "compare_graph", "ssl4rec vs SELFRec: graph models"
        if names != ["ml-100k"]:
            section, title = f"compare_graph {','.join(names)}", f"{title} ({', '.join(names)})"
        _report.update_readme(section, title, caption + "\n\n" + _report.table(header, body))


if __name__ == "__main__":
    main()
