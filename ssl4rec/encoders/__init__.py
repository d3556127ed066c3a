"""Encoders; importing this package registers them in ``ENCODERS``.

``gru`` (GRU4Rec), ``transformer`` (SASRec when causal, BERT4Rec when bidirectional) and
``vae`` (Mult-VAE / Mult-DAE). See :mod:`ssl4rec.encoders.base` for the contract.
"""

from . import base, gru, transformer, vae  # noqa: F401
from .base import Bag, BagEncoder, BagOutput, ItemEmbedding, SequenceEncoder
from .gru import GRUConfig, GRUEncoder
from .transformer import TransformerConfig, TransformerEncoder
from .vae import VAEConfig, VAEEncoder

__all__ = [
    "Bag",
    "BagEncoder",
    "BagOutput",
    "GRUConfig",
    "GRUEncoder",
    "ItemEmbedding",
    "SequenceEncoder",
    "TransformerConfig",
    "TransformerEncoder",
    "VAEConfig",
    "VAEEncoder",
]
