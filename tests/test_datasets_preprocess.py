"""Preprocessing: implicit threshold, iterative k-core, duplicate policies, validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssl4rec.datasets import DataError, RawData, build_dataset
from ssl4rec.datasets.preprocess import Preprocessing, apply_preprocessing
from ssl4rec.registry import ConfigError


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


def build(rows: list[tuple], **prep):
    return build_dataset("toy", RawData(interactions=frame(rows)), Preprocessing.from_dict(prep))


def raw_pairs(ds) -> set[tuple]:
    u = ds.users["raw_id"].to_numpy()[ds.interactions["user"]]
    i = ds.items["raw_id"].to_numpy()[ds.interactions["item"]]
    return set(zip(u.tolist(), i.tolist(), strict=True))


def test_implicit_threshold():
    ds = build(
        [("a", "x", 5, 1), ("a", "y", 3, 2), ("b", "x", 4, 3), ("b", "z", 4.5, 4), ("c", "y", 1, 5)],
        implicit_threshold=4,
    )
    assert raw_pairs(ds) == {("a", "x"), ("b", "x"), ("b", "z")}
    step = ds.info["preprocessing"][1]
    assert step["step"] == "implicit_threshold" and step["params"] == {"threshold": 4.0}
    assert step["before"] == {"users": 3, "items": 3, "interactions": 5}
    assert step["after"] == {"users": 2, "items": 2, "interactions": 3}
    assert ds.info["counts"]["users"] == 2 and ds.info["raw_counts"]["users"] == 3


def test_k_core_iterates_until_stable():
    # k=2. Round 1 drops user c (1 row) and item i4 (1 row); then d has 1 row -> dropped;
    # then i3 has 1 row (user a) -> dropped. Left: a, b x i1, i2.
    rows = [
        ("a", "i1", 1, 1), ("a", "i2", 1, 2), ("a", "i3", 1, 3),
        ("b", "i1", 1, 4), ("b", "i2", 1, 5),
        ("c", "i1", 1, 6),
        ("d", "i3", 1, 7), ("d", "i4", 1, 8),
    ]  # fmt: skip
    ds = build(rows, k_core=2)
    assert raw_pairs(ds) == {("a", "i1"), ("a", "i2"), ("b", "i1"), ("b", "i2")}
    step = ds.info["preprocessing"][-1]
    assert step["step"] == "k_core" and step["params"] == {"user_core": 2, "item_core": 2}
    assert step["rounds"] == 4  # three rounds that remove rows, one that confirms stability
    assert step["after"] == {"users": 2, "items": 2, "interactions": 4}
    # a single non-iterated pass would have kept d and i3
    uc = frame(rows).groupby("user").size()
    ic = frame(rows).groupby("item").size()
    one_pass = [r for r in rows if uc[r[0]] >= 2 and ic[r[1]] >= 2]
    assert ("d", "i3", 1, 7) in one_pass


def test_user_and_item_core_separately():
    rows = [("a", "x", 1, 1), ("a", "y", 1, 2), ("b", "x", 1, 3), ("c", "x", 1, 4), ("c", "z", 1, 5)]
    only_users = build(rows, user_core=2)
    assert set(only_users.users["raw_id"]) == {"a", "c"} and only_users.n_items == 3
    only_items = build(rows, item_core=2)
    assert set(only_items.items["raw_id"]) == {"x"} and only_items.n_users == 3
    both = build(rows, k_core=1, item_core=3)  # item_core overrides k_core for items
    assert both.info["preprocessing"][-1]["params"] == {"user_core": 1, "item_core": 3}


def naive_k_core(pairs: list[tuple[int, int]], k_u: int, k_i: int) -> set[tuple[int, int]]:
    """Remove one violating row at a time until none violates (the k-core is unique)."""
    rows = list(pairs)
    changed = True
    while changed:
        changed = False
        uc: dict[int, int] = {}
        ic: dict[int, int] = {}
        for u, i in rows:
            uc[u] = uc.get(u, 0) + 1
            ic[i] = ic.get(i, 0) + 1
        for r in rows:
            if uc[r[0]] < k_u or ic[r[1]] < k_i:
                rows.remove(r)
                changed = True
                break
    return set(rows)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.sets(st.tuples(st.integers(0, 9), st.integers(0, 7)), min_size=1, max_size=50),
    k_u=st.integers(1, 4),
    k_i=st.integers(1, 4),
)
def test_k_core_matches_naive_peeling(pairs, k_u, k_i):
    pairs = sorted(pairs)
    df = pd.DataFrame({"user": [p[0] for p in pairs], "item": [p[1] for p in pairs], "rating": 1.0, "timestamp": 0})
    prep = Preprocessing(user_core=k_u, item_core=k_i)
    expected = naive_k_core(pairs, k_u, k_i)
    if not expected:
        with pytest.raises(DataError, match="k_core"):
            apply_preprocessing(df, prep)
        return
    out, _ = apply_preprocessing(df, prep)
    got = set(zip(out["user"].tolist(), out["item"].tolist(), strict=True))
    assert got == expected
    assert out.groupby("user").size().min() >= k_u and out.groupby("item").size().min() >= k_i


DUPS = [
    ("a", "x", 1.0, 5),  # row 0
    ("a", "x", 5.0, 3),  # row 1: earliest
    ("a", "x", 2.0, 5),  # row 2: latest (ties with row 0 on time, later in the file)
    ("a", "y", 4.0, 4),
    ("b", "x", 3.0, 1),
]


@pytest.mark.parametrize("policy, rating_ax, n", [("last", 2.0, 3), ("first", 5.0, 3), ("keep", None, 5)])
def test_dedup_policies(policy, rating_ax, n):
    ds = build(DUPS, dedup=policy)
    inter = ds.interactions
    assert len(inter) == n
    ax = inter[(inter.user == 0) & (inter.item == 0)]
    if rating_ax is None:
        assert sorted(ax["rating"].tolist()) == pytest.approx([1.0, 2.0, 5.0])
        assert ds.info["preprocessing"][0].get("skipped")
    else:
        assert ax["rating"].tolist() == pytest.approx([rating_ax])
        assert ds.info["preprocessing"][0]["removed"] == 2


def test_dedup_default_is_last():
    assert Preprocessing().dedup == "last"
    assert build(DUPS).interactions["rating"].tolist() == build(DUPS, dedup="last").interactions["rating"].tolist()


def test_dedup_before_threshold():
    # the latest opinion of (a, x) is 2.0: dedup keeps it, then the threshold drops the pair
    ds = build(DUPS, dedup="last", implicit_threshold=3)
    assert raw_pairs(ds) == {("a", "y"), ("b", "x")}


@pytest.mark.parametrize(
    "prep, match",
    [
        ({"kcore": 5}, "Did you mean 'k_core'"),
        ({"implicit_treshold": 4}, "implicit_threshold"),
        ({"dedup": "lats"}, "Did you mean 'last'"),
        ({"k_core": 0}, "positive integer"),
        ({"k_core": 2.5}, "positive integer"),
        ({"implicit_threshold": "4"}, "number"),
    ],
)
def test_preprocessing_validation(prep, match):
    with pytest.raises(ConfigError, match=match):
        Preprocessing.from_dict(prep)


def test_empty_after_step_raises_with_step_and_params():
    with pytest.raises(DataError) as err:
        build([("a", "x", 1, 1), ("b", "y", 2, 2)], implicit_threshold=3)
    msg = str(err.value)
    assert "implicit_threshold" in msg and "3" in msg and "2 interactions" in msg


def test_dense_ids_contiguous_after_filtering():
    rng = np.random.default_rng(0)
    cols = (rng.integers(0, 40, 600), rng.integers(0, 50, 600), rng.integers(1, 6, 600), rng.integers(0, 10**6, 600))
    rows = [(int(u) * 7, f"i{int(i)}", float(r), int(t)) for u, i, r, t in zip(*cols, strict=True)]
    ds = build(rows, implicit_threshold=3, k_core=3)
    inter = ds.interactions
    assert np.array_equal(np.unique(inter["user"]), np.arange(ds.n_users))
    assert np.array_equal(np.unique(inter["item"]), np.arange(ds.n_items))
    assert ds.users["raw_id"].is_monotonic_increasing  # sorted raw ids -> dense ids
    assert sorted(ds.items["raw_id"]) == ds.items["raw_id"].tolist()
    # every kept (raw user, raw item) pair exists in the input with rating >= 3
    src = {(u, i) for u, i, r, _ in rows if r >= 3}
    assert raw_pairs(ds) <= src
