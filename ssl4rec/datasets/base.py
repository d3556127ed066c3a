"""Shared building blocks of the dataset loaders: errors, file specs, raw data, data root, sha256.

A loader is a function ``load(root: Path, **params) -> RawData`` registered with
:func:`ssl4rec.registry.register_dataset`. It reads the source's own files below ``root``
and returns the interactions with the source's RAW ids; everything after that (preprocessing,
dense ids, provenance) is done once for all sources by :mod:`ssl4rec.datasets.pipeline`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from ..registry import ConfigError, did_you_mean

logger = logging.getLogger(__name__)

__all__ = [
    "ENV_VAR",
    "DataError",
    "MissingDataError",
    "FileSpec",
    "RawData",
    "data_root",
    "sha256_file",
    "check_category",
]

ENV_VAR = "SSL4REC_DATA"
"""Environment variable naming the data root."""

DEFAULT_ROOT = Path("~/.cache/ssl4rec")


class DataError(Exception):
    """A problem with a dataset's files or contents that the user can fix (bad line, wrong checksum, ...)."""


class MissingDataError(DataError):
    """Source files are absent and could not be downloaded.

    Attributes:
        missing: the :class:`FileSpec` s that are missing.
        root: the data root they were looked for in.
    """

    def __init__(self, message: str, missing: list[FileSpec] | None = None, root: Path | None = None) -> None:
        super().__init__(message)
        self.missing = list(missing or [])
        self.root = root


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One source file a dataset needs.

    Attributes:
        path: location relative to the data root, POSIX style (``"ml-100k/u.data"``).
        sha256: expected sha256 of the file's bytes, or None when no reference hash is known
            (the computed hash is then recorded and a warning says it is unverified).
        url: official address of the archive holding the file, or of the file itself.
        member: path of the file inside the archive at ``url``; None when ``url`` is the file.
        optional: the loader works without it (it is never downloaded on its own).
        alternatives: other relative paths accepted in its place (e.g. an uncompressed copy).
    """

    path: str
    sha256: str | None = None
    url: str | None = None
    member: str | None = None
    optional: bool = False
    alternatives: tuple[str, ...] = ()

    @property
    def folder(self) -> str:
        """The sub-folder of the data root the file goes in (``"ml-100k"``), or ``""``."""
        parent = Path(self.path).parent.as_posix()
        return "" if parent == "." else parent

    @property
    def filename(self) -> str:
        return Path(self.path).name

    def locate(self, root: Path) -> Path | None:
        """The existing file for this spec below ``root`` (the path or an alternative), else None."""
        for rel in (self.path, *self.alternatives):
            cand = root / rel
            if cand.is_file():
                return cand
        return None


@dataclasses.dataclass
class RawData:
    """What a loader returns: interactions with raw ids, raw-keyed side tables and provenance.

    Attributes:
        interactions: columns ``user``, ``item`` (raw ids, one consistent type per column),
            ``rating`` (float) and ``timestamp`` (int, unix seconds, or the position in the user's
            sequence when the source has no time).
        items: side table indexed by raw item id (unique) with feature columns such as ``title``,
            ``year``, ``genres`` (list[str]), ``categories`` (list[str]), ``brand``, ``description``,
            ``attributes`` (list), ``tags`` (list[str]), ``text``. None when the source has none.
        users: side table indexed by raw user id, or None.
        files: relative paths (below the root) of every file the loader read.
        has_timestamps: False when ``timestamp`` is a sequence position.
        has_ratings: False for implicit sources (``rating`` is then 1.0).
        text_available: whether items carry any text (title, description, ...).
        items_skipped: side-table records the loader did not keep because no interaction refers
            to them (large metadata files are filtered while reading); added to the pipeline's
            ``items_dropped_without_interactions``.
        info: loader-specific provenance merged into ``Dataset.info``.
    """

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    files: list[str] = dataclasses.field(default_factory=list)
    has_timestamps: bool = True
    has_ratings: bool = True
    text_available: bool = True
    items_skipped: int = 0
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder datasets are read from and downloaded to.

    ``data_dir`` when given, else ``$SSL4REC_DATA``, else ``~/.cache/ssl4rec``.
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DEFAULT_ROOT.expanduser()


# Cache of file hashes: (resolved path, size, mtime_ns) -> sha256. A cache, not configuration:
# an edited file has a new size or mtime and is hashed again.
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _sha_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file's bytes, computed once per process per (path, size, mtime)."""
    path = Path(path)
    key = _sha_key(path)
    cached = _SHA_CACHE.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    _SHA_CACHE[key] = digest
    return digest


def remember_sha256(path: Path, digest: str) -> None:
    """Record an already computed hash (after a verified download) in the cache."""
    _SHA_CACHE[_sha_key(path)] = digest


_WARNED: set[tuple[str, str]] = set()  # warn once per process about an unknown category
_CATEGORY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_&\-]*$")


def check_category(category: Any, known: tuple[str, ...], what: str) -> str:
    """Validate an Amazon-style category name and normalise its case to a known spelling.

    Unknown but well-formed names are accepted (the file lookup then decides); names that
    could escape the data folder (``/``, ``..``) are refused.
    """
    if not isinstance(category, str) or not _CATEGORY_RE.match(category):
        raise ConfigError(
            f"{what}: category must be a name like {known[0]!r} (letters, digits, '_'), got {category!r}."
        )
    if category in known:
        return category
    by_lower = {k.lower(): k for k in known}
    if category.lower() in by_lower:
        return by_lower[category.lower()]
    if (what, category) in _WARNED:
        return category
    _WARNED.add((what, category))
    logger.warning(
        "%s: category %r is not one of the %d known categories.%s",
        what,
        category,
        len(known),
        did_you_mean(category, known),
    )
    return category
