"""Reproduction reports: generated from records, relative differences, orderings."""

from __future__ import annotations

import csv

import pytest
import yaml

from ssl4rec.registry import ConfigError
from ssl4rec.reporting.records import ResultsStore
from ssl4rec.reporting.reproduce import write_reproduction
from ssl4rec.running.plan import load_suite
from ssl4rec.running.runner import Runner

SUITE = {
    "name": "reprotiny",
    "datasets": [{"name": "synthetic", "params": {"n_users": 80, "n_items": 50, "n_interactions": 1500}}],
    "splits": ["leave_one_out"],
    "models": [{"name": "pop", "label": "Pop"}, {"name": "itemknn", "label": "ItemKNN"}],
    "seeds": [0, 1],
    "evaluation": {"ks": [10], "metrics": ["hr", "ndcg"]},
    "published": {
        "source": "a made-up table",
        "dataset": "synthetic",
        "split": "leave_one_out",
        "values": {"Pop": {"ndcg@10": 0.1}, "ItemKNN": {"ndcg@10": 0.2, "hr@10": 0.3}},
        "orderings": [["Pop", "ItemKNN"]],
    },
}


def test_report_from_records(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    suite = load_suite(path)
    out = tmp_path / "res"
    Runner(suite, out=out).run()
    recs = [r for r in ResultsStore(out).iter_records()]
    pop = [r.metrics["ndcg@10"] for r in recs if r.model_label == "Pop"]
    knn = [r.metrics["ndcg@10"] for r in recs if r.model_label == "ItemKNN"]
    md, cs = write_reproduction(suite, out, tmp_path / "report")
    rows = {(r["model"], r["metric"]): r for r in csv.DictReader(cs.open())}
    assert list(next(csv.reader(cs.open()))) == ["model", "metric", "ours_mean", "ours_std", "n_seeds", "published", "rel_diff"]
    mean = sum(pop) / 2
    assert float(rows[("Pop", "ndcg@10")]["ours_mean"]) == pytest.approx(mean, abs=1e-6)
    assert float(rows[("Pop", "ndcg@10")]["rel_diff"]) == pytest.approx((mean - 0.1) / 0.1, abs=1e-5)
    assert rows[("Pop", "ndcg@10")]["n_seeds"] == "2"
    text = md.read_text()
    holds = "yes" if sum(pop) < sum(knn) else "no"
    assert "## Orderings" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| Pop < ItemKNN | NDCG@10"))
    assert f"| {holds} |" in line
    assert "## Training time on this machine" in text
    pop_row = next(ln for ln in text.splitlines() if ln.startswith("| Pop | NDCG@10 |"))
    assert "± " not in pop_row and "(n=2)" in pop_row  # Pop is deterministic: no "± 0.0000"


def test_orderings_must_name_models(tmp_path):
    bad = {**SUITE, "published": {**SUITE["published"], "orderings": [["Pop", "SASRec"]]}}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="SASRec"):
        load_suite(path)


def test_variant_rows_use_base_published_values(tmp_path):
    """A labelled variant gets its own rows, held against its base model's published values,
    and stands in for the base in the orderings."""
    suite_raw = {
        **SUITE,
        "models": [*SUITE["models"], {"name": "itemknn", "label": "ItemKNN (k=5)", "params": {"k": 5}}],
        "published": {**SUITE["published"], "variants": {"ItemKNN (k=5)": "ItemKNN"}},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite_raw))
    suite = load_suite(path)
    out = tmp_path / "res"
    Runner(suite, out=out).run()
    variant = [r.metrics["hr@10"] for r in ResultsStore(out).iter_records() if r.model_label == "ItemKNN (k=5)"]
    md, cs = write_reproduction(suite, out, tmp_path / "report")
    rows = {(r["model"], r["metric"]): r for r in csv.DictReader(cs.open())}
    row = rows[("ItemKNN (k=5)", "hr@10")]
    assert float(row["published"]) == 0.3
    assert float(row["ours_mean"]) == pytest.approx(sum(variant) / 2, abs=1e-6)
    assert ("ItemKNN (k=5)", "ndcg@10") in rows and ("Pop", "hr@10") not in rows
    assert any(ln.startswith("| Pop < ItemKNN (k=5) | NDCG@10") for ln in md.read_text().splitlines())


def test_variant_must_name_a_published_row(tmp_path):
    bad = {**SUITE, "published": {**SUITE["published"], "variants": {"Pop": "SASRec"}}}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="SASRec"):
        load_suite(path)


def test_a_model_without_records_is_marked_missing_not_a_miss(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    suite = load_suite(path)
    out = tmp_path / "res"
    Runner(suite.select(models=["Pop"]), out=out).run()
    md, _ = write_reproduction(suite, out, tmp_path / "report")
    lines = md.read_text().splitlines()
    knn = next(ln for ln in lines if ln.startswith("| ItemKNN | NDCG@10"))
    pop = next(ln for ln in lines if ln.startswith("| Pop | NDCG@10"))
    assert "| missing |" in knn and knn.endswith("| · |")
    assert pop.endswith("| ✓ |") or pop.endswith("| ✗ |")


@pytest.mark.parametrize("candidates", ["full", "sampled"])
def test_orderings_get_their_paired_test_under_full_and_sampled_protocols(tmp_path, candidates):
    """A sampled protocol's table is labelled "split [sampled-...]": the ordering's test must still find it."""
    evaluation = {**SUITE["evaluation"], "candidates": candidates}
    if candidates == "sampled":
        evaluation.update(n_negatives=20, sampling="uniform")
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({**SUITE, "evaluation": evaluation}))
    suite = load_suite(path)
    Runner(suite, out=tmp_path / "res").run()
    md, _ = write_reproduction(suite, tmp_path / "res", tmp_path / "report")
    line = next(ln for ln in md.read_text().splitlines() if ln.startswith("| Pop < ItemKNN | NDCG@10"))
    p = line.rstrip(" |").rsplit("|", 1)[1].strip()
    assert p != "–" and 0.0 <= float(p) <= 1.0, line
