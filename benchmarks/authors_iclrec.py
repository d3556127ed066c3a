"""Train ICLRec (or CoSeRec) with its authors' code on CPU and set its validation curve beside ssl4rec's rows.

Usage::

    python benchmarks/authors_iclrec.py --mirror DIR --python ENV/bin/python --epochs 40 --out RUN_DIR
                                        [--code iclrec|coserec] [--readme]

Why: ssl4rec's ICLRec row stays 10-17% below ICLRec's Table 2 while the released checkpoint, scored by
ssl4rec's evaluator, gives the published values exactly (``released_checkpoint.py``), so the gap is in
training; CoSeRec (the same authors' code family) misses by 10-13%. Training the authors' code for the same
number of epochs on the same files and comparing the validation curves (full ranking, history masked, NDCG@20
on the second-to-last item: the same quantity both sides early-stop on) tells whether the code learns faster
than ours from the start, and by how much.

``--mirror`` is a git directory of the code's repository (``fetch`` gives one): salesforce/ICLRec for
``--code iclrec`` (default), YChen1993/CoSeRec for ``--code coserec``. The script exports ``src/`` and
``data/Beauty.txt`` at the pinned commit into ``--out`` and runs ``src/main.py`` there, unmodified, with the
arguments of the repository's Beauty script (ICLRec ``src/scripts/run_beauty.sh``, CoSeRec ``src/beauty.sh``)
plus ``--epochs`` / ``--seed`` / ``--no_cuda``, in the interpreter given by ``--python`` (its own environment:
torch, faiss-cpu, gensim, numpy, scipy, tqdm). The one change is at run time: ICLRec builds its k-means index
with faiss's GPU classes, which a CPU faiss lacks, so a launcher maps ``GpuIndexFlatL2`` to ``IndexFlatL2``
(the same exact L2 search) before ``main.py`` runs. Their Beauty.txt is checked against ssl4rec's
``amazon-beauty`` file (sha256).

Ours: the per-epoch validation NDCG@20 stored in the published records of ``configs/reproduce/
iclrec_beauty.yaml`` (row ICLRec or CoSeRec, every seed) and that row's unfinished labelled variants'
progress files (``leaderboards/reproductions/iclrec_beauty/unfinished/``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import _report  # noqa: E402, F401, I001  (imported first: stamps the commit the run starts from)

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "leaderboards" / "reproductions" / "iclrec_beauty" / "records" / "amazon-beauty" / "leave_one_out"
UNFINISHED = ROOT / "leaderboards" / "reproductions" / "iclrec_beauty" / "unfinished"
#: per code: repository, pinned commit, its Beauty script's arguments, the log its main.py writes, our row
CODES = {
    "iclrec": {
        "repo": "salesforce/ICLRec",
        "commit": "2890e6c3ff6a22c6699fc19cb863b66786c1cde4",
        "script": "src/scripts/run_beauty.sh",
        "args": (
            "--data_name Beauty --cf_weight 0.1 --model_idx 1 --gpu_id 0 --batch_size 256 --contrast_type Hybrid "
            "--num_intent_cluster 256 --seq_representation_type mean --warm_up_epoches 0 --intent_cf_weight 0.1 "
            "--num_hidden_layers 1"
        ).split(),
        "log": "ICLRec-Beauty-1.txt",
        "row": "ICLRec",
    },
    "coserec": {
        "repo": "YChen1993/CoSeRec",
        "commit": "692cb4108c458bfb60c1bcd0daa5f2a12e0b362d",
        "script": "src/beauty.sh",
        "args": (
            "--data_name Beauty --augment_threshold 12 --augmentation_warm_up_epoches 220 --augment_type_for_short "
            "SIMRC --insert_rate 0.5 --substitute_rate 0.05 --model_idx 2 --gpu_id 0"
        ).split(),
        "log": "CoSeRec-Beauty-2.txt",
        "row": "CoSeRec",
    },
}

LAUNCHER = '''\
"""Run the authors' main.py on the CPU: a GPU flat L2 index of faiss becomes the CPU one (same exact search)."""
import runpy, sys
import torch

torch.set_num_threads(int(sys.argv.pop(1)))
try:
    import faiss
except ImportError:  # CoSeRec's code does not use faiss
    faiss = None


class _Resources:
    def noTempMemory(self):
        pass


class _Config:
    pass


if faiss is not None:
    faiss.StandardGpuResources = _Resources
    faiss.GpuIndexFlatConfig = _Config
    faiss.GpuIndexFlatL2 = lambda res, dim, cfg: faiss.IndexFlatL2(dim)
sys.argv[0] = "main.py"
runpy.run_path("main.py", run_name="__main__")
'''


def export(mirror: Path, out: Path, commit: str) -> None:
    """``src/`` (no checkpoints) and ``data/Beauty.txt`` of the code's repository at ``commit`` into ``out``, file
    by file (a snapshot may lack the large files of other datasets, which ``git archive`` would need)."""

    def git(*cmd: str) -> bytes:
        r = subprocess.run(["git", "--git-dir", str(mirror), *cmd], capture_output=True)
        if r.returncode:
            sys.exit(f"error: {mirror}: git {' '.join(cmd)}: {r.stderr.decode().strip()}")
        return r.stdout

    names = git("ls-tree", "-r", "--name-only", commit, "src").decode().split()
    for name in [n for n in names if not n.endswith(".pt")] + ["data/Beauty.txt"]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(git("show", f"{commit}:{name}"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_log(path: Path) -> tuple[list[dict], list[dict]]:
    """Their log file: one dict per line, training lines ({'epoch', 'rec_avg_loss', ...}) and validation
    lines ({'Epoch', 'HIT@5', ...}); the args line and the final test lines are skipped."""
    train, valid = [], []
    for line in path.read_text().splitlines():
        if not line.startswith("{"):
            continue
        d = ast.literal_eval(line)
        (train if "epoch" in d else valid).append(d)
    return train, valid[: len(train)]  # the line after the last epoch is the test of the best checkpoint


def ours(row: str) -> dict[str, dict[int, float]]:
    """Validation NDCG@20 by epochs trained, per published record of ``row`` and its unfinished variants."""
    curves: dict[str, dict[int, float]] = {}
    for f in sorted((RECORDS / row).glob("seed*.json")):
        rec = json.loads(f.read_text())
        valid = rec["fit_info"]["valid"]
        # these records predate counting epochs from 1: evaluated every 2 epochs at 0-based 1, 3, 5, ...
        zero_based = all(e % 2 == 1 for e, _ in valid)
        curves[f"{row} seed {rec['seed']}"] = {e + zero_based: v for e, v in valid}
    for f in sorted(UNFINISHED.glob(f"{row}_*.progress.json")):
        prog = json.loads(f.read_text())
        curves[f.name.split(".")[0].replace("_", " ")] = {e: v for e, v in prog["valid"]}
    return curves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirror", type=Path, required=True, help="git directory of the code's repository")
    ap.add_argument("--code", choices=sorted(CODES), default="iclrec", help="whose code: ICLRec's or CoSeRec's")
    ap.add_argument("--python", required=True, help="interpreter of the environment that runs their code")
    ap.add_argument("--out", type=Path, required=True, help="run folder (their code and log go here)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1, help="their --seed (run_beauty.sh leaves the default, 1)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("SSL4REC_DATA", "data")))
    ap.add_argument("--report-only", action="store_true", help="parse an existing run folder's log")
    ap.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    args = ap.parse_args()

    code = CODES[args.code]
    log = args.out / "src" / "output" / code["log"]
    if not args.report_only:
        if args.out.exists() and any(args.out.iterdir()):
            sys.exit(f"error: {args.out} is not empty; give a new --out (or --report-only to read its log)")
        args.out.mkdir(parents=True, exist_ok=True)
        export(args.mirror, args.out, code["commit"])
        theirs, mine = args.out / "data" / "Beauty.txt", args.data / "s3rec" / "Beauty.txt"
        if mine.exists() and sha256(theirs) != sha256(mine):
            sys.exit(f"error: {theirs} differs from {mine}: not the same Beauty sequences")
        (args.out / "src" / "_cpu_launch.py").write_text(LAUNCHER)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        cmd = [args.python, "_cpu_launch.py", str(args.threads), *code["args"], "--no_cuda"]
        cmd += ["--epochs", str(args.epochs), "--seed", str(args.seed)]
        t0 = time.perf_counter()
        with open(args.out / "stdout.log", "w") as fh:
            rc = subprocess.run(cmd, cwd=args.out / "src", env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - t0
        if rc != 0:
            sys.exit(f"error: their main.py exited with {rc}; see {args.out / 'stdout.log'}")
        run = {"epochs": args.epochs, "seed": args.seed, "threads": args.threads, "wall_seconds": round(wall, 1)}
        (args.out / "run.json").write_text(json.dumps({**run, "started_at_commit": _report.STARTED_AT}))
        print(f"their code: {args.epochs} epochs in {wall:.0f} s ({wall / args.epochs:.1f} s/epoch, incl. validation)")

    train, valid = parse_log(log)
    test = [ast.literal_eval(x) for x in log.read_text().splitlines() if x.startswith("{'Epoch'")][len(train) :]
    curves = ours(code["row"])
    names = list(curves)
    header = ["epochs", "theirs: rec loss", "theirs: valid NDCG@20", *[f"{n}: valid NDCG@20" for n in names]]
    rows = []
    for i, v in enumerate(valid):
        n = v["Epoch"] + 1  # their epochs count from 0
        loss = train[i]["rec_avg_loss"] if i < len(train) else "-"
        rows.append([n, loss, v["NDCG@20"], *[f"{curves[c][n]:.4f}" if n in curves[c] else "" for c in names]])
    rows = [r for r in rows if r[0] % 2 == 0]  # ours are validated every 2 epochs
    body = _report.table(header, rows)
    if test:  # their main.py ends by testing the checkpoint of its best validation epoch
        best = max(valid, key=lambda v: float(v["NDCG@20"]))
        body += (
            f"\n\nTheir test after {len(train)} epochs (checkpoint of epoch {best['Epoch'] + 1}, valid NDCG@20 "
            f"{best['NDCG@20']}): " + ", ".join(f"{k} {v}" for k, v in test[-1].items() if k != "Epoch")
        )
    print(body)
    run_file = args.out / "run.json"
    if run_file.exists():  # the training run's own facts (a --report-only pass re-reads its log later)
        run = json.loads(run_file.read_text())
        body += (
            f"\n\nTrained from commit {run['started_at_commit']}: {run['epochs']} epochs, seed {run['seed']}, "
            f"{run['threads']} thread(s), {run['wall_seconds'] / run['epochs']:.1f} s/epoch with validation."
        )
    if args.readme:
        text = (
            f"{code['repo']} @ {code['commit'][:7]} `src/main.py` with `{code['script']}`'s arguments, seed "
            f"{args.seed}, {args.threads} thread(s)" + (", CPU faiss" if args.code == "iclrec" else "") + "; ours "
            "from the published records of `configs/reproduce/iclrec_beauty.yaml`. Epochs trained, validation "
            "NDCG@20 (full ranking, history masked):\n\n" + body
        )
        name = code["row"]
        _report.update_readme(
            f"authors_{args.code}", f"{name}'s authors' code vs ssl4rec's {name}: validation curves", text
        )


if __name__ == "__main__":
    main()
