"""Helpers shared by the baselines: config building, batch ids, score conversion."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp
import torch

from ..interactions import Batch
from ..registry import check_keys

C = TypeVar("C")


def make_config(config_cls: type[C], params: dict[str, Any], where: str) -> C:
    """Build ``config_cls(**params)``; unknown keys raise :class:`ssl4rec.registry.ConfigError`."""
    check_keys(params, [f.name for f in dataclasses.fields(config_cls)], where)  # type: ignore[arg-type]
    return config_cls(**params)


def batch_users(batch: Batch) -> np.ndarray:
    """The batch's user ids as an int64 numpy array."""
    return batch.users.detach().cpu().numpy().astype(np.int64, copy=False)


def to_scores(scores: np.ndarray | sp.spmatrix | sp.sparray, device: torch.device | str = "cpu") -> torch.Tensor:
    """A dense float32 torch tensor from a numpy array or scipy sparse matrix."""
    if sp.issparse(scores):
        scores = scores.toarray()
    return torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32)).to(device)


def rows_times_dense(m: sp.csr_matrix, weights: torch.Tensor) -> torch.Tensor:
    """``m @ weights`` for a sparse [B, n] matrix and a dense float32 [n, d] tensor, as [B, d] float32.

    One ``embedding_bag`` (a weighted sum of the rows of ``weights`` named by each row of ``m``):
    the same additions in the same order as scipy's CSR x dense product, 2-4x faster on one thread
    (measured on ML-100K: EASE 49 -> 23 ms, dense ItemKNN 75 -> 18 ms for all 943 users).
    """
    m = sp.csr_matrix(m)
    if m.nnz == 0:
        return torch.zeros(m.shape[0], weights.shape[1], dtype=torch.float32)
    return torch.nn.functional.embedding_bag(
        torch.from_numpy(m.indices.astype(np.int64, copy=False)),
        weights,
        torch.from_numpy(m.indptr[:-1].astype(np.int64, copy=False)),
        mode="sum",
        per_sample_weights=torch.from_numpy(np.asarray(m.data, dtype=np.float32)),
    )


def history_rows(batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened chronological history of the batch's users, without a Python loop.

    Returns:
        ``(row, item, age)``: batch row of each interaction, its item id, and its age (0 for a
        user's most recent interaction, 1 for the one before, ...).
    """
    hist = batch.history
    users = batch_users(batch)
    starts = hist.indptr[users]
    ends = hist.indptr[users + 1]
    lens = ends - starts
    total = int(lens.sum())
    row = np.repeat(np.arange(len(users)), lens)
    offsets = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
    idx = np.repeat(starts, lens) + offsets
    age = np.repeat(lens, lens) - 1 - offsets
    return row, hist.item_array[idx].astype(np.int64), age
