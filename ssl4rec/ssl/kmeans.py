"""Seeded, vectorised k-means in torch (Lloyd's algorithm with k-means++ seeding and restarts).

Used by ``intent_contrastive`` (ICLRec) to cluster sequence representations into intents; the
authors' code calls faiss (``niter=20``, ``nredo=5``, L2, not spherical); this is the same
algorithm in torch, so no extra dependency is needed and results are seeded by a ``torch.Generator``.
"""

from __future__ import annotations

import torch

__all__ = ["kmeans"]


def _sq_dist(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(1, keepdim=True) - 2 * x @ c.T + (c * c).sum(1)[None]


def _plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [x[first]]
    d = _sq_dist(x, x[first : first + 1]).squeeze(1).clamp_min(0)
    for _ in range(1, k):
        total = float(d.sum())
        if total <= 0:
            idx = int(torch.randint(n, (1,), generator=generator))
        else:
            idx = int(torch.multinomial((d / total).cpu(), 1, generator=generator))
        centres.append(x[idx])
        d = torch.minimum(d, _sq_dist(x, x[idx : idx + 1]).squeeze(1).clamp_min(0))
    return torch.stack(centres)


@torch.no_grad()
def kmeans(
    x: torch.Tensor, k: int, generator: torch.Generator, iters: int = 20, restarts: int = 5
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Cluster the rows of ``x`` [N, d] into ``k`` groups; the best of ``restarts`` runs by inertia.

    Returns ``(centroids [k, d], assignment [N], inertia)``. ``k`` is capped at N. A cluster that
    loses all its points keeps its previous centroid.
    """
    x = x.float()
    n = x.shape[0]
    k = max(1, min(int(k), n))
    best = None
    for _ in range(max(1, restarts)):
        c = _plus_plus(x, k, generator)
        assign = torch.zeros(n, dtype=torch.long, device=x.device)
        for _ in range(max(1, iters)):
            assign = _sq_dist(x, c).argmin(1)
            sums = torch.zeros_like(c).index_add_(0, assign, x)
            counts = torch.bincount(assign, minlength=k).to(x.dtype)
            c = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], c)
        dist = _sq_dist(x, c)
        assign = dist.argmin(1)
        inertia = float(dist.gather(1, assign[:, None]).sum())
        if best is None or inertia < best[2]:
            best = (c, assign, inertia)
    assert best is not None
    return best
