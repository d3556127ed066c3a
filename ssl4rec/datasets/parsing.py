"""Readers for the sources' text formats: fast on good files, precise on bad ones.

The happy path is vectorised (``pandas.read_csv``); only when it fails, or yields missing
values, is the file scanned line by line to find the first bad line, which is reported with
the file path, its 1-based line number and the line itself.
"""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from .base import DataError

try:  # optional accelerator; the standard library is the fallback
    import orjson as _orjson

    _json_loads = _orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _json_loads = json.loads

__all__ = [
    "read_table",
    "read_json_lines",
    "open_text",
    "split_title_year",
    "clean_text",
    "bad_line",
    "require",
    "clean_list",
]

_PD_DTYPES = {"int": "int64", "float": "float64", "str": "object"}
_SEP_NAMES = {"\t": "tab", ",": "comma", "|": "'|'", "::": "'::'", " ": "space"}
_MAX_SHOWN = 300


def bad_line(path: Path | str, lineno: int, reason: str, line: str | bytes) -> DataError:
    """A :class:`DataError` naming the file, the 1-based line number and the offending line."""
    shown = line if len(line) <= _MAX_SHOWN else line[:_MAX_SHOWN] + ("..." if isinstance(line, str) else b"...")
    return DataError(f"{path}, line {lineno}: {reason}: {shown!r}")


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def open_text(path: Path, encoding: str = "utf-8") -> IO[str]:
    """Open a (possibly gzip-compressed) text file."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def _check_value(kind: str, value: str) -> str | None:
    """Why ``value`` is not a valid ``kind`` ("int", "float", "str"), or None if it is."""
    if kind == "int":
        try:
            int(value)
        except ValueError:
            return f"not an integer: {value!r}"
    elif kind == "float":
        try:
            x = float(value)
        except ValueError:
            return f"not a number: {value!r}"
        if not math.isfinite(x):
            return f"not a finite number: {value!r}"
    return None


def _split(line: str, sep: str, quoting: int) -> list[str]:
    if quoting == csv.QUOTE_NONE or len(sep) > 1:
        return line.split(sep)
    return next(csv.reader([line], delimiter=sep, quoting=quoting))


def _locate_error(
    path: Path,
    columns: Sequence[tuple[str, str]],
    *,
    sep: str,
    header: bool,
    encoding: str,
    quoting: int,
    cause: BaseException | None,
    minimum: dict[str, float] | None = None,
) -> DataError:
    """Scan ``path`` line by line and describe the first line that does not parse (or holds a value
    below its column's ``minimum``)."""
    names = ", ".join(c for c, _ in columns)
    sep_name = _SEP_NAMES.get(sep, repr(sep))
    with _open_binary(path) as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return bad_line(path, lineno, f"not valid {encoding} text ({exc.reason})", raw.rstrip(b"\r\n"))
            line = line.rstrip("\r\n")
            if header and lineno == 1:
                continue
            if not line.strip():
                continue
            fields = _split(line, sep, quoting)
            if len(fields) != len(columns):
                return bad_line(
                    path,
                    lineno,
                    f"expected {len(columns)} {sep_name}-separated fields ({names}), found {len(fields)}",
                    line,
                )
            for (name, kind), value in zip(columns, fields, strict=True):
                why = _check_value(kind, value)
                if why is not None:
                    return bad_line(path, lineno, f"field {name!r} is {why}", line)
                if minimum and name in minimum and float(value) < minimum[name]:
                    return bad_line(
                        path,
                        lineno,
                        f"field {name!r} is {value.strip()}, below {minimum[name]:g} (this format has no {name} below "
                        f"{minimum[name]:g}; fix or drop the line)",
                        line,
                    )
    return DataError(f"{path}: could not be parsed as {sep_name}-separated {names}: {cause}")


def _check_header(path: Path, expected: Sequence[str], sep: str, encoding: str, quoting: int) -> None:
    with _open_binary(path) as f:
        raw = f.readline()
    try:
        line = raw.decode(encoding).rstrip("\r\n").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise bad_line(path, 1, f"not valid {encoding} text ({exc.reason})", raw) from None
    got = [h.strip() for h in _split(line, sep, quoting)] if line else []
    if got != list(expected):
        raise bad_line(path, 1, f"expected the header {sep.join(expected)!r}", line)


def read_table(
    path: Path,
    columns: Sequence[tuple[str, str]],
    *,
    sep: str,
    header: Sequence[str] | None = None,
    encoding: str = "utf-8",
    quoting: int = csv.QUOTE_MINIMAL,
    minimum: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Read a delimited text file with a fixed number of typed columns.

    Args:
        path: the file (``.gz`` is decompressed).
        columns: ``(name, kind)`` pairs in file order; kind is ``"int"``, ``"float"`` or ``"str"``.
            int and float fields must be present and valid on every line; str fields are kept
            verbatim (an empty field is ``""``).
        sep: field separator; may have several characters (``"::"``).
        header: the header line the file must start with, or None when it has none.
        encoding: text encoding of the file.
        quoting: a ``csv.QUOTE_*`` constant (``QUOTE_NONE`` for formats without quoting).
        minimum: numeric columns' smallest allowed values (``{"rating": 0, "timestamp": 0}``).

    Raises:
        DataError: naming the file, the 1-based line number and the line that does not parse.
    """
    path = Path(path)
    names = [c for c, _ in columns]
    if header is not None:
        _check_header(path, header, sep, encoding, quoting)
    source: Any = path
    pd_sep, pd_quoting, pd_encoding = sep, quoting, encoding
    try:
        if len(sep) > 1:
            # the C parser takes one-character separators only; "::" files have no tabs or quoting
            with _open_binary(path) as f:
                text = f.read().decode(encoding)
            source = io.StringIO(text.replace(sep, "\t"))
            pd_sep, pd_quoting, pd_encoding = "\t", csv.QUOTE_NONE, None
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(
                source,
                sep=pd_sep,
                header=None,
                names=names,
                skiprows=1 if header is not None else 0,
                dtype={c: _PD_DTYPES[k] for c, k in columns},
                encoding=pd_encoding,
                quoting=pd_quoting,
                index_col=False,
                keep_default_na=False,
                na_values=[""],
                engine="c",
            )
    except (ValueError, pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError, OverflowError) as exc:
        raise _locate_error(
            path, columns, sep=sep, header=header is not None, encoding=encoding, quoting=quoting, cause=exc
        ) from None
    numeric = [c for c, k in columns if k != "str"]
    if numeric:
        bad = df[numeric].isna().any(axis=1).to_numpy().copy()
        floats = [c for c, k in columns if k == "float"]
        if floats:
            bad |= ~np.isfinite(df[floats].to_numpy(dtype=np.float64)).all(axis=1)
        if bad.any():
            raise _locate_error(
                path, columns, sep=sep, header=header is not None, encoding=encoding, quoting=quoting, cause=None
            )
    if minimum and any(bool((df[c] < v).any()) for c, v in minimum.items()):
        raise _locate_error(
            path,
            columns,
            sep=sep,
            header=header is not None,
            encoding=encoding,
            quoting=quoting,
            cause=None,
            minimum=minimum,
        )
    for c, k in columns:
        if k == "str" and df[c].hasnans:
            df[c] = df[c].fillna("")
    return df


def read_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON-lines file (``.gz`` ok).

    Raises:
        DataError: on a line that is not a JSON object, with file, line number and line.
    """
    path = Path(path)
    with _open_binary(path) as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = _json_loads(raw)
            except ValueError as exc:
                raise bad_line(path, lineno, f"not valid JSON ({exc})", _show(raw)) from None
            if not isinstance(obj, dict):
                raise bad_line(path, lineno, "expected a JSON object", _show(raw))
            yield lineno, obj


def _show(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


def require(obj: dict[str, Any], key: str, kind: str, path: Path, lineno: int) -> Any:
    """``obj[key]`` checked to be a ``kind`` ("str", "number", "int"); raises a located DataError."""
    if key not in obj or obj[key] is None:
        raise bad_line(path, lineno, f"missing field {key!r}", _dump(obj))
    value = obj[key]
    ok = (
        (kind == "str" and isinstance(value, str) and value != "")
        or (
            kind == "number" and isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
        or (kind == "int" and isinstance(value, int) and not isinstance(value, bool))
    )
    if not ok and kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if not ok and kind in ("int", "number") and isinstance(value, str):
        try:  # some dumps quote numbers
            num = float(value)
            if math.isfinite(num) and (kind == "number" or num.is_integer()):
                return int(num) if kind == "int" else num
        except ValueError:
            pass
    if not ok:
        raise bad_line(path, lineno, f"field {key!r} should be a {kind}, got {value!r}", _dump(obj))
    return value


def _dump(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(obj)


_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\)\s*$")


def split_title_year(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Split MovieLens titles ``"Toy Story (1995)"`` into ``("Toy Story", 1995)``.

    Titles without a trailing year keep their text and get a missing (``<NA>``) year; a range
    such as ``"(1975-1979)"`` gives its first year.
    """
    titles = titles.astype(str).str.strip()
    parts = titles.str.extract(_TITLE_YEAR)
    has = parts["year"].notna()
    title = titles.where(~has, parts["title"])
    year = pd.to_numeric(parts["year"], errors="coerce").astype("Int64")
    return title, year


_BLOCKS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"</?[A-Za-z!][^<>]{0,2000}>")
_SPACE = re.compile(r"\s+")


def clean_text(value: Any) -> str:
    """Plain text from a metadata field: HTML tags and entities removed, whitespace collapsed.

    Lists are joined with spaces; None and non-text values give ``""``.
    """
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(t for t in (clean_text(v) for v in value) if t)
    if not isinstance(value, str):
        return ""
    text = value
    if "<" in text:
        text = _TAGS.sub(" ", _BLOCKS.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
    return _SPACE.sub(" ", text).strip()


def clean_list(value: Any) -> list[str]:
    """A list of cleaned, non-empty, distinct strings (order kept) from a list or a string."""
    if value is None:
        return []
    values = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    seen: set[str] = set()
    for v in values:
        t = clean_text(v)
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    return out
