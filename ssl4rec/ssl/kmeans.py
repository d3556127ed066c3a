"""Seeded, vectorised k-means in torch (Lloyd's algorithm from random rows, with restarts).

Used by ``intent_contrastive`` (ICLRec) to cluster sequence representations into intents; the
authors' code calls faiss (``niter=20``, ``nredo=5``, L2, not spherical, random rows as the initial
centroids); this is the same algorithm in torch, so no extra dependency is needed and results are
seeded by a ``torch.Generator``.
"""

from __future__ import annotations

import torch

__all__ = ["kmeans"]


def _assign(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Nearest centroid of each row: argmin of ``|c|^2 - 2 x.c`` (``|x|^2`` is the same for every centroid)."""
    return torch.addmm((c * c).sum(1)[None], x, c.T, alpha=-2.0).argmin(1)


@torch.no_grad()
def kmeans(
    x: torch.Tensor, k: int, generator: torch.Generator, iters: int = 20, restarts: int = 5
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Cluster the rows of ``x`` [N, d] into ``k`` groups; the best of ``restarts`` runs by inertia.

    Each run starts from ``k`` distinct rows drawn at random (faiss's initialisation) and makes
    ``iters`` Lloyd steps. Returns ``(centroids [k, d], assignment [N], inertia)``. ``k`` is capped
    at N. A cluster that loses all its points keeps its previous centroid.
    """
    x = x.float()
    n = x.shape[0]
    k = max(1, min(int(k), n))
    best = None
    for _ in range(max(1, restarts)):
        c = x[torch.randperm(n, generator=generator)[:k].to(x.device)].clone()
        for _ in range(max(1, iters)):
            assign = _assign(x, c)
            sums = torch.zeros_like(c).index_add_(0, assign, x)
            counts = torch.bincount(assign, minlength=k).to(x.dtype)
            c = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], c)
        assign = _assign(x, c)
        inertia = float(((x - c[assign]) ** 2).sum())
        if best is None or inertia < best[2]:
            best = (c, assign, inertia)
    assert best is not None
    return best
