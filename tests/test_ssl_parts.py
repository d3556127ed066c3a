"""SSL building blocks: augmentations, InfoNCE, the fused softmax cross-entropy, encoders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import ssl4rec.ssl  # noqa: F401  (registers augmentations)
from ssl4rec.encoders import GRUEncoder, TransformerEncoder, VAEEncoder
from ssl4rec.encoders.base import Bag
from ssl4rec.objectives import info_nce
from ssl4rec.objectives.contrastive import augment
from ssl4rec.objectives.losses import _SoftmaxCE, softmax_cross_entropy
from ssl4rec.registry import AUGMENTATIONS, ConfigError

MASK = 99


def padded(lengths: list[int], width: int = 12) -> torch.Tensor:
    """Left-padded rows with items 1..n (distinct, ordered)."""
    out = torch.zeros(len(lengths), width, dtype=torch.long)
    for r, n in enumerate(lengths):
        if n:
            out[r, width - n :] = torch.arange(1, n + 1) + 10 * r
    return out


LENGTHS = [0, 1, 2, 5, 10, 12]


def _left_padded(x: torch.Tensor) -> bool:
    real = x != 0
    return bool((real.int().diff(dim=1) >= 0).all())  # once real, stays real


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_augmentation_contract(name):
    seq = padded(LENGTHS)
    aug = AUGMENTATIONS.build(name)
    if hasattr(aug, "neighbours"):  # correlation-based: item similarities from a training log
        from ssl4rec.interactions import Interactions
        from ssl4rec.objectives.base import TrainData

        rows = [r[r != 0] - 1 for r in seq]
        users = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
        df = pd.DataFrame({"user": users, "item": torch.cat(rows).numpy(), "rating": 1.0, "timestamp": 0})
        train = Interactions(df, len(rows), MASK)
        aug.prepare(None, TrainData(train, torch.arange(6), torch.zeros(6), None, torch.Generator(), 12))
    out = aug(seq, torch.Generator().manual_seed(0), MASK)
    assert out.shape == seq.shape and out.dtype == seq.dtype
    assert _left_padded(out)
    assert (out[0] == 0).all()  # empty stays empty
    again = aug(seq, torch.Generator().manual_seed(0), MASK)
    torch.testing.assert_close(out, again)
    assert (seq == padded(LENGTHS)).all()  # input untouched


def test_crop_keeps_a_contiguous_window():
    seq = padded(LENGTHS)
    out = AUGMENTATIONS.build("crop", ratio=0.5)(seq, torch.Generator().manual_seed(1))
    for r, n in enumerate(LENGTHS):
        kept = out[r][out[r] != 0]
        assert len(kept) == (max(1, int(0.5 * n)) if n else 0)
        if len(kept) > 1:
            assert (kept.diff() == 1).all()  # contiguous, in order
        assert set(kept.tolist()) <= set(seq[r][seq[r] != 0].tolist())


def test_mask_counts_and_token():
    seq = padded(LENGTHS)
    out = AUGMENTATIONS.build("mask", ratio=0.5)(seq, torch.Generator().manual_seed(2), MASK)
    for r, n in enumerate(LENGTHS):
        assert int((out[r] == MASK).sum()) == int(0.5 * n)
        keep = out[r] != MASK
        assert (out[r][keep] == seq[r][keep]).all()
    with pytest.raises(ValueError, match="mask_token"):
        AUGMENTATIONS.build("mask")(seq, torch.Generator())
    assert AUGMENTATIONS.entry("mask").defaults()["ratio"] == 0.7


def test_mask_with_padding_like_the_authors_code():
    """value='padding' writes the padding id (0) in place: positions of the other items stay;
    the Transformer then skips those positions and the GRU reads the whole span."""
    seq = padded(LENGTHS)
    out = AUGMENTATIONS.build("mask", ratio=0.5, value="padding")(seq, torch.Generator().manual_seed(2))
    for r, n in enumerate(LENGTHS):
        assert int((out[r] != 0).sum()) == n - int(0.5 * n)  # int(0.5 n) items became padding
        keep = out[r] != 0
        assert (out[r][keep] == seq[r][keep]).all()  # the rest unchanged, in place
    assert not (out == MASK).any()
    with pytest.raises(ConfigError, match="padding"):
        AUGMENTATIONS.build("mask", value="pad")


def test_gru_reads_across_padding_inside_a_row():
    """An item before an inner padding id still reaches the last position (the row is rotated by
    its leading padding, not by its item count)."""
    torch.manual_seed(0)
    enc = GRUEncoder(n_items=20, max_len=6, embedding_size=8, hidden_size=8, dropout=0.0).eval()
    a = torch.tensor([[0, 0, 5, 0, 7, 3]])
    b = torch.tensor([[0, 0, 6, 0, 7, 3]])
    assert not torch.allclose(enc.represent(a), enc.represent(b))
    # rows without inner padding: unchanged behaviour (outputs independent of extra left padding)
    x = torch.tensor([[0, 0, 4, 7, 3, 2]])
    torch.testing.assert_close(enc(x)[:, 2:], enc(x[:, 2:]))


def test_reorder_permutes_one_window():
    seq = padded(LENGTHS)
    out = AUGMENTATIONS.build("reorder", ratio=0.5)(seq, torch.Generator().manual_seed(3))
    for r, n in enumerate(LENGTHS):
        assert sorted(out[r].tolist()) == sorted(seq[r].tolist())  # same multiset
        changed = (out[r] != seq[r]).nonzero().squeeze(1)
        if len(changed):
            assert int(changed.max() - changed.min()) < int(0.5 * n)  # inside one window
    full = AUGMENTATIONS.build("reorder", ratio=1.0)(padded([12] * 50), torch.Generator().manual_seed(4))
    assert (full != padded([12] * 50)).any()
    with pytest.raises(ConfigError):
        AUGMENTATIONS.build("reorder", ratio=1.5)


def test_augment_chooses_per_row():
    seq = padded([10] * 200, width=10)
    augs = [AUGMENTATIONS.build("crop", ratio=0.3), AUGMENTATIONS.build("mask", ratio=0.5)]
    out = augment(seq, augs, torch.Generator().manual_seed(0), MASK)
    cropped = ((out == 0).sum(1) > 0).sum()
    masked = ((out == MASK).sum(1) > 0).sum()
    assert cropped + masked == 200 and 60 < cropped < 140


def test_info_nce():
    z = torch.randn(16, 8)
    aligned = info_nce(z * 10, z * 10, temperature=1.0, similarity="cosine")
    random = info_nce(z, torch.randn(16, 8), temperature=1.0, similarity="cosine")
    assert aligned < random
    # by hand for two pairs, dot product: anchor 0 sees {z2_0 (positive), z1_1, z2_1}
    z1, z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logits0 = torch.tensor([0.0, 1.0, 0.0]) / 0.5  # z1_1, z2_0, z2_1
    expected0 = -F.log_softmax(logits0, 0)[1]
    all_z = torch.cat([z1, z2])
    sim = all_z @ all_z.T / 0.5
    sim.fill_diagonal_(-torch.inf)
    manual = F.cross_entropy(sim, torch.tensor([2, 3, 0, 1]))
    torch.testing.assert_close(info_nce(z1, z2, temperature=0.5), manual)
    torch.testing.assert_close(-F.log_softmax(sim[0], 0)[2], expected0)


@pytest.mark.parametrize("chunk", [10**6, 22])
def test_softmax_cross_entropy_matches_torch(chunk, monkeypatch):
    from ssl4rec.objectives import losses

    monkeypatch.setattr(losses, "CE_CHUNK_ELEMENTS", chunk)
    g = torch.Generator().manual_seed(0)
    h = torch.randn(7, 5, dtype=torch.double, generator=g, requires_grad=True)
    w = torch.randn(11, 5, dtype=torch.double, generator=g, requires_grad=True)
    t = torch.randint(0, 11, (7,), generator=g)
    ours = softmax_cross_entropy(h, w, t)
    ref = F.cross_entropy(h @ w.T, t)
    torch.testing.assert_close(ours, ref)
    for a, b in zip(torch.autograd.grad(ours, (h, w)), torch.autograd.grad(ref, (h, w)), strict=True):
        torch.testing.assert_close(a, b)
    rows = max(1, chunk // 11)
    assert torch.autograd.gradcheck(lambda h, w: _SoftmaxCE.apply(h, w, t, rows), (h, w), nondet_tol=1e-12)


def test_transformer_handles_all_padding_rows():
    enc = TransformerEncoder(20, max_len=6, embedding_size=8, num_layers=1, num_heads=2, causal=True).eval()
    seq = torch.tensor([[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 3]])
    h = enc(seq)
    assert torch.isfinite(h).all() and h.shape == (2, 6, 8)
    # a position-only representation: the empty row's last state is the same whatever the width
    torch.testing.assert_close(enc(seq[:1, -2:])[:, -1], h[:1, -1])
    with pytest.raises(ConfigError, match="num_heads"):
        TransformerEncoder(20, embedding_size=10, num_heads=4)
    with pytest.raises(ConfigError, match="embedding_size"):
        TransformerEncoder(20, embedding_sise=8)


def test_causal_transformer_does_not_look_ahead():
    enc = TransformerEncoder(20, max_len=5, embedding_size=8, num_layers=2, num_heads=2, causal=True).eval()
    a = enc(torch.tensor([[1, 2, 3, 4, 5]]))
    b = enc(torch.tensor([[1, 2, 3, 9, 7]]))
    torch.testing.assert_close(a[:, :3], b[:, :3])
    bi = TransformerEncoder(20, max_len=5, embedding_size=8, num_layers=2, num_heads=2, causal=False).eval()
    assert not torch.allclose(bi(torch.tensor([[1, 2, 3, 4, 5]]))[:, 0], bi(torch.tensor([[1, 2, 3, 9, 7]]))[:, 0])


def test_gru_ignores_padding_amount():
    enc = GRUEncoder(20, max_len=8, embedding_size=8, hidden_size=8).eval()
    short = enc(torch.tensor([[0, 4, 5, 6]]))[:, -3:]
    long = enc(torch.tensor([[0, 0, 0, 0, 0, 4, 5, 6]]))[:, -3:]
    torch.testing.assert_close(short, long)


def test_vae_encoder_bag_and_empty_rows():
    import scipy.sparse as sp

    enc = VAEEncoder(10, embedding_size=4, hidden_sizes=[6]).eval()
    m = sp.csr_matrix([[1, 0, 1, 0, 0, 0, 0, 0, 0, 0], [0] * 10], dtype="float32")
    out = enc(Bag.from_csr(m))
    assert out.logits.shape == (2, 10) and torch.isfinite(out.logits).all()
    assert out.mu.shape == (2, 4) and out.logvar is not None
    dae = VAEEncoder(10, embedding_size=4, hidden_sizes=[6], variational=False)
    assert dae(Bag.from_csr(m)).logvar is None


def test_vae_noise_scale_scales_the_reparameterisation_noise():
    import scipy.sparse as sp

    bag = Bag.from_csr(sp.csr_matrix([[1, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 1]], dtype="float32"))
    torch.manual_seed(0)
    enc = VAEEncoder(6, embedding_size=4, hidden_sizes=[5], dropout=0.0)
    mean = enc.eval()(bag).logits  # z = mu
    enc.train()
    gaps = {}
    for scale in (1.0, 0.01, 0.0):
        enc.config.noise_scale = scale
        torch.manual_seed(1)  # the same eps each time: the deviation from z = mu shrinks with the scale
        gaps[scale] = float((enc(bag).logits - mean).abs().max().detach())
    assert gaps[0.0] == 0.0 and 0.0 < gaps[0.01] < gaps[1.0] / 20


def test_masked_item_last_item_prob_masks_only_the_last_item(monkeypatch):
    """last_item_prob = 1: every sequence masks exactly its last item; 0 keeps the random cloze masks."""
    import ssl4rec.objectives.masked_item as mi
    from ssl4rec.objectives.base import TrainBatch

    seen = {}

    class Net:
        mask_token = 99

        def encode_at(self, seq, where):
            seen["seq"], seen["where"] = seq.clone(), where.clone()
            return torch.zeros(int(where.sum()), 4)

    monkeypatch.setattr(mi, "item_loss", lambda net, h, targets, **kw: targets.float().sum())
    window = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [0, 9, 10, 11, 12, 13, 14, 15], [0, 0, 0, 0, 0, 0, 2, 5]])
    for prob in (0.0, 1.0):
        batch = TrainBatch(torch.arange(3), torch.Generator().manual_seed(0), torch.device("cpu"), window=window)
        mi.MaskedItem(mask_prob=0.5, last_item_prob=prob).loss(Net(), batch)
        last_only = torch.zeros_like(seen["where"])
        last_only[:, -1] = True
        if prob == 1.0:
            assert torch.equal(seen["where"], last_only)
            assert seen["seq"][:, -1].tolist() == [99, 99, 99] and (seen["seq"][:, :-1] != 99).all()
        else:
            assert seen["where"].sum() > 3  # mask_prob 0.5 over 16 real items
    with pytest.raises(ConfigError, match="last_item_prob"):
        mi.MaskedItem(last_item_prob=1.5)


def test_gru_represent_equals_last_position_of_forward():
    """The eval shortcut (output layer on the last position only) gives forward()[:, -1] exactly."""
    torch.manual_seed(0)
    enc = GRUEncoder(30, max_len=12, embedding_size=16, hidden_size=24, num_layers=2).eval()
    seq = torch.randint(1, 31, (64, 12))
    seq[5, :7] = 0  # left padding
    seq[6, :] = 0  # empty row
    seq[7, 3] = 0  # padding inside a row (mask value "padding")
    with torch.no_grad():
        assert torch.equal(enc.represent(seq), enc(seq)[:, -1])


@pytest.mark.parametrize("shape", [(16, 24), (3, 5, 24)])
def test_item_logits_match_the_sliced_table_product_bitwise(shape):
    """ItemEmbedding.logits writes the table's gradient in one pass: values and gradients are
    those of h @ scoring_matrix().T exactly, the padding and mask rows get zero gradient."""
    from ssl4rec.encoders.base import ItemEmbedding

    torch.manual_seed(0)
    emb = ItemEmbedding(40, 24)
    h = torch.randn(*shape, requires_grad=True)
    g = torch.randn(*shape[:-1], 40)
    out = emb.logits(h)
    (out * g).sum().backward()
    grads = emb.table.weight.grad.clone(), h.grad.clone()
    emb.table.weight.grad, h.grad = None, None
    ref = h @ emb.scoring_matrix().T
    (ref * g).sum().backward()
    assert torch.equal(out, ref)
    assert torch.equal(grads[0], emb.table.weight.grad) and torch.equal(grads[1], h.grad)
    assert not grads[0][0].any() and not grads[0][-1].any()
