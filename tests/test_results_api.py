"""``ssl4rec.results``: records as tidy DataFrames, and ``ssl4rec export``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ssl4rec import cli, results
from ssl4rec.reporting.records import RecordError
from ssl4rec.running.plan import parse_suite
from ssl4rec.running.runner import Runner

SUITE = {
    "name": "api",
    "datasets": [{"name": "synthetic", "params": {"n_users": 80, "n_items": 50, "n_interactions": 1500}}],
    "splits": ["leave_one_out"],
    "models": ["pop", {"name": "bpr", "params": {"epochs": 2}}],
    "seeds": [0, 1],
}


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "res"
    Runner(parse_suite(SUITE), out=out).run()
    return out


def test_load_is_tidy_and_carries_provenance(out):
    df = results.load(out)
    records = sorted(out.glob("records/**/*.json"))
    assert len(records) == 4
    first = json.loads(records[0].read_text())
    assert len(df) == sum(len(json.loads(p.read_text())["metrics"]) for p in records)
    assert set(df["model"]) == {"pop", "bpr"} and set(df["seed"]) == {0, 1}
    assert not df.duplicated(["dataset", "split", "model", "seed", "metric"]).any()
    row = df[(df["model"] == first["model"]["label"]) & (df["seed"] == first["seed"]) & (df["metric"] == "ndcg@10")]
    assert row["value"].item() == pytest.approx(first["metrics"]["ndcg@10"])
    assert row["dataset_checksum"].item() == first["dataset"]["checksum"]
    assert row["git_commit"].item() == first["git_commit"] and row["model_kind"].item() == first["model"]["kind"]
    assert json.loads(row["split_params"].item()) == first["split"]["params"]
    # a fit in one process: its total fit time is its own; the resumed case is in test_checkpoints
    assert row["fit_seconds_total"].item() == row["fit_seconds"].item() and not row["resumed"].item()
    wide = df.pivot_table(index="model", columns="metric", values="value", aggfunc="mean")
    assert wide.loc["pop", "ndcg@10"] == pytest.approx(df.query("model == 'pop' and metric == 'ndcg@10'")["value"].mean())


def test_per_user_values_average_to_the_record(out):
    users = results.load_per_user(out, metrics=["ndcg@10"])
    assert list(users.columns) == ["dataset", "split", "model", "seed", "user", "ndcg@10", "record"]
    df = results.load(out)
    for (label, seed), g in users.groupby(["model", "seed"]):
        want = df[(df["model"] == label) & (df["seed"] == seed) & (df["metric"] == "ndcg@10")]["value"].item()
        assert g["ndcg@10"].mean() == pytest.approx(want, abs=1e-6)
        assert g["user"].is_unique


def test_export_writes_both_frames_and_refuses_what_it_cannot(out, tmp_path, caplog):
    to = tmp_path / "export"
    assert cli.main(["export", str(out), "--to", str(to)]) == 0
    back = pd.read_csv(to / "results.csv")
    assert len(back) == len(results.load(out)) and np.isfinite(back["value"]).all()
    assert len(pd.read_csv(to / "per_user.csv")) == len(results.load_per_user(out))
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert cli.main(["export", str(out), "--to", str(tmp_path / "pq"), "--format", "parquet"]) == 2
        assert "needs pyarrow" in caplog.text and not (tmp_path / "pq").exists()


def test_an_unreadable_record_is_named(out, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    bad = sorted(copy.glob("records/**/*.json"))[0]
    bad.write_text("{")
    with pytest.raises(RecordError, match=bad.name):
        results.load(copy)
    assert len(results.load(copy, skip_unreadable=True)["record"].unique()) == 3


def test_run_ends_with_the_primary_leaderboard_and_the_page(tmp_path, capsys):
    import yaml

    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({**SUITE, "seeds": [0]}))
    assert cli.main(["run", str(suite), "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out.splitlines()
    df = results.load(tmp_path / "o").query("metric == 'ndcg@10'").sort_values("value", ascending=False)
    assert printed[0] == "synthetic / leave_one_out — NDCG@10:"
    assert [line.split()[0] for line in printed[1:3]] == df["model"].tolist()  # best first
    assert f"{df['value'].iloc[0]:.4f}" in printed[1]
    page = tmp_path / "o" / "leaderboards" / "synthetic" / "index.html"
    assert printed[-1] == f"page: {page}" and page.exists()


def test_show_prints_a_components_parameters_defaults_and_search_space(capsys, caplog):
    assert cli.main(["show", "preset", "cl4srec"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("preset cl4srec (version 2)") and '"name": "contrastive"' in out
    assert "  bucket_by_length = False" in out  # the preset's own value, not the framework default
    assert "  learning_rate = " in out and "encoder.dropout: ('float', 0.0, 0.5, 'linear')" in out
    assert cli.main(["show", "encoder", "lightgcn"]) == 0
    out = capsys.readouterr().out
    assert "  propagation = 'full'" in out and "  fanout = 10" in out
    assert cli.main(["show", "preset", "sasrc"]) == 2
    assert "Did you mean 'sasrec'" in caplog.text


def test_diff_pairs_rerun_records_and_reports_what_changed(tmp_path, capsys):
    import yaml

    from ssl4rec import cli
    from ssl4rec.reporting.records import ResultsStore
    from ssl4rec.reporting.rerun import diff_records

    suite = {
        "name": "d",
        "datasets": [{"name": "synthetic", "params": {"n_users": 60, "n_items": 40, "n_interactions": 900}}],
        "splits": ["leave_one_out"],
        "models": ["pop", "itemknn"],
        "seeds": [0],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    for out in ("old", "new"):
        assert cli.main(["run", str(path), "--out", str(tmp_path / out)]) == 0
    md, rows = diff_records(tmp_path / "old", tmp_path / "new")
    assert len(rows) == 2 and all(r["identical"] for r in rows)  # deterministic: a re-run is bit-identical
    assert "2 cells in both: 2 with bit-identical metrics" in md
    # a changed value in the new folder (a record written again with another NDCG) is reported
    store = ResultsStore(tmp_path / "new")
    rec = next(r for r in store.iter_records() if r.model["label"] == "pop")
    rec.metrics["ndcg@10"] += 0.01
    store.write(Path(rec.path).relative_to("records"), rec, store.per_user(rec))
    md, rows = diff_records(tmp_path / "old", tmp_path / "new")
    changed = [r for r in rows if not r["identical"]]
    assert len(changed) == 1 and abs(changed[0]["max_abs_diff"] - 0.01) < 1e-9
    assert "1 differing" in md
    # a metric without a value (None: a user group with no member) agrees with None, not with a number
    old_rec = next(r for r in ResultsStore(tmp_path / "old").iter_records() if r.model["label"] == "itemknn")
    rec = next(r for r in store.iter_records() if r.model["label"] == "itemknn")
    for r, value in ((old_rec, None), (rec, None)):
        r.metrics["cold/ndcg@10"] = value
        ResultsStore(tmp_path / ("old" if r is old_rec else "new")).write(
            Path(r.path).relative_to("records"), r, ResultsStore(tmp_path / ("old" if r is old_rec else "new")).per_user(r)
        )
    _, rows = diff_records(tmp_path / "old", tmp_path / "new")
    knn = next(r for r in rows if "itemknn" in r["cell"])
    assert knn["identical"] and knn["max_abs_diff"] == 0.0
    rec.metrics["cold/ndcg@10"] = 0.5
    store.write(Path(rec.path).relative_to("records"), rec, store.per_user(rec))
    md, rows = diff_records(tmp_path / "old", tmp_path / "new")
    knn = next(r for r in rows if "itemknn" in r["cell"])
    assert not knn["identical"] and knn["max_abs_diff"] == float("inf")
    assert cli.main(["diff", str(tmp_path / "old"), str(tmp_path / "new"), "--to", str(tmp_path / "d.md")]) == 0
    assert (tmp_path / "d.md").read_text() == md
