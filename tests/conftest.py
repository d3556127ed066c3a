"""Shared fixtures: a seeded rng, tiny in-code data, and the real datasets from $SSL4REC_DATA."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ssl4rec.testing import tiny_split

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path | None:
    """$SSL4REC_DATA, or ../shared/data beside the repo, when it exists."""
    env = os.environ.get("SSL4REC_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand.resolve()
    return None


@pytest.fixture(autouse=True)
def _no_pretraining_cache(monkeypatch):
    """Tests never read or write the user's pretraining cache; tests/test_s3rec.py turns it on in a tmp folder."""
    monkeypatch.setenv("SSL4REC_PRETRAIN_CACHE", "off")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture
def tiny():
    return tiny_split()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = shared_data()
    if d is None:
        pytest.skip("real data not available: set SSL4REC_DATA")
    return d


@pytest.fixture(scope="session")
def ml100k(data_dir):
    from ssl4rec.datasets import load_dataset

    if not (data_dir / "ml-100k" / "u.data").exists():
        pytest.skip("ml-100k not in SSL4REC_DATA")
    return load_dataset("ml-100k", data_dir=data_dir)
