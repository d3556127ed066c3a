"""Time context of the sequence encoders (``encoder.time``): interval buckets, time features,
timestamps through batches, views and chunked passes, refusals, and a planted time signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ssl4rec.encoders.gru import GRUEncoder
from ssl4rec.encoders.time import TimeFeatures, interval_buckets, previous_gap_buckets, recency_buckets
from ssl4rec.encoders.transformer import TransformerEncoder
from ssl4rec.interactions import Batch, Interactions
from ssl4rec.objectives.base import IncompatibleError, TrainBatch
from ssl4rec.objectives.contrastive import _timed_views, augment, build_augmentations
from ssl4rec.registry import ConfigError
from ssl4rec.ssl import build_ssl_model, check_compatible
from ssl4rec.testing import tiny_split


def test_interval_buckets_by_hand():
    times = torch.tensor([[0, 0, 100, 110, 130, 160]])
    real = torch.tensor([[False, False, True, True, True, True]])
    # real gaps 10, 20, 30 -> the row's scale is 10; |t_i - t_j| / 10 clipped at 4; padding pairs 0
    got = interval_buckets(times, real, time_span=4)[0]
    want = torch.tensor(
        [
            [0, 0, 0, 1, 3, 4],
            [0, 0, 1, 0, 2, 4],
            [0, 0, 3, 2, 0, 3],
            [0, 0, 4, 4, 3, 0],
        ]
    )
    assert torch.equal(got[2:], want)
    assert int(got[:2].abs().sum()) == 0
    gaps = previous_gap_buckets(times, real, time_span=4)[0]
    assert gaps.tolist() == [0, 0, 0, 1, 2, 3]


def test_intervals_of_a_row_with_one_timestamp_are_zero():
    times = torch.full((1, 4), 1_000)
    assert int(interval_buckets(times, torch.ones(1, 4, dtype=torch.bool), 256).abs().sum()) == 0


def test_recency_and_calendar_features_by_hand():
    monday_5am = 4 * 86400 + 5 * 3600  # 1970-01-05 05:00 UTC, a Monday
    times = torch.tensor([[monday_5am, monday_5am + 60, monday_5am + 60 + 7 * 60]])
    real = torch.ones(1, 3, dtype=torch.bool)
    # 0 at the first item; 1 + floor(log2(1 + 1 min)) = 2; 1 + floor(log2(1 + 7)) = 4
    assert recency_buckets(times, real).tolist() == [[0, 2, 4]]
    feats = TimeFeatures(4)
    out = feats(times, real)[0, 0]
    want = feats.hour.weight[5] + feats.weekday.weight[0] + feats.recency.weight[0]
    assert torch.allclose(out, want)
    thursday_0h = feats(torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1, dtype=torch.bool))[0, 0]
    assert torch.allclose(thursday_0h, feats.hour.weight[0] + feats.weekday.weight[3] + feats.recency.weight[0])


def _seq_and_times(b: int = 3, w: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(1, 20, (b, w), generator=g)
    seq[0, :2] = 0
    times = torch.cumsum(torch.randint(1, 5_000, (b, w), generator=g), 1) + 1_600_000_000
    return seq, times * (seq != 0)


@pytest.mark.parametrize("encoder", [TransformerEncoder, GRUEncoder])
def test_intervals_do_not_change_when_every_timestamp_moves(encoder):
    torch.manual_seed(0)
    enc = encoder(n_items=20, max_len=6, time="intervals").eval()
    seq, times = _seq_and_times()
    shifted = (times + 987_654) * (seq != 0)
    assert torch.allclose(enc(seq, times), enc(seq, shifted), atol=1e-6)
    # ... but they do change when the gaps do
    stretched = times.clone()
    stretched[:, -1] += 50_000 * (seq[:, -1] != 0)
    assert not torch.allclose(enc(seq, times)[:, -1], enc(seq, stretched)[:, -1], atol=1e-4)


@pytest.mark.parametrize("mode", ["intervals", "features", "both"])
def test_time_aware_transformer_ignores_padding_and_matches_its_fast_paths(mode):
    torch.manual_seed(0)
    enc = TransformerEncoder(n_items=20, max_len=8, time=mode).eval()
    seq, times = _seq_and_times()
    padded, padded_t = torch.nn.functional.pad(seq, (2, 0)), torch.nn.functional.pad(times, (2, 0))
    full = enc(seq, times)
    assert torch.allclose(enc(padded, padded_t)[:, 2:][seq != 0], full[seq != 0], atol=1e-5)
    assert torch.allclose(enc.represent(seq, times), full[:, -1], atol=1e-5)
    where = seq != 0
    assert torch.allclose(enc.hidden_at(seq, where, times), full[where], atol=1e-5)


def test_time_free_and_time_aware_encoders_refuse_the_other_input():
    seq, times = _seq_and_times()
    with pytest.raises(ValueError, match="needs the timestamps"):
        TransformerEncoder(n_items=20, max_len=6, time="both")(seq)
    with pytest.raises(ValueError, match="time 'none'"):
        TransformerEncoder(n_items=20, max_len=6)(seq, times)
    with pytest.raises(ConfigError, match="time 'hours' is not one of"):
        TransformerEncoder(n_items=20, max_len=6, time="hours")


def test_views_carry_each_items_timestamp_and_equal_the_item_views():
    # items unique per row, each item's time known: a view's time must be its item's time
    seq = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 0, 0, 0, 9, 10, 11]])
    times = (seq * 1000 + 7) * (seq != 0)
    augs = build_augmentations(
        type(
            "C",
            (),
            {
                "augmentations": ["crop", "mask", "reorder"],
                "crop_ratio": 0.5,
                "mask_ratio": 0.5,
                "mask_value": "token",
                "reorder_ratio": 0.5,
                "substitute_ratio": 0.1,
                "insert_ratio": 0.1,
                "item_similarity": "offline",
                "online_after": 0,
            },
        )(),
        "t",
    )
    mask_token = 99
    for seed in range(20):
        both, vt = _timed_views(seq, times, augs, torch.Generator().manual_seed(seed), mask_token)
        g = torch.Generator().manual_seed(seed)
        plain = torch.cat([augment(seq, augs, g, mask_token) for _ in range(2)])
        assert torch.equal(both, plain[:, plain.shape[1] - both.shape[1] :])
        assert int(plain[:, : plain.shape[1] - both.shape[1]].abs().sum()) == 0
        real = (both != 0) & (both != mask_token)
        assert torch.equal(vt[real], both[real] * 1000 + 7)
        assert int(vt[both == 0].abs().sum()) == 0
        # a masked item keeps the time of its position (mask moves nothing)
        masked = both == mask_token
        cols = seq.shape[1] - both.shape[1] + torch.nonzero(masked)[:, 1]
        assert torch.equal(vt[masked], times.repeat(2, 1)[torch.nonzero(masked)[:, 0], cols])


def test_train_batch_times_follow_the_inputs_and_the_sequence():
    window = torch.tensor([[0, 0, 5, 6, 7], [1, 2, 3, 4, 5]])
    times = window * 10 + 1
    batch = TrainBatch(torch.arange(2), torch.Generator(), torch.device("cpu"), window=window, times=times)
    inputs, _ = batch.pairs
    assert torch.equal(batch.input_times, inputs * 10 + 1)
    assert torch.equal(batch.sequence_times, batch.sequence * 10 + 1)


def test_interactions_sequence_times_align_with_sequences():
    sp = tiny_split()
    users = np.array([0, 3, 5])
    seq = sp.train.sequences(users, 5)
    t = sp.train.sequence_times(users, 5)
    for r, u in enumerate(users):
        rows = sp.train.df[sp.train.df["user"] == u].tail(5)
        assert seq[r].tolist() == (rows["item"] + 1).tolist()
        assert t[r].tolist() == rows["timestamp"].tolist()
    b = Batch(torch.tensor([3]), sp.train)
    assert torch.equal(b.sequence_times(5), t[1:2])


def test_chunked_training_pass_equals_the_whole_batch_with_times():
    model = build_ssl_model(
        {"name": "transformer", "params": {"time": "both", "dropout": 0.0}},
        ["next_item"],
        epochs=1,
        seed=0,
        max_len=50,
        length_chunks=2,
    )
    model.fit(tiny_split(n_users=40, per_user=12).train)
    net = model.net
    g = torch.Generator().manual_seed(3)
    b, w = 1600, 50
    seq = torch.randint(1, 30, (b, w), generator=g)
    lengths = torch.where(torch.arange(b) % 2 == 0, torch.randint(1, 4, (b,), generator=g), 45 + torch.arange(b) % 6)
    seq = seq * (torch.arange(w)[None] >= (w - lengths)[:, None])
    times = torch.cumsum(torch.randint(1, 900, (b, w), generator=g), 1) * (seq != 0)
    where = seq != 0
    net.eval()
    whole = net.encode_at(seq, where, times)
    net.train()
    assert net._length_chunks(seq, where) is not None  # the chunked path is what is compared
    chunked = net.encode_at(seq, where, times)
    assert torch.allclose(whole, chunked, atol=1e-5)
    assert torch.allclose(net.represent(seq, times), net.encode(seq, times)[:, -1], atol=1e-5)


def test_refusals_name_the_reason():
    assert "has no time context" in check_compatible("vae", ["reconstruction"], {"time": "both"})
    reason = check_compatible("transformer", ["next_item", "intent_contrastive"], {"time": "intervals"})
    assert "intent_contrastive does not pass timestamps" in reason and "next_item" in reason
    with pytest.raises(ConfigError, match="augmentation 'substitute' makes up items"):
        build_ssl_model(
            {"name": "transformer", "params": {"time": "intervals"}},
            ["next_item", {"name": "contrastive", "params": {"augmentations": ["crop", "substitute"]}}],
        )
    sp = tiny_split()
    untimed = Interactions(sp.train.df, sp.train.n_users, sp.train.n_items, has_timestamps=False)
    model = build_ssl_model({"name": "gru", "params": {"time": "features"}}, ["next_item"], epochs=1)
    with pytest.raises(IncompatibleError, match="needs timestamps"):
        model.fit(untimed)
    # a time-free model trains on the same data
    build_ssl_model("gru", ["next_item"], epochs=1).fit(untimed)


def _planted_time_log(n_users: int = 120, length: int = 14, n_items: int = 24, seed: int = 0) -> pd.DataFrame:
    """The next item depends only on the gap before the current one: +1 after a short gap, +7 after a long one."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        item, t, last_gap = int(rng.integers(n_items)), 1_000_000 + 5_000 * u, 0
        for k in range(length):
            gap = 60 if rng.random() < 0.5 else 86_400
            t += gap
            if k:
                item = (item + (1 if last_gap == 60 else 7)) % n_items
            rows.append((u, item, 1.0, t))
            last_gap = gap
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


@pytest.mark.parametrize("encoder", ["transformer", "gru"])
def test_time_context_learns_a_planted_time_signal(encoder):
    """Without time the next item is a coin flip between two; with time it is determined."""
    df = _planted_time_log()
    train = Interactions(df, int(df["user"].max()) + 1, 24)
    users = torch.arange(train.n_users)
    # predict each user's last item from the ones before it
    last = train.indptr[1:] - 1
    history = Interactions(train.df.drop(index=last), train.n_users, 24)
    target = torch.from_numpy(train.item_array[last].astype(np.int64))
    hit = {}
    for mode in ("none", "features", "intervals"):
        model = build_ssl_model(
            {"name": encoder, "params": {"time": mode, "embedding_size": 32}},
            ["next_item"],
            epochs=40,
            seed=0,
            max_len=13,
            learning_rate=0.01,
        )
        model.fit(history)
        top = model.score(Batch(users, history)).argmax(1)
        hit[mode] = float((top == target).float().mean())
    assert hit["none"] < 0.65, hit  # a coin flip between the two candidates
    assert hit["features"] > 0.8 and hit["intervals"] > 0.8, hit
