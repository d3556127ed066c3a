"""Text-aware SSL models: item_repr text / id+text, the text_alignment objective, user export.

Fast and offline: TF-IDF text vectors of the tiny in-code data, embedding cache in a tmp dir.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import ssl4rec.ssl  # noqa: F401  (registers presets)
from ssl4rec.encoders.base import Bag
from ssl4rec.encoders.text_items import TextItemEmbedding, prepare_text
from ssl4rec.interactions import Batch, Interactions, SplitData
from ssl4rec.objectives.base import TrainBatch
from ssl4rec.objectives.losses import info_nce
from ssl4rec.registry import BASELINES, OBJECTIVES, PRESETS, ConfigError
from ssl4rec.reporting.export import export_users, user_vectors
from ssl4rec.ssl import IncompatibleError, build_preset, build_ssl_model, check_compatible
from ssl4rec.testing import tiny_frame, tiny_items, tiny_split

TINY_TRANSFORMER = {"embedding_size": 16, "num_layers": 1, "num_heads": 2}
TRAIN = {"epochs": 3, "max_len": 10, "batch_size": 16, "seed": 3, "text_encoder": "tfidf"}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL4REC_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def split():
    return tiny_split()


def all_users(split: SplitData) -> Batch:
    return Batch(torch.arange(split.train.n_users), split.history("test"))


def one_step(model, split: SplitData):
    """Build the network (with the text vectors) and return it with one training batch of all users."""
    model.load_text(split.train)
    net = model._build(split.train.n_items)
    users = torch.from_numpy(split.train.active_users.astype(np.int64))
    batch = TrainBatch(
        users,
        torch.Generator().manual_seed(0),
        net.device,
        window=split.train.sequences(users, model.config.max_len + 1) if model.input_kind == "sequence" else None,
        bag=Bag.from_csr(split.train.csr[users.numpy()]) if model.input_kind == "bag" else None,
    )
    return net, batch


def cold_item_split(held=(5, 20)) -> SplitData:
    """The tiny log without any interaction of ``held`` in train (one item of each half)."""
    df = tiny_frame()
    items = tiny_items()
    users = pd.DataFrame({"raw_id": [str(u) for u in range(40)]})
    cold = df["item"].isin(held)
    train = Interactions(df[~cold], 40, 30, items=items, users=users)
    return SplitData(
        train=train,
        valid=df[cold].iloc[:0],
        test=df[cold].reset_index(drop=True),
        cold_items=np.array(sorted(held)),
        info={"name": "tiny_cold_items"},
    )


# -- item_repr ------------------------------------------------------------------------------


@pytest.mark.parametrize("item_repr", ["text", "id+text"])
def test_adapter_trains(item_repr, split):
    model = build_preset("sasrec", encoder=TINY_TRANSFORMER, item_repr=item_repr, **{**TRAIN, "epochs": 8})
    net, batch = one_step(model, split)
    items = net.item_embedding
    assert isinstance(items, TextItemEmbedding) and items.use_id == (item_repr == "id+text")
    net.objective("next_item").loss(net, batch).backward()
    assert items.adapter.weight.grad is not None and float(items.adapter.weight.grad.abs().sum()) > 0
    # the text vectors are frozen data, not parameters, and stay out of checkpoints
    assert all(p is not items.text for p in net.parameters())
    assert not any(k.endswith("text") for k in net.state_dict())
    model.fit(split.train)
    losses = model.fit_info["losses"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert model.spec()["item_repr"] == item_repr and model.spec()["text_encoder"] == "tfidf"


def test_text_representation_layout():
    raw = np.random.default_rng(0).normal(size=(5, 7))
    text = prepare_text(raw)
    torch.testing.assert_close(text.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(prepare_text(raw + 3.0), text)  # centred: a shared offset is removed
    trained = np.array([True, True, False, True, False])
    emb = TextItemEmbedding(5, 4, text, use_id=True, trained=trained)
    assert emb.all().shape == (6, 4) and emb.scoring_matrix().shape == (5, 4)
    assert emb(torch.tensor([[0, 3]])).shape == (1, 2, 4)
    with torch.no_grad():
        assert float(emb(torch.tensor(0)).abs().sum()) == 0.0  # padding is zero
        assert float(emb(torch.tensor(6)).abs().sum()) > 0  # the mask token is a learned vector
        emb.train()
        full = emb.scoring_matrix().clone()
        emb.eval()
        scoring = emb.scoring_matrix()
        text_only = emb.adapter(emb.text)
    # eval mode: items never trained are scored from their text alone, the others keep their IDs
    torch.testing.assert_close(scoring[~torch.from_numpy(trained)], text_only[~torch.from_numpy(trained)])
    torch.testing.assert_close(scoring[torch.from_numpy(trained)], full[torch.from_numpy(trained)])
    only_text = TextItemEmbedding(5, 4, text)
    assert not hasattr(only_text, "table") and only_text.mask_vector.requires_grad


@pytest.mark.parametrize("item_repr", ["id", "text", "id+text"])
def test_cold_items_scorable_with_text(item_repr):
    data = cold_item_split()
    model = build_preset("sasrec", encoder=TINY_TRANSFORMER, item_repr=item_repr, **{**TRAIN, "epochs": 2})
    model.fit(data.train)
    scores = model.score(Batch(torch.arange(40), data.train))
    assert torch.isfinite(scores).all()
    if item_repr == "id":
        assert not model.can_score_cold_items
        assert set(range(30)) - set(model.scorable_items()) == set(data.cold_items) == {5, 20}
        assert model.record_extra() == {}
    else:
        assert model.can_score_cold_items and model.scorable_items() is None
        assert model.record_extra()["text_embedding"]["meta"]["encoder"] == "tfidf"
    assert type(model).can_score_cold_items is False  # an instance attribute, not the class's


@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_items_without_training_interactions_are_no_training_negatives(loss):
    data = cold_item_split((5, 20))
    model = build_preset(
        "sasrec", encoder=TINY_TRANSFORMER, item_repr="id+text", objectives={"next_item": {"loss": loss}}, **TRAIN
    )
    net, batch = one_step(model, data)
    assert net.candidate_items.tolist() == [i for i in range(30) if i not in (5, 20)]
    net.objective("next_item").loss(net, batch).backward()
    grad = net.item_embedding.table.weight.grad
    assert float(grad[[6, 21]].abs().sum()) == 0.0  # ids shifted by one: items 5 and 20
    assert float(grad[1:].abs().sum()) > 0.0
    plain = build_preset("sasrec", encoder=TINY_TRANSFORMER, **TRAIN)
    assert one_step(plain, data)[0].candidate_items is None  # item_repr "id": unchanged, all items


@pytest.mark.parametrize("item_repr", ["text", "id+text"])
def test_text_model_ranks_cold_item_of_preferred_half(item_repr):
    """Even users watch items 0-14 ("space robots galaxy"), odd users 15-29 ("love romance
    wedding"); items 5 and 20 never occur in train. A text model must place the held-out
    item of the user's half above the held-out item of the other half and above the middle."""
    data = cold_item_split((5, 20))
    model = build_preset("sasrec", encoder=TINY_TRANSFORMER, item_repr=item_repr, **{**TRAIN, "epochs": 30, "seed": 0})
    model.fit(data.train)
    users = torch.arange(40)
    scores = model.score(Batch(users, data.train)).numpy()
    mine = np.where(users.numpy() % 2 == 0, 5, 20)
    other = np.where(users.numpy() % 2 == 0, 20, 5)
    s_mine, s_other = scores[np.arange(40), mine], scores[np.arange(40), other]
    assert (s_mine > s_other).mean() >= 0.9
    # above the (trained) items of the other half, and above the middle of all 30 items
    half = np.arange(30) >= 15
    other_half = np.where((users.numpy() % 2 == 0)[:, None], half[None, :], ~half[None, :])
    assert (scores < s_mine[:, None])[other_half].mean() >= 0.9
    pct = (scores < s_mine[:, None]).sum(1) / 29  # random: 0.5 on average
    assert pct.mean() > 0.5


def test_presets_and_suite_entries_accept_item_repr(split):
    m = PRESETS.get("sasrec")(item_repr="text")
    assert m.config.item_repr == "text" and m.can_score_cold_items
    assert m.config.text_encoder == "sentence-transformers:all-MiniLM-L6-v2"
    from ssl4rec.running.plan import parse_suite
    from ssl4rec.running.runner import build_model

    suite = parse_suite(
        {
            "name": "t",
            "datasets": ["ml-100k"],
            "splits": ["leave_one_out"],
            "models": [
                {
                    "name": "ssl",
                    "params": {
                        "encoder": {"name": "gru", "params": {"embedding_size": 16}},
                        "objectives": ["next_item", {"name": "text_alignment", "params": {"temperature": 0.2}}],
                        "item_repr": "id+text",
                        "text_encoder": "tfidf",
                        "epochs": 2,
                    },
                }
            ],
        }
    )
    model, resolved = build_model(suite.models[0], seed=1)
    assert resolved["params"]["item_repr"] == "id+text"
    assert "text_encoder.tfidf" in resolved["versions"] and "objective.text_alignment" in resolved["versions"]
    model.fit(split.train)
    assert torch.isfinite(model.score(all_users(split))).all()
    assert model.record_extra()["text_embedding"]["key"]


def test_bad_item_repr_options():
    with pytest.raises(ConfigError, match="item_repr"):
        build_preset("sasrec", item_repr="words")
    with pytest.raises(ConfigError, match="text_encoder"):
        build_preset("sasrec", item_repr="text", text_encoder="no-such-encoder")
    reason = check_compatible("vae", ["reconstruction"], item_repr="text")
    assert reason and "sequence encoder" in reason and "vae" in reason
    with pytest.raises(IncompatibleError, match="sequence encoder"):
        build_preset("multvae", item_repr="id+text")


def test_dataset_without_text_raises_clear_error(split):
    items = split.train.items.drop(columns="text")
    train = Interactions(split.train.df, split.train.n_users, split.train.n_items, items=items)
    for model in (
        build_preset("sasrec", encoder=TINY_TRANSFORMER, item_repr="text", **TRAIN),
        build_ssl_model("gru", ["next_item", "text_alignment"], **TRAIN),
    ):
        with pytest.raises(ValueError, match="no item text"):
            model.fit(train)


def test_second_fit_reuses_embedding_cache(split):
    model = build_preset("sasrec", encoder=TINY_TRANSFORMER, item_repr="id+text", **{**TRAIN, "epochs": 1})
    model.fit(split.train)
    first = dict(model.record_extra()["text_embedding"])
    assert first["hit"] is False and first["encode_calls"] == 1
    model.fit(split.train)
    second = model.record_extra()["text_embedding"]
    assert second["hit"] is True and second["encode_calls"] == 0 and second["key"] == first["key"]
    other = build_ssl_model("gru", ["next_item", "text_alignment"], **{**TRAIN, "epochs": 1}).fit(split.train)
    assert other.record_extra()["text_embedding"]["hit"] is True


# -- text_alignment -------------------------------------------------------------------------


def test_text_alignment_registered():
    entry = OBJECTIVES.entry("text_alignment")
    assert entry.obj.needs_text and not entry.obj.main and entry.requires == ("sequence",)
    assert {"temperature", "objective_weight"} <= set(entry.search_space)
    assert "UniSRec" in entry.paper and "Recformer" in entry.paper
    assert entry.defaults()["objective_weight"] == 0.1


@pytest.mark.parametrize(
    ("encoder", "objectives"),
    [
        ("gru", ["next_item", "text_alignment"]),
        ({"name": "transformer", **TINY_TRANSFORMER}, ["next_item", "text_alignment"]),
        ({"name": "transformer", **TINY_TRANSFORMER, "causal": False}, ["masked_item", "text_alignment"]),
        ({"name": "transformer", **TINY_TRANSFORMER}, ["next_item", "contrastive", "text_alignment"]),
    ],
)
@pytest.mark.parametrize("item_repr", ["id", "id+text"])
def test_text_alignment_trains(encoder, objectives, item_repr, split):
    model = build_ssl_model(encoder, objectives, item_repr=item_repr, **TRAIN)
    net, batch = one_step(model, split)
    obj = net.objective("text_alignment")
    loss = obj.loss(net, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert obj.projection is not None and float(obj.projection.weight.grad.abs().sum()) > 0
    grads = [p.grad for p in net.encoder.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    model.fit(split.train)
    per = model.fit_info["objective_losses"]
    assert all(np.isfinite(v) for epoch in per for v in epoch.values())
    assert torch.isfinite(model.score(all_users(split))).all()
    assert model.can_score_cold_items == (item_repr != "id")


def test_text_alignment_subsamples_anchors_and_pretrains(split):
    model = build_ssl_model(
        "gru",
        ["next_item", {"name": "text_alignment", "max_anchors": 8}],
        schedule="pretrain_finetune",
        **{**TRAIN, "pretrain_epochs": 2, "epochs": 1},
    )
    net, batch = one_step(model, split)
    seen = {}
    real_encode_at = net.encode_at

    def spy(seq, where):
        seen["n"] = int(where.sum())
        return real_encode_at(seq, where)

    net.encode_at = spy
    assert torch.isfinite(net.objective("text_alignment").loss(net, batch))
    assert seen["n"] == 8
    model.fit(split.train)
    assert model.fit_info["pretrain"]["objectives"] == ["text_alignment"]


def test_text_alignment_not_applicable_to_bags():
    reason = check_compatible("vae", ["reconstruction", "text_alignment"])
    assert reason == "text_alignment needs a sequence encoder; vae reads bags of items"
    with pytest.raises(IncompatibleError, match="sequence encoder"):
        build_ssl_model("vae", ["reconstruction", "text_alignment"])
    assert "main objective" in check_compatible("gru", ["text_alignment"])


def test_text_alignment_bad_options():
    with pytest.raises(ConfigError, match="temperature"):
        build_ssl_model("gru", ["next_item", {"name": "text_alignment", "temperature": 0}])
    with pytest.raises(ConfigError, match="similarity"):
        build_ssl_model("gru", ["next_item", {"name": "text_alignment", "similarity": "l2"}])


def test_info_nce_keys_drop_false_negatives():
    z1, z2 = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(info_nce(z1, z2, 0.5, keys=torch.arange(4)), info_nce(z1, z2, 0.5))
    # a pair duplicated under the same key: with keys, the duplicate is no negative
    a1, a2 = torch.cat([z1, z1[:1]]), torch.cat([z2, z2[:1]])
    keyed = info_nce(a1, a2, 0.5, keys=torch.tensor([0, 1, 2, 3, 0]))
    assert keyed < info_nce(a1, a2, 0.5)


# -- user export ----------------------------------------------------------------------------


def test_user_vectors_match_scores(split):
    batch = all_users(split)
    sasrec = build_preset("bert4rec", encoder=TINY_TRANSFORMER, item_repr="text", **TRAIN).fit(split.train)
    torch.testing.assert_close(
        torch.from_numpy(user_vectors(sasrec, batch)) @ sasrec.item_vectors().T, sasrec.score(batch)
    )
    bpr = BASELINES.build("bpr", epochs=2).fit(split.train)
    cold = Batch(torch.tensor([0, 1]), split.history("test"))
    bpr._train_users[0] = False  # fold user 0 in from its history, as score() does
    torch.testing.assert_close(
        torch.from_numpy(user_vectors(bpr, cold)) @ bpr.module.item.weight.detach().T, bpr.score(cold)
    )
    lm = BASELINES.build("content-lm", text_encoder="tfidf").fit(split.train)
    torch.testing.assert_close(
        torch.from_numpy(user_vectors(lm, batch) @ lm.embeddings.T), lm.score(batch), atol=1e-5, rtol=1e-5
    )
    with pytest.raises(TypeError, match="no user representation"):
        user_vectors(BASELINES.build("pop").fit(split.train), batch)


@pytest.mark.parametrize(
    "make",
    [
        lambda: build_preset("sasrec", encoder=TINY_TRANSFORMER, **{**TRAIN, "epochs": 15}),
        lambda: build_preset("gru4rec", item_repr="id+text", **{**TRAIN, "epochs": 15}),
        lambda: BASELINES.build("content"),
        lambda: BASELINES.build("bpr", epochs=40),
    ],
    ids=["sasrec", "gru4rec-id+text", "content", "bpr"],
)
def test_export_users(make, split, tmp_path):
    model = make().fit(split.train)
    summary = export_users(model, split, "test", tmp_path / "out" / "users.npz", k=2)
    npz, csv = tmp_path / "out" / "users.npz", tmp_path / "out" / "users.csv"
    assert summary["npz"] == str(npz) and summary["csv"] == str(csv)
    assert summary["users"] == 40 and summary["label_column"] == "genres" and summary["labels"] == 2
    assert summary["label_method"] == "model item vectors"
    z = np.load(npz)
    assert z["vectors"].shape == (40, summary["dim"]) and z["vectors"].dtype == np.float32
    np.testing.assert_array_equal(z["user"], np.arange(40))
    assert list(z["raw_id"][:3]) == ["0", "1", "2"]
    df = pd.read_csv(csv, dtype={"raw_id": str})
    assert list(df.columns) == ["user", "raw_id", "label_1", "label_2", "similarity_1", "similarity_2"]
    assert len(df) == 40 and set(df["label_1"]) <= {"Sci-Fi", "Romance"}
    assert (df["similarity_1"] >= df["similarity_2"]).all()
    # planted structure: even users watch Sci-Fi, odd users Romance
    expected = np.where(df["user"] % 2 == 0, "Sci-Fi", "Romance")
    assert (df["label_1"].to_numpy() == expected).mean() >= 0.8


def test_export_fallbacks_and_errors(split, tmp_path):
    class OnlyUsers:
        """A model with user vectors but no item vectors: labels come from item text."""

        name = "only-users"

        def user_vectors(self, batch):
            return torch.ones(len(batch), 3)

    s = export_users(OnlyUsers(), split, "valid", tmp_path / "u", k=1)
    assert s["label_method"].startswith("item text")
    df = pd.read_csv(tmp_path / "u.csv")
    assert (df["label_1"].to_numpy() == np.where(df["user"] % 2 == 0, "Sci-Fi", "Romance")).all()
    with pytest.raises(ValueError, match="path"):
        export_users(OnlyUsers(), split)
    with pytest.raises(TypeError, match="no user representation"):
        export_users(BASELINES.build("pop").fit(split.train), split, "test", tmp_path / "p")
    no_labels = Interactions(split.train.df, 40, 30, items=split.train.items.drop(columns="genres"))
    with pytest.raises(ValueError, match="label column"):
        export_users(OnlyUsers(), SplitData(no_labels, split.valid, split.test), "test", tmp_path / "q")
