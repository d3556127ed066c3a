"""Variational (or denoising) autoencoder over the user's bag of items (Mult-VAE / Mult-DAE)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ConfigError, register_encoder
from .base import Bag, BagEncoder, BagOutput, ItemEmbedding, normalize_rows

__all__ = ["VAEConfig", "VAEEncoder"]


@dataclasses.dataclass
class VAEConfig:
    """Parameters of :class:`VAEEncoder`."""

    embedding_size: int = 200
    """Size of the latent user vector (``mu`` / ``logvar``)."""
    hidden_sizes: list[int] = dataclasses.field(default_factory=lambda: [600])
    """Hidden layer sizes of the encoder MLP (the decoder mirrors them)."""
    dropout: float = 0.5
    """Dropout on the normalised input bag."""
    variational: bool = True
    """True: Mult-VAE (Gaussian latent, KL term); False: Mult-DAE (deterministic latent)."""
    noise_scale: float = 1.0
    """Multiplier of the reparameterisation noise in training: ``z = mu + noise_scale * eps * sigma``.
    1 is the paper's sampler; RecBole's MultiVAE draws ``eps`` with standard deviation 0.01."""


@register_encoder(
    "vae",
    config=VAEConfig,
    search_space={
        "embedding_size": ("categorical", [64, 128, 200, 256]),
        "hidden_sizes": ("categorical", [[300], [600], [1000]]),
        "dropout": ("float", 0.1, 0.7, "linear"),
    },
    paper="Liang et al., Variational Autoencoders for Collaborative Filtering, WWW 2018",
    tags=("bag", "autoencoder"),
    provides=("bag", "variational"),
)
class VAEEncoder(BagEncoder):
    """Encoder-decoder MLP from a user's item bag to logits over all items.

    Liang, Krishnan, Hoffman and Jebara, "Variational Autoencoders for Collaborative
    Filtering", WWW 2018. As the paper's code: L2-normalised input, dropout, tanh MLP
    ``[n_items -> hidden_sizes -> 2 x embedding_size]`` giving ``mu`` and ``logvar``, a
    reparameterised sample in training (``mu`` at scoring), and a tanh decoder
    ``[embedding_size -> reversed(hidden_sizes) -> n_items]``. ``variational=False`` gives
    Mult-DAE (no sampling, no KL). The input layer reads the sparse bag directly
    (``embedding_bag``), the output layer is the encoder's ``item_embedding``.
    """

    Config = VAEConfig
    name = "vae"

    def __init__(
        self, n_items: int, max_len: int = 50, item_embedding: ItemEmbedding | None = None, **params: Any
    ) -> None:
        super().__init__(n_items, max_len, **params)
        c = self.config
        sizes = [int(h) for h in c.hidden_sizes]
        if not sizes or min(sizes) < 1:
            raise ConfigError(f"encoder 'vae': hidden_sizes must be a non-empty list of positive ints, got {sizes}")
        self.variational = bool(c.variational)
        latent = int(c.embedding_size)
        self.input_weight = nn.Parameter(torch.empty(n_items, sizes[0]))
        self.input_bias = nn.Parameter(torch.empty(sizes[0]))
        enc = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=False)]
        self.encoder = nn.ModuleList([*enc, nn.Linear(sizes[-1], 2 * latent if self.variational else latent)])
        back = sizes[::-1]
        self.decoder = nn.ModuleList(
            [nn.Linear(latent, back[0]), *(nn.Linear(a, b) for a, b in zip(back[:-1], back[1:], strict=False))]
        )
        if item_embedding is not None and item_embedding.dim != sizes[0]:
            raise ConfigError(f"encoder 'vae': item_embedding has dim {item_embedding.dim}, expected {sizes[0]}")
        self._own_items = item_embedding is None
        self.item_embedding = item_embedding if item_embedding is not None else ItemEmbedding(n_items, sizes[0])
        self.output_bias = nn.Parameter(torch.empty(n_items))
        self.reset_parameters()

    @classmethod
    def capabilities(cls, params: dict[str, Any] | None = None) -> tuple[str, ...]:
        variational = (params or {}).get("variational", VAEConfig.variational)
        return ("bag", "variational") if variational else ("bag",)

    def reset_parameters(self) -> None:
        """Xavier-normal weights, Normal(0, 0.001) biases (the paper's code)."""
        nn.init.xavier_normal_(self.input_weight)
        nn.init.normal_(self.input_bias, 0.0, 0.001)
        for m in [*self.encoder, *self.decoder]:
            nn.init.xavier_normal_(m.weight)
            nn.init.normal_(m.bias, 0.0, 0.001)
        if self._own_items:
            self.item_embedding.reset_parameters(None)
        nn.init.normal_(self.output_bias, 0.0, 0.001)

    def encode(self, bag: Bag) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(mu, logvar)`` of the latent user vector (``logvar`` None when not variational)."""
        values = torch.ones(bag.items.shape[0], device=bag.items.device)
        values = F.dropout(normalize_rows(values, bag.rows, bag.size), self.config.dropout, self.training)
        h = F.embedding_bag(bag.items, self.input_weight, bag.offsets, mode="sum", per_sample_weights=values)
        h = torch.tanh(h + self.input_bias)
        for i, layer in enumerate(self.encoder):
            h = layer(h)
            if i < len(self.encoder) - 1:
                h = torch.tanh(h)
        if not self.variational:
            return torch.tanh(h), None  # Mult-DAE: tanh on every layer but the output
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar

    def decode_hidden(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's last hidden layer ``[B, hidden_sizes[0]]``: the user vector that meets the item vectors."""
        for layer in self.decoder:
            z = torch.tanh(layer(z))
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Item logits ``[B, n_items]`` from latent vectors."""
        h = self.decode_hidden(z)
        if isinstance(self.item_embedding, ItemEmbedding):
            return self.item_embedding.logits(h) + self.output_bias
        return h @ self.item_embedding.scoring_matrix().T + self.output_bias

    def forward(self, bag: Bag) -> BagOutput:
        mu, logvar = self.encode(bag)
        z = mu
        if self.training and logvar is not None:
            z = mu + torch.randn_like(mu) * (self.config.noise_scale * torch.exp(0.5 * logvar))
        return BagOutput(logits=self.decode(z), mu=mu, logvar=logvar)
