"""Executors: a suite's cells as Ray tasks (local instance) and as Slurm jobs (submitit's local
executor), with the same records as a sequential run; a Ray worker killed mid-cell is retried and
resumes from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from ssl4rec import cli

SUITE = {
    "name": "exe",
    "datasets": [{"name": "synthetic", "params": {"n_users": 60, "n_items": 40, "n_interactions": 900}}],
    "splits": ["leave_one_out"],
    "models": ["pop", {"name": "bpr", "params": {"epochs": 3}}],
    "seeds": [0, 1],
}


def _metrics(out: Path) -> dict[str, dict]:
    recs = [json.loads(p.read_text()) for p in out.glob("records/**/seed*.json")]
    return {r["cell_id"]: r["metrics"] for r in recs}


def _task_pids(name: str) -> list[int]:
    """Processes whose command line names ``name`` (Ray titles a worker ``ray::<task>`` while it runs one)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if name.encode() in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def _suite(tmp_path: Path, suite: dict) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("seq")
    assert cli.main(["run", str(_suite(tmp, SUITE)), "--out", str(tmp / "res"), "--threads", "1"]) == 0
    return _metrics(tmp / "res")


def test_slurm_jobs_write_the_sequential_records(tmp_path, sequential):
    pytest.importorskip("submitit")
    out = tmp_path / "res"
    argv = ["run", str(_suite(tmp_path, SUITE)), "--out", str(out), "--threads", "1", "--executor", "slurm"]
    assert cli.main([*argv, "--slurm-cluster", "local", "--cells-per-job", "3"]) == 0
    assert _metrics(out) == sequential and len(sequential) == 4
    assert len(list((out / "slurm").rglob("*_result.pkl"))) == 2  # 4 cells in 2 array tasks


@pytest.mark.slow
def test_ray_tasks_write_the_sequential_records_and_a_killed_worker_is_retried(tmp_path, sequential):
    pytest.importorskip("ray")
    out = tmp_path / "res"
    path = _suite(tmp_path, SUITE)
    assert cli.main(["run", str(path), "--out", str(out), "--threads", "1", "--executor", "ray", "--workers", "2"]) == 0
    assert _metrics(out) == sequential
    assert not list(out.rglob("*.ckpt.pt"))  # checkpoints (on by default through an executor) cleaned up

    # the drill: a longer cell, its worker SIGKILLed after its third epoch
    long = {**SUITE, "models": [{"name": "sasrec", "params": {"epochs": 12, "max_len": 10, "batch_size": 16,
            "encoder": {"embedding_size": 16, "num_layers": 1}}}], "seeds": [0]}  # fmt: skip
    spath = _suite(tmp_path, long)
    base = ["run", str(spath), "--threads", "1"]
    assert cli.main([*base, "--out", str(tmp_path / "whole")]) == 0
    killed: list[int] = []

    def kill_when_running() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for prog in (tmp_path / "drill").rglob("*.progress"):
                try:
                    done = json.loads(prog.read_text())["epochs_done"]
                except (OSError, ValueError):
                    continue
                if done >= 3:
                    for pid in _task_pids("_run_cells"):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    return
            time.sleep(0.05)

    t = threading.Thread(target=kill_when_running)
    t.start()
    rc = cli.main([*base, "--out", str(tmp_path / "drill"), "--executor", "ray", "--workers", "1", "--retries", "2"])
    t.join()
    assert rc == 0 and killed, "the worker was not killed mid-cell"
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "drill").glob("records/**/seed0-*.json")]
    assert rec["fit_info"]["resumed_from"] and rec["fit_info"]["resumed_from"][0] >= 2  # from a checkpoint, not epoch 0
    assert rec["metrics"] == next(iter(_metrics(tmp_path / "whole").values()))  # as if never killed
    assert not list((tmp_path / "drill").glob("failed/**/*.json"))


def test_executor_bad_input_is_one_line(tmp_path, caplog):
    path = _suite(tmp_path, SUITE)
    out = tmp_path / "res"
    pytest.importorskip("submitit")
    if __import__("shutil").which("sbatch") is None:
        assert cli.main(["run", str(path), "--out", str(out), "--executor", "slurm"]) == 2
        assert "no Slurm here (sbatch not found)" in caplog.text
    caplog.clear()
    if __import__("importlib").util.find_spec("ray") is not None:
        assert cli.main(["run", str(path), "--out", str(out), "--executor", "ray", "--address", "127.0.0.1:9"]) == 2
        assert "cannot reach the Ray cluster at 127.0.0.1:9" in caplog.text
        caplog.clear()
    assert cli.main(["run", str(path), "--out", str(out), "--executor", "ray", "--workers", "0"]) == 2
    assert "--workers must be >= 1" in caplog.text
    assert not (out / "records").exists()


def test_tune_with_ray_workers_shares_one_budget(tmp_path):
    pytest.importorskip("ray")
    import optuna

    suite = {**SUITE, "models": [{"name": "itemknn"}], "seeds": [0]}
    out = tmp_path / "res"
    argv = [
        "tune",
        str(_suite(tmp_path, suite)),
        "--trials",
        "5",
        "--out",
        str(out),
        "--executor",
        "ray",
        "--workers",
        "2",
    ]
    assert cli.main([*argv, "--threads", "1"]) == 0
    study = optuna.load_study(
        study_name="exe/synthetic/leave_one_out/itemknn", storage=f"sqlite:///{out / 'tuning.db'}"
    )
    done = [t for t in study.trials if t.state.is_finished()]
    # one budget of 5 distinct configurations shared by the two workers (two separate budgets would
    # finish >= 10; a worker's running trial and repeated configurations can add a few)
    assert 5 <= len(done) < 10
    best = yaml.safe_load((out / "suite.best.yaml").read_text())
    assert best["cells"]["synthetic/leave_one_out/itemknn"]["trials"] == 5


def test_slurm_worker_is_requeued_with_its_cells_and_takes_its_own_claims_over(tmp_path, monkeypatch):
    """A job requeued after preemption or its time limit resubmits the same cells (submitit's
    checkpoint) and, by its job id, takes over the claims it held: the cells then resume from their
    checkpoints instead of being skipped as held by a live runner."""
    import json
    import subprocess
    import sys

    from submitit.helpers import Checkpointable, DelayedSubmission

    from ssl4rec.reporting.records import ResultsStore
    from ssl4rec.running.executors import SlurmCells

    worker = SlurmCells()
    assert isinstance(worker, Checkpointable)
    again = worker.checkpoint({"suite": "s"}, ["d/s/m/seed0"])
    assert isinstance(again, DelayedSubmission) and again.args == ({"suite": "s"}, ["d/s/m/seed0"])

    store = ResultsStore(tmp_path / "out")
    rel = store.rel_path("d", "s", "m", 0, "abc")
    claim = tmp_path / "out" / "claims" / rel.with_suffix(".claim")
    claim.parent.mkdir(parents=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        claim.write_text(json.dumps({"host": socket.gethostname(), "pid": alive.pid, "time": 0, "job": "77_3"}))
        monkeypatch.setenv("SSL4REC_JOB_ID", "77_4")  # another job: the live claim holds
        assert store.claim(rel) is None
        monkeypatch.setenv("SSL4REC_JOB_ID", "77_3")  # the same job, requeued: its claim is taken over
        taken = store.claim(rel)
        assert taken is not None and json.loads(claim.read_text())["job"] == "77_3"
        taken.release()
    finally:
        alive.kill()


def test_a_worker_process_reuses_its_runner_and_data_across_tasks(tmp_path, monkeypatch, sequential):
    """The worker side of a task (`_run_cells`): a second task with the same arguments in the same
    process reuses the first one's runner (the dataset is read and split once), its records equal the
    sequential run's; other arguments get their own runner, and only the most recent few are kept."""
    from ssl4rec import datasets
    from ssl4rec.running import executors
    from ssl4rec.running.plan import parse_suite

    reads = []
    real = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(executors, "_WORKER_RUNNERS", {})
    suite = parse_suite(SUITE)
    kwargs = {"suite": suite, "out": tmp_path / "res", "threads_per_cell": 1}
    labels = [executors._cell_label(c) for c in suite.cells()]
    for label in labels:
        (outcome,) = executors._run_cells(dict(kwargs), [label])
        assert outcome["status"] == "ok"
    assert reads == ["synthetic"] and len(executors._WORKER_RUNNERS) == 1
    assert _metrics(tmp_path / "res") == sequential
    for i in range(3):
        executors._run_cells({**kwargs, "out": tmp_path / f"other{i}"}, labels[:1])
    assert len(executors._WORKER_RUNNERS) == executors._WORKER_RUNNERS_KEPT and len(reads) == 4
