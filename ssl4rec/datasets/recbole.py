"""RecBole atomic files: ``<dataset>/<dataset>.inter`` and optional ``.item`` / ``.user``.

Tab-separated, no quoting, first line a header of ``name:type`` fields where type is
``token``, ``token_seq`` (space-separated tokens), ``float`` or ``float_seq``, e.g.
``user_id:token	item_id:token	rating:float	timestamp:float``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..registry import ConfigError, register_dataset
from .base import DataError, FileSpec, RawData
from .parsing import bad_line, open_text, read_table

__all__ = ["read_atomic_header", "read_atomic", "load_recbole", "recbole_files"]

TYPES = ("token", "token_seq", "float", "float_seq")
HOMEPAGE = "https://recbole.io/dataset_list.html"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

# RecBole item/user feature names -> ssl4rec side-table columns
RENAME = {
    "movie_title": "title",
    "title": "title",
    "release_year": "year",
    "year": "year",
    "class": "genres",
    "genre": "genres",
    "genres": "genres",
    "categories": "categories",
    "category": "categories",
    "brand": "brand",
    "description": "description",
}
TEXT_FIELDS = ("title", "description", "brand")


def _check_name(dataset: object) -> str:
    if not isinstance(dataset, str) or not _NAME_RE.match(dataset) or ".." in dataset:
        raise ConfigError(f"recbole: dataset must be a folder name like 'ml-100k', got {dataset!r}")
    return dataset


def recbole_files(dataset: str) -> list[FileSpec]:
    """``<dataset>/<dataset>.inter`` (required), ``.item`` and ``.user`` (optional); no download address."""
    name = _check_name(dataset)
    return [
        FileSpec(f"{name}/{name}.inter"),
        FileSpec(f"{name}/{name}.item", optional=True),
        FileSpec(f"{name}/{name}.user", optional=True),
    ]


def read_atomic_header(path: Path) -> list[tuple[str, str]]:
    """The ``(name, type)`` pairs of an atomic file's header line."""
    with open_text(path) as f:
        line = f.readline().rstrip("\r\n").lstrip("\ufeff")
    fields = []
    for part in line.split("\t"):
        name, sep, typ = part.rpartition(":")
        if not sep or not name or typ not in TYPES:
            raise bad_line(path, 1, f"expected a header of 'name:type' fields with type in {TYPES}", line)
        fields.append((name, typ))
    return fields


def read_atomic(path: Path, numeric: tuple[str, ...] = ()) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read an atomic file; ``numeric`` float fields are parsed (and must be valid), others kept as text.

    Returns:
        The frame (columns named without the ``:type`` suffix) and ``{name: type}``.
    """
    header = read_atomic_header(path)
    kinds = [(n, "float" if (t == "float" and n in numeric) else "str") for n, t in header]
    expected = [f"{n}:{t}" for n, t in header]
    df = read_table(path, kinds, sep="\t", header=expected, quoting=csv.QUOTE_NONE)
    return df, dict(header)


def _features(df: pd.DataFrame, types: dict[str, str], key: str) -> pd.DataFrame:
    out = {}
    for col in df.columns:
        if col == key:
            continue
        target = RENAME.get(col, col)
        if target in out:
            continue
        values = df[col]
        typ = types[col]
        if target == "year":
            out[target] = pd.to_numeric(values, errors="coerce").astype("Int64").array
        elif typ == "float":
            out[target] = pd.to_numeric(values, errors="coerce").to_numpy()
        elif typ in ("token_seq", "float_seq") and target not in TEXT_FIELDS:
            out[target] = [[t for t in v.split(" ") if t] for v in values.tolist()]
        else:
            out[target] = values.to_numpy()
    return pd.DataFrame(out, index=pd.Index(df[key].to_numpy(), name=key))


def load_recbole(
    root: Path,
    *,
    dataset: str,
    user_field: str = "user_id",
    item_field: str = "item_id",
    rating_field: str = "rating",
    time_field: str = "timestamp",
) -> RawData:
    """A dataset in RecBole's atomic-file format (``<dataset>/<dataset>.inter``, ``.item``, ``.user``).

    Ids are kept as tokens (strings). Without a rating field every rating is 1.0; without a
    time field the position in the user's rows (file order) stands in for time.
    """
    name = _check_name(dataset)
    folder = root / name
    inter_path = folder / f"{name}.inter"
    header = dict(read_atomic_header(inter_path))
    for field, param in ((user_field, "user_field"), (item_field, "item_field")):
        if field not in header:
            raise DataError(
                f"{inter_path}, line 1: no field {field!r} in the header (fields: {list(header)}); "
                f"name the file's field with the dataset parameter {param}"
            )
    has_ratings = rating_field in header
    has_time = time_field in header
    for field in (rating_field, time_field):
        if field in header and header[field] != "float":
            raise DataError(f"{inter_path}, line 1: field {field!r} should be of type float, not {header[field]}")
    df, _ = read_atomic(inter_path, numeric=(rating_field, time_field))
    users = df[user_field].to_numpy(dtype=object)
    inter = pd.DataFrame(
        {
            "user": users,
            "item": df[item_field].to_numpy(dtype=object),
            "rating": df[rating_field].to_numpy(dtype=np.float64) if has_ratings else np.ones(len(df)),
            "timestamp": (
                np.floor(df[time_field].to_numpy(dtype=np.float64)).astype(np.int64)
                if has_time
                else df.groupby(user_field, sort=False).cumcount().to_numpy(dtype=np.int64)
            ),
        }
    )
    files = [f"{name}/{name}.inter"]
    items = users_table = None
    item_path = folder / f"{name}.item"
    if item_path.is_file():
        idf, itypes = read_atomic(item_path)
        if item_field not in idf.columns:
            raise DataError(f"{item_path}, line 1: no field {item_field!r} in the header (fields: {list(itypes)})")
        items = _features(idf, itypes, item_field)
        files.append(f"{name}/{name}.item")
    user_path = folder / f"{name}.user"
    if user_path.is_file():
        udf, utypes = read_atomic(user_path)
        if user_field not in udf.columns:
            raise DataError(f"{user_path}, line 1: no field {user_field!r} in the header (fields: {list(utypes)})")
        users_table = _features(udf, utypes, user_field)
        files.append(f"{name}/{name}.user")
    text_available = items is not None and any(c in items.columns for c in ("title", "description"))
    return RawData(
        interactions=inter,
        items=items,
        users=users_table,
        files=files,
        has_timestamps=has_time,
        has_ratings=has_ratings,
        text_available=text_available,
    )


register_dataset(
    "recbole",
    summary="Any dataset in RecBole atomic-file format (param dataset: folder and file stem, e.g. 'ml-100k')",
    files=recbole_files,
    url=HOMEPAGE,
    homepage=HOMEPAGE,
    citation="Wayne Xin Zhao et al. 2021. RecBole: Towards a Unified, Comprehensive and Efficient Framework for "
    "Recommendation Algorithms. CIKM 2021.",
    tags=("format",),
    params_help={"dataset": "the folder <root>/<dataset>/ holding <dataset>.inter (.item, .user optional)"},
    version="1",
)(load_recbole)
