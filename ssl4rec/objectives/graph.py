"""Objectives of graph encoders: ``bpr`` (main: pairwise ranking of observed edges) and
``graph_contrastive`` (InfoNCE between two views of the graph: SGL, SimGCL, XSimGCL).

Training rows of a graph model are the training interactions (edges); a :class:`TrainBatch`
carries ``users`` and their positive ``items``. The main objective propagates the graph once per
step and keeps the result in ``batch.memo["graph"]`` for views that reuse it (``cross_layer``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.base import full_precision
from ..encoders.graph import gather_joint
from ..interactions import Batch
from ..registry import VIEWS, ConfigError, register_objective
from .base import IncompatibleError, Objective, ObjectiveConfig, TrainBatch, TrainData, check_choice

__all__ = [
    "BPR",
    "AlignUniform",
    "AlignUniformConfig",
    "BPRConfig",
    "GraphContrastive",
    "GraphContrastiveConfig",
    "GraphScoring",
    "NegativeSampler",
    "PrototypeContrastive",
    "PrototypeContrastiveConfig",
    "graph_info_nce",
    "uniformity",
]


class NegativeSampler:
    """Uniform negative items for (user, item) edges: items the user has no training interaction
    with, drawn by vectorised rejection. Membership is a bit lookup in a ``n_users x n_items``
    bitmap when that fits in ``bitmap_bytes`` (ML-100K: 0.2 MB, Beauty: 34 MB), else a binary
    search in the sorted edge keys. With ``pool`` (sorted 0-based item ids), negatives are drawn from
    those items only: the items with training interactions when a model can also rank cold items
    (text, attributes), so an item held out of training is never taught to rank low."""

    def __init__(self, csr: Any, n_items: int, bitmap_bytes: int = 64 << 20, pool: torch.Tensor | None = None) -> None:
        m = csr.tocsr()
        self.pool = None if pool is None else pool.detach().cpu().long()
        users = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
        keys = np.sort(users * n_items + m.indices.astype(np.int64))
        self.keys = torch.from_numpy(keys)
        self.n_items = int(n_items)
        self.bitmap: torch.Tensor | None = None
        size = (m.shape[0] * self.n_items + 7) // 8
        if size <= bitmap_bytes:
            bits = np.zeros(size, np.uint8)
            np.bitwise_or.at(bits, keys >> 3, (1 << (keys & 7)).astype(np.uint8))
            self.bitmap = torch.from_numpy(bits)

    def known(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        q = users.cpu() * self.n_items + items.cpu()
        if self.bitmap is not None:
            return ((self.bitmap[q >> 3] >> (q & 7)) & 1).bool()
        pos = torch.searchsorted(self.keys, q).clamp(max=max(len(self.keys) - 1, 0))
        return (self.keys[pos] == q) if len(self.keys) else torch.zeros_like(q, dtype=torch.bool)

    def sample(self, users: torch.Tensor, generator: torch.Generator, tries: int = 20) -> torch.Tensor:
        """One negative per user (a user who has every item keeps the last draw); each round
        redraws, in order, the rows whose draw is a training item, and checks only those."""
        users = users.cpu()
        pool = self.pool

        def draw(shape: tuple[int, ...]) -> torch.Tensor:
            if pool is None:
                return torch.randint(self.n_items, shape, generator=generator)
            return pool[torch.randint(len(pool), shape, generator=generator)]

        out = draw(tuple(users.shape))
        bad = self.known(users, out).nonzero().squeeze(1)
        for _ in range(tries):
            if not len(bad):
                break
            out[bad] = draw((len(bad),))
            bad = bad[self.known(users[bad], out[bad])]
        return out


def sampled(net: nn.Module) -> bool:
    """Whether the network's graph encoder trains on sampled neighbourhoods (``propagation: sampled``)."""
    return getattr(net.encoder.config, "propagation", "full") == "sampled"


def _propagated(net: nn.Module, batch: TrainBatch) -> Any:
    """The step's propagation of the training graph, computed once and shared through ``batch.memo``.

    With ``propagation: sampled`` (training), over sampled neighbourhoods of the batch's users and
    items and of the nodes objectives added to ``batch.memo["graph_nodes"]`` in their ``plan``
    (BPR's negatives): valid at those rows only.
    """
    out = batch.memo.get("graph")
    if out is None:
        enc = net.encoder
        if enc.training and sampled(net):
            users, items = batch.users.to(batch.device), batch.items.to(batch.device)
            nodes = [users, items + enc.n_users, *batch.memo.get("graph_nodes", [])]
            out = enc.propagate_sampled(torch.cat(nodes), batch.generator)
        else:
            out = enc.propagate()
        batch.memo["graph"] = out
    return out


class GraphScoring(Objective):
    """Scoring of graph main objectives: ``user_vector @ item_vectors.T`` on the propagated vectors,
    recomputed only when a parameter changed; a user without training edges (a cold-user split) is
    folded in as the mean of the propagated vectors of the items in its known history (no history:
    it cannot be scored, all 0)."""

    requires = ("graph",)
    main = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._cache: tuple[tuple, Any] | None = None

    def _eval_output(self, net: nn.Module) -> Any:
        """The propagation at scoring time, recomputed after every optimiser step or state load
        (``net.weights_version``) or a new graph."""
        key = (getattr(net, "weights_version", None), id(net.encoder.adjacency))
        if self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                self._cache = (key, net.encoder.propagate())
        return self._cache[1]

    def user_vectors(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        out = self._eval_output(net)
        users = batch.users.to(out.users.device)
        vec = out.users[users].clone()
        trained = net.encoder.degrees[users.cpu()] > 0
        if not bool(trained.all()):  # fold in: the mean of the known history's item vectors
            rows = (~trained).nonzero().squeeze(1)
            hist = batch.history.csr[batch.users[rows].cpu().numpy()]
            lens = torch.from_numpy(np.diff(hist.indptr)).to(vec.dtype)
            idx = torch.from_numpy(hist.indices.astype(np.int64))
            seg = torch.repeat_interleave(torch.arange(len(rows)), torch.from_numpy(np.diff(hist.indptr)))
            summed = torch.zeros(len(rows), vec.shape[1], dtype=vec.dtype).index_add_(0, seg, out.items[idx].cpu())
            vec[rows] = (summed / lens.clamp_min(1.0)[:, None]).to(vec.device)
        return vec

    def item_vectors(self, net: nn.Module) -> torch.Tensor:
        return self._eval_output(net).items

    def score(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        return self.user_vectors(net, batch) @ self.item_vectors(net).T


@dataclasses.dataclass
class BPRConfig(ObjectiveConfig):
    """Parameters of :class:`BPR`."""

    reg: float = 1e-4
    """L2 weight on the batch's user / positive / negative vectors (SELFRec's ``reg.lambda``:
    ``reg * sum(||E||_2 / batch)``; where SELFRec divides by the batch size once more, the presets
    give ``reg / batch_size``)."""
    reg_on: str = "propagated"
    """Which vectors the L2 term weighs: ``"propagated"`` (SELFRec's SGL, SimGCL, XSimGCL, NCL) or the
    ``"ego"`` embeddings (SELFRec's LightGCN, the LightGCN paper)."""
    reg_negatives: bool = True
    """Whether the negatives' vectors are in the L2 term (SELFRec's SimGCL and XSimGCL leave them out)."""


@register_objective(
    "bpr",
    config=BPRConfig,
    requires=("graph",),
    provides=("scoring",),
    search_space={"reg": ("float", 1e-6, 1e-2, "log")},
    paper="Rendle et al., BPR: Bayesian Personalized Ranking from Implicit Feedback, UAI 2009",
    tags=("main", "graph"),
)
class BPR(GraphScoring):
    """Pairwise ranking of each training edge above a uniform negative item, on the propagated vectors.

    Rendle, Freudenthaler, Gantner and Schmidt-Thieme, "BPR: Bayesian Personalized Ranking from
    Implicit Feedback", UAI 2009, as LightGCN and SELFRec train graph encoders: per edge ``(u, i)``
    one item ``j`` the user has not interacted with, loss ``-log(1e-5 + sigmoid(s_ui - s_uj))``
    plus ``reg`` times the L2 norms of the batch's vectors. Scoring: :class:`GraphScoring`.
    """

    Config = BPRConfig
    requires = ("graph",)
    main = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.config.reg < 0:
            raise ConfigError(f"objective 'bpr': reg must be >= 0, got {self.config.reg}")
        check_choice(self.config.reg_on, ("propagated", "ego"), "objective 'bpr' option reg_on")
        self.sampler: NegativeSampler | None = None

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        self.sampler = NegativeSampler(data.train.csr, net.n_items, pool=getattr(net, "candidate_items", None))

    def _negatives(self, batch: TrainBatch) -> torch.Tensor:
        """The step's negative items, drawn once (in :meth:`plan`)."""
        if "bpr_negatives" not in batch.memo:
            assert self.sampler is not None
            batch.memo["bpr_negatives"] = self.sampler.sample(batch.users, batch.generator).to(batch.device)
        return batch.memo["bpr_negatives"]

    def plan(self, net: nn.Module, batch: TrainBatch) -> None:
        if self.sampler is not None and batch.items is not None and sampled(net):
            batch.memo.setdefault("graph_nodes", []).append(self._negatives(batch) + net.encoder.n_users)

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        if self.sampler is None or batch.items is None:
            raise IncompatibleError("objective 'bpr' trains a graph encoder on (user, item) edges")
        neg = self._negatives(batch)
        out = _propagated(net, batch)
        users, pos = batch.users.to(batch.device), batch.items.to(batch.device)
        u, p, n = out.gather(users, pos, neg)
        diff = (u * p).sum(1) - (u * n).sum(1)
        loss = -torch.log(1e-5 + torch.sigmoid(diff)).mean()
        c = self.config
        if c.reg > 0:
            if c.reg_on == "ego":
                u, p, n = gather_joint(out.layers[0], net.encoder.n_users, users, pos, neg)
            b = u.shape[0]
            terms = [u, p, n] if c.reg_negatives else [u, p]
            loss = loss + c.reg * sum(t.norm() / b for t in terms)
        return loss


class _Uniformity(torch.autograd.Function):
    """:func:`uniformity` from the Gram matrix, its backward written out: a few passes over ``[n, n]``.

    ``-t ||z_i - z_j||^2 = 2t z_i . z_j - t|z_i|^2 - t|z_j|^2`` is one product of ``[2t z, -t|z|^2, -1]``
    with ``[z, 1, t|z|^2]`` (no separate ``n x n`` sum). Every entry is at most 0, so the exponentials
    need no shift unless the smallest could underflow (rows longer than ``sqrt(20 / t)``), when the
    matrix's maximum is subtracted as a log-sum-exp does.

    ``counts``: row ``a`` stands for ``counts[a]`` identical rows. The pairs of two copies of one row
    are at distance 0 (``exp(0)``, no gradient); the pairs of two distinct rows count
    ``counts[a] * counts[b]`` times: the value and gradients of the repeated rows, over the distinct ones."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, t: float, counts: torch.Tensor | None = None) -> torch.Tensor:
        n = z.shape[0]
        sq = (z.pow(2).sum(1) * t)[:, None]
        ones = torch.ones_like(sq)
        x = torch.cat([z * (2.0 * t), -sq, -ones], 1) @ torch.cat([z, ones, sq], 1).T  # -t ||z_i - z_j||^2
        x.diagonal().fill_(float("-inf"))
        top = x.max() if 4.0 * float(sq.max()) > 80.0 else x.new_zeros(())
        p = (x.sub_(top) if top.item() else x).exp_()
        if counts is None:
            total, pairs = p.sum(), n * (n - 1)
        else:
            total = (p @ counts) @ counts + (counts * (counts - 1)).sum() * torch.exp(-top)
            size = int(counts.sum())
            pairs = size * (size - 1)
        ctx.save_for_backward(z, p, total, *(() if counts is None else (counts,)))
        ctx.t = t
        return total.log() + top - math.log(pairs)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        z, p, total, *counts = ctx.saved_tensors
        # softmax weights of the pairs p / total (symmetric); d x_ij / d z_i = 2t (z_j - z_i), z_i in x_ij and x_ji
        scale = g * (4.0 * ctx.t) / total
        if not counts:
            return (p @ z - z * p.sum(1, keepdim=True)) * scale, None, None
        c = counts[0][:, None]
        return (p @ (c * z) - z * (p @ c)) * (c * scale), None, None


def uniformity(z: torch.Tensor, t: float = 2.0, counts: torch.Tensor | None = None) -> torch.Tensor:
    """log E exp(-t ||z_i - z_j||^2) over distinct pairs of rows (lower = more uniform; DirectAU's).

    DirectAU's ``pdist(z).pow(2).mul(-t).exp().mean().log()``, from the Gram matrix (each pair twice,
    the diagonal left out) as a log-sum-exp with a hand-written backward: pdist's CPU backward was most
    of a DirectAU epoch (2048 rows: 23 ms a step instead of 68). ``counts``: how many times each row
    stands repeated (a batch's users with their number of edges): the value over the repeated rows,
    computed over the distinct ones.
    """
    size = z.shape[0] if counts is None else int(counts.sum())
    if size < 2:
        return z.sum() * 0.0
    if counts is None:
        return full_precision(_Uniformity, z, float(t))
    return full_precision(_Uniformity, z, float(t), counts.to(torch.float32 if z.dtype != torch.float64 else z.dtype))


@dataclasses.dataclass
class AlignUniformConfig(ObjectiveConfig):
    """Parameters of :class:`AlignUniform`."""

    gamma: float = 2.0
    """Weight of the uniformity terms against the alignment term (SELFRec's DirectAU: 2)."""


@register_objective(
    "align_uniform",
    config=AlignUniformConfig,
    requires=("graph",),
    provides=("scoring",),
    search_space={"gamma": ("float", 0.1, 10.0, "log")},
    paper="Wang et al., Towards Representation Alignment and Uniformity in Collaborative Filtering (DirectAU), KDD 2022",
    tags=("main", "graph", "ssl"),
)
class AlignUniform(GraphScoring):
    """Pull each training edge's user and item together on the sphere; spread users and items apart.

    Wang, Yu, Ma, Zhang, Zhang and Ma, "Towards Representation Alignment and Uniformity in
    Collaborative Filtering" (DirectAU), KDD 2022: on L2-normalised vectors of the batch's edges,
    ``mean ||u - i||^2 + gamma * (uniformity(users) + uniformity(items)) / 2`` with
    ``uniformity(z) = log mean exp(-2 ||z_a - z_b||^2)``; no negatives. The main objective (it
    scores, :class:`GraphScoring`), on a graph encoder as DirectAU's LightGCN variant.
    """

    Config = AlignUniformConfig

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        if batch.items is None:
            raise IncompatibleError("objective 'align_uniform' trains a graph encoder on (user, item) edges")
        out = _propagated(net, batch)
        users, items = batch.users.to(batch.device), batch.items.to(batch.device)
        (uu, nu), (ui, ni) = (torch.unique(x, return_counts=True) for x in (users, items))
        ua, i, di = (F.normalize(v, dim=-1) for v in out.gather(torch.cat([users, uu]), items, ui))
        u, du = ua.split([len(users), len(uu)])
        align = (u - i).pow(2).sum(-1).mean()
        # a batch's edges repeat users and items: uniformity over the distinct ones, weighted by their counts
        return align + self.config.gamma * (uniformity(du, counts=nu) + uniformity(di, counts=ni)) / 2


class _RowInfoNCE(torch.autograd.Function):
    """``mean_i(logsumexp_j(a_i . b_j / t) - a_i . b_{y_i} / t)``, fused: one ``n x m`` product forward (of
    ``a / t``, so no ``n x m`` division), exponentiated in place and kept for backward (two products),
    with no separate log-softmax output or its gradient buffer; the softmax's normalisation and the
    incoming gradient are applied in one pass in backward. ``bound``: a known bound on ``|a_i . b_j|``
    (1 for unit rows): where ``bound / t <= 40`` no exponential can overflow or underflow, so no row
    maximum is subtracted (two passes fewer); otherwise each row is shifted by its maximum. The
    exponentials are used (in place) by the first backward; a repeated one recomputes them.

    ``targets``: the column of each row's positive (``None``: the diagonal, ``y_i = i``); ``weights``:
    a weight per row, the rows' terms then summed (``None``: their mean). Duplicate rows of ``a`` with
    the same target give the same term, so a sum over a batch with repeats equals the sum over its
    distinct rows weighted by their counts (the same value and gradients, fewer rows)."""

    @staticmethod
    def forward(
        ctx: Any,
        a: torch.Tensor,
        b: torch.Tensor,
        temperature: float,
        bound: float | None,
        targets: torch.Tensor | None = None,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        p = (a / temperature) @ b.T
        pos = (p.diagonal() if targets is None else p.gather(1, targets[:, None]).squeeze(1)).clone()
        top = None if bound is not None and bound / temperature <= 40.0 else p.max(1, keepdim=True).values
        e = (p if top is None else p.sub_(top)).exp_()  # one exponential pass: the softmax's numerators
        z = e.sum(1, keepdim=True)
        lse = (z.log() if top is None else top + z.log()).squeeze(1)
        ctx.exps = e
        ctx.save_for_backward(
            a, b, top if top is not None else z.new_zeros(0), z, *(() if targets is None else (targets, weights))
        )
        ctx.temperature, ctx.shifted, ctx.picked = temperature, top is not None, targets is not None
        return (lse - pos).mean() if weights is None else ((lse - pos) * weights).sum()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        a, b, top, z, *picked = ctx.saved_tensors
        g, ctx.exps = ctx.exps, None
        if g is None:  # the same operations as forward: the same exponentials, bit for bit
            g = (a / ctx.temperature) @ b.T
            g = (g.sub_(top) if ctx.shifted else g).exp_()
        targets, weights = picked if ctx.picked else (None, None)
        if weights is None:
            scale = grad / (a.shape[0] * ctx.temperature)
        else:
            scale = (grad / ctx.temperature) * weights[:, None]
        g.mul_(scale / z)  # softmax x scale, one pass
        at = scale if weights is None else scale.squeeze(1)  # the positives' extra -scale
        if targets is None:
            g.diagonal().sub_(at)
        else:
            rows = torch.arange(g.shape[0], device=g.device)
            g[rows, targets] -= at
        return g @ b, g.T @ a, None, None, None, None


def graph_info_nce(v1: torch.Tensor, v2: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of SGL / SimGCL (SELFRec's ``InfoNCE``): cosine similarities of ``v1`` rows to all ``v2``
    rows over ``temperature``; row ``i``'s positive is ``v2[i]``; mean over rows of ``v1``. Equal to
    ``-diag(log_softmax(v1n @ v2n.T / t)).mean()`` (``vn``: rows normalised), computed fused."""
    v1, v2 = F.normalize(v1, dim=1), F.normalize(v2, dim=1)
    return full_precision(_RowInfoNCE, v1, v2, float(temperature), 1.0)


@dataclasses.dataclass
class GraphContrastiveConfig(ObjectiveConfig):
    """Parameters of :class:`GraphContrastive`."""

    objective_weight: float = 0.1
    """Weight of the loss (SGL's ``lambda``: 0.1; SimGCL 0.5; XSimGCL 0.2)."""
    temperature: float = 0.2
    """InfoNCE temperature (SGL, SimGCL: 0.2; XSimGCL: 0.15)."""
    view: str = "edge_dropout"
    """A registered view generator (``ssl4rec list views``)."""
    view_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Parameters of the view generator, e.g. ``{ratio: 0.1}`` or ``{eps: 0.1}`` or ``{layer: 1}``."""
    pairing: str = "separate"
    """``"separate"``: InfoNCE over the batch's users plus InfoNCE over its items (SimGCL, XSimGCL);
    ``"joint"``: one InfoNCE over users and items together (SELFRec's SGL)."""


@register_objective(
    "graph_contrastive",
    config=GraphContrastiveConfig,
    requires=("graph",),
    search_space={
        "objective_weight": ("float", 0.01, 1.0, "log"),
        "temperature": ("float", 0.05, 1.0, "log"),
    },
    paper="Wu et al., Self-supervised Graph Learning for Recommendation (SGL), SIGIR 2021",
    tags=("ssl", "graph"),
)
class GraphContrastive(Objective):
    """InfoNCE between two views of the graph, over the batch's distinct users and items.

    Wu et al., "Self-supervised Graph Learning for Recommendation" (SGL), SIGIR 2021, with the
    view generators of SGL (``edge_dropout``, ``node_dropout``, ``random_walk``), SimGCL
    (``embedding_noise``) and XSimGCL (``cross_layer``). Each step takes the distinct users and
    positive items of the batch and contrasts their vectors in the two views (cosine, over
    ``temperature``; the other rows are the negatives), as SELFRec's implementations do.
    """

    Config = GraphContrastiveConfig
    requires = ("graph",)
    main = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        c = self.config
        check_choice(c.pairing, ("separate", "joint"), "objective 'graph_contrastive' option pairing")
        if c.temperature <= 0:
            raise ConfigError(f"objective 'graph_contrastive': temperature must be positive, got {c.temperature}")
        if not isinstance(c.view_params, dict):
            raise ConfigError("objective 'graph_contrastive': view_params must be a mapping")
        self.view = VIEWS.build(c.view, **c.view_params)

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        if sampled(net) and not self.view.needs_main:
            raise IncompatibleError(
                f"graph_contrastive view {self.config.view!r} propagates the whole graph twice per step; "
                "lightgcn propagation 'sampled' trains with the step's own propagation only (view cross_layer)"
            )

    def epoch_start(self, net: nn.Module, epoch: int, data: TrainData) -> None:
        self.view.epoch_start(net.encoder, data.generator)

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        if batch.items is None:
            raise IncompatibleError("objective 'graph_contrastive' trains a graph encoder on (user, item) edges")
        main = _propagated(net, batch) if self.view.needs_main or (self.view.uses_main and not sampled(net)) else None
        a, b = self.view.views(net.encoder, batch.generator, main)
        users = torch.unique(batch.users).to(batch.device)
        items = torch.unique(batch.items).to(batch.device)
        t = self.config.temperature
        (au, ai), (bu, bi) = a.gather(users, items), b.gather(users, items)
        if self.config.pairing == "joint":
            return graph_info_nce(torch.cat([au, ai]), torch.cat([bu, bi]), t)
        return graph_info_nce(au, bu, t) + graph_info_nce(ai, bi, t)


@dataclasses.dataclass
class PrototypeContrastiveConfig(ObjectiveConfig):
    """Parameters of :class:`PrototypeContrastive` (defaults: SELFRec's NCL on Yelp2018)."""

    objective_weight: float = 1.0
    """Overall weight; the two terms carry their own (``structure_weight``, ``prototype_weight``)."""
    temperature: float = 0.05
    """Temperature of both InfoNCE terms (NCL's ``tau``)."""
    structure_weight: float = 1e-6
    """Weight of the structural-neighbour term (NCL's ``ssl_reg``; the terms are sums over the batch)."""
    prototype_weight: float = 1e-7
    """Weight of the prototype term (NCL's ``proto_reg``)."""
    alpha: float = 1.5
    """Weight of the items' terms against the users' (NCL's ``alpha``)."""
    context_layer: int = 2
    """The propagation layer whose output is a node's structural neighbour view (NCL: ``2 * hyper_layers``)."""
    num_clusters: int = 2000
    """k of the k-means over ego user and item embeddings (NCL's ``num_clusters``)."""
    warm_up_epochs: int = 20
    """Epochs with the structural term only, before clustering starts (SELFRec's NCL: 20)."""
    kmeans_iters: int = 25
    """Lloyd iterations per clustering (faiss ``Kmeans`` default)."""


@register_objective(
    "prototype_contrastive",
    config=PrototypeContrastiveConfig,
    requires=("graph",),
    search_space={
        "structure_weight": ("float", 1e-8, 1e-4, "log"),
        "prototype_weight": ("float", 1e-9, 1e-5, "log"),
        "num_clusters": ("categorical", [100, 500, 1000, 2000]),
    },
    paper="Lin et al., Improving Graph Collaborative Filtering with Neighborhood-enriched Contrastive Learning (NCL), WWW 2022",
    tags=("ssl", "graph", "clustering"),
)
class PrototypeContrastive(Objective):
    """NCL: each node against its structural neighbours and against its semantic prototype.

    Lin, Tian, Hou and Zhao, "Improving Graph Collaborative Filtering with Neighborhood-enriched
    Contrastive Learning" (NCL), WWW 2022, as SELFRec implements it. Structural term: the output
    of layer ``context_layer`` of each batch edge's user (item) against its own ego embedding,
    all users' (items') ego embeddings as candidates (cosine over ``temperature``, summed over the
    batch). Prototype term, after ``warm_up_epochs``: every epoch the ego user and item embeddings
    are clustered by seeded k-means into ``num_clusters`` groups; each batch edge's user (item) ego
    embedding is contrasted with its centroid, the batch's other centroids as negatives (SELFRec's
    in-batch InfoNCE, times the batch size). Items weigh ``alpha`` in the structural term.
    """

    Config = PrototypeContrastiveConfig
    requires = ("graph",)
    main = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        c = self.config
        if c.temperature <= 0:
            raise ConfigError(f"objective 'prototype_contrastive': temperature must be positive, got {c.temperature}")
        for key in ("num_clusters", "kmeans_iters", "context_layer"):
            if int(getattr(c, key)) < 1:
                raise ConfigError(f"objective 'prototype_contrastive': {key} must be >= 1, got {getattr(c, key)}")
        self.clusters: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        if self.config.context_layer > int(net.encoder.config.num_layers):
            raise IncompatibleError(
                f"prototype_contrastive: context_layer {self.config.context_layer} but the encoder has "
                f"{net.encoder.config.num_layers} layers"
            )

    @torch.no_grad()
    def epoch_start(self, net: nn.Module, epoch: int, data: TrainData) -> None:
        if epoch < self.config.warm_up_epochs:
            return
        from ..ssl.kmeans import kmeans

        ego = net.encoder.ego().detach()
        for name, x in zip(("users", "items"), ego.split([net.encoder.n_users, net.encoder.n_items]), strict=True):
            seed = int(torch.randint(2**31 - 1, (1,), generator=data.generator))
            cent, assign, _ = kmeans(
                x, self.config.num_clusters, torch.Generator().manual_seed(seed), self.config.kmeans_iters, 1
            )
            self.clusters[name] = (cent, assign.to(x.device))

    def _structure(self, context: torch.Tensor, ego_all: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``sum_r(logsumexp_j(q_r . k_j / t) - q_r . k_r / t)`` over the batch's rows ``r`` (``q``: the
        context layer's unit vectors, ``k``: all ego unit vectors), computed over the distinct rows
        weighted by their counts: a batch of edges repeats users and items (ML-100K: ~2048 edges, a
        few hundred distinct users), and a repeated row's term is the same."""
        uniq, counts = torch.unique(rows, return_counts=True)
        q, k = F.normalize(context[uniq], dim=1), F.normalize(ego_all, dim=1)
        return full_precision(_RowInfoNCE, q, k, float(self.config.temperature), 1.0, uniq, counts.to(q.dtype))

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        if batch.items is None:
            raise IncompatibleError("objective 'prototype_contrastive' trains a graph encoder on (user, item) edges")
        c, enc = self.config, net.encoder
        out = _propagated(net, batch)
        users, items = batch.users.to(batch.device), batch.items.to(batch.device)
        ego_u, ego_i = out.layers[0].split([enc.n_users, enc.n_items])
        ctx_u, ctx_i = out.layers[c.context_layer].split([enc.n_users, enc.n_items])
        loss = c.structure_weight * (
            self._structure(ctx_u, ego_u, users) + c.alpha * self._structure(ctx_i, ego_i, items)
        )
        if self.clusters:
            b = users.shape[0]
            proto = 0.0
            for name, ego, rows in (("users", ego_u, users), ("items", ego_i, items)):
                cent, assign = self.clusters[name]
                proto = proto + graph_info_nce(ego[rows], cent[assign[rows]], c.temperature) * b
            loss = loss + c.prototype_weight * proto
        return loss
