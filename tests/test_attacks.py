"""Shilling attacks: exactly the requested fake users, targets in every fake profile, valid/test untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ssl4rec.registry import ATTACKS, ConfigError
from ssl4rec.testing import tiny_split


@pytest.mark.parametrize("name", ["random", "average", "bandwagon"])
def test_attack_adds_exactly_the_fake_users_and_touches_only_train(name):
    split = tiny_split(n_users=50, n_items=40)
    attacked = ATTACKS.get(name)(split, seed=3, size=0.1, filler=6, targets=[2, 7])
    info = attacked.info["attack"]
    n = split.train.n_users
    assert info["fake_users"] == list(range(n, n + 5)) and info["targets"] == [2, 7]  # 10% of 50
    assert attacked.train.n_users == n + 5 and attacked.train.n_items == split.train.n_items
    pd.testing.assert_frame_equal(attacked.valid, split.valid)
    pd.testing.assert_frame_equal(attacked.test, split.test)
    genuine = attacked.train.df[attacked.train.df["user"] < n].reset_index(drop=True)
    pd.testing.assert_frame_equal(genuine, split.train.df.reset_index(drop=True))
    for u in info["fake_users"]:
        seq = attacked.train.user_items(u).tolist()
        assert seq[-2:] == [2, 7]  # the fake sequence ends in the targets
        assert len(seq) == 6 + 2 and len(set(seq)) == len(seq)
    again = ATTACKS.get(name)(split, seed=3, size=0.1, filler=6, targets=[2, 7])
    pd.testing.assert_frame_equal(again.train.df, attacked.train.df)  # seeded


def test_bandwagon_takes_the_most_popular_items():
    split = tiny_split(n_users=50, n_items=40)
    counts = np.asarray(split.train.item_counts)
    order = [i for i in np.argsort(-counts, kind="stable").tolist() if i != 0]
    top = set(order[:3])
    attacked = ATTACKS.get("bandwagon")(split, seed=0, size=0.04, filler=5, targets=[0], popular=3)
    for u in attacked.info["attack"]["fake_users"]:
        assert top <= set(attacked.train.user_items(u).tolist())


def test_target_bands():
    split = tiny_split(n_users=50, n_items=40)
    counts = np.asarray(split.train.item_counts)
    low = ATTACKS.get("random")(split, seed=1, targets={"band": "unpopular", "n": 2}).info["attack"]["targets"]
    high = ATTACKS.get("random")(split, seed=1, targets={"band": "popular", "n": 2}).info["attack"]["targets"]
    assert max(counts[low]) <= min(counts[high])


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"size": 1.0}, "in (0, 1)"),
        ({"size": 0}, "in (0, 1)"),
        ({"targets": [999]}, "[999]"),
        ({"targets": {"band": "hot", "n": 1}}, "band 'hot'"),
        ({"filler": -1}, "filler = -1"),
    ],
)
def test_bad_attack_parameters(params, words):
    with pytest.raises(ConfigError) as err:
        ATTACKS.get("random")(tiny_split(), seed=0, **params)
    assert words in str(err.value)


def test_attacked_split_in_a_suite_records_target_hit_rates(tmp_path):
    import json

    from ssl4rec.running.plan import parse_suite
    from ssl4rec.running.runner import Runner

    suite = {
        "name": "shill",
        "datasets": [{"name": "synthetic", "params": {"n_users": 200, "n_items": 80, "n_interactions": 3000}}],
        "splits": [{"name": "attacked", "grid": {"size": [0, 0.2]}, "params": {"attack": "random", "filler": 3}}],
        "models": ["pop"],
        "seeds": [1],
        "evaluation": {"ks": [10], "metrics": ["ndcg", "hr"]},
    }
    Runner(parse_suite(suite), out=tmp_path).run()
    recs = {}
    for p in tmp_path.glob("records/**/seed1-*.json"):
        r = json.loads(p.read_text())
        recs[r["split"]["params"]["size"]] = r
    assert set(recs) == {0, 0.2}
    clean, attacked = recs[0], recs[0.2]
    # the same targets and the same genuine test users; the fakes push the target into Pop's top 10
    assert clean["split"]["counts"]["test"] == attacked["split"]["counts"]["test"]
    assert clean["metrics"]["attack/target_hr@10"] == 0.0 < attacked["metrics"]["attack/target_hr@10"]
    assert attacked["split"]["counts"]["train"] > clean["split"]["counts"]["train"]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("rdma", {}),
        ("degsim", {"k": 4}),
        ("svd", {"rank": 1}),
        ("ssl_vectors", {"k": 4, "epochs": 3, "method": "neighbour_similarity", "max_len": 20}),
    ],
)
def test_detectors_find_planted_fakes(name, params):
    """30 genuine users with 6 of 10 popular items; 5 fakes with one identical profile of 12 items nobody
    else takes (plus a target): trivially separable for each detector's rule."""
    from ssl4rec.evaluation.detectors import detection_metrics
    from ssl4rec.interactions import Interactions
    from ssl4rec.registry import DETECTORS

    rng = np.random.default_rng(0)
    rows = [(u, int(i), 1.0, t) for u in range(30) for t, i in enumerate(rng.choice(10, 6, replace=False))]
    rows += [(30 + f, i, 1.0, t) for f in range(5) for t, i in enumerate([*range(10, 22), 22])]
    train = Interactions(pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"]), 35, 23)
    scores = DETECTORS.get(name)(train, **params)
    assert scores.shape == (35,) and np.isfinite(scores).all()
    m = detection_metrics(scores, list(range(30, 35)))
    assert m["auc"] == pytest.approx(1.0) and m["precision"] == 1.0


@pytest.mark.parametrize("method", ["isolation_forest", "prototypes", "neighbour_similarity"])
def test_ssl_vector_detector_methods_are_seeded_and_refuse_bad_options(method):
    from ssl4rec.registry import DETECTORS
    from ssl4rec.testing import tiny_split

    train = tiny_split().train
    det = DETECTORS.get("ssl_vectors")
    a = det(train, model="sasrec", method=method, epochs=2, k=3, seed=1, max_len=10)
    b = det(train, model="sasrec", method=method, epochs=2, k=3, seed=1, max_len=10)
    assert a.shape == (train.n_users,) and np.isfinite(a).all() and np.array_equal(a, b)
    with pytest.raises(ConfigError, match="method 'lof' is not one of"):
        det(train, method="lof")


def test_detection_metrics_by_hand():
    from ssl4rec.evaluation.detectors import detection_metrics

    m = detection_metrics(np.array([0.9, 0.1, 0.8, 0.3]), [0, 3])
    # fakes 0 (0.9) and 3 (0.3) vs genuine 1 (0.1), 2 (0.8): pairs won 0>1, 0>2, 3>1 of 4
    assert m["auc"] == pytest.approx(3 / 4) and m["precision"] == 0.5
    with pytest.raises(ConfigError, match="both fake and genuine"):
        detection_metrics(np.array([0.1, 0.2]), [])


def test_detect_and_drop_records_the_detector_and_recovers(tmp_path):
    import json

    from ssl4rec.running.plan import parse_suite
    from ssl4rec.running.runner import Runner

    # fakes that only take the 3 most popular items and the target: identical profiles, which DegSim finds
    base = {"attack": "bandwagon", "filler": 3, "size": 0.2, "attack_params": {"popular": 3}}
    defended = {**base, "defense": {"detector": "degsim", "params": {"k": 5}}}
    suite = {
        "name": "defend",
        "datasets": [{"name": "synthetic", "params": {"n_users": 200, "n_items": 80, "n_interactions": 3000}}],
        "splits": [
            {"name": "attacked", "label": "clean", "params": {**base, "size": 0}},
            {"name": "attacked", "label": "attacked", "params": base},
            {"name": "attacked", "label": "defended", "params": defended},
        ],
        "models": ["pop"],
        "seeds": [1],
        "evaluation": {"ks": [10], "metrics": ["ndcg"]},
    }
    Runner(parse_suite(suite), out=tmp_path).run()
    recs = {}
    for p in tmp_path.glob("records/**/seed1-*.json"):
        r = json.loads(p.read_text())
        recs[r["split"]["label"]] = r
    attack = recs["defended"]["split"]["attack"]
    assert attack["fake_users"] == 40 and attack["defense"]["dropped"] == 40
    assert attack["defense"]["recall"] == 1.0 and attack["defense"]["genuine_dropped"] == 0
    assert attack["defense"]["auc"] == 1.0 and "defense" not in recs["attacked"]["split"]["attack"]
    hr = {k: r["metrics"]["attack/target_hr@10"] for k, r in recs.items()}
    assert hr["clean"] < hr["attacked"] and hr["defended"] == hr["clean"]  # every fake dropped: as if clean


def test_robustness_report_from_records(tmp_path):
    import yaml

    from ssl4rec import cli

    suite = {
        "name": "robust",
        "datasets": [{"name": "synthetic", "params": {"n_users": 150, "n_items": 60, "n_interactions": 2000}}],
        "splits": [{"name": "attacked", "grid": {"size": [0, 0.1, 0.3]}, "params": {"attack": "average", "filler": 3}}],
        "models": ["pop", "itemknn"],
        "seeds": [0],
        "evaluation": {"ks": [10], "metrics": ["ndcg"]},
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "res"
    assert cli.main(["run", str(path), "--out", str(out)]) == 0
    assert cli.main(["robustness", str(out)]) == 0
    md = (out / "leaderboards" / "robustness.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| pop |")]
    assert [r.split("|")[2].strip() for r in rows] == ["0", "0.1", "0.3"]
    assert (
        rows[0].split("|")[5].strip() == "+0.0000" and rows[0].split("|")[7].strip() == "+0.0"
    )  # size 0: own reference
    assert float(rows[2].split("|")[7]) < 0  # 30% fakes pull the target up Pop's ranking (negative shift)
    assert (out / "leaderboards" / "robustness.svg").read_text().count("<polyline") == 2  # one line per model
    assert cli.main(["robustness", str(tmp_path)]) == 2  # no attacked records there
    page = (out / "leaderboards" / "synthetic" / "index.html").read_text()
    assert "NDCG@10 vs size" in page and "attack size (fake users / genuine users)" in page
    assert "fraction of training interactions kept" not in page  # not drawn as a sparsity curve


def test_robustness_report_flags_a_model_that_did_not_learn():
    """Target metrics of a model at chance accuracy say nothing about robustness: the report says so."""
    from types import SimpleNamespace

    from ssl4rec.reporting.robustness import _unlearned

    def recs(*values):
        return [SimpleNamespace(metrics={"ndcg@10": v}) for v in values]

    models = {
        "SASRec": {0.0: recs(0.09, 0.095), 0.05: recs(0.09)},
        "CL4SRec": {0.0: recs(0.004, 0.005)},
        "Pop": {0.0: recs(0.045)},
        "late": {0.05: recs(0.001)},  # no clean sweep: not judged
    }
    flagged = _unlearned(models, 10)
    assert list(flagged) == ["CL4SRec"] and flagged["CL4SRec"][2] == "SASRec"
    assert flagged["CL4SRec"][:2] == pytest.approx((0.0045, 0.0925))
    assert _unlearned({"A": {0.0: recs(0.001)}}, 10) == {}  # nothing to compare with
