"""Precomputed item feature vectors attached to a dataset (``item_features: {image: FILE}``).

A dataset in a suite may name files of item vectors computed elsewhere, e.g. image embeddings (CLIP
or any other model: ssl4rec does not download images; Amazon 2018 / 2023 metadata keep the image URLs
so a user can fetch and embed them). Formats, keyed by the dataset's raw item ids:

* ``.npz`` with arrays ``ids`` (the raw item ids) and ``vectors`` (``[n, d]``);
* ``.parquet`` / ``.csv`` with a column ``item_id`` and either a list column ``vector`` or numeric
  columns (every column but ``item_id``).

A relative path is read from the data root. Rows for ids outside the catalogue are ignored and
catalogue items without a row get no vector; both are counted in ``Dataset.info["item_features"]``
together with the file's sha256 (also in ``source_files``, so records keep it). The vectors go into
the items table's ``image`` column (a float32 array per item, None where missing), which the SSL
model's ``item_repr: image | id+image | text+image | id+text+image`` reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import DataError, sha256_file

__all__ = ["FEATURE_KINDS", "attach_item_features"]

FEATURE_KINDS = ("image",)


def _read(path: Path) -> tuple[list[str], np.ndarray]:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                if "ids" not in z.files or "vectors" not in z.files:
                    raise DataError(
                        f"{path}: an .npz of item features holds arrays 'ids' and 'vectors', found {z.files}"
                    )
                ids, vectors = z["ids"], z["vectors"]
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable .npz ({exc})") from exc
    elif suffix in (".parquet", ".csv"):
        import pandas as pd

        try:
            frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
        except Exception as exc:  # noqa: BLE001  (pyarrow / parser errors of many kinds)
            raise DataError(f"{path}: not a readable {suffix[1:]} file ({type(exc).__name__}: {exc})") from exc
        if "item_id" not in frame.columns:
            raise DataError(f"{path}: item features need a column 'item_id' (found {list(frame.columns)[:8]})")
        ids = frame["item_id"].to_numpy()
        if "vector" in frame.columns:
            vectors = (
                np.stack([np.asarray(v, dtype=np.float32) for v in frame["vector"]]) if len(frame) else np.zeros((0, 0))
            )
        else:
            vectors = frame.drop(columns=["item_id"]).to_numpy(dtype=np.float32)
    else:
        raise DataError(
            f"{path}: item features are read from .npz (ids + vectors), .parquet or .csv, not {suffix or 'no suffix'}"
        )
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(ids) != vectors.shape[0]:
        raise DataError(f"{path}: {len(ids)} ids but vectors of shape {tuple(vectors.shape)}: one [d] vector per id")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}, row {row + 1} (item {ids[row]!s}): the vector has a non-finite value")
    return [str(i) for i in ids.tolist()], vectors


def attach_item_features(ds: Any, features: dict[str, Any], root: Path) -> None:
    """Read each ``{kind: file}`` of ``features`` and put its vectors into ``ds.items[kind]``."""
    from ..registry import ConfigError

    if not isinstance(features, dict):
        raise ConfigError(f"item_features must be a mapping like {{image: FILE}}, got {features!r}")
    info = ds.info.setdefault("item_features", {})
    for kind, file in features.items():
        if kind not in FEATURE_KINDS:
            raise ConfigError(f"item_features: unknown kind {kind!r}; known: {', '.join(FEATURE_KINDS)}")
        path = Path(file)
        path = path if path.is_absolute() else Path(root) / path
        if not path.is_file():
            raise DataError(f"item_features {kind}: no file {path} (a relative path is read from the data root {root})")
        ids, vectors = _read(path)
        where = {k: i for i, k in enumerate(ids)}
        raw = (
            [str(r) for r in ds.items["raw_id"].tolist()]
            if "raw_id" in ds.items.columns
            else [str(i) for i in range(len(ds.items))]
        )
        rows = [where.get(r) for r in raw]
        ds.items[kind] = [vectors[j] if j is not None else None for j in rows]
        digest = sha256_file(path)
        info[kind] = {
            "file": str(path),
            "sha256": digest,
            "dim": int(vectors.shape[1]),
            "items": len(raw),
            "items_without": sum(j is None for j in rows),
            "unknown_ids": len(set(ids) - set(raw)),
        }
        ds.info.setdefault("source_files", {})[f"item_features/{kind}"] = digest
