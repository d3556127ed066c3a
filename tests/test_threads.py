"""The default thread count never oversubscribes: free cores / concurrent cells, overridable, recorded."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from ssl4rec import cli
from ssl4rec.registry import ConfigError
from ssl4rec.running.threads import apply_threads, choose_threads


def test_free_cores_are_shared_among_concurrent_cells():
    assert choose_threads(env={}, cores=8, load=0.2)[0] == 8
    assert choose_threads(env={}, cores=8, load=0.2, concurrent=2)[0] == 4
    assert choose_threads(env={}, cores=8, load=5.6, concurrent=1)[0] == 2  # 6 cores busy elsewhere
    assert choose_threads(env={}, cores=2, load=1.7)[0] == 1  # the busy 2-core machine: not 2 threads
    assert choose_threads(env={}, cores=2, load=9.0)[0] == 1  # never below one
    n, why = choose_threads(env={}, cores=4, load=1.0, concurrent=3)
    assert n == 1 and why == "4 cores, 1 busy (load 1.0), 3 concurrent cell(s)"


def test_requested_and_environment_win():
    assert choose_threads(3, env={"OMP_NUM_THREADS": "5"}, cores=2, load=2.0) == (3, "--threads")
    assert choose_threads(env={"OMP_NUM_THREADS": "5"}, cores=2, load=2.0) == (5, "OMP_NUM_THREADS")
    with pytest.raises(ConfigError, match="OMP_NUM_THREADS='x'"):
        choose_threads(env={"OMP_NUM_THREADS": "x"})
    with pytest.raises(ConfigError, match="--threads must be a positive"):
        choose_threads(0)


def test_applied_to_torch_and_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = torch.get_num_threads()
    try:
        apply_threads(1)
        assert torch.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpoolctl.threadpool_info())
    finally:
        apply_threads(before)


def test_records_say_how_many_and_why(tmp_path, monkeypatch):
    suite = {
        "name": "thr",
        "datasets": [{"name": "synthetic", "params": {"n_users": 30, "n_items": 20, "n_interactions": 300}}],
        "splits": ["leave_one_out"],
        "models": ["pop"],
        "seeds": [0],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        assert cli.main(["run", str(path), "--out", str(tmp_path / "res")]) == 0
    finally:
        apply_threads(before)
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "res").glob("records/**/*.json")]
    assert rec["machine"]["threads"] == 1 and rec["machine"]["threads_chosen_by"] == "OMP_NUM_THREADS"
