"""ssl4rec.datasets: real datasets from $SSL4REC_DATA, the shared pipeline, errors, download, synthetic."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ssl4rec.datasets import (
    DataError,
    FileSpec,
    MissingDataError,
    RawData,
    data_root,
    dataset_info,
    load_dataset,
    sha256_file,
)
from ssl4rec.datasets import base as dbase
from ssl4rec.datasets import download as ddownload
from ssl4rec.interactions import frame_fingerprint
from ssl4rec.registry import DATASETS, ConfigError, UnknownNameError

EXPECTED_NAMES = (
    "ml-100k",
    "ml-1m",
    "ml-20m",
    "ml-25m",
    "ml-latest-small",
    "ml-latest",
    "amazon-beauty",
    "amazon2018",
    "amazon2018-gift-cards",
    "amazon2014-csv",
    "amazon2023",
    "recbole",
    "synthetic",
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """No test may reach the network: downloads fail unless a test installs its own fetch."""

    def offline(url, dest):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(ddownload, "fetch", offline)


def need(data_dir: Path, rel: str) -> Path:
    path = data_dir / rel
    if not path.exists():
        pytest.skip(f"{rel} not in SSL4REC_DATA")
    return path


def assert_dense(ds) -> None:
    """Dense ids 0..n-1, every user and item has an interaction, raw ids unique, canonical dtypes."""
    inter = ds.interactions
    assert inter["user"].dtype == np.int32 and inter["item"].dtype == np.int32
    assert inter["rating"].dtype == np.float32 and inter["timestamp"].dtype == np.int64
    assert list(ds.users.index) == list(range(ds.n_users))
    assert list(ds.items.index) == list(range(ds.n_items))
    assert np.array_equal(np.unique(inter["user"]), np.arange(ds.n_users))
    assert np.array_equal(np.unique(inter["item"]), np.arange(ds.n_items))
    assert ds.users["raw_id"].is_unique and ds.items["raw_id"].is_unique
    # sorted by (user, timestamp)
    key = inter["user"].to_numpy().astype(np.int64) * (1 << 40) + (
        inter["timestamp"].to_numpy() - inter["timestamp"].min()
    )
    assert np.all(np.diff(key) >= 0)
    assert ds.info["checksum"] == frame_fingerprint(inter)
    assert ds.info["counts"]["users"] == ds.n_users
    assert ds.info["counts"]["items"] == ds.n_items
    assert ds.info["counts"]["interactions"] == len(inter)


# ---------------------------------------------------------------- registry and root


def test_all_datasets_registered():
    for name in EXPECTED_NAMES:
        assert name in DATASETS
        entry = DATASETS.entry(name)
        assert entry.summary
        assert "files" in entry.meta


def test_unknown_dataset_name_propagates():
    with pytest.raises(UnknownNameError, match="ml-100k"):
        load_dataset("ml-100kk")


def test_unknown_and_missing_loader_params():
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        load_dataset("synthetic", colour="red")
    with pytest.raises(ConfigError, match="requires parameter.*category.*Gift_Cards"):
        load_dataset("amazon2018")
    with pytest.raises(ConfigError, match="category"):
        load_dataset("amazon2018", category="../etc")
    with pytest.raises(ConfigError, match="Did you mean 'k_core'"):
        load_dataset("synthetic", preprocessing={"kcore": 5})


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("SSL4REC_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "given") == tmp_path / "given"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("SSL4REC_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "ssl4rec"


def test_sha256_file_cached_and_invalidated(tmp_path):
    p = tmp_path / "f.txt"
    p.write_bytes(b"abc")
    assert sha256_file(p) == hashlib.sha256(b"abc").hexdigest()
    assert any(k[0] == str(p.resolve()) for k in dbase._SHA_CACHE)
    p.write_bytes(b"abcd")  # new size -> new key
    assert sha256_file(p) == hashlib.sha256(b"abcd").hexdigest()


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_ml_100k(data_dir):
    need(data_dir, "ml-100k/u.data")
    ds = load_dataset("ml-100k", data_dir=data_dir)  # load times are benchmarked (scale.py), not tested
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (943, 1682, 100_000)
    assert_dense(ds)
    # raw ids kept: sorted, so raw id k is dense id k-1 for ml-100k
    assert ds.users["raw_id"].tolist() == list(range(1, 944))
    assert ds.items["raw_id"].tolist() == list(range(1, 1683))
    toy = ds.items.iloc[0]
    assert toy["title"] == "Toy Story" and toy["year"] == 1995
    assert toy["genres"] == ["Animation", "Children's", "Comedy"]
    assert "Toy Story (1995)" in toy["text"]
    assert ds.users.iloc[0][["age", "gender", "occupation", "zip"]].tolist() == [24, "M", "technician", "85711"]
    # the first line of u.data (196 242 3 881250949) maps back through raw ids
    first = ds.interactions[(ds.interactions.user == 195) & (ds.interactions.item == 241)]
    assert first["rating"].tolist() == pytest.approx([3.0]) and first["timestamp"].tolist() == [881250949]
    info = ds.info
    assert info["source_files"]["ml-100k/u.data"] == "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
    assert set(info["source_files"]) == {f"ml-100k/{n}" for n in ("u.data", "u.item", "u.user", "u.genre")}
    assert all(info["source_verified"].values())
    assert info["root"] == str(data_dir.resolve())
    assert info["has_timestamps"] and info["has_ratings"] and info["text_available"]
    assert info["loader_version"] == "1"
    assert [s["step"] for s in info["preprocessing"]] == ["dedup"]


@pytest.mark.realdata
def test_ml_100k_fixture_from_conftest(ml100k):
    assert ml100k.n_users == 943


@pytest.mark.realdata
def test_ml_100k_preprocessed(data_dir):
    need(data_dir, "ml-100k/u.data")
    ds = load_dataset("ml-100k", data_dir=data_dir, preprocessing={"implicit_threshold": 4, "k_core": 5})
    assert_dense(ds)
    assert ds.interactions["rating"].min() >= 4
    assert np.bincount(ds.interactions["user"]).min() >= 5
    assert np.bincount(ds.interactions["item"]).min() >= 5
    steps = {s["step"]: s for s in ds.info["preprocessing"]}
    assert steps["implicit_threshold"]["after"]["interactions"] == 34_174 + 21_201
    assert steps["k_core"]["after"]["interactions"] == len(ds.interactions)
    assert ds.info["raw_counts"] == {"users": 943, "items": 1682, "interactions": 100_000}
    # raw ids of the kept rows are still sorted
    assert ds.items["raw_id"].is_monotonic_increasing and ds.users["raw_id"].is_monotonic_increasing


@pytest.mark.realdata
def test_ml_latest_small(data_dir):
    need(data_dir, "ml-latest-small/ratings.csv")
    ds = load_dataset("ml-latest-small", data_dir=data_dir)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (610, 9724, 100_836)
    assert_dense(ds)
    assert ds.info["items_dropped_without_interactions"] == 9742 - 9724
    toy = ds.items[ds.items.raw_id == 1].iloc[0]
    assert toy["title"] == "Toy Story" and toy["year"] == 1995
    assert toy["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert toy["tags"][0] == "pixar" and toy["tag_counts"][0] == max(toy["tag_counts"])
    counts = ds.items["tag_counts"].map(len)
    assert counts.max() <= 10
    assert all(list(c) == sorted(c, reverse=True) for c in ds.items["tag_counts"])
    assert set(np.unique(ds.interactions["rating"])) <= {x / 2 for x in range(1, 11)}


@pytest.mark.realdata
def test_amazon_beauty(data_dir):
    need(data_dir, "s3rec/Beauty.txt")
    ds = load_dataset("amazon-beauty", data_dir=data_dir)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (22_363, 12_101, 198_502)
    assert_dense(ds)
    assert ds.info["has_timestamps"] is False and ds.info["text_available"] is False
    assert ds.info["has_ratings"] is False
    # raw item ids 1..M map to dense 0..M-1; timestamps are positions 0,1,2,... per user
    assert np.array_equal(ds.items["raw_id"].to_numpy(), np.arange(1, 12_102))
    first_user = ds.interactions[ds.interactions.user == 0]
    assert (first_user["item"] + 1).tolist() == [1, 2, 3, 4, 5]  # line 1: "1 1 2 3 4 5"
    assert first_user["timestamp"].tolist() == [0, 1, 2, 3, 4]
    assert ds.items.iloc[3]["attributes"] == [1, 2, 3]  # item 4 -> [1, 2, 3]
    assert "text" not in ds.items.columns


@pytest.mark.realdata
@pytest.mark.parametrize("name, params", [("amazon2018-gift-cards", {}), ("amazon2018", {"category": "Gift_Cards"})])
def test_amazon2018_gift_cards(data_dir, name, params):
    need(data_dir, "amazon2018_gift_cards/Gift_Cards_5.json.gz")
    ds = load_dataset(name, data_dir=data_dir, **params)
    assert (ds.n_users, ds.n_items) == (458, 148)
    assert len(ds.interactions) == 2972 - 7  # dedup="last" removes the 7 repeated pairs
    assert_dense(ds)
    assert ds.items["title"].str.len().gt(0).all()
    assert not ds.items["title"].str.contains("<").any()
    assert not ds.items["description"].str.contains("<div").any()
    assert all(isinstance(c, list) for c in ds.items["categories"])
    assert ds.info["preprocessing"][0]["removed"] == 7
    # image addresses kept: as many items have some as the metadata file says (read here independently)
    import gzip

    raw_meta = {}
    with gzip.open(data_dir / "amazon2018_gift_cards" / "meta_Gift_Cards.json.gz", "rt") as f:
        for line in f:
            obj = json.loads(line)
            raw_meta.setdefault(obj["asin"], bool(obj.get("imageURLHighRes") or obj.get("imageURL")))
    with_images = sum(raw_meta.get(a, False) for a in ds.items["raw_id"])
    assert 0 < with_images < ds.n_items
    assert int((ds.items["image_urls"].str.len() > 0).sum()) == with_images
    assert all(u.startswith("https://") for urls in ds.items["image_urls"] for u in urls)
    kept = load_dataset(name, data_dir=data_dir, preprocessing={"dedup": "keep"}, **params)
    assert len(kept.interactions) == 2972


@pytest.mark.realdata
def test_dataset_info_real(data_dir):
    need(data_dir, "ml-100k/u.data")
    info = dataset_info("ml-100k", data_dir=data_dir)
    assert info["counts"]["users"] == 943 and 0 < info["counts"]["density"] < 1
    assert len(info["checksum"]) == 64
    assert all(f["found"] and f["verified"] for f in info["files"])
    assert info["missing"] == []
    json.dumps(info, default=str)


def test_dataset_info_missing(tmp_path):
    info = dataset_info("ml-1m", data_dir=tmp_path)
    assert sorted(info["missing"]) == ["ml-1m/movies.dat", "ml-1m/ratings.dat", "ml-1m/users.dat"]
    assert "ml-1m.zip" in info["error"]
    assert "counts" not in info


# ---------------------------------------------------------------- missing files and download


def test_missing_files_download_false(tmp_path):
    with pytest.raises(MissingDataError) as err:
        load_dataset("ml-1m", data_dir=tmp_path, download=False)
    msg = str(err.value)
    for name in ("ratings.dat", "movies.dat", "users.dat"):
        assert name in msg
    assert f"{tmp_path / 'ml-1m'}" in msg
    assert "https://files.grouplens.org/datasets/movielens/ml-1m.zip" in msg
    assert "SSL4REC_DATA" in msg
    assert "download=False" in msg
    assert {s.path for s in err.value.missing} == {"ml-1m/ratings.dat", "ml-1m/movies.dat", "ml-1m/users.dat"}


def test_missing_files_no_network(tmp_path):
    with pytest.raises(MissingDataError, match="download failed") as err:
        load_dataset("amazon-beauty", data_dir=tmp_path)
    msg = str(err.value)
    assert "Beauty.txt" in msg and f"{tmp_path / 's3rec'}" in msg
    assert "raw.githubusercontent.com/aHuiWang/CIKM2020-S3Rec" in msg
    assert "SSL4REC_DATA" in msg
    assert not list(tmp_path.glob(".ssl4rec-download-*"))  # the temporary folder is cleaned up


def test_missing_files_without_download_address(tmp_path):
    with pytest.raises(MissingDataError, match="cannot be downloaded") as err:
        load_dataset("recbole", dataset="ml-100k", data_dir=tmp_path)
    assert "ml-100k.inter" in str(err.value) and "recbole.io" in str(err.value)


ML_1M_RATINGS = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n2::3408::4::978298152\n"
ML_1M_MOVIES = (
    "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
    "3408::Erin Brockovich (2000)::Drama\n"
    "3952::Contender, The (2000)::Drama|Thriller\n"
)
ML_1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n"


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def install_fetch(monkeypatch, sources: dict[str, Path], calls: list[str] | None = None) -> None:
    """Replace the network with local files: url -> file to copy."""

    def fake_fetch(url: str, dest: Path) -> None:
        if calls is not None:
            calls.append(url)
        dest.write_bytes(sources[url].read_bytes())

    monkeypatch.setattr(ddownload, "fetch", fake_fetch)


def test_download_archive_unverified(tmp_path, monkeypatch, caplog):
    archive = make_zip(
        tmp_path / "ml-1m.zip",
        {
            "ml-1m/ratings.dat": ML_1M_RATINGS.encode(),
            "ml-1m/movies.dat": ML_1M_MOVIES.encode("latin-1"),
            "ml-1m/users.dat": ML_1M_USERS.encode(),
            "ml-1m/README": b"readme",
        },
    )
    calls: list[str] = []
    install_fetch(monkeypatch, {"https://files.grouplens.org/datasets/movielens/ml-1m.zip": archive}, calls)
    root = tmp_path / "root"
    with caplog.at_level(logging.WARNING, logger="ssl4rec.datasets.download"):
        ds = load_dataset("ml-1m", data_dir=root)
    assert len(calls) == 1  # one archive for all three files
    assert "unverified" in caplog.text
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 3, 4)
    assert (root / "ml-1m" / "ratings.dat").read_text() == ML_1M_RATINGS
    assert not (root / "ml-1m" / "README").exists()  # only the needed members are installed
    assert not list(root.glob(".ssl4rec-download-*"))
    assert ds.info["source_files"]["ml-1m/ratings.dat"] == hashlib.sha256(ML_1M_RATINGS.encode()).hexdigest()
    # second load: nothing downloaded
    load_dataset("ml-1m", data_dir=root)
    assert len(calls) == 1


def test_download_verified_and_single_files(tmp_path, monkeypatch):
    """A registered dataset with known hashes: plain-file urls (no archive) are verified and installed."""
    inter = b"1 10 11\n2 11 12 10\n"
    attrs = b'{"10": [1], "11": [2], "12": [1, 2]}'
    src_inter, src_attrs = tmp_path / "a.txt", tmp_path / "b.json"
    src_inter.write_bytes(inter)
    src_attrs.write_bytes(attrs)
    specs = [
        FileSpec("toyseq/seq.txt", sha256=hashlib.sha256(inter).hexdigest(), url="https://example.org/seq.txt"),
        FileSpec("toyseq/attrs.json", sha256=hashlib.sha256(attrs).hexdigest(), url="https://example.org/attrs.json"),
    ]
    from ssl4rec.datasets.sequences import read_item_attributes, read_sequence_file

    def load_toy(root: Path) -> RawData:
        return RawData(
            interactions=read_sequence_file(root / "toyseq/seq.txt"),
            items=read_item_attributes(root / "toyseq/attrs.json"),
            files=["toyseq/seq.txt", "toyseq/attrs.json"],
            has_timestamps=False,
            has_ratings=False,
            text_available=False,
        )

    DATASETS.add("test-toyseq", load_toy, files=specs)
    try:
        install_fetch(
            monkeypatch, {"https://example.org/seq.txt": src_inter, "https://example.org/attrs.json": src_attrs}
        )
        ds = load_dataset("test-toyseq", data_dir=tmp_path / "root")
        assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 3, 5)
        assert all(ds.info["source_verified"].values())
        assert ds.items["attributes"].tolist() == [[1], [2], [1, 2]]
        assert ds.interactions["timestamp"].tolist() == [0, 1, 0, 1, 2]
    finally:
        DATASETS.remove("test-toyseq")


def test_download_sha_mismatch(tmp_path, monkeypatch):
    fake = b"1\t1\t5\t881250949\n"
    archive = make_zip(
        tmp_path / "ml-100k.zip",
        {
            "ml-100k/u.data": fake,
            "ml-100k/u.item": b"1|Toy Story (1995)|01-Jan-1995||http://x|" + b"|".join([b"0"] * 19) + b"\n",
            "ml-100k/u.user": b"1|24|M|technician|85711\n",
            "ml-100k/u.genre": b"unknown|0\n",
        },
    )
    install_fetch(monkeypatch, {"https://files.grouplens.org/datasets/movielens/ml-100k.zip": archive})
    root = tmp_path / "root"
    with pytest.raises(DataError, match="sha256 mismatch") as err:
        load_dataset("ml-100k", data_dir=root)
    msg = str(err.value)
    assert "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490" in msg  # expected
    assert hashlib.sha256(fake).hexdigest() in msg  # actual
    assert not isinstance(err.value, MissingDataError)
    assert not (root / "ml-100k").exists()  # nothing installed
    assert not list(root.glob(".ssl4rec-download-*"))


def test_download_archive_without_member(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "ml-1m.zip", {"ml-1m/ratings.dat": ML_1M_RATINGS.encode()})
    install_fetch(monkeypatch, {"https://files.grouplens.org/datasets/movielens/ml-1m.zip": archive})
    with pytest.raises(DataError, match="no member 'ml-1m/movies.dat'"):
        load_dataset("ml-1m", data_dir=tmp_path / "root")
    assert not (tmp_path / "root" / "ml-1m").exists()


def test_download_amazon2018_plain_gz(tmp_path, monkeypatch):
    reviews = [
        {"overall": 5.0, "reviewerID": "U1", "asin": "A1", "unixReviewTime": 1500000000},
        {"overall": 3.0, "reviewerID": "U1", "asin": "A2", "unixReviewTime": 1500000100},
        {"overall": 4.0, "reviewerID": "U2", "asin": "A1", "unixReviewTime": 1500000200},
    ]
    meta = [
        {
            "asin": "A1",
            "title": "Thing <b>one</b>",
            "brand": "Acme",
            "category": ["Software", "Apps"],
            "description": ["<p>Nice &amp; good</p>"],
        },
        {"asin": "A2", "title": "Thing two", "category": [], "description": []},
        {"asin": "A9", "title": "Never reviewed"},
    ]
    src_r, src_m = tmp_path / "r.json.gz", tmp_path / "m.json.gz"
    src_r.write_bytes(gzip.compress("\n".join(json.dumps(r) for r in reviews).encode()))
    src_m.write_bytes(gzip.compress("\n".join(json.dumps(m) for m in meta).encode()))
    base = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2"
    install_fetch(
        monkeypatch,
        {f"{base}/categoryFilesSmall/Software_5.json.gz": src_r, f"{base}/metaFiles2/meta_Software.json.gz": src_m},
    )
    ds = load_dataset("amazon2018", category="software", data_dir=tmp_path / "root")  # case-insensitive
    assert (tmp_path / "root" / "amazon2018_software" / "Software_5.json.gz").exists()
    assert ds.name == "amazon2018[category=Software]"
    assert ds.items["title"].tolist() == ["Thing one", "Thing two"]
    assert ds.items["description"].tolist() == ["Nice & good", ""]
    assert ds.items["categories"].tolist() == [["Software", "Apps"], []]
    assert ds.info["items_dropped_without_interactions"] == 1
    assert ds.items["raw_id"].tolist() == ["A1", "A2"] and ds.users["raw_id"].tolist() == ["U1", "U2"]


# ---------------------------------------------------------------- pipeline details


def test_side_tables_missing_rows_and_dropped_items():
    raw = RawData(
        interactions=pd.DataFrame(
            {"user": ["b", "a", "a"], "item": ["x", "z", "y"], "rating": [1.0, 2.0, 3.0], "timestamp": [5, 2, 1]}
        ),
        items=pd.DataFrame(
            {"title": ["X", "Y", "W"], "genres": [["g1"], ["g2"], ["g3"]]}, index=pd.Index(["x", "y", "w"])
        ),
        users=pd.DataFrame({"age": [30]}, index=pd.Index(["a"])),
    )
    from ssl4rec.datasets import build_dataset
    from ssl4rec.datasets.preprocess import Preprocessing

    ds = build_dataset("toy", raw, Preprocessing())
    assert ds.users["raw_id"].tolist() == ["a", "b"]
    assert ds.items["raw_id"].tolist() == ["x", "y", "z"]
    assert ds.items["title"].tolist() == ["X", "Y", ""]
    assert ds.items["genres"].tolist() == [["g1"], ["g2"], []]
    assert ds.info["items_side_table"] == {"dropped_without_interactions": 1, "without_metadata": 1, "has_table": True}
    assert ds.info["users_side_table"]["without_metadata"] == 1
    # interactions sorted by (user, timestamp): user a (y@1, z@2), then b (x@5)
    assert ds.interactions[["user", "item", "timestamp"]].values.tolist() == [[0, 1, 1], [0, 2, 2], [1, 0, 5]]
    assert ds.info["root"] is None and ds.info["source_files"] == {}


def test_dense_ids_do_not_depend_on_row_order():
    df = pd.DataFrame({"user": [3, 1, 2, 1], "item": [30, 10, 20, 20], "rating": 1.0, "timestamp": [1, 2, 3, 4]})
    from ssl4rec.datasets import build_dataset
    from ssl4rec.datasets.preprocess import Preprocessing

    a = build_dataset("t", RawData(interactions=df), Preprocessing())
    b = build_dataset("t", RawData(interactions=df.iloc[::-1].reset_index(drop=True)), Preprocessing())
    assert a.info["checksum"] == b.info["checksum"]
    assert a.users["raw_id"].tolist() == [1, 2, 3] and a.items["raw_id"].tolist() == [10, 20, 30]


# ---------------------------------------------------------------- synthetic


def test_synthetic_deterministic_and_planted():
    a = load_dataset("synthetic")
    b = load_dataset("synthetic")
    c = load_dataset("synthetic", seed=1)
    assert a.checksum == b.checksum != c.checksum
    assert a.items["text"].tolist() == b.items["text"].tolist()
    assert_dense(a)
    n = len(a.interactions)
    assert 14_000 <= n <= 15_000 and a.n_users == 500 and a.n_items <= 300
    assert a.info["root"] is None and a.info["source_files"] == {}
    assert a.name == "synthetic" and c.name == "synthetic[seed=1]"
    # planted: most interactions within the user's cluster, with higher ratings
    uc = a.users["cluster"].to_numpy()[a.interactions["user"]]
    ic = a.items["cluster"].to_numpy()[a.interactions["item"]]
    inside = uc == ic
    assert inside.mean() > 0.5  # chance level is 1 / n_clusters = 0.2
    r = a.interactions["rating"].to_numpy()
    assert r[inside].mean() > r[~inside].mean() + 1
    # popularity skew and text/genres follow the item cluster
    counts = np.sort(np.bincount(a.interactions["item"]))[::-1]
    assert counts[: len(counts) // 10].sum() > 0.2 * n
    assert all(t.startswith(f"cluster-{k} ") for t, k in zip(a.items["text"], a.items["cluster"], strict=True))
    assert all(f"genre-{k}" == g[0] for g, k in zip(a.items["genres"], a.items["cluster"], strict=True))
    # strictly increasing timestamps within each user
    g = a.interactions.groupby("user")["timestamp"]
    assert (g.diff().dropna() > 0).all()


def test_synthetic_goes_through_preprocessing():
    ds = load_dataset(
        "synthetic", n_users=60, n_items=40, n_interactions=900, preprocessing={"implicit_threshold": 4, "k_core": 3}
    )
    assert_dense(ds)
    assert [s["step"] for s in ds.info["preprocessing"]] == ["dedup", "implicit_threshold", "k_core"]
    assert ds.interactions["rating"].min() >= 4
    assert np.bincount(ds.interactions["user"]).min() >= 3 and np.bincount(ds.interactions["item"]).min() >= 3


def test_synthetic_bad_params():
    with pytest.raises(ConfigError, match="n_users"):
        load_dataset("synthetic", n_users=0)
    with pytest.raises(ConfigError, match="affinity"):
        load_dataset("synthetic", affinity=2.0)


def test_preprocessing_that_empties_data_names_the_step():
    with pytest.raises(DataError, match=r"k_core.*'user_core': 1000"):
        load_dataset("synthetic", n_users=50, n_items=30, n_interactions=500, preprocessing={"k_core": 1000})
    with pytest.raises(DataError, match=r"implicit_threshold.*'threshold': 6\.0"):
        load_dataset("synthetic", n_users=50, n_items=30, n_interactions=500, preprocessing={"implicit_threshold": 6})


def test_json_round_trip_of_info():
    ds = load_dataset("synthetic", n_users=30, n_items=20, n_interactions=300)
    text = json.dumps(ds.info, default=str)
    assert "checksum" in json.loads(text)
    buf = io.StringIO()
    ds.items.to_csv(buf)  # side tables are plain frames
    assert buf.getvalue()


def test_side_table_id_type_mismatch_warns(caplog):
    from ssl4rec.datasets import build_dataset
    from ssl4rec.datasets.preprocess import Preprocessing

    raw = RawData(
        interactions=pd.DataFrame({"user": [1, 2], "item": ["10", "20"], "rating": 1.0, "timestamp": [1, 2]}),
        items=pd.DataFrame({"title": ["A", "B"]}, index=pd.Index([10, 20])),
    )
    with caplog.at_level(logging.WARNING, logger="ssl4rec.datasets.pipeline"):
        ds = build_dataset("toy", raw, Preprocessing())
    assert "do their types differ" in caplog.text
    assert ds.items["title"].tolist() == ["", ""]
