"""Tuning studies in PostgreSQL: two `tune` workers on one study of a throw-away local server.

The server is started here from the Debian packages (`initdb`, `pg_ctl`; `.ci/run` installs them)
as a non-root user, bound to 127.0.0.1 on a free port, with trust authentication, and stopped at the
end. Skipped where PostgreSQL or its driver (`ssl4rec[postgres]`) is not installed.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from test_tuning import REPO, SUITE, write_suite

from ssl4rec import cli


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg", reason="the PostgreSQL driver: pip install 'ssl4rec[postgres]'")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="ssl4rec-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root: use the Debian package's user
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to start the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
        base.chmod(0o755)
        os.chown(base, pw.pw_uid, pw.pw_gid)
    data, port = base / "data", _free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)  # noqa: E731
    res = run(initdb, "-D", str(data), "-A", "trust", "-U", "ssl4rec", "--no-sync", "-E", "UTF8")
    if res.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"initdb failed: {res.stderr.strip()[-300:]}")
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off -c max_connections=40"
    res = run(pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "server.log"), "-w", "-t", "60", "start")
    if res.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"pg_ctl start failed: {res.stderr.strip()[-300:]}")
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=ssl4rec dbname=postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE optuna")
    try:
        yield f"postgresql://ssl4rec@127.0.0.1:{port}/optuna"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_one_postgres_study(pg_url, tmp_path):
    import optuna

    suite = {**SUITE, "models": [{"name": "itemknn"}]}
    path = write_suite(tmp_path, suite)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmds = [
        [sys.executable, str(REPO / "run_bench.py"), "tune", str(path), "--trials", "6", "--out", str(tmp_path / f"w{i}"), "--storage", pg_url]
        for i in range(2)
    ]  # fmt: skip
    t0 = time.time()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    assert time.time() - t0 < 300
    study = optuna.load_study(study_name="tunetiny/synthetic/leave_one_out/itemknn", storage=pg_url)
    done = [t for t in study.trials if t.state.is_finished()]
    # the budget counts distinct configurations (a repeat of a finished one adds nothing: tuning._counted)
    # and is shared: the workers stop together, at most one configuration past it
    distinct = {json.dumps(t.params, sort_keys=True, default=str) for t in done}
    assert 6 <= len(distinct) <= 7, [t.params for t in done]
    assert {t.number for t in done} == set(range(len(done)))
    # both workers chose from the same first six finished trials
    best = [yaml.safe_load((tmp_path / f"w{i}" / "suite.best.yaml").read_text()) for i in range(2)]
    assert best[0] == best[1]

    # the study snapshot: exported from the server, the budget visible in it
    snap = tmp_path / "snap.jsonl"
    assert cli.main(["studies", "export", "unused", "--storage", pg_url, "--to", str(snap)]) == 0
    restored = tmp_path / "restored"
    assert cli.main(["studies", "import", str(snap), "--out", str(restored)]) == 0
    copy = optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{restored / 'tuning.db'}")
    assert len([t for t in copy.trials if t.state.is_finished()]) == len(done)
