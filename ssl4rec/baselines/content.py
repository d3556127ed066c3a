"""Content-based recommendation: TF-IDF item vectors and a user profile of recent history."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..interactions import Batch, Interactions
from ..recommender import Recommender, Validator
from ..registry import register_baseline
from ..text.tfidf import FALLBACK_TEXT_COLUMNS, ID_COLUMNS, LABEL_COLUMNS, TEXT_COLUMNS, item_documents, tfidf_matrix
from ._common import history_rows, make_config, to_scores

logger = logging.getLogger(__name__)

__all__ = ["ContentBased", "ContentConfig", "ContentLM", "ContentLMConfig"]


def history_profile(recency_decay: float, batch: Batch, items: np.ndarray | sp.spmatrix) -> np.ndarray:
    """Recency-weighted mean of the history items' vectors ``[B, d]`` (dense float32), L2-normalised."""
    row, item, age = history_rows(batch)
    weight = np.exp(-float(recency_decay) * age.astype(np.float64)).astype(np.float32)
    w = sp.csr_matrix((weight, (row, item)), shape=(len(batch), items.shape[0]))
    profile = w @ items
    profile = profile.toarray() if sp.issparse(profile) else np.asarray(profile)
    profile = profile.astype(np.float32, copy=False)
    return profile / np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)


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
        self.item_matrix: sp.csr_matrix | None = None
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
        self.item_matrix, self.vocabulary = vectors, words
        self._item_vectors_t = vectors.T.tocsr()
        empty = int((np.diff(vectors.indptr) == 0).sum())
        secs = time.perf_counter() - t0
        self.fit_info = {"epochs_run": 0, "fit_seconds": secs, "vocabulary": len(words), "items_without_text": empty}
        logger.info(
            "content: %d items x %d tokens (%d items without text) in %.2fs", len(docs), len(words), empty, secs
        )
        return self

    def user_vectors(self, batch: Batch) -> np.ndarray:
        """Users' profiles ``[B, vocab]`` (dense, L2-normalised): the space :meth:`score` ranks in."""
        if self.item_matrix is None:
            raise RuntimeError("content: call fit() before exporting user vectors")
        return history_profile(self.config.recency_decay, batch, self.item_matrix)

    def item_vectors(self) -> sp.csr_matrix:
        """The items' TF-IDF vectors ``[n_items, vocab]``."""
        if self.item_matrix is None:
            raise RuntimeError("content: call fit() first")
        return self.item_matrix

    def score(self, batch: Batch) -> torch.Tensor:
        if self.item_matrix is None:
            raise RuntimeError("content: call fit() before score()")
        row, item, age = history_rows(batch)
        weight = np.exp(-self.config.recency_decay * age.astype(np.float64)).astype(np.float32)
        w = sp.csr_matrix((weight, (row, item)), shape=(len(batch), self.n_items))
        profile = w @ self.item_matrix  # [B, vocab]; direction of the (weighted) mean
        norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1)).ravel())
        profile = sp.diags((1.0 / np.where(norms > 0, norms, 1.0)).astype(np.float32)) @ profile
        return to_scores(profile @ self._item_vectors_t)


@dataclasses.dataclass
class ContentLMConfig:
    """Parameters of :class:`ContentLM`."""

    text_encoder: str = "sentence-transformers:all-MiniLM-L6-v2"
    """Text encoder spec: ``"sentence-transformers:<model>"`` (default: the offline all-MiniLM-L6-v2) or ``"tfidf"``."""
    recency_decay: float = 0.0
    """History item weight ``exp(-recency_decay * age)``, age 0 for the most recent; 0 = plain mean."""


@register_baseline(
    "content-lm",
    config=ContentLMConfig,
    search_space={"recency_decay": ("float", 0.0, 1.0, "linear")},
    paper="Reimers and Gurevych, Sentence-BERT, EMNLP 2019 (item text encoder); vector-space profile as in `content`",
    tags=("baseline", "content", "cold-items", "language-model"),
)
class ContentLM(Recommender):
    """Content-based with pretrained language-model item embeddings and cosine scoring.

    Item vectors are sentence embeddings of each item's text (the dataset's ``text`` column,
    e.g. ML-100K "Title (year). Genres: ..."), computed once and cached on disk (see
    :func:`ssl4rec.text.embed_items`); the user profile is the (recency-weighted) mean of the
    history items' embeddings; score = cosine. Scores cold items and cold users. Needs
    ``pip install ssl4rec[text]`` for sentence encoders.
    """

    can_score_cold_items = True

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.config = make_config(ContentLMConfig, params, "baseline 'content-lm'")
        self.embeddings: np.ndarray | None = None
        self.text_info: dict[str, Any] = {}

    def fit(self, train: Interactions, valid: Validator | None = None) -> ContentLM:
        from ..text import item_texts, load_item_embeddings

        t0 = time.perf_counter()
        self._remember_train(train)
        texts = item_texts(train.items, train.n_items)
        emb, self.text_info = load_item_embeddings(self.config.text_encoder, texts)
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        self.embeddings = (emb / np.maximum(norms, 1e-12)).astype(np.float32)
        self.fit_info = {"epochs_run": 0, "fit_seconds": time.perf_counter() - t0, "embedding_dim": int(emb.shape[1])}
        return self

    def record_extra(self) -> dict[str, Any]:
        """Provenance of the text embeddings (cache key, model, revision) for the result record."""
        return {"text_embedding": self.text_info}

    def user_vectors(self, batch: Batch) -> np.ndarray:
        """Users' profiles ``[B, d]``: the recency-weighted mean of their items' embeddings, L2-normalised."""
        if self.embeddings is None:
            raise RuntimeError("content-lm: call fit() before exporting user vectors")
        return history_profile(self.config.recency_decay, batch, self.embeddings)

    def item_vectors(self) -> np.ndarray:
        """The items' (unit) text embeddings ``[n_items, d]``."""
        if self.embeddings is None:
            raise RuntimeError("content-lm: call fit() first")
        return self.embeddings

    def score(self, batch: Batch) -> torch.Tensor:
        if self.embeddings is None:
            raise RuntimeError("content-lm: call fit() before score()")
        row, item, age = history_rows(batch)
        weight = np.exp(-self.config.recency_decay * age.astype(np.float64)).astype(np.float32)
        w = sp.csr_matrix((weight, (row, item)), shape=(len(batch), self.n_items))
        profile = np.asarray(w @ self.embeddings)
        profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)
        return to_scores(profile @ self.embeddings.T)
