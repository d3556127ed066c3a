"""Tuning (equal budgets, defaults first, resumable, shared studies), tracking and significance."""

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

from ssl4rec.registry import ConfigError
from ssl4rec.reporting.leaderboard import build_tables, record_notes
from ssl4rec.reporting.records import ResultsStore, RunRecord
from ssl4rec.running.plan import load_suite, parse_suite
from ssl4rec.running.runner import Runner
from ssl4rec.running.tuning import best_params_path, load_best, load_best_params, tune

REPO = Path(__file__).resolve().parents[1]
SUITE = {
    "name": "tunetiny",
    "datasets": [{"name": "synthetic", "params": {"n_users": 100, "n_items": 60, "n_interactions": 2000}}],
    "splits": ["leave_one_out"],
    "models": ["pop", {"name": "itemknn"}, {"name": "bpr", "params": {"epochs": 4}}],
    "seeds": [0],
}


def write_suite(tmp_path: Path, suite: dict) -> Path:
    p = tmp_path / "suite.yaml"
    p.write_text(yaml.safe_dump(suite))
    return p


def test_tune_equal_budget_defaults_first_and_run_tuned(tmp_path):
    import optuna

    path = write_suite(tmp_path, SUITE)
    suite = load_suite(path)
    out = tmp_path / "res"
    best = tune(suite, out, trials=3)
    storage = f"sqlite:///{out / 'tuning.db'}"
    for label, expected in (("pop", 1), ("itemknn", 3), ("bpr", 3)):
        study = optuna.load_study(study_name=f"tunetiny/synthetic/leave_one_out/{label}", storage=storage)
        assert len(study.trials) == expected, label
        assert study.metric_names == ["valid ndcg@10"]  # named for optuna-dashboard, not "Objective 0"
        if expected > 1:
            assert study.trials[0].user_attrs.get("default") is True
    assert study.trials[0].params["embedding_size"] == 64  # the default config is trial 0
    params = load_best_params(path, out)
    assert set(params) == {"synthetic/leave_one_out/pop", "synthetic/leave_one_out/itemknn", "synthetic/leave_one_out/bpr"}
    # tune --out X writes X/<suite>.best.yaml and nothing beside the suite
    assert best_params_path(path, out) == out / (path.stem + ".best.yaml") and best_params_path(path, out).is_file()
    assert not best_params_path(path).exists()
    assert best["synthetic/leave_one_out/bpr"]["trials"] == 3
    # resumable: asking again for the same budget runs nothing new
    tune(suite, out, trials=3)
    assert len(optuna.load_study(study_name="tunetiny/synthetic/leave_one_out/bpr", storage=storage).trials) == 3
    # run --tuned uses them, and each record says it was tuned, with how many trials
    outcomes = Runner(suite, out=out, tuning=load_best(path, out)).run()
    assert all(o.status == "ok" for o in outcomes)
    recs = {r.model_label: r for r in ResultsStore(out).iter_records()}
    for k, v in params["synthetic/leave_one_out/itemknn"].items():
        assert recs["itemknn"].model["params"][k] == v
    assert recs["bpr"].tuning["trials"] == 3 and recs["bpr"].tuning["params"] == params["synthetic/leave_one_out/bpr"]
    assert recs["bpr"].tuning["value"] == pytest.approx(best["synthetic/leave_one_out/bpr"]["value"])
    table = build_tables(ResultsStore(out))[0]
    assert any(n.startswith("tuned (3 trials") for r in table.rows if r.model == "bpr" for n in r.notes)
    assert "no parameters to tune" in next(r for r in table.rows if r.model == "pop").notes


def test_default_trial_of_an_ssl_preset_keeps_out_of_space_defaults(tmp_path):
    """SSL presets default to weight decay 0, which a log-scale space cannot hold: trial 0 leaves
    it at the model default instead of failing, and later trials search it."""
    import optuna

    suite = dict(SUITE, models=[{"name": "sasrec", "params": {"epochs": 2, "encoder.embedding_size": 16}}])
    path = write_suite(tmp_path, suite)
    out = tmp_path / "res"
    tune(load_suite(path), out, trials=2)
    study = optuna.load_study(study_name="tunetiny/synthetic/leave_one_out/SASRec", storage=f"sqlite:///{out / 'tuning.db'}")
    first, second = study.trials
    assert first.user_attrs["default"] is True and first.state.name == "COMPLETE"
    assert "weight_decay" not in first.params and first.params["learning_rate"] == pytest.approx(1e-3)
    assert second.state.name in ("COMPLETE", "PRUNED") and "weight_decay" in second.params


def test_resuming_a_study_with_another_fixed_configuration_is_refused(tmp_path):
    from ssl4rec.registry import ConfigError

    path = write_suite(tmp_path, dict(SUITE, models=[{"name": "bpr", "params": {"epochs": 2}}]))
    out = tmp_path / "res"
    tune(load_suite(path), out, trials=1)
    tune(load_suite(path), out, trials=2)  # same configuration: resumes
    path = write_suite(tmp_path, dict(SUITE, models=[{"name": "bpr", "params": {"epochs": 3}}]))
    with pytest.raises(ConfigError, match="another configuration .*model"):
        tune(load_suite(path), out, trials=3)


def test_tuned_parameters_are_read_from_the_results_folder_else_beside_the_suite(tmp_path):
    from ssl4rec.running.tuning import find_best

    path = write_suite(tmp_path, SUITE)
    out = tmp_path / "res"
    with pytest.raises(ConfigError, match=r"no tuned parameters at .*res/.*\.best\.yaml or .*\.best\.yaml: run `ssl4rec tune"):
        find_best(path, out)
    beside = best_params_path(path)
    beside.write_text("cells: {}\n")
    assert find_best(path, out) == beside  # a committed copy beside the suite
    out.mkdir()
    best_params_path(path, out).write_text("cells: {}\n")
    assert find_best(path, out) == best_params_path(path, out)  # tune's own output first


def test_selected_models_tune_and_merge_best_params(tmp_path):
    """`--models` selections tune only those models; each study's best parameters are merged
    into <suite>.best.yaml, keeping the cells another selection wrote; unknown labels get
    did-you-mean."""
    from ssl4rec.cli import main
    from ssl4rec.registry import ConfigError

    path = write_suite(tmp_path, SUITE)
    out = tmp_path / "res"
    assert main(["tune", str(path), "--trials", "2", "--out", str(out), "--models", "itemknn"]) == 0
    assert set(load_best_params(path, out)) == {"synthetic/leave_one_out/itemknn"}
    assert main(["tune", str(path), "--trials", "2", "--out", str(out), "--models", "pop,bpr"]) == 0
    assert set(load_best_params(path, out)) == {f"synthetic/leave_one_out/{m}" for m in ("pop", "itemknn", "bpr")}
    # run --tuned with a selection writes only the selected cells
    assert main(["run", str(path), "--tuned", "--out", str(out), "--models", "bpr"]) == 0
    # a cell without tuned parameters is refused, not silently run with defaults
    best_file = best_params_path(path, out)
    best_file.write_text(best_file.read_text().replace("synthetic/leave_one_out/pop", "synthetic/leave_one_out/gone"))
    assert main(["run", str(path), "--tuned", "--out", str(out), "--models", "pop,bpr"]) == 2
    assert {r.model_label for r in ResultsStore(out).iter_records()} == {"bpr"}
    with pytest.raises(ConfigError, match="Did you mean 'itemknn'"):
        load_suite(path).select(models=["itemkn"])
    with pytest.raises(ConfigError, match="seeds"):
        load_suite(path).select(seeds=[5])


def test_repeated_configurations_do_not_count_toward_the_budget(tmp_path):
    """A trial repeating an earlier finished configuration (as two identically seeded workers drew)
    is passed over: the study is topped up to `budget` distinct configurations, and the repeat's
    value is never chosen, even when it is higher."""
    import optuna

    from ssl4rec.running.tuning import _space_size

    path = write_suite(tmp_path, {**SUITE, "models": [{"name": "itemknn"}]})
    out = tmp_path / "res"
    storage = f"sqlite:///{out / 'tuning.db'}"
    name = "tunetiny/synthetic/leave_one_out/itemknn"
    tune(load_suite(path), out, trials=2)
    study = optuna.load_study(study_name=name, storage=storage)
    drawn = study.trials[1]
    study.add_trial(optuna.trial.create_trial(params=drawn.params, distributions=drawn.distributions, value=drawn.value + 1.0))
    best = tune(load_suite(path), out, trials=3)["synthetic/leave_one_out/itemknn"]
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert len(trials) == 4 and trials[3].params != drawn.params  # one new configuration ran
    assert best["trials"] == 3 and best["repeats_skipped"] == 1
    assert best["trial"] != 2 and best["value"] == max(trials[i].value for i in (0, 1, 3))
    # a finite space caps the budget at its size (no endless search for configurations that do not exist)
    assert _space_size({"a": ("categorical", [1, 2, 3]), "b": ("int", 1, 4)}) == 12
    assert _space_size({"a": ("categorical", [1, 2]), "x": ("float", 0.0, 1.0)}) == float("inf")
    assert _space_size({}) == 1


@pytest.mark.slow
def test_workers_with_equally_seeded_samplers_draw_different_parameters():
    """Two workers on one study hold samplers with the same seed: plain TPE gives both the same
    draws; re-seeding per trial number gives each trial its own, reproducibly."""
    import optuna

    from ssl4rec.running.tuning import _trial_seeded_tpe

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def two_workers(make, name):
        storage = optuna.storages.InMemoryStorage()
        draws = []
        for _ in range(2):  # each worker opens the study with its own sampler instance
            study = optuna.create_study(study_name=name, storage=storage, sampler=make(), load_if_exists=True)
            trial = study.ask()
            draws.append(trial.suggest_float("x", 0.0, 1.0))
        return draws

    plain = two_workers(lambda: optuna.samplers.TPESampler(seed=7), "plain")
    assert plain[0] == plain[1]  # the defect: duplicate trials
    seeded = two_workers(lambda: _trial_seeded_tpe(7), "seeded")
    assert seeded[0] != seeded[1]
    assert two_workers(lambda: _trial_seeded_tpe(7), "again") == seeded  # reproducible per trial number


def test_a_worker_whose_trial_another_worker_failed_goes_on(caplog):
    """A worker paused past the heartbeat grace period finds its trial failed (and retried) by
    another worker; Optuna then raises out of optimize. The worker must go on, and an error of the
    objective itself must still propagate."""
    import optuna
    from optuna.trial import TrialState

    from ssl4rec.running.tuning import _optimize

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")

    def taken_over(trial):
        if trial.number == 0:  # what fail_stale_trials in another worker does to this trial meanwhile
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        return trial.suggest_float("x", 0.0, 1.0)

    with caplog.at_level("WARNING", logger="ssl4rec.running.tuning"):
        assert _optimize(study, taken_over, "k", n_trials=3) is False
    assert "trial 0 was ended (FAIL) by another worker" in caplog.text
    assert _optimize(study, taken_over, "k", n_trials=2) is True
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]

    def broken(trial):
        raise ValueError("a bug in the objective")

    with pytest.raises(ValueError, match="a bug in the objective"):
        _optimize(study, broken, "k", n_trials=1)


def test_two_workers_share_one_sqlite_study(tmp_path):
    import optuna

    suite = {**SUITE, "models": [{"name": "itemknn"}]}
    path = write_suite(tmp_path, suite)
    out = tmp_path / "res"
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    cmd = [sys.executable, str(REPO / "run_bench.py"), "tune", str(path), "--trials", "6", "--out", str(out), "--storage", storage]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    study = optuna.load_study(study_name="tunetiny/synthetic/leave_one_out/itemknn", storage=storage)
    done = [t for t in study.trials if t.state.is_finished()]
    # both workers stop at the shared budget of distinct configurations (one may overshoot by its running
    # trial); a repeat of an earlier trial's parameters is not counted and is topped up (itemknn's search
    # space is small, so a repeat can happen, depending on which trials each worker's sampler has seen)
    distinct = {json.dumps(t.params, sort_keys=True) for t in done}
    assert 6 <= len(distinct) <= 7
    assert len({t.number for t in done}) == len(done)

    # only the first 6 to finish are considered: the best parameters come from exactly the budget
    entry = load_best(path, out)["synthetic/leave_one_out/itemknn"]
    first, seen = [], set()
    for t in sorted(done, key=lambda t: (t.datetime_complete, t.number)):
        key = json.dumps(t.params, sort_keys=True)
        if key not in seen and len(first) < 6:
            seen.add(key)
            first.append(t)
    assert entry["trials"] == 6 and entry["value"] == max(t.value for t in first)
    assert entry["trial"] in {t.number for t in first}


@pytest.mark.slow
def test_killed_tune_resumes(tmp_path):
    """SIGKILL in the middle of a study, run the same command again: the finished studies and
    trials are kept, the study tops up to exactly its budget, and best parameters are written."""
    import optuna

    suite = {**SUITE, "models": [{"name": "itemknn"}, {"name": "bpr", "params": {"epochs": 6}}]}
    path = write_suite(tmp_path, suite)
    out = tmp_path / "res"
    cmd = [sys.executable, str(REPO / "run_bench.py"), "tune", str(path), "--trials", "5", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    storage = f"sqlite:///{out / 'tuning.db'}"

    def finished(label: str) -> int:
        if not (out / "tuning.db").exists():
            return 0
        from sqlalchemy.exc import SQLAlchemyError

        try:
            study = optuna.load_study(study_name=f"tunetiny/synthetic/leave_one_out/{label}", storage=storage)
        except KeyError:  # study not created yet
            return 0
        except SQLAlchemyError:  # the worker is creating the schema right now: look again later
            return 0
        return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and finished("bpr") < 1:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before_knn, before_bpr = finished("itemknn"), finished("bpr")
    assert before_knn == 5 and 1 <= before_bpr < 5, (before_knn, before_bpr)  # killed inside the bpr study
    assert set(load_best_params(path, out)) == {"synthetic/leave_one_out/itemknn"}  # written when its study finished
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert finished("itemknn") == 5 and finished("bpr") == 5
    assert set(load_best_params(path, out)) == {"synthetic/leave_one_out/itemknn", "synthetic/leave_one_out/bpr"}


def test_wandb_offline_run_directory(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from ssl4rec.running.tracking import WandbTracker

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "res"
    tracker = WandbTracker(project="ssl4rec-test", suite="tiny", out=out)
    suite = parse_suite({**SUITE, "models": [{"name": "bpr", "params": {"epochs": 2}}]})
    Runner(suite, out=out, trackers=[tracker]).run()
    rec = next(ResultsStore(out).iter_records())
    assert rec.wandb["mode"] == "offline" and rec.wandb["run_id"]
    runs = list((out / "wandb").glob("offline-run-*"))
    assert runs and any(rec.wandb["run_id"] in r.name for r in runs)


def test_significance_marks_on_constructed_case(tmp_path):
    """Model A is better than B on every user (significant); C equals A up to noise on 5 users (not)."""
    from ssl4rec.reporting.records import ResultsStore as Store

    store = Store(tmp_path)
    rng = np.random.default_rng(0)
    users = np.arange(200, dtype=np.int32)
    base = rng.uniform(0.2, 0.8, 200)
    per_model = {"A": base, "B": base - 0.1, "C": base + np.r_[rng.normal(0, 0.01, 5), np.zeros(195)] * 0}
    per_model["C"] = base.copy()
    per_model["C"][:6] += np.array([0.01, -0.01, 0.02, -0.02, 0.01, -0.005])
    common = {"schema_version": 1, "status": "ok", "seed": 0, "protocol": {"label": "full ranking, history masked"}}
    for name, vals in per_model.items():
        rec = {
            **common,
            "cell_id": f"d/s/{name}/seed0",
            "dataset": {"label": "d", "checksum": "x", "counts": {}},
            "split": {"label": "s", "name": "s", "params": {}},
            "model": {"label": name, "params": {}, "component_versions": {}},
            "metrics": {"ndcg@10": float(vals.mean())},
            "fit_seconds": 1.0,
        }
        store.write(Path(f"d/s/{name}/seed0-x.json"), RunRecord.from_dict(rec), {"users": users, "ndcg@10": vals.astype(np.float32)})
    (table,) = build_tables(store)
    rows = {r.model: r for r in table.rows}
    best = max(rows.values(), key=lambda r: r.mean["ndcg@10"]).model
    assert best in ("A", "C")
    assert rows["B"].significant and rows["B"].p_value < 1e-6
    other = "C" if best == "A" else "A"
    assert not rows[other].significant
    assert json.dumps([r.model for r in table.rows])


def test_compare_models_paired_over_seed_user_pairs(tmp_path):
    """A beats B by 0.05 on 150 of 200 users in each of two seeds: significant; A vs itself is not."""
    from ssl4rec.reporting.leaderboard import compare_models, render_comparison

    store = ResultsStore(tmp_path)
    users = np.arange(200, dtype=np.int32)
    rng = np.random.default_rng(1)
    for seed in (0, 1):
        base = rng.uniform(0.1, 0.9, 200)
        vals = {"A": base + np.r_[np.full(150, 0.05), np.zeros(50)], "B": base}
        for name, v in vals.items():
            rec = {
                "schema_version": 1,
                "status": "ok",
                "seed": seed,
                "protocol": {"label": "full ranking, history masked"},
                "cell_id": f"d/s/{name}/seed{seed}",
                "dataset": {"label": "d", "checksum": "x", "counts": {}},
                "split": {"label": "s", "name": "s", "params": {}},
                "model": {"label": name, "params": {}, "component_versions": {}},
                "metrics": {"cold/ndcg@10": float(v.mean())},
            }
            store.write(Path(f"d/s/{name}/seed{seed}-x.json"), RunRecord.from_dict(rec), {"users": users, "cold/ndcg@10": v.astype(np.float32)})
    (row,) = compare_models(store, "A", "B", "cold/ndcg@10")
    assert row["n_users"] == 200 and row["n_seeds"] == 2  # the unit is the user, not the (seed, user) pair
    assert row["diff"] == pytest.approx(0.05 * 150 / 200, abs=1e-6)
    assert row["per_seed_diff"][0] == pytest.approx(0.0375, abs=1e-6) and row["per_seed_diff"][1] == pytest.approx(0.0375, abs=1e-6)
    assert row["wilcoxon_p"] < 1e-10 and row["ttest_p"] < 1e-10
    assert "| yes |" in render_comparison([row])
    (same,) = compare_models(store, "A", "A", "cold/ndcg@10")
    assert same["wilcoxon_p"] == 1.0 and "| no |" in render_comparison([same])
    (missing,) = compare_models(store, "A", "B", "ndcg@10")
    assert missing["n_users"] == 0 and missing["reason"] == "metric not recorded"


def test_a_model_that_cannot_score_any_test_target_is_not_tuned(tmp_path):
    """On cold_items every test target lacks training interactions: an ID model's top-k test
    metrics are 0 whatever its parameters, so no study is spent on it; a model that can score
    cold items (content) is tuned as usual, and a study begun earlier keeps its trials."""
    import optuna

    suite = dict(
        SUITE,
        datasets=[{"name": "synthetic", "params": {"n_users": 100, "n_items": 60, "n_interactions": 2000}}],
        splits=[{"name": "cold_items", "params": {"item_fraction": 0.3}}],
        models=[{"name": "bpr", "params": {"epochs": 2}}, {"name": "itemknn"}, "content"],
    )
    path = write_suite(tmp_path, suite)
    out = tmp_path / "res"
    storage = f"sqlite:///{out / 'tuning.db'}"
    out.mkdir()
    # itemknn's study was begun before this check existed: it is resumed, not skipped
    optuna.create_study(study_name="tunetiny/synthetic/cold_items/itemknn", storage=storage)
    best = tune(load_suite(path), out, trials=2)
    names = set(optuna.get_all_study_names(storage=storage))
    assert "tunetiny/synthetic/cold_items/bpr" not in names
    assert best["synthetic/cold_items/bpr"]["trials"] == 0 and "test targets" in best["synthetic/cold_items/bpr"]["skipped"]
    assert best["synthetic/cold_items/itemknn"]["trials"] == 2 and "skipped" not in best["synthetic/cold_items/itemknn"]
    assert best["synthetic/cold_items/content"]["trials"] == 2
    # run --tuned runs the default configuration and says why it was not tuned
    outcomes = Runner(load_suite(path), out=out, tuning=load_best(path, out)).run()
    assert all(o.status == "ok" for o in outcomes)
    recs = {r.model_label: r for r in ResultsStore(out).iter_records()}
    assert recs["bpr"].metrics["ndcg@10"] == 0.0 and recs["bpr"].tuning["skipped"]
    assert any(n.startswith("not tuned, default configuration") for n in record_notes(recs["bpr"]))
    assert "notes" not in recs["bpr"].to_dict()  # facts are stored as fields, formatted only in reporting
    assert recs["content"].metrics["ndcg@10"] > 0.0


def test_a_split_with_the_same_data_reuses_the_study(tmp_path):
    """Sparsity p = 1 is its base split: its cells take the base split's studies (same trials,
    same best parameters) instead of repeating them, also when tuned on their own later; a
    level with other data gets its own study."""
    import optuna

    base = {"name": "random", "params": {"ratios": [0.8, 0.1, 0.1]}}
    sparsity = {"name": "sparsity", "params": {"base": "random", "base_params": base["params"]}, "grid": {"p": [0.5, 1.0]}}
    suite = dict(SUITE, splits=[base, sparsity], models=[{"name": "bpr", "params": {"epochs": 2}}, {"name": "itemknn"}])
    path = write_suite(tmp_path, suite)
    out = tmp_path / "res"
    storage = f"sqlite:///{out / 'tuning.db'}"
    best = tune(load_suite(path), out, trials=2)
    names = set(optuna.get_all_study_names(storage=storage))
    assert not any("sparsity-p1.0" in n for n in names)
    assert {"tunetiny/synthetic/sparsity-p0.5/bpr", "tunetiny/synthetic/random/bpr"} <= names
    for m in ("bpr", "itemknn"):
        shared, own = best[f"synthetic/sparsity-p1.0/{m}"], best[f"synthetic/random/{m}"]
        assert shared["study"] == f"synthetic/random/{m}" and "study" not in own
        assert (shared["params"], shared["value"], shared["trials"]) == (own["params"], own["value"], own["trials"])
    # alone, later (only p = 1 selected): found by its data, nothing new is run
    only_p1 = load_suite(path).select(splits=["sparsity-p1.0"])
    again = tune(only_p1, out, trials=2)
    assert again["synthetic/sparsity-p1.0/bpr"]["study"] == "synthetic/random/bpr"
    assert len(optuna.load_study(study_name="tunetiny/synthetic/random/bpr", storage=storage).trials) == 2
    outcomes = Runner(only_p1, out=out, tuning=load_best(path, out)).run()
    assert all(o.status == "ok" for o in outcomes)
    rec = next(r for r in ResultsStore(out).iter_records() if r.model_label == "bpr")
    assert rec.tuning["study"] == "synthetic/random/bpr"
    assert any("study of random, same data" in n for n in record_notes(rec))


def test_a_study_snapshot_resumes_on_another_machine(tmp_path):
    """`studies export` writes a study, one of its trials interrupted, to a journal file;
    `studies import` into a fresh results folder restores it with the same trial numbers and
    queues the interrupted configuration again; `tune` then tops up to the budget from there,
    and a second import is refused rather than duplicating trials."""
    import optuna
    from optuna.trial import TrialState

    from ssl4rec.cli import main
    from ssl4rec.running.tuning import _suggest, search_space_for

    suite = {**SUITE, "models": [{"name": "itemknn"}]}
    path = write_suite(tmp_path, suite)
    here, there = tmp_path / "here", tmp_path / "there"
    name = "tunetiny/synthetic/leave_one_out/itemknn"
    tune(load_suite(path), here, trials=2)
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{here / 'tuning.db'}")
    running = study.ask()  # a worker killed mid-trial leaves this behind
    space = search_space_for(load_suite(path).models[0])
    interrupted = {k: _suggest(running, k, spec) for k, spec in space.items()}

    snapshot = tmp_path / "snap" / "tunetiny.jsonl"
    assert main(["studies", "export", str(here), "--to", str(snapshot)]) == 0
    assert snapshot.read_text().count("\n") > 5 and not snapshot.with_name("tunetiny.jsonl.tmp").exists()
    assert main(["studies", "import", str(snapshot), "--out", str(there)]) == 0
    restored = optuna.load_study(study_name=name, storage=f"sqlite:///{there / 'tuning.db'}")
    states = [t.state for t in restored.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    assert [t.value for t in restored.trials[:2]] == [t.value for t in study.trials[:2]]
    assert restored.trials[0].user_attrs.get("default") is True
    assert restored.user_attrs["config"] == study.user_attrs["config"]
    again = tmp_path / "again.jsonl"  # a snapshot of the restored study does not queue the retry twice
    assert main(["studies", "export", str(there), "--to", str(again)]) == 0
    assert main(["studies", "import", str(again), "--out", str(tmp_path / "third")]) == 0
    third = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'third' / 'tuning.db'}")
    assert [t.state for t in third.trials] == states

    best = tune(load_suite(path), there, trials=3)
    trials = optuna.load_study(study_name=name, storage=f"sqlite:///{there / 'tuning.db'}").trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert trials[3].state == TrialState.COMPLETE and trials[3].params == interrupted
    assert trials[3].user_attrs["retry_of"] == 2
    assert best[name.split("/", 1)[1]]["trials"] == 3
    assert main(["studies", "import", str(snapshot), "--out", str(there)]) == 2  # would duplicate: refused


def test_list_valued_choices_tune_without_warnings(tmp_path):
    """Mult-VAE's hidden_sizes choices are lists: they are suggested, stored and read back from
    the SQLite study without Optuna's non-scalar-choice warning, and come out as lists."""
    import warnings

    suite = {**SUITE, "models": [{"name": "multvae", "params": {"epochs": 1}}]}
    path = write_suite(tmp_path, suite)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        best = tune(load_suite(path), tmp_path / "res", trials=2)
    assert not [f"{w.filename}:{w.lineno} {w.message}" for w in caught if "categorical distribution" in str(w.message)]
    (entry,) = best.values()
    hidden = entry["params"]["encoder.hidden_sizes"]
    assert isinstance(hidden, list) and hidden in ([300], [600], [1000])


def test_tuned_as_reuses_another_models_tuned_parameters_from_a_named_file(tmp_path, caplog):
    """An ablation (the same model plus one option) reuses the base model's tuned parameters:
    ``params.tuned_as`` names the entry, ``run --tuned --tuned-from FILE`` reads another suite's file."""
    import logging

    from ssl4rec import cli

    other = tmp_path / "tuned.best.yaml"
    other.write_text(
        yaml.safe_dump(
            {"metric": "ndcg@10", "cells": {"synthetic/leave_one_out/bpr": {"params": {"learning_rate": 0.0123}, "trials": 5}}}
        )
    )
    suite = {
        **SUITE,
        "models": [
            {"name": "bpr", "params": {"epochs": 2}},
            {"name": "bpr", "label": "bpr (wider)", "params": {"epochs": 2, "embedding_size": 16, "tuned_as": "bpr"}},
        ],
    }
    path = write_suite(tmp_path, suite)
    out = tmp_path / "out"
    assert cli.main(["run", str(path), "--out", str(out), "--tuned", "--tuned-from", str(other)]) == 0
    recs = {r.model["label"]: r for r in ResultsStore(out).iter_records()}
    wide = recs["bpr (wider)"]
    assert wide.tuning["tuned_as"] == "bpr" and wide.tuning["file"] == str(other)
    assert wide.model["params"]["learning_rate"] == 0.0123 and wide.model["params"]["embedding_size"] == 16
    assert "tuned_as" not in wide.model["params"]  # the runner's, not the model's
    # without tuned_as the variant has no entry of its own: refused before anything runs
    suite["models"][1]["params"].pop("tuned_as")
    path = write_suite(tmp_path, suite)
    with caplog.at_level(logging.ERROR, logger="ssl4rec"):
        assert cli.main(["run", str(path), "--out", str(tmp_path / "o2"), "--tuned", "--tuned-from", str(other)]) == 2
    assert "bpr (wider)" in caplog.text and not (tmp_path / "o2").exists()
    assert cli.main(["run", str(path), "--out", str(tmp_path / "o3"), "--tuned-from", str(other)]) == 2  # needs --tuned
    # SPLIT/MODEL: another split's entry (e.g. the base split of an attacked one)
    from ssl4rec.running.spec import ComponentSpec, ModelSpec, tuning_key

    d, s = ComponentSpec("synthetic", label="synthetic"), ComponentSpec("random", label="random-size0.01")
    assert tuning_key(d, s, ModelSpec("m", "baseline", "bpr", {"tuned_as": "leave_one_out/bpr"})) == "synthetic/leave_one_out/bpr"
    assert tuning_key(d, s, ModelSpec("m", "baseline", "bpr", {"tuned_as": "bpr"})) == "synthetic/random-size0.01/bpr"


def test_an_unbuildable_sampled_configuration_fails_its_trial_not_the_study(tmp_path, monkeypatch):
    """A trial whose parameters the model cannot be built with (an IncompatibleError at fit time, as
    NCL's context layer above a sampled layer count was) is a failed trial: the study goes on and its
    budget counts only the configurations that trained."""
    import optuna

    from ssl4rec.objectives.base import IncompatibleError
    from ssl4rec.running import tuning as tuning_mod

    real = tuning_mod.fit_cell
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            raise IncompatibleError("context_layer 2 but the encoder has 1 layers")
        return real(*args, **kwargs)

    monkeypatch.setattr(tuning_mod, "fit_cell", flaky)
    path = write_suite(tmp_path, {**SUITE, "models": [{"name": "bpr", "params": {"epochs": 2}}]})
    out = tmp_path / "res"
    best = tune(load_suite(path), out, trials=3)
    study = optuna.load_study(study_name="tunetiny/synthetic/leave_one_out/bpr", storage=f"sqlite:///{out / 'tuning.db'}")
    states = [t.state.name for t in study.trials]
    assert states.count("FAIL") >= 2 and states.count("COMPLETE") + states.count("PRUNED") == 3
    assert best["synthetic/leave_one_out/bpr"]["trials"] == 3


def test_ncl_search_space_keeps_its_context_layer():
    from ssl4rec.registry import PRESETS

    space = PRESETS.entry("ncl").search_space
    assert space["encoder.num_layers"][1] >= 2  # context_layer 2 needs at least two propagation layers
    assert PRESETS.entry("lightgcn").search_space["encoder.num_layers"][1] == 1


def test_a_killed_trial_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    """`tune --checkpoint-every N`: a trial killed mid-fit (here by an interrupt after epoch 3, its
    checkpoint saved after epoch 2) leaves its checkpoint; the next `tune` runs its configuration
    again from there, reports the earlier epochs' values to the pruner again, and the trial ends with
    the value and curve of the same trial in an uninterrupted study."""
    import optuna
    from optuna.trial import TrialState

    from ssl4rec.running import tuning

    model = {"name": "sasrec", "params": {"epochs": 5, "batch_size": 32, "max_len": 10}}
    suite = load_suite(write_suite(tmp_path, {**SUITE, "models": [model]}))
    name = "tunetiny/synthetic/leave_one_out/SASRec"

    def trials(out):
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'tuning.db'}")
        return study.get_trials(deepcopy=False)

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    tune(suite, whole, trials=3, write_best=False, checkpoint_every=1)

    real_fit, fits = tuning.fit_cell, []

    def fit_then_die(*args, **kwargs):  # the second trial's fit is killed in its third epoch
        fits.append(1)
        if len(fits) == 2:

            def die(epoch, value, logs):
                if epoch == 3:
                    raise KeyboardInterrupt

            kwargs["callbacks"] = [*kwargs["callbacks"], die]
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(tuning, "fit_cell", fit_then_die)
    with pytest.raises(KeyboardInterrupt):
        tune(suite, killed, trials=3, write_best=False, checkpoint_every=1)
    assert [t.state for t in trials(killed)] == [TrialState.COMPLETE, TrialState.FAIL]
    assert len(list((killed / "checkpoints").rglob("*.ckpt.pt"))) == 1
    tune(suite, killed, trials=3, write_best=False, checkpoint_every=1)

    a, b = trials(whole), trials(killed)
    assert [t.state for t in b] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert b[2].params == b[1].params == a[1].params and b[2].user_attrs["resumed_from"] == [2]
    assert b[2].value == a[1].value and b[2].intermediate_values == a[1].intermediate_values
    assert "resumed_from" not in a[1].user_attrs
    assert not list(killed.rglob("*.ckpt.pt")) and not list(whole.rglob("*.ckpt.pt"))
