"""--device / --precision: devices a machine has, autocast training in bf16, what the record keeps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ssl4rec.registry import ConfigError
from ssl4rec.running.devices import autocast, check_precision, resolve_device
from ssl4rec.running.plan import parse_suite
from ssl4rec.running.runner import Runner


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type in ("cpu", "cuda", "mps")
    with pytest.raises(ConfigError, match="use auto, cpu, cuda, cuda:N or mps"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device on this machine"):
            resolve_device("cuda:0")
    with pytest.raises(ConfigError, match="use fp32, bf16 or fp16"):
        check_precision("fp8", torch.device("cpu"))


def test_autocast_is_a_no_op_in_fp32():
    x = torch.randn(3, 3)
    with autocast(torch.device("cpu"), "fp32"):
        assert (x @ x).dtype == torch.float32
    with autocast(torch.device("cpu"), "bf16"):
        assert (x @ x).dtype == torch.bfloat16


SUITE = {
    "name": "dev",
    "datasets": [{"name": "synthetic", "params": {"n_users": 60, "n_items": 40, "n_interactions": 900}}],
    "splits": ["leave_one_out"],
    "models": [
        {"name": "bpr", "params": {"epochs": 3}},
        {"name": "sasrec", "params": {"epochs": 3, "max_len": 10, "encoder": {"embedding_size": 16, "num_layers": 1}}},
    ],
    "seeds": [0],
}


def _records(out):
    return {
        json.loads(p.read_text())["model"]["label"]: json.loads(p.read_text())
        for p in out.glob("records/**/seed0-*.json")
    }


def test_bf16_training_on_the_cpu(tmp_path):
    suite = parse_suite(SUITE)
    Runner(suite, out=tmp_path / "fp32", device="cpu").run()
    Runner(suite, out=tmp_path / "bf16", device="cpu", precision="bf16").run()
    a, b = _records(tmp_path / "fp32"), _records(tmp_path / "bf16")
    assert set(a) == set(b) == {"bpr", "SASRec"}
    for label in a:
        assert b[label]["status"] == "ok" and b[label]["machine"]["precision"] == "bf16"
        assert a[label]["machine"]["precision"] == "fp32" and a[label]["machine"]["device"] == "cpu"
        assert "deterministic_algorithms" in b[label]["machine"]
        assert all(np.isfinite(b[label]["fit_info"]["losses"]))
        assert abs(b[label]["metrics"]["ndcg@10"] - a[label]["metrics"]["ndcg@10"]) < 0.1
    # autocast casts matrix products: SASRec's attention and softmax run in bf16 (other numbers, close);
    # BPR has only element-wise dot products, which autocast leaves in fp32 (the same numbers)
    assert b["SASRec"]["fit_info"]["losses"] != a["SASRec"]["fit_info"]["losses"]
    assert b["bpr"]["fit_info"]["losses"] == a["bpr"]["fit_info"]["losses"]
