"""Image (or any precomputed) item vectors: item_features files keyed by raw id, and image item reprs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ssl4rec.datasets import DataError, load_dataset
from ssl4rec.interactions import Batch, Interactions
from ssl4rec.objectives.base import IncompatibleError
from ssl4rec.registry import ConfigError
from ssl4rec.ssl import build_ssl_model
from ssl4rec.testing import tiny_split

SYN = {"n_users": 30, "n_items": 20, "n_interactions": 300}


def _npz(path, ids, vectors):
    np.savez(path, ids=np.asarray(ids), vectors=np.asarray(vectors, dtype=np.float32))
    return path


def test_vectors_attach_by_raw_id_with_missing_and_unknown_rows(tmp_path):
    ds0 = load_dataset("synthetic", data_dir=tmp_path, **SYN)
    raw = ds0.items["raw_id"].tolist()
    ids = raw[:-2] + ["not-an-item"]  # the last two items have no vector; one row is for no item
    vectors = np.arange(len(ids) * 3, dtype=np.float32).reshape(-1, 3)
    _npz(tmp_path / "img.npz", ids, vectors)
    ds = load_dataset("synthetic", data_dir=tmp_path, item_features={"image": "img.npz"}, **SYN)
    col = ds.items["image"].tolist()
    assert col[0].tolist() == [0.0, 1.0, 2.0] and col[-1] is None and col[-2] is None
    info = ds.info["item_features"]["image"]
    assert (info["dim"], info["items_without"], info["unknown_ids"]) == (3, 2, 1)
    assert ds.info["source_files"]["item_features/image"] == info["sha256"]
    pd.DataFrame({"item_id": raw, "vector": [[float(i), 0.0] for i in range(len(raw))]}).to_parquet(
        tmp_path / "img.parquet"
    )
    ds = load_dataset("synthetic", data_dir=tmp_path, item_features={"image": str(tmp_path / "img.parquet")}, **SYN)
    assert ds.items["image"].iloc[3].tolist() == [3.0, 0.0]


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda p: _npz(p / "f.npz", ["1", "2"], np.ones((3, 2))), DataError, "2 ids but vectors of shape (3, 2)"),
        (lambda p: _npz(p / "f.npz", ["1", "2"], [[1.0, np.nan], [0.0, 1.0]]), DataError, "row 1 (item 1)"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", DataError, "not .txt"),
        (lambda p: p / "absent.npz", DataError, "no file"),
    ],
)
def test_bad_feature_files_are_refused(tmp_path, make, error, words):
    path = make(tmp_path)
    with pytest.raises(error) as err:
        load_dataset("synthetic", data_dir=tmp_path, item_features={"image": str(path)}, **SYN)
    assert words in str(err.value)
    with pytest.raises(ConfigError, match="unknown kind 'audio'"):
        load_dataset("synthetic", data_dir=tmp_path, item_features={"audio": str(path)}, **SYN)


ENC = {"name": "transformer", "embedding_size": 16, "num_layers": 1, "num_heads": 2}
TRAIN = {"max_len": 8, "batch_size": 16, "epochs": 2, "seed": 1, "device": "cpu", "text_encoder": "tfidf"}


@pytest.mark.parametrize("repr_", ["image", "id+image", "id+text+image"])
def test_image_reprs_score_cold_items(repr_):
    split = tiny_split()
    train = split.train
    items = train.items.copy()
    rng = np.random.default_rng(0)
    items["image"] = [rng.normal(size=6).astype(np.float32) for _ in range(train.n_items)]
    items.loc[items.index[0], "image"] = None  # one item without an image: zeros
    cold = train.n_items - 1
    df = train.df[train.df["item"] != cold]
    train = Interactions(df, train.n_users, train.n_items, items=items, users=train.users)
    model = build_ssl_model(ENC, ["next_item"], item_repr=repr_, **TRAIN).fit(train)
    scores = model.score(Batch(torch.arange(train.n_users), split.history("test")))
    assert torch.isfinite(scores).all() and model.can_score_cold_items
    assert model.record_extra()["item_images"] == {"dim": 6, "items_without": 1}


def test_image_repr_is_na_without_images():
    split = tiny_split()
    with pytest.raises(IncompatibleError, match="needs item image vectors"):
        build_ssl_model(ENC, ["next_item"], item_repr="image", **TRAIN).fit(split.train)


def test_suites_take_item_features(tmp_path):
    from ssl4rec.datasets.pipeline import check_dataset_spec

    check_dataset_spec("synthetic", {**SYN, "item_features": {"image": "img.npz"}})
    with pytest.raises(ConfigError, match="item_features must map image"):
        check_dataset_spec("synthetic", {**SYN, "item_features": {"audio": "a.npz"}})
