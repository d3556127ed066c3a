"""LightGCN: user and item embeddings propagated over the training graph (He et al., SIGIR 2020).

A *graph* encoder (``input = "graph"``) holds an ego embedding per user and per item and, given
the user-item bipartite graph of the training split (:meth:`GraphEncoder.set_graph`), computes
every user's and item's representation by ``K`` propagation steps over the symmetric-normalised
adjacency ``D^-1/2 A D^-1/2`` (sparse CSR matrix products; no dense ``n x n``), combined over the
layers (:attr:`LightGCNConfig.combine`). Views for graph contrastive learning perturb the
propagation (:mod:`ssl4rec.ssl.graph_views`): a dropped-edge adjacency per layer, or noise added
to each layer's output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..registry import ConfigError, register_encoder
from .base import ItemEmbedding, full_precision, make_config

__all__ = ["GraphEncoder", "GraphOutput", "LightGCNConfig", "LightGCNEncoder", "gather_joint", "normalized_adjacency"]

COMBINES = ("mean", "mean_propagated", "sum", "last")


def normalized_adjacency(
    interactions: sp.csr_matrix, keep: np.ndarray | None = None, side: sp.csr_matrix | None = None
) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of the bipartite graph of ``interactions`` ``[n_users, n_items]`` as a torch
    sparse CSR matrix ``[n_users + n_items, n_users + n_items]`` (users first). ``keep`` [nnz] (bool)
    keeps only some edges (edge dropout); degrees are those of the kept graph. Isolated nodes get
    empty rows. ``side`` ``[n_items, n_side]`` (an item-attribute graph): ``n_side`` more nodes after
    the items, linked to their items, the matrix ``[n + n_side, n + n_side]``; an item's degree counts
    its users and its attributes (``keep`` drops user-item edges only)."""
    m = interactions.tocoo()
    rows, cols = m.row.astype(np.int64), m.col.astype(np.int64)
    if keep is not None:
        rows, cols = rows[keep], cols[keep]
    n_users, n_items = interactions.shape
    n_side = 0 if side is None else side.shape[1]
    if side is not None and side.shape[0] != n_items:
        raise ValueError(f"side graph of shape {side.shape} for {n_items} items")
    n = n_users + n_items + n_side
    s = sp.coo_matrix((n_items, 0)) if side is None else side.tocoo()
    s_items, s_nodes = s.row.astype(np.int64), s.col.astype(np.int64)
    deg_u = np.bincount(rows, minlength=n_users).astype(np.float64)
    deg_i = (np.bincount(cols, minlength=n_items) + np.bincount(s_items, minlength=n_items)).astype(np.float64)
    deg_s = np.bincount(s_nodes, minlength=n_side).astype(np.float64)
    w = 1.0 / np.sqrt(np.maximum(deg_u[rows], 1.0) * np.maximum(deg_i[cols], 1.0))
    ws = 1.0 / np.sqrt(np.maximum(deg_i[s_items], 1.0) * np.maximum(deg_s[s_nodes], 1.0))
    left = np.concatenate([rows, s_items + n_users])  # the edges' two ends in the joint numbering
    right = np.concatenate([cols + n_users, s_nodes + n_users + n_items])
    weight = np.concatenate([w, ws])
    r, c = np.concatenate([left, right]), np.concatenate([right, left])
    adj = sp.csr_matrix((np.concatenate([weight, weight]).astype(np.float32), (r, c)), shape=(n, n))
    adj.sort_indices()
    return _torch_csr(adj)  # built sorted and in range here


def _spmm(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``a @ x`` for a sparse CSR ``a``: on the CPU as an in-place ``addmm_`` with ``beta = 0`` into an
    uninitialised output (``beta = 0`` ignores its contents, NaN included: tested), which skips
    ``sparse.mm``'s zero-filled output and the copy into it (the same values); elsewhere ``torch.sparse.mm``."""
    if x.device.type == "cpu":
        return x.new_empty((a.shape[0], x.shape[1])).addmm_(a, x, beta=0.0)
    return torch.sparse.mm(a, x)


class _SymmetricSpMM(torch.autograd.Function):
    """``a @ x`` for a symmetric sparse ``a`` (no gradient of ``a``): the backward is ``a @ grad``.

    Autograd's sparse-matrix backward forms ``a.T`` and converts it to CSR (a sort of every edge) at
    every step, most of a LightGCN epoch on CPU; the normalised adjacency is its own transpose.
    """

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.a = a
        return _spmm(a, x)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, _spmm(ctx.a, g)


class _SpMM(torch.autograd.Function):
    """``a @ x`` for a sparse ``a`` given with its transpose ``a_t`` (both CSR): the backward is ``a_t @ grad``."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, a_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.a_t = a_t
        return _spmm(a, x)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, _spmm(ctx.a_t, g)


def _torch_csr(m: sp.csr_matrix) -> torch.Tensor:
    """A torch CSR tensor of ``m``, with 32-bit indices where they fit (what the CPU's sparse kernels take:
    64-bit ones are converted at every product)."""
    small = max(m.shape) < 2**31 and m.nnz < 2**31
    index = np.int32 if small else np.int64
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(index)),
            torch.from_numpy(m.indices.astype(index)),
            torch.from_numpy(m.data.astype(np.float32)),
            size=m.shape,
            check_invariants=False,
        )


def sample_neighbours(
    adjacency: sp.csr_matrix, nodes: np.ndarray, fanout: int, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``nodes`` of ``adjacency`` with at most ``fanout`` entries each: ``(rows, cols, weights)``.

    A node with at most ``fanout`` neighbours keeps them all; one with more gets ``fanout`` drawn
    uniformly with replacement, each weighted by ``degree / fanout``, so the expected row equals the
    full one (repeated draws are summed when the matrix is built).
    """
    indptr, indices, values = adjacency.indptr, adjacency.indices, adjacency.data
    deg = indptr[nodes + 1] - indptr[nodes]
    small = deg <= fanout
    keep, counts = nodes[small], deg[small]
    first = np.repeat(indptr[keep] - (np.cumsum(counts) - counts), counts)
    pos_small = first + np.arange(int(counts.sum()))
    big, bdeg = nodes[~small], deg[~small]
    draws = torch.rand((len(big), fanout), generator=generator, dtype=torch.float64).numpy()
    pos_big = (indptr[big][:, None] + (draws * bdeg[:, None]).astype(np.int64)).ravel()
    rows = np.concatenate([np.repeat(keep, counts), np.repeat(big, fanout)])
    pos = np.concatenate([pos_small, pos_big])
    weights = values[pos] * np.concatenate([np.ones(len(pos_small)), np.repeat(bdeg / fanout, fanout)])
    return rows, indices[pos], weights.astype(np.float32)


def symmetric_spmm(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``a @ x`` for a symmetric sparse ``a`` (every :func:`normalized_adjacency`), differentiable in ``x``."""
    return full_precision(_SymmetricSpMM, a, x)


def graph_key(interactions: sp.csr_matrix, side: sp.csr_matrix | None = None) -> str:
    """A fingerprint of a training graph (shape and edges, and its side graph's): what the adjacency cache is keyed by."""
    h = hashlib.sha256()
    for part in (interactions, side):
        if part is None:
            continue
        m = part.tocsr()
        h.update(np.asarray(m.shape, np.int64).tobytes())
        h.update(np.ascontiguousarray(m.indptr, np.int64).tobytes())
        h.update(np.ascontiguousarray(m.indices, np.int64).tobytes())
    return h.hexdigest()[:16]


class _AdjacencyCache:
    """The normalised adjacencies of the last few training graphs: every graph model fitted on the
    same split (a suite's presets, a tuning study's trials) builds it once."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._items: OrderedDict[str, torch.Tensor] = OrderedDict()

    def get(self, interactions: sp.csr_matrix, side: sp.csr_matrix | None = None) -> torch.Tensor:
        key = graph_key(interactions, side)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        adj = normalized_adjacency(interactions, side=side)
        self._items[key] = adj
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return adj


ADJACENCY_CACHE = _AdjacencyCache()


@dataclasses.dataclass
class GraphOutput:
    """Propagated representations: ``users`` [n_users, d], ``items`` [n_items, d] (layers combined) and
    each layer's ``[n_users + n_items, d]`` output (``layers[0]`` = the ego embeddings). ``joint``: the
    ``[n_users + n_items, d]`` tensor ``users`` and ``items`` are views of (None if they are not)."""

    users: torch.Tensor
    items: torch.Tensor
    layers: Sequence[torch.Tensor]
    joint: torch.Tensor | None = None

    def gather(self, users: torch.Tensor, *items: torch.Tensor) -> list[torch.Tensor]:
        """``[users[u], items[i1], items[i2], ...]``: with ``joint``, one row selection of it (its backward
        fills one gradient buffer, not one per part plus their concatenation)."""
        if self.joint is None:
            return [self.users.index_select(0, users), *(self.items.index_select(0, i) for i in items)]
        return gather_joint(self.joint, self.users.shape[0], users, *items)


def gather_joint(joint: torch.Tensor, n_users: int, users: torch.Tensor, *items: torch.Tensor) -> list[torch.Tensor]:
    """Rows ``users`` and ``n_users + i`` for each ``i`` in ``items`` of a ``[n_users + n_items, d]`` tensor,
    selected at once and split back into the parts."""
    index = torch.cat([users, *(i + n_users for i in items)])
    return list(joint.index_select(0, index).split([len(users), *(len(i) for i in items)]))


class GraphEncoder(nn.Module):
    """Base of graph encoders: ego embeddings + :meth:`propagate` over the training graph."""

    Config: ClassVar[type] = type(None)
    input: ClassVar[str] = "graph"
    direction: ClassVar[str | None] = None
    name: ClassVar[str] = "graph"

    @classmethod
    def capabilities(cls, params: dict[str, Any] | None = None) -> tuple[str, ...]:
        return (cls.input,)


@dataclasses.dataclass
class LightGCNConfig:
    """Parameters of :class:`LightGCNEncoder`."""

    embedding_size: int = 64
    """Size of the user and item vectors."""
    num_layers: int = 2
    """Propagation steps ``K`` (SELFRec's LightGCN, SGL, SimGCL and XSimGCL: 2; the LightGCN paper: 3)."""
    combine: str = "mean"
    """How layers make the representation: ``"mean"`` of layers 0..K (LightGCN, SGL), ``"mean_propagated"``
    of layers 1..K (SimGCL, XSimGCL), ``"sum"`` of 0..K, or the ``"last"`` layer."""
    train_noise: float = 0.0
    """Uniform noise of this magnitude added to every layer's output in *every* training forward
    (XSimGCL's single perturbed pass, ``eps``); 0 = none. Never at scoring time."""
    propagation: str = "full"
    """``"full"``: every training step propagates the whole graph; ``"sampled"``: a step propagates only
    over sampled neighbourhoods of its nodes (its users, positive and negative items), at most
    ``fanout`` neighbours per node and layer, reweighted so that every layer is an unbiased estimate
    of the full one at those nodes: a step's cost follows the batch, not the graph (graphs where a
    full propagation per step is too slow). Scoring always propagates the whole graph once."""
    fanout: int = 10
    """Neighbours drawn per node and layer with ``propagation: sampled`` (all of them when fewer)."""
    isolated: str = "zero"
    """What propagation gives a node without training edges (a cold item, a user with no training
    interactions): ``"zero"`` (LightGCN: every propagated layer is 0, so its representation is its ego
    vector over K + 1) or ``"ego"`` (each layer keeps its ego vector, as a self-loop would: a cold item
    whose ego vector comes from its text, ``item_repr: text``, is then scored on the same scale as the
    others). Nodes with edges are unaffected."""
    side_graph: str = "none"
    """``"attributes"``: propagate over the user-item graph joined with the item-attribute graph (each
    attribute id, genre, category or brand a node with a learned ego vector, linked to the items that
    have it; knowledge-graph-style side information, as KGAT's collaborative knowledge graph without
    relation types). Items that share attributes exchange information, and an item without training
    interactions is reached through its attributes. ``"none"``: the user-item graph only."""


@register_encoder(
    "lightgcn",
    config=LightGCNConfig,
    search_space={
        "embedding_size": ("categorical", [32, 64, 128]),
        "num_layers": ("int", 1, 4, "linear"),
    },
    paper="He et al., LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation, SIGIR 2020",
    tags=("graph",),
    provides=("graph",),
)
class LightGCNEncoder(GraphEncoder):
    """Ego embeddings propagated over the symmetric-normalised user-item graph, layers combined.

    He, Deng, Wang, Li, Zhang and Wang, "LightGCN: Simplifying and Powering Graph Convolution
    Network for Recommendation", SIGIR 2020. Layout as SELFRec's encoder: Xavier-uniform ego
    embeddings, ``e^(k+1) = A_hat e^(k)`` with ``A_hat = D^-1/2 A D^-1/2``, no weights or
    non-linearities. The item ego embeddings are the encoder's :class:`ItemEmbedding` (so a
    text-aware item representation initialises item nodes from their text); users have their own.
    The graph is set by :meth:`set_graph` before training (the normalised adjacency is cached per
    training graph).
    """

    Config = LightGCNConfig
    name = "lightgcn"

    def __init__(
        self,
        n_items: int,
        max_len: int = 50,
        item_embedding: ItemEmbedding | None = None,
        n_users: int = 1,
        n_side: int = 0,
        **params: Any,
    ) -> None:
        super().__init__()
        self.config = make_config(self.Config, params, f"encoder {self.name!r}")
        c = self.config
        if c.side_graph not in ("none", "attributes"):
            raise ConfigError(f"encoder 'lightgcn': side_graph {c.side_graph!r} is not one of ['none', 'attributes']")
        if c.side_graph != "none" and c.propagation == "sampled":
            raise ConfigError(
                "encoder 'lightgcn': side_graph 'attributes' propagates the whole joined graph; "
                "use propagation 'full' with it"
            )
        if c.combine not in COMBINES:
            raise ConfigError(f"encoder 'lightgcn': combine {c.combine!r} is not one of {list(COMBINES)}")
        if int(c.num_layers) < 1:
            raise ConfigError(f"encoder 'lightgcn': num_layers must be >= 1, got {c.num_layers}")
        if c.propagation not in ("full", "sampled"):
            raise ConfigError(f"encoder 'lightgcn': propagation {c.propagation!r} is not one of ['full', 'sampled']")
        if int(c.fanout) < 1:
            raise ConfigError(f"encoder 'lightgcn': fanout must be >= 1, got {c.fanout}")
        if c.isolated not in ("zero", "ego"):
            raise ConfigError(f"encoder 'lightgcn': isolated {c.isolated!r} is not one of ['zero', 'ego']")
        if c.train_noise < 0:
            raise ConfigError(f"encoder 'lightgcn': train_noise must be >= 0, got {c.train_noise}")
        dim = int(c.embedding_size)
        if item_embedding is not None and item_embedding.dim != dim:
            raise ConfigError(f"encoder 'lightgcn': item_embedding has dim {item_embedding.dim}, expected {dim}")
        self.n_items = int(n_items)
        self.n_users = int(n_users)
        self.max_len = int(max_len)
        self._own_items = item_embedding is None
        self.item_embedding = item_embedding if item_embedding is not None else ItemEmbedding(n_items, dim)
        self.user_embedding = nn.Embedding(self.n_users, dim)
        self.n_side = int(n_side) if c.side_graph != "none" else 0
        self.side_embedding = nn.Embedding(self.n_side, dim) if c.side_graph != "none" else None
        self.side: sp.csr_matrix | None = None
        self.adjacency: torch.Tensor | None = None
        self._isolated: torch.Tensor | None = None  # [n, 1] 1.0 at nodes without training edges (isolated: ego)
        self.interactions: sp.csr_matrix | None = None
        self.degrees = torch.zeros(self.n_users, dtype=torch.int64)
        self.reset_parameters()

    @property
    def dim(self) -> int:
        return int(self.config.embedding_size)

    def reset_parameters(self) -> None:
        """Xavier-uniform user and item ego embeddings (SELFRec); a text-aware item representation keeps its own."""
        nn.init.xavier_uniform_(self.user_embedding.weight)
        if self.side_embedding is not None and self.n_side:
            nn.init.xavier_uniform_(self.side_embedding.weight)
        if self._own_items:
            with torch.no_grad():
                nn.init.xavier_uniform_(self.item_embedding.table.weight[1 : self.n_items + 1])

    def set_graph(self, interactions: sp.csr_matrix, side: sp.csr_matrix | None = None) -> None:
        """Use the user-item graph of ``interactions`` ``[n_users, n_items]`` (the training split) and, with
        ``side_graph: attributes``, the item-attribute graph ``side`` ``[n_items, n_side]``."""
        if interactions.shape != (self.n_users, self.n_items):
            raise ValueError(f"graph of shape {interactions.shape}, encoder built for {(self.n_users, self.n_items)}")
        if (side is None) != (self.side_embedding is None):
            raise ValueError(
                f"lightgcn with side_graph {self.config.side_graph!r} "
                + ("needs the item-attribute graph" if side is None else "takes no side graph")
            )
        if side is not None and side.shape != (self.n_items, self.n_side):
            raise ValueError(f"side graph of shape {side.shape}, encoder built for {(self.n_items, self.n_side)}")
        self.interactions = interactions.tocsr()
        self.side = None if side is None else side.tocsr()
        self.adjacency = ADJACENCY_CACHE.get(self.interactions, self.side).to(self.user_embedding.weight.device)
        self._adjacency_sp: sp.csr_matrix | None = None  # built on first sampled propagation
        self.degrees = torch.from_numpy(np.diff(self.interactions.indptr).astype(np.int64))
        item_degrees = np.bincount(self.interactions.indices, minlength=self.n_items)
        if self.side is not None:  # an item linked to attributes is not isolated
            item_degrees = item_degrees + np.diff(self.side.indptr)
        isolated = np.concatenate(
            [np.diff(self.interactions.indptr) == 0, item_degrees == 0, np.zeros(self.n_side, bool)]
        )
        self._isolated = (
            torch.from_numpy(isolated.astype(np.float32))[:, None].to(self.user_embedding.weight.device)
            if self.config.isolated == "ego" and isolated.any()
            else None
        )

    def ego(self) -> torch.Tensor:
        """``[n_users + n_items, d]``: users first, then items."""
        return torch.cat([self.user_embedding.weight, self.item_embedding.scoring_matrix()])

    def adjacency_for(self, keep: np.ndarray | None = None) -> torch.Tensor:
        """The normalised adjacency of the training graph with only the user-item edges ``keep`` (views);
        the side graph's edges are always kept."""
        return normalized_adjacency(self.interactions, keep, self.side)

    def propagate(
        self,
        adjacency: torch.Tensor | list[torch.Tensor] | None = None,
        noise: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> GraphOutput:
        """The combined representations and every layer's output.

        Args:
            adjacency: the training graph's (default), a perturbed one, or one per layer.
            noise: add ``sign(e) * normalize(u) * noise`` (``u`` uniform) to each layer's output (SimGCL);
                in training, the encoder's own ``train_noise`` applies when this is 0.
            generator: where the noise is drawn from (the global generator when None).
        """
        if self.adjacency is None:
            raise RuntimeError("lightgcn: set_graph(train) before propagating")
        eps = noise or (self.config.train_noise if self.training else 0.0)
        x = self.ego()
        layers = [x]
        n = x.shape[0]
        if self.side_embedding is not None:  # attribute nodes propagate too; layers keep users and items
            x = torch.cat([x, self.side_embedding.weight])
        for k in range(int(self.config.num_layers)):
            a = (
                adjacency[k]
                if isinstance(adjacency, list)
                else (adjacency if adjacency is not None else self.adjacency)
            )
            prev = x
            x = symmetric_spmm(a, x)  # every adjacency here is normalized_adjacency's: symmetric
            if self._isolated is not None:
                x = x + self._isolated * prev  # nodes without training edges keep their ego vector
            if eps > 0:
                x = x + _noise(x, eps, generator)
            layers.append(x[:n] if x.shape[0] != n else x)  # a slice's backward would copy into zeros
        out = _COMBINE[self.config.combine](layers)
        users, items = out.split([self.n_users, self.n_items])
        return GraphOutput(users=users, items=items, layers=layers, joint=out)

    def noisy_view(self, main: GraphOutput, eps: float, generator: torch.Generator | None) -> GraphOutput | None:
        """A SimGCL view, :meth:`propagate` with ``noise=eps``, built from the step's clean propagation ``main``.

        Propagation is linear and the noise has no gradient (``sign(x) * normalize(u) * eps``), so a noisy
        propagation is the clean one plus a constant offset ``d``: ``d_1 = noise(m_1)``,
        ``d_k = A d_{k-1} + noise(m_k + A d_{k-1})`` (``m_k``: the clean layers; the noise's sign is that of
        the noisy layer before its noise, as in :meth:`propagate`), combined like the layers. The view
        costs ``num_layers - 1`` products without autograd instead of ``num_layers`` forward and
        ``num_layers`` backward ones, and its gradient flows through the clean layers (one backward pass
        for the main objective and every view). The same noise draws in the same order as
        :meth:`propagate`; the values equal it up to floating-point rounding (``A (m + d)`` is summed
        as ``A m + A d``). None where this does not apply (``main`` itself noisy or sampled, a side
        graph): the caller propagates the view in full.
        """
        if (
            self.side_embedding is not None
            or main.joint is None
            or isinstance(main.layers, _ScatteredLayers)
            or (self.training and self.config.train_noise > 0)
            or len(main.layers) != int(self.config.num_layers) + 1
        ):
            return None
        offsets = []
        with torch.no_grad():
            d = None
            for k in range(1, len(main.layers)):
                m = main.layers[k].detach()
                if d is None:
                    d = _noise(m, eps, generator)
                else:
                    spread = _spmm(self.adjacency, d)
                    if self._isolated is not None:
                        spread = spread + self._isolated * d
                    d = spread.add_(_noise(m + spread, eps, generator))
                offsets.append(d)
            offset = _COMBINE[self.config.combine]([torch.zeros_like(offsets[0]), *offsets])
        joint = main.joint + offset
        users, items = joint.split([self.n_users, self.n_items])
        return GraphOutput(users=users, items=items, layers=_OffsetLayers(main.layers, offsets), joint=joint)

    def propagate_sampled(self, nodes: torch.Tensor, generator: torch.Generator) -> GraphOutput:
        """A training step's propagation over sampled neighbourhoods (``propagation: sampled``).

        ``nodes`` [m]: the step's nodes in the joint numbering (users, then ``n_users + item``). The top
        layer is computed at ``nodes`` from :func:`sample_neighbours` of each; every layer below at the
        nodes the layer above reads (and at ``nodes``), each on its own compact row set. Every layer's
        output is an unbiased estimate of the full propagation's at those rows and zero elsewhere; the
        combined ``users`` / ``items`` are computed at ``nodes`` only (zero elsewhere).
        ``train_noise`` applies as in :meth:`propagate`.
        """
        if self.adjacency is None:
            raise RuntimeError("lightgcn: set_graph(train) before propagating")
        if self._adjacency_sp is None:
            a = self.adjacency.to("cpu")
            n = a.shape[0]
            self._adjacency_sp = sp.csr_matrix(
                (a.values().numpy(), a.col_indices().numpy(), a.crow_indices().numpy()), shape=(n, n)
            )
        adj = self._adjacency_sp
        device = self.user_embedding.weight.device
        need = [np.unique(nodes.cpu().numpy().astype(np.int64))]  # row sets from the top layer down
        samples = []
        for _ in range(int(self.config.num_layers)):
            rows, cols, w = sample_neighbours(adj, need[-1], int(self.config.fanout), generator)
            samples.append((rows, cols, w))
            need.append(np.union1d(need[-1], cols))
        need.reverse()  # need[k]: the rows layer k is computed at (need[0] for the ego vectors)
        samples.reverse()  # samples[k - 1]: the edges of layer k
        eps = self.config.train_noise if self.training else 0.0
        first = torch.from_numpy(need[0]).to(device)
        is_user = first < self.n_users
        x = torch.cat(  # the ego vectors of need[0] (sorted: users first), without building all of them
            [
                self.user_embedding.weight.index_select(0, first[is_user]),
                self.item_embedding.scoring_matrix().index_select(0, first[~is_user] - self.n_users),
            ]
        )
        compact = [x]
        for k, (rows, cols, w) in enumerate(samples, start=1):
            m = sp.csr_matrix(
                (w, (np.searchsorted(need[k], rows), np.searchsorted(need[k - 1], cols))),
                shape=(len(need[k]), len(need[k - 1])),
            )
            prev = x
            x = full_precision(_SpMM, _torch_csr(m).to(device), _torch_csr(m.T.tocsr()).to(device), x)
            if self._isolated is not None:  # nodes without training edges keep their ego vector
                rows_k = torch.from_numpy(need[k]).to(device)
                at_prev = torch.from_numpy(np.searchsorted(need[k - 1], need[k])).to(device)
                x = x + self._isolated[rows_k] * prev.index_select(0, at_prev)
            if eps > 0:
                x = x + _noise(x, eps, generator, on_cpu=True)
            compact.append(x)
        n = self.n_users + self.n_items
        top = torch.from_numpy(need[-1]).to(device)  # the step's nodes
        picked = [
            c.index_select(0, torch.from_numpy(np.searchsorted(r, need[-1])).to(device))
            for c, r in zip(compact, need, strict=True)
        ]
        out = x.new_zeros(n, self.dim).index_copy(0, top, _COMBINE[self.config.combine](picked))
        users, items = out.split([self.n_users, self.n_items])
        rows = [torch.from_numpy(r).to(device) for r in need]
        return GraphOutput(users=users, items=items, layers=_ScatteredLayers(self, compact, rows, n), joint=out)


class _OffsetLayers(Sequence):
    """A :meth:`LightGCNEncoder.noisy_view`'s layers: the clean layers plus their offsets (layer 0 has
    none), each built when first read (graph_contrastive reads only the combined output)."""

    def __init__(self, clean: Sequence[torch.Tensor], offsets: list[torch.Tensor]) -> None:
        self._clean, self._offsets = clean, offsets

    def __len__(self) -> int:
        return len(self._clean)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        k = range(len(self))[k]
        return self._clean[k] if k == 0 else self._clean[k] + self._offsets[k - 1]


class _ScatteredLayers(Sequence):
    """A sampled propagation's layers as full ``[n_users + n_items, d]`` tensors, each built when first
    read (most objectives read only the combined output): layer 0 is the ego embeddings, layer k its
    compact rows scattered into zeros."""

    def __init__(self, encoder: LightGCNEncoder, compact: list[torch.Tensor], rows: list[torch.Tensor], n: int) -> None:
        self._encoder, self._compact, self._rows, self._n = encoder, compact, rows, n
        self._full: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._compact)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        k = range(len(self))[k]
        if k not in self._full:
            c = self._compact[k]
            full = self._encoder.ego() if k == 0 else c.new_zeros(self._n, c.shape[1]).index_copy(0, self._rows[k], c)
            self._full[k] = full
        return self._full[k]


@torch.no_grad()
def _noise(x: torch.Tensor, eps: float, generator: torch.Generator | None, on_cpu: bool = False) -> torch.Tensor:
    """SimGCL's perturbation of a layer's output ``x``: ``sign(x) * normalize(u) * eps``, ``u`` uniform
    (from ``generator``, drawn on the CPU with ``on_cpu``; the global generator when None). Built
    without autograd (its gradient with respect to ``x`` is 0), in place: the layer then takes one add.

    On the CPU the uniform draws are 16-bit (:func:`uniform16`, a quarter of the generator calls of
    ``torch.rand``'s 24-bit floats, which were most of the noise's cost on Beauty's graph); only their
    direction is used, which the resolution changes by about 1e-5."""
    if x.device.type == "cpu":
        u = uniform16(x.shape, generator)
    elif generator is None:
        u = torch.rand_like(x)
    elif on_cpu:
        u = torch.rand(x.shape, generator=generator).to(x.device)
    else:
        u = torch.rand(x.shape, generator=generator, device=x.device)
    return u.mul_(eps / u.norm(dim=-1, keepdim=True).clamp_min_(1e-12)).mul_(torch.sign(x))


def uniform16(shape: Sequence[int] | torch.Size, generator: torch.Generator | None = None) -> torch.Tensor:
    """Floats uniform on ``(0, 65536)`` at 16-bit resolution (``(k + 0.5)`` for uniform integers ``k``), on the
    CPU: four per 64-bit draw of ``generator`` (the global one when None). A scaled ``torch.rand`` for
    uses that only need the direction or the ranks of the values, at a quarter of its generator calls."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1, generator=generator)
    return words.view(torch.int16)[:n].view(shape).add(32768.5)


def _sum(layers: list[torch.Tensor]) -> torch.Tensor:
    out = layers[0]
    for x in layers[1:]:
        out = out + x
    return out


# sums by additions: stacking and reducing over a new first dimension is several times slower on CPU
_COMBINE: dict[str, Callable[[list[torch.Tensor]], torch.Tensor]] = {
    "mean": lambda layers: _sum(layers) / len(layers),
    "mean_propagated": lambda layers: _sum(layers[1:]) / (len(layers) - 1),
    "sum": _sum,
    "last": lambda layers: layers[-1],
}
