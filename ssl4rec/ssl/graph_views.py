"""Graph view generators for graph contrastive learning (registered in ``VIEWS``).

A view generator gives two :class:`~ssl4rec.encoders.graph.GraphOutput` views of the user-item
graph per training step; ``graph_contrastive`` contrasts the same users and items across them.

* ``edge_dropout``, ``node_dropout``, ``random_walk`` (SGL, Wu et al. SIGIR 2021): each view
  propagates over a perturbed graph, redrawn every epoch as SGL's code does (edge dropout keeps
  each edge with probability ``1 - ratio``; node dropout removes all edges of each user and item
  with probability ``ratio``; random walk draws an edge dropout per layer).
* ``embedding_noise`` (SimGCL, Yu et al. SIGIR 2022): each view adds uniform noise of magnitude
  ``eps`` to every layer's output.
* ``cross_layer`` (XSimGCL, Yu et al. TKDE 2023): the final representation against layer
  ``layer`` of the same forward pass (the main objective's, which the encoder's ``train_noise``
  perturbs), so no extra propagation is run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from ..encoders.base import make_config
from ..encoders.graph import GraphOutput
from ..registry import ConfigError, register_view

__all__ = ["CrossLayer", "EdgeDropout", "EmbeddingNoise", "GraphView", "NodeDropout", "RandomWalk", "drop_edges"]

_SGL = "Wu et al., Self-supervised Graph Learning for Recommendation (SGL), SIGIR 2021"


class GraphView:
    """Base of view generators: ``Config`` holds the parameters; :meth:`views` makes the two views."""

    Config: type = type(None)
    needs_main: bool = False
    """True: the views come from the main objective's forward pass (``cross_layer``)."""
    uses_main: bool = False
    """True: the views are built from the step's clean propagation when there is one (``embedding_noise``)."""

    def __init__(self, **params: Any) -> None:
        self.config = make_config(self.Config, params, f"view {type(self).__name__!r}")

    def epoch_start(self, encoder: Any, generator: torch.Generator) -> None:
        """Redraw what the views keep for an epoch (structural views); nothing by default."""

    def views(
        self, encoder: Any, generator: torch.Generator, main: GraphOutput | None
    ) -> tuple[GraphOutput, GraphOutput]:
        raise NotImplementedError


def drop_edges(n_edges: int, ratio: float, generator: torch.Generator) -> np.ndarray:
    """[n_edges] bool: each edge kept with probability ``1 - ratio`` (seeded)."""
    return (torch.rand(n_edges, generator=generator) >= ratio).numpy()


@dataclasses.dataclass
class DropConfig:
    ratio: float = 0.1
    """Share of edges (or nodes) dropped (SGL's ``drop_rate``; SELFRec's SGL: 0.1)."""


class _Structural(GraphView):
    """Views over perturbed graphs, redrawn at each epoch start (two per epoch)."""

    Config = DropConfig
    per_layer = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if not 0.0 <= self.config.ratio < 1.0:
            raise ConfigError(f"view {type(self).__name__}: ratio must be in [0, 1), got {self.config.ratio}")
        self._adjacencies: list[Any] = []

    def _keep(self, encoder: Any, generator: torch.Generator) -> np.ndarray:
        raise NotImplementedError

    def _one(self, encoder: Any, generator: torch.Generator) -> Any:
        device = encoder.user_embedding.weight.device
        if self.per_layer:
            return [
                encoder.adjacency_for(self._keep(encoder, generator)).to(device)
                for _ in range(int(encoder.config.num_layers))
            ]
        return encoder.adjacency_for(self._keep(encoder, generator)).to(device)

    def epoch_start(self, encoder: Any, generator: torch.Generator) -> None:
        self._adjacencies = [self._one(encoder, generator), self._one(encoder, generator)]

    def views(
        self, encoder: Any, generator: torch.Generator, main: GraphOutput | None
    ) -> tuple[GraphOutput, GraphOutput]:
        if not self._adjacencies:
            self.epoch_start(encoder, generator)
        a, b = self._adjacencies
        return encoder.propagate(a), encoder.propagate(b)


@register_view("edge_dropout", config=DropConfig, paper=_SGL, tags=("graph",))
class EdgeDropout(_Structural):
    """Each view keeps each training edge with probability ``1 - ratio`` (SGL-ED), redrawn every epoch."""

    def _keep(self, encoder: Any, generator: torch.Generator) -> np.ndarray:
        return drop_edges(encoder.interactions.nnz, self.config.ratio, generator)


@register_view("random_walk", config=DropConfig, paper=_SGL, tags=("graph",))
class RandomWalk(EdgeDropout):
    """SGL-RW: an independent edge dropout at every propagation layer, redrawn every epoch."""

    per_layer = True


@register_view("node_dropout", config=DropConfig, paper=_SGL, tags=("graph",))
class NodeDropout(_Structural):
    """Each view removes every edge of each user and each item with probability ``ratio`` (SGL-ND)."""

    def _keep(self, encoder: Any, generator: torch.Generator) -> np.ndarray:
        m = encoder.interactions.tocoo()
        users = (torch.rand(m.shape[0], generator=generator) >= self.config.ratio).numpy()
        items = (torch.rand(m.shape[1], generator=generator) >= self.config.ratio).numpy()
        return users[m.row] & items[m.col]


@dataclasses.dataclass
class NoiseConfig:
    eps: float = 0.1
    """Magnitude of the noise added to each layer's output (SimGCL's ``eps``; SELFRec: 0.1)."""


@register_view(
    "embedding_noise",
    config=NoiseConfig,
    paper="Yu et al., Are Graph Augmentations Necessary? Simple Graph Contrastive Learning for Recommendation (SimGCL), SIGIR 2022",
    tags=("graph",),
)
class EmbeddingNoise(GraphView):
    """Two noisy propagations: ``e + sign(e) * normalize(u) * eps`` at every layer, ``u`` uniform."""

    Config = NoiseConfig
    uses_main = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.config.eps <= 0:
            raise ConfigError(f"view 'embedding_noise': eps must be positive, got {self.config.eps}")

    def views(
        self, encoder: Any, generator: torch.Generator, main: GraphOutput | None
    ) -> tuple[GraphOutput, GraphOutput]:
        eps = self.config.eps  # the noise is drawn from the global generator (seeded by the fit), as before
        if main is not None:  # the clean propagation plus constant offsets: no autograd propagation per view
            a = encoder.noisy_view(main, eps, None)
            if a is not None:
                return a, encoder.noisy_view(main, eps, None)
        return encoder.propagate(noise=eps), encoder.propagate(noise=eps)


@dataclasses.dataclass
class CrossLayerConfig:
    layer: int = 1
    """The layer contrasted with the final representation (XSimGCL's ``l*``; SELFRec: 1)."""


@register_view(
    "cross_layer",
    config=CrossLayerConfig,
    paper="Yu et al., XSimGCL: Towards Extremely Simple Graph Contrastive Learning for Recommendation, TKDE 2023",
    tags=("graph",),
)
class CrossLayer(GraphView):
    """The main forward pass's final representation against its layer ``layer`` (one propagation per step)."""

    Config = CrossLayerConfig
    needs_main = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.config.layer < 1:
            raise ConfigError(f"view 'cross_layer': layer must be >= 1, got {self.config.layer}")

    def views(
        self, encoder: Any, generator: torch.Generator, main: GraphOutput | None
    ) -> tuple[GraphOutput, GraphOutput]:
        if main is None:
            main = encoder.propagate()
        if self.config.layer >= len(main.layers):
            raise ConfigError(
                f"view 'cross_layer': layer {self.config.layer} but the encoder has {len(main.layers) - 1} layers"
            )
        layer = main.layers[self.config.layer]
        users, items = layer.split([encoder.n_users, encoder.n_items])
        return main, GraphOutput(users=users, items=items, layers=main.layers, joint=layer)
