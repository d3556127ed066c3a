"""Objectives; importing this package registers them in ``OBJECTIVES``.

Main objectives (they define scoring): ``next_item`` (SASRec / GRU4Rec), ``masked_item``
(BERT4Rec), ``reconstruction`` (Mult-VAE). Auxiliary self-supervised objectives:
``contrastive`` (CL4SRec; with the ``substitute`` / ``insert`` augmentations CoSeRec),
``supervised_contrastive`` (DuoRec), ``intent_contrastive`` (ICLRec), ``s3rec_aap`` / ``s3rec_mip`` /
``s3rec_map`` / ``s3rec_sp`` (S3-Rec's pretraining objectives), ``text_alignment`` (UniSRec / Recformer-style alignment of sequences
with item text), ``attribute_link`` (items' attributes from their vectors). See :mod:`ssl4rec.objectives.base` for the contract and
``docs/adding_an_objective.md`` for writing a new one.
"""

from . import (  # noqa: F401
    attribute_link,
    base,
    contrastive,
    graph,
    intent_contrastive,
    losses,
    masked_item,
    next_item,
    reconstruction,
    s3rec,
    supervised_contrastive,
    text_alignment,
)
from .base import Objective, ObjectiveConfig, TrainBatch, trim_left
from .contrastive import Contrastive, ContrastiveConfig
from .losses import info_nce, item_loss
from .masked_item import MaskedItem, MaskedItemConfig
from .next_item import NextItem, NextItemConfig
from .reconstruction import Reconstruction, ReconstructionConfig
from .text_alignment import TextAlignment, TextAlignmentConfig

__all__ = [
    "Contrastive",
    "ContrastiveConfig",
    "MaskedItem",
    "MaskedItemConfig",
    "NextItem",
    "NextItemConfig",
    "Objective",
    "ObjectiveConfig",
    "Reconstruction",
    "ReconstructionConfig",
    "TextAlignment",
    "TextAlignmentConfig",
    "TrainBatch",
    "info_nce",
    "item_loss",
    "trim_left",
]
