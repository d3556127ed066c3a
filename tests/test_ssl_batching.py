"""Length-bucketed batching of SSL training and the encoders' partial-output paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import ssl4rec.ssl  # noqa: F401  (registers augmentations and presets)
import ssl4rec.ssl.composite as ssl_model
from ssl4rec.encoders.base import dropout
from ssl4rec.encoders.gru import GRUEncoder
from ssl4rec.encoders.transformer import TransformerEncoder
from ssl4rec.interactions import Interactions
from ssl4rec.objectives.base import TrainBatch
from ssl4rec.ssl import build_preset
from ssl4rec.ssl.composite import epoch_batches

MAX_LEN = 12


def varied_lengths(n_users: int = 90, n_items: int = 40, seed: int = 0) -> Interactions:
    """Users with 1..30 interactions (many short, a few long), and two users with none."""
    rng = np.random.default_rng(seed)
    lens = np.minimum(1 + rng.geometric(0.25, n_users), 30)
    lens[-2:] = 0
    users = np.repeat(np.arange(n_users), lens)
    df = pd.DataFrame(
        {
            "user": users,
            "item": rng.integers(0, n_items, len(users)),
            "rating": 1.0,
            "timestamp": np.arange(len(users)),
        }
    )
    return Interactions(df, n_users, n_items)


def _record(monkeypatch, preset: str, **params) -> tuple[list, Interactions]:
    train = varied_lengths()
    seen: list = []

    class Rec(TrainBatch):
        def __init__(self, users, generator, device, window=None, **kw) -> None:
            super().__init__(users, generator, device, window=window, **kw)
            longest = int((window != 0).sum(1).max())
            seen.append((users.tolist(), longest, self.pairs[0].shape[1] + 1, self.sequence.shape[1]))

    monkeypatch.setattr(ssl_model, "TrainBatch", Rec)
    enc = {"embedding_size": 16, "num_layers": 1, "num_heads": 2} if preset != "gru4rec" else {"embedding_size": 16}
    model = build_preset(preset, encoder=enc, max_len=MAX_LEN, batch_size=8, seed=1, **params)
    model.fit(train)
    return seen, train


@pytest.mark.parametrize("preset", ["sasrec", "cl4srec"])
def test_bucketed_batches_cover_users_once_and_pad_to_longest(monkeypatch, preset):
    seen, train = _record(monkeypatch, preset, epochs=2, bucket_by_length=True)  # cl4srec's default is off
    active = sorted(train.active_users.tolist())
    per_epoch = len(seen) // 2
    assert per_epoch == -(-len(active) // 8)
    lengths = dict(zip(active, np.minimum(np.diff(train.indptr)[active], MAX_LEN + 1).tolist(), strict=True))
    ranges = []
    for epoch in range(2):
        batches = seen[epoch * per_epoch : (epoch + 1) * per_epoch]
        users = [u for b in batches for u in b[0]]
        assert sorted(users) == active  # every training user exactly once per epoch
        for members, longest, padded, seq_width in batches:
            assert longest == max(lengths[u] for u in members)
            assert padded == max(longest, 2)  # (inputs, targets) window: the longest member's length
            assert seq_width == max(min(longest, MAX_LEN), 1)  # the most recent max_len items
            ranges.append((min(lengths[u] for u in members), longest))
        # bucketed: length ranges of different batches overlap at most at their ends
        spans = sorted(ranges[-per_epoch:])
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans
    # the batch order changes between epochs
    assert [b[0] for b in seen[:per_epoch]] != [b[0] for b in seen[per_epoch:]]


def test_bucketing_is_seeded_and_can_be_turned_off(monkeypatch):
    a, _ = _record(monkeypatch, "sasrec", epochs=1)
    b, _ = _record(monkeypatch, "sasrec", epochs=1)
    assert [x[0] for x in a] == [x[0] for x in b]
    off, train = _record(monkeypatch, "sasrec", epochs=1, bucket_by_length=False)
    assert sum(x[2] for x in off) > sum(x[2] for x in a)  # random batches carry more padding
    # off = the uniform shuffle of earlier versions: one seeded permutation cut in order
    gen = torch.Generator().manual_seed(1)
    perm = torch.randperm(len(train.active_users), generator=gen)
    users = torch.from_numpy(train.active_users.astype(np.int64))
    assert [x[0] for x in off] == [users[p].tolist() for p in perm.split(8)]


def test_epoch_batches_tie_break_is_random():
    lengths = torch.tensor([3] * 20 + [7] * 20)
    gen = torch.Generator().manual_seed(0)
    first = epoch_batches(40, 10, gen, lengths)
    second = epoch_batches(40, 10, gen, lengths)
    for batches in (first, second):
        assert sorted(torch.cat(batches).tolist()) == list(range(40))
        assert all(len(set(lengths[b].tolist())) == 1 for b in batches)
    assert [b.tolist() for b in first] != [b.tolist() for b in second]
    plain = epoch_batches(40, 16, torch.Generator().manual_seed(0))
    assert [len(b) for b in plain] == [16, 16, 8]


def test_spec_records_bucketing():
    assert build_preset("sasrec").spec()["bucket_by_length"] is True
    assert build_preset("sasrec", bucket_by_length=False).spec()["bucket_by_length"] is False


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("layers", [0, 1, 2])
def test_transformer_partial_outputs_match_full(causal, layers):
    torch.manual_seed(0)
    enc = TransformerEncoder(n_items=30, max_len=10, num_layers=layers, causal=causal, embedding_size=16).eval()
    seq = torch.randint(1, 32, (6, 8))
    seq[0, :5] = 0
    seq[1, :7] = 0
    seq[2, :] = 0  # an empty history
    full = enc(seq)
    torch.testing.assert_close(enc.represent(seq), full[:, -1])
    where = (torch.rand(6, 8) < 0.4) & (seq != 0)
    where[[0, 2], -1] = True
    torch.testing.assert_close(enc.hidden_at(seq, where), full[where])
    where[0, 0] = True  # a padding position: zero, as in the full output
    torch.testing.assert_close(enc.hidden_at(seq, where), full[where])


def test_gru_partial_outputs_match_full():
    enc = GRUEncoder(n_items=30, max_len=10, embedding_size=8, hidden_size=8).eval()
    seq = torch.randint(1, 31, (4, 6))
    seq[0, :3] = 0
    where = seq != 0
    torch.testing.assert_close(enc.hidden_at(seq, where), enc(seq)[where])
    torch.testing.assert_close(enc.represent(seq), enc(seq)[:, -1])


def test_dropout_helper():
    x = torch.ones(20_000)
    torch.manual_seed(0)
    y = dropout(x, 0.3)
    kept = y != 0
    assert abs(float(kept.float().mean()) - 0.7) < 0.02
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    assert dropout(x, 0.3, training=False) is x and dropout(x, 0.0) is x
    assert float(dropout(x, 1.0).abs().sum()) == 0.0
    w = torch.ones(5, requires_grad=True)
    dropout(w, 0.5).sum().backward()
    assert set(w.grad.tolist()) <= {0.0, 2.0}
