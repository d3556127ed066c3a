"""Item-attribute side information for graph and sequence encoders: the joined graph LightGCN
propagates over (``side_graph: attributes``) and the ``attribute_link`` objective."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from ssl4rec.encoders.graph import LightGCNEncoder, normalized_adjacency
from ssl4rec.objectives.base import IncompatibleError
from ssl4rec.registry import ConfigError
from ssl4rec.ssl import build_ssl_model
from ssl4rec.testing import tiny_split


def test_joined_adjacency_by_hand():
    # nodes: u0 | i0 i1 | a0; edges u0-i0, i0-a0, i1-a0; degrees u0 1, i0 2, i1 1, a0 2
    ui = sp.csr_matrix(np.array([[1.0, 0.0]]))
    ia = sp.csr_matrix(np.array([[1.0], [1.0]]))
    got = normalized_adjacency(ui, side=ia).to_dense().numpy()
    a, b, c = 1 / np.sqrt(2), 1 / np.sqrt(4), 1 / np.sqrt(2)
    want = np.array([[0, a, 0, 0], [a, 0, 0, b], [0, 0, 0, c], [0, b, c, 0]], dtype=np.float32)
    assert np.allclose(got, want)
    # dropping the user-item edge keeps the attribute edges (degrees of the kept graph)
    kept = normalized_adjacency(ui, keep=np.array([False]), side=ia).to_dense().numpy()
    assert kept[0].sum() == 0 and np.isclose(kept[1, 3], 1 / np.sqrt(2)) and np.isclose(kept[2, 3], 1 / np.sqrt(2))
    # without a side graph: the plain bipartite adjacency (u0-i0 with degrees 1 and 1)
    assert np.allclose(normalized_adjacency(ui).to_dense().numpy(), [[0, 1, 0], [1, 0, 0], [0, 0, 0]])


def _encoder(side: bool) -> LightGCNEncoder:
    torch.manual_seed(0)
    params = {"side_graph": "attributes"} if side else {}
    return LightGCNEncoder(n_items=3, n_users=2, n_side=2 if side else 0, num_layers=2, **params)


def test_an_item_without_interactions_is_reached_through_its_attributes():
    ui = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))  # item 2: no training interaction
    ia = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))  # item 2 shares attribute 0 with item 0
    plain, joined = _encoder(False), _encoder(True)
    plain.set_graph(ui)
    joined.set_graph(ui, side=ia)
    p, j = plain.propagate(), joined.propagate()
    assert float(p.layers[1][2 + 2].detach().abs().sum()) == 0.0  # layer 1 of item 2: nothing reaches it
    assert float(j.layers[1][2 + 2].detach().abs().sum()) > 0.0
    assert all(layer.shape == (5, 64) for layer in j.layers)  # users and items only: attribute rows are internal
    # item 2's layer-2 vector now depends on item 0's ego vector (item 0 -> attribute 0 -> item 2)
    ego = joined.item_embedding.table.weight
    grad = torch.autograd.grad(j.layers[2][4].sum(), ego)[0]
    assert float(grad[1].abs().sum()) > 0.0  # row 1 of the table = item 0


def test_side_graph_refusals():
    with pytest.raises(ConfigError, match="use propagation 'full'"):
        LightGCNEncoder(n_items=3, n_users=2, side_graph="attributes", propagation="sampled")
    with pytest.raises(ConfigError, match="side_graph 'items'"):
        LightGCNEncoder(n_items=3, n_users=2, side_graph="items")
    enc = _encoder(True)
    with pytest.raises(ValueError, match="needs the item-attribute graph"):
        enc.set_graph(sp.csr_matrix((2, 3)))
    plain_data = tiny_split()  # items without an attribute column: titles and genres only...
    plain_data.train.items = plain_data.train.items.drop(columns=["genres"])
    model = build_ssl_model({"name": "lightgcn", "params": {"side_graph": "attributes"}}, ["bpr"], epochs=1)
    with pytest.raises(IncompatibleError, match="side_graph 'attributes' needs item attributes"):
        model.fit(plain_data.train)
    link = build_ssl_model("transformer", ["next_item", "attribute_link"], epochs=1)
    with pytest.raises(IncompatibleError, match="attribute_link needs item attributes"):
        link.fit(plain_data.train)
    with pytest.raises(IncompatibleError, match="attribute_link reads the shared item representation; vae reads bags"):
        build_ssl_model("vae", ["reconstruction", "attribute_link"], epochs=1)


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels > 0], scores[labels == 0]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


@pytest.mark.parametrize("encoder", ["transformer", "lightgcn"])
def test_attribute_link_learns_the_items_attributes(encoder):
    train = tiny_split(attributes=True).train
    objs = ["next_item"] if encoder == "transformer" else ["bpr"]
    model = build_ssl_model(
        encoder,
        [*objs, {"name": "attribute_link", "params": {"objective_weight": 1.0}}],
        epochs=40,
        seed=0,
        learning_rate=0.01,
    )
    model.fit(train)
    losses = [e["attribute_link"] for e in model.fit_info["objective_losses"]]
    assert losses[-1] < 0.5 * losses[0]
    obj = model.net.objective("attribute_link")
    items = torch.arange(train.n_items)
    with torch.no_grad():
        prob = obj.predict(model.net, items).cpu().numpy()
    truth = obj.attributes.cpu().numpy()
    assert _auc(prob.ravel(), truth.ravel()) > 0.9


def test_lightgcn_with_the_attribute_graph_trains_and_scores_through_a_suite_model():
    train = tiny_split(attributes=True).train
    model = build_ssl_model(
        {"name": "lightgcn", "params": {"side_graph": "attributes"}},
        ["bpr", {"name": "graph_contrastive", "params": {"view": "edge_dropout"}}],
        epochs=3,
        seed=0,
    )
    model.fit(train)
    assert model.net.encoder.n_side == 7  # attribute ids 1..5 and the two genres
    from ssl4rec.interactions import Batch

    scores = model.score(Batch(torch.arange(5), train))
    assert scores.shape == (5, train.n_items) and bool(torch.isfinite(scores).all())


def _split_with_cold_items():
    """The tiny split with items 0 and 1 held out of training; item 1 has no attributes either."""
    split = tiny_split(attributes=True)
    train = split.train
    df = train.df[~train.df["item"].isin([0, 1])]
    items = train.items.copy()
    items.at[1, "genres"] = []
    items.at[1, "attributes"] = []
    from ssl4rec.interactions import Interactions

    return Interactions(df, train.n_users, train.n_items, items=items, users=train.users)


def test_the_attribute_graph_scores_cold_items_it_reaches_and_never_samples_them_as_negatives():
    from ssl4rec.interactions import Batch

    train = _split_with_cold_items()
    assert train.item_counts[0] == 0 and train.item_counts[1] == 0
    model = build_ssl_model({"name": "lightgcn", "params": {"side_graph": "attributes"}}, ["bpr"], epochs=2, seed=0)
    assert model.can_score_cold_items
    model.fit(train)
    scorable = model.scorable_items()
    assert scorable is not None and 0 in scorable and 1 not in scorable  # item 1: no edge and no attribute
    assert len(scorable) == train.n_items - 1
    assert sorted(set(range(train.n_items)) - set(model.net.candidate_items.tolist())) == [0, 1]
    sampler = model.net.objective("bpr").sampler
    users = torch.arange(train.n_users).repeat(200)
    negatives = sampler.sample(users, torch.Generator().manual_seed(0))
    assert not bool(torch.isin(negatives, torch.tensor([0, 1])).any())
    assert not bool(sampler.known(users, negatives).any())  # still items the user has not trained on
    scores = model.score(Batch(torch.arange(5), train))
    assert bool(torch.isfinite(scores[:, 0]).all())
    # without the attribute graph the same model cannot score either held-out item
    plain = build_ssl_model("lightgcn", ["bpr"], epochs=2, seed=0)
    assert not plain.can_score_cold_items
    plain.fit(train)
    assert 0 not in plain.scorable_items() and 1 not in plain.scorable_items()
    assert getattr(plain.net, "candidate_items", None) is None


def test_negative_sampler_pool():
    from ssl4rec.objectives.graph import NegativeSampler

    csr = sp.csr_matrix(np.array([[1.0, 0, 0, 0, 1.0], [0, 1.0, 0, 0, 0]]))
    pool = torch.tensor([1, 2, 4])
    s = NegativeSampler(csr, 5, pool=pool)
    users = torch.tensor([0, 1]).repeat(500)
    out = s.sample(users, torch.Generator().manual_seed(1))
    assert set(out[users == 0].tolist()) == {1, 2}  # pool minus user 0's items 0 and 4
    assert set(out[users == 1].tolist()) == {2, 4}
    free = NegativeSampler(csr, 5).sample(users, torch.Generator().manual_seed(1))
    assert set(free[users == 0].tolist()) == {1, 2, 3}
