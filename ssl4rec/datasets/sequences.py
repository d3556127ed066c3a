"""Processed sequence files of the SSL sequential-recommendation papers (S3-Rec, CL4SRec, ICLRec).

``Beauty.txt`` holds one user per line, ``user_id item_id item_id ...`` in chronological
order, with no timestamps: the position in the user's sequence (0, 1, 2, ...) stands in for
time, so chronological order is preserved (``info['has_timestamps'] = False``).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..registry import register_dataset
from .base import DataError, FileSpec, RawData
from .parsing import bad_line

__all__ = ["read_sequence_file", "read_item_attributes", "load_amazon_beauty"]

S3REC_COMMIT = "49a890dcb516c9ed3126564495234ea74d5cd566"
S3REC_RAW = f"https://raw.githubusercontent.com/aHuiWang/CIKM2020-S3Rec/{S3REC_COMMIT}/data"
BEAUTY_FILES = [
    FileSpec(
        "s3rec/Beauty.txt",
        sha256="226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
        url=f"{S3REC_RAW}/Beauty.txt",
    ),
    FileSpec(
        "s3rec/Beauty_item2attributes.json",
        sha256="129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4",
        url=f"{S3REC_RAW}/Beauty_item2attributes.json",
    ),
]


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


@register_dataset(
    "amazon-beauty",
    summary="Amazon Beauty as processed by S3-Rec/CL4SRec/ICLRec: 22,363 users, 12,101 items, 198,502 "
    "interactions; sequences without timestamps; attribute ids",
    files=BEAUTY_FILES,
    url=f"{S3REC_RAW}/Beauty.txt",
    homepage="https://github.com/aHuiWang/CIKM2020-S3Rec",
    citation=(
        "Kun Zhou et al. 2020. S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual "
        "Information Maximization. CIKM 2020. Data: R. He and J. McAuley, WWW 2016; J. McAuley et al., SIGIR 2015."
    ),
    tags=("e-commerce", "implicit", "sequential", "no-timestamps", "attributes"),
    version="1",
)
def load_amazon_beauty(root: Path) -> RawData:
    """Amazon Beauty sequences (``s3rec/Beauty.txt``) with item attribute ids (``Beauty_item2attributes.json``)."""
    inter = read_sequence_file(root / "s3rec" / "Beauty.txt")
    items = read_item_attributes(root / "s3rec" / "Beauty_item2attributes.json")
    return RawData(
        interactions=inter,
        items=items,
        users=None,
        files=["s3rec/Beauty.txt", "s3rec/Beauty_item2attributes.json"],
        has_timestamps=False,
        has_ratings=False,
        text_available=False,
        info={"timestamp_unit": "position in the user's sequence"},
    )
