"""Encoders; importing this package registers them in ``ENCODERS``.

``gru`` (GRU4Rec), ``transformer`` (SASRec when causal, BERT4Rec when bidirectional) and
``vae`` (Mult-VAE / Mult-DAE). See :mod:`ssl4rec.encoders.base` for the contract and
:mod:`ssl4rec.encoders.text_items` for the text-aware item representation (``item_repr``).
"""

from . import base, graph, gru, text_items, transformer, vae  # noqa: F401
from .base import Bag, BagEncoder, BagOutput, ItemEmbedding, SequenceEncoder
from .graph import GraphEncoder, LightGCNConfig, LightGCNEncoder
from .gru import GRUConfig, GRUEncoder
from .text_items import ITEM_REPRS, TextItemEmbedding, prepare_text
from .transformer import TransformerConfig, TransformerEncoder
from .vae import VAEConfig, VAEEncoder

__all__ = [
    "ITEM_REPRS",
    "Bag",
    "BagEncoder",
    "BagOutput",
    "GRUConfig",
    "GraphEncoder",
    "LightGCNConfig",
    "LightGCNEncoder",
    "GRUEncoder",
    "ItemEmbedding",
    "SequenceEncoder",
    "TextItemEmbedding",
    "TransformerConfig",
    "TransformerEncoder",
    "VAEConfig",
    "VAEEncoder",
    "prepare_text",
]
