"""SSL models: the encoder x objective cross, presets, scoring edge cases and learning."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

import ssl4rec.ssl  # noqa: F401  (registers augmentations and presets)
from ssl4rec.interactions import Batch, Interactions
from ssl4rec.objectives.base import TrainBatch, TrainData
from ssl4rec.registry import ENCODERS, OBJECTIVES, PRESETS, ConfigError
from ssl4rec.ssl import IncompatibleError, build_preset, build_ssl_model, check_compatible, main_objectives
from ssl4rec.testing import tiny_split

TINY_ENCODER = {
    "gru": {"embedding_size": 16, "hidden_size": 16, "num_layers": 1},
    "transformer": {"embedding_size": 16, "num_layers": 1, "num_heads": 2},
    "vae": {"embedding_size": 16, "hidden_sizes": [32]},
    "lightgcn": {"embedding_size": 16, "num_layers": 2},
}
TINY_TRAIN = {"epochs": 2, "max_len": 10, "batch_size": 16, "seed": 3, "text_encoder": "tfidf"}


def encoder_variants() -> list[tuple[str, dict]]:
    """Every registered encoder with defaults, plus each value of a direction-changing flag."""
    out = []
    for name in ENCODERS.names():
        params = dict(TINY_ENCODER.get(name, {}))
        accepted = ENCODERS.entry(name).accepted_params()
        out.append((name, params))
        for flag in ("causal", "variational"):
            if flag in accepted:
                default = ENCODERS.entry(name).defaults()[flag]
                out.append((name, {**params, flag: not default}))
    return out


def objective_sets() -> list[tuple[str, ...]]:
    """Every single objective, every pair of objectives."""
    names = OBJECTIVES.names()
    return [(n,) for n in names] + list(itertools.combinations(names, 2))


CROSS = [
    pytest.param(
        enc,
        params,
        objs,
        id=f"{enc}{''.join(f'-{k}={v}' for k, v in params.items() if k in ('causal', 'variational'))}:{'+'.join(objs)}",
    )
    for (enc, params), objs in itertools.product(encoder_variants(), objective_sets())
]


@pytest.fixture(scope="module")
def split():
    return tiny_split(attributes=True)  # S3-Rec's objectives read item attributes


def _scores(model, split, users=None) -> torch.Tensor:
    users = torch.arange(split.train.n_users) if users is None else users
    return model.score(Batch(users, split.history("test")))


@pytest.mark.parametrize(("encoder", "params", "objectives"), CROSS)
def test_cross(encoder, params, objectives, split):
    reason = check_compatible(encoder, objectives, params)
    if reason is not None:
        assert isinstance(reason, str) and reason.strip()
        with pytest.raises(IncompatibleError, match=reason.split(";")[0][:20]):
            build_ssl_model({"name": encoder, **params}, list(objectives), **TINY_TRAIN)
        return

    model = build_ssl_model({"name": encoder, **params}, list(objectives), **TINY_TRAIN)
    # one manual step: finite per-objective losses whose gradients reach the encoder
    model.load_text(split.train)  # item text vectors, for objectives that need them (no-op otherwise)
    net = model._build(split.train.n_items, n_users=split.train.n_users)
    gen = torch.Generator().manual_seed(0)
    users = torch.from_numpy(split.train.active_users.astype(np.int64))
    from ssl4rec.encoders.base import Bag

    window = split.train.sequences(users, 11) if model.input_kind == "sequence" else None
    items = None
    if model.input_kind == "graph":  # rows are edges: each user with its first training item
        net.encoder.set_graph(split.train.csr)
        csr = split.train.csr
        items = torch.from_numpy(csr.indices[csr.indptr[users.numpy()]].astype(np.int64))
    batch = TrainBatch(
        users,
        gen,
        net.device,
        window=window,
        bag=Bag.from_csr(split.train.csr[users.numpy()]) if model.input_kind == "bag" else None,
        items=items,
    )
    ends = torch.from_numpy(split.train.indptr[users.numpy() + 1].astype(np.int64))
    data = TrainData(train=split.train, users=users, ends=ends, window=window, generator=gen, max_len=10, items=items)
    for name in objectives:  # the data hooks, as fit calls them (e.g. intents clustered at epoch 0)
        net.objective(name).prepare(net, data)
        net.objective(name).epoch_start(net, 0, data)
    for name in objectives:
        net.zero_grad()
        batch.memo.clear()  # each objective on its own graph (in training they share one step's)
        loss = net.objective(name).loss(net, batch)
        assert loss.ndim == 0 and torch.isfinite(loss), name
        loss.backward()
        grads = [p.grad for p in net.encoder.parameters() if p.grad is not None]
        assert grads and any(float(g.abs().sum()) > 0 for g in grads), f"{name}: no gradient reaches the encoder"

    model.fit(split.train)
    assert all(np.isfinite(model.fit_info["losses"]))
    assert model.fit_info["epochs_run"] == 2
    s1 = _scores(model, split)
    assert s1.shape == (split.train.n_users, split.train.n_items)
    assert s1.dtype == torch.float32 and torch.isfinite(s1).all()

    again = build_ssl_model({"name": encoder, **params}, list(objectives), **TINY_TRAIN).fit(split.train)
    torch.testing.assert_close(_scores(again, split), s1)


def test_cross_covers_named_pairs():
    ids = {p.id for p in CROSS}
    assert "gru:contrastive" in ids
    assert "transformer-causal=False:contrastive+masked_item" in ids


@pytest.mark.parametrize(
    ("encoder", "objectives", "params", "words"),
    [
        ("gru", ["masked_item"], None, ["masked_item", "bidirectional", "gru", "causal"]),
        ("transformer", ["masked_item"], None, ["bidirectional", "causal: false"]),
        ("transformer", ["next_item"], {"causal": False}, ["causal", "causal: true"]),
        ("vae", ["next_item"], None, ["next_item", "sequence", "vae"]),
        ("gru", ["reconstruction"], None, ["bag", "gru"]),
        ("transformer", ["contrastive"], None, ["main objective", "next_item"]),
        ("transformer", ["next_item", "masked_item"], {"causal": True}, ["bidirectional"]),
        ("gru", ["next_item", "next_item"], None, ["twice"]),
    ],
)
def test_incompatible_reasons(encoder, objectives, params, words):
    reason = check_compatible(encoder, objectives, params)
    assert reason is not None
    for w in words:
        assert w in reason, (w, reason)
    with pytest.raises(IncompatibleError):
        build_ssl_model({"name": encoder, **(params or {})}, objectives)
    assert issubclass(IncompatibleError, ValueError)


def test_compatible_pairs():
    assert check_compatible("transformer", ["next_item", "contrastive"]) is None
    assert check_compatible("transformer", ["masked_item", "contrastive"], {"causal": False}) is None
    assert check_compatible("gru", ["next_item", "contrastive"]) is None
    assert check_compatible("vae", ["reconstruction"], {"variational": False}) is None
    assert set(main_objectives()) >= {"next_item", "masked_item", "reconstruction"}


@pytest.mark.parametrize("preset", PRESETS.names())
def test_presets_registered_and_cold_users_score_finite(preset, split):
    entry = PRESETS.entry(preset)
    assert entry.paper and entry.summary and "spec" in entry.meta
    assert "learning_rate" in entry.search_space
    enc = entry.meta["spec"]["encoder"]["name"]
    model = build_preset(preset, encoder=TINY_ENCODER[enc], **{**TINY_TRAIN, "epochs": 1})
    assert model.name == preset
    model.fit(split.train)
    # user 0: one interaction; user 1: none (a cold user with empty history); user 2: long
    df = pd.DataFrame({"user": [0] + [2] * 30, "item": [3] + list(range(30)), "rating": 1.0, "timestamp": range(31)})
    hist = Interactions(df, 3, split.train.n_items)
    s = model.score(Batch(torch.tensor([0, 1, 2]), hist))
    assert s.shape == (3, split.train.n_items) and torch.isfinite(s).all()


def test_preset_overrides():
    m = build_preset("cl4srec", epochs=3, encoder={"dropout": 0.1}, objectives={"contrastive": {"temperature": 0.5}})
    spec = m.spec()
    assert spec["epochs"] == 3 and spec["encoder"]["dropout"] == 0.1 and spec["encoder"]["causal"] is True
    contrastive = next(o for o in spec["objectives"] if o["name"] == "contrastive")
    assert contrastive["temperature"] == 0.5 and contrastive["objective_weight"] == 0.1
    dotted = build_preset("cl4srec", **{"encoder.num_layers": 1, "objectives.contrastive.objective_weight": 0.3})
    assert dotted.spec()["encoder"]["num_layers"] == 1
    assert next(o for o in dotted.spec()["objectives"] if o["name"] == "contrastive")["objective_weight"] == 0.3
    assert "objectives.contrastive.temperature" in PRESETS.entry("cl4srec").search_space
    assert "encoder.num_heads" in PRESETS.entry("sasrec").search_space

    with pytest.raises(ConfigError, match="learning_rate"):
        build_preset("sasrec", learning_rat=0.1)
    with pytest.raises(ConfigError, match="num_heads"):
        build_preset("sasrec", encoder={"num_head": 4})
    with pytest.raises(ConfigError, match="contrastive"):
        build_preset("cl4srec", objectives={"contrastiv": {}})
    with pytest.raises(ConfigError, match="temperature"):
        build_preset("cl4srec", objectives={"contrastive": {"temprature": 0.2}})
    with pytest.raises(ConfigError):
        build_ssl_model("gru", [{"name": "next_item", "loss": "hinge"}])
    with pytest.raises(ConfigError, match="joint"):
        build_ssl_model("gru", ["next_item"], schedule="jiont")


def test_component_spec_forms():
    a = build_ssl_model({"name": "transformer", "params": {"num_layers": 1}}, [{"name": "next_item"}])
    b = build_ssl_model({"name": "transformer", "num_layers": 1}, "next_item")
    assert a.spec() == b.spec()


def test_truncation_from_the_left(split):
    hist = split.history("test")
    users = torch.arange(4)
    full = hist.sequences(users, 20)
    short = hist.sequences(users, 3)
    assert short.shape == (4, 3)
    torch.testing.assert_close(short, full[:, -3:])  # the most recent items are kept
    assert (full[:, :-7] == 0).all() and (full[:, -7:] > 0).all()  # 7 items per user, left-padded

    model = build_preset("sasrec", encoder=TINY_ENCODER["transformer"], **{**TINY_TRAIN, "max_len": 4, "epochs": 1})
    model.fit(split.train)
    # scoring a long history == scoring only its last max_len items
    df = hist.df[hist.df["user"] < 4]
    last = df.groupby("user").tail(4)
    s_long = model.score(Batch(users, Interactions(df, 4, hist.n_items)))
    s_cut = model.score(Batch(users, Interactions(last, 4, hist.n_items)))
    torch.testing.assert_close(s_long, s_cut)


@pytest.mark.parametrize("preset", ["gru4rec", "sasrec", "bert4rec"])
def test_scores_do_not_depend_on_batch_padding(preset, split):
    """Batches are trimmed to their longest row; a short user's scores must not depend on batch mates."""
    enc = PRESETS.entry(preset).meta["spec"]["encoder"]["name"]
    model = build_preset(preset, encoder=TINY_ENCODER[enc], **{**TINY_TRAIN, "epochs": 1})
    model.fit(split.train)
    df = pd.DataFrame(
        {"user": [0, 0, 1, 1, 1, 1, 1], "item": [1, 2, 5, 6, 7, 8, 9], "rating": 1.0, "timestamp": range(7)}
    )
    hist = Interactions(df, 2, split.train.n_items)
    alone = model.score(Batch(torch.tensor([0]), hist))
    together = model.score(Batch(torch.tensor([0, 1]), hist))[:1]
    torch.testing.assert_close(alone, together)


def hit_rate(scores: torch.Tensor, history: Interactions, users: np.ndarray, targets: np.ndarray, k: int) -> float:
    """HR@k with the user's known history excluded from the ranking."""
    s = scores.clone()
    known = history.csr[users]
    rows = np.repeat(np.arange(len(users)), np.diff(known.indptr))
    s[torch.from_numpy(rows), torch.from_numpy(known.indices.astype(np.int64))] = -torch.inf
    top = s.topk(k, dim=1).indices.numpy()
    return float(np.mean([t in row for t, row in zip(targets, top, strict=True)]))


def test_sasrec_learns_planted_order(split):
    model = build_preset(
        "sasrec",
        encoder={"embedding_size": 32, "num_layers": 1, "num_heads": 2, "dropout": 0.1},
        epochs=60,
        max_len=10,
        batch_size=64,
        learning_rate=5e-3,
        seed=0,
    )
    model.fit(split.train)
    test = split.test.sort_values("user")
    users = test["user"].to_numpy()
    hist = split.history("test")
    scores = model.score(Batch(torch.from_numpy(users.astype(np.int64)), hist))
    hr = hit_rate(scores, hist, users, test["item"].to_numpy(), k=5)
    # random HR@5 ranks 5 of the 23 unseen items: ~0.22; the next item is determined by the last one
    assert hr >= 0.8, hr


class _Validator:
    metric = "hr@5"

    def __init__(self, split):
        self.split = split
        self.calls: list[tuple[int, float]] = []

    def evaluate(self, model) -> float:
        valid = self.split.valid.sort_values("user")
        users = valid["user"].to_numpy()
        hist = self.split.history("valid")
        s = model.score(Batch(torch.from_numpy(users.astype(np.int64)), hist))
        return hit_rate(s, hist, users, valid["item"].to_numpy(), 5)

    def report(self, epoch, value, logs=None) -> None:
        self.calls.append((epoch, value))


def test_validation_and_pretrain_finetune(split):
    valid = _Validator(split)
    model = build_preset(
        "cl4srec",
        encoder=TINY_ENCODER["transformer"],
        schedule="pretrain_finetune",
        pretrain_epochs=2,
        **{**TINY_TRAIN, "epochs": 3},
    )
    model.fit(split.train, valid)
    info = model.fit_info
    assert info["pretrain"]["epochs_run"] == 2 and info["pretrain"]["objectives"] == ["contrastive"]
    assert info["objectives"] == ["next_item"]
    assert len(valid.calls) == 3 and info["best_epoch"] >= 0
    with pytest.raises(IncompatibleError, match="pretrain_finetune"):  # the runner records n/a
        build_preset("sasrec", schedule="pretrain_finetune")


def test_build_and_fit_do_not_touch_global_rng(split):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_preset("cl4srec", encoder=TINY_ENCODER["transformer"], **{**TINY_TRAIN, "epochs": 1}).fit(split.train)
    build_ssl_model("vae", ["reconstruction"], max_len=5)
    torch.testing.assert_close(torch.rand(3), expected)


def test_runner_helpers():
    from ssl4rec.ssl import component_versions, resolved_config

    m = build_preset("cl4srec", seed=5)
    cfg = resolved_config(m)
    assert cfg["seed"] == 5 and cfg["schedule"] == "joint" and cfg["encoder"]["name"] == "transformer"
    versions = component_versions(m)
    assert {"encoder.transformer", "objective.next_item", "objective.contrastive", "augmentation.crop"} <= set(versions)
    assert PRESETS.entry("multvae").meta["display"] == "Mult-VAE"
    # the runner's cross form: {"name": ..., "params": {...}}
    x = build_ssl_model({"name": "gru", "params": {}}, [{"name": "next_item", "params": {"loss": "bpr"}}], seed=1)
    assert x.spec()["objectives"][0]["loss"] == "bpr"


def test_objective_metadata_is_consistent():
    for entry in OBJECTIVES.list():
        assert tuple(entry.requires) == tuple(entry.obj.requires), entry.name
        assert entry.config is entry.obj.Config, entry.name
    for entry in ENCODERS.list():
        assert entry.config is entry.obj.Config, entry.name
        assert entry.obj.input in ("sequence", "bag", "graph")


def test_bad_encoder_options_fail_at_build():
    with pytest.raises(ConfigError, match="num_heads"):
        build_preset("sasrec", encoder={"embedding_size": 30, "num_heads": 4})
    with pytest.raises(ConfigError, match="hidden_sizes"):
        build_preset("multvae", encoder={"hidden_sizes": []})


@pytest.mark.parametrize("encoder", ["transformer", "gru"])
def test_contrastive_flattened_views(encoder, split):
    """view_repr='flatten' (the authors' code) trains: finite, changing losses; a typo is a clear error."""
    objectives = ["next_item", {"name": "contrastive", "view_repr": "flatten", "objective_weight": 0.5}]
    model = build_ssl_model({"name": encoder, **TINY_ENCODER[encoder]}, objectives, **{**TINY_TRAIN, "epochs": 3})
    model.fit(split.train)
    losses = [o["contrastive"] for o in model.fit_info["objective_losses"]]
    assert all(np.isfinite(losses)) and losses[0] != losses[-1]
    assert torch.isfinite(_scores(model, split)).all()
    with pytest.raises(ConfigError, match="flatten"):
        build_ssl_model("transformer", ["next_item", {"name": "contrastive", "view_repr": "flaten"}])


@pytest.mark.parametrize("encoder", ["transformer", "gru"])
def test_contrastive_mask_with_padding(encoder, split):
    """mask_value='padding' (the authors' code) trains and differs from the mask token; a typo is a clear error."""
    def fit(value: str):
        objectives = ["next_item", {"name": "contrastive", "mask_value": value, "augmentations": ["mask"], "objective_weight": 0.5}]
        return build_ssl_model({"name": encoder, **TINY_ENCODER[encoder]}, objectives, **{**TINY_TRAIN, "epochs": 2}).fit(split.train)

    pad, tok = fit("padding"), fit("token")
    losses = [o["contrastive"] for o in pad.fit_info["objective_losses"]]
    assert all(np.isfinite(losses))
    assert losses != [o["contrastive"] for o in tok.fit_info["objective_losses"]]
    assert torch.isfinite(_scores(pad, split)).all()
    with pytest.raises(ConfigError, match="mask_value"):
        build_ssl_model("transformer", ["next_item", {"name": "contrastive", "mask_value": "zero"}])


def test_windows_cover_every_target_once():
    """Interactions.windows: hand-checked windows; every interaction after a user's first is a
    next-item target (positions 1.. of a window) exactly once."""
    # user 0: items 0..6 (7 items), user 1: one item, user 2: items 10..13 (4 items)
    df = pd.DataFrame(
        {
            "user": [0] * 7 + [1] + [2] * 4,
            "item": [*range(7), 9, *range(10, 14)],
            "rating": 1.0,
            "timestamp": range(12),
        }
    )
    inter = Interactions(df, 3, 14)
    rows, win = inter.windows(np.array([0, 1, 2]), 3)  # width 3 = max_len 2 + 1 target shift
    # items are +1 shifted, 0 = padding; user 0: ends at 7, 5, 3 (stride 2): [5,6,7], [3,4,5], [1,2,3]
    assert rows.tolist() == [0, 0, 0, 1, 2, 2]
    assert win.tolist() == [[5, 6, 7], [3, 4, 5], [1, 2, 3], [0, 0, 10], [12, 13, 14], [0, 11, 12]]
    for u in (0, 2):
        targets = [int(t) for w in win[rows == u] for prev, t in zip(w[:-1], w[1:], strict=True) if prev > 0]
        assert sorted(targets) == sorted(int(i) + 1 for i in inter.user_items(u)[1:])  # each target once
    torch.testing.assert_close(win[rows == 0][0], inter.sequences(np.array([0]), 3)[0])  # first window = "last"


def test_train_windows_all_trains_on_more_rows(split):
    """train_windows='all' feeds every window of long histories; 'last' one row per user; a typo is an error."""
    params = {**TINY_TRAIN, "max_len": 3, "epochs": 1}
    last = build_preset("sasrec", encoder=TINY_ENCODER["transformer"], **params).fit(split.train)
    every = build_preset("sasrec", encoder=TINY_ENCODER["transformer"], train_windows="all", **params).fit(split.train)
    n_users = len(split.train.active_users)
    assert last.fit_info["examples_per_epoch"] == n_users
    assert every.fit_info["examples_per_epoch"] > n_users
    assert torch.isfinite(_scores(every, split)).all()
    assert not torch.equal(_scores(every, split), _scores(last, split))
    with pytest.raises(ConfigError, match="train_windows"):
        build_preset("sasrec", train_windows="everything")
