"""Disk cache of the pretraining phase of ``schedule: pretrain_finetune`` models.

S3-Rec's pretraining is most of its cost (150 epochs on Beauty, about an hour on one CPU
thread) and does not depend on how the model is evaluated, so the full-ranking and the
sampled-negatives suites of the same dataset, split and seed can share it — as the authors'
code does by saving a checkpoint and fine-tuning from it. What is cached is everything the
fine-tuning phase starts from: the network's parameters and buffers after pretraining, the
torch generator state and the batching generator's state. A hit therefore gives the same
fine-tuned model, bit for bit, as running the pretraining again.

The key covers every input of the pretraining: the package's source (any code change misses),
the training interactions and item side table, the encoder and all objectives with their
parameters, every training parameter except the fine-tuning-only ones (``epochs``, ``patience``,
``eval_every``), the item text vectors' cache key when text is used, the device type and the
torch version. Entries live under ``$SSL4REC_CACHE/pretrained`` (default
``~/.cache/ssl4rec``); ``SSL4REC_PRETRAIN_CACHE=off`` turns the cache off for a process.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

#: Training parameters that only act after pretraining (left out of the key).
FINETUNE_ONLY = ("epochs", "patience", "eval_every")


def enabled() -> bool:
    """False when ``SSL4REC_PRETRAIN_CACHE`` is ``off`` / ``0`` / ``false`` / ``no``."""
    return os.environ.get("SSL4REC_PRETRAIN_CACHE", "on").strip().lower() not in ("off", "0", "false", "no")


@functools.cache
def source_hash() -> str:
    """sha256 over the ssl4rec package's Python sources (path and bytes), once per process."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def _items_hash(items: Any) -> str | None:
    if items is None:
        return None
    h = hashlib.sha256()
    for col in sorted(map(str, items.columns)):
        h.update(col.encode() + b"\0")
        h.update(json.dumps(items[col].tolist(), default=str).encode())
    return h.hexdigest()


def train_hash(train: Any) -> str:
    """sha256 of the training log (users' chronological item sequences, id space) and item table."""
    h = hashlib.sha256(f"{train.n_users}|{train.n_items}|".encode())
    for arr in (train.indptr, train.item_array):
        a = np.ascontiguousarray(arr, dtype=np.int64)
        h.update(a.tobytes())
    h.update(str(_items_hash(train.items)).encode())
    return h.hexdigest()


def cache_key(spec: dict[str, Any], train: Any, device: torch.device, text_key: str | None) -> tuple[str, dict]:
    """``(key, meta)``: the entry's name and the JSON description it is hashed from."""
    meta = {
        "spec": {k: v for k, v in spec.items() if k not in FINETUNE_ONLY},
        "train": train_hash(train),
        "source": source_hash(),
        "torch": torch.__version__,
        "device": device.type,
        "text": text_key,
    }
    key = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return key, meta


def _path(key: str) -> Path:
    from ..text import cache_dir

    return cache_dir() / "pretrained" / f"{key}.pt"


def load(key: str) -> dict[str, Any] | None:
    """The cached payload of ``key`` or None (absent, or unreadable: logged and treated as absent)."""
    path = _path(key)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (a damaged entry is recomputed, never trusted)
        logger.warning("unreadable pretraining cache %s (%s); pretraining again", path, exc)
        return None


def save(key: str, meta: dict[str, Any], payload: dict[str, Any]) -> Path:
    """Write the entry atomically (and its meta as JSON beside it)."""
    from ..reporting.records import atomic_write_bytes

    path = _path(key)
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta, indent=1, sort_keys=True, default=str).encode())
    return path
