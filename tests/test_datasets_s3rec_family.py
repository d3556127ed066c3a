"""The S3-Rec / ICLRec dataset family: amazon-beauty, amazon-sports, amazon-toys, yelp, lastfm.

Fixture files use the real file names under ``tmp_path/s3rec/``; like the other fixture tests
(``test_ml100k_format``) they load with a warning and ``source_verified`` False, because a local
file whose sha256 differs from the reference is flagged, not refused. A DOWNLOADED file whose
sha256 differs is refused (nothing installed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path

import pytest

from ssl4rec.datasets import DataError, MissingDataError, load_dataset
from ssl4rec.datasets import download as ddownload
from ssl4rec.datasets import sequences as seq
from ssl4rec.registry import DATASETS

S3REC = "https://raw.githubusercontent.com/aHuiWang/CIKM2020-S3Rec/49a890dcb516c9ed3126564495234ea74d5cd566/data"
ICLREC = "https://raw.githubusercontent.com/salesforce/ICLRec/2890e6c3ff6a22c6699fc19cb863b66786c1cde4/data"

# name -> (stem, sequence sha256, attribute sha256, sequence url, (users, items, interactions, attributes))
FAMILY = {
    "amazon-sports": (
        "Sports_and_Outdoors",
        "2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2",
        "7fb10733ac4f1811384a52144cdefa7fcc7536fa80a7232c5da9bd789155c34b",
        f"{ICLREC}/Sports_and_Outdoors.txt",
        (35_598, 18_357, 296_337, 2_277),
    ),
    "amazon-toys": (
        "Toys_and_Games",
        "176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f",
        "d371acd25101eedac04afc727626464b7acec770c4eda708705d51eb76eb1ad0",
        f"{ICLREC}/Toys_and_Games.txt",
        (19_412, 11_924, 167_597, 1_027),
    ),
    "yelp": (
        "Yelp",
        "724b219106b81dd2349027da997334ddb6da9fe2f152ad6e0d97a93170f7caed",
        "f25acd5e1e680e0b22fd4e3f4fb6be4b2a7461e9222610616e3e1ee6702dd58d",
        f"{ICLREC}/Yelp.txt",
        (30_431, 20_033, 316_354, 1_001),
    ),
    "lastfm": (  # ICLRec has no LastFM.txt: both files come from S3-Rec
        "LastFM",
        "9ded486adb5b0fe9dc761950afa0a9a05e93ff018992e0c52bf11afec529f802",
        "a4ccd678dc9ff6d43fe5073f491db5c9b02eb98dfa4f8c0382913a784be217ef",
        f"{S3REC}/LastFM.txt",
        (1_090, 3_646, 52_551, 388),
    ),
}

SEQ_TEXT = "1 10 11 12\n2 11 12\n3 12 13 10 11\n"
ATTR_TEXT = '{"10": [1, 2], "11": [2], "12": [], "13": [3, 1]}'


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """No test may reach the network: downloads fail unless a test installs its own fetch."""

    def offline(url, dest):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(ddownload, "fetch", offline)


def write_family(root: Path, stem: str, seq_text: str = SEQ_TEXT, attr_text: str = ATTR_TEXT) -> Path:
    d = root / "s3rec"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{stem}.txt").write_text(seq_text)
    (d / f"{stem}_item2attributes.json").write_text(attr_text)
    return root


# ---------------------------------------------------------------- registry


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_registered_with_reference_files(name):
    stem, seq_sha, attr_sha, seq_url, counts = FAMILY[name]
    entry = DATASETS.entry(name)
    files = {f.path: f for f in entry.meta["files"]}
    assert set(files) == {f"s3rec/{stem}.txt", f"s3rec/{stem}_item2attributes.json"}
    assert files[f"s3rec/{stem}.txt"].sha256 == seq_sha
    assert files[f"s3rec/{stem}.txt"].url == seq_url
    assert files[f"s3rec/{stem}_item2attributes.json"].sha256 == attr_sha
    assert files[f"s3rec/{stem}_item2attributes.json"].url == f"{S3REC}/{stem}_item2attributes.json"
    assert entry.meta["expected_counts"] == dict(
        zip(("users", "items", "interactions", "attributes"), counts, strict=True)
    )
    users, items, interactions, _ = counts
    assert f"{users:,} users, {items:,} items, {interactions:,} interactions" in entry.summary
    assert entry.version == "1"
    assert entry.meta["homepage"] and "S3-Rec" in entry.meta["citation"]
    assert {"implicit", "sequential", "no-timestamps", "attributes"} <= set(entry.tags)
    assert entry.obj.__name__ == "load_" + name.replace("-", "_")


def test_beauty_registration_unchanged():
    """Folding Beauty into the family table kept its files, summary and version (old records stay valid)."""
    entry = DATASETS.entry("amazon-beauty")
    assert entry.version == "1"
    assert entry.summary == (
        "Amazon Beauty as processed by S3-Rec/CL4SRec/ICLRec: 22,363 users, 12,101 items, 198,502 "
        "interactions; sequences without timestamps; attribute ids"
    )
    assert [(f.path, f.sha256, f.url) for f in entry.meta["files"]] == [
        (
            "s3rec/Beauty.txt",
            "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
            f"{S3REC}/Beauty.txt",
        ),
        (
            "s3rec/Beauty_item2attributes.json",
            "129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4",
            f"{S3REC}/Beauty_item2attributes.json",
        ),
    ]
    assert entry.meta["url"] == f"{S3REC}/Beauty.txt"
    assert entry.tags == ("e-commerce", "implicit", "sequential", "no-timestamps", "attributes")
    assert seq.load_amazon_beauty is entry.obj


def test_one_factory_for_the_family():
    assert [s.name for s in seq.S3REC_FAMILY] == ["amazon-beauty", *FAMILY]
    assert len({DATASETS.entry(s.name).obj.__code__ for s in seq.S3REC_FAMILY}) == 1


# ---------------------------------------------------------------- loading fixture files


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_loads_fixture_files(tmp_path, caplog, name):
    stem = FAMILY[name][0]
    write_family(tmp_path, stem)
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(name, data_dir=tmp_path, download=False)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (3, 4, 9)
    assert ds.info["raw_counts"] == {"users": 3, "items": 4, "interactions": 9}
    assert ds.info["has_timestamps"] is False and ds.info["has_ratings"] is False
    assert ds.info["text_available"] is False
    assert ds.items["raw_id"].tolist() == [10, 11, 12, 13]
    assert ds.items["attributes"].tolist() == [[1, 2], [2], [], [3, 1]]
    third = ds.interactions[ds.interactions.user == 2]
    assert ds.items["raw_id"].to_numpy()[third["item"]].tolist() == [12, 13, 10, 11]
    assert third["timestamp"].tolist() == [0, 1, 2, 3]  # positions stand in for time
    # fixture files are not the reference copies: flagged, not refused
    assert ds.info["source_verified"] == {f"s3rec/{stem}.txt": False, f"s3rec/{stem}_item2attributes.json": False}
    assert "differs from the reference copy" in caplog.text
    # the loader's own count check names the dataset, the files and the counts
    counts = [r.getMessage() for r in caplog.records if r.name == "ssl4rec.datasets.sequences"]
    assert len(counts) == 1
    users, items, interactions, attributes = FAMILY[name][4]
    assert name in counts[0] and f"{stem}.txt" in counts[0]
    assert f"users: expected {users:,}, read 3" in counts[0]
    assert f"interactions: expected {interactions:,}, read 9" in counts[0]
    assert f"attributes: expected {attributes:,}, read 3" in counts[0]
    assert ds.info["expected_raw_counts"]["items"] == items


def test_count_check_silent_when_counts_match(tmp_path, caplog):
    write_family(tmp_path, "LastFM")
    inter = seq.read_sequence_file(tmp_path / "s3rec" / "LastFM.txt")
    items = seq.read_item_attributes(tmp_path / "s3rec" / "LastFM_item2attributes.json")
    src = next(s for s in seq.S3REC_FAMILY if s.name == "lastfm")
    matching = dataclasses.replace(src, users=3, items=4, interactions=9, attributes=3)
    with caplog.at_level(logging.WARNING, logger="ssl4rec.datasets.sequences"):
        found = seq._check_counts(matching, inter, items)
    assert found == {"users": 3, "items": 4, "interactions": 9, "attributes": 3}
    assert not caplog.records


def test_yelp_repeated_pairs_dedup(tmp_path):
    """The real Yelp.txt repeats user-item pairs; the default dedup='last' keeps the latest one."""
    write_family(tmp_path, "Yelp", seq_text="1 10 11 10 12\n2 11 12\n")
    ds = load_dataset("yelp", data_dir=tmp_path, download=False)
    assert len(ds.interactions) == 5 and ds.info["raw_counts"]["interactions"] == 6
    kept = load_dataset("yelp", data_dir=tmp_path, download=False, preprocessing={"dedup": "keep"})
    assert len(kept.interactions) == 6
    assert "dedup='keep'" in DATASETS.entry("yelp").summary


def test_malformed_sequence_names_file_and_line(tmp_path):
    write_family(tmp_path, "Toys_and_Games", seq_text="1 10 11\n2 x 12\n")
    with pytest.raises(DataError) as err:
        load_dataset("amazon-toys", data_dir=tmp_path, download=False)
    msg = str(err.value)
    assert "Toys_and_Games.txt, line 2" in msg and "'x'" in msg


# ---------------------------------------------------------------- checksums and missing files


def test_download_sha_mismatch_refused(tmp_path, monkeypatch):
    """A downloaded file that is not the reference copy is refused, naming the file; nothing installed."""
    fake = SEQ_TEXT.encode()

    def fake_fetch(url: str, dest: Path) -> None:
        dest.write_bytes(fake if url.endswith(".txt") else ATTR_TEXT.encode())

    monkeypatch.setattr(ddownload, "fetch", fake_fetch)
    root = tmp_path / "root"
    with pytest.raises(DataError, match="sha256 mismatch") as err:
        load_dataset("amazon-sports", data_dir=root)
    msg = str(err.value)
    assert not isinstance(err.value, MissingDataError)
    assert "s3rec/Sports_and_Outdoors.txt" in msg
    assert f"{ICLREC}/Sports_and_Outdoors.txt" in msg
    assert FAMILY["amazon-sports"][1] in msg  # expected
    assert hashlib.sha256(fake).hexdigest() in msg  # actual
    assert not (root / "s3rec" / "Sports_and_Outdoors.txt").exists()
    assert not list(root.glob(".ssl4rec-download-*"))


def test_download_verified_installs(tmp_path, monkeypatch):
    """Files whose sha256 matches the registered one are installed (here: a registered spec swapped in)."""
    src = next(s for s in seq.S3REC_FAMILY if s.name == "lastfm")
    tiny = dataclasses.replace(
        src,
        name="test-lastfm-tiny",
        seq_sha256=hashlib.sha256(SEQ_TEXT.encode()).hexdigest(),
        attr_sha256=hashlib.sha256(ATTR_TEXT.encode()).hexdigest(),
        users=3,
        items=4,
        interactions=9,
        attributes=3,
    )

    def fake_fetch(url: str, dest: Path) -> None:
        dest.write_bytes((SEQ_TEXT if url.endswith("LastFM.txt") else ATTR_TEXT).encode())

    monkeypatch.setattr(ddownload, "fetch", fake_fetch)
    seq._register(tiny)
    try:
        ds = load_dataset("test-lastfm-tiny", data_dir=tmp_path)
        assert all(ds.info["source_verified"].values())
        assert (tmp_path / "s3rec" / "LastFM.txt").read_text() == SEQ_TEXT
        assert (ds.n_users, ds.n_items, len(ds.interactions)) == (3, 4, 9)
    finally:
        DATASETS.remove("test-lastfm-tiny")


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_missing_files_download_false(tmp_path, name):
    stem, _, _, seq_url, _ = FAMILY[name]
    with pytest.raises(MissingDataError) as err:
        load_dataset(name, data_dir=tmp_path, download=False)
    msg = str(err.value)
    assert f"{stem}.txt" in msg and f"{stem}_item2attributes.json" in msg
    assert f"{tmp_path / 's3rec'}" in msg
    assert seq_url in msg and f"{S3REC}/{stem}_item2attributes.json" in msg
    assert "download=False" in msg and "SSL4REC_DATA" in msg
    assert {s.path for s in err.value.missing} == {f"s3rec/{stem}.txt", f"s3rec/{stem}_item2attributes.json"}


def test_one_missing_file_named(tmp_path):
    write_family(tmp_path, "Yelp")
    (tmp_path / "s3rec" / "Yelp_item2attributes.json").unlink()
    with pytest.raises(MissingDataError) as err:
        load_dataset("yelp", data_dir=tmp_path, download=False)
    msg = str(err.value)
    assert "1 source file(s) missing" in msg
    assert "Yelp_item2attributes.json" in msg and f"{S3REC}/Yelp_item2attributes.json" in msg
    assert [s.path for s in err.value.missing] == ["s3rec/Yelp_item2attributes.json"]


def test_missing_files_no_network(tmp_path):
    with pytest.raises(MissingDataError, match="download failed") as err:
        load_dataset("lastfm", data_dir=tmp_path)
    msg = str(err.value)
    assert "LastFM.txt" in msg and f"{S3REC}/LastFM.txt" in msg
    assert not list(tmp_path.glob(".ssl4rec-download-*"))


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_beauty_still_loads(data_dir, caplog):
    if not (data_dir / "s3rec" / "Beauty.txt").exists():
        pytest.skip("s3rec/Beauty.txt not in SSL4REC_DATA")
    with caplog.at_level(logging.WARNING):
        ds = load_dataset("amazon-beauty", data_dir=data_dir, download=False)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (22_363, 12_101, 198_502)
    assert all(ds.info["source_verified"].values())
    assert not [r for r in caplog.records if r.name == "ssl4rec.datasets.sequences"]  # counts match
    assert ds.items.iloc[3]["attributes"] == [1, 2, 3]


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(FAMILY))
def test_real_family(data_dir, name, caplog):
    stem, _, _, _, (users, items, interactions, _) = FAMILY[name]
    if not (data_dir / "s3rec" / f"{stem}.txt").exists():
        pytest.skip(f"s3rec/{stem}.txt not in SSL4REC_DATA")
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(name, data_dir=data_dir, download=False, preprocessing={"dedup": "keep"})
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (users, items, interactions)
    assert all(ds.info["source_verified"].values())
    assert not [r for r in caplog.records if r.name == "ssl4rec.datasets.sequences"]
