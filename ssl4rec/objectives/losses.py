"""Loss functions shared by objectives: InfoNCE and the item-prediction losses."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.base import full_precision
from .base import TrainBatch

__all__ = ["ITEM_LOSSES", "flat_similarity", "info_nce", "item_loss", "softmax_cross_entropy"]

#: Accepted values of the ``loss`` option of item-prediction objectives.
ITEM_LOSSES = ("ce", "bce", "bpr")

#: Largest number of logits (rows x items) held at once by :func:`softmax_cross_entropy`.
CE_CHUNK_ELEMENTS = 32 * 1024 * 1024


class _SoftmaxCE(torch.autograd.Function):
    """Cross-entropy of ``h @ w.T`` against ``targets``, fused: one exp pass, no dense one-hot.

    Holds the probabilities when all logits fit in one chunk; otherwise recomputes each
    chunk's logits in backward, so memory stays bounded by ``CE_CHUNK_ELEMENTS``.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, w: torch.Tensor, targets: torch.Tensor, rows: int) -> torch.Tensor:
        n = h.shape[0]
        target_logit = (h * w[targets]).sum(1)
        lse = torch.empty(n, dtype=h.dtype, device=h.device)
        probs = None
        for s in range(0, n, rows):
            p = h[s : s + rows] @ w.T
            m = p.max(1, keepdim=True).values
            p.sub_(m).exp_()
            z = p.sum(1, keepdim=True)
            lse[s : s + rows] = (m + z.log()).squeeze(1)
            if n <= rows:
                probs = p.div_(z)
        ctx.rows = rows
        ctx.probs = probs
        ctx.save_for_backward(h, w, targets, lse)
        return lse - target_logit

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, w, targets, lse = ctx.saved_tensors
        n, rows = h.shape[0], ctx.rows
        probs, ctx.probs = ctx.probs, None  # used (in place) once; a repeated backward recomputes
        grad_h = torch.empty_like(h)
        grad_w = torch.zeros_like(w)
        for s in range(0, n, rows):
            p = probs if probs is not None else (h[s : s + rows] @ w.T).sub_(lse[s : s + rows, None]).exp_()
            g = grad[s : s + rows]
            p.mul_(g[:, None])
            p[torch.arange(p.shape[0], device=p.device), targets[s : s + rows]] -= g
            grad_h[s : s + rows] = p @ w
            grad_w.addmm_(p.T, h[s : s + rows])
        return grad_h, grad_w, None, None


def softmax_cross_entropy(h: torch.Tensor, w: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the full softmax over items: ``CE(h @ w.T, targets)``.

    Same value and gradients as ``F.cross_entropy(h @ w.T, targets)`` with less work: one
    exponential pass instead of three and no separate logits gradient buffer.

    Args:
        h: [N, d] hidden states.
        w: [C, d] item vectors (the scoring matrix).
        targets: LongTensor [N] of classes in ``[0, C)``.
    """
    if h.shape[0] == 0:
        return (h.sum() + w.sum()) * 0.0
    rows = max(1, CE_CHUNK_ELEMENTS // max(1, w.shape[0]))
    return full_precision(_SoftmaxCE, h, w, targets, rows).mean()


class _FlatGram(torch.autograd.Function):
    """Dot products of flattened right-aligned views given as chunks ``[n_c, w_c, d]`` of their own widths."""

    @staticmethod
    def forward(ctx: Any, *hs: torch.Tensor) -> torch.Tensor:
        sizes = [h.shape[0] for h in hs]
        bounds = [0]
        for n_c in sizes:
            bounds.append(bounds[-1] + n_c)
        gram = hs[0].new_empty(bounds[-1], bounds[-1])
        for a, ha in enumerate(hs):
            for b in range(a, len(hs)):
                hb = hs[b]
                m = min(ha.shape[1], hb.shape[1])
                block = (
                    ha[:, ha.shape[1] - m :].reshape(sizes[a], -1) @ hb[:, hb.shape[1] - m :].reshape(sizes[b], -1).T
                )
                gram[bounds[a] : bounds[a + 1], bounds[b] : bounds[b + 1]] = block
                if b != a:
                    gram[bounds[b] : bounds[b + 1], bounds[a] : bounds[a + 1]] = block.T
        ctx.save_for_backward(*hs)
        ctx.bounds = bounds
        return gram

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, ...]:
        hs = ctx.saved_tensors
        bounds = ctx.bounds
        m_all = g + g.T
        grads = []
        for a, ha in enumerate(hs):
            grad = torch.zeros_like(ha)
            rows = m_all[bounds[a] : bounds[a + 1]]
            for b, hb in enumerate(hs):
                m = min(ha.shape[1], hb.shape[1])
                part = rows[:, bounds[b] : bounds[b + 1]] @ hb[:, hb.shape[1] - m :].reshape(hb.shape[0], -1)
                grad[:, ha.shape[1] - m :] += part.view(ha.shape[0], m, -1)
            grads.append(grad)
        return tuple(grads)


def flat_similarity(chunks: list[torch.Tensor]) -> torch.Tensor:
    """``z @ z.T`` for the flattened, right-aligned views given in chunks of their own widths.

    ``chunks``: tensors ``[n_c, w_c, d]`` (e.g. :meth:`~ssl4rec.ssl.composite.SSLNetwork.encode_chunks`), the
    rows of the views in chunk order; a row is taken as zero left of its chunk's width (the encoders'
    padding outputs). Equals ``z @ z.T`` with ``z`` the rows left-padded with zeros to a common width
    and flattened, in the rows' chunk order; two rows share only their last ``min(w_a, w_b)``
    positions, so each pair of chunks is multiplied over that width only: a fraction of the dense
    ``N^2 W d`` cost (and no ``[N, W, d]`` padded copy) when most rows are short.
    """
    if len(chunks) == 1:
        z = chunks[0].reshape(chunks[0].shape[0], -1)
        return z @ z.T
    return full_precision(_FlatGram, *chunks)


def info_nce(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: float = 1.0,
    similarity: str = "dot",
    keys: torch.Tensor | None = None,
    gram: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE (NT-Xent) between two views with in-batch negatives.

    Row ``i`` of ``z1`` and row ``i`` of ``z2`` are a positive pair; every other row of either
    view is a negative (the 2N - 2 negatives of SimCLR and CL4SRec).

    Args:
        z1: [N, d] first view.
        z2: [N, d] second view.
        temperature: softmax temperature.
        similarity: ``"dot"`` (CL4SRec) or ``"cosine"``.
        keys: optional [N] labels of the pairs (e.g. item ids); rows whose pairs share a key
            are not negatives of each other (no false negatives from duplicates in a batch).
        gram: optional precomputed ``[2N, 2N]`` dot products of ``cat([z1, z2])`` (e.g. from
            :func:`flat_similarity`); ``z1`` and ``z2`` then only give N and the device.

    Returns:
        The mean loss over the 2N anchors.
    """
    if similarity not in ("dot", "cosine"):
        raise ValueError(f"similarity must be 'dot' or 'cosine', got {similarity!r}")
    n = z1.shape[0]
    if gram is not None:
        sim = gram
        if similarity == "cosine":
            norm = sim.diagonal().clamp_min(1e-24).sqrt()
            sim = sim / (norm[:, None] * norm[None, :])
        sim = sim / temperature
    else:
        if similarity == "cosine":
            z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
        z = torch.cat([z1, z2])
        sim = (z @ z.T) / temperature
    device = sim.device
    labels = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(device)
    exclude = torch.eye(2 * n, dtype=torch.bool, device=device)
    if keys is not None:
        k = torch.cat([keys, keys]).to(device)
        exclude |= k[:, None] == k[None, :]
        exclude[torch.arange(2 * n, device=device), labels] = False  # keep each anchor's positive
    sim = sim.masked_fill(exclude, float("-inf"))
    return F.cross_entropy(sim, labels)


def item_loss(
    net: nn.Module,
    h: torch.Tensor,
    targets: torch.Tensor,
    *,
    loss: str,
    num_negatives: int,
    batch: TrainBatch,
) -> torch.Tensor:
    """Loss of predicting ``targets`` from hidden states ``h``.

    Args:
        net: the network (its ``item_embedding`` scores items). When it has a non-None
            ``candidate_items`` (LongTensor of 0-based item ids, sorted; set for text item
            representations: the items with training interactions), the softmax and the
            negatives range over those items only; targets must be among them.
        h: [N, d] hidden states at the predicted positions.
        targets: LongTensor [N] of target ids (shifted +1, as in sequences).
        loss: ``"ce"`` (softmax over all items), ``"bce"`` or ``"bpr"`` (sampled).
        num_negatives: negatives per target for ``"bce"`` / ``"bpr"``, drawn uniformly.
        batch: source of the random negatives.
    """
    if h.shape[0] == 0:
        return h.sum() * 0.0
    items = net.item_embedding
    candidates = getattr(net, "candidate_items", None)
    if loss == "ce":
        if candidates is not None:
            rows = torch.searchsorted(candidates, targets - 1)
            return softmax_cross_entropy(h, items.scoring_matrix().index_select(0, candidates), rows)
        return softmax_cross_entropy(h, items.scoring_matrix(), targets - 1)
    if candidates is not None:
        neg = candidates[batch.randint(0, candidates.shape[0], targets.shape[0], num_negatives)] + 1
    else:
        neg = batch.randint(1, net.n_items + 1, targets.shape[0], num_negatives)
    # one lookup (and one embedding backward) for positives and negatives together
    logits = torch.bmm(items(torch.cat([targets[:, None], neg], 1)), h[:, :, None]).squeeze(2)
    pos_logit, neg_logit = logits[:, 0], logits[:, 1:]
    if loss == "bce":
        return -(F.logsigmoid(pos_logit).mean() + F.logsigmoid(-neg_logit).sum(1).mean())
    if loss == "bpr":
        return -F.logsigmoid(pos_logit[:, None] - neg_logit).mean()
    raise ValueError(f"loss must be one of {ITEM_LOSSES}, got {loss!r}")
