"""The sequential SSL methods' parts: DuoRec's supervised positives, ICLRec's intents, CoSeRec's
correlated augmentations, the model-level dropout view, and the length-chunked forward pass."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import ssl4rec.ssl  # noqa: F401  (registers augmentations and presets)
from ssl4rec.encoders import GRUEncoder, TransformerEncoder
from ssl4rec.interactions import Interactions
from ssl4rec.objectives.base import IncompatibleError, TrainBatch, TrainData
from ssl4rec.objectives.contrastive import Contrastive, draw_views
from ssl4rec.objectives.intent_contrastive import IntentContrastive, mean_pool, window_pool
from ssl4rec.objectives.losses import flat_similarity, info_nce
from ssl4rec.objectives.supervised_contrastive import PositivePool
from ssl4rec.registry import AUGMENTATIONS, PRESETS, ConfigError
from ssl4rec.ssl.composite import SSLNetwork, build_ssl_model
from ssl4rec.ssl.item_similarity import TopNeighbour, embedding_neighbours, itemcf_neighbours
from ssl4rec.ssl.kmeans import kmeans
from ssl4rec.testing import tiny_split


def log(seqs: list[list[int]], n_items: int) -> Interactions:
    """Interactions whose user u has the items ``seqs[u]`` in that order."""
    users = np.repeat(np.arange(len(seqs)), [len(s) for s in seqs])
    items = np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs])
    df = pd.DataFrame({"user": users, "item": items, "rating": 1.0, "timestamp": np.arange(len(items))})
    return Interactions(df, len(seqs), n_items)


# -- DuoRec: supervised positives ----------------------------------------------------------------


def test_supervised_positives_are_exactly_the_other_same_target_prefixes():
    # targets (items after a user's first): u0: 2 3 4; u1: 3 2; u2: 4 3; u3: 9
    train = log([[1, 2, 3, 4], [5, 3, 2], [6, 4, 3], [7, 9]], n_items=10)
    pool = PositivePool(train)
    by_target: dict[int, set[int]] = {}
    for pos in range(len(train.item_array)):
        u = int(np.searchsorted(train.indptr, pos, side="right") - 1)
        if pos > train.indptr[u]:
            by_target.setdefault(int(train.item_array[pos]), set()).add(pos)
    ends = np.array([2, 3, 4, 6, 7, 9, 10, 12])  # anchors whose last item sits at ends - 1
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):
        users, positions = pool.pick(ends, gen)
        for end, u, p in zip(ends, users, positions, strict=True):
            own = end - 1
            target = int(train.item_array[own])
            assert int(train.item_array[p]) == target  # same next item
            assert train.indptr[u] < p < train.indptr[u + 1]  # a prefix of the positive's user
            others = by_target[target] - {own}
            if others:
                assert p in others  # never the anchor's own prefix while another exists
            else:
                assert p == own  # alone: the sequence itself (DuoRec's fallback)
    # every other same-target prefix is drawn (uniformly: target 3 has three prefixes)
    seen = {int(pool.pick(np.array([3]), gen)[1][0]) for _ in range(60)}
    assert seen == by_target[3] - {2}
    seqs = pool.draw(np.array([3]), torch.Generator().manual_seed(1), 4)
    assert seqs.shape == (1, 4) and int(seqs[0, -1]) in (5 + 1, 4 + 1)  # the item before another target-3


def test_supervised_contrastive_masks_same_target_negatives():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.5], [0.5, 1.0], [0.0, 1.0]])
    keys = torch.tensor([7, 7, 8])  # rows 0 and 1 share their target
    z = torch.cat([z1, z2])
    sim = z @ z.T
    labels = torch.tensor([3, 4, 5, 0, 1, 2])
    for i in range(6):
        sim[i, i] = -math.inf
    for i, j in [(0, 1), (1, 0), (3, 4), (4, 3), (0, 4), (4, 0), (1, 3), (3, 1)]:
        sim[i, j] = -math.inf  # same target: not a negative (each keeps its own positive)
    torch.testing.assert_close(info_nce(z1, z2, keys=keys), F.cross_entropy(sim, labels))
    assert not torch.isclose(info_nce(z1, z2, keys=keys), info_nce(z1, z2))


# -- ICLRec: k-means intents -------------------------------------------------------------------------


def test_kmeans_prototypes_are_the_means_of_their_members():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.5 * torch.randn(20, 2, generator=g) for c in centres])
    c, assign, inertia = kmeans(x, 3, torch.Generator().manual_seed(1))
    for k in range(3):
        members = x[assign == k]
        assert len(members) == 20
        torch.testing.assert_close(c[k], members.mean(0))
    assert len(set((assign.view(3, 20)[:, 0]).tolist())) == 3  # one cluster per planted group
    again = kmeans(x, 3, torch.Generator().manual_seed(1))
    torch.testing.assert_close(again[0], c)
    assert inertia == pytest.approx(float(((x - c[assign]) ** 2).sum()), rel=1e-4)


def test_intent_prototypes_are_normalised_member_means():
    split = tiny_split()
    model = build_ssl_model(
        {"name": "transformer", "embedding_size": 8, "num_layers": 1, "num_heads": 2},
        ["next_item", {"name": "intent_contrastive", "num_intents": 4}],
        epochs=1,
        max_len=10,
        batch_size=16,
    )
    model.fit(split.train)
    obj = model.net.objective("intent_contrastive")
    users = torch.from_numpy(split.train.active_users.astype(np.int64))
    window = split.train.sequences(users, 11)
    data = TrainData(split.train, users, torch.zeros_like(users), window, torch.Generator().manual_seed(0), 10)
    obj.epoch_start(model.net, 1, data)
    reps = obj.represent_all(model.net, data)
    for k in range(4):
        members = reps[obj.assign == k]
        if len(members):
            torch.testing.assert_close(obj.prototypes[k], F.normalize(members.mean(0), dim=0), atol=1e-4, rtol=1e-4)
    assert obj.cluster_seconds and obj.loss(model.net, _batch(window, users)).isfinite()


def _batch(window, users):
    from ssl4rec.objectives.base import TrainBatch

    return TrainBatch(users, torch.Generator().manual_seed(0), torch.device("cpu"), window=window)


def test_mean_pool_ignores_padding():
    seq = torch.tensor([[0, 0, 3, 4], [0, 5, 0, 6]])
    h = torch.arange(16, dtype=torch.float32).view(2, 4, 2)
    out = mean_pool([seq], [h])
    torch.testing.assert_close(out[0], (h[0, 2] + h[0, 3]) / 2)
    torch.testing.assert_close(out[1], (h[1, 1] + h[1, 3]) / 2)


def test_window_pool_adds_the_padding_outputs_left_of_each_row():
    seq = torch.tensor([[0, 0, 3, 4], [0, 5, 0, 6], [7, 8, 9, 1]])
    h = torch.arange(24, dtype=torch.float32).view(3, 4, 2)
    pad = torch.tensor([[100.0, 0.0], [0.0, 1000.0], [5.0, 5.0], [9.0, 9.0]])
    out = window_pool([seq], [h], pad)
    torch.testing.assert_close(out[0], (h[0, 2] + h[0, 3] + pad[0] + pad[1]) / 4)
    torch.testing.assert_close(out[1], (h[1, 1] + h[1, 3] + pad[0]) / 4)  # the padding id inside counts as zero
    torch.testing.assert_close(out[2], h[2].sum(0) / 4)


def test_padding_outputs_are_what_a_left_padded_row_outputs_at_its_padding():
    torch.manual_seed(0)
    enc = TransformerEncoder(20, max_len=6, embedding_size=8, num_layers=2, num_heads=2).eval()
    row = torch.tensor([[0, 0, 0, 4, 9, 2]])
    every = enc._run(row, None, keep=torch.ones(row.shape, dtype=torch.bool))[0]  # the padding computed too
    pad = enc.padding_outputs()
    assert pad.shape == (6, 8)
    torch.testing.assert_close(every[:3], pad[:3])
    assert not torch.allclose(pad[0], pad[1])  # position-dependent, not zero
    with pytest.raises(NotImplementedError):
        TransformerEncoder(20, max_len=6, embedding_size=8, num_heads=2, causal=False).padding_outputs()
    with pytest.raises(NotImplementedError):
        GRUEncoder(20, max_len=6, embedding_size=8, hidden_size=8).padding_outputs()


def _additive_mask_reference(enc: TransformerEncoder, seq: torch.Tensor) -> torch.Tensor:
    """Every position of ``seq`` [B, max_len] as the SASRec-family code runs it: all positions computed,
    -10000 added to the score of every padding key and every later key, no other masking."""
    b, w = seq.shape
    x = enc.norm(enc.item_embedding(seq) + enc.position.weight[None])
    keep = (seq != 0)[:, None, :].float() * torch.ones(w, w).tril()[None]
    add = ((1.0 - keep) * -10000.0)[:, None]
    for blk in enc.blocks:
        q, k, v = blk.qkv(x).view(b, w, 3, blk.heads, -1).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + add
        a = blk.out((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, w, -1))
        x = blk.norm1(x + a)
        x = blk.norm2(x + blk.ff2(F.gelu(blk.ff1(x))))
    return x


def test_window_outputs_are_the_additive_mask_codes_outputs_and_carry_the_row():
    torch.manual_seed(0)
    enc = TransformerEncoder(20, max_len=6, embedding_size=8, num_layers=2, num_heads=2).eval()
    rows = torch.tensor([[0, 0, 0, 4, 9, 2], [0, 0, 0, 4, 9, 3], [0, 5, 0, 6, 7, 8]])  # a padding id inside row 2
    with torch.no_grad():
        out = enc.window_outputs(rows)
        torch.testing.assert_close(out, _additive_mask_reference(enc, rows), atol=1e-5, rtol=1e-5)
        real = rows != 0
        torch.testing.assert_close(out[real], enc(rows)[real])  # real positions: as forward()
        # left of the items a position attends to the whole row (its later items too): rows 0 and 1 differ
        # only in their last item, and so do their padding outputs; none is the position-only output
        assert not torch.allclose(out[0, :3], out[1, :3])
        assert not torch.allclose(out[0, :3], enc.padding_outputs()[:3])
        torch.testing.assert_close(enc.window_outputs(rows[:2, 3:]), out[:2])  # trimmed padding: the same window
    with pytest.raises(NotImplementedError):
        GRUEncoder(20, max_len=6, embedding_size=8, hidden_size=8).window_outputs(rows)


def test_attending_padding_outputs_enter_the_flattened_views_and_the_window_mean():
    model, data = _steps(
        {"share_views": True, "pool": "window", "assign": "batch", "padding_outputs": "attending"},
        contrastive={"view_repr": "flatten", "padding_outputs": "attending"},
        dropout=0.0,
    )
    net = model.net.train()
    contrast, intent = net.objective("contrastive"), net.objective("intent_contrastive")
    intent.epoch_start(net, 1, data)
    batch = TrainBatch(data.users, torch.Generator().manual_seed(1), torch.device("cpu"), window=data.window)
    for obj in (net.objective("next_item"), contrast, intent):
        obj.plan(net, batch)
    both = contrast.views(net, batch)  # the step's views (shared with the intent term)
    z = net.encoder.window_outputs(both).flatten(1)
    n = both.shape[0] // 2
    torch.testing.assert_close(contrast.loss(net, batch), info_nce(z[:n], z[n:]))
    pooled = net.encoder.window_outputs(both).mean(1)
    proto = intent.prototypes[intent.intents(net, batch)]
    want = 0.5 * (info_nce(pooled[:n], proto) + info_nce(pooled[n:], proto))
    torch.testing.assert_close(intent.loss(net, batch), want)
    reps = intent.represent_all(net, data)
    torch.testing.assert_close(reps, net.encoder.window_outputs(batch.pairs[0]).mean(1), atol=1e-5, rtol=1e-5)
    loss = contrast.loss(net, batch)
    loss.backward()
    assert float(net.encoder.position.weight.grad[0].abs().sum()) > 0  # the leftmost padding position learns


def test_attending_padding_outputs_are_refused_where_they_do_not_apply():
    with pytest.raises(ConfigError, match="view_repr: flatten"):
        Contrastive(padding_outputs="attending")
    with pytest.raises(ConfigError, match="pool: window"):
        IntentContrastive(padding_outputs="attending")
    with pytest.raises(ConfigError, match="padding_outputs"):
        Contrastive(view_repr="flatten", padding_outputs="window")
    with pytest.raises(IncompatibleError, match="every window position"):
        _steps(
            {"pool": "window", "padding_outputs": "attending"},
            encoder={"name": "gru", "embedding_size": 8, "hidden_size": 8},
        )


def _steps(spec_intent, encoder=None, contrastive=None, **encoder_options):
    split = tiny_split()
    model = build_ssl_model(
        encoder or {"name": "transformer", "embedding_size": 8, "num_layers": 1, "num_heads": 2, **encoder_options},
        [
            "next_item",
            {"name": "contrastive", "mask_value": "padding", **(contrastive or {})},
            {"name": "intent_contrastive", "num_intents": 3, "mask_value": "padding", **spec_intent},
        ],
        epochs=1,
        max_len=10,
        batch_size=16,
    )
    model.fit(split.train)
    users = torch.from_numpy(split.train.active_users.astype(np.int64))
    window = split.train.sequences(users, 11)
    return model, TrainData(split.train, users, torch.zeros_like(users), window, torch.Generator().manual_seed(0), 10)


def test_batch_assignment_is_the_nearest_centroid_of_the_current_representation():
    model, data = _steps({"assign": "batch", "pool": "window"})
    obj = model.net.objective("intent_contrastive")
    obj.epoch_start(model.net, 1, data)
    model.net.eval()  # no dropout: the step's representation is the clustering pass's
    batch = TrainBatch(data.users, torch.Generator().manual_seed(1), torch.device("cpu"), window=data.window)
    intents = obj.intents(model.net, batch)
    reps = obj.represent_all(model.net, data)
    torch.testing.assert_close(
        reps, window_pool([batch.pairs[0]], [model.net.encode(batch.pairs[0])], model.net.encoder.padding_outputs())
    )
    assert torch.equal(intents, ((reps[:, None] - obj.centroids[None]) ** 2).sum(-1).argmin(1))
    assert torch.equal(intents, obj.assign)  # the clustering's own assignment, from the same model


def test_shared_views_are_the_contrastive_objectives_views():
    model, data = _steps({"share_views": True})
    net = model.net
    contrast, intent = net.objective("contrastive"), net.objective("intent_contrastive")
    batch = TrainBatch(data.users, torch.Generator().manual_seed(1), torch.device("cpu"), window=data.window)
    first = draw_views(batch, contrast, net)
    assert draw_views(batch, intent, net, reuse=True) is first
    assert not torch.equal(draw_views(batch, intent, net), first)  # without reuse: new draws
    other = Contrastive(mask_value="token")  # other settings: never the same views
    other.augmentations = contrast.augmentations
    assert draw_views(batch, other, net, reuse=True) is not first
    assert isinstance(intent, IntentContrastive)


def test_window_pool_needs_an_encoder_with_padding_outputs():
    with pytest.raises(IncompatibleError, match="padding outputs"):
        _steps({"pool": "window"}, encoder={"name": "gru", "embedding_size": 8, "hidden_size": 8})


# -- CoSeRec: item correlations, substitute, insert ------------------------------------------------------


def test_itemcf_iuf_by_hand():
    # users: {0,1}, {0,1,2}, {2,3}; IUF weight 1/ln(1+|I_u|)
    train = log([[0, 1], [0, 1, 2], [2, 3]], n_items=5)
    item, score = itemcf_neighbours(train)
    w2, w3 = 1 / math.log(3), 1 / math.log(4)
    n = {0: 2, 1: 2, 2: 2, 3: 1}
    sim01 = (w2 + w3) / math.sqrt(n[0] * n[1])
    sim02 = w3 / math.sqrt(n[0] * n[2])
    sim23 = w2 / math.sqrt(n[2] * n[3])
    assert sim01 > sim02 and sim23 > sim02
    assert item[1] == 2 and item[2] == 1  # items 0 <-> 1 (shifted +1)
    assert item[3] == 4  # item 2's best is 3 (sim23 > sim02, w2 > w3)
    assert item[4] == 3  # item 3's only co-item is 2
    assert item[5] == 5 and score[5] == 0.0  # item 4 never co-occurs: itself
    sims = [sim01, sim02, sim23, w3 / math.sqrt(n[1] * n[2])]
    lo, hi = min(sims), max(sims)
    assert score[1] == pytest.approx((sim01 - lo) / (hi - lo))


def test_embedding_neighbours_exclude_self():
    v = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    item, score = embedding_neighbours(v, block=2)
    assert item.tolist() == [0, 2, 1, 2]
    assert 0.0 <= score.min() and score.max() <= 1.0


@pytest.fixture
def correlated():
    train = log([[0, 1], [0, 1, 2], [2, 3]], n_items=5)
    data = TrainData(train, torch.arange(3), torch.zeros(3, dtype=torch.long), None, torch.Generator(), 8)
    out = {}
    for name in ("substitute", "insert"):
        aug = AUGMENTATIONS.build(name, ratio=0.5)
        aug.prepare(None, data)
        out[name] = aug
    return out


def test_substitute_replaces_chosen_items_by_their_neighbour(correlated):
    seq = torch.tensor([[0, 0, 1, 2, 3, 4], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 3, 5]])
    out = correlated["substitute"](seq, torch.Generator().manual_seed(0))
    nb = correlated["substitute"].neighbours.lookup(seq)
    changed = out != seq
    assert ((out == seq) | (out == nb)).all()
    assert int((changed | ((out == nb) & (seq != 0))).sum(1)[0]) >= 2  # int(0.5 * 4) positions chosen
    assert (out[1] == 0).all()


def test_insert_puts_the_neighbour_before_chosen_items():
    aug = AUGMENTATIONS.build("insert", ratio=0.5)
    table = np.arange(20)
    table[1:6] += 10  # item k's neighbour is k + 10: inserted items are told apart
    aug.neighbours = TopNeighbour(table, np.ones(20))
    assert aug.grows
    seq = torch.tensor([[0, 0, 0, 0, 1, 2, 3, 4], [0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 3, 5]])
    out = aug(seq, torch.Generator().manual_seed(0))
    for r in range(3):
        orig = [int(x) for x in seq[r] if x]
        got = [int(x) for x in out[r] if x]
        assert (out[r] != 0).int().diff().ge(0).all()  # still left-padded
        assert len(got) == len(orig) + (max(1, int(0.5 * len(orig))) if orig else 0)
        assert [x for x in got if x < 10] == orig  # the original items, in order
        for i, x in enumerate(got):
            if x >= 10:
                assert got[i + 1] == x - 10  # an inserted item stands just before its source


def test_insert_keeps_the_most_recent_items_when_full(correlated):
    seq = torch.tensor([[1, 2, 3, 4]])
    out = correlated["insert"](seq, torch.Generator().manual_seed(3))
    assert out.shape == (1, 4) and int(out[0, -1]) in (4, int(correlated["insert"].neighbours.item[4]))
    assert (out != 0).all()


def test_correlated_augmentations_refuse_bad_options_and_need_data():
    with pytest.raises(ConfigError, match="similarity"):
        AUGMENTATIONS.build("substitute", similarity="cosine")
    with pytest.raises(RuntimeError, match="prepare"):
        AUGMENTATIONS.build("insert")(torch.tensor([[1, 2]]), torch.Generator())
    t = TopNeighbour(np.array([0, 2, 1]), np.array([0.0, 1.0, 1.0]))
    assert t.lookup(torch.tensor([0, 1, 2, 3])).tolist() == [0, 2, 1, 3]  # padding and the mask token stay


def test_dropout_view_is_the_sequence_itself():
    seq = torch.tensor([[0, 1, 2], [3, 4, 5]])
    out = AUGMENTATIONS.build("dropout")(seq, torch.Generator())
    assert torch.equal(out, seq) and out.data_ptr() != seq.data_ptr()


# -- length-chunked forward passes ---------------------------------------------------------------------


@pytest.mark.parametrize("encoder", [TransformerEncoder, GRUEncoder])
def test_chunked_forward_equals_the_whole_batch(encoder, monkeypatch):
    from ssl4rec.ssl import composite as ssl_model

    monkeypatch.setattr(ssl_model, "CHUNK_OVERHEAD", 0)  # chunk even this small batch
    torch.manual_seed(0)
    enc = encoder(n_items=30, max_len=12, dropout=0.0)
    whole = SSLNetwork(enc, {}, 30, 12, length_chunks=1).train()
    chunked = SSLNetwork(enc, {}, 30, 12, length_chunks=3).train()
    g = torch.Generator().manual_seed(1)
    lens = torch.randint(0, 13, (20,), generator=g)
    lens[0] = 12
    seq = torch.randint(1, 31, (20, 12), generator=g)
    seq = torch.where(torch.arange(12)[None] >= 12 - lens[:, None], seq, 0)
    seq[0, 3] = 0  # a padding id inside a row (mask augmentation with value padding)
    where = (seq != 0) & (torch.rand(20, 12, generator=g) < 0.5)
    assert chunked._length_chunks(seq) is not None
    for fn, args in (("encode", (seq,)), ("represent", (seq,)), ("encode_at", (seq, where))):
        torch.testing.assert_close(getattr(chunked, fn)(*args), getattr(whole, fn)(*args), atol=1e-5, rtol=1e-5)
    grads = []
    for net in (whole, chunked):
        enc.zero_grad()
        net.encode(seq).pow(2).sum().backward()
        grads.append([p.grad.clone() for p in enc.parameters() if p.grad is not None])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    rows, parts = chunked.encode_chunks(seq)
    assert sorted(rows.tolist()) == list(range(20)) and 2 <= len(parts) <= 3
    assert whole._length_chunks(seq) is None and chunked.eval()._length_chunks(seq) is None


def test_chunk_plan_cuts_sorted_spans_at_least_cost():
    from ssl4rec.ssl.composite import CHUNK_OVERHEAD, chunk_plan

    rng = np.random.default_rng(0)
    spans = np.sort(np.minimum(rng.geometric(0.15, 256), 50))

    def cost(sizes, widths):
        return sum(n * w * (w + 64.0) + CHUNK_OVERHEAD for n, w in zip(sizes, widths, strict=True))

    sizes, widths = chunk_plan(spans, 4)
    assert sum(sizes) == 256 and 1 < len(sizes) <= 4
    bounds = np.cumsum([0, *sizes])
    assert widths == [int(spans[e - 1]) for e in bounds[1:]]  # each chunk padded to its longest row
    equal = np.array_split(spans, 4)
    assert cost(sizes, widths) <= cost([len(c) for c in equal], [int(c.max()) for c in equal])
    assert cost(sizes, widths) < cost([256], [int(spans.max())])
    assert chunk_plan(np.full(64, 9), 4) == ([64], [9])  # equal lengths: one chunk


def test_flat_similarity_equals_the_dense_product():
    g = torch.Generator().manual_seed(0)
    chunks = [torch.randn(5, w, 3, generator=g, requires_grad=True) for w in (2, 4, 4, 7)]

    def dense(parts):
        z = torch.cat([F.pad(c, (0, 0, 7 - c.shape[1], 0)) for c in parts]).reshape(20, -1)
        return z @ z.T

    weights = torch.randn(20, 20, generator=g)
    (dense(chunks) * weights).sum().backward()
    expected = [c.grad.clone() for c in chunks]
    for c in chunks:
        c.grad = None
    gram = flat_similarity(chunks)
    torch.testing.assert_close(gram, dense(chunks))
    (gram * weights).sum().backward()
    for c, e in zip(chunks, expected, strict=True):
        torch.testing.assert_close(c.grad, e)


# -- presets -------------------------------------------------------------------------------------------


def test_cl4srec_default_is_the_authors_recipe():
    spec = PRESETS.entry("cl4srec").meta["spec"]
    contrastive = next(o for o in spec["objectives"] if o["name"] == "contrastive")
    assert spec["bucket_by_length"] is False
    assert contrastive["view_repr"] == "flatten" and contrastive["mask_value"] == "padding"
    assert PRESETS.entry("cl4srec").version == "2"
    model = PRESETS.get("cl4srec")()
    assert model.config.bucket_by_length is False and model.config.length_chunks > 1


def test_iclrec_default_is_the_authors_recipe():
    spec = PRESETS.entry("iclrec").meta["spec"]
    intent = next(o for o in spec["objectives"] if o["name"] == "intent_contrastive")
    assert (intent["pool"], intent["assign"], intent["share_views"]) == ("window", "batch", True)
    assert PRESETS.entry("iclrec").version == "2"


@pytest.mark.parametrize("name", ["coserec", "duorec", "iclrec"])
def test_new_presets_train_and_score(name):
    split = tiny_split()
    model = PRESETS.get(name)(
        encoder={"embedding_size": 8, "num_layers": 1, "num_heads": 2}, epochs=2, max_len=10, batch_size=16
    )
    model.fit(split.train)
    assert all(np.isfinite(model.fit_info["losses"]))
    assert len(model.fit_info["objectives"]) >= 2


def test_a_method_that_needs_attributes_is_not_applicable_on_data_without_them(tmp_path):
    from ssl4rec.running.plan import parse_suite
    from ssl4rec.running.runner import Runner

    suite = parse_suite(
        {
            "name": "na",
            "datasets": [{"name": "synthetic", "params": {"n_users": 60, "n_items": 40, "n_interactions": 900}}],
            "splits": ["leave_one_out"],
            "models": [
                {
                    "name": "s3rec",
                    "params": {
                        "epochs": 1,
                        "pretrain_epochs": 1,
                        "max_len": 10,
                        "encoder": {"embedding_size": 8, "num_layers": 1, "num_heads": 2},
                    },
                }
            ],
            "seeds": [0],
            "evaluation": {"ks": [10], "metrics": ["ndcg"]},
        }
    )
    (outcome,) = Runner(suite, out=tmp_path / "res").run()
    assert outcome.status == "n/a"
    record = json.loads(next((tmp_path / "res").rglob("seed0-*.json")).read_text())
    assert record["status"] == "n/a" and "needs item attributes" in record["reason"]


def test_prefix_rows_are_every_prefix_once():
    train = log([[1, 2, 3, 4], [5], [6, 7]], n_items=10)
    users, windows, ends = train.prefixes(np.arange(3), 3)
    assert users.tolist() == [0, 0, 0, 1, 2]
    assert ends.tolist() == [2, 3, 4, 5, 7]
    assert windows.tolist() == [[0, 2, 3], [2, 3, 4], [3, 4, 5], [0, 0, 6], [0, 7, 8]]  # +1 shifted, target last


def test_last_position_loss_predicts_each_prefix_target_once():
    split = tiny_split()
    enc = {"name": "transformer", "embedding_size": 8, "num_layers": 1, "num_heads": 2}
    model = build_ssl_model(
        enc,
        [{"name": "next_item", "positions": "last"}, "supervised_contrastive"],
        train_windows="prefixes",
        epochs=2,
        max_len=10,
        batch_size=32,
    )
    model.fit(split.train)
    n_prefixes = int(np.maximum(1, np.diff(split.train.indptr)[split.train.active_users] - 1).sum())
    assert model.fit_info["examples_per_epoch"] == n_prefixes
    assert all(np.isfinite(model.fit_info["losses"]))
    with pytest.raises(ConfigError, match="positions"):
        build_ssl_model(enc, [{"name": "next_item", "positions": "first"}])


def test_requested_representations_are_computed_in_one_pass_with_their_own_values():
    torch.manual_seed(0)
    enc = TransformerEncoder(n_items=30, max_len=8, dropout=0.0)
    net = SSLNetwork(enc, {}, 30, 8).train()
    calls = []
    original = net.represent
    net.represent = lambda seq: calls.append(seq.shape) or original(seq)  # type: ignore[method-assign]
    batch = TrainBatch(torch.arange(3), torch.Generator(), torch.device("cpu"))
    a = torch.tensor([[0, 0, 3, 4], [0, 5, 6, 7], [1, 2, 3, 4]])
    b = torch.tensor([[9, 8], [0, 7]])
    batch.request("a", a)
    batch.request("b", b)
    with pytest.raises(ValueError, match="twice"):
        batch.request("a", a)
    out_b = batch.hidden(net, "b", b)  # the first read computes both requests, one pass of 5 rows
    out_a = batch.hidden(net, "a", a)
    assert calls == [(5, 4)]
    torch.testing.assert_close(out_a, original(a))
    torch.testing.assert_close(out_b, original(b))
    calls.clear()
    batch.hidden(net, "c", b)  # not requested: computed alone
    assert calls == [(2, 2)]


def _count_passes(monkeypatch) -> list[int]:
    """The row count of every encoder pass (``SSLNetwork.represent`` call) from now on."""
    from ssl4rec.ssl import composite as ssl_model

    passes: list[int] = []
    original = ssl_model.SSLNetwork.represent
    monkeypatch.setattr(
        ssl_model.SSLNetwork, "represent", lambda self, seq: passes.append(len(seq)) or original(self, seq)
    )
    return passes


def _duorec(objectives):
    """A small DuoRec-shaped model (every prefix a sample, batches of 16) with these objectives."""
    encoder = {"name": "transformer", "embedding_size": 8, "num_layers": 1, "num_heads": 2}
    return build_ssl_model(encoder, objectives, train_windows="prefixes", epochs=1, max_len=10, batch_size=16)


def test_duorec_step_runs_its_three_passes_as_one(monkeypatch):
    """next_item (positions last) and supervised_contrastive request their rows; one encoder pass per step."""
    passes = _count_passes(monkeypatch)
    model = _duorec([{"name": "next_item", "positions": "last"}, "supervised_contrastive"])
    model.fit(tiny_split().train)
    steps = math.ceil(model.fit_info["examples_per_epoch"] / 16)
    assert len(passes) == steps  # training only (no validation given)
    assert all(n % 3 == 0 for n in passes)  # main rows, their dropout views, their same-target positives


def test_duorec_main_pass_anchor_is_the_main_objectives_output_in_two_passes(monkeypatch):
    """anchor 'main_pass': the contrast's anchor is next_item's own forward output (the same tensor), so a step
    encodes the main rows and their positives only; without next_item (positions last) before it, refused."""
    from ssl4rec.objectives.supervised_contrastive import SupervisedContrastive

    passes, anchors = _count_passes(monkeypatch), []
    loss = SupervisedContrastive.loss

    def spy(self, net, batch):
        anchors.append(batch.memo["next_item_last_hidden"])
        return loss(self, net, batch)

    monkeypatch.setattr(SupervisedContrastive, "loss", spy)
    split = tiny_split()
    model = _duorec(
        [{"name": "next_item", "positions": "last"}, {"name": "supervised_contrastive", "anchor": "main_pass"}]
    )
    model.fit(split.train)
    steps = math.ceil(model.fit_info["examples_per_epoch"] / 16)
    assert len(passes) == len(anchors) == steps
    assert all(n == 2 * len(a) for n, a in zip(passes, anchors, strict=True))  # main rows + their positives
    assert all(a.requires_grad for a in anchors) and math.isfinite(model.fit_info["losses"][-1])
    for objectives in (
        [{"name": "next_item", "positions": "all"}, {"name": "supervised_contrastive", "anchor": "main_pass"}],
        [{"name": "supervised_contrastive", "anchor": "main_pass"}, {"name": "next_item", "positions": "last"}],
    ):
        with pytest.raises(IncompatibleError, match="anchor 'main_pass' .* next_item with positions 'last'"):
            _duorec(objectives).fit(split.train)


def _ragged(n_rows=20, width=12, seed=1):
    """Left-padded rows of random lengths, one full, one empty, one with a padding id inside."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(0, width + 1, (n_rows,), generator=g)
    lens[0], lens[1] = width, 0
    seq = torch.randint(1, 31, (n_rows, width), generator=g)
    seq = torch.where(torch.arange(width)[None] >= width - lens[:, None], seq, 0)
    seq[0, 3] = 0  # the mask augmentation with value padding
    return seq


@pytest.mark.parametrize("encoder", [TransformerEncoder, GRUEncoder])
def test_packed_chunks_are_the_chunked_forward(encoder, monkeypatch):
    from ssl4rec.objectives.base import in_span
    from ssl4rec.ssl import composite as ssl_model

    monkeypatch.setattr(ssl_model, "CHUNK_OVERHEAD", 0)
    torch.manual_seed(0)
    net = SSLNetwork(encoder(n_items=30, max_len=12, dropout=0.0), {}, 30, 12, length_chunks=3).train()
    seq = _ragged()
    where = in_span(seq)
    assert where[1].tolist() == [False] * 11 + [True]  # an empty row keeps its last position
    rows, grids = net.packed_chunks(seq, net.encode_at(seq, where))
    want_rows, want = net.encode_chunks(seq)
    assert torch.equal(rows, want_rows) and len(grids) == len(want) >= 2
    for a, b in zip(grids, want, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("pool", ["window", "mean"])
def test_pooling_packed_outputs_equals_pooling_the_grid(pool):
    from ssl4rec.objectives.base import in_span
    from ssl4rec.objectives.intent_contrastive import _pooled, pool_packed

    torch.manual_seed(0)
    net = SSLNetwork(TransformerEncoder(n_items=30, max_len=12, dropout=0.0), {}, 30, 12).train()
    seq = _ragged()
    want = _pooled(net, seq, pool)
    for where in (in_span(seq), seq != 0):  # a fused pass's views; the main objective's real positions
        torch.testing.assert_close(pool_packed(net, seq, where, net.encode_at(seq, where), pool), want)


def test_iclrec_step_is_one_encoder_pass_with_the_same_losses(monkeypatch):
    """next_item, contrastive (flattened views) and intent_contrastive (shared views) share one pass; the
    losses equal those computed objective by objective (no dropout; the same draws)."""
    from ssl4rec.ssl import composite as ssl_model

    model, data = _steps({"share_views": True, "pool": "window", "assign": "batch"}, dropout=0.0)
    net = model.net.train()
    intent = net.objective("intent_contrastive")
    intent.epoch_start(net, 1, data)
    objs = [net.objective(n) for n in ("next_item", "contrastive", "intent_contrastive")]
    calls = []
    for fn in ("encode_at", "represent", "encode_chunks"):
        original = getattr(ssl_model.SSLNetwork, fn)
        monkeypatch.setattr(
            ssl_model.SSLNetwork, fn, lambda self, *a, _f=original, _n=fn: calls.append(_n) or _f(self, *a)
        )
    losses = []
    for planned in (True, False):
        batch = TrainBatch(data.users, torch.Generator().manual_seed(1), torch.device("cpu"), window=data.window)
        calls.clear()
        if planned:
            for obj in objs:
                obj.plan(net, batch)
        losses.append([float(obj.loss(net, batch).detach()) for obj in objs])
        if planned:
            assert calls == ["encode_at"]  # main rows + views + views again, one pass
        else:
            assert len(calls) >= 3
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
