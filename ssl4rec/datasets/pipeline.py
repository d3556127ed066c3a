"""The one pipeline every dataset goes through.

locate / download files -> loader (raw ids) -> preprocessing -> dense ids -> :class:`Dataset`.

Dense ids are assigned in sorted raw-id order (users and items separately), so they do not
depend on file order or on which rows preprocessing removed; interactions are sorted by
(user, timestamp, file order). ``info`` records the source files with their sha256, the data
root, every preprocessing step with counts, the final counts and a checksum of the final
interactions.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..interactions import Dataset, frame_fingerprint, normalize_frame
from ..registry import DATASETS, ConfigError, Entry, check_keys
from .base import DataError, FileSpec, MissingDataError, RawData, data_root, sha256_file
from .download import ensure_files, missing_files, missing_message
from .preprocess import Preprocessing, apply_preprocessing

logger = logging.getLogger(__name__)

__all__ = ["load_dataset", "dataset_info", "dataset_files", "build_dataset", "default_text"]


def _loader_params(entry: Entry, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``params`` against the loader signature (minus ``root``) and fill defaults."""
    sig = inspect.signature(entry.obj)
    accepted = list(sig.parameters.values())[1:]
    check_keys(params, [p.name for p in accepted], f"dataset {entry.name!r}")
    out: dict[str, Any] = {}
    missing = []
    for p in accepted:
        if p.name in params:
            out[p.name] = params[p.name]
        elif p.default is inspect.Parameter.empty:
            missing.append(p.name)
        else:
            out[p.name] = p.default
    if missing:
        helps = entry.meta.get("params_help", {})
        detail = "; ".join(f"{m}: {helps[m]}" if m in helps else m for m in missing)
        raise ConfigError(f"dataset {entry.name!r} requires parameter(s) {', '.join(map(repr, missing))} ({detail}).")
    normalize = entry.meta.get("normalize_params")
    return dict(normalize(out)) if normalize is not None else out


def check_dataset_spec(name: str, params: Mapping[str, Any], preprocessing: Mapping[str, Any] | None = None) -> None:
    """Validate a dataset reference without reading any data: the name, the loader parameters
    (unknown, missing) and the preprocessing settings. Raises what :func:`load_dataset` would."""
    entry = DATASETS.entry(name)
    params = dict(params)
    features = params.pop("item_features", None)
    if features is not None:
        from .features import FEATURE_KINDS

        if not isinstance(features, dict) or not set(features) <= set(FEATURE_KINDS):
            raise ConfigError(f"item_features must map {', '.join(FEATURE_KINDS)} to a file, got {features!r}")
    _loader_params(entry, params)
    Preprocessing.from_dict(preprocessing)


def dataset_files(entry: Entry, params: Mapping[str, Any]) -> list[FileSpec]:
    """The :class:`FileSpec` s of a registered dataset for the given (resolved) loader params."""
    files = entry.meta.get("files", [])
    if callable(files):
        names = inspect.signature(files).parameters
        files = files(**{k: v for k, v in params.items() if k in names})
    return list(files)


def _variant_name(entry: Entry, params: Mapping[str, Any]) -> str:
    """``"ml-100k"``, or ``"amazon2018[category=Gift_Cards]"`` when params differ from defaults."""
    defaults = {
        p.name: p.default
        for p in list(inspect.signature(entry.obj).parameters.values())[1:]
        if p.default is not inspect.Parameter.empty
    }
    changed = [f"{k}={v}" for k, v in params.items() if k not in defaults or defaults[k] != v]
    return f"{entry.name}[{','.join(changed)}]" if changed else entry.name


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    download: bool = True,
    **params: Any,
) -> Dataset:
    """Load a registered dataset, preprocess it and give it dense ids.

    Args:
        name: registered dataset name (``ssl4rec list datasets``).
        data_dir: data root; default ``$SSL4REC_DATA``, else ``~/.cache/ssl4rec``.
        preprocessing: ``implicit_threshold``, ``k_core`` / ``user_core`` / ``item_core``,
            ``dedup`` (see :class:`~ssl4rec.datasets.preprocess.Preprocessing`).
        download: fetch missing files from the official address (verified by sha256).
        **params: loader parameters (e.g. ``category="Gift_Cards"``), and for any dataset
            ``item_features={"image": FILE}`` (:mod:`ssl4rec.datasets.features`).

    Raises:
        UnknownNameError: unknown dataset name (with suggestions).
        ConfigError: unknown or missing loader parameters, bad preprocessing settings.
        MissingDataError: files are missing and cannot be downloaded; says what to put where.
        DataError: malformed source files, checksum mismatch, preprocessing that empties the data.
    """
    entry = DATASETS.entry(name)
    item_features = params.pop("item_features", None)  # any dataset: vectors keyed by raw item id
    resolved = _loader_params(entry, params)
    prep = Preprocessing.from_dict(preprocessing)
    specs = dataset_files(entry, resolved)
    root = data_root(data_dir)
    if specs:
        ensure_files(entry.name, root, specs, download=download, homepage=entry.meta.get("homepage", ""))
    t0 = time.perf_counter()
    raw = entry.obj(root, **resolved)
    if not isinstance(raw, RawData):
        raise TypeError(f"dataset loader {entry.name!r} returned {type(raw).__name__}, expected RawData")
    t_load = time.perf_counter() - t0
    ds = build_dataset(
        _variant_name(entry, resolved),
        raw,
        prep,
        root=root if specs else None,
        specs=specs,
        loader_version=entry.version,
        extra_info={"dataset": entry.name, "params": resolved},
    )
    if item_features:
        from .features import attach_item_features

        attach_item_features(ds, item_features, root)
    ds.info["seconds"] = {"load": round(t_load, 4), "total": round(time.perf_counter() - t0, 4)}
    logger.info(
        "loaded %s: %d users, %d items, %d interactions in %.2fs",
        ds.name,
        ds.n_users,
        ds.n_items,
        len(ds.interactions),
        time.perf_counter() - t0,
    )
    return ds


def _source_info(root: Path | None, raw: RawData, specs: list[FileSpec]) -> dict[str, Any]:
    """sha256 of every file the loader read, where it was found, and whether it matched a reference."""
    if root is None:
        return {"source_files": {}, "files": {}, "source_verified": {}}
    reference = {}
    for spec in specs:
        for rel in (spec.path, *spec.alternatives):
            reference[rel] = spec.sha256 if rel == spec.path else None
    source_files, where, verified = {}, {}, {}
    for rel in raw.files:
        path = root / rel
        digest = sha256_file(path)
        source_files[rel] = digest
        where[rel] = str(path.resolve())
        expected = reference.get(rel)
        if expected is None:
            verified[rel] = None
        elif expected == digest:
            verified[rel] = True
        else:
            verified[rel] = False
            logger.warning(
                "%s differs from the reference copy (sha256 %s, expected %s); results may not match published ones",
                path,
                digest,
                expected,
            )
    return {"source_files": source_files, "files": where, "source_verified": verified}


def _side_table(
    table: pd.DataFrame | None, raw_ids: np.ndarray, kind: str, name: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Side table in dense-id order with ``raw_id`` first; rows without interactions dropped."""
    ids = pd.Index(raw_ids)
    stats = {"dropped_without_interactions": 0, "without_metadata": 0}
    if table is None:
        out = pd.DataFrame({"raw_id": raw_ids})
        out.index.name = kind
        return out, {**stats, "has_table": False}
    stats["has_table"] = True
    if not table.index.is_unique:
        n_dup = int(table.index.duplicated().sum())
        logger.warning("%s: %d duplicate raw ids in the %s side table; keeping the first of each", name, n_dup, kind)
        table = table[~table.index.duplicated(keep="first")]
    present = ids.isin(table.index)
    stats["without_metadata"] = int((~present).sum())
    stats["dropped_without_interactions"] = int((~table.index.isin(ids)).sum())
    out = table.reindex(ids)
    if stats["without_metadata"] and not present.any() and len(table):
        logger.warning(
            "%s: no %s id matches the %s side table (interaction ids like %r, side-table ids like %r): "
            "do their types differ?",
            name,
            kind,
            kind,
            raw_ids[0],
            table.index[0],
        )
    elif stats["without_metadata"]:
        logger.info("%s: %d %ss have interactions but no side-table row", name, stats["without_metadata"], kind)
    if stats["without_metadata"]:
        for col in out.columns:
            sample = table[col].dropna()
            if not len(sample):
                continue
            first = sample.iloc[0]
            if isinstance(first, list | tuple):
                out[col] = [[] if not p else v for v, p in zip(out[col].tolist(), present, strict=True)]
            elif isinstance(first, str):
                out[col] = out[col].where(present, "")
    out = out.reset_index(drop=True)
    out.insert(0, "raw_id", raw_ids)
    out.index.name = kind
    return out, stats


def _user_time_order(users: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Row order sorting by (user, timestamp), ties in file order (a stable sort)."""
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64)
    lo, span = int(ts.min()), int(ts.max()) - int(ts.min()) + 1
    if span * (int(users.max()) + 1) < 2**62:  # one composite int64 key: about 3x faster than lexsort
        return np.argsort(users.astype(np.int64) * span + (ts - lo), kind="stable")
    return np.lexsort((ts, users))


def _compact(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(dense id of each row, surviving codes in order) for codes in ``0..n-1``, in O(n)."""
    present = np.bincount(codes, minlength=n) > 0
    rank = np.cumsum(present) - 1
    return rank[codes].astype(np.int64), np.flatnonzero(present)


def default_text(items: pd.DataFrame) -> list[str]:
    """One plain-text description per item from whichever fields exist.

    ``"Toy Story (1995). Genres: Animation, Comedy. Tags: pixar, fun."`` — the text module can
    build its own templates from the same columns; this is the fallback ``text`` column.
    """
    n = len(items)
    parts: list[list[str]] = [[] for _ in range(n)]

    def col(name: str) -> list[Any] | None:
        return items[name].tolist() if name in items.columns else None

    titles, years = col("title"), col("year")
    if titles is not None:
        for k, t in enumerate(titles):
            if isinstance(t, str) and t:
                y = years[k] if years is not None else None
                parts[k].append(f"{t} ({int(y)})" if y is not None and not pd.isna(y) else t)
    for field, label in (
        ("brand", "Brand"),
        ("genres", "Genres"),
        ("categories", "Categories"),
        ("tags", "Tags"),
        ("features", "Features"),
        ("description", "Description"),
    ):
        values = col(field)
        if values is None:
            continue
        for k, value in enumerate(values):
            v = ", ".join(str(x) for x in value if str(x)) if isinstance(value, list) else value
            if isinstance(v, str) and v:
                parts[k].append(f"{label}: {v}")
    return [". ".join(p) for p in parts]


def build_dataset(
    name: str,
    raw: RawData,
    prep: Preprocessing,
    *,
    root: Path | None = None,
    specs: list[FileSpec] | None = None,
    loader_version: str = "1",
    extra_info: Mapping[str, Any] | None = None,
) -> Dataset:
    """Preprocess raw interactions, assign dense ids and assemble the :class:`Dataset`."""
    inter = raw.interactions
    missing_cols = [c for c in ("user", "item", "rating", "timestamp") if c not in inter.columns]
    if missing_cols:
        raise TypeError(f"loader for {name!r} returned interactions without columns {missing_cols}")
    if len(inter) == 0:
        raise DataError(f"dataset {name!r}: the source files {raw.files} hold no interactions")

    # integer codes in sorted raw-id order: all later steps work on ints, and the final dense
    # ids (ranks of surviving codes) are in sorted raw-id order too
    try:
        u_codes, u_raw = pd.factorize(inter["user"], sort=True)
        i_codes, i_raw = pd.factorize(inter["item"], sort=True)
    except TypeError as exc:
        raise TypeError(f"loader for {name!r} returned raw ids of mixed types: {exc}") from exc
    coded = pd.DataFrame(
        {
            "user": u_codes.astype(np.int64),
            "item": i_codes.astype(np.int64),
            "rating": inter["rating"].to_numpy(dtype=np.float64),
            "timestamp": inter["timestamp"].to_numpy(dtype=np.int64),
        }
    )
    raw_counts = {"users": len(u_raw), "items": len(i_raw), "interactions": len(coded)}
    kept, steps = apply_preprocessing(coded, prep, has_ratings=raw.has_ratings, name=name)

    # dense ids: ranks of the surviving codes (codes are in sorted raw-id order)
    user_dense, user_codes = _compact(kept["user"].to_numpy(), len(u_raw))
    item_dense, item_codes = _compact(kept["item"].to_numpy(), len(i_raw))
    ts = kept["timestamp"].to_numpy()
    order = _user_time_order(user_dense, ts)
    interactions = normalize_frame(
        pd.DataFrame(
            {
                "user": user_dense[order],
                "item": item_dense[order],
                "rating": kept["rating"].to_numpy()[order],
                "timestamp": ts[order],
            }
        )
    )
    user_raw_ids = np.asarray(u_raw)[user_codes]
    item_raw_ids = np.asarray(i_raw)[item_codes]
    users, user_stats = _side_table(raw.users, user_raw_ids, "user", name)
    items, item_stats = _side_table(raw.items, item_raw_ids, "item", name)
    item_stats["dropped_without_interactions"] += int(raw.items_skipped)
    if raw.text_available and "text" not in items.columns and len(items.columns) > 1:
        items["text"] = default_text(items)

    n_u, n_i, n = len(users), len(items), len(interactions)
    info: dict[str, Any] = {"name": name, **dict(extra_info or {})}
    info.update(_source_info(root, raw, list(specs or [])))
    info.update(
        {
            "root": str(root.resolve()) if root is not None else None,
            "preprocessing": steps,
            "preprocessing_config": prep.to_dict(),
            "raw_counts": raw_counts,
            "counts": {"users": n_u, "items": n_i, "interactions": n, "density": n / max(1, n_u * n_i)},
            "users_side_table": user_stats,
            "items_side_table": item_stats,
            "items_dropped_without_interactions": item_stats["dropped_without_interactions"],
            "has_timestamps": raw.has_timestamps,
            "has_ratings": raw.has_ratings,
            "text_available": raw.text_available,
            "loader_version": loader_version,
        }
    )
    info.update(raw.info)
    info["checksum"] = frame_fingerprint(interactions)
    return Dataset(name=name, interactions=interactions, users=users, items=items, info=info)


def dataset_info(
    name: str, data_dir: str | Path | None = None, preprocessing: Mapping[str, Any] | None = None, **params: Any
) -> dict[str, Any]:
    """What is known about a dataset on this machine (never downloads).

    Returns:
        A dict with ``name``, ``summary``, ``homepage``, ``citation``, ``root``, ``files`` (per file:
        where it was found, size, expected and actual sha256, whether it matches) and ``missing``.
        When every required file is present the dataset is loaded and ``counts`` (with density),
        ``raw_counts``, ``checksum``, ``preprocessing`` and the flags are added; otherwise
        ``error`` holds the message saying which files to put where.
    """
    entry = DATASETS.entry(name)
    resolved = _loader_params(entry, params)
    specs = dataset_files(entry, resolved)
    root = data_root(data_dir)
    out: dict[str, Any] = {
        "name": _variant_name(entry, resolved),
        "dataset": entry.name,
        "params": resolved,
        "summary": entry.summary,
        "homepage": entry.meta.get("homepage", ""),
        "url": entry.meta.get("url", ""),
        "citation": entry.meta.get("citation", ""),
        "tags": list(entry.tags),
        "root": str(root),
        "files": [],
    }
    for spec in specs:
        found = spec.locate(root)
        row: dict[str, Any] = {
            "path": spec.path,
            "found": str(found.resolve()) if found else None,
            "optional": spec.optional,
            "url": spec.url,
            "member": spec.member,
            "sha256_expected": spec.sha256,
        }
        if found is not None:
            actual = sha256_file(found)
            row.update(
                size=found.stat().st_size,
                sha256=actual,
                verified=None if spec.sha256 is None or found != root / spec.path else actual == spec.sha256,
            )
        out["files"].append(row)
    missing = missing_files(root, specs)
    out["missing"] = [s.path for s in missing]
    if missing:
        out["error"] = missing_message(entry.name, root, missing, "not downloaded", out["homepage"])
        return out
    try:
        ds = load_dataset(name, data_dir=root, preprocessing=preprocessing, download=False, **params)
    except MissingDataError as exc:  # pragma: no cover - raced with a deletion
        out["error"] = str(exc)
        return out
    keys = (
        "counts",
        "raw_counts",
        "checksum",
        "preprocessing",
        "has_timestamps",
        "has_ratings",
        "text_available",
        "loader_version",
        "source_files",
        "items_dropped_without_interactions",
        "seconds",
    )
    out.update({k: ds.info[k] for k in keys if k in ds.info})
    out["item_columns"] = list(ds.items.columns)
    out["user_columns"] = list(ds.users.columns)
    return out
