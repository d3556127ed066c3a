"""Content-based recommendation: TF-IDF item vectors and a user profile of recent history."""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from ..data import Batch, Interactions
from ..models import Recommender, Validator
from ..registry import register_baseline
from ._common import history_rows, make_config, to_scores

logger = logging.getLogger(__name__)

__all__ = ["ContentBased", "ContentConfig", "item_documents", "tfidf_matrix"]

#: Free-text columns, in order of preference: ``text`` when present, else ``title``.
TEXT_COLUMNS = ("text",)
FALLBACK_TEXT_COLUMNS = ("title",)
#: Label columns whose values become whole-value tokens (``genres=sci-fi``) when ``text`` is absent.
LABEL_COLUMNS = ("genres", "categories", "tags")
#: Id columns whose values always become tokens (``attributes=17``).
ID_COLUMNS = ("attributes",)

_WORD = re.compile(r"[^\W_]+")


@dataclasses.dataclass
class ContentConfig:
    """Parameters of :class:`ContentBased`."""

    recency_decay: float = 0.0
    """History item weight ``exp(-recency_decay * age)``, age 0 for the most recent; 0 = plain mean."""
    min_df: int = 1
    """Drop tokens found in fewer items than this."""
    max_df: float = 1.0
    """Drop tokens found in more than this fraction of the items."""
    sublinear_tf: bool = False
    """Use ``1 + log(count)`` instead of the raw token count as term frequency."""


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


@register_baseline(
    "content",
    config=ContentConfig,
    search_space={
        "recency_decay": ("float", 0.0, 1.0, "linear"),
        "min_df": ("int", 1, 5, "linear"),
        "max_df": ("float", 0.1, 1.0, "linear"),
        "sublinear_tf": ("categorical", [True, False]),
    },
    paper="Pazzani and Billsus, Content-Based Recommendation Systems, The Adaptive Web (LNCS 4321), 2007",
    tags=("baseline", "content", "cold-items", "non-neural"),
)
class ContentBased(Recommender):
    """Content-based: cosine between TF-IDF item vectors and the (recency-weighted) mean of the history's.

    Pazzani and Billsus, "Content-Based Recommendation Systems", The Adaptive Web, LNCS
    4321, 2007 (the vector-space profile method). Item vectors are TF-IDF of the item side
    table (see :func:`item_documents`), built with scipy only, L2-normalised; the user
    profile is the mean of the history items' vectors, optionally weighted by
    ``exp(-recency_decay * age)``. Training interactions are not used beyond remembering the
    catalogue, so items with no training interaction (cold items) and cold users are scored
    like any other. Raises ``ValueError`` when the item table has no usable text or attributes.
    """

    can_score_cold_items = True

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.config = make_config(ContentConfig, params, "baseline 'content'")
        self.item_vectors: sp.csr_matrix | None = None
        self.vocabulary: list[str] = []

    def fit(self, train: Interactions, valid: Validator | None = None) -> ContentBased:
        t0 = time.perf_counter()
        self._remember_train(train)
        c = self.config
        if train.items is None:
            raise ValueError("content: the training data carry no item side table (Interactions.items is None)")
        usable = TEXT_COLUMNS + FALLBACK_TEXT_COLUMNS + LABEL_COLUMNS + ID_COLUMNS
        docs = item_documents(train.items, train.n_items)
        vectors, words = tfidf_matrix(docs, c.min_df, c.max_df, c.sublinear_tf)
        if not words:
            raise ValueError(
                "content: the item table has no usable text or attributes (looked for columns "
                f"{', '.join(usable)}; found {', '.join(map(str, train.items.columns)) or 'none'}"
                + ("" if sum(map(len, docs)) == 0 else f", and min_df={c.min_df}/max_df={c.max_df} removed every token")
                + ")"
            )
        self.item_vectors, self.vocabulary = vectors, words
        self._item_vectors_t = vectors.T.tocsr()
        empty = int((np.diff(vectors.indptr) == 0).sum())
        secs = time.perf_counter() - t0
        self.fit_info = {"epochs_run": 0, "fit_seconds": secs, "vocabulary": len(words), "items_without_text": empty}
        logger.info(
            "content: %d items x %d tokens (%d items without text) in %.2fs", len(docs), len(words), empty, secs
        )
        return self

    def score(self, batch: Batch) -> torch.Tensor:
        if self.item_vectors is None:
            raise RuntimeError("content: call fit() before score()")
        row, item, age = history_rows(batch)
        weight = np.exp(-self.config.recency_decay * age.astype(np.float64)).astype(np.float32)
        w = sp.csr_matrix((weight, (row, item)), shape=(len(batch), self.n_items))
        profile = w @ self.item_vectors  # [B, vocab]; direction of the (weighted) mean
        norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1)).ravel())
        profile = sp.diags((1.0 / np.where(norms > 0, norms, 1.0)).astype(np.float32)) @ profile
        return to_scores(profile @ self._item_vectors_t)
