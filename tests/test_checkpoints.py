"""Training checkpoints: a cell killed mid-way resumes from its last checkpoint and ends bit for bit
where an uninterrupted run ends (CPU), for BPR and SSL models with per-epoch state."""

from __future__ import annotations

import json

import pytest
import torch

from ssl4rec.baselines import BPR
from ssl4rec.evaluation.evaluator import Protocol, RankingValidator
from ssl4rec.interactions import Batch
from ssl4rec.recommender import Checkpointer
from ssl4rec.running.plan import parse_suite
from ssl4rec.running.runner import Runner
from ssl4rec.ssl import build_ssl_model
from ssl4rec.testing import tiny_split

SPLIT = tiny_split(n_users=40, n_items=30, per_user=9)
ENC = {"name": "transformer", "embedding_size": 16, "num_layers": 1, "num_heads": 2}
TRAIN = {"max_len": 8, "batch_size": 16, "seed": 5, "device": "cpu", "epochs": 6, "patience": 10}


class Killed(Exception):
    """Stands for the process being killed in the middle of an epoch's validation."""


def _models():
    return {
        "bpr": lambda: BPR(epochs=6, embedding_size=8, batch_size=64, seed=3, patience=10),
        "sasrec+contrastive": lambda: build_ssl_model(ENC, ["next_item", "contrastive"], **TRAIN),
        "iclrec (re-cluster every 2)": lambda: build_ssl_model(
            ENC,
            ["next_item", "contrastive", {"name": "intent_contrastive", "num_intents": 4, "cluster_every": 2}],
            **TRAIN,
        ),
        "gru4rec": lambda: build_ssl_model(
            {"name": "gru", "embedding_size": 16, "hidden_size": 16}, ["next_item"], **TRAIN
        ),
    }


def _fit(make, checkpointer=None, kill_at=None):
    def report(epoch, value, logs):
        if kill_at is not None and epoch == kill_at:
            raise Killed(epoch)

    valid = RankingValidator(SPLIT, Protocol(ks=(5,), metrics=("ndcg",), valid_metric="ndcg@5"), callbacks=[report])
    model = make()
    if checkpointer is not None:
        model.checkpointer = checkpointer
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model.fit(SPLIT.train, valid)
    return model, model.score(Batch(torch.arange(SPLIT.train.n_users), SPLIT.history("test")))


@pytest.mark.parametrize("name", list(_models()))
def test_killed_fit_resumes_bit_for_bit(name, tmp_path):
    make = _models()[name]
    whole, want = _fit(make)
    ck = Checkpointer(tmp_path / "seed0-x", every=1)
    with pytest.raises(Killed):
        _fit(make, ck, kill_at=4)  # killed while validating epoch 4: epoch 3's checkpoint is the last
    progress = json.loads(ck.progress_path.read_text())
    assert progress["epochs_done"] == 3 and [e for e, _ in progress["valid"]] == [1, 2, 3]
    resumed, got = _fit(make, ck)
    assert torch.equal(got, want)  # the same final model as without the kill
    assert resumed.fit_info["resumed_from"] == [3]
    assert (
        resumed.fit_info["losses"] == whole.fit_info["losses"] and resumed.fit_info["valid"] == whole.fit_info["valid"]
    )
    assert resumed.fit_info["best_epoch"] == whole.fit_info["best_epoch"]


def test_damaged_checkpoint_trains_from_the_start(tmp_path, caplog):
    make = _models()["bpr"]
    _, want = _fit(make)
    ck = Checkpointer(tmp_path / "seed0-x", every=2)
    with pytest.raises(Killed):
        _fit(make, ck, kill_at=5)
    (path,) = tmp_path.glob("*.ckpt.pt")
    path.write_bytes(b"not a checkpoint")
    with caplog.at_level("WARNING"):
        model, got = _fit(make, ck)
    assert "unreadable checkpoint" in caplog.text and "resumed_from" not in model.fit_info
    assert torch.equal(got, want)


class _KillOnce:
    """A tracker whose cell callback kills the first attempt of a cell at one epoch."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.fired = epoch, False

    def cell_callbacks(self, cell_id, record):
        def cb(epoch, value, logs):
            if not self.fired and epoch == self.epoch:
                self.fired = True
                raise Killed(epoch)

        return [cb]

    def cell_finished(self, cell_id, record):
        pass


def test_runner_retry_resumes_and_writes_the_same_record(tmp_path):
    suite = parse_suite(
        {
            "name": "ck",
            "datasets": [{"name": "synthetic", "params": {"n_users": 60, "n_items": 40, "n_interactions": 900}}],
            "splits": ["leave_one_out"],
            "models": [
                {
                    "name": "sasrec",
                    "params": {
                        "epochs": 5,
                        "batch_size": 32,
                        "max_len": 10,
                        "encoder": {"embedding_size": 16, "num_layers": 1},
                    },
                }
            ],
            "seeds": [0],
        }
    )
    Runner(suite, out=tmp_path / "whole").run()
    out = tmp_path / "killed"
    tracker = _KillOnce(3)
    outcomes = Runner(suite, out=out, trackers=[tracker], checkpoint_every=1).run()
    assert [o.status for o in outcomes] == ["failed"]
    assert list(out.glob("records/**/*.ckpt.pt")) and list(out.glob("records/**/*.progress"))
    assert not list(out.glob("records/**/*.json"))  # no record from the killed attempt
    outcomes = Runner(suite, out=out, trackers=[tracker], checkpoint_every=1).run()  # the retry
    assert [o.status for o in outcomes] == ["ok"]
    assert not list(out.glob("records/**/*.ckpt.pt")) and not list(out.glob("records/**/*.progress"))
    (a,) = [json.loads(p.read_text()) for p in (tmp_path / "whole").glob("records/**/seed0-*.json")]
    (b,) = [json.loads(p.read_text()) for p in out.glob("records/**/seed0-*.json")]
    assert a["metrics"] == b["metrics"] and b["fit_info"]["resumed_from"] == [2]
    # fit time across processes: the killed attempt's loop up to its last checkpoint, then the retry's
    from ssl4rec.reporting.records import RunRecord

    whole, retried = RunRecord.from_dict(a), RunRecord.from_dict(b)
    first, last = b["fit_info"]["segment_seconds"]
    assert 0 < first and 0 < last <= b["fit_seconds"]
    assert retried.resumed and retried.fit_seconds_total == pytest.approx(b["fit_seconds"] + first)
    assert not whole.resumed and whole.fit_seconds_total == a["fit_seconds"]
    assert len(a["fit_info"]["segment_seconds"]) == 1
    # a record written before segment times: the earlier epochs' seconds stand in for the earlier process
    old = dict(b, fit_info={k: v for k, v in b["fit_info"].items() if k != "segment_seconds"})
    epochs = b["fit_info"]["epoch_seconds"]
    assert RunRecord.from_dict(old).fit_seconds_total == pytest.approx(b["fit_seconds"] + sum(epochs[:2]))
