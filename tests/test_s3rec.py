"""S3-Rec's pretraining objectives (s3rec_aap / s3rec_mip / s3rec_map / s3rec_sp): helpers, fitting, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl4rec.interactions import Batch, Interactions
from ssl4rec.objectives.base import IncompatibleError, TrainBatch, TrainData
from ssl4rec.objectives.s3rec import bidirectional, item_attribute_matrix, mask_items, segment_views
from ssl4rec.registry import OBJECTIVES, ConfigError
from ssl4rec.ssl import build_ssl_model
from ssl4rec.testing import tiny_split

S3REC = ["s3rec_aap", "s3rec_mip", "s3rec_map", "s3rec_sp"]
ENCODER = {"name": "transformer", "causal": True, "embedding_size": 16, "num_layers": 1, "num_heads": 2}
TRAIN = {"max_len": 10, "batch_size": 16, "seed": 3, "device": "cpu"}


def with_attributes(split):
    """``split.train`` with an ``attributes`` column in its items table (group id + one of 4 ids)."""
    train = split.train
    half = train.n_items // 2
    items = train.items.copy()
    items["attributes"] = [[1 if i < half else 2, 3 + i % 4] for i in range(train.n_items)]
    return Interactions(train.df, train.n_users, train.n_items, items=items, users=train.users)


@pytest.fixture(scope="module")
def split():
    return tiny_split()


@pytest.fixture(scope="module")
def train_attr(split):
    return with_attributes(split)


def rand_batch(b: int, seed: int = 0) -> TrainBatch:
    """A batch used only for its random source."""
    return TrainBatch(torch.arange(b), torch.Generator().manual_seed(seed), torch.device("cpu"))


def left_padded(lengths: list[int], width: int, start: int = 1) -> torch.Tensor:
    """Rows of distinct ids (from ``start``) with the given lengths, left-padded to ``width``."""
    out = torch.zeros(len(lengths), width, dtype=torch.long)
    nxt = start
    for r, n in enumerate(lengths):
        if n:
            out[r, width - n :] = torch.arange(nxt, nxt + n)
        nxt += n
    return out


def built(train: Interactions, objectives: list, encoder: dict | None = None, **train_params):
    """(model, net, data): a network built and prepared as ``fit`` does, without training."""
    model = build_ssl_model(encoder or ENCODER, objectives, **{**TRAIN, **train_params})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = model._build(train.n_items)
    users = torch.from_numpy(train.active_users.astype(np.int64))
    ends = torch.from_numpy(train.indptr[users.numpy() + 1].astype(np.int64))
    window = train.sequences(users, model.config.max_len + 1)
    data = TrainData(train, users, ends, window, torch.Generator().manual_seed(0), model.config.max_len)
    for obj in objectives:
        net.objective(obj if isinstance(obj, str) else obj["name"]).prepare(net, data)
    return model, net, data


def full_batch(net, data: TrainData, seed: int = 0) -> TrainBatch:
    gen = torch.Generator().manual_seed(seed)
    return TrainBatch(data.users, gen, net.device, window=data.window, rows=torch.arange(len(data.users)))


def test_registered():
    for name in S3REC:
        entry = OBJECTIVES.entry(name)
        assert entry.obj.main is False and tuple(entry.requires) == ("sequence",)
        assert "S3-Rec" in entry.paper and set(entry.tags) == {"ssl", "sequence", "attributes"}
        assert entry.search_space and "objective_weight" in entry.search_space
    weights = {n: OBJECTIVES.entry(n).defaults()["objective_weight"] for n in S3REC}
    assert weights == {"s3rec_aap": 0.2, "s3rec_mip": 1.0, "s3rec_map": 1.0, "s3rec_sp": 0.5}
    assert [n for n in S3REC if OBJECTIVES.entry(n).obj.needs_attributes] == ["s3rec_aap", "s3rec_map"]
    with pytest.raises(ConfigError, match="mask_prob"):
        build_ssl_model("transformer", ["next_item", {"name": "s3rec_mip", "mask_prob": 1.5}])


def test_mask_items_masks_last_and_about_mask_prob():
    lengths = [50, 1, 0, 7, 30, 2] * 40
    seq = left_padded(lengths, 50)
    inputs, masked = mask_items(seq, 0.2, 999, rand_batch(len(lengths)))
    real = seq != 0
    assert not (masked & ~real).any()  # padding is never masked
    assert torch.equal(masked[:, -1], real[:, -1])  # the last item always is
    assert torch.equal(inputs, torch.where(masked, 999, seq))
    others = real.clone()
    others[:, -1] = False
    rate = masked[others].float().mean().item()
    assert abs(rate - 0.2) < 0.02, rate
    assert torch.equal(mask_items(seq, 0.0, 999, rand_batch(len(lengths)))[1], real & (torch.arange(50) == 49))


def test_segment_views_construction():
    lengths = [8, 1, 0, 2, 5, 3, 10]
    width, mask = 10, 500
    pool = torch.arange(1000, 1100)
    seq = left_padded(lengths, width)
    seen_len, seen_start = set(), set()
    for seed in range(60):
        rows, masked, pos, neg = segment_views(seq, pool, mask, rand_batch(len(lengths), seed))
        assert rows.tolist() == [r for r, n in enumerate(lengths) if n >= 2]
        for k, r in enumerate(rows.tolist()):
            n, s = lengths[r], seq[r]
            real = s != 0
            inside = (pos[k] != mask) & real
            cols = inside.nonzero().squeeze(1)
            seg = int(cols.numel())
            assert 1 <= seg <= n // 2
            assert torch.equal(cols, torch.arange(int(cols[0]), int(cols[0]) + seg))  # contiguous
            start = int(cols[0]) - (width - n)
            seen_len.add((n, seg))
            seen_start.add((n, seg, start))
            # the positive segment: its items in place, the mask on every other real position, padding kept
            assert torch.equal(pos[k], torch.where(inside, s, torch.where(real, mask, 0)))
            # the masked sequence: the mask exactly on the segment
            assert torch.equal(masked[k], torch.where(inside, mask, s))
            # the negative segment: same layout, a contiguous slice of the pool
            assert torch.equal(neg[k] == mask, pos[k] == mask) and torch.equal(neg[k] == 0, ~real)
            got = neg[k][inside]
            assert torch.equal(got, torch.arange(int(got[0]), int(got[0]) + seg)) and 1000 <= int(got[0]) <= 1100 - seg
    # every length 1..n // 2 and the extreme starts 0 and n - seg_len are drawn
    assert {seg for n, seg in seen_len if n == 8} == {1, 2, 3, 4}
    assert (8, 4, 0) in seen_start and (8, 4, 4) in seen_start and (8, 1, 7) in seen_start


def test_item_attribute_matrix(train_attr, split):
    table = item_attribute_matrix(train_attr.items, train_attr.n_items, "s3rec_aap")
    assert table.shape == (train_attr.n_items + 2, 7) and table.dtype == torch.bool
    assert not table[0].any() and not table[-1].any()  # padding and mask token
    assert table[1].nonzero().squeeze(1).tolist() == [1, 3]  # item 0 -> [1, 3]
    assert table[train_attr.n_items].nonzero().squeeze(1).tolist() == [2, 4]  # item 29 -> [2, 3 + 29 % 4]
    with pytest.raises(IncompatibleError, match="s3rec_map needs item attributes"):
        item_attribute_matrix(split.train.items, split.train.n_items, "s3rec_map")
    with pytest.raises(IncompatibleError, match="needs item attributes"):
        item_attribute_matrix(None, 3, "s3rec_map")


def test_pretrain_finetune_all_four(train_attr, split):
    model = build_ssl_model(
        ENCODER, ["next_item", *S3REC], schedule="pretrain_finetune", pretrain_epochs=2, epochs=1, **TRAIN
    )
    model.fit(train_attr)
    net = model.net
    assert net.encoder.causal is True  # the causal mask is back after pretraining
    pre = model.fit_info["pretrain"]["objective_losses"]
    assert len(pre) == 2 and all(np.isfinite(v) and v > 0 for epoch in pre for v in epoch.values())
    assert set(pre[0]) == set(S3REC)
    # AAP and MAP share one attribute embedding (as S3-Rec does), each has its own head
    aap, mmap = net.objective("s3rec_aap"), net.objective("s3rec_map")
    assert aap.attribute_embedding is mmap.attribute_embedding and aap.head is not mmap.head
    assert aap.attribute_embedding.weight.shape == (7, 16)
    scores = model.score(Batch(torch.arange(train_attr.n_users), split.history("test")))
    assert scores.shape == (train_attr.n_users, train_attr.n_items) and torch.isfinite(scores).all()


def test_needs_attributes_only_for_aap_and_map(split):
    for name in ("s3rec_aap", "s3rec_map"):
        model = build_ssl_model(
            ENCODER, ["next_item", name], schedule="pretrain_finetune", pretrain_epochs=1, epochs=1, **TRAIN
        )
        with pytest.raises(IncompatibleError, match=f"{name} needs item attributes"):
            model.fit(split.train)
    bare = Interactions(split.train.df, split.train.n_users, split.train.n_items)  # no items table at all
    with pytest.raises(IncompatibleError, match="needs item attributes"):
        build_ssl_model(ENCODER, ["next_item", "s3rec_map"], **TRAIN).fit(bare)
    model = build_ssl_model(
        ENCODER,
        ["next_item", "s3rec_mip", "s3rec_sp"],
        schedule="pretrain_finetune",
        pretrain_epochs=1,
        epochs=1,
        **TRAIN,
    )
    model.fit(bare)
    assert all(np.isfinite(v) for v in model.fit_info["pretrain"]["objective_losses"][0].values())


@pytest.mark.parametrize("encoder", ["transformer", "gru"])
def test_one_step_gradients(encoder, train_attr):
    """Each loss is a finite scalar whose gradients reach the encoder and the objective's own parameters."""
    spec = ENCODER if encoder == "transformer" else {"name": "gru", "embedding_size": 16, "hidden_size": 16}
    _, net, data = built(train_attr, ["next_item", *S3REC], encoder=spec)
    batch = full_batch(net, data)
    for name in S3REC:
        obj = net.objective(name)
        net.zero_grad()
        loss = obj.loss(net, batch)
        assert loss.ndim == 0 and torch.isfinite(loss) and loss.item() > 0, name
        loss.backward()
        assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in net.encoder.parameters()), name
        assert float(obj.head.weight.grad.abs().sum()) > 0, name
        if obj.needs_attributes:
            assert float(obj.attribute_embedding.weight.grad.abs().sum()) > 0, name


def test_encoder_is_bidirectional_inside_the_losses(train_attr, monkeypatch):
    _, net, data = built(train_attr, ["next_item", *S3REC])
    enc = net.encoder
    seen: list[bool] = []
    run = enc._run

    def spy(seq, where, **kw):
        seen.append(enc.causal)
        return run(seq, where, **kw)

    monkeypatch.setattr(enc, "_run", spy)
    batch = full_batch(net, data)
    for name in S3REC:
        seen.clear()
        net.objective(name).loss(net, batch)
        assert seen and not any(seen), name
        assert enc.causal is True
    seen.clear()
    net.objective("next_item").loss(net, batch)
    assert seen and all(seen)  # the main objective is untouched
    # the causal flag is restored when the block raises
    with pytest.raises(RuntimeError), bidirectional(enc):
        assert enc.causal is False
        raise RuntimeError("boom")
    assert enc.causal is True


def test_mip_negatives_avoid_the_sequence(train_attr):
    _, net, data = built(train_attr, ["next_item", "s3rec_mip"])
    own = torch.stack([torch.randperm(net.n_items)[:10] + 1 for _ in range(200)])  # 10 of 30 items per row
    neg = net.objective("s3rec_mip")._negatives(net, own, rand_batch(1))
    assert ((neg >= 1) & (neg <= net.n_items)).all()
    assert not (own == neg[:, None]).any(1).any()


def test_segment_prediction_learns():
    """After ~50 Adam steps of SP alone on planted data, true segments outscore negative ones."""
    split = tiny_split(n_users=64, n_items=30, per_user=12)
    encoder = {**ENCODER, "embedding_size": 32, "dropout": 0.0}
    _, net, data = built(split.train, ["next_item", "s3rec_sp"], encoder=encoder)
    sp = net.objective("s3rec_sp")

    def margin() -> float:
        net.eval()
        with torch.no_grad():
            diffs = [torch.sub(*sp.segment_scores(net, full_batch(net, data, seed=100 + k))) for k in range(5)]
        net.train()
        return float(torch.cat(diffs).mean())

    before = margin()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(50):
        opt.zero_grad()
        sp.loss(net, full_batch(net, data, seed=step)).backward()
        opt.step()
    after = margin()
    assert after > 0.1 and after > before + 0.1, (before, after)


def test_pretraining_cache_gives_the_same_model(train_attr, split, tmp_path, monkeypatch, caplog):
    """A cache hit skips the pretraining and leaves the fine-tuned model bit for bit as without the cache."""
    objectives = ["next_item", "s3rec_mip", "s3rec_sp"]
    params = {"schedule": "pretrain_finetune", "pretrain_epochs": 2, "epochs": 2, **TRAIN}
    batch = Batch(torch.arange(train_attr.n_users), split.history("test"))

    def fit(train=train_attr, **over):
        model = build_ssl_model(ENCODER, objectives, **{**params, **over})
        model.fit(train)
        return model, model.score(batch), model.fit_info["pretrain"]

    _, plain, info = fit()  # the cache is off in tests unless turned on
    assert info["cache"] is None
    monkeypatch.setenv("SSL4REC_PRETRAIN_CACHE", "on")
    monkeypatch.setenv("SSL4REC_CACHE", str(tmp_path))
    _, miss, info = fit()
    assert info["cache"]["hit"] is False and torch.equal(miss, plain)
    entries = list((tmp_path / "pretrained").glob("*.pt"))
    assert [p.stem for p in entries] == [info["cache"]["key"]]
    assert (tmp_path / "pretrained" / f"{entries[0].stem}.json").exists()

    _, hit, hit_info = fit()
    assert hit_info["cache"] == {"key": info["cache"]["key"], "hit": True}
    assert torch.equal(hit, plain)  # the fine-tuning continued from the same weights and random state
    assert hit_info["objective_losses"] == info["objective_losses"]
    _, _, more = fit(epochs=3, patience=4)  # fine-tuning-only parameters share the entry
    assert more["cache"]["hit"] is True
    for over in ({"pretrain_epochs": 3}, {"seed": 4}, {"learning_rate": 0.01}):
        assert fit(**over)[2]["cache"]["hit"] is False, over
    fewer = Interactions(train_attr.df.iloc[1:], train_attr.n_users, train_attr.n_items, items=train_attr.items)
    assert fit(fewer)[2]["cache"]["hit"] is False  # other training data

    entries[0].write_bytes(b"not a checkpoint")  # a damaged entry is pretrained again, never trusted
    with caplog.at_level("WARNING"):
        _, again, again_info = fit()
    assert "unreadable pretraining cache" in caplog.text
    assert again_info["cache"]["hit"] is False and torch.equal(again, plain)
    assert fit()[2]["cache"]["hit"] is True  # and rewritten
