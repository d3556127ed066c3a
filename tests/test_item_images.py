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


class _FakeClip:
    """Stands in for a CLIP image tower: a vector from each image's mean colour (no model offline)."""

    name = "fake"

    def encode(self, files):
        from PIL import Image

        out = []
        for f in files:
            with Image.open(f) as im:
                out.append(np.asarray(im.convert("RGB"), dtype=np.float32).mean((0, 1)) / 255.0)
        return np.stack(out)


def _images(folder, raw_ids, suffix=".png"):
    from PIL import Image

    folder.mkdir(exist_ok=True)
    for k, rid in enumerate(raw_ids):
        Image.new("RGB", (4, 4), (10 * k % 255, 100, 200)).save(folder / f"{rid}{suffix}")


def test_a_folder_of_item_images_becomes_item_features(tmp_path):
    from ssl4rec.datasets.images import embed_item_images

    ds = load_dataset("synthetic", data_dir=tmp_path, **SYN)
    raw = ds.items["raw_id"].tolist()
    _images(tmp_path / "img", raw[:5])
    _images(tmp_path / "img", raw[5:8], suffix=".JPG")  # any case of a known suffix
    info = embed_item_images(ds.items, tmp_path / "img", _FakeClip(), tmp_path / "vec.npz")
    assert (info["items"], info["images"], info["missing"], info["dim"]) == (len(raw), 8, len(raw) - 8, 3)
    with_images = load_dataset("synthetic", data_dir=tmp_path, item_features={"image": "vec.npz"}, **SYN)
    col = with_images.items["image"].tolist()
    assert np.allclose(col[1], [10 / 255, 100 / 255, 200 / 255]) and col[9] is None
    assert with_images.info["item_features"]["image"]["items_without"] == len(raw) - 8


def test_data_images_refuses_in_one_line_and_writes_nothing(tmp_path, caplog, monkeypatch):
    import logging

    from ssl4rec import cli

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ds = load_dataset("synthetic", data_dir=tmp_path, **SYN)
    _images(tmp_path / "img", ds.items["raw_id"].tolist()[:3])
    base = ["data", "images", "synthetic", "--data", str(tmp_path)] + [f"--param={k}={v}" for k, v in SYN.items()]
    cases = [
        (["--images", str(tmp_path / "img"), "--to", str(tmp_path / "v.npz"), "--model", "clip:/no/such/clip"], ["clip:/no/such/clip", "could not load"]),
        (["--images", str(tmp_path / "img"), "--to", str(tmp_path / "v.npz"), "--model", "resnet"], ["resnet", "clip:<model>"]),
        (["--images", str(tmp_path / "nope"), "--to", str(tmp_path / "v.npz")], ["nope", "not a folder"]),
        (["--images", str(tmp_path / "img"), "--to", str(tmp_path / "v.npy")], ["v.npy", ".npz"]),
        (["--images", str(tmp_path), "--to", str(tmp_path / "v.npz")], ["no image named after an item id"]),
    ]
    for extra, words in cases:
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="ssl4rec"):
            assert cli.main(base + extra) == 2
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "\n" not in errors[0], errors
        assert all(w in errors[0] for w in words), (words, errors[0])
        assert not (tmp_path / "v.npz").exists() and not (tmp_path / "v.npy").exists()


def test_amazon_metadata_keeps_image_addresses():
    from ssl4rec.datasets.amazon import image_urls

    assert image_urls(["http://a/1.jpg", "http://a/1.jpg", "", "not a url"]) == ["http://a/1.jpg"]  # 2018
    v2023 = [{"thumb": "https://t/1.jpg", "large": "https://l/1.jpg", "hi_res": None}, {"thumb": "https://t/2.jpg"}]
    assert image_urls(v2023) == ["https://l/1.jpg", "https://t/2.jpg"]
    assert image_urls(None) == [] and image_urls("http://x") == []
