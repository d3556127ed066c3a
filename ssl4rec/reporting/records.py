"""The results store: one JSON record per finished cell, written atomically.

Layout under a results folder::

    records/<dataset>/<split>/<model>/seed<k>-<config hash>.json   # the record
    records/<dataset>/<split>/<model>/seed<k>-<config hash>.npz    # per-user metric arrays
    failed/<same path>.json                                         # last failure (not "finished")

A record exists only when the cell finished; re-running a suite skips cells whose record
exists, so a killed run resumes. Records from several machines merge by copying folders.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_UMASK = os.umask(0)
os.umask(_UMASK)

__all__ = ["SCHEMA_VERSION", "ResultsStore", "config_hash", "safe_name", "atomic_write_bytes"]


def safe_name(s: str) -> str:
    """A filesystem-safe version of a label (keeps letters, digits, ``.-_+=,``)."""
    return re.sub(r"[^A-Za-z0-9._+=,-]+", "_", s).strip("_") or "_"


def config_hash(obj: Any) -> str:
    """Short stable hash of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        v = float(o)
        return v if np.isfinite(v) else None
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, np.ndarray):
        return [_jsonable(x) for x in o.tolist()]
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, Path):
        return str(o)
    return o


class ResultsStore:
    """Read and write cell records under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def rel_path(self, dataset: str, split: str, model: str, seed: int, chash: str) -> Path:
        return Path(safe_name(dataset)) / safe_name(split) / safe_name(model) / f"seed{seed}-{chash}.json"

    def record_path(self, rel: Path) -> Path:
        return self.root / "records" / rel

    def exists(self, rel: Path) -> bool:
        p = self.record_path(rel)
        if not p.exists():
            return False
        try:
            json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            logger.warning("record %s is unreadable; the cell will run again", p)
            return False
        return True

    def write(self, rel: Path, record: dict[str, Any], per_user: dict[str, np.ndarray] | None = None) -> Path:
        """Write the per-user arrays, then the record (its presence marks the cell finished)."""
        path = self.record_path(rel)
        record = dict(record)
        if per_user:
            npz = path.with_suffix(".npz")
            import io

            buf = io.BytesIO()
            np.savez_compressed(buf, **{k.replace("/", "__"): v for k, v in per_user.items()})
            atomic_write_bytes(npz, buf.getvalue())
            record["per_user_file"] = npz.name
        atomic_write_bytes(path, json.dumps(_jsonable(record), indent=1, sort_keys=False).encode())
        (self.root / "failed" / rel).unlink(missing_ok=True)
        return path

    def write_failure(self, rel: Path, record: dict[str, Any]) -> Path:
        path = self.root / "failed" / rel
        atomic_write_bytes(path, json.dumps(_jsonable(record), indent=1).encode())
        return path

    def iter_records(self, include_failed: bool = False) -> Iterator[dict[str, Any]]:
        """Every readable record (with ``_path`` set), sorted by path."""
        dirs = [self.root / "records"] + ([self.root / "failed"] if include_failed else [])
        for base in dirs:
            if not base.is_dir():
                continue
            for p in sorted(base.rglob("*.json")):
                if p.name.startswith("."):
                    continue
                try:
                    rec = json.loads(p.read_text())
                except (OSError, json.JSONDecodeError) as exc:
                    logger.warning("skipping unreadable record %s: %s", p, exc)
                    continue
                rec["_path"] = str(p.relative_to(self.root))
                yield rec

    def per_user(self, record: dict[str, Any]) -> dict[str, np.ndarray]:
        """Load the per-user arrays of ``record`` (empty when absent)."""
        name = record.get("per_user_file")
        if not name:
            return {}
        p = (self.root / record["_path"]).with_name(name)
        if not p.exists():
            return {}
        with np.load(p) as z:
            return {k.replace("__", "/"): z[k] for k in z.files}
