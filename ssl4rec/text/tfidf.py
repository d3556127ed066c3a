"""TF-IDF item vectors from an item side table (scipy only, no scikit-learn)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "words",
    "item_documents",
    "tfidf_matrix",
    "TEXT_COLUMNS",
    "FALLBACK_TEXT_COLUMNS",
    "LABEL_COLUMNS",
    "ID_COLUMNS",
]

#: Free-text columns, in order of preference: ``text`` when present, else ``title``.
TEXT_COLUMNS = ("text",)
FALLBACK_TEXT_COLUMNS = ("title",)
#: Label columns whose values become whole-value tokens (``genres=sci-fi``) when ``text`` is absent.
LABEL_COLUMNS = ("genres", "categories", "tags")
#: Id columns whose values always become tokens (``attributes=17``).
ID_COLUMNS = ("attributes",)

_WORD = re.compile(r"[^\W_]+")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NA or value is pd.NaT


def _values(value: Any) -> Iterable[Any]:
    """Flatten a cell (scalar, list, nested lists, numpy array) into its scalar values."""
    if _is_missing(value):
        return
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Series)):
        for v in value:
            yield from _values(v)
    else:
        yield value


def words(value: Any) -> list[str]:
    """Lower-cased word tokens of a cell (string, list, ...)."""
    return _words(value)


def _words(value: Any) -> list[str]:
    return [w for v in _values(value) for w in _WORD.findall(str(v).lower())]


def item_documents(items: pd.DataFrame, n_items: int) -> list[list[str]]:
    """Token lists per item id from an item side table.

    Each item's words come from ``text`` when that column exists and the cell is non-empty;
    otherwise from ``title`` plus the ``genres``/``categories``/``tags`` values as whole-value
    tokens (``genres=sci-fi``). ``attributes`` ids are always added as tokens (``attributes=17``).

    Args:
        items: side table with one row per item id (RangeIndex, or an integer index of ids).
        n_items: size of the id space.
    """
    if not (isinstance(items.index, pd.RangeIndex) and items.index.start == 0 and len(items) == n_items):
        if not pd.api.types.is_integer_dtype(items.index):
            raise ValueError("item table must be indexed by dense item id (0 .. n_items - 1)")
        items = items.reindex(pd.RangeIndex(n_items))
    cols = set(items.columns)
    text_cols = [c for c in TEXT_COLUMNS if c in cols]
    title_cols = [c for c in FALLBACK_TEXT_COLUMNS if c in cols]
    label_cols = [c for c in LABEL_COLUMNS if c in cols]
    id_cols = [c for c in ID_COLUMNS if c in cols]
    records = items[text_cols + title_cols + label_cols + id_cols].to_dict("records")
    docs = []
    for rec in records:
        toks = [w for c in text_cols for w in _words(rec[c])]
        if not toks:
            toks = [w for c in title_cols for w in _words(rec[c])]
            toks += [f"{c}={str(v).strip().lower()}" for c in label_cols for v in _values(rec[c]) if str(v).strip()]
        toks += [f"{c}={v}" for c in id_cols for v in _values(rec[c])]
        docs.append(toks)
    return docs


def tfidf_matrix(
    docs: list[list[str]], min_df: int = 1, max_df: float = 1.0, sublinear_tf: bool = False
) -> tuple[sp.csr_matrix, list[str]]:
    """L2-normalised TF-IDF rows (smooth idf ``ln((1 + n) / (1 + df)) + 1``) and the vocabulary."""
    vocab: dict[str, int] = {}
    indptr = np.zeros(len(docs) + 1, dtype=np.int64)
    indices: list[int] = []
    for d, toks in enumerate(docs):
        indices.extend(vocab.setdefault(t, len(vocab)) for t in toks)
        indptr[d + 1] = len(indices)
    n = len(docs)
    counts = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
        shape=(n, len(vocab)),
    )
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=len(vocab))
    keep = (df >= min_df) & (df <= max_df * n)
    counts = counts[:, np.flatnonzero(keep)].tocsr()
    words = np.asarray(list(vocab), dtype=object)[keep].tolist()
    df = df[keep]
    if sublinear_tf:
        counts.data = 1.0 + np.log(counts.data)
    idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
    tfidf = (counts @ sp.diags(idf)).tocsr().astype(np.float32)
    norms = np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(axis=1)).ravel())
    tfidf = (sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ tfidf).tocsr().astype(np.float32)
    return tfidf, words
