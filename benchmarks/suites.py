"""Wall-clock time of whole suites, end to end, as a user runs them (issue target: quickstart
under 2 minutes, the ML-100K baseline suite under 5 minutes on a 2-core CPU).

Usage::

    python benchmarks/suites.py [--repeats 1] [--threads N] [--readme]

Each suite runs as ``python run_bench.py run SUITE --out <fresh temporary folder>`` in a
subprocess (interpreter start, imports, data loading and parsing, splitting, training,
evaluation, records and leaderboards all included); nothing is reused between repeats. Suites:

* ``quickstart``: ``configs/quickstart.yaml`` (the five baselines on MovieLens latest-small).
* ``ml100k-baselines``: ``configs/ml100k.yaml --models pop,itemknn,bpr,ease,content --seeds 0``
  (the five baselines, default parameters, over the suite's eight splits, one seed).

Reads the data from ``$SSL4REC_DATA``. The load average before and after is printed because
other jobs on the machine inflate the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = {
    "quickstart": (["configs/quickstart.yaml"], 120.0),
    "ml100k-baselines": (["configs/ml100k.yaml", "--models", "pop,itemknn,bpr,ease,content", "--seeds", "0"], 300.0),
}


def run_once(args: list[str], threads: int | None) -> tuple[float, int, str]:
    """Seconds, cells written and the last stderr line of one end-to-end run."""
    with tempfile.TemporaryDirectory(prefix="ssl4rec-suite-") as tmp:
        cmd = [sys.executable, str(ROOT / "run_bench.py"), "run", *args, "--out", tmp]
        if threads:
            cmd += ["--threads", str(threads)]
        env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
        cells = len(list(Path(tmp, "records").rglob("*.json")))
        last = (proc.stderr.strip().splitlines() or [""])[-1]
    return seconds, cells, last


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: torch's choice)")
    p.add_argument("--suites", default=",".join(SUITES), help="comma-separated: " + ", ".join(SUITES))
    p.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    args = p.parse_args()
    if not os.environ.get("SSL4REC_DATA"):
        raise SystemExit("set SSL4REC_DATA to the data folder (e.g. ../shared/data)")
    load0 = os.getloadavg()[0]
    rows = []
    for name in [s.strip() for s in args.suites.split(",") if s.strip()]:
        suite_args, target = SUITES[name]
        times = []
        for _ in range(args.repeats):
            seconds, cells, _ = run_once(suite_args, args.threads)
            times.append(seconds)
            print(f"{name}: {seconds:.1f} s ({cells} records)", flush=True)
        med = statistics.median(times)
        rows.append([name, f"`{' '.join(suite_args)}`", cells, f"{med:.1f}", f"{target:.0f}", "yes" if med < target else "no"])
    load1 = os.getloadavg()[0]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import table, update_readme

    header = ["suite", "arguments", "records", f"wall s (median of {args.repeats})", "target s", "met"]
    body = table(header, rows) + (
        f"\n\nEnd to end in a subprocess (interpreter start, imports, data parsing, splits, training, evaluation, "
        f"records, leaderboards), a fresh results folder each time. Load average {load0:.1f} before, {load1:.1f} after "
        "(other jobs on the machine inflate the figures)."
    )
    print(body)
    if args.readme:
        update_readme("suites", "Whole suites, end to end (suites.py)", body)


if __name__ == "__main__":
    main()
