"""The ML-100K baseline suite sequentially and through Ray with local workers: wall time, the
scheduling overhead per cell, and whether every cell's metrics are identical.

Usage::

    python benchmarks/distributed.py [--workers 2] [--threads 1] [--readme]

Runs ``configs/ml100k.yaml --models pop,itemknn,bpr,ease,content --seeds 0`` (five baselines over
the suite's eight splits: 40 cells) twice in subprocesses, each into a fresh folder: once as
``ssl4rec run`` (one process), once as ``ssl4rec run --executor ray --workers N`` (a local Ray
instance). Two per-cell overheads, both counting idle workers (an upper bound):

- *gross* = (Ray wall time x workers - the cells' own fit + evaluation seconds, read from the Ray
  run's records) / cells: everything but the cells, including what a sequential run pays as well
  (the driver's imports, data check, leaderboard writing), multiplied by the workers idle meanwhile;
- *Ray's own* = ((Ray wall time - the sequential run's time outside its cells) x workers - the Ray
  cells' seconds) / cells: what distributing adds (Ray's start and shutdown, worker processes'
  imports and data, task submission, the last cells' imbalance);
- *per cell beyond Ray's start* = the same without Ray's fixed start (a local instance started,
  one worker per slot booted with ssl4rec imported, shut down: measured on its own first), i.e.
  what each further cell costs.

Needs the ``[ray]`` extra and ``$SSL4REC_DATA``; run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ["configs/ml100k.yaml", "--models", "pop,itemknn,bpr,ease,content", "--seeds", "0"]


def run(extra: list[str], threads: int, out: Path) -> float:
    cmd = [sys.executable, str(ROOT / "run_bench.py"), "run", *SUITE, "--out", str(out), "--threads", str(threads), *extra]
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return seconds


RAY_FIXED = """
import sys, time
t0 = time.perf_counter()
import ray
ray.init(num_cpus=int(sys.argv[1]), include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")

@ray.remote(num_cpus=1)
def boot(_):
    import ssl4rec.running.executors  # what a cell's worker imports before its first cell
    import time
    time.sleep(0.5)  # keep the worker busy so that each task lands on its own worker
    return 0

ray.get([boot.remote(i) for i in range(int(sys.argv[1]))])
ray.shutdown()
print(time.perf_counter() - t0 - 0.5)
"""


def ray_fixed(workers: int) -> float:
    """Seconds a Ray run spends whatever its cells: start a local instance, boot one worker per slot
    (importing ssl4rec and torch there), shut down; measured on its own, in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", RAY_FIXED, str(workers)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"measuring Ray's start failed:\n{proc.stderr[-3000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def records(out: Path) -> dict[str, dict]:
    return {r["cell_id"]: r for r in (json.loads(p.read_text()) for p in out.glob("records/**/seed*.json"))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    args = p.parse_args()
    if not os.environ.get("SSL4REC_DATA"):
        raise SystemExit("set SSL4REC_DATA to the data folder (e.g. ../shared/data)")
    load0 = os.getloadavg()[0]
    fixed = ray_fixed(args.workers)
    with tempfile.TemporaryDirectory(prefix="ssl4rec-dist-") as tmp:
        seq_s = run([], args.threads, Path(tmp, "seq"))
        ray_s = run(["--executor", "ray", "--workers", str(args.workers)], args.threads, Path(tmp, "ray"))
        seq, ray = records(Path(tmp, "seq")), records(Path(tmp, "ray"))
    same = sum(seq[c]["metrics"] == ray.get(c, {}).get("metrics") for c in seq)
    def cell_seconds(recs: dict[str, dict]) -> float:
        return sum((r.get("fit_seconds") or 0.0) + (r.get("eval_seconds") or 0.0) for r in recs.values())

    compute, seq_outside = cell_seconds(ray), seq_s - cell_seconds(seq)
    overhead = (ray_s * args.workers - compute) / max(1, len(ray))
    own = ((ray_s - seq_outside) * args.workers - compute) / max(1, len(ray))
    marginal = ((ray_s - seq_outside - fixed) * args.workers - compute) / max(1, len(ray))
    load1 = os.getloadavg()[0]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import table, update_readme

    rows = [
        ["sequential (`ssl4rec run`)", len(seq), f"{seq_s:.1f}", "1.00", f"{cell_seconds(seq):.1f}", "–", "–", "–"],
        [
            f"Ray, {args.workers} local workers",
            len(ray),
            f"{ray_s:.1f}",
            f"{seq_s / ray_s:.2f}",
            f"{compute:.1f}",
            f"{overhead:.2f}",
            f"{own:.2f}",
            f"{marginal:.2f}",
        ],
    ]
    heads = [
        "how",
        "cells",
        "wall s",
        "speed-up",
        "cells' fit + eval s",
        "gross overhead s/cell",
        "Ray's own s/cell",
        "per cell beyond Ray's start",
    ]
    body = table(heads, rows) + (
        f"\n\n{same} of {len(seq)} cells have identical metrics in both runs. {args.threads} thread(s) per cell. "
        f"The sequential run spent {seq_outside:.1f} s outside its cells (imports, data, leaderboards), which the "
        "Ray run's driver spends too; *gross* charges it to the cells times the workers, *Ray's own* does not "
        f"(see the script's docstring). Ray's start, one worker boot per slot and shutdown, measured on their own: "
        f"{fixed:.1f} s, paid once per run whatever its cells; the last column leaves it out too. Load average {load0:.1f} before, {load1:.1f} after. "
        "Target: overhead < 0.5 s per cell."
    )
    print(body)
    if args.readme:
        update_readme("distributed", "Sequential vs Ray workers: ML-100K baselines (distributed.py)", body)


if __name__ == "__main__":
    main()
