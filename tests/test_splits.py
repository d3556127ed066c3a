"""Split invariants: no leakage, temporal order, cold users/items, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssl4rec.evaluation.splits import make_split, per_user_ratio_counts
from ssl4rec.interactions import Dataset
from ssl4rec.registry import SPLITS, ConfigError, UnknownNameError


def make_dataset(n_users=60, n_items=40, n=900, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    pairs = np.unique(rng.integers(0, n_users, n) * n_items + rng.integers(0, n_items, n))
    df = pd.DataFrame(
        {
            "user": (pairs // n_items).astype(np.int32),
            "item": (pairs % n_items).astype(np.int32),
            "rating": rng.integers(1, 6, len(pairs)).astype(np.float32),
            "timestamp": rng.integers(0, 50, len(pairs)).astype(np.int64),  # many ties on purpose
        }
    )
    users = pd.DataFrame({"raw_id": [str(u) for u in range(n_users)]})
    items = pd.DataFrame({"raw_id": [str(i) for i in range(n_items)]})
    return Dataset("toy", df, users, items)


def pairs(df: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(df["user"].tolist(), df["item"].tolist(), strict=True))


ALL = [
    ("random", {}),
    ("random", {"order": "time"}),
    ("leave_one_out", {}),
    ("temporal", {}),
    ("cold_users", {"n_context": 2}),
    ("cold_items", {}),
    ("cold_items", {"warm_test_ratio": 0.1}),
    ("sparsity", {"p": 0.3}),
    ("sparsity", {"p": 0.5, "base": "leave_one_out"}),
]


@pytest.mark.parametrize(("name", "params"), ALL)
def test_partition_no_leakage_and_deterministic(name, params):
    ds = make_dataset()
    s = make_split(ds, name, seed=3, **params)
    train, valid, test = pairs(s.train.df), pairs(s.valid), pairs(s.test)
    ctx = pairs(s.context) if s.context is not None else set()
    assert not (train & test), "test leaked into train"
    assert not (train & valid), "valid leaked into train"
    assert not (valid & test)
    assert not (ctx & test)
    if name != "sparsity" and not (name == "temporal"):
        assert len(train) + len(valid) + len(test) + len(ctx) == len(ds.interactions)
    again = make_split(ds, name, seed=3, **params)
    assert again.fingerprint() == s.fingerprint()
    other = make_split(ds, name, seed=4, **params)
    if name not in ("leave_one_out", "temporal") and params.get("order") != "time":
        assert other.fingerprint() != s.fingerprint()


def test_temporal_train_precedes_test():
    ds = make_dataset()
    s = make_split(ds, "temporal", seed=0, ratios=[0.6, 0.2, 0.2])
    assert s.train.df["timestamp"].max() < s.valid["timestamp"].min()
    assert s.valid["timestamp"].max() < s.test["timestamp"].min()
    seen_u = set(s.train.df["user"])
    assert set(s.test["user"]) <= seen_u


def test_leave_one_out_takes_last():
    ds = make_dataset()
    s = make_split(ds, "leave_one_out", seed=0)
    df = ds.interactions.assign(order=np.arange(len(ds.interactions)))
    last = df.sort_values(["user", "timestamp", "order"], kind="stable").groupby("user").tail(1)
    assert pairs(last) == pairs(s.test)
    assert s.test.groupby("user").size().max() == 1
    assert s.valid.groupby("user").size().max() == 1


def test_cold_items_have_no_training_interactions():
    ds = make_dataset()
    s = make_split(ds, "cold_items", seed=1, item_fraction=0.25)
    assert len(s.cold_items) == 10
    assert s.train.item_counts[s.cold_items].sum() == 0
    assert set(s.test["item"]) <= set(s.cold_items)


def test_cold_users_context_and_targets():
    ds = make_dataset()
    s = make_split(ds, "cold_users", seed=1, user_fraction=0.2, n_context=3)
    assert s.train.user_counts[s.cold_users].sum() == 0
    ctx_counts = s.context.groupby("user").size()
    assert (ctx_counts == 3).all()
    assert set(s.test["user"]) | set(s.valid["user"]) <= set(s.cold_users)
    # the context comes first in time
    for u in s.test["user"].unique()[:5]:
        assert s.context[s.context.user == u]["timestamp"].max() <= s.test[s.test.user == u]["timestamp"].min()
    # history at test time reveals the context but never the targets
    hist = pairs(s.history("test").df)
    assert pairs(s.context) <= hist
    assert not (hist & pairs(s.test))


def test_sparsity_keeps_valid_and_test_of_base():
    ds = make_dataset()
    base = make_split(ds, "random", seed=5)
    for p in (0.2, 0.5, 1.0):
        s = make_split(ds, "sparsity", seed=5, p=p)
        assert pairs(s.test) == pairs(base.test)
        assert pairs(s.valid) == pairs(base.valid)
        assert pairs(s.train.df) <= pairs(base.train.df)
    assert len(make_split(ds, "sparsity", seed=5, p=1.0).train) == len(base.train)
    assert len(make_split(ds, "sparsity", seed=5, p=0.2).train) < len(make_split(ds, "sparsity", seed=5, p=0.5).train)


def test_ratio_counts_match_recbole_rule():
    c = per_user_ratio_counts(np.array([1, 2, 3, 10, 11]), [0.8, 0.1, 0.1])
    assert c.sum(1).tolist() == [1, 2, 3, 10, 11]
    assert c[3].tolist() == [8, 1, 1]
    assert c[4].tolist() == [9, 1, 1]
    assert c[0].tolist() == [1, 0, 0]
    assert c[1].tolist() == [1, 0, 1]  # 0.2 test share -> bumped to 1, then train keeps 1
    assert c[2].tolist() == [1, 1, 1]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), name=st.sampled_from(["random", "leave_one_out", "cold_users", "cold_items", "temporal"]))
def test_property_no_leakage(seed, name):
    ds = make_dataset(seed=seed, n=300 + seed % 500)
    s = make_split(ds, name, seed=seed)
    assert not (pairs(s.train.df) & pairs(s.test))
    if len(s.cold_items):
        assert s.train.item_counts[s.cold_items].sum() == 0


def test_bad_split_params():
    ds = make_dataset()
    with pytest.raises(ConfigError, match="ratios"):
        make_split(ds, "random", ratios=[0.5, 0.5])
    with pytest.raises(ConfigError, match="Did you mean 'ratios'"):
        make_split(ds, "random", ratio=[0.8, 0.1, 0.1])
    with pytest.raises(UnknownNameError, match="leave_one_out"):
        SPLITS.get("leave_one_ot")
