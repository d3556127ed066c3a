"""Find a dataset's source files, or download them from the official address and verify them.

Downloads go to a temporary folder inside the data root (same file system), archives are
extracted there, every extracted file is checked against its known sha256, and only when the
whole archive checks out are the files moved into place with :func:`os.replace` (atomic), so
an interrupted or corrupt download never leaves a half-written dataset behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

from .base import ENV_VAR, DataError, FileSpec, MissingDataError, remember_sha256, sha256_file

logger = logging.getLogger(__name__)

__all__ = ["fetch", "ensure_files", "missing_files", "missing_message"]

TIMEOUT_S = 60.0


def fetch(url: str, dest: Path) -> None:
    """Download ``url`` to the file ``dest`` (streamed). Tests replace this function.

    Raises:
        OSError: (including ``urllib.error.URLError``) when the download fails.
    """
    from .. import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"ssl4rec/{__version__}"})
    logger.info("downloading %s", url)
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
    logger.info("downloaded %s (%.1f MB)", url, dest.stat().st_size / 1e6)


def missing_files(root: Path, specs: Sequence[FileSpec]) -> list[FileSpec]:
    """The required specs with no file (or accepted alternative) below ``root``."""
    return [s for s in specs if not s.optional and s.locate(root) is None]


def missing_message(name: str, root: Path, missing: Sequence[FileSpec], reason: str, homepage: str = "") -> str:
    """The user-facing explanation of which files to put where, and where to get them."""
    lines = [f"dataset {name!r}: {len(missing)} source file(s) missing under the data root {root} ({reason}):"]
    for spec in missing:
        folder = root / spec.folder if spec.folder else root
        if spec.url and spec.member:
            origin = f"from {spec.url} (archive member {spec.member})"
        elif spec.url:
            origin = f"from {spec.url}"
        else:
            origin = f"no download address; get it from {homepage}" if homepage else "no download address"
        alt = f" (or {', '.join(Path(a).name for a in spec.alternatives)})" if spec.alternatives else ""
        lines.append(f"  - {spec.filename}{alt} -> put it in {folder}{os.sep}   [{origin}]")
    archives = sorted({s.url for s in missing if s.url and s.member})
    for url in archives:
        members = [s.member for s in missing if s.url == url]
        lines.append(f"Download {url} and extract {', '.join(str(m) for m in members)} into {root}{os.sep}.")
    if homepage:
        lines.append(f"Dataset page: {homepage}")
    lines.append(
        f"The data root is data_dir when given, else ${ENV_VAR}, else ~/.cache/ssl4rec; "
        f"set {ENV_VAR} to the folder that holds {', '.join(sorted({s.folder + '/' for s in missing if s.folder})) or 'the files'}."
    )
    return "\n".join(lines)


def ensure_files(
    name: str, root: Path, specs: Sequence[FileSpec], download: bool = True, homepage: str = ""
) -> list[FileSpec]:
    """Make sure every required file of ``specs`` exists below ``root``, downloading if allowed.

    Returns:
        The specs that were downloaded (empty when everything was already there).

    Raises:
        MissingDataError: files are missing and ``download`` is False, have no download address,
            or the download failed (no network, no write access).
        DataError: a downloaded file's sha256 differs from the expected one.
    """
    missing = missing_files(root, specs)
    if not missing:
        return []
    if not download:
        raise MissingDataError(missing_message(name, root, missing, "download=False", homepage), missing, root)
    no_url = [s for s in missing if not s.url]
    if no_url:
        raise MissingDataError(
            missing_message(name, root, missing, "they cannot be downloaded automatically", homepage), missing, root
        )
    by_url: dict[str, list[FileSpec]] = {}
    for spec in missing:
        by_url.setdefault(str(spec.url), []).append(spec)
    for url, group in by_url.items():
        try:
            _download_group(url, group, root)
        except DataError:
            raise
        except (OSError, urllib.error.URLError, zipfile.BadZipFile, EOFError) as exc:
            still = missing_files(root, specs)
            raise MissingDataError(
                missing_message(name, root, still, f"download failed: {type(exc).__name__}: {exc}", homepage),
                still,
                root,
            ) from exc
    return missing


def _download_group(url: str, specs: Sequence[FileSpec], root: Path) -> None:
    """Fetch one archive (or file), extract and verify ``specs``, then move them into place."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".ssl4rec-download-") as tmp_name:
        tmp = Path(tmp_name)
        suffix = "".join(Path(url.split("?", 1)[0]).suffixes[-2:]) or ".bin"
        fetched = tmp / f"download{suffix}"
        fetch(url, fetched)
        staged: list[tuple[FileSpec, Path, str]] = []
        for i, spec in enumerate(specs):
            if spec.member is None:
                src = fetched
            else:
                src = tmp / f"member-{i}"
                _extract(fetched, spec.member, src, url)
            actual = sha256_file(src)
            if spec.sha256 is not None and actual != spec.sha256.lower():
                raise DataError(
                    f"sha256 mismatch for {spec.path} downloaded from {url}: expected {spec.sha256}, got {actual}. "
                    "The download is corrupt or the upstream file changed; nothing was installed."
                )
            if spec.sha256 is None:
                logger.warning(
                    "%s downloaded from %s has no reference sha256; recorded %s but it is unverified",
                    spec.path,
                    url,
                    actual,
                )
            staged.append((spec, src, actual))
        for spec, staged_file, actual in staged:
            dest = root / spec.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = staged_file
            if spec.member is None and len(staged) > 1:  # one plain file serving several specs
                src = tmp / "copy"
                shutil.copyfile(staged_file, src)
            part = dest.with_name(f".{dest.name}.part")
            shutil.move(str(src), part)  # same file system as dest: a rename
            os.replace(part, dest)
            remember_sha256(dest, actual)
            logger.info("installed %s", dest)


def _extract(archive: Path, member: str, dest: Path, url: str) -> None:
    if not zipfile.is_zipfile(archive):
        raise zipfile.BadZipFile(f"{url} is not a zip archive")
    with zipfile.ZipFile(archive) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError:
            names = zf.namelist()
            raise DataError(
                f"archive {url} has no member {member!r} (it has {len(names)} members, e.g. {names[:5]})"
            ) from None
        with zf.open(info) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
