"""Runner, results store and leaderboards: resume, failures, bad suites, merge refusal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from ssl4rec.recommender import Recommender
from ssl4rec.registry import BASELINES, ConfigError, UnknownNameError
from ssl4rec.reporting.leaderboard import MergeError, build_tables, holm, write_leaderboards
from ssl4rec.reporting.records import RecordError, ResultsStore
from ssl4rec.running.plan import load_suite, parse_suite
from ssl4rec.running.runner import Runner

REPO = Path(__file__).resolve().parents[1]

SUITE = {
    "name": "tiny",
    "datasets": [{"name": "synthetic", "params": {"n_users": 120, "n_items": 80, "n_interactions": 2500}}],
    "splits": ["leave_one_out", {"name": "random", "params": {"ratios": [0.8, 0.1, 0.1]}}],
    "models": ["pop", {"name": "itemknn", "params": {"k": 20}}, {"name": "bpr", "params": {"epochs": 3}}],
    "seeds": [0, 1],
}


def records(out: Path) -> list[dict]:
    return list(ResultsStore(out).iter_records())


def test_run_then_resume_skips_finished(tmp_path):
    suite = parse_suite(SUITE)
    out = tmp_path / "res"
    first = Runner(suite, out=out).run()
    assert [o.status for o in first].count("ok") == 12
    recs = records(out)
    assert len(recs) == 12
    r = recs[0]
    written = json.loads((out / r.path).read_text())
    for key in (
        "schema_version",
        "cell_id",
        "dataset",
        "split",
        "model",
        "seed",
        "protocol",
        "metrics",
        "versions",
        "git_commit",
        "fit_seconds",
        "eval_seconds",
        "peak_rss_mb",
    ):
        assert key in written, key
    assert written["schema_version"] == r.schema_version == 2 and "notes" not in written
    assert r.dataset["checksum"] and r.split["fingerprint"]
    assert r.protocol["candidates"] == "full" and r.protocol["mask_history"] is True
    assert 0 <= r.metrics["ndcg@10"] <= 1
    per_user = ResultsStore(out).per_user(r)
    assert len(per_user["users"]) == len(per_user["ndcg@10"])
    # remove one record: only that cell runs again
    victim = out / recs[3].path
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "records").rglob("*.json")}
    victim.unlink()
    again = Runner(suite, out=out).run()
    assert [o.status for o in again].count("skipped") == 11
    assert [o.status for o in again].count("ok") == 1
    for p, m in mtimes.items():
        if p != victim:
            assert p.stat().st_mtime_ns == m


def test_same_split_for_all_models_and_seeds_differ(tmp_path):
    out = tmp_path / "res"
    Runner(parse_suite(SUITE), out=out).run()
    fp = {}
    for r in records(out):
        fp.setdefault((r.split["label"], r.seed), set()).add(r.split["fingerprint"])
    assert all(len(v) == 1 for v in fp.values())
    assert fp[("random", 0)] != fp[("random", 1)]


def test_leaderboard_written_and_significance(tmp_path):
    out = tmp_path / "res"
    Runner(parse_suite(SUITE), out=out).run()
    files = write_leaderboards(out)
    md = (out / "leaderboards" / "synthetic" / "leave_one_out.md").read_text()
    assert "full ranking, history masked" in md and "| pop" in md
    csv = (out / "leaderboards" / "synthetic" / "random.csv").read_text().splitlines()
    assert csv[0].startswith("dataset,split,model,status,seeds,ndcg@10_mean")
    assert len(csv) == 4
    assert any(str(f).endswith("README.md") for f in files)
    # pop is deterministic: the same value from both seeds shows no "± 0.0000"; BPR's seeds differ
    rows = {line.split("|")[1].strip().rstrip(" †"): line for line in md.splitlines() if line.startswith("| ")}
    assert "±" not in rows["pop"] and "±" in rows["bpr"]
    assert "a value without ± has one seed, or the same value from every seed" in md


def test_one_seed_has_no_spread_in_any_format(tmp_path):
    out = tmp_path / "res"
    Runner(parse_suite({**SUITE, "splits": ["leave_one_out"], "models": ["bpr"], "seeds": [0]}), out=out).run()
    write_leaderboards(out)
    md = (out / "leaderboards" / "synthetic" / "leave_one_out.md").read_text()
    assert "| bpr" in md and "±" not in md.split("| bpr")[1].splitlines()[0]
    head, row = (out / "leaderboards" / "synthetic" / "leave_one_out.csv").read_text().splitlines()[:2]
    cells = dict(zip(head.split(","), row.split(","), strict=False))
    assert cells["ndcg@10_mean"] and cells["ndcg@10_std"] == ""  # empty, not 0.000000
    page = (out / "leaderboards" / "synthetic" / "index.html").read_text()
    assert "± 0.0000" not in page


def test_fit_that_waited_for_cores_is_marked(tmp_path):
    out = tmp_path / "res"
    Runner(parse_suite({**SUITE, "splits": ["leave_one_out"], "seeds": [0]}), out=out).run()
    recs = {r.model_label: r for r in records(out)}
    bpr = recs["bpr"]
    assert bpr.fit_cpu_seconds > 0 and bpr.machine["threads"] >= 1 and bpr.machine["load_avg_1m"] >= 0
    # bpr's fit took 3 s of wall time but 1 s of CPU: it waited for cores; itemknn's did not
    for label, (wall, cpu) in {"bpr": (3.0, 1.0), "itemknn": (3.0, 2.9)}.items():
        path = out / recs[label].path
        rec = json.loads(path.read_text())
        rec.update(fit_seconds=wall, fit_cpu_seconds=cpu)
        path.write_text(json.dumps(rec))
    table = build_tables(ResultsStore(out))[0]
    rows = {r.model: r for r in table.rows}
    assert rows["bpr"].contended and not rows["itemknn"].contended
    write_leaderboards(out)
    md = (out / "leaderboards" / "synthetic" / "leave_one_out.md").read_text()
    lines = {line.split(" |")[0].strip("| †"): line for line in md.splitlines() if line.startswith("| ")}
    assert "3.0 ‡" in lines["bpr"] and "‡" not in lines["itemknn"]
    csv = (out / "leaderboards" / "synthetic" / "leave_one_out.csv").read_text().splitlines()
    header = csv[0].split(",")
    cpu_col, cont_col = header.index("fit_cpu_seconds"), header.index("contended")
    by_model = {line.split(",")[2]: line.split(",") for line in csv[1:]}
    assert by_model["bpr"][cpu_col] == "1.000" and by_model["bpr"][cont_col] == "1"
    assert by_model["itemknn"][cont_col] == "0"


class Boom(Recommender):
    """Fails in fit (test helper)."""

    def __init__(self, mode: str = "error") -> None:
        super().__init__()
        self.mode = mode

    def fit(self, train, valid=None):
        if self.mode == "interrupt":
            raise KeyboardInterrupt
        raise RuntimeError("boom")


@pytest.fixture
def boom():
    BASELINES.add("boom-test", Boom, summary="fails")
    yield
    BASELINES.remove("boom-test")


def test_failed_cell_is_recorded_and_retried(tmp_path, boom):
    suite = parse_suite({**SUITE, "models": ["pop", "boom-test"], "seeds": [0], "splits": ["leave_one_out"]})
    out = tmp_path / "res"
    outcomes = Runner(suite, out=out).run()
    assert [o.status for o in outcomes] == ["ok", "failed"]
    failed = list((out / "failed").rglob("*.json"))
    assert len(failed) == 1 and "boom" in json.loads(failed[0].read_text())["error"]
    table = build_tables(ResultsStore(out))[0]
    assert {r.model: r.status for r in table.rows} == {"pop": "ok", "boom-test": "failed"}
    again = Runner(suite, out=out).run()
    assert [o.status for o in again] == ["skipped", "failed"]


def test_interrupted_run_resumes_without_corruption(tmp_path, boom):
    base = {**SUITE, "seeds": [0], "splits": ["leave_one_out"]}
    out = tmp_path / "res"
    with pytest.raises(KeyboardInterrupt):
        Runner(
            parse_suite({**base, "models": ["pop", {"name": "boom-test", "params": {"mode": "interrupt"}}, "itemknn"]}),
            out=out,
        ).run()
    recs = records(out)
    assert [r.model_label for r in recs] == ["pop"]
    assert not list(out.rglob("*.tmp"))
    again = Runner(parse_suite({**base, "models": ["pop", "itemknn"]}), out=out).run()
    assert [o.status for o in again] == ["skipped", "ok"]


@pytest.mark.slow
def test_killed_process_resumes(tmp_path):
    suite = {
        **SUITE,
        "models": ["pop", "itemknn", {"name": "bpr", "params": {"epochs": 200, "patience": 1000}}],
        "seeds": [0],
        "splits": ["leave_one_out"],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "res"
    cmd = [sys.executable, str(REPO / "run_bench.py"), "run", str(path), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and len(list((out / "records").rglob("*.json")) if (out / "records").exists() else []) < 2
    ):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list((out / "records").rglob("*.json"))
    assert len(done) >= 2
    for p in done:
        json.loads(p.read_text())  # no corrupted record
    mt = {p: p.stat().st_mtime_ns for p in done}
    suite["models"][2]["params"] = {"epochs": 2}
    path.write_text(yaml.safe_dump(suite))
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "2 skipped" in res.stderr
    for p, m in mt.items():
        assert p.stat().st_mtime_ns == m


def test_suite_errors(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'models'"):
        parse_suite({**SUITE, "modles": []})
    with pytest.raises(UnknownNameError, match="Did you mean 'itemknn'"):
        parse_suite({**SUITE, "models": ["itemkn"]})
    with pytest.raises(UnknownNameError, match="Did you mean 'ml-100k'"):
        parse_suite({**SUITE, "datasets": ["ml-100"]})
    with pytest.raises(ConfigError, match="Did you mean 'shrink'"):
        parse_suite({**SUITE, "models": [{"name": "itemknn", "params": {"shrnk": 1}}]})
    with pytest.raises(ConfigError, match="Did you mean 'ndcg'"):
        parse_suite({**SUITE, "evaluation": {"metrics": ["ndgc"]}})
    with pytest.raises(ConfigError, match="Did you mean 'ratios'"):
        parse_suite({**SUITE, "splits": [{"name": "random", "params": {"ratio": [0.8, 0.1, 0.1]}}]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_suite(bad)


def test_cli_reports_errors_cleanly(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SUITE, "models": ["bprr"]}))
    res = subprocess.run(
        [sys.executable, str(REPO / "run_bench.py"), "run", str(path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert res.returncode == 2
    assert "Did you mean 'bpr'" in res.stderr and "Traceback" not in res.stderr


def test_merge_refusal_on_checksum_mismatch(tmp_path):
    out = tmp_path / "res"
    Runner(parse_suite({**SUITE, "models": ["pop"], "splits": ["leave_one_out"]}), out=out).run()
    recs = sorted((out / "records").rglob("*.json"))
    assert len(recs) == 2
    r = json.loads(recs[1].read_text())
    r["dataset"]["checksum"] = "0" * 64
    recs[1].write_text(json.dumps(r))
    with pytest.raises(MergeError, match="dataset checksum"):
        build_tables(ResultsStore(out))


def test_two_records_of_one_seed_are_refused_not_double_weighted(tmp_path):
    out = tmp_path / "res"
    Runner(parse_suite({**SUITE, "models": ["pop"], "splits": ["leave_one_out"]}), out=out).run()
    first = sorted((out / "records").rglob("*.json"))[0]
    copy = first.with_name(first.name.replace("seed0-", "seed0-copy"))
    copy.write_text(first.read_text())  # the same seed again (e.g. a copy from another results folder)
    with pytest.raises(MergeError, match="seed 0 has more than one record"):
        build_tables(ResultsStore(out))
    copy.unlink()
    assert build_tables(ResultsStore(out))


def test_params_added_later_at_their_inert_value_still_merge(tmp_path):
    """A record written before item_repr / view_repr existed averages with one that has them at
    the value reproducing the old behaviour; any other value refuses."""
    from ssl4rec.reporting.leaderboard import _check_mergeable
    from ssl4rec.reporting.records import RunRecord

    def rec(**extra):
        params = {"epochs": 3, "seed": 1, "objectives": [{"name": "contrastive", "temperature": 1.0}], **extra}
        return RunRecord(
            cell_id="d/s/m/seed0",
            status="ok",
            dataset={"checksum": "x"},
            split={"name": "s", "params": {}},
            model={"params": params, "component_versions": {}},
        )

    old = rec()
    new = rec(item_repr="id", text_encoder="sentence-transformers:all-MiniLM-L6-v2")
    new.model["params"]["objectives"][0]["view_repr"] = "last"
    _check_mergeable([old, new], "m")
    with pytest.raises(MergeError, match="model params"):
        _check_mergeable([old, rec(item_repr="text")], "m")
    flat = rec()
    flat.model["params"]["objectives"][0]["view_repr"] = "flatten"
    with pytest.raises(MergeError, match="model params"):
        _check_mergeable([old, flat], "m")
    # options of several objectives whose old behaviour has one name per objective
    later = rec()
    later.model["params"]["objectives"][0]["padding_outputs"] = "zero"
    later.model["params"]["objectives"].append({"name": "intent_contrastive", "padding_outputs": "position"})
    before = rec()
    before.model["params"]["objectives"].append({"name": "intent_contrastive"})
    _check_mergeable([before, later], "m")
    attending = rec()
    attending.model["params"]["objectives"][0]["padding_outputs"] = "attending"
    with pytest.raises(MergeError, match="model params"):
        _check_mergeable([old, attending], "m")
    _check_mergeable([rec(), rec(anchor="dropout_view")], "m")
    with pytest.raises(MergeError, match="model params"):
        _check_mergeable([rec(), rec(anchor="main_pass")], "m")


def test_holm():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_suite_grid_expansion():
    s = parse_suite({**SUITE, "splits": [{"name": "sparsity", "grid": {"p": [0.2, 0.5]}}]})
    assert [x.label for x in s.splits] == ["sparsity-p0.2", "sparsity-p0.5"]
    assert s.splits[1].params == {"p": 0.5}


def test_sparsity_levels_of_a_suite_share_the_base_split():
    """Every level holds the base split's valid and test sets, trains are nested, and p = 1 is the
    suite's own random split (a per-level seed would give every level other test users' items)."""
    base = {"name": "random", "params": {"ratios": [0.8, 0.1, 0.1]}}
    sparsity = {
        "name": "sparsity",
        "params": {"base": "random", "base_params": base["params"]},
        "grid": {"p": [0.2, 0.5, 1.0]},
    }
    suite = parse_suite({**SUITE, "splits": [base, sparsity]})
    runner = Runner(suite, out="unused")
    for seed in (0, 1):
        rnd, *levels = [runner.split(suite.datasets[0], s, seed) for s in suite.splits]
        trains = [set(zip(x.train.df.user, x.train.df.item, strict=True)) for x in levels]
        assert trains[0] < trains[1] < trains[2]
        for x in levels:
            assert x.valid.equals(rnd.valid) and x.test.equals(rnd.test)
        assert levels[2].fingerprint() == rnd.fingerprint()
        assert len(levels[0].cold_items) > len(rnd.cold_items)  # recomputed for the sparser train
    split_of_seed = [runner.split(suite.datasets[0], suite.splits[0], seed) for seed in (0, 1)]
    assert split_of_seed[0].fingerprint() != split_of_seed[1].fingerprint()


def test_shipped_configs_parse():
    for p in sorted((REPO / "configs").rglob("*.yaml")):
        if p.name.endswith(".best.yaml"):
            continue
        load_suite(p)
    assert np.isfinite(1.0)


def test_missing_data_stops_the_run_with_instructions(tmp_path, monkeypatch):
    import urllib.error

    from ssl4rec.datasets import MissingDataError, download

    def no_network(url, dest):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(download, "fetch", no_network)
    suite = parse_suite({**SUITE, "datasets": ["ml-1m"], "models": ["pop", "itemknn"]})
    with pytest.raises(MissingDataError) as exc:
        Runner(suite, out=tmp_path / "res", data_dir=tmp_path / "empty").run()
    msg = str(exc.value)
    assert "ratings.dat" in msg and str(tmp_path / "empty" / "ml-1m") in msg and "SSL4REC_DATA" in msg
    assert not (tmp_path / "res" / "failed").exists()


def test_publish_copies_records_and_updates_readme(tmp_path):
    from ssl4rec.reporting.leaderboard import publish, update_readme

    out = tmp_path / "res"
    Runner(
        parse_suite({**SUITE, "models": ["pop", "itemknn"], "splits": ["leave_one_out"], "seeds": [0]}), out=out
    ).run()
    pub = tmp_path / "leaderboards"
    written = publish(out, pub)
    assert (pub / "synthetic" / "leave_one_out.md").exists() and (pub / "synthetic" / "index.html").exists()
    assert len(list((pub / "records").rglob("*.json"))) == 2 and len(list((pub / "records").rglob("*.npz"))) == 2
    assert any(p.name == "leave_one_out.csv" for p in written)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:begin -->\nold\n<!-- results:end -->\ntail\n")
    assert update_readme(readme, pub)
    text = readme.read_text()
    assert "old" not in text and "synthetic / leave_one_out" in text and text.endswith("tail\n")
    # publishing for a suite lists its models without records as missing rows
    publish(out, pub, expected={"synthetic": ["pop", "itemknn", "ease"]})
    table = (pub / "synthetic" / "leave_one_out.md").read_text()
    assert "| ease | 0 |" in table and "missing (no record)" in table
    index = (pub / "synthetic" / "README.md").read_text()
    assert "| [leave_one_out](leave_one_out.md) | " in index and "| 2 of 3 | – | ease |" in index
    # the published folder is itself a results folder: running into it resumes (nothing to redo)
    again = Runner(
        parse_suite({**SUITE, "models": ["pop", "itemknn"], "splits": ["leave_one_out"], "seeds": [0]}), out=pub
    ).run()
    assert [o.status for o in again] == ["skipped", "skipped"]


def test_readme_reproduction_rows_carry_their_seed_count(tmp_path):
    """A reproduction CSV's rows reach the README with their number of seeds (a one-seed row says n=1);
    a row without a record is named once under "Not run yet", not as a row per metric."""
    from ssl4rec.reporting.leaderboard import update_readme

    root = tmp_path / "leaderboards"
    (root / "reproductions").mkdir(parents=True)
    (root / "reproductions" / "paper.csv").write_text(
        "model,metric,ours_mean,ours_std,n_seeds,published,rel_diff\n"
        "A,ndcg@20,0.045700,,1,0.0483,-0.053830\n"
        "B,ndcg@20,0.041300,0.000500,3,0.0428,-0.035047\n"
        "C,ndcg@20,,,0,0.0500,\n"
        "C,hr@20,,,0,0.1000,\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results:begin -->\n<!-- results:end -->\n")
    assert update_readme(readme, root)
    text = readme.read_text()
    assert "| A | NDCG@20 | 0.0457 (n=1) | 0.0483 | -5.4% |" in text
    assert "| B | NDCG@20 | 0.0413 (n=3) | 0.0428 | -3.5% |" in text
    assert "Not run yet in [paper](leaderboards/reproductions/paper.md): C." in text and "| C |" not in text


def test_readme_summary_counts_tied_runners_up_instead_of_ranking_them():
    from types import SimpleNamespace

    from ssl4rec.reporting.leaderboard import runners_up

    rows = [
        SimpleNamespace(model=m, mean={"ndcg@10": v})
        for m, v in [("a", 0.0), ("b", 0.2), ("c", 0.0), ("d", 0.00001), ("e", 0.1)]
    ]
    assert runners_up(rows, "ndcg@10") == "b 0.2000, e 0.1000"
    assert runners_up(rows, "ndcg@10", n=3) == "b 0.2000, e 0.1000, 3 models 0.0000"
    assert runners_up(rows[:1] + rows[2:4], "ndcg@10") == "3 models 0.0000"
    assert runners_up([], "ndcg@10") == ""


def test_tables_list_models_run_on_them_or_expected(tmp_path):
    """A model with records on one split only is not a "missing" row on the others, unless the
    suite expects it there."""
    from ssl4rec.reporting.leaderboard import build_tables

    out = tmp_path / "res"
    Runner(
        parse_suite({**SUITE, "models": ["pop"], "splits": ["leave_one_out", "random"], "seeds": [0]}), out=out
    ).run()
    Runner(parse_suite({**SUITE, "models": ["itemknn"], "splits": ["leave_one_out"], "seeds": [0]}), out=out).run()
    rows = {t.split: {r.model: r.status for r in t.rows} for t in build_tables(ResultsStore(out))}
    assert rows["leave_one_out"] == {"pop": "ok", "itemknn": "ok"}
    assert rows["random"] == {"pop": "ok"}
    rows = {
        t.split: {r.model: r.status for r in t.rows}
        for t in build_tables(ResultsStore(out), expected={"synthetic": ["pop", "itemknn"]})
    }
    assert rows["random"] == {"pop": "ok", "itemknn": "missing"}


def test_publish_supersede_keeps_the_newest_record_of_each_cell(tmp_path):
    """Re-tuning changes a model's parameters under the same label: its old records may not be
    averaged with the new ones; --supersede publishes the newest per (dataset, split, model, seed)
    and removes the older ones from the publication folder."""
    from ssl4rec.reporting.leaderboard import MergeError, publish

    def suite(k: int) -> dict:
        return {
            **SUITE,
            "models": ["pop", {"name": "itemknn", "params": {"k": k}}],
            "splits": ["leave_one_out"],
            "seeds": [0],
        }

    out, pub = tmp_path / "res", tmp_path / "leaderboards"
    Runner(parse_suite(suite(10)), out=out).run()
    publish(out, pub)
    time.sleep(1.1)  # record times have one-second resolution
    Runner(parse_suite(suite(20)), out=out).run()  # itemknn re-run with other parameters, pop skipped
    assert len(list((out / "records").rglob("*.json"))) == 3
    with pytest.raises(MergeError, match=r"model params.*share a seed.*--supersede"):
        publish(out, pub)
    publish(out, pub, supersede=True)
    recs = list(ResultsStore(pub).iter_records())
    assert sorted(r.model_label for r in recs) == ["itemknn", "pop"]
    assert next(r for r in recs if r.model_label == "itemknn").model["params"]["k"] == 20
    assert len(list((pub / "records").rglob("*.npz"))) == 2  # the old per-user file went with its record
    assert len(list((out / "records").rglob("*.json"))) == 3  # the results folder is left as it is


def test_cli_export_users(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump({**SUITE, "models": [{"name": "bpr", "params": {"epochs": 2}}], "splits": ["leave_one_out"]})
    )
    res = subprocess.run(
        [
            sys.executable,
            str(REPO / "run_bench.py"),
            "export-users",
            str(path),
            "--cell",
            "synthetic/leave_one_out/bpr",
            "--to",
            str(tmp_path / "u"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    z = np.load(tmp_path / "u.npz")
    assert z[list(z.files)[0]].shape[0] > 0
    lines = (tmp_path / "u.csv").read_text().splitlines()
    assert lines[0].startswith("user,raw_id,label_1") and len(lines) > 10


def test_saved_models_reload_and_export_users_reuses_them(tmp_path, monkeypatch):
    """`run --save-models` keeps each fitted model beside its record; reloaded, it scores as the
    record's model did; `export-users --results` uses it instead of training (same vectors, no fit)."""
    from ssl4rec.cli import main
    from ssl4rec.evaluation.evaluator import evaluate

    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                **SUITE,
                "models": [{"name": "bpr", "params": {"epochs": 2}}, "pop"],
                "splits": ["leave_one_out"],
                "seeds": [0],
            }
        )
    )
    out = tmp_path / "res"
    assert main(["run", str(path), "--out", str(out), "--save-models"]) == 0
    recs = {r.model_label: r for r in ResultsStore(out).iter_records()}
    assert recs["bpr"].model_file == Path(recs["bpr"].path).name.replace(".json", ".model.pt")
    model = ResultsStore(out).load_model(recs["bpr"])
    suite = parse_suite({**SUITE, "splits": ["leave_one_out"]})
    split = Runner(suite, out=out).split(suite.datasets[0], suite.splits[0], 0)
    again = evaluate(model, split, "test", suite.protocol, progress=False)
    assert again.metrics["ndcg@10"] == pytest.approx(recs["bpr"].metrics["ndcg@10"])
    cmd = ["export-users", str(path), "--cell", "synthetic/leave_one_out/bpr"]
    assert main([*cmd, "--to", str(tmp_path / "trained")]) == 0
    with monkeypatch.context() as m:
        m.setattr(
            "ssl4rec.running.builders.fit_cell", lambda *a, **k: pytest.fail("trained although a model was saved")
        )
        assert main([*cmd, "--to", str(tmp_path / "reused"), "--results", str(out)]) == 0
    a, b = np.load(tmp_path / "trained.npz"), np.load(tmp_path / "reused.npz")
    np.testing.assert_allclose(a["vectors"], b["vectors"], rtol=1e-5)  # the same cell, trained or reloaded
    # without --save-models no model file is written, and export-users says it trains
    out2 = tmp_path / "res2"
    assert main(["run", str(path), "--out", str(out2)]) == 0
    assert not list((out2 / "records").rglob("*.model.pt"))
    with pytest.raises(RecordError, match="no saved model"):
        ResultsStore(out2).load_model(next(ResultsStore(out2).iter_records()))


def test_publish_takes_several_suites_and_lists_each_ones_models(tmp_path):
    """`publish --suite A --suite B`: each suite's models are listed (missing where they have no
    record) on its own datasets' tables, so publishing one suite does not drop the other's rows."""
    import yaml

    from ssl4rec.cli import main

    def write(name: str, label: str, models: list) -> Path:
        d = {
            "name": name,
            "datasets": [{**SUITE["datasets"][0], "label": label}],
            "splits": ["leave_one_out"],
            "models": models,
            "seeds": [0],
        }
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump(d))
        return p

    a, b = write("a", "syn-a", ["pop", "ease"]), write("b", "syn-b", ["pop", "itemknn"])
    out, pub = tmp_path / "res", tmp_path / "leaderboards"
    assert main(["run", str(a), "--out", str(out), "--models", "pop"]) == 0
    assert main(["run", str(b), "--out", str(out), "--models", "pop"]) == 0
    assert main(["publish", str(out), "--to", str(pub), "--suite", str(a), "--suite", str(b)]) == 0
    ta, tb = ((pub / ds / "leave_one_out.md").read_text() for ds in ("syn-a", "syn-b"))
    assert "| ease | 0 |" in ta and "itemknn" not in ta
    assert "| itemknn | 0 |" in tb and "ease" not in tb


def test_records_of_schema_1_are_migrated_and_unknown_ones_refused(tmp_path):
    from ssl4rec.reporting.records import SCHEMA_VERSION, RecordError, RunRecord, migrate

    v1 = {
        "schema_version": 1,
        "cell_id": "d/s/m/seed0",
        "status": "ok",
        "model": {"label": "m"},
        "metrics": {"ndcg@10": 0.5},
        "notes": ["cannot score cold items: 3 of 9 test targets are items it cannot rank"],
        "eval_info": {"unscorable_targets": 3},
    }
    r = RunRecord.from_dict(v1, "x.json")
    assert r.schema_version == SCHEMA_VERSION == 2 and r.unscorable_targets == 3 and r.model_label == "m"
    assert "notes" not in r.to_dict() and "notes" in v1  # the input is not changed
    assert migrate({"schema_version": 2, "cell_id": "c", "status": "ok"})["schema_version"] == 2
    with pytest.raises(RecordError, match=r"x.json: unknown record fields \['colour'\]"):
        RunRecord.from_dict({**v1, "colour": 1}, "x.json")
    with pytest.raises(RecordError, match="newer than this ssl4rec reads"):
        RunRecord.from_dict({**v1, "schema_version": 99}, "x.json")
    with pytest.raises(RecordError, match="not a record"):
        RunRecord.from_dict({"schema_version": 2, "status": "ok"}, "x.json")
    # the store refuses an unreadable file by name; asked to, it skips it with a warning and reads the rest
    store = ResultsStore(tmp_path)
    store.write(Path("d/s/m/seed0-x.json"), r)
    (tmp_path / "records" / "d" / "s" / "m" / "seed1-x.json").write_text("[1, 2]")
    with pytest.raises(RecordError, match="seed1-x.json: not a record"):
        list(store.iter_records())
    assert [x.cell_id for x in ResultsStore(tmp_path, skip_unreadable=True).iter_records()] == ["d/s/m/seed0"]
    assert json.loads((tmp_path / "records/d/s/m/seed0-x.json").read_text())["schema_version"] == 2


@pytest.mark.parametrize("label", ["..", ".", "../../escape", "a/../../b", ".hidden"])
def test_a_label_never_writes_outside_its_cell_folder(tmp_path, label):
    suite = parse_suite({**SUITE, "splits": ["random"], "models": [{"name": "pop", "label": label}], "seeds": [0]})
    out = tmp_path / "res"
    Runner(suite, out=out).run()
    written = [p.relative_to(out) for p in out.rglob("*") if p.is_file()]
    record = [p for p in written if p.suffix == ".json" and p.parts[0] == "records"]
    assert len(record) == 1 and record[0].parts[:3] == ("records", "synthetic", "random") and len(record[0].parts) == 5
    assert not record[0].parts[3].startswith(".")
    assert all(".." not in p.parts for p in written)
    assert not any(p.is_file() for p in tmp_path.iterdir())  # nothing beside --out


def test_significance_unit_is_the_user_averaged_over_seeds():
    """Two seeds of the same users: the test pairs each user's seed-averaged values (200 pairs, not 400)."""
    from scipy import stats

    from ssl4rec.reporting.leaderboard import _user_means

    rng = np.random.default_rng(0)
    a = {(s, u): float(rng.random()) for s in (0, 1) for u in range(200)}
    effect = 0.01 + 0.05 * rng.standard_normal(200)  # a user's difference repeats in every seed
    b = {(s, u): v - effect[u] for (s, u), v in a.items()}
    xa, xb, common = _user_means(a, b)
    assert len(xa) == 200 and len(common) == 400
    assert xa[7] == pytest.approx((a[(0, 7)] + a[(1, 7)]) / 2) and xb[7] == pytest.approx((b[(0, 7)] + b[(1, 7)]) / 2)
    by_user = stats.wilcoxon(xa, xb, zero_method="wilcox").pvalue
    by_pair = stats.wilcoxon([a[k] for k in common], [b[k] for k in common], zero_method="wilcox").pvalue
    assert by_pair < by_user  # pairs counted once per seed overstate significance
    xa, xb, _ = _user_means({(0, 1): 0.5, (1, 1): 0.7, (0, 2): 0.1}, {(0, 1): 0.4, (1, 1): 0.6})
    assert xa.tolist() == pytest.approx([0.6]) and xb.tolist() == pytest.approx([0.5])  # seeds both have only


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong type", "bad npz"])
def test_a_damaged_record_is_named_by_the_leaderboard_and_run_again_by_run(tmp_path, damage):
    from ssl4rec.reporting.leaderboard import write_leaderboards

    suite = parse_suite(
        {
            **SUITE,
            "splits": ["leave_one_out"],
            "models": ["pop", {"name": "bpr", "params": {"epochs": 2}}],
            "seeds": [0],
        }
    )
    out = tmp_path / "res"
    Runner(suite, out=out).run()
    rec = next(p for p in (out / "records").rglob("*.json") if "bpr" in str(p))
    text = rec.read_text()
    if damage == "garbage":
        rec.write_bytes(b"\x00\xff garbage")
    elif damage == "truncated":
        rec.write_text(text[: len(text) // 2])
    elif damage == "wrong type":
        rec.write_text(json.dumps([1, 2, 3]))
    else:
        rec.with_suffix(".npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(RecordError, match=rec.name.replace(".json", "")):
        write_leaderboards(out)
    if damage != "bad npz":  # a readable record whose per-user file is bad still refuses (significance reads it)
        assert write_leaderboards(out, skip_unreadable=True)
    again = Runner(suite, out=out).run()
    assert sorted(o.status for o in again) == ["ok", "skipped"]  # the damaged cell runs again, nothing else
    assert rec.with_name(rec.name + ".unreadable").exists()  # kept, out of every listing
    assert write_leaderboards(out)


def test_verify_finds_records_edited_after_writing_and_publish_refuses_them(tmp_path, capsys):
    from ssl4rec import cli
    from ssl4rec.reporting.leaderboard import publish

    out = tmp_path / "res"
    Runner(parse_suite({**SUITE, "splits": ["leave_one_out"], "models": ["pop", "bpr"], "seeds": [0]}), out=out).run()
    assert cli.main(["verify", str(out)]) == 0
    assert "2 records: 2 match their content hashes, 0 edited" in capsys.readouterr().out
    store = ResultsStore(out)
    pop, bpr = sorted(store.iter_records(), key=lambda r: r.model_label != "pop")
    d = json.loads((out / pop.path).read_text())
    d["metrics"]["ndcg@10"] += 0.01  # a hand edit of a published number
    (out / pop.path).write_text(json.dumps(d))
    arrays = store.per_user(bpr)
    arrays["ndcg@10"] = arrays["ndcg@10"][::-1].copy()  # same values, other users
    np.savez_compressed(
        (out / bpr.path).with_name(bpr.per_user_file), **{k.replace("/", "__"): v for k, v in arrays.items()}
    )
    assert cli.main(["verify", str(out)]) == 1
    printed = capsys.readouterr().out
    assert f"EDITED {pop.path}: metrics differ" in printed and f"EDITED {bpr.path}: per-user arrays differ" in printed
    with pytest.raises(RecordError, match="content changed after they were written"):
        publish(out, tmp_path / "pub")
    assert not (tmp_path / "pub").exists()


def test_a_cell_claimed_by_a_live_runner_is_left_to_it_and_a_dead_ones_claim_is_taken_over(tmp_path):
    import socket
    import subprocess

    suite = parse_suite({**SUITE, "splits": ["leave_one_out"], "models": ["pop", "itemknn"], "seeds": [0]})
    out = tmp_path / "res"
    runner = Runner(suite, out=out)
    cells = [runner.cell_key(*c) for c in suite.cells()]
    (pop_id, pop_rel), (knn_id, knn_rel) = sorted(cells, key=lambda c: "itemknn" in c[0])
    other = subprocess.Popen(["sleep", "60"])  # a live "runner" on this host
    try:
        claim = out / "claims" / pop_rel.with_suffix(".claim")
        claim.parent.mkdir(parents=True)
        claim.write_text(json.dumps({"host": socket.gethostname(), "pid": other.pid, "time": 0}))
        outcomes = {o.cell_id: o.status for o in Runner(suite, out=out).run()}
        assert outcomes == {pop_id: "claimed", knn_id: "ok"}  # never computed twice
        assert not (out / "claims" / knn_rel.with_suffix(".claim")).exists()  # released after its record
    finally:
        other.kill()
        other.wait()
    outcomes = {o.cell_id: o.status for o in Runner(suite, out=out).run()}  # its runner died: taken over
    assert outcomes == {pop_id: "ok", knn_id: "skipped"}
    assert not claim.exists()


def test_a_claim_from_another_host_is_abandoned_when_its_heartbeat_stops(tmp_path):
    import os

    from ssl4rec.reporting import records as rec_mod

    path = tmp_path / "x.claim"
    path.write_text(json.dumps({"host": "another-machine", "pid": 1, "time": 0}))
    assert not rec_mod._claim_is_stale(path)  # touched just now
    old = path.stat().st_mtime - rec_mod.CLAIM_STALE - 1
    os.utime(path, (old, old))
    assert rec_mod._claim_is_stale(path)
    store = ResultsStore(tmp_path / "res")
    held = store.claim(Path("d/s/m/seed0-x.json"))
    assert held is not None and store.claim(Path("d/s/m/seed0-x.json")) is not None  # this process's own: retaken
    held.release()


def test_a_model_restricted_to_some_splits_is_planned_tuned_and_expected_there_only(tmp_path):
    """`splits:` on a model entry (a graph model beside leave-one-out sequence models): its cells are on
    those splits only, tuning and `run --tuned` skip the others, and publish lists it as missing only
    where it is planned. Split names cover a grid's expansion; an unknown split is refused at load."""
    import yaml

    from ssl4rec.cli import main
    from ssl4rec.running.tuning import check_tuned

    raw = {
        **SUITE,
        "splits": [*SUITE["splits"], {"name": "sparsity", "params": {"base": "random"}, "grid": {"p": [0.5, 1.0]}}],
        "models": ["pop", {"name": "itemknn", "splits": ["random", "sparsity"]}, {"name": "ease", "splits": "random"}],
        "seeds": [0],
    }
    suite = parse_suite(raw)
    planned = {(s.label, m.label) for _, s, m, _ in suite.cells()}
    assert planned == {
        ("leave_one_out", "pop"), ("random", "pop"), ("sparsity-p0.5", "pop"), ("sparsity-p1.0", "pop"),
        ("random", "itemknn"), ("sparsity-p0.5", "itemknn"), ("sparsity-p1.0", "itemknn"),
        ("random", "ease"),
    }  # fmt: skip
    best = {f"synthetic/{s}/{m}": {} for s, m in planned}
    check_tuned(suite, best)  # the unplanned cells need no tuned parameters
    with pytest.raises(ConfigError, match="have no tuned parameters"):
        check_tuned(suite, {k: v for k, v in best.items() if k != "synthetic/random/ease"})

    for bad, msg in ((["randm"], "Did you mean 'random'"), ([], "non-empty list"), ([3], "non-empty list")):
        with pytest.raises(ConfigError, match=msg):
            parse_suite({**raw, "models": [{"name": "pop", "splits": bad}]})

    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(raw))
    out, pub = tmp_path / "res", tmp_path / "lb"
    assert main(["run", str(path), "--out", str(out), "--models", "pop,ease", "--splits", "leave_one_out,random"]) == 0
    assert not list((out / "records" / "synthetic" / "leave_one_out").glob("ease/*.json"))
    assert main(["publish", str(out), "--to", str(pub), "--suite", str(path)]) == 0
    loo, rnd = ((pub / "synthetic" / f"{sp}.md").read_text() for sp in ("leave_one_out", "random"))
    assert "| itemknn | 0 |" in rnd and "ease" in rnd
    assert "itemknn" not in loo and "ease" not in loo
