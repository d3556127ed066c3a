"""``run --save-rankings K``: ranked lists under the tie rule, TREC run + qrels read back by ranx, Parquet."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from ssl4rec import cli
from ssl4rec.baselines import Pop
from ssl4rec.evaluation.evaluator import Protocol, evaluate, ranked_lists
from ssl4rec.reporting.rankings import id_strings
from ssl4rec.running.plan import parse_suite
from ssl4rec.running.runner import Runner
from ssl4rec.testing import tiny_split

INF = float("inf")


def test_ranked_lists_follow_the_tie_rule():
    s = torch.tensor([[1.0, 3, 3, 2, 3, -INF], [0, 0, 0, 0, 0, 0], [5, -INF, -INF, -INF, -INF, -INF]])
    items, scores = ranked_lists(s, 2)
    # row 0: the tie group {1, 2, 4} crosses the cut at 2: lower ids first
    assert items.tolist() == [[1, 2], [0, 1], [0, -1]]
    items, scores = ranked_lists(s, 4)
    assert items.tolist() == [[1, 2, 4, 3], [0, 1, 2, 3], [0, -1, -1, -1]]
    assert scores[0].tolist() == [3, 3, 3, 2] and torch.isnan(scores[2, 1:]).all()
    assert ranked_lists(s, 10)[0].shape == (3, 6)  # no longer than the catalogue


@pytest.mark.parametrize("candidates", ["full", "sampled"])
def test_lists_agree_with_the_metrics(candidates):
    """Popularity ties everywhere: a target is in the top k of the saved list exactly when HR@k counts it."""
    split = tiny_split()
    model = Pop().fit(split.train)
    protocol = Protocol(ks=(1, 3, 5), metrics=("hr", "ndcg"), candidates=candidates, n_negatives=9)
    res = evaluate(model, split, "test", protocol, seed=1, rankings=5, progress=False)
    items, _ = res.rankings
    users, tmat = split.target_matrix("test")
    assert np.array_equal(users, res.users) and items.shape == (len(users), 5)
    history = split.history("test")
    for i, u in enumerate(users):
        row = items[i][items[i] >= 0]
        assert len(set(row.tolist())) == len(row)
        assert not set(row.tolist()) & set(history.user_items(u).tolist())  # history masked
        for k in (1, 3, 5):
            hit = bool(set(row[:k].tolist()) & set(tmat[i][tmat[i] >= 0].tolist()))
            assert hit == (res.per_user[f"hr@{k}"][i] > 0), (u, k)
    if candidates == "sampled":  # 1 target + 9 negatives per user: the lists are among them
        assert ((items >= 0).sum(1) <= 10).all()


def test_id_strings_fall_back_to_dense_ids():
    assert id_strings(pd.DataFrame({"raw_id": ["a", "b"]}), 2)[1] == "raw"
    assert id_strings(pd.DataFrame({"raw_id": ["a b", "c"]}), 2)[1] == "dense"  # whitespace breaks TREC columns
    ids, kind = id_strings(None, 3)
    assert kind == "dense" and ids.tolist() == ["0", "1", "2"]


SUITE = {
    "name": "rank",
    "datasets": [{"name": "synthetic", "params": {"n_users": 70, "n_items": 40, "n_interactions": 1200}}],
    "splits": [{"name": "random", "params": {"ratios": [0.7, 0.1, 0.2]}}],
    "models": ["pop", "itemknn"],
    "seeds": [0],
    "evaluation": {"ks": [5, 10], "metrics": ["ndcg", "hr"]},
}


def _ranx_ndcg(base, k):
    ranx = pytest.importorskip("ranx")
    qrels = ranx.Qrels.from_file(str(base) + ".qrels.trec", kind="trec")
    run = ranx.Run.from_file(str(base) + ".run.trec", kind="trec")
    return ranx.evaluate(qrels, run, f"ndcg@{k}"), ranx.evaluate(qrels, run, f"hit_rate@{k}")


def test_saved_rankings_recompute_our_metrics_with_ranx(tmp_path):
    out = tmp_path / "res"
    Runner(parse_suite(SUITE), out=out, save_rankings=10).run()
    records = sorted(out.glob("records/**/seed0-*.json"))
    assert len(records) == 2
    for path in records:
        rec = json.loads(path.read_text())
        base = path.with_suffix("")
        info = rec["extra"]["rankings"]
        assert info["k"] == 10 and set(info["files"]) == {
            f"{base.name}.run.trec",
            f"{base.name}.qrels.trec",
            f"{base.name}.rankings.parquet",
        }
        ndcg, hr = _ranx_ndcg(base, 10)
        assert ndcg == pytest.approx(rec["metrics"]["ndcg@10"], abs=1e-9)
        assert hr == pytest.approx(rec["metrics"]["hr@10"], abs=1e-9)
        frame = pd.read_parquet(base.with_name(base.name + ".rankings.parquet"))
        assert list(frame.columns) == ["user", "user_id", "rank", "item", "item_id", "score"]
        assert frame.groupby("user")["rank"].apply(lambda r: r.tolist() == list(range(1, len(r) + 1))).all()
        # the model's scores never increase down a list
        assert (frame.groupby("user")["score"].diff().dropna() <= 0).all()
        trec = (base.with_name(base.name + ".run.trec")).read_text().split("\n")[0].split()
        assert trec[1] == "Q0" and trec[3] == "1" and trec[4] == "10" and trec[5] == rec["model"]["label"]


def test_real_data_rankings_with_ranx(tmp_path, ml100k, data_dir):
    """ML-100K, leave-one-out with raw MovieLens ids in the TREC files; ranx's NDCG@10 is ours."""
    suite = {
        "name": "rank100k",
        "datasets": [{"name": "ml-100k"}],
        "splits": ["leave_one_out"],
        "models": ["pop"],
        "seeds": [0],
        "evaluation": {"ks": [10], "metrics": ["ndcg"]},
    }
    out = tmp_path / "res"
    Runner(parse_suite(suite), out=out, data_dir=data_dir, save_rankings=20).run()
    (path,) = out.glob("records/**/seed0-*.json")
    rec = json.loads(path.read_text())
    assert rec["extra"]["rankings"]["ids"] == {"users": "raw", "items": "raw"}
    ndcg, _ = _ranx_ndcg(path.with_suffix(""), 10)
    assert ndcg == pytest.approx(rec["metrics"]["ndcg@10"], abs=1e-9)
    qrels = path.with_suffix("").with_name(path.with_suffix("").name + ".qrels.trec").read_text().splitlines()
    assert len(qrels) == ml100k.n_users  # one held-out item per user


def test_cli_flag(tmp_path, caplog):
    suite = tmp_path / "s.yaml"
    suite.write_text(json.dumps({**SUITE, "models": ["pop"]}))
    out = tmp_path / "res"
    assert cli.main(["run", str(suite), "--out", str(out), "--save-rankings", "-3"]) == 2
    assert "--save-rankings must be" in caplog.text and not out.exists()
    assert cli.main(["run", str(suite), "--out", str(out), "--save-rankings", "5"]) == 0
    assert len(list(out.glob("records/**/*.run.trec"))) == 1
