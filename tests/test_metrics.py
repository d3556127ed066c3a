"""Metric and evaluator tests against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ssl4rec.evaluation.evaluator import Protocol, evaluate, target_matrix
from ssl4rec.evaluation.metrics import compute_topk
from ssl4rec.interactions import Interactions, SplitData
from ssl4rec.registry import ConfigError


class FixedScores:
    """A 'model' returning a fixed score matrix (rows = user ids)."""

    def __init__(self, scores: np.ndarray, scorable=None) -> None:
        self.scores = torch.as_tensor(scores, dtype=torch.float32)
        self._scorable = scorable

    def score(self, batch):
        return self.scores[batch.users]

    def scorable_items(self):
        return self._scorable


def hand_split() -> SplitData:
    # user 0: history {0}, targets {1, 4};  user 1: history {2}, target {5}
    train = pd.DataFrame({"user": [0, 1], "item": [0, 2], "rating": [1.0, 1.0], "timestamp": [0, 0]})
    test = pd.DataFrame({"user": [0, 0, 1], "item": [1, 4, 5], "rating": [1.0] * 3, "timestamp": [1] * 3})
    return SplitData(train=Interactions(train, 2, 6), valid=test.iloc[:0], test=test)


HAND_SCORES = np.array(
    [
        [9.0, 0.5, 0.9, 0.7, 0.7, 0.1],  # item 0 masked; ranking 2, 3, 4 (tie -> lower id first), 1, 5
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # all tied: ranking by id 0, 1, 3, 4, 5 (2 masked)
    ]
)


def test_hand_computed_metrics():
    res = evaluate(FixedScores(HAND_SCORES), hand_split(), "test", Protocol(ks=(2, 5)), progress=False)
    pu = res.per_user
    # user 0: target ranks: item 4 -> 2, item 1 -> 3 (0-based)
    assert pu["hr@2"][0] == 0 and pu["hr@5"][0] == 1
    assert pu["precision@5"][0] == pytest.approx(0.4)
    assert pu["recall@5"][0] == pytest.approx(1.0)
    assert pu["f1@5"][0] == pytest.approx(2 * 0.4 / 1.4)
    dcg = 1 / math.log2(4) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert pu["ndcg@5"][0] == pytest.approx(dcg / idcg, rel=1e-6)
    assert pu["mrr@5"][0] == pytest.approx(1 / 3)
    assert pu["map@5"][0] == pytest.approx((1 / 3 + 2 / 4) / 2)
    # AUC: negatives 2 (0.9), 3 (0.7), 5 (0.1); item 1 beats 5 -> 1; item 4 beats 5, ties 3 -> 1.5
    assert pu["auc"][0] == pytest.approx(2.5 / 6)
    # user 1: item 5 is 5th among candidates {0,1,3,4,5} -> rank 4: hit at 5, not at 2
    assert pu["hr@5"][1] == 1 and pu["hr@2"][1] == 0
    assert pu["mrr@5"][1] == pytest.approx(1 / 5)
    assert pu["ndcg@5"][1] == pytest.approx(1 / math.log2(6))
    assert pu["auc"][1] == pytest.approx(0.5)
    assert res.metrics["ndcg@5"] == pytest.approx((dcg / idcg + 1 / math.log2(6)) / 2, rel=1e-6)
    assert res.metrics["gauc"] == pytest.approx((2 * 2.5 / 6 + 1 * 0.5) / 3)
    assert res.info["n_users"]["all"] == 2


def test_no_masking_changes_ranks():
    res = evaluate(
        FixedScores(HAND_SCORES), hand_split(), "test", Protocol(ks=(1,), mask_history=False), progress=False
    )
    # user 0: item 0 (9.0) now first -> item 4 rank 3, nobody hits at 1
    assert res.per_user["hr@1"][0] == 0
    # user 1: item 5 now rank 5 (0-based) among 6
    assert res.per_user["mrr@1"][1] == 0


def test_unscorable_targets_are_misses():
    scores = HAND_SCORES.copy()
    res = evaluate(
        FixedScores(scores, scorable=np.array([0, 1, 2, 3])), hand_split(), "test", Protocol(ks=(5,)), progress=False
    )
    # user 0: item 4 unscorable -> miss; item 1 rank 2 (after 2, 3)
    assert res.per_user["hr@5"][0] == 1
    assert res.per_user["recall@5"][0] == pytest.approx(0.5)
    assert res.per_user["hr@5"][1] == 0  # item 5 unscorable
    assert res.info["unscorable_targets"] == 2
    # a model declaring every item scorable is evaluated like one declaring nothing
    every = evaluate(
        FixedScores(HAND_SCORES, scorable=np.arange(6)), hand_split(), "test", Protocol(ks=(5,)), progress=False
    )
    plain = evaluate(FixedScores(HAND_SCORES), hand_split(), "test", Protocol(ks=(5,)), progress=False)
    assert every.metrics == plain.metrics and every.info["unscorable_targets"] == 0


def test_target_in_history_counts_as_miss():
    split = hand_split()
    split.test.loc[2, "item"] = 2  # user 1's target is already in its history
    res = evaluate(FixedScores(HAND_SCORES), split, "test", Protocol(ks=(5,)), progress=False)
    assert res.per_user["hr@5"][1] == 0
    assert np.isnan(res.per_user["auc"][1])  # no retrievable positive


def test_metric_functions_direct():
    ranks = np.array([[0.0, np.inf], [3.0, 1.0], [np.inf, np.inf]])
    n_rel = np.array([1, 2, 2])
    out = compute_topk(ranks, n_rel, ("hr", "mrr", "map", "ndcg"), (2,))
    assert out["hr@2"].tolist() == [1.0, 1.0, 0.0]
    assert out["mrr@2"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    # user 1: one hit at rank 1 -> precision@2 = 1/2; / min(2, 2)
    assert out["map@2"].tolist() == pytest.approx([1.0, 0.25, 0.0])
    assert out["ndcg@2"][1] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def random_split(n_users=37, n_items=23, seed=0) -> SplitData:
    rng = np.random.default_rng(seed)
    rows = {(int(u), int(i)) for u, i in zip(rng.integers(0, n_users, 400), rng.integers(0, n_items, 400), strict=True)}
    df = pd.DataFrame(sorted(rows), columns=["user", "item"]).assign(rating=1.0, timestamp=0)
    is_test = rng.random(len(df)) < 0.25
    return SplitData(
        train=Interactions(df[~is_test], n_users, n_items), valid=df.iloc[:0], test=df[is_test].reset_index(drop=True)
    )


@pytest.mark.parametrize("candidates", ["full", "sampled"])
def test_batch_size_does_not_change_metrics(candidates):
    split = random_split()
    # integer scores produce many ties, exercising the tie rule
    scores = np.random.default_rng(1).integers(0, 4, size=(37, 23)).astype(np.float32)
    base = None
    for bs in (1, 5, 1024):
        proto = Protocol(batch_size=bs, candidates=candidates, n_negatives=5)
        res = evaluate(FixedScores(scores), split, "test", proto, seed=3, progress=False)
        if base is None:
            base = res
            continue
        for k, v in base.metrics.items():
            assert res.metrics[k] == pytest.approx(v, abs=1e-12), k


def test_sampled_protocol_candidates():
    split = random_split()
    scores = np.random.default_rng(2).random((37, 23)).astype(np.float32)
    full = evaluate(FixedScores(scores), split, "test", Protocol(ks=(5,)), progress=False)
    sampled = evaluate(
        FixedScores(scores), split, "test", Protocol(ks=(5,), candidates="sampled", n_negatives=3), progress=False
    )
    # fewer candidates -> ranks can only improve
    assert sampled.metrics["hr@5"] >= full.metrics["hr@5"]
    assert "SAMPLED" in Protocol(candidates="sampled").label()
    with pytest.raises(ConfigError, match="n_negatives = 23 but the dataset has 23 items"):
        evaluate(FixedScores(scores), split, "test", Protocol(ks=(5,), candidates="sampled", n_negatives=23))
    for bad in ({"ks": (0, 5)}, {"batch_size": 0}, {"n_negatives": -1}):
        with pytest.raises(ConfigError, match=">= 1"):
            Protocol(**bad)
    pop = evaluate(
        FixedScores(scores),
        split,
        "test",
        Protocol(ks=(5,), candidates="sampled", n_negatives=3, sampling="popularity"),
        seed=1,
        progress=False,
    )
    assert 0 <= pop.metrics["hr@5"] <= 1


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_metric_bounds_and_monotonicity(seed):
    split = random_split(seed=seed % 7)
    scores = np.random.default_rng(seed).random((37, 23)).astype(np.float32)
    res = evaluate(FixedScores(scores), split, "test", Protocol(ks=(1, 5, 10)), progress=False)
    for k, v in res.metrics.items():
        assert 0.0 <= v <= 1.0 + 1e-9, k
    for m in ("hr", "recall"):
        assert res.metrics[f"{m}@1"] <= res.metrics[f"{m}@5"] + 1e-12 <= res.metrics[f"{m}@10"] + 2e-12


def test_perfect_and_worst_models():
    split = random_split()
    tm = np.zeros((37, 23), np.float32)
    users, items = split.test["user"].to_numpy(), split.test["item"].to_numpy()
    tm[users, items] = 1.0
    best = evaluate(FixedScores(tm), split, "test", Protocol(ks=(20,)), progress=False)
    assert best.metrics["ndcg@20"] == pytest.approx(1.0)
    assert best.metrics["auc"] == pytest.approx(1.0)
    worst = evaluate(FixedScores(-tm), split, "test", Protocol(ks=(20,)), progress=False)
    assert worst.metrics["auc"] == pytest.approx(0.0)


def test_target_matrix_dedups():
    df = pd.DataFrame({"user": [3, 3, 3, 1], "item": [2, 2, 5, 0]})
    users, mat = target_matrix(df, 10)
    assert users.tolist() == [1, 3]
    assert mat.tolist() == [[0, -1], [2, 5]]


def test_split_target_matrix_is_computed_once_and_read_only():
    train = Interactions(pd.DataFrame({"user": [0, 1, 2], "item": [0, 1, 2], "rating": 1.0, "timestamp": 0}), 3, 6)
    split = SplitData(
        train, pd.DataFrame({"user": [2, 0, 0], "item": [4, 3, 5]}), pd.DataFrame({"user": [1], "item": [5]})
    )
    users, mat = split.target_matrix("valid")
    assert users.tolist() == [0, 2] and mat.tolist() == [[3, 5], [4, -1]]
    assert split.target_matrix("valid")[1] is mat and split.target_matrix("test")[1].tolist() == [[5]]
    with pytest.raises(ValueError, match="read-only"):
        mat[0, 0] = 1


def test_protocol_rejects_unknown():
    with pytest.raises(ConfigError, match="ndcg"):
        Protocol(metrics=("ndgc",))
    with pytest.raises(ConfigError, match="candidates"):
        Protocol.from_dict({"candidates": "partial"})
    with pytest.raises(ConfigError, match="mask_history"):
        Protocol.from_dict({"mask_histroy": True})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_methods_agree(seed):
    split = random_split(seed=seed)
    scores = np.random.default_rng(seed).integers(0, 3, size=(37, 23)).astype(np.float32)
    scores[:, 5] = -np.inf  # an unscorable item
    a = evaluate(FixedScores(scores), split, "test", Protocol(), progress=False, protocol_method="compare")
    b = evaluate(FixedScores(scores), split, "test", Protocol(), progress=False, protocol_method="search")
    for k, v in a.metrics.items():
        assert b.metrics[k] == pytest.approx(v, abs=1e-12), k
    # without AUC, "auto" ranks from a top-k; heavy ties (3 score levels) force its fallback rows
    topk_only = Protocol(metrics=("precision", "recall", "ndcg", "hr", "mrr", "map"), ks=(1, 3, 5))
    c = evaluate(FixedScores(scores), split, "test", topk_only, progress=False, protocol_method="compare")
    for method in ("topk", "auto"):
        d = evaluate(FixedScores(scores), split, "test", topk_only, progress=False, protocol_method=method)
        for k, v in c.metrics.items():
            assert d.metrics[k] == pytest.approx(v, abs=1e-12), (method, k)
            assert np.array_equal(np.isnan(d.per_user[k]), np.isnan(c.per_user[k]))
            np.testing.assert_allclose(np.nan_to_num(d.per_user[k]), np.nan_to_num(c.per_user[k]), atol=1e-12)


class KeepsScores(FixedScores):
    """Keeps every tensor it returned (as a model with a score cache might) and a copy of each."""

    def __init__(self, scores) -> None:
        super().__init__(scores)
        self.returned: list[tuple[torch.Tensor, torch.Tensor]] = []

    def score(self, batch):
        out = self.scores[batch.users]
        self.returned.append((out, out.clone()))
        return out


@pytest.mark.parametrize("seed", [0, 1])
def test_coverage_and_ranks_from_the_shared_topk_match_exact_and_leave_model_tensors_intact(seed):
    """The top-k path (one topk per chunk for ranks and coverage, history masked in the model's
    own tensor and restored) gives the exact method's metrics, coverage included, under heavy ties."""
    split = random_split(seed=seed)
    scores = np.random.default_rng(seed).integers(0, 3, size=(37, 23)).astype(np.float32)
    metrics = ("precision", "recall", "ndcg", "hr", "mrr", "map", "coverage")
    proto = Protocol(metrics=metrics, ks=(1, 3, 5), batch_size=8)
    model = KeepsScores(scores)
    exact = evaluate(FixedScores(scores), split, "test", proto, progress=False, protocol_method="search")
    for method in ("topk", "auto"):
        got = evaluate(model, split, "test", proto, progress=False, protocol_method=method)
        for k, v in exact.metrics.items():
            assert got.metrics[k] == pytest.approx(v, abs=1e-12), (method, k)
    assert len(model.returned) > 4 and all(torch.equal(out, copy) for out, copy in model.returned)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("unscorable", [False, True])
def test_auc_from_counts_matches_exact_methods(seed, unscorable):
    """The "counts" path (history as -inf, ranks from the top-k, AUC pairs from counting passes
    minus the excluded items) equals the NaN-based exact methods: heavy ties, -inf scores,
    unscorable items and targets that are in the user's history (not candidates)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 25
    train = {
        (int(u), int(i)) for u, i in zip(rng.integers(0, n_users, 300), rng.integers(0, n_items, 300), strict=True)
    }
    test = []
    for u in range(n_users):
        for i in rng.choice(n_items, size=int(rng.integers(1, 4)), replace=False):
            test.append((u, int(i)))  # some of these are train items of u: excluded targets
    assert any(p in train for p in test)
    df = pd.DataFrame(sorted(train), columns=["user", "item"]).assign(rating=1.0, timestamp=0)
    tdf = pd.DataFrame(test, columns=["user", "item"]).assign(rating=1.0, timestamp=1)
    split = SplitData(train=Interactions(df, n_users, n_items), valid=tdf.iloc[:0], test=tdf)
    scores = rng.integers(0, 3, size=(n_users, n_items)).astype(np.float32)
    scores[:, 7] = -np.inf
    scorable = np.setdiff1d(np.arange(n_items), [3, 11]) if unscorable else None
    proto = Protocol(metrics=("auc", "gauc", "ndcg", "mrr", "hr", "coverage"), ks=(1, 3, 5), batch_size=16)
    ref = evaluate(FixedScores(scores, scorable), split, "test", proto, progress=False, protocol_method="compare")
    assert np.isfinite(ref.metrics["auc"])
    for method in ("search", "counts", "auto"):
        got = evaluate(FixedScores(scores, scorable), split, "test", proto, progress=False, protocol_method=method)
        for k, v in ref.metrics.items():
            assert got.metrics[k] == pytest.approx(v, abs=1e-12), (method, k)
        np.testing.assert_allclose(
            np.nan_to_num(got.per_user["auc"], nan=-1), np.nan_to_num(ref.per_user["auc"], nan=-1), atol=1e-12
        )


@pytest.mark.parametrize("seed", [0, 1])
def test_topk_ranks_match_exact_ranks_with_distinct_scores(seed):
    """Continuous scores (no fallback): every rank below k equals the compare method's."""
    from ssl4rec.evaluation.evaluator import _pair_counts, _topk_ranks

    g = torch.Generator().manual_seed(seed)
    sc = torch.randn(50, 40, generator=g)
    sc[torch.rand(50, 40, generator=g) < 0.2] = torch.nan  # masked history
    sc[:, 7] = -torch.inf
    tgt = torch.randint(0, 40, (50, 3), generator=g)
    tgt[:5, 2] = -1
    tvalid = tgt >= 0
    n_cand = (~torch.isnan(sc)).sum(1, keepdim=True)
    exact = _pair_counts(sc, tgt, tvalid, "compare", n_cand)["rank"]
    for k in (1, 5, 40):
        got = _topk_ranks(sc.masked_fill(torch.isnan(sc), -torch.inf), tgt, tvalid, k)
        want = torch.where(exact < k, exact, float("inf"))
        assert torch.equal(got, want), k


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_topk_ranks_match_exact_ranks_with_heavy_ties(seed):
    """Three score levels: targets tied with the k-th score (equal-scored lower ids beyond the
    top k) still get the exact rank wherever it is below k."""
    from ssl4rec.evaluation.evaluator import _pair_counts, _topk_ranks

    g = torch.Generator().manual_seed(seed)
    sc = torch.randint(0, 3, (60, 30), generator=g).float()
    sc[torch.rand(60, 30, generator=g) < 0.2] = torch.nan
    sc[:, 5] = -torch.inf
    tgt = torch.stack([torch.randperm(30, generator=g)[:6] for _ in range(60)])
    tgt[:6, 4:] = -1
    tvalid = tgt >= 0
    n_cand = (~torch.isnan(sc)).sum(1, keepdim=True)
    exact = _pair_counts(sc, tgt, tvalid, "compare", n_cand)["rank"]
    for k in (1, 3, 10, 30):
        got = _topk_ranks(sc.masked_fill(torch.isnan(sc), -torch.inf), tgt, tvalid, k)
        want = torch.where(exact < k, exact, float("inf"))
        assert torch.equal(got, want), k


@pytest.mark.parametrize("method", ["compare", "search"])
def test_pair_counts_match_brute_force_with_tied_targets(method):
    """less_neg / eq_neg exclude target-vs-target pairs exactly, ties and non-candidates included."""
    from ssl4rec.evaluation.evaluator import _pair_counts

    g = torch.Generator().manual_seed(4)
    sc = torch.randint(0, 4, (30, 25), generator=g).float()  # heavy ties
    sc[torch.rand(30, 25, generator=g) < 0.2] = torch.nan  # non-candidates
    sc[:, 3] = -torch.inf
    tgt = torch.stack([torch.randperm(25, generator=g)[:12] for _ in range(30)])
    tgt[:4, 8:] = -1
    tvalid = tgt >= 0
    pc = _pair_counts(sc, tgt, tvalid, method)
    for u in range(30):
        tset = {int(t) for t in tgt[u] if t >= 0}
        negs = [float(sc[u, j]) for j in range(25) if j not in tset and not math.isnan(float(sc[u, j]))]
        for c, t in enumerate(tgt[u].tolist()):
            if t < 0 or math.isnan(float(sc[u, t])):
                continue
            s = float(sc[u, t])
            assert pc["less_neg"][u, c] == sum(v < s for v in negs), (u, c)
            assert pc["eq_neg"][u, c] == sum(v == s for v in negs), (u, c)


def test_metric_names_are_case_insensitive_and_checked_against_the_registry():
    from ssl4rec.evaluation.evaluator import Protocol
    from ssl4rec.registry import ConfigError

    p = Protocol(ks=(5, 10), metrics=("NDCG", "Hit", "AUC"), valid_metric="NDCG@10")
    assert p.metrics == ("ndcg", "hr", "auc") and p.valid_metric == "ndcg@10"
    with pytest.raises(ConfigError, match="ndgc.*Did you mean 'ndcg'"):
        Protocol(metrics=("ndgc",))
    with pytest.raises(ConfigError, match="valid_metric.*ndcg@10"):
        Protocol(valid_metric="ndgc@10")
    with pytest.raises(ConfigError, match="needs a cut-off, e.g. 'ndcg@10'"):
        Protocol(valid_metric="ndcg")


def test_a_plugin_metric_works_end_to_end_into_the_leaderboard(tmp_path):
    """A top-K metric registered from outside the package is evaluated, recorded and tabulated."""
    from ssl4rec.registry import METRICS, register_metric
    from ssl4rec.reporting.leaderboard import build_tables, render_markdown
    from ssl4rec.reporting.records import ResultsStore
    from ssl4rec.running.plan import parse_suite
    from ssl4rec.running.runner import Runner

    @register_metric(
        "first_hit", needs="ranks", label="FirstHit", higher_is_better=True, summary="1 if the top item is a target"
    )
    def first_hit(ranks, n_rel, k):
        return (ranks < 1).any(1).astype(np.float64)

    try:
        suite = parse_suite(
            {
                "name": "plugin-metric",
                "datasets": [{"name": "synthetic", "params": {"n_users": 60, "n_items": 40, "n_interactions": 900}}],
                "splits": ["leave_one_out"],
                "models": ["pop"],
                "evaluation": {"ks": [10], "metrics": ["ndcg", "First_Hit"]},
            }
        )
        Runner(suite, out=tmp_path).run()
        (table,) = build_tables(ResultsStore(tmp_path))
        assert "first_hit@10" in table.columns
        assert "FirstHit@10" in render_markdown(table)
    finally:
        METRICS.remove("first_hit")


def test_plugin_metrics_of_every_kind_are_computed_from_their_registry_entries():
    """A pair-count metric and a top-K-list metric registered from outside the package: the
    evaluator calls them (AUC, GAUC and coverage go through the same path)."""
    from ssl4rec.registry import METRICS, register_metric

    @register_metric(
        "pair_share", needs="scores", aggregate="targets", label="PairShare", summary="correct pairs / pairs"
    )
    def pair_share(correct, pairs, n_rel):
        return np.divide(correct, pairs, out=np.full(len(pairs), np.nan), where=pairs > 0)

    @register_metric("listed", needs="top_k_lists", label="Listed", summary="items in some top K")
    def listed(in_some_top_k):
        return float(in_some_top_k.sum())

    try:
        protocol = Protocol(ks=(1, 2), metrics=("auc", "gauc", "pair_share", "listed", "coverage"))
        res = evaluate(FixedScores(HAND_SCORES), hand_split(), "test", protocol, progress=False)
        # top 1: items 2 (user 0) and 0 (user 1); top 2: {2, 3} and {0, 1}
        assert res.metrics["pair_share"] == pytest.approx(res.metrics["gauc"])
        np.testing.assert_allclose(res.per_user["pair_share"], res.per_user["auc"])
        assert res.metrics["listed@1"] == 2.0 and res.metrics["listed@2"] == 4.0
        assert res.metrics["coverage@2"] == pytest.approx(4 / 6)
    finally:
        METRICS.remove("pair_share")
        METRICS.remove("listed")


def test_search_counts_equal_direct_comparisons_with_signed_zeros_and_infinities():
    """The binary-search path orders scores by integer keys: -0.0 must tie with 0.0, infinities sort at
    the ends, and the tie rule (equal score: lower item id first) must hold, as in direct comparisons."""
    from ssl4rec.evaluation.evaluator import COMPARE_MAX_TARGETS, _pair_counts

    g = torch.Generator().manual_seed(7)
    levels = torch.tensor([-torch.inf, -2.5, -0.0, 0.0, 1e-38, 3.0, torch.inf, torch.nan])
    sc = levels[torch.randint(0, len(levels), (40, 60), generator=g)]
    T = COMPARE_MAX_TARGETS + 4
    tgt = torch.stack([torch.randperm(60, generator=g)[:T] for _ in range(40)])
    tgt[:5, 10:] = -1
    tvalid = tgt >= 0
    a = _pair_counts(sc, tgt, tvalid, "compare")
    b = _pair_counts(sc, tgt, tvalid, "auto")  # more than COMPARE_MAX_TARGETS targets: the search path
    assert torch.equal(a["tcand"], b["tcand"])
    for k in ("rank", "less_neg", "eq_neg"):
        assert torch.equal(a[k][a["tcand"]], b[k][a["tcand"]]), k
    zeros = (sc == 0) & ~torch.isnan(sc)  # -0.0 and 0.0 compare equal, so they are one score level
    assert bool(zeros.any()) and bool((torch.signbit(sc) & zeros).any())
