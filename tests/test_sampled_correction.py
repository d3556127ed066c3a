"""Krichene & Rendle's corrected sampled metrics: the BV estimator recovers full-ranking values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ssl4rec.evaluation.evaluator import Protocol, evaluate
from ssl4rec.evaluation.metrics import compute_topk
from ssl4rec.evaluation.sampled_correction import bv_estimator, corrected_metrics
from ssl4rec.testing import tiny_split


@pytest.mark.parametrize("metric", ["hr", "ndcg"])
def test_corrected_estimate_is_close_to_the_full_metric_where_the_sampled_one_is_not(metric):
    rng = np.random.default_rng(0)
    n_full, m, users = 1000, 100, 40_000
    full = np.minimum(rng.geometric(0.02, users), n_full).astype(np.int64) - 1  # 0-based ranks of a good model
    sampled = rng.hypergeometric(full, n_full - 1 - full, m)  # how many of the items above it were drawn
    one = np.ones(users, dtype=np.int64)
    truth = compute_topk(full[:, None].astype(float), one, (metric,), (10,))[f"{metric}@10"].mean()
    raw = compute_topk(sampled[:, None].astype(float), one, (metric,), (10,))[f"{metric}@10"].mean()
    values, info = corrected_metrics(sampled, np.full(users, n_full), m, (metric,), (10,), bins=1)
    corrected = values[f"{metric}@10"].mean()
    assert abs(raw - truth) > 0.3 * truth  # sampled HR@10 / NDCG@10 overstate the full values
    assert abs(corrected - truth) < 0.1 * truth, (raw, corrected, truth)
    assert info["users"] == users and info["bins"] == [{"n_full": n_full, "users": users}]


def test_estimator_by_hand_when_every_item_is_sampled_it_is_the_metric_itself():
    # m = N - 1: the sampled rank is the full rank, so the minimal-bias estimator is M itself
    at_rank = compute_topk(np.arange(20, dtype=float)[:, None], np.ones(20, dtype=np.int64), ("ndcg",), (5,))["ndcg@5"]
    assert np.allclose(bv_estimator(at_rank, 19, gamma=0.0), at_rank, atol=1e-8)
    with pytest.raises(ValueError, match="between 1 and N - 1"):
        bv_estimator(at_rank, 20)


def test_sampled_evaluation_reports_corrected_metrics_for_uniform_negatives_only():
    split = tiny_split(n_items=60, per_user=10)

    class Model:
        def score(self, batch):
            g = torch.Generator().manual_seed(int(batch.users.sum()))
            return torch.rand(len(batch.users), 60, generator=g)

    uniform = Protocol(candidates="sampled", n_negatives=20, sampling="uniform", ks=(5, 10))
    res = evaluate(Model(), split, "test", uniform, progress=False)
    assert {"corrected/ndcg@10", "corrected/hr@5"} <= set(res.metrics)
    assert res.info["sampled_correction"]["users"] == len(res.users)
    # random scores: the full HR@10 among the ~52 unseen items is about 10/52; the sampled one about 10/21
    assert res.metrics["corrected/hr@10"] < res.metrics["hr@10"]
    pop = Protocol(candidates="sampled", n_negatives=20, sampling="popularity", ks=(5, 10))
    assert not any(k.startswith("corrected/") for k in evaluate(Model(), split, "test", pop, progress=False).metrics)
    valid = evaluate(Model(), split, "valid", uniform, progress=False)  # validation: not computed
    assert "sampled_correction" not in valid.info


def test_no_corrected_metrics_where_users_have_several_targets():
    """The estimator maps one target's sampled rank: a split whose users have several test items gets
    none (not an estimate over the one-target users only, set beside a metric over everyone)."""
    split = tiny_split(n_items=60, per_user=10)
    first = split.test.copy()
    second = split.valid.copy()  # every user's validation item becomes a second test target
    split.test = pd.concat([first, second], ignore_index=True)

    class Model:
        def score(self, batch):
            return torch.rand(len(batch.users), 60, generator=torch.Generator().manual_seed(0))

    uniform = Protocol(candidates="sampled", n_negatives=20, sampling="uniform", ks=(5, 10))
    res = evaluate(Model(), split, "test", uniform, progress=False)
    assert not any(k.startswith("corrected/") for k in res.metrics)
    info = res.info["sampled_correction"]
    assert info["multi_target_users"] == len(res.users) and "several targets" in info["skipped"]
