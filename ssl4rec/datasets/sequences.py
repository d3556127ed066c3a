"""Processed sequence files of the SSL sequential-recommendation papers (S3-Rec, CL4SRec, ICLRec).

The S3-Rec family: ``amazon-beauty``, ``amazon-sports``, ``amazon-toys``, ``yelp`` and ``lastfm``,
all registered from one table (:data:`S3REC_FAMILY`) by one factory. Each has two files below
``<root>/s3rec/``: ``<Name>.txt`` holds one user per line, ``user_id item_id item_id ...`` in
chronological order, with no timestamps: the position in the user's sequence (0, 1, 2, ...)
stands in for time, so chronological order is preserved (``info['has_timestamps'] = False``);
``<Name>_item2attributes.json`` maps each item id to its attribute ids.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..registry import register_dataset
from .base import DataError, FileSpec, RawData
from .parsing import bad_line

logger = logging.getLogger(__name__)

__all__ = [
    "read_sequence_file",
    "read_item_attributes",
    "S3RecSource",
    "S3REC_FAMILY",
    "load_amazon_beauty",
    "load_amazon_sports",
    "load_amazon_toys",
    "load_yelp",
    "load_lastfm",
]

S3REC_COMMIT = "49a890dcb516c9ed3126564495234ea74d5cd566"
S3REC_RAW = f"https://raw.githubusercontent.com/aHuiWang/CIKM2020-S3Rec/{S3REC_COMMIT}/data"
ICLREC_COMMIT = "2890e6c3ff6a22c6699fc19cb863b66786c1cde4"
ICLREC_RAW = f"https://raw.githubusercontent.com/salesforce/ICLRec/{ICLREC_COMMIT}/data"
# ICLRec's data/{Beauty,Sports_and_Outdoors,Toys_and_Games,Yelp}.txt are the same git blobs as
# S3-Rec's; ICLRec has no LastFM.txt and no attribute files, so those come from S3-Rec.


def _scan_sequences(path: Path, lines: list[str]) -> DataError:
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, 1):
        toks = line.split()
        if not toks:
            continue
        if len(toks) < 2:
            return bad_line(path, lineno, "expected 'user_id item_id [item_id ...]' (a user with no items)", line)
        for k, tok in enumerate(toks):
            try:
                int(tok)
            except ValueError:
                what = "user id" if k == 0 else f"item id (token {k + 1})"
                return bad_line(path, lineno, f"{what} is not an integer: {tok!r}", line)
        if toks[0] in seen:
            return bad_line(path, lineno, f"user {toks[0]} already has a sequence on line {seen[toks[0]]}", line)
        seen[toks[0]] = lineno
    return DataError(f"{path}: could not be parsed as 'user_id item_id ...' lines")


def read_sequence_file(path: Path) -> pd.DataFrame:
    """Read a ``user item item ...`` file into (user, item, timestamp=position) rows.

    Raises:
        DataError: naming the file, the 1-based line number and the offending line.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        lineno = data.count(b"\n", 0, exc.start) + 1
        line = data.split(b"\n")[lineno - 1]
        raise bad_line(path, lineno, f"not valid UTF-8 text ({exc.reason})", line) from None
    lines = text.split("\n")
    toks = [line.split() for line in lines]
    lengths = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
    if (lengths == 1).any():
        raise _scan_sequences(path, lines)
    try:
        flat = np.array(list(itertools.chain.from_iterable(toks)), dtype=np.int64)
    except (ValueError, OverflowError):
        raise _scan_sequences(path, lines) from None
    lengths = lengths[lengths > 0]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    user_ids = flat[starts]
    if len(np.unique(user_ids)) != len(user_ids):
        raise _scan_sequences(path, lines)
    is_item = np.ones(len(flat), dtype=bool)
    is_item[starts] = False
    n_items = lengths - 1
    users = np.repeat(user_ids, n_items)
    first_item = np.repeat(starts + 1, n_items)
    idx = np.flatnonzero(is_item)
    return pd.DataFrame(
        {
            "user": users,
            "item": flat[is_item],
            "rating": np.ones(len(users), dtype=np.float32),
            "timestamp": idx - first_item,
        }
    )


def read_item_attributes(path: Path) -> pd.DataFrame:
    """``{"item_id": [attribute_id, ...]}`` -> items table (index raw item id) with ``attributes``."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        line = exc.doc.splitlines()[exc.lineno - 1] if exc.doc else ""
        raise bad_line(path, exc.lineno, f"not valid JSON ({exc.msg}, column {exc.colno})", line[:200]) from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a JSON object {{item_id: [attribute ids]}}, got {type(obj).__name__}")
    ids, attrs = [], []
    for key, value in obj.items():
        try:
            ids.append(int(key))
        except ValueError:
            raise DataError(f"{path}: item id {key!r} is not an integer") from None
        if not isinstance(value, list) or not all(isinstance(a, int) and not isinstance(a, bool) for a in value):
            raise DataError(f"{path}: attributes of item {key} should be a list of integers, got {value!r}")
        attrs.append(value)
    return pd.DataFrame({"attributes": attrs}, index=pd.Index(ids, dtype=np.int64, name="item"))


S3REC_CITATION = (
    "Kun Zhou et al. 2020. S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual "
    "Information Maximization. CIKM 2020."
)
ICLREC_CITATION = "Yongjun Chen et al. 2022. Intent Contrastive Learning for Sequential Recommendation. WWW 2022."
AMAZON_DATA_CITATION = "Data: R. He and J. McAuley, WWW 2016; J. McAuley et al., SIGIR 2015."


@dataclasses.dataclass(frozen=True)
class S3RecSource:
    """One dataset of the S3-Rec family: its files below ``<root>/s3rec/`` and the published counts.

    Attributes:
        name: registry name (``"amazon-sports"``).
        stem: file stem (``"Sports_and_Outdoors"`` -> ``Sports_and_Outdoors.txt`` and
            ``Sports_and_Outdoors_item2attributes.json``).
        title: human name used in the summary.
        processed_by: papers whose released files these are (summary text).
        seq_sha256, attr_sha256: sha256 of the two reference files.
        seq_url: raw address of ``<stem>.txt`` (the attribute file always comes from S3-Rec).
        users, items, interactions, attributes: counts of the reference files (distinct users,
            distinct items, item tokens, distinct attribute ids); the loader warns when the files
            it reads give other counts.
        citation, tags, version, note: registry metadata; ``note`` is appended to the summary.
    """

    name: str
    stem: str
    title: str
    processed_by: str
    seq_sha256: str
    attr_sha256: str
    seq_url: str
    users: int
    items: int
    interactions: int
    attributes: int
    citation: str
    tags: tuple[str, ...]
    version: str = "1"
    note: str = ""

    @property
    def seq_path(self) -> str:
        return f"s3rec/{self.stem}.txt"

    @property
    def attr_path(self) -> str:
        return f"s3rec/{self.stem}_item2attributes.json"

    @property
    def files(self) -> list[FileSpec]:
        return [
            FileSpec(self.seq_path, sha256=self.seq_sha256, url=self.seq_url),
            FileSpec(self.attr_path, sha256=self.attr_sha256, url=f"{S3REC_RAW}/{self.stem}_item2attributes.json"),
        ]

    @property
    def expected_counts(self) -> dict[str, int]:
        return {
            "users": self.users,
            "items": self.items,
            "interactions": self.interactions,
            "attributes": self.attributes,
        }

    @property
    def summary(self) -> str:
        text = (
            f"{self.title} as processed by {self.processed_by}: {self.users:,} users, {self.items:,} items, "
            f"{self.interactions:,} interactions; sequences without timestamps; attribute ids"
        )
        return f"{text}; {self.note}" if self.note else text


_SEQ_TAGS = ("implicit", "sequential", "no-timestamps", "attributes")

S3REC_FAMILY: tuple[S3RecSource, ...] = (
    S3RecSource(
        "amazon-beauty",
        "Beauty",
        "Amazon Beauty",
        "S3-Rec/CL4SRec/ICLRec",
        seq_sha256="226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
        attr_sha256="129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4",
        seq_url=f"{S3REC_RAW}/Beauty.txt",
        users=22_363,
        items=12_101,
        interactions=198_502,
        attributes=637,
        citation=f"{S3REC_CITATION} {AMAZON_DATA_CITATION}",
        tags=("e-commerce", *_SEQ_TAGS),
    ),
    S3RecSource(
        "amazon-sports",
        "Sports_and_Outdoors",
        "Amazon Sports and Outdoors",
        "S3-Rec/ICLRec",
        seq_sha256="2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2",
        attr_sha256="7fb10733ac4f1811384a52144cdefa7fcc7536fa80a7232c5da9bd789155c34b",
        seq_url=f"{ICLREC_RAW}/Sports_and_Outdoors.txt",
        users=35_598,
        items=18_357,
        interactions=296_337,
        attributes=2_277,
        citation=f"{S3REC_CITATION} {ICLREC_CITATION} {AMAZON_DATA_CITATION}",
        tags=("e-commerce", *_SEQ_TAGS),
    ),
    S3RecSource(
        "amazon-toys",
        "Toys_and_Games",
        "Amazon Toys and Games",
        "S3-Rec/ICLRec",
        seq_sha256="176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f",
        attr_sha256="d371acd25101eedac04afc727626464b7acec770c4eda708705d51eb76eb1ad0",
        seq_url=f"{ICLREC_RAW}/Toys_and_Games.txt",
        users=19_412,
        items=11_924,
        interactions=167_597,
        attributes=1_027,
        citation=f"{S3REC_CITATION} {ICLREC_CITATION} {AMAZON_DATA_CITATION}",
        tags=("e-commerce", *_SEQ_TAGS),
    ),
    S3RecSource(
        "yelp",
        "Yelp",
        "Yelp",
        "S3-Rec/ICLRec",
        seq_sha256="724b219106b81dd2349027da997334ddb6da9fe2f152ad6e0d97a93170f7caed",
        attr_sha256="f25acd5e1e680e0b22fd4e3f4fb6be4b2a7461e9222610616e3e1ee6702dd58d",
        seq_url=f"{ICLREC_RAW}/Yelp.txt",
        users=30_431,
        items=20_033,
        interactions=316_354,
        attributes=1_001,
        citation=f"{S3REC_CITATION} {ICLREC_CITATION} Data: Yelp Open Dataset, https://www.yelp.com/dataset.",
        tags=("local-business", *_SEQ_TAGS),
        note="11,830 repeated user-item pairs (the default dedup='last' keeps 304,524 interactions; "
        "dedup='keep' keeps all)",
    ),
    S3RecSource(
        "lastfm",
        "LastFM",
        "LastFM (HetRec 2011, artists with tag attributes)",
        "S3-Rec",
        seq_sha256="9ded486adb5b0fe9dc761950afa0a9a05e93ff018992e0c52bf11afec529f802",
        attr_sha256="a4ccd678dc9ff6d43fe5073f491db5c9b02eb98dfa4f8c0382913a784be217ef",
        seq_url=f"{S3REC_RAW}/LastFM.txt",  # not in ICLRec
        users=1_090,
        items=3_646,
        interactions=52_551,
        attributes=388,
        citation=(
            f"{S3REC_CITATION} Data: I. Cantador, P. Brusilovsky and T. Kuflik, HetRec 2011 (RecSys 2011), "
            "hetrec2011-lastfm-2k."
        ),
        tags=("music", *_SEQ_TAGS),
    ),
)

BEAUTY_FILES = S3REC_FAMILY[0].files


def _check_counts(src: S3RecSource, inter: pd.DataFrame, items: pd.DataFrame) -> dict[str, int]:
    """Counts of what was read; logs a warning naming every count that differs from the reference."""
    attrs = items["attributes"].tolist()
    found = {
        "users": int(inter["user"].nunique()),
        "items": int(inter["item"].nunique()),
        "interactions": len(inter),
        "attributes": len(set(itertools.chain.from_iterable(attrs))),
    }
    diff = {k: (v, found[k]) for k, v in src.expected_counts.items() if found[k] != v}
    if diff:
        logger.warning(
            "%s: the files %s and %s give counts that differ from the reference copy (%s); "
            "results may not match published ones",
            src.name,
            src.seq_path,
            src.attr_path,
            ", ".join(f"{k}: expected {exp:,}, read {got:,}" for k, (exp, got) in diff.items()),
        )
    return found


def _make_loader(src: S3RecSource) -> Callable[[Path], RawData]:
    def load(root: Path) -> RawData:
        inter = read_sequence_file(root / src.seq_path)
        items = read_item_attributes(root / src.attr_path)
        _check_counts(src, inter, items)
        return RawData(
            interactions=inter,
            items=items,
            users=None,
            files=[src.seq_path, src.attr_path],
            has_timestamps=False,
            has_ratings=False,
            text_available=False,
            info={"timestamp_unit": "position in the user's sequence", "expected_raw_counts": src.expected_counts},
        )

    load.__name__ = load.__qualname__ = "load_" + src.name.replace("-", "_")
    load.__module__ = __name__
    load.__doc__ = (
        f"{src.title} sequences (``{src.seq_path}``) with item attribute ids (``{Path(src.attr_path).name}``)."
    )
    return load


def _register(src: S3RecSource) -> Callable[[Path], RawData]:
    return register_dataset(
        src.name,
        summary=src.summary,
        files=src.files,
        url=src.seq_url,
        homepage="https://github.com/aHuiWang/CIKM2020-S3Rec",
        citation=src.citation,
        tags=src.tags,
        version=src.version,
        expected_counts=src.expected_counts,
    )(_make_loader(src))


LOADERS: dict[str, Callable[[Path], RawData]] = {src.name: _register(src) for src in S3REC_FAMILY}
load_amazon_beauty = LOADERS["amazon-beauty"]
load_amazon_sports = LOADERS["amazon-sports"]
load_amazon_toys = LOADERS["amazon-toys"]
load_yelp = LOADERS["yelp"]
load_lastfm = LOADERS["lastfm"]
