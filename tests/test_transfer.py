"""Transfer through item text (``transfer`` in a model's parameters): source training, carrying the
network to unseen items, zero-shot and fine-tuned cells, and the refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from ssl4rec.registry import ConfigError
from ssl4rec.running.plan import load_suite
from ssl4rec.running.runner import Runner
from ssl4rec.text import build_text_encoder

SOURCE = {
    "name": "synthetic",
    "params": {"n_users": 300, "n_items": 300, "n_interactions": 6000, "n_clusters": 10, "affinity": 0.9, "seed": 1},
}
TARGET = {
    "name": "synthetic",
    "params": {"n_users": 200, "n_items": 300, "n_interactions": 4000, "n_clusters": 10, "affinity": 0.9, "seed": 2},
}
TEXT = {"item_repr": "text", "text_encoder": "hashing", "epochs": 15, "patience": 15, "max_len": 20}


def _suite(tmp_path, models, datasets=None):
    suite = {
        "name": "transfer",
        "datasets": datasets or [{**TARGET, "label": "target"}],
        "splits": ["leave_one_out"],
        "models": models,
        "seeds": [0],
        "evaluation": {"ks": [10], "candidates": "full", "mask_history": True},
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def _ndcg(out, label):
    recs = list((out / "records").rglob("*.json"))
    for p in recs:
        r = json.loads(p.read_text())
        if r["model"]["label"] == label:
            return r
    raise AssertionError(f"no record of {label}: {[p.name for p in recs]}")


def test_hashing_text_encoder_is_corpus_independent():
    enc = build_text_encoder("hashing")
    a = enc.encode(["space robots", "love story"])
    b = enc.encode(["love story", "galaxy", "space robots"])
    assert np.allclose(a[0], b[2]) and np.allclose(a[1], b[0])
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)


def test_zero_shot_and_finetuned_transfer_through_text(tmp_path):
    source = {"source": {**SOURCE, "label": "source"}}
    models = [
        {"name": "random"},
        {"name": "sasrec", "label": "zero-shot", "params": {**TEXT, "transfer": {**source, "mode": "zero_shot"}}},
        {"name": "sasrec", "label": "fine-tuned", "params": {**TEXT, "transfer": {**source, "mode": "finetune"}}},
    ]
    out = tmp_path / "out"
    outcomes = Runner(load_suite(_suite(tmp_path, models)), out=out).run()
    assert [o.status for o in outcomes] == ["ok"] * 3, outcomes
    zero, tuned = _ndcg(out, "zero-shot"), _ndcg(out, "fine-tuned")
    rand = _ndcg(out, "random")
    info = zero["fit_info"]["transfer"]
    assert info["mode"] == "zero_shot" and info["source"]["label"] == "source"
    assert info["source_fit"]["epochs_run"] >= 1 and info["carried"]["carried"] > 0
    assert zero["fit_info"]["epochs"] == 0  # no training on the target
    assert tuned["fit_info"]["epochs_run"] >= 1 and tuned["fit_info"]["transfer"]["mode"] == "finetune"
    # the planted text (each item names its cluster) carries over: zero-shot beats chance on items it never saw
    assert zero["metrics"]["ndcg@10"] > 2 * rand["metrics"]["ndcg@10"], (zero["metrics"], rand["metrics"])
    assert tuned["metrics"]["ndcg@10"] > zero["metrics"]["ndcg@10"]  # and training on the target adds to it
    assert zero["model"]["params"]["transfer"]["mode"] == "zero_shot"  # the record shows where it came from


def test_transfer_from_the_target_itself_is_na(tmp_path):
    models = [
        {"name": "sasrec", "label": "self", "params": {**TEXT, "transfer": {"source": TARGET, "mode": "zero_shot"}}}
    ]
    out = tmp_path / "out"
    (outcome,) = Runner(load_suite(_suite(tmp_path, models, [TARGET])), out=out).run()
    assert outcome.status == "n/a"
    assert "is this cell's dataset" in json.loads(next((out / "records").rglob("*.json")).read_text())["reason"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {**TEXT, "transfer": {"source": "amazon-beauty", "mode": "zero_shot"}},
            "source dataset 'amazon-beauty' has no item text",
        ),
        ({**TEXT, "transfer": {"source": "synthetic", "mode": "few_shot"}}, "mode 'few_shot' is not one of"),
        ({**TEXT, "transfer": {"mode": "zero_shot"}}, "'source' is missing"),
        ({**TEXT, "transfer": {"source": "synthetic", "mode": "zero_shot", "split": "random"}}, None),
        (
            {**TEXT, "item_repr": "id+text", "transfer": {"source": "synthetic", "mode": "zero_shot"}},
            "zero_shot needs item_repr 'text'",
        ),
        (
            {**TEXT, "item_repr": "id", "transfer": {"source": "synthetic", "mode": "finetune"}},
            "needs a text item representation",
        ),
        ({**TEXT, "text_encoder": "tfidf", "transfer": {"source": "synthetic", "mode": "finetune"}}, "not comparable"),
        (
            {**TEXT, "transfer": {"source": {"name": "synthetic", "params": {"n_userz": 3}}, "mode": "finetune"}},
            "n_userz",
        ),
    ],
)
def test_bad_transfer_blocks_are_refused_before_anything_runs(tmp_path, params, message):
    path = _suite(tmp_path, [{"name": "sasrec", "label": "t", "params": params}])
    if message is None:
        load_suite(path)  # a valid block (the split is any registered split)
        return
    with pytest.raises(ConfigError, match=message):
        load_suite(path)


def test_a_target_without_text_is_refused(tmp_path):
    models = [
        {"name": "sasrec", "label": "t", "params": {**TEXT, "transfer": {"source": "synthetic", "mode": "zero_shot"}}}
    ]
    path = _suite(tmp_path, models, [{"name": "amazon-beauty"}])
    with pytest.raises(ConfigError, match="dataset 'amazon-beauty' has none"):
        load_suite(path)


def test_transfer_to_carries_every_catalogue_free_weight_and_fine_tuning_starts_there():
    import torch

    from ssl4rec.datasets import load_dataset
    from ssl4rec.evaluation.splits import make_split
    from ssl4rec.ssl import build_ssl_model

    src = make_split(load_dataset("synthetic", **SOURCE["params"]), "leave_one_out").train
    tgt = make_split(load_dataset("synthetic", **TARGET["params"]), "leave_one_out").train
    model = build_ssl_model("transformer", ["next_item"], item_repr="id+text", text_encoder="hashing", epochs=2, seed=0)
    model.fit(src)
    trained = {k: v.clone() for k, v in model.net.state_dict().items()}
    model.transfer_to(tgt)
    after = model.net.state_dict()
    assert model.transfer_info["left"] == ["encoder.item_embedding.table.weight"]  # the only catalogue-sized table
    for k, v in after.items():
        if k in model.transfer_info["left"]:  # same size here (300 items each), fresh all the same
            assert v.shape == trained[k].shape and not torch.equal(v, trained[k])
        else:
            assert torch.equal(v, trained[k]), k
    model.config.learning_rate = 1e-12  # fine-tuning that cannot move: the weights stay the carried ones
    model.config.epochs = 1
    model.fit(tgt)
    tuned = model.net.state_dict()
    assert torch.allclose(tuned["encoder.blocks.0.qkv.weight"], trained["encoder.blocks.0.qkv.weight"], atol=1e-6)


def test_the_source_phase_is_shared_by_modes_and_targets_through_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL4REC_PRETRAIN_CACHE", "on")
    monkeypatch.setenv("SSL4REC_CACHE", str(tmp_path / "cache"))
    source = {"source": {**SOURCE, "label": "source"}}
    models = [
        {
            "name": "sasrec",
            "label": "zero-shot",
            "params": {**TEXT, "epochs": 3, "transfer": {**source, "mode": "zero_shot"}},
        },
        {
            "name": "sasrec",
            "label": "fine-tuned",
            "params": {**TEXT, "epochs": 3, "transfer": {**source, "mode": "finetune"}},
        },
    ]
    other = {**TARGET, "label": "other", "params": {**TARGET["params"], "seed": 3}}
    out = tmp_path / "out"
    outcomes = Runner(load_suite(_suite(tmp_path, models, [{**TARGET, "label": "target"}, other])), out=out).run()
    assert [o.status for o in outcomes] == ["ok"] * 4
    recs = [json.loads(p.read_text()) for p in sorted((out / "records").rglob("*.json"))]
    caches = [r["fit_info"]["transfer"]["source_cache"] for r in recs]
    assert len({c["key"] for c in caches}) == 1 and sum(not c["hit"] for c in caches) == 1  # trained once
    assert len({json.dumps(r["fit_info"]["transfer"]["source_fit"], sort_keys=True) for r in recs}) == 1
    # the cached source phase gives the zero-shot cell bit for bit what training it again gives
    monkeypatch.setenv("SSL4REC_PRETRAIN_CACHE", "off")
    again = tmp_path / "again"
    Runner(load_suite(_suite(tmp_path, models[:1], [other])), out=again).run()
    fresh = json.loads(next((again / "records").rglob("*.json")).read_text())
    cached = next(r for r in recs if r["model"]["label"] == "zero-shot" and r["dataset"]["label"] == "other")
    assert fresh["metrics"] == cached["metrics"]


def test_a_checkpointed_transfer_cell_leaves_no_checkpoints(tmp_path):
    source = {"source": {**SOURCE, "label": "source"}}
    models = [{"name": "sasrec", "label": "ft", "params": {**TEXT, "epochs": 2, "transfer": {**source, "mode": "finetune"}}}]
    out = tmp_path / "out"
    (outcome,) = Runner(load_suite(_suite(tmp_path, models)), out=out, checkpoint_every=1).run()
    assert outcome.status == "ok"
    assert not list(out.rglob("*.ckpt.pt")) and not list(out.rglob("*.progress"))
