"""Protocol sensitivity: Kendall's tau on hand-made rankings, flips with their tests, the command."""

from __future__ import annotations

import csv

import pytest
import yaml

from ssl4rec import cli
from ssl4rec.reporting import sensitivity
from ssl4rec.reporting.sensitivity import kendall_tau, sensitivity_report
from ssl4rec.reporting.tables import Row


def test_kendall_tau_by_hand():
    assert kendall_tau(list("abcd"), list("abcd"))[0] == pytest.approx(1.0)
    assert kendall_tau(list("abcd"), list("dcba"))[0] == pytest.approx(-1.0)
    # one adjacent swap: 5 concordant pairs, 1 discordant, of 6
    assert kendall_tau(list("abcd"), list("bacd"))[0] == pytest.approx(4 / 6)
    tau, _, n = kendall_tau(list("abcx"), list("yabc"))  # only the common models count
    assert n == 3 and tau == pytest.approx(1.0)
    assert kendall_tau(["a"], ["a"])[2] == 1


def test_flips_are_listed_with_both_tests(tmp_path, monkeypatch):
    def rows(order):
        return [Row(model=m, status="ok", n_seeds=1, mean={"ndcg@10": v}) for m, v in order]

    fake = {
        "full": {("d", "loo"): (rows([("A", 0.3), ("B", 0.2), ("C", 0.1)]), "loo")},
        "sampled-uniform": {("d", "loo"): (rows([("B", 0.6), ("A", 0.5), ("C", 0.4)]), "loo [sampled]")},
    }
    for p in fake:
        (tmp_path / p / "records").mkdir(parents=True)
    monkeypatch.setattr(sensitivity, "_rankings", lambda root, primary: fake[root.name])
    calls = []

    def compare(store, a, b, metric, ds, sp):
        calls.append((store.root.name, a, b, sp))
        sign = 1 if store.root.name == "full" else -1
        return [{"diff": 0.1 * sign, "wilcoxon_p": 0.01 if sign > 0 else 0.4, "n_users": 50}]

    monkeypatch.setattr("ssl4rec.reporting.leaderboard.compare_models", compare)
    md, table, figures = sensitivity_report(tmp_path, ["full", "sampled-uniform"])
    assert "| full vs sampled-uniform | 0.333 |" in md  # 2 concordant, 1 discordant of 3
    # one rank-vs-protocol figure: A falls from 1 to 2, B rises from 2 to 1, C stays 3rd
    (name, svg), = figures.items()
    assert name == "sensitivity-d-loo.svg" and f"]({name})" in md
    for label, (a, b) in {"A": (1, 2), "B": (2, 1), "C": (3, 3)}.items():
        assert f"{label}: {a}</title>" in svg and f">{b}. {label}</text>" in svg
    assert "| full vs sampled-uniform | A, B | A > B | 0.01 * | B > A | 0.4 |" in md
    assert calls == [("full", "A", "B", "loo"), ("sampled-uniform", "A", "B", "loo [sampled]")]
    assert table.count(",flip,") == 2 and ",kendall_tau,full,sampled-uniform," in table
    # one CSV row per side of the flip, each naming the other protocol
    assert ",flip,full,sampled-uniform,A,B,0.100000,0.01," in table and ",flip,sampled-uniform,full,A,B," in table


def test_command_runs_each_protocol_and_reports(tmp_path):
    suite = {
        "name": "sens",
        "datasets": [{"name": "synthetic", "params": {"n_users": 80, "n_items": 150, "n_interactions": 1600}}],
        "splits": ["leave_one_out"],
        "models": ["pop", "itemknn"],
        "seeds": [0],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "sens"
    assert cli.main(["sensitivity", str(path), "--out", str(out), "--protocols", "full,sampled-uniform"]) == 0
    figure = "sensitivity-synthetic-leave_one_out.svg"
    assert {p.name for p in out.iterdir()} == {"full", "sampled-uniform", "sensitivity.md", "sensitivity.csv", figure}
    assert (out / figure).read_text().startswith("<svg")
    md = (out / "sensitivity.md").read_text()
    assert "| full vs sampled-uniform |" in md and "| rank | full | sampled-uniform |" in md
    # the sampled protocol's cells carry Krichene & Rendle's corrected estimate; full ranking needs none
    rows = list(csv.reader((out / "sensitivity.csv").read_text().splitlines()))
    corrected = [r for r in rows if r[2] == "corrected"]
    assert {r[3] for r in corrected} == {"sampled-uniform"} and {r[5] for r in corrected} == {"pop", "itemknn"}
    assert md.count("; corrected ") == 2
    # one fit per cell, evaluated under both protocols: the sampled records say whose fit they share
    import json

    full = {json.loads(p.read_text())["model"]["label"]: json.loads(p.read_text()) for p in (out / "full").rglob("*.json") if "records" in p.parts}
    samp = {json.loads(p.read_text())["model"]["label"]: json.loads(p.read_text()) for p in (out / "sampled-uniform").rglob("*.json") if "records" in p.parts}
    assert set(full) == set(samp) == {"pop", "itemknn"}
    for label, rec in samp.items():
        assert rec["extra"]["fit_shared_with"] == full[label]["protocol"] != rec["protocol"]
        assert rec["fit_seconds"] == full[label]["fit_seconds"] and "fit_shared_with" not in full[label]["extra"]
    assert cli.main(["sensitivity", str(path), "--out", str(out), "--protocols", "full,nope"]) == 2


def test_sampled_protocol_on_a_small_catalogue_is_refused_before_running(tmp_path, caplog):
    suite = {
        "name": "small",
        "datasets": [{"name": "synthetic", "params": {"n_users": 30, "n_items": 40, "n_interactions": 300}}],
        "splits": ["leave_one_out"],
        "models": ["pop"],
        "seeds": [0],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "sens"
    assert cli.main(["sensitivity", str(path), "--out", str(out)]) == 2
    assert "100 sampled negatives but dataset synthetic has 40 items" in caplog.text
    assert not out.exists()


def test_leave_one_out_vs_timeline_compares_the_two_splits_rankings(tmp_path, monkeypatch):
    def rows(order):
        return [Row(model=m, status="ok", n_seeds=1, mean={"ndcg@10": v}) for m, v in order]

    # under each protocol: A > B > C on leave-one-out; on the timeline B > A > C (one pair flips); the
    # cold-user split is neither kind and stays out of the section
    loo, tem = rows([("A", 0.3), ("B", 0.2), ("C", 0.1)]), rows([("B", 0.5), ("A", 0.4), ("C", 0.1)])
    fake = {
        p: {("d", "loo"): (loo, "loo" + tag), ("d", "time"): (tem, "time" + tag), ("d", "cold"): (loo, "cold" + tag)}
        for p, tag in (("full", ""), ("sampled-uniform", " [sampled]"))
    }
    for p in fake:
        (tmp_path / p / "records").mkdir(parents=True)
    monkeypatch.setattr(sensitivity, "_rankings", lambda root, primary: fake[root.name])
    names = {("d", "loo"): "leave_one_out", ("d", "time"): "temporal", ("d", "cold"): "cold_users"}
    monkeypatch.setattr(sensitivity, "_split_names", lambda root: names)
    calls = []

    def compare(store, a, b, metric, ds, sp):
        calls.append((store.root.name, a, b, sp))
        sign = 1 if sp.startswith("loo") else -1
        return [{"diff": 0.1 * sign, "wilcoxon_p": 0.02, "n_users": 50}]

    monkeypatch.setattr("ssl4rec.reporting.leaderboard.compare_models", compare)
    md, table, _ = sensitivity_report(tmp_path, ["full", "sampled-uniform"])
    section = md.split("## Leave-one-out vs a global timeline")[1]
    # tau-b of (A, B, C) vs (B, A, C): 2 concordant, 1 discordant of 3 pairs
    assert "| d | full | loo vs time | 0.333 |" in section and "| d | sampled-uniform | loo vs time | 0.333 |" in section
    assert "cold" not in section
    assert "| d | full | A, B | A > B | 0.02 * | B > A | 0.02 * |" in section
    assert ("full", "A", "B", "loo") in calls and ("full", "A", "B", "time") in calls
    assert ("sampled-uniform", "A", "B", "time [sampled]") in calls
    assert table.count(",split_kendall_tau,") == 2 and table.count(",split_flip,") == 4


def test_timeline_section_on_real_records(tmp_path):
    suite = {
        "name": "sens",
        "datasets": [{"name": "synthetic", "params": {"n_users": 80, "n_items": 150, "n_interactions": 1600}}],
        "splits": ["leave_one_out", {"name": "temporal", "params": {"ratios": [0.8, 0.1, 0.1]}}],
        "models": ["pop", "itemknn"],
        "seeds": [0],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "sens"
    assert cli.main(["sensitivity", str(path), "--out", str(out), "--protocols", "full,sampled-uniform"]) == 0
    md = (out / "sensitivity.md").read_text()
    section = md.split("## Leave-one-out vs a global timeline")[1]
    assert "| synthetic | full | leave_one_out vs temporal |" in section
    assert "| synthetic | sampled-uniform | leave_one_out vs temporal |" in section
    rows = list(csv.reader((out / "sensitivity.csv").read_text().splitlines()))
    taus = [r for r in rows if r[2] == "split_kendall_tau"]
    assert {r[3] for r in taus} == {"full", "sampled-uniform"} and all(r[9] == "2" for r in taus)


def test_readme_summarises_a_published_sensitivity_report(tmp_path, monkeypatch):
    from ssl4rec.reporting.leaderboard import update_readme

    root = tmp_path / "leaderboards"
    report = root / "sensitivity" / "d"
    for p in ("full", "sampled-uniform"):
        (report / p / "records").mkdir(parents=True)
    header = "dataset,split,kind,protocol_a,protocol_b,model_a,model_b,value,p_value,n\n"
    (report / "sensitivity.csv").write_text(
        header
        + "d,loo,kendall_tau,full,sampled-uniform,,,0.333333,0.6,3\n"
        + "d,loo,flip,full,sampled-uniform,A,B,0.1,0.01,50\n"
        + "d,loo,flip,sampled-uniform,full,A,B,-0.1,0.4,50\n"
        + "d,loo vs time,split_kendall_tau,full,,,,1.0,0.1,3\n"
        + "d,loo vs time,split_kendall_tau,sampled-uniform,,,,0.5,0.3,3\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results:begin -->\n<!-- results:end -->\n")
    assert update_readme(readme, root)
    text = readme.read_text()
    assert "| [d / loo](leaderboards/sensitivity/d/sensitivity.md) | full vs sampled-uniform | 0.333 | 0.6 | 3 | 1 |" in text
    assert "| [d](leaderboards/sensitivity/d/sensitivity.md) | loo vs time (full) | 1.000 | 0.1 | 3 | 0 |" in text
    assert "0.500" not in text  # the summary reads full ranking's rows; the report has the rest
    # the protocol folders' records are not listed as leaderboards of their own
    assert "| leaderboard |" not in text


def test_a_killed_cell_resumes_from_its_checkpoint_under_every_protocol(tmp_path):
    """`sensitivity --checkpoint-every N`: a cell killed mid-fit resumes from its checkpoint, and the resumed fit
    gives the records (every protocol's) an uninterrupted run gives."""
    import json

    from ssl4rec.reporting.sensitivity import protocol_suites
    from ssl4rec.running.plan import load_suite
    from ssl4rec.running.runner import Runner
    from tests.test_checkpoints import _KillOnce

    suite = {
        "name": "sens",
        "datasets": [{"name": "synthetic", "params": {"n_users": 60, "n_items": 150, "n_interactions": 1200}}],
        "splits": ["leave_one_out"],
        "models": [
            {
                "name": "sasrec",
                "params": {
                    "epochs": 5,
                    "batch_size": 32,
                    "max_len": 10,
                    "encoder": {"embedding_size": 16, "num_layers": 1},
                },
            }
        ],
        "seeds": [0],
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    args = ["--protocols", "full,sampled-uniform", "--checkpoint-every", "1"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert cli.main(["sensitivity", str(path), "--out", str(whole), *args]) == 0
    # the first attempt dies at epoch 3 of the protocol that fits (full), leaving a checkpoint and no record
    full = protocol_suites(load_suite(path))["full"]
    (outcome,) = Runner(full, out=killed / "full", trackers=[_KillOnce(3)], checkpoint_every=1).run()
    assert outcome.status == "failed" and list(killed.glob("full/records/**/*.ckpt.pt"))
    assert cli.main(["sensitivity", str(path), "--out", str(killed), *args]) == 0
    assert not list(killed.glob("**/*.ckpt.pt"))

    def records(root):
        return {p.relative_to(root).parts[0]: json.loads(p.read_text()) for p in root.glob("*/records/**/seed0-*.json")}

    a, b = records(whole), records(killed)
    assert set(a) == set(b) == {"full", "sampled-uniform"}
    assert b["full"]["fit_info"]["resumed_from"] == [2] and "resumed_from" not in a["full"]["fit_info"]
    for protocol in a:
        assert a[protocol]["metrics"] == b[protocol]["metrics"]
    # a negative count is one clear line before anything is written
    bad = tmp_path / "bad"
    assert cli.main(["sensitivity", str(path), "--out", str(bad), "--checkpoint-every", "-1"]) == 2
    assert not bad.exists()
