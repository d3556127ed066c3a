"""Baseline recommenders; importing this package registers them in ``BASELINES``.

``pop`` and ``random`` (floors), ``itemknn`` (neighbourhood), ``bpr`` (matrix factorisation),
``ease`` (closed-form linear autoencoder) and ``content`` (TF-IDF, scores cold items).
"""

from . import bpr, content, ease, itemknn, pop  # noqa: F401
from .bpr import BPR, BPRConfig
from .content import ContentBased, ContentConfig
from .ease import EASE, EASEConfig
from .itemknn import ItemKNN, ItemKNNConfig
from .pop import Pop, PopConfig, RandomConfig, RandomScores

__all__ = [
    "BPR",
    "BPRConfig",
    "ContentBased",
    "ContentConfig",
    "EASE",
    "EASEConfig",
    "ItemKNN",
    "ItemKNNConfig",
    "Pop",
    "PopConfig",
    "RandomConfig",
    "RandomScores",
]
