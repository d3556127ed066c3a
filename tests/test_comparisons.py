"""A suite's ``comparisons``: paired tests shown on every leaderboard table that lists both models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ssl4rec.registry import ConfigError
from ssl4rec.reporting.leaderboard import build_tables, holm, render_markdown, write_leaderboards
from ssl4rec.reporting.records import ResultsStore, RunRecord
from ssl4rec.running.plan import parse_suite

USERS = np.arange(120, dtype=np.int32)


def _write(store: ResultsStore, model: str, seed: int, values: np.ndarray) -> None:
    rec = {
        "schema_version": 1,
        "status": "ok",
        "seed": seed,
        "protocol": {"label": "full ranking, history masked"},
        "cell_id": f"d/s/{model}/seed{seed}",
        "dataset": {"label": "d", "checksum": "x", "counts": {}},
        "split": {"label": "s", "name": "s", "params": {}},
        "model": {"label": model, "params": {}, "component_versions": {}},
        "metrics": {"ndcg@10": float(values.mean())},
        "fit_seconds": 1.0,
    }
    store.write(
        Path(f"d/s/{model}/seed{seed}-x.json"),
        RunRecord.from_dict(rec),
        {"users": USERS, "ndcg@10": values.astype(np.float32)},
    )


@pytest.fixture
def store(tmp_path):
    """Base beats Variant by 0.1 on the first 100 users in both seeds; Twin equals Base but on 6 users."""
    s = ResultsStore(tmp_path)
    rng = np.random.default_rng(0)
    for seed in (0, 1):
        base = rng.uniform(0.2, 0.8, len(USERS)).astype(np.float32)
        variant = base - np.r_[np.full(100, 0.1), np.zeros(20)].astype(np.float32)
        twin = base.copy()
        twin[:6] += np.array([0.01, -0.01, 0.02, -0.02, 0.01, -0.005], dtype=np.float32)
        for model, v in (("Base", base), ("Variant", variant), ("Twin", twin)):
            _write(s, model, seed, v)
    return s


def test_table_comparisons_are_paired_over_users_and_holm_corrected(store):
    pairs = [("Variant", "Base"), ("Twin", "Base"), ("Variant", "Missing"), ("Other", "Base")]
    (table,) = build_tables(store, comparisons=pairs, expected={"d": ["Missing"]})
    got = {(c["a"], c["b"]): c for c in table.comparisons}
    # a pair with a model this table does not list is not shown; a listed model without records says so
    assert set(got) == {("Variant", "Base"), ("Twin", "Base"), ("Variant", "Missing")}
    assert (
        got[("Variant", "Missing")]["n_users"] == 0 and got[("Variant", "Missing")]["reason"] == "no record of Missing"
    )
    worse = got[("Variant", "Base")]
    assert worse["n_users"] == 120 and worse["n_seeds"] == 2
    assert worse["diff"] == pytest.approx(-0.1 * 100 / 120, abs=1e-6)
    tw = got[("Twin", "Base")]
    assert worse["wilcoxon_p"] < 1e-10 and tw["wilcoxon_p"] > 0.05
    assert [worse["holm_p"], tw["holm_p"]] == pytest.approx(holm([worse["wilcoxon_p"], tw["wilcoxon_p"]]))
    md = render_markdown(table)
    assert "**Comparisons.**" in md
    row = next(line for line in md.splitlines() if line.startswith("| Variant | Base |"))
    assert row.endswith("| A < B |") and "| 2 | 120 |" in row
    assert next(line for line in md.splitlines() if line.startswith("| Twin | Base |")).endswith(
        "| no difference at 0.05 |"
    )
    assert "| Variant | Missing | 0 | 0 |" in md and "no record of Missing" in md


def test_models_equal_on_every_user_say_so(tmp_path):
    s = ResultsStore(tmp_path)
    zeros = np.zeros(len(USERS), dtype=np.float32)  # e.g. two id-only models on cold items
    for model in ("A", "B"):
        _write(s, model, 0, zeros)
    (table,) = build_tables(s, comparisons=[("A", "B")])
    (c,) = table.comparisons
    assert c["identical"] and c["wilcoxon_p"] == 1.0
    assert next(x for x in render_markdown(table).splitlines() if x.startswith("| A | B | 1 |")).endswith(
        "| equal on every user |"
    )


def test_comparison_p_value_equals_a_direct_wilcoxon(store):
    (table,) = build_tables(store, comparisons=[("Twin", "Base")])
    (c,) = table.comparisons
    means = {}
    for model in ("Twin", "Base"):
        recs = [r for r in store.iter_records() if r.model_label == model]
        means[model] = np.mean([store.per_user(r)["ndcg@10"] for r in recs], axis=0)
    expected = stats.wilcoxon(means["Twin"], means["Base"], zero_method="wilcox").pvalue
    assert c["wilcoxon_p"] == pytest.approx(expected)
    assert c["holm_p"] == pytest.approx(expected)  # one comparison on the table: no correction


def test_comparisons_reach_the_html_page(store, tmp_path):
    out = tmp_path / "lb"
    write_leaderboards(store.root, out, comparisons=[("Variant", "Base")])
    page = (out / "d" / "index.html").read_text()
    assert "Paired comparisons named by the suite" in page and "<td>Variant</td><td>Base</td>" in page
    assert "A &lt; B" in page
    # without comparisons the table has none
    write_leaderboards(store.root, out)
    assert "Paired comparisons" not in (out / "d" / "s.md").read_text()


BASE_SUITE = {
    "name": "pairs",
    "datasets": [{"name": "synthetic", "params": {"n_users": 30, "n_items": 20, "n_interactions": 300}}],
    "splits": ["leave_one_out"],
    "models": ["pop", {"name": "itemknn", "label": "ItemKNN"}],
}


def test_suite_comparisons_are_checked():
    suite = parse_suite({**BASE_SUITE, "comparisons": [["ItemKNN", "pop"]]})
    assert suite.comparisons == (("ItemKNN", "pop"),)
    assert parse_suite(BASE_SUITE).comparisons == ()
    with pytest.raises(ConfigError, match=r"comparisons\[0\]: 'ItemKnn' is not a model label.*Did you mean 'ItemKNN'"):
        parse_suite({**BASE_SUITE, "comparisons": [["ItemKnn", "pop"]]})
    with pytest.raises(ConfigError, match="with itself"):
        parse_suite({**BASE_SUITE, "comparisons": [["pop", "pop"]]})
    with pytest.raises(ConfigError, match=r"comparisons\[1\].*listed twice"):
        parse_suite({**BASE_SUITE, "comparisons": [["pop", "ItemKNN"], ["pop", "ItemKNN"]]})
    with pytest.raises(ConfigError, match=r"comparisons\[0\]: give a pair"):
        parse_suite({**BASE_SUITE, "comparisons": [["pop"]]})
    with pytest.raises(ConfigError, match="comparisons: give a list"):
        parse_suite({**BASE_SUITE, "comparisons": "pop,ItemKNN"})


def test_a_pair_with_a_model_that_is_n_a_on_the_table_says_why(store):
    rec = {
        "schema_version": 1,
        "status": "n/a",
        "reason": "the transfer source d is this cell's dataset: nothing to transfer",
        "seed": 0,
        "cell_id": "d/s/Self/seed0",
        "dataset": {"label": "d", "checksum": "x", "counts": {}},
        "split": {"label": "s", "name": "s", "params": {}},
        "model": {"label": "Self", "params": {}, "component_versions": {}},
    }
    store.write(Path("d/s/Self/seed0-x.json"), RunRecord.from_dict(rec))
    (table,) = build_tables(store, comparisons=[("Self", "Base"), ("Variant", "Base")])
    got = {(c["a"], c["b"]): c for c in table.comparisons}
    assert got[("Self", "Base")]["n_users"] == 0
    assert (
        got[("Self", "Base")]["reason"]
        == "Self n/a here: the transfer source d is this cell's dataset: nothing to transfer"
    )
    # the n/a pair is not a test: Holm's correction runs over the tested pair alone
    assert got[("Variant", "Base")]["holm_p"] == pytest.approx(got[("Variant", "Base")]["wilcoxon_p"])


def test_unscorable_targets_note_gives_their_share(tmp_path):
    s = ResultsStore(tmp_path)
    for model, seed, bad, n in (("IdOnly", 0, 3, 9), ("IdOnly", 1, 5, 10), ("Attr", 0, 4, 17885), ("All", 0, 0, 9)):
        rec = {
            "schema_version": 2,
            "status": "ok",
            "seed": seed,
            "protocol": {"label": "full ranking, history masked"},
            "cell_id": f"d/s/{model}/seed{seed}",
            "dataset": {"label": "d", "checksum": "x", "counts": {}},
            "split": {"label": "s", "name": "s", "params": {}},
            "model": {"label": model, "params": {}, "component_versions": {}},
            "metrics": {"ndcg@10": 0.1},
            "eval_info": {"unscorable_targets": bad, "n_targets": n},
            "fit_seconds": 1.0,
        }
        s.write(Path(f"d/s/{model}/seed{seed}-x.json"), RunRecord.from_dict(rec), {"users": USERS})
    (table,) = build_tables(s)
    notes = {r.model: r.notes for r in table.rows}
    assert notes["IdOnly"] == ["cannot score cold items (42% of test targets)"]  # mean of 3/9 and 5/10
    assert notes["Attr"] == ["cannot score cold items (0.02% of test targets)"]
    assert notes["All"] == []
