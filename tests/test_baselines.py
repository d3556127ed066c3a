"""Baselines: registry-wide conformance plus hand-checked tiny cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from ssl4rec.baselines.bpr import sample_negatives
from ssl4rec.baselines.itemknn import item_similarity
from ssl4rec.interactions import Batch, Interactions, SplitData
from ssl4rec.registry import BASELINES, ConfigError
from ssl4rec.testing import tiny_split

COLD_USERS = (0, 1)  # one user of each planted group

#: Overrides that keep each model fast on tiny data (models absent here use their defaults).
FAST = {"bpr": {"epochs": 3}}


# -- helpers -------------------------------------------------------------------------------


def hit_rate(
    scores: torch.Tensor,
    users: np.ndarray,
    history: Interactions,
    targets: pd.DataFrame,
    *,
    k: int = 10,
    scorable: np.ndarray | None = None,
) -> float:
    """HR@k over users with a target: history items and unscorable items are excluded from the ranking."""
    s = scores.detach().cpu().double().numpy().copy()
    s[history.csr[users].toarray() > 0] = -np.inf
    if scorable is not None:
        mask = np.ones(s.shape[1], dtype=bool)
        mask[scorable] = False
        s[:, mask] = -np.inf
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    row_of = {int(u): r for r, u in enumerate(users)}
    hits: dict[int, bool] = {}
    for u, i in zip(targets["user"].to_numpy(), targets["item"].to_numpy(), strict=True):
        if int(u) in row_of:
            hits[int(u)] = hits.get(int(u), False) or bool(np.isin(i, top[row_of[int(u)]]))
    return float(np.mean(list(hits.values()))) if hits else 0.0


def all_users_batch(split: SplitData, stage: str) -> Batch:
    return Batch(torch.arange(split.train.n_users), split.history(stage))


class HRValidator:
    """Validator stub: HR@10 on ``split.valid`` from ``model.score``."""

    metric = "hr"

    def __init__(self, split: SplitData) -> None:
        self.split = split
        self.calls = 0

    def evaluate(self, model) -> float:
        self.calls += 1
        batch = all_users_batch(self.split, "valid")
        scores = model.score(batch)
        return hit_rate(
            scores, batch.users.numpy(), batch.history, self.split.valid, k=10, scorable=model.scorable_items()
        )

    def report(self, epoch: int, value: float, logs: dict[str, float] | None = None) -> None:
        pass


def cold_user_split() -> SplitData:
    """:func:`tiny_split` with users 0 and 1 removed from train and their train rows revealed as context."""
    base = tiny_split()
    df = base.train.df
    cold = df["user"].isin(COLD_USERS)
    train = Interactions(df[~cold], base.train.n_users, base.train.n_items, base.train.items, base.train.users)
    return SplitData(
        train=train,
        valid=base.valid,
        test=base.test,
        context=df[cold].reset_index(drop=True),
        cold_users=np.asarray(COLD_USERS, dtype=np.int64),
        info={"name": "tiny_cold_users"},
    )


def fast_params(name: str) -> dict:
    return dict(FAST.get(name, {}))


# -- registry-wide conformance ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cold_split() -> SplitData:
    return cold_user_split()


@pytest.mark.parametrize("name", BASELINES.names())
def test_conformance(name: str, cold_split: SplitData) -> None:
    entry = BASELINES.entry(name)
    assert entry.summary and entry.config is not None and dataclasses.is_dataclass(entry.config)
    assert "baseline" in entry.tags
    assert set(entry.search_space) <= set(entry.accepted_params())
    params = fast_params(name)
    batch = all_users_batch(cold_split, "test")
    n_users, n_items = cold_split.train.n_users, cold_split.train.n_items

    runs = []
    for _ in range(2):
        model = BASELINES.build(name, **params)
        assert model.fit(cold_split.train, valid=HRValidator(cold_split)) is model
        assert "epochs_run" in model.fit_info
        runs.append(model.score(batch))
    scores = runs[0]
    assert isinstance(scores, torch.Tensor) and scores.dtype == torch.float32
    assert tuple(scores.shape) == (n_users, n_items)
    scorable = model.scorable_items()
    cols = np.arange(n_items) if scorable is None else scorable
    assert torch.isfinite(scores[:, torch.from_numpy(cols)]).all()
    assert model.can_score_cold_items == (scorable is None)
    for u in COLD_USERS:  # cold users: history in the batch only
        assert u not in set(cold_split.train.active_users.tolist())
        assert torch.isfinite(scores[u, torch.from_numpy(cols)]).all()
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=1e-6)  # same seed -> same scores

    # scores of a sub-batch equal those rows of the full batch (no cross-row coupling)
    sub = Batch(torch.tensor([3, 0, 7]), batch.history)
    torch.testing.assert_close(model.score(sub), scores[[3, 0, 7]], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", BASELINES.names())
def test_unknown_param_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match="unknown key 'not_a_param'"):
        BASELINES.build(name, not_a_param=1)
    with pytest.raises(ConfigError):
        BASELINES.get(name)(not_a_param=1)


# -- hand-checked cases -------------------------------------------------------------------


def _log(pairs: list[tuple[int, int]], n_users: int, n_items: int, items: pd.DataFrame | None = None) -> Interactions:
    df = pd.DataFrame(pairs, columns=["user", "item"])
    df["rating"] = 1.0
    df["timestamp"] = np.arange(len(df))
    return Interactions(df, n_users, n_items, items=items)


def test_pop_ranks_by_count_and_scores_cold_users() -> None:
    # item 2: 3 interactions, item 0: 2, item 1: 1, item 3: 0; user 3 has no training interaction
    train = _log([(0, 2), (1, 2), (2, 2), (0, 0), (1, 0), (2, 1)], 4, 4)
    model = BASELINES.build("pop").fit(train)
    hist = _log([(0, 2), (1, 2), (2, 2), (0, 0), (1, 0), (2, 1), (3, 1)], 4, 4)
    scores = model.score(Batch(torch.arange(4), hist))
    torch.testing.assert_close(scores, torch.tensor([[2.0, 1.0, 3.0, 0.0]]).expand(4, -1))
    np.testing.assert_array_equal(model.scorable_items(), [0, 1, 2])


# users x items; columns: i0 = (1,1,1,0), i1 = (1,0,1,1), i2 = (0,1,1,0)
KNN_PAIRS = [(0, 0), (0, 1), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2), (3, 1)]


def test_itemknn_hand_computed_similarity() -> None:
    x = _log(KNN_PAIRS, 4, 3).csr
    # co-counts: (0,1) = 2, (0,2) = 2, (1,2) = 1; norms sqrt(3), sqrt(3), sqrt(2)
    s01, s02, s12 = 2 / 3, 2 / np.sqrt(6), 1 / np.sqrt(6)
    full = np.array([[0, s01, s02], [s01, 0, s12], [s02, s12, 0]])
    np.testing.assert_allclose(item_similarity(x, k=3).toarray(), full, atol=1e-5)
    # shrink in the denominator: 2 / (3 + 1), 2 / (sqrt(6) + 1), 1 / (sqrt(6) + 1)
    t01, t02, t12 = 0.5, 2 / (np.sqrt(6) + 1), 1 / (np.sqrt(6) + 1)
    np.testing.assert_allclose(
        item_similarity(x, k=3, shrink=1.0).toarray(), [[0, t01, t02], [t01, 0, t12], [t02, t12, 0]], atol=1e-5
    )
    # k = 1 keeps the best row of each column: col 0 <- item 2, col 1 <- item 0, col 2 <- item 0
    np.testing.assert_allclose(
        item_similarity(x, k=1, shrink=1.0).toarray(), [[0, t01, t02], [0, 0, 0], [t02, 0, 0]], atol=1e-5
    )
    # without normalisation: raw co-counts (divided by shrink when given)
    np.testing.assert_allclose(item_similarity(x, k=3, normalize=False).toarray(), [[0, 2, 2], [2, 0, 1], [2, 1, 0]])
    np.testing.assert_allclose(
        item_similarity(x, k=3, shrink=2.0, normalize=False).toarray(), [[0, 1, 1], [1, 0, 0.5], [1, 0.5, 0]]
    )

    model = BASELINES.build("itemknn", k=2).fit(_log(KNN_PAIRS, 4, 3))
    hist = _log([*KNN_PAIRS, (4, 1)], 5, 3)  # user 4: cold, history = item 1 only
    scores = model.score(Batch(torch.tensor([4]), hist))
    np.testing.assert_allclose(scores.numpy(), [[s01, 0, s12]], atol=1e-5)


def test_itemknn_blocks_match_single_block() -> None:
    rng = np.random.default_rng(0)
    pairs = list({(int(u), int(i)) for u, i in zip(rng.integers(0, 60, 600), rng.integers(0, 45, 600), strict=True)})
    x = _log(pairs, 60, 45).csr
    one = item_similarity(x, k=7, shrink=3.0)
    blocked = item_similarity(x, k=7, shrink=3.0, block_floats=45 * 4)  # blocks of 4 columns
    np.testing.assert_allclose(blocked.toarray(), one.toarray(), atol=1e-6)
    assert (np.diff(one.tocsc().indptr) <= 7).all()


def test_itemknn_dense_and_sparse_scoring_agree(monkeypatch) -> None:
    import ssl4rec.baselines.itemknn as knn

    rng = np.random.default_rng(2)
    pairs = list({(int(u), int(i)) for u, i in zip(rng.integers(0, 40, 300), rng.integers(0, 30, 300), strict=True)})
    train = _log(pairs, 41, 30)  # user 40 has no history: an all-zero row
    batch = Batch(torch.arange(41), train)
    dense = BASELINES.build("itemknn", k=5).fit(train)
    assert dense._dense is not None
    monkeypatch.setattr(knn, "DENSE_SCORING_MAX_ITEMS", 10)
    sparse = BASELINES.build("itemknn", k=5).fit(train)
    assert sparse._dense is None
    expected = torch.from_numpy((train.csr @ sparse.similarity).toarray().astype(np.float32))
    torch.testing.assert_close(sparse.score(batch), expected)
    torch.testing.assert_close(dense.score(batch), expected)
    assert float(dense.score(batch)[40].abs().sum()) == 0.0


def test_ease_matches_numpy_reference() -> None:
    rng = np.random.default_rng(1)
    dense = (rng.random((25, 12)) < 0.3).astype(np.float64)
    u, i = np.nonzero(dense)
    train = _log(list(zip(u.tolist(), i.tolist(), strict=True)), 25, 12)
    l2 = 5.0
    p = np.linalg.inv(dense.T @ dense + l2 * np.eye(12))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    expected = dense @ b
    for dtype, tol in (("float64", 1e-5), ("float32", 1e-3)):
        model = BASELINES.build("ease", l2=l2, dtype=dtype).fit(train)
        np.testing.assert_allclose(model.score(Batch(torch.arange(25), train)).numpy(), expected, atol=tol)


def test_ease_refuses_large_catalogue() -> None:
    train = _log([(0, 0), (1, 5)], 2, 50)
    with pytest.raises(ConfigError, match="max_items=10"):
        BASELINES.build("ease", max_items=10).fit(train)
    with pytest.raises(ConfigError, match="dtype"):
        BASELINES.build("ease", dtype="float16")


def test_content_scores_cold_item_above_unrelated_items() -> None:
    base = tiny_split()
    cold_item = 3  # a "space" item (first half) with no training interaction
    df = base.train.df
    train = Interactions(df[df["item"] != cold_item], base.train.n_users, base.train.n_items, base.train.items)
    model = BASELINES.build("content").fit(train)
    assert model.can_score_cold_items and model.scorable_items() is None
    scores = model.score(Batch(torch.tensor([0, 2, 1]), train))  # users 0, 2: space group; 1: love group
    half = train.n_items // 2
    assert (scores[:2, cold_item] > scores[:2, half:].max(dim=1).values).all()
    assert scores[2, cold_item] < scores[2, half:].min()
    assert torch.all(scores <= 1.0 + 1e-5)  # cosines


def test_content_recency_weighting_follows_last_item() -> None:
    items = pd.DataFrame({"title": ["alpha", "beta", "alpha beta"], "genres": [["x"], ["y"], ["x", "y"]]})
    hist = _log([(0, 0), (0, 1)], 1, 3, items=items)  # most recent: item 1 ("beta")
    plain = BASELINES.build("content").fit(hist).score(Batch(torch.tensor([0]), hist))[0]
    recent = BASELINES.build("content", recency_decay=5.0).fit(hist).score(Batch(torch.tensor([0]), hist))[0]
    torch.testing.assert_close(plain[0], plain[1])  # symmetric profile
    assert recent[1] > recent[0]


def test_content_requires_text() -> None:
    no_text = _log([(0, 0)], 1, 2, items=pd.DataFrame({"raw_id": ["a", "b"]}))
    with pytest.raises(ValueError, match="no usable text or attributes"):
        BASELINES.build("content").fit(no_text)
    with pytest.raises(ValueError, match="no item side table"):
        BASELINES.build("content").fit(_log([(0, 0)], 1, 2))
    attrs = pd.DataFrame({"attributes": [[1, 2], [2], []]})
    model = BASELINES.build("content").fit(_log([(0, 0)], 1, 3, items=attrs))
    assert model.fit_info["vocabulary"] == 2 and model.fit_info["items_without_text"] == 1


def test_bpr_learns_planted_structure() -> None:
    split = tiny_split()
    valid = HRValidator(split)
    model = BASELINES.build("bpr", epochs=60, learning_rate=0.05, batch_size=64, embedding_size=16, seed=3)
    model.fit(split.train, valid=valid)
    assert valid.calls == model.fit_info["epochs_run"] >= 1
    batch = all_users_batch(split, "test")
    scores = model.score(batch)
    # the held-out item ranks in the top half of the user's candidates (history excluded) for most users
    s = scores.double().numpy().copy()
    s[batch.history.csr.toarray() > 0] = np.nan
    target = split.test.sort_values("user")["item"].to_numpy()
    t = s[np.arange(len(s)), target]
    pct = np.nansum(s > t[:, None], axis=1) / np.sum(~np.isnan(s), axis=1)
    assert np.median(pct) < 0.5 and np.mean(pct < 0.5) > 0.8
    assert hit_rate(scores, batch.users.numpy(), batch.history, split.test) > 0.6  # random: 10/23


def test_bpr_folds_in_cold_users(cold_split: SplitData) -> None:
    model = BASELINES.build("bpr", epochs=2, seed=1).fit(cold_split.train)
    hist = cold_split.history("test")
    scores = model.score(Batch(torch.tensor(COLD_USERS), hist))
    item = model.module.item.weight.detach()
    for row, u in enumerate(COLD_USERS):
        seen = np.unique(hist.user_items(u))
        torch.testing.assert_close(scores[row], item[torch.from_numpy(seen)].mean(0) @ item.T)


def test_bpr_negative_sampling_avoids_training_items() -> None:
    n_items = 20
    users = torch.tensor([0] * 2000 + [1] * 2000)
    known_items = {0: set(range(10)), 1: {4}}  # user 0 knows half the catalogue
    known = torch.tensor(sorted(u * n_items + i for u, its in known_items.items() for i in its))
    neg = sample_negatives(users, n_items, known, torch.Generator().manual_seed(0))
    assert ((neg >= 0) & (neg < n_items)).all()
    hits0 = int(np.isin(neg[:2000].numpy(), list(known_items[0])).sum())
    assert hits0 <= 5  # ~1000 without re-drawing; 0.5 ** 11 per draw with it
    assert (neg[2000:] != 4).all()
    assert len(set(neg[2000:].tolist())) == n_items - 1  # otherwise uniform
    again = sample_negatives(users, n_items, known, torch.Generator().manual_seed(0))
    assert torch.equal(neg, again)


def test_random_scores_independent_of_batching_and_seeded() -> None:
    train = tiny_split().train
    model = BASELINES.build("random", seed=7).fit(train)
    full = model.score(Batch(torch.arange(10), train))
    torch.testing.assert_close(model.score(Batch(torch.tensor([4, 2]), train)), full[[4, 2]])
    other = BASELINES.build("random", seed=8).fit(train).score(Batch(torch.arange(10), train))
    assert not torch.allclose(full, other)
    assert float(full.min()) >= 0.0 and float(full.max()) < 1.0
    assert abs(float(full.mean()) - 0.5) < 0.1
