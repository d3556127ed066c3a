"""Graph encoders and graph SSL: LightGCN propagation, views, BPR, graph InfoNCE, presets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

import ssl4rec.ssl  # noqa: F401  (registers views and presets)
from ssl4rec.encoders.graph import LightGCNEncoder, normalized_adjacency
from ssl4rec.evaluation.evaluator import Protocol, evaluate
from ssl4rec.interactions import Batch, Interactions
from ssl4rec.objectives.graph import NegativeSampler, graph_info_nce
from ssl4rec.registry import PRESETS, VIEWS, ConfigError
from ssl4rec.ssl.composite import IncompatibleError, build_ssl_model, check_compatible
from ssl4rec.testing import tiny_split

# 2 users x 3 items: user 0 - items 0, 1; user 1 - items 1, 2 (a 5-node graph)
EDGES = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32))


def test_propagation_equals_a_dense_reference_on_a_five_node_graph():
    torch.manual_seed(0)
    enc = LightGCNEncoder(3, n_users=2, embedding_size=4, num_layers=3, combine="mean")
    enc.set_graph(EDGES)
    a = np.zeros((5, 5))
    a[:2, 2:] = EDGES.toarray()
    a[2:, :2] = EDGES.toarray().T
    d = a.sum(1)
    a_hat = torch.tensor(a / np.sqrt(np.outer(d, d)), dtype=torch.float32)  # every node has an edge here
    # by hand: degrees users (2, 2), items (1, 2, 1): the user 0 - item 1 weight is 1/sqrt(2 * 2)
    assert a_hat[0, 3].item() == pytest.approx(0.5) and a_hat[0, 2].item() == pytest.approx(1 / np.sqrt(2))
    ego = enc.ego().detach()
    layers = [ego]
    for _ in range(3):
        layers.append(a_hat @ layers[-1])
    ref = torch.stack(layers).mean(0)
    out = enc.propagate()
    torch.testing.assert_close(torch.cat([out.users, out.items]), ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(normalized_adjacency(EDGES).to_dense(), a_hat)
    for combine, expect in (
        ("mean_propagated", torch.stack(layers[1:]).mean(0)),
        ("sum", torch.stack(layers).sum(0)),
        ("last", layers[-1]),
    ):
        enc.config.combine = combine
        got = enc.propagate()
        torch.testing.assert_close(torch.cat([got.users, got.items]), expect, atol=1e-6, rtol=1e-5)


def test_propagation_gradients_equal_the_dense_reference():
    """The symmetric sparse product's hand-written backward (a @ grad) is autograd's dense one."""
    torch.manual_seed(0)
    enc = LightGCNEncoder(3, n_users=2, embedding_size=4, num_layers=2, combine="mean")
    enc.set_graph(EDGES)
    a_hat = normalized_adjacency(EDGES).to_dense()
    assert torch.equal(a_hat, a_hat.T)
    weight = torch.randn(5, 4)
    out = enc.propagate()
    (torch.cat([out.users, out.items]) * weight).sum().backward()
    got = [enc.user_embedding.weight.grad.clone(), enc.item_embedding.table.weight.grad.clone()]
    enc.zero_grad()
    ego = enc.ego()
    layers = [ego, a_hat @ ego]
    layers.append(a_hat @ layers[-1])
    (torch.stack(layers).mean(0) * weight).sum().backward()
    want = [enc.user_embedding.weight.grad, enc.item_embedding.table.weight.grad]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)


def test_an_isolated_node_keeps_only_its_own_embedding():
    m = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0]], dtype=np.float32))  # user 1 and items 1, 2 isolated
    adj = normalized_adjacency(m).to_dense()
    assert adj[1].abs().sum() == 0 and adj[3].abs().sum() == 0
    assert adj[0, 2].item() == pytest.approx(1.0)


def test_edge_dropout_keeps_the_expected_share_and_is_seeded():
    rng = np.random.default_rng(0)
    m = sp.random(300, 400, density=0.05, format="csr", random_state=rng)
    m.data[:] = 1.0
    enc = LightGCNEncoder(400, n_users=300, embedding_size=8)
    enc.set_graph(m)
    view = VIEWS.build("edge_dropout", ratio=0.2)
    view.epoch_start(enc, torch.Generator().manual_seed(3))
    kept = [int((a.values() != 0).sum()) // 2 for a in view._adjacencies]
    assert all(abs(k / m.nnz - 0.8) < 0.03 for k in kept), kept
    assert kept[0] != kept[1]  # two independent views
    again = VIEWS.build("edge_dropout", ratio=0.2)
    again.epoch_start(enc, torch.Generator().manual_seed(3))
    assert torch.equal(view._adjacencies[0].to_dense(), again._adjacencies[0].to_dense())
    nodes = VIEWS.build("node_dropout", ratio=0.5)
    nodes.epoch_start(enc, torch.Generator().manual_seed(0))
    kept_nodes = int((nodes._adjacencies[0].values() != 0).sum()) // 2
    assert abs(kept_nodes / m.nnz - 0.25) < 0.05  # an edge survives when both its ends do
    walk = VIEWS.build("random_walk", ratio=0.2)
    walk.epoch_start(enc, torch.Generator().manual_seed(0))
    assert len(walk._adjacencies[0]) == enc.config.num_layers  # a graph per layer
    with pytest.raises(ConfigError, match="ratio"):
        VIEWS.build("edge_dropout", ratio=1.0)


def test_graph_info_nce_is_minimal_for_identical_views():
    torch.manual_seed(0)
    z = torch.randn(32, 16)
    same = graph_info_nce(z, z, 0.2)
    noisy = graph_info_nce(z, z + 0.5 * torch.randn_like(z), 0.2)
    shuffled = graph_info_nce(z, z[torch.randperm(32)], 0.2)
    assert same < noisy < shuffled
    # by hand for two orthogonal unit rows at temperature 1: -log(e / (e + 1))
    eye = torch.eye(2)
    assert graph_info_nce(eye, eye, 1.0).item() == pytest.approx(-np.log(np.e / (np.e + 1)), rel=1e-6)


def test_graph_info_nce_fused_equals_the_log_softmax_form_in_value_and_gradients():
    """The fused InfoNCE against ``-diag(log_softmax(a b^T / t)).mean()`` on normalised rows (float64):
    same value and gradients (one view shared by both arguments included), and a repeated backward
    through the same graph (which recomputes the softmax) gives them again."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    for (n, d), t in zip(((1, 3), (7, 3), (50, 16), (50, 16)), (0.3, 0.3, 0.3, 0.02), strict=True):
        a = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
        b = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
        for x, y in ((a, b), (a, a)):
            # t = 0.02: 1 / t > 40, each row shifted by its maximum rather than by 1 / t
            ref = -torch.diagonal(F.log_softmax(F.normalize(x, dim=1) @ F.normalize(y, dim=1).T / t, dim=1)).mean()
            want = torch.autograd.grad(2.5 * ref, (a, b), allow_unused=True)
            out = graph_info_nce(x, y, t)
            assert out.item() == pytest.approx(ref.item(), abs=1e-12)
            got = [torch.autograd.grad(2.5 * out, (a, b), allow_unused=True, retain_graph=True) for _ in range(2)]
            for w, g, again in zip(want, *got, strict=True):  # the second backward recomputes the softmax
                assert (w is None and g is None and again is None) or (
                    torch.allclose(w, g, atol=1e-12) and torch.equal(g, again)
                )


def test_ncl_structure_term_over_distinct_rows_equals_the_per_edge_sum():
    """NCL's structural term, computed fused over a batch's distinct users weighted by their counts,
    against SELFRec's per-edge form ``sum_r(logsumexp(q_r K^T / t) - q_r . k_r / t)`` (float64, a batch
    with repeated rows): same value and gradients, on the unshifted path (1 / t <= 40) and the shifted
    one (t = 0.01); a row repeated 3 times weighs 3 times a single one."""
    import torch.nn.functional as F

    from ssl4rec.objectives.graph import PrototypeContrastive

    torch.manual_seed(0)
    for t in (0.05, 0.01):
        obj = PrototypeContrastive(temperature=t)
        context = torch.randn(40, 8, dtype=torch.float64, requires_grad=True)
        ego = torch.randn(40, 8, dtype=torch.float64, requires_grad=True)
        rows = torch.randint(0, 40, (150,))
        assert len(rows.unique()) < len(rows)  # repeats, as a batch of edges has
        q = F.normalize(context[rows], dim=1)
        per_edge = (
            torch.logsumexp(q @ F.normalize(ego, dim=1).T / t, 1) - (q * F.normalize(ego[rows], dim=1)).sum(1) / t
        )
        want = torch.autograd.grad(per_edge.sum(), (context, ego))
        out = obj._structure(context, ego, rows)
        assert out.item() == pytest.approx(per_edge.sum().item(), rel=1e-12)
        for w, g in zip(want, torch.autograd.grad(out, (context, ego)), strict=True):
            assert torch.allclose(w, g, atol=1e-10)
        one, three = rows[:1], rows[:1].repeat(3)
        assert obj._structure(context, ego, three).item() == pytest.approx(3 * obj._structure(context, ego, one).item())


def test_negatives_are_never_a_users_training_item():
    rng = np.random.default_rng(1)
    m = sp.random(50, 20, density=0.5, format="csr", random_state=rng)
    m.data[:] = 1.0
    sampler = NegativeSampler(m, 20)
    users = torch.from_numpy(np.repeat(np.arange(50), 40))
    neg = sampler.sample(users, torch.Generator().manual_seed(0))
    dense = m.toarray() > 0
    assert not dense[users.numpy(), neg.numpy()].any()
    assert sampler.known(torch.tensor([0]), torch.tensor([int(m[0].indices[0])])).item()
    # the bitmap lookup and the binary search (graphs too large for a bitmap) agree on every pair and draw
    search = NegativeSampler(m, 20, bitmap_bytes=0)
    assert sampler.bitmap is not None and search.bitmap is None
    all_u, all_i = (torch.from_numpy(a.ravel()) for a in np.meshgrid(np.arange(50), np.arange(20), indexing="ij"))
    assert torch.equal(sampler.known(all_u, all_i), torch.from_numpy(dense.ravel()))
    assert torch.equal(search.known(all_u, all_i), torch.from_numpy(dense.ravel()))
    assert torch.equal(search.sample(users, torch.Generator().manual_seed(0)), neg)


def test_noise_views_differ_and_cross_layer_reuses_the_main_pass():
    torch.manual_seed(0)
    enc = LightGCNEncoder(3, n_users=2, embedding_size=4, num_layers=2, combine="mean_propagated")
    enc.set_graph(EDGES)
    a, b = VIEWS.build("embedding_noise", eps=0.1).views(enc, torch.Generator(), None)
    assert not torch.allclose(a.users, b.users)
    main = enc.propagate()
    first, second = VIEWS.build("cross_layer", layer=1).views(enc, torch.Generator(), main)
    assert first is main and torch.equal(second.users, main.layers[1][:2])
    with pytest.raises(ConfigError, match="layer 3 but the encoder has 2 layers"):
        VIEWS.build("cross_layer", layer=3).views(enc, torch.Generator(), main)


@pytest.mark.parametrize(
    "layers,combine,isolated",
    [(1, "mean", "zero"), (2, "mean", "ego"), (3, "sum", "zero"), (2, "last", "ego"), (3, "mean_propagated", "ego")],
)
def test_a_noisy_view_from_the_clean_pass_equals_a_noisy_propagation(layers, combine, isolated):
    """SimGCL's view as the clean propagation plus a constant offset: the same values (up to rounding), layers
    and gradients as propagating with noise, from the same draws of the global generator."""
    split = tiny_split()
    m = split.train.csr
    torch.manual_seed(0)
    enc = LightGCNEncoder(
        m.shape[1], n_users=m.shape[0], embedding_size=8, num_layers=layers, combine=combine, isolated=isolated
    )
    enc.set_graph(m)
    weights = torch.randn(m.shape[0] + m.shape[1], 8)
    torch.manual_seed(5)
    full = enc.propagate(noise=0.1)
    torch.manual_seed(5)
    view = enc.noisy_view(enc.propagate(), 0.1, None)
    torch.testing.assert_close(view.joint, full.joint, atol=1e-6, rtol=1e-5)
    for k in range(layers + 1):
        torch.testing.assert_close(view.layers[k], full.layers[k], atol=1e-6, rtol=1e-5)
    params = [enc.user_embedding.weight, enc.item_embedding.table.weight]
    want = torch.autograd.grad((full.joint * weights).sum(), params)
    got = torch.autograd.grad((view.joint * weights).sum(), params)
    for w, g in zip(want, got, strict=True):
        torch.testing.assert_close(g, w)
    enc.train()
    noisy = LightGCNEncoder(m.shape[1], n_users=m.shape[0], embedding_size=8, train_noise=0.1)
    noisy.set_graph(m)
    assert noisy.noisy_view(noisy.propagate(), 0.1, None) is None  # a noisy main pass: propagate in full


def test_train_noise_only_while_training():
    torch.manual_seed(0)
    enc = LightGCNEncoder(3, n_users=2, embedding_size=4, train_noise=0.2)
    enc.set_graph(EDGES)
    enc.eval()
    torch.testing.assert_close(enc.propagate().users, enc.propagate().users)
    enc.train()
    assert not torch.allclose(enc.propagate().users, enc.propagate().users)


@pytest.mark.parametrize("name", ["lightgcn", "sgl", "simgcl", "xsimgcl", "directau", "ncl"])
def test_graph_presets_train_score_and_are_seeded(name):
    split = tiny_split()
    runs = []
    for _ in range(2):
        model = PRESETS.get(name)(epochs=3, batch_size=128, encoder={"embedding_size": 16})
        model.fit(split.train)
        runs.append(model)
    assert all(np.isfinite(runs[0].fit_info["losses"]))
    assert runs[0].fit_info["losses"] == runs[1].fit_info["losses"]
    assert runs[0].fit_info["examples_per_epoch"] == split.train.csr.nnz  # the rows are the edges
    res = evaluate(runs[0], split, "test", Protocol(ks=(10,)), progress=False)
    assert 0.0 <= res.metrics["ndcg@10"] <= 1.0
    b = Batch(torch.arange(4), split.train)
    scores = runs[0].score(b)
    torch.testing.assert_close(scores, runs[0].user_vectors(b) @ runs[0].item_vectors().T)


def test_validation_sees_every_step_of_a_graph_model():
    """The scoring cache follows the weights: each validation scores the current model (fused Adam
    does not bump parameter versions, so a cache keyed by them froze validation at its first value),
    and scoring after fit uses the restored best weights."""
    from ssl4rec.evaluation.evaluator import RankingValidator

    split = tiny_split()
    model = PRESETS.get("lightgcn")(epochs=6, batch_size=64, eval_every=1, patience=10, encoder={"embedding_size": 8})
    model.fit(split.train, RankingValidator(split, Protocol(ks=(10,), valid_metric="ndcg@10")))
    values = [v for _, v in model.fit_info["valid"]]  # (epoch, value) per validation
    assert len(set(values)) > 1, values
    best = max(values)
    again = RankingValidator(split, Protocol(ks=(10,), valid_metric="ndcg@10")).evaluate(model)
    assert again == pytest.approx(best)


def test_lightgcn_learns_on_clustered_data():
    """On the synthetic data's user / item clusters LightGCN beats popularity after a few epochs."""
    from ssl4rec.registry import BASELINES

    split = tiny_split()
    model = PRESETS.get("lightgcn")(epochs=30, batch_size=256, learning_rate=0.01, encoder={"embedding_size": 32})
    model.fit(split.train)
    pop = BASELINES.get("pop")()
    pop.fit(split.train)
    ours = evaluate(model, split, "test", Protocol(ks=(10,)), progress=False).metrics["ndcg@10"]
    base = evaluate(pop, split, "test", Protocol(ks=(10,)), progress=False).metrics["ndcg@10"]
    assert ours > base, (ours, base)


def test_ncl_prototypes_start_after_the_warm_up_and_are_member_means():
    split = tiny_split()
    model = PRESETS.get("ncl")(
        epochs=3,
        batch_size=128,
        encoder={"embedding_size": 8},
        objectives={"prototype_contrastive": {"warm_up_epochs": 2, "num_clusters": 4}},
    )
    model.fit(split.train)
    obj = model.net.objective("prototype_contrastive")
    assert set(obj.clusters) == {"users", "items"}  # clustered at the start of epoch 2 (0-based)
    from ssl4rec.objectives.base import TrainData

    data = TrainData(
        split.train,
        torch.zeros(1, dtype=torch.long),
        torch.zeros(1, dtype=torch.long),
        None,
        torch.Generator().manual_seed(0),
        10,
    )
    obj.epoch_start(model.net, 2, data)  # again, from the trained ego vectors
    cent, assign = obj.clusters["users"]
    ego = model.net.encoder.user_embedding.weight.detach()
    assert cent.shape == (4, 8) and assign.shape == (ego.shape[0],)
    for k in range(4):  # k-means converged on 60 users: each centroid is the mean of its members
        if (assign == k).any():
            torch.testing.assert_close(cent[k], ego[assign == k].mean(0), atol=1e-4, rtol=1e-4)
    early = PRESETS.get("ncl")(
        epochs=2,
        batch_size=128,
        encoder={"embedding_size": 8},
        objectives={"prototype_contrastive": {"warm_up_epochs": 5}},
    )
    early.fit(split.train)
    assert early.net.objective("prototype_contrastive").clusters == {}  # still warming up
    with pytest.raises(IncompatibleError, match="context_layer 4 but the encoder has 3 layers"):
        PRESETS.get("ncl")(epochs=1, objectives={"prototype_contrastive": {"context_layer": 4}}).fit(split.train)


def test_align_uniform_by_hand():
    """Two edges on 2-d unit vectors: alignment and uniformity as DirectAU defines them."""
    from ssl4rec.objectives.graph import uniformity

    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert uniformity(z).item() == pytest.approx(-4.0)  # one pair at squared distance 2: log exp(-2 * 2)
    three = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    expect = np.log((np.exp(-4) + np.exp(-8) + np.exp(-4)) / 3)
    assert uniformity(three).item() == pytest.approx(expect, rel=1e-6)
    # DirectAU's pdist formula, values and gradients, duplicate rows (repeated batch users) included
    z = F.normalize(torch.randn(40, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    z = torch.cat([z, z[:5]]).requires_grad_()
    ref = z.detach().clone().requires_grad_()
    uniformity(z).backward()
    torch.pdist(ref).pow(2).mul(-2.0).exp().mean().log().backward()
    torch.testing.assert_close(uniformity(z.detach()), torch.pdist(ref.detach()).pow(2).mul(-2.0).exp().mean().log())
    torch.testing.assert_close(z.grad, ref.grad, atol=1e-6, rtol=1e-4)
    # rows long enough that exp(-t ||z_i - z_j||^2) could underflow: shifted by the maximum, still exact
    far = (3.0 * torch.randn(30, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))).requires_grad_()
    ref = far.detach().clone().requires_grad_()
    uniformity(far).backward()
    want = torch.logsumexp(-2.0 * torch.pdist(ref).pow(2), 0) - np.log(30 * 29 / 2)
    want.backward()
    assert uniformity(far.detach()).item() == pytest.approx(want.item(), rel=1e-9)
    torch.testing.assert_close(far.grad, ref.grad)


def test_uniformity_over_distinct_rows_with_counts_equals_the_repeated_rows():
    """A batch's users repeat: uniformity over the distinct rows weighted by their counts has DirectAU's
    pdist value and gradients over the repeated rows (float64; unshifted and max-shifted paths)."""
    from ssl4rec.objectives.graph import uniformity

    for scale in (1.0, 4.0):  # 4: rows long enough that the exponentials are shifted by their maximum
        z = (
            scale * torch.randn(30, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        ).requires_grad_()
        rows = torch.randint(0, 30, (120,), generator=torch.Generator().manual_seed(3))
        ref = torch.pdist(z[rows]).pow(2).mul(-2.0).exp().mean().log()
        want = torch.autograd.grad(ref, z)[0]
        distinct, counts = torch.unique(rows, return_counts=True)
        assert len(distinct) < len(rows)
        out = uniformity(z[distinct], 2.0, counts)
        assert out.item() == pytest.approx(ref.item(), rel=1e-12)
        torch.testing.assert_close(torch.autograd.grad(out, z)[0], want, atol=1e-12, rtol=1e-9)
    # one distinct row repeated: every pair at distance 0, log mean exp(0) = 0; fewer than 2 rows: 0
    one = torch.randn(1, 4, dtype=torch.float64)
    assert uniformity(one, 2.0, torch.tensor([3])).item() == pytest.approx(0.0, abs=1e-12)
    assert uniformity(one, 2.0, torch.tensor([1])).item() == 0.0


def test_sequence_objectives_refuse_the_graph_encoder_with_a_reason():
    reason = check_compatible("lightgcn", ["next_item"])
    assert reason == "next_item needs a sequence encoder; lightgcn reads the user-item graph"
    assert "needs a graph encoder (e.g. lightgcn); transformer reads sequences" in check_compatible(
        "transformer", ["next_item", "graph_contrastive"]
    )
    assert check_compatible("lightgcn", ["bpr", "graph_contrastive"]) is None
    with pytest.raises(IncompatibleError, match="reads the user-item graph"):
        build_ssl_model("lightgcn", ["bpr", "contrastive"])


def test_cold_users_are_folded_in_from_their_history():
    """A user without training interactions is scored from the mean of its known items' vectors."""
    train = pd.DataFrame({"user": [0, 0, 1, 1], "item": [0, 1, 1, 2], "rating": 1.0, "timestamp": [0, 1, 2, 3]})
    split_train = Interactions(train, 3, 4)  # user 2 and item 3 have no training edge
    model = PRESETS.get("lightgcn")(epochs=2, batch_size=4, encoder={"embedding_size": 8})
    model.fit(split_train)
    context = pd.DataFrame({"user": [2, 2], "item": [0, 2], "rating": 1.0, "timestamp": [4, 5]})
    history = Interactions(pd.concat([train, context]), 3, 4)
    vec = model.user_vectors(Batch(torch.tensor([2, 0]), history))
    items = model.item_vectors()
    torch.testing.assert_close(vec[0], (items[0] + items[2]) / 2)
    assert not torch.allclose(vec[1], (items[0] + items[1]) / 2)  # a trained user keeps its own vector


# -- LightGCN-format datasets and the given split ---------------------------------------------------

TRAIN_TXT = "0 0 1 2 3\n1 1 2 4\n2 0 3 4 5 6\n"
TEST_TXT = "0 4\n1 5 6\n2 7\n"


def _write(root, name="gowalla", train=TRAIN_TXT, test=TEST_TXT):
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "train.txt").write_text(train)
    (root / name / "test.txt").write_text(test)


@pytest.mark.parametrize("name", ["gowalla", "yelp2018", "amazon-book"])
def test_lightgcn_format_loads_and_the_given_split_is_the_files(tmp_path, name):
    from ssl4rec.datasets import load_dataset
    from ssl4rec.evaluation.splits import make_split

    _write(tmp_path, name)
    ds = load_dataset(name, data_dir=tmp_path, download=False)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (3, 8, 16)  # 12 train + 4 test pairs
    split = make_split(ds, "given", seed=0, valid_ratio=0.25)
    raw_u = ds.users["raw_id"].astype(int).to_numpy() if ds.users is not None and "raw_id" in ds.users else np.arange(3)
    raw_i = ds.items["raw_id"].astype(int).to_numpy() if ds.items is not None and "raw_id" in ds.items else np.arange(8)

    def pairs(df):
        return {(int(raw_u[u]), int(raw_i[i])) for u, i in zip(df["user"], df["item"], strict=True)}

    assert pairs(split.test) == {(0, 4), (1, 5), (1, 6), (2, 7)}
    train_file = {(0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 4), (2, 0), (2, 3), (2, 4), (2, 5), (2, 6)}
    train = pairs(pd.DataFrame({"user": split.train.csr.tocoo().row, "item": split.train.csr.tocoo().col}))
    assert train | pairs(split.valid) == train_file and not train & pairs(split.valid)  # no leakage
    assert len(split.valid) == 3  # per user of 4, 3, 5 training pairs: 1, 1 (0.75 rounds up, RecBole rule), 1
    again = make_split(ds, "given", seed=0, valid_ratio=0.25)
    assert pairs(again.valid) == pairs(split.valid)
    assert len(make_split(ds, "given", seed=0, valid_ratio=0.0).valid) == 0


def test_lightgcn_format_errors_name_the_file_and_line(tmp_path):
    from ssl4rec.datasets import DataError, MissingDataError, load_dataset

    with pytest.raises(MissingDataError) as err:
        load_dataset("yelp2018", data_dir=tmp_path, download=False)
    assert "yelp2018/train.txt" in str(err.value) and "kuandeng/LightGCN" in str(err.value)
    _write(tmp_path, "gowalla", train="0 0 1\n1 x 2\n")
    with pytest.raises(DataError, match=r"gowalla/train.txt.*line 2"):
        load_dataset("gowalla", data_dir=tmp_path, download=False)


def test_the_given_split_needs_a_dataset_that_defines_it():
    from ssl4rec.datasets import load_dataset
    from ssl4rec.evaluation.splits import make_split

    ds = load_dataset("synthetic", n_users=20, n_items=15, n_interactions=200)
    with pytest.raises(ConfigError, match="defines no train/test partition"):
        make_split(ds, "given")


# -- sampled propagation ---------------------------------------------------------------------------


def _random_graph(seed=0, users=30, items=40, density=0.2):
    m = sp.random(users, items, density=density, format="csr", random_state=np.random.default_rng(seed))
    m.data[:] = 1.0
    return m


def test_sampled_neighbours_keep_small_rows_and_are_unbiased_for_big_ones():
    from ssl4rec.encoders.graph import sample_neighbours

    adj = normalized_adjacency(_random_graph()).to_dense().numpy()
    a = sp.csr_matrix(adj)
    deg = np.diff(a.indptr)
    small, big = int(np.argmin(deg + (deg == 0) * 99)), int(np.argmax(deg))
    fanout = int(deg[small])
    assert deg[big] > fanout >= 1
    nodes = np.array([small, big])
    gen = torch.Generator().manual_seed(0)
    rows, cols, w = sample_neighbours(a, nodes, fanout, gen)
    got = sp.csr_matrix((w, (rows, cols)), shape=a.shape).toarray()
    np.testing.assert_allclose(got[small], adj[small], rtol=1e-6)  # all its neighbours, as they are
    assert (got[big] != 0).sum() <= fanout and set(np.flatnonzero(got[big])) <= set(np.flatnonzero(adj[big]))
    n_draws = 3000
    mean = np.mean(
        [
            sp.csr_matrix((w_, (r, c)), shape=a.shape).toarray()[big]
            for r, c, w_ in (sample_neighbours(a, nodes, fanout, gen) for _ in range(n_draws))
        ],
        axis=0,
    )
    # unbiased: the mean row is the row, within 5 standard errors of a draw's count (binomial)
    d, p = deg[big], 1.0 / deg[big]
    se = adj[big] * (d / fanout) * np.sqrt(fanout * p * (1 - p) / n_draws)
    assert np.all(np.abs(mean - adj[big]) <= 5 * se + 1e-7)
    again = sample_neighbours(a, nodes, fanout, torch.Generator().manual_seed(0))
    assert all(np.array_equal(x, y) for x, y in zip((rows, cols, w), again, strict=True))  # seeded


def test_sampled_propagation_with_every_neighbour_is_the_full_one_at_the_step_nodes():
    torch.manual_seed(0)
    m = _random_graph()
    enc = LightGCNEncoder(40, n_users=30, embedding_size=8, num_layers=2, propagation="sampled", fanout=1000)
    enc.set_graph(m)
    full = enc.propagate()
    nodes = torch.tensor([0, 3, 30 + 5, 30 + 7])
    out = enc.propagate_sampled(nodes, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.users[[0, 3]], full.users[[0, 3]], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out.items[[5, 7]], full.items[[5, 7]], atol=1e-6, rtol=1e-5)
    assert out.layers[-1][1:3].abs().sum() == 0  # rows nobody reads are not computed at the top layer
    fewer = LightGCNEncoder(40, n_users=30, embedding_size=8, num_layers=2, propagation="sampled", fanout=2)
    fewer.set_graph(m)
    fewer.load_state_dict(enc.state_dict())
    draws = [fewer.propagate_sampled(nodes, torch.Generator().manual_seed(s)).users[0] for s in range(2000)]
    torch.testing.assert_close(torch.stack(draws).mean(0), full.users[0], atol=0.02, rtol=0.1)  # unbiased
    with pytest.raises(ConfigError, match="propagation"):
        LightGCNEncoder(40, n_users=30, propagation="sample")


def test_sampled_lightgcn_trains_and_whole_graph_views_are_not_applicable():
    split = tiny_split()
    model = PRESETS.get("lightgcn")(epochs=3, encoder={"propagation": "sampled", "fanout": 3}, batch_size=64)
    model.fit(split.train)
    assert all(np.isfinite(model.fit_info["losses"])) and model.fit_info["losses"][-1] < model.fit_info["losses"][0]
    assert model.score(Batch(torch.arange(3), split.train)).shape == (3, split.train.n_items)
    xsim = PRESETS.get("xsimgcl")(epochs=1, encoder={"propagation": "sampled"}, batch_size=64)
    xsim.fit(split.train)  # the cross-layer view reads the step's own propagation
    with pytest.raises(IncompatibleError, match="propagates the whole graph"):
        PRESETS.get("sgl")(epochs=1, encoder={"propagation": "sampled"}).fit(split.train)


def test_isolated_nodes_keep_their_ego_vector_when_asked():
    m = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32))  # item 2 has no training edge
    for isolated, factor in (("zero", 1 / 3), ("ego", 1.0)):
        torch.manual_seed(0)
        enc = LightGCNEncoder(3, n_users=2, embedding_size=4, num_layers=2, isolated=isolated)
        enc.set_graph(m)
        out = enc.propagate()
        ego = enc.ego().detach()
        torch.testing.assert_close(out.items[2], ego[2 + 2] * factor)  # layer mean over ego, 0 / ego, 0 / ego
        full = LightGCNEncoder(3, n_users=2, embedding_size=4, num_layers=2)
        full.set_graph(m)
        full.load_state_dict(enc.state_dict())
        torch.testing.assert_close(out.users, full.propagate().users)  # nodes with edges: unchanged
        sampled = LightGCNEncoder(
            3, n_users=2, embedding_size=4, num_layers=2, isolated=isolated, propagation="sampled"
        )
        sampled.set_graph(m)
        sampled.load_state_dict(enc.state_dict())
        got = sampled.propagate_sampled(torch.tensor([0, 2 + 2]), torch.Generator().manual_seed(0))
        torch.testing.assert_close(got.items[2], out.items[2])


def test_sparse_product_ignores_its_uninitialised_output():
    """_spmm writes into an uninitialised tensor with beta = 0: torch must ignore what is there (NaN included)."""
    from ssl4rec.encoders.graph import _spmm

    a = normalized_adjacency(EDGES)
    x = torch.randn(a.shape[0], 3, generator=torch.Generator().manual_seed(0))
    want = torch.sparse.mm(a, x)
    assert torch.equal(torch.full_like(want, float("nan")).addmm_(a, x, beta=0.0), want)
    assert torch.equal(_spmm(a, x), want)
    assert torch.allclose(want, a.to_dense() @ x)


def test_uniform16_is_uniform_seeded_and_simgcl_noise_has_magnitude_eps():
    from ssl4rec.encoders.graph import _noise, uniform16

    u = uniform16((1000, 64), torch.Generator().manual_seed(3))
    assert u.shape == (1000, 64) and u.dtype == torch.float32
    assert float(u.min()) > 0 and float(u.max()) < 65536 and torch.equal(u, u.floor() + 0.5)
    counts = torch.histc(u, bins=16, min=0, max=65536)  # 4000 expected per bin; sd about 61
    assert float((counts - 4000).abs().max()) < 400
    assert torch.equal(u, uniform16((1000, 64), torch.Generator().manual_seed(3)))
    assert not torch.equal(u, uniform16((1000, 64), torch.Generator().manual_seed(4)))
    assert uniform16((3, 5)).shape == (3, 5)  # an element count that is not a multiple of 4, global generator
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    x[0] = 0.0  # an isolated node's zero row gets no noise, as sign(0) = 0 in SimGCL
    noise = _noise(x, 0.2, torch.Generator().manual_seed(1))
    assert torch.allclose(noise[1:].norm(dim=1), torch.full((49,), 0.2)) and not noise[0].any()
    assert bool((torch.sign(noise[1:]) == torch.sign(x[1:])).all())  # pushed away from zero, as SimGCL does
