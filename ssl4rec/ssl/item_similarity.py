"""Item–item correlation for CoSeRec's substitute / insert augmentations: each item's most similar item.

Liu et al., "Contrastive Self-supervised Sequential Recommendation with Robust Augmentation"
(CoSeRec), arXiv 2108.06479, 2021. Offline: item-based collaborative filtering on the training
split with the inverse-user-frequency weight of the authors' code (``ItemCF_IUF``: a user with
``|I_u|`` items adds ``1 / ln(1 + |I_u|)`` to every pair of their items; similarity =
co-occurrence / sqrt(n_i n_j), n_i = users with item i). Online: dot products of the model's
current item embeddings. Hybrid (the authors' ``hybrid`` mode): per item, the candidate of the two
with the higher min-max-normalised score.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["TopNeighbour", "embedding_neighbours", "hybrid", "itemcf_neighbours"]


class TopNeighbour:
    """Each item's most similar other item and its score, on the shifted id scale (0 = padding)."""

    def __init__(self, item: np.ndarray, score: np.ndarray) -> None:
        self.item = torch.from_numpy(np.asarray(item, dtype=np.int64))
        self.score = torch.from_numpy(np.asarray(score, dtype=np.float32))

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """The neighbour of each shifted id in ``ids`` (padding, the mask token and items without one map to themselves)."""
        table = self.item.to(ids.device)
        inside = (ids > 0) & (ids < table.shape[0])
        return torch.where(inside, table[ids.clamp(0, table.shape[0] - 1)], ids)


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def itemcf_neighbours(train, iuf: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 ItemCF(-IUF) neighbour of every item from a training log (``Interactions``).

    Returns ``(item, score)`` arrays of length ``n_items + 1`` on the shifted scale: entry ``i + 1``
    is item ``i``'s most similar other item (+1 shifted) and its min-max-normalised similarity over
    all item pairs; an item that co-occurs with no other item maps to itself with score 0.
    Duplicates within a user count once, as in the authors' code.
    """
    x = train.csr.copy()
    x.data[:] = 1.0
    x.sum_duplicates()
    x.data[:] = 1.0
    per_user = np.asarray(x.sum(1)).ravel()
    weight = 1.0 / np.log1p(np.maximum(per_user, 1.0)) if iuf else np.ones_like(per_user)
    co = (x.T @ sp.diags(weight) @ x).tocsr()
    co.setdiag(0.0)
    co.eliminate_zeros()
    n = np.asarray(x.sum(0)).ravel()
    co = co.tocoo()
    sim = co.data / np.sqrt(n[co.row] * n[co.col])
    n_items = train.n_items
    best = np.arange(n_items)
    best_score = np.zeros(n_items)
    if len(sim):
        # per row, the column of the highest similarity (ties: the smaller item id)
        order = np.lexsort((co.col, -sim, co.row))
        first = np.ones(len(order), dtype=bool)
        first[1:] = co.row[order][1:] != co.row[order][:-1]
        rows = co.row[order][first]
        best[rows] = co.col[order][first]
        best_score[rows] = _minmax(sim)[order][first]
    return np.concatenate(([0], best + 1)), np.concatenate(([0.0], best_score))


@torch.no_grad()
def embedding_neighbours(vectors: torch.Tensor, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 neighbour by dot product of item vectors ``[n_items, d]`` (self excluded), shifted scale.

    Scores are min-max normalised over all pairs (the authors' code normalises the whole matrix;
    its minimum is taken blockwise here without holding the ``n x n`` matrix).
    """
    n = vectors.shape[0]
    best = torch.empty(n, dtype=torch.long)
    top = torch.empty(n)
    lo, hi = float("inf"), float("-inf")
    for s in range(0, n, block):
        sims = vectors[s : s + block] @ vectors.T
        rows = torch.arange(sims.shape[0])
        lo = min(lo, float(sims.min()))
        sims[rows, rows + s] = float("-inf")
        val, idx = sims.max(1)
        hi = max(hi, float(val.max()))
        best[s : s + block], top[s : s + block] = idx.cpu(), val.cpu()
    score = ((top - lo) / (hi - lo)).clamp(0, 1) if hi > lo else torch.zeros(n)
    return np.concatenate(([0], best.numpy() + 1)), np.concatenate(([0.0], score.numpy()))


def hybrid(offline: tuple[np.ndarray, np.ndarray], online: tuple[np.ndarray, np.ndarray]) -> TopNeighbour:
    """Per item, the candidate with the higher normalised score (CoSeRec's ensemble of the two models)."""
    take_online = online[1] > offline[1]
    return TopNeighbour(np.where(take_online, online[0], offline[0]), np.maximum(online[1], offline[1]))
