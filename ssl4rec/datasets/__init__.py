"""Datasets: loaders per source format, one shared pipeline, download with sha256 checks.

>>> ds = load_dataset("ml-100k", preprocessing={"implicit_threshold": 4, "k_core": 5})  # doctest: +SKIP

Loaders register with :func:`ssl4rec.registry.register_dataset` as
``load(root: Path, **params) -> RawData`` (raw ids) and list their :class:`FileSpec` s; the
pipeline (:mod:`.pipeline`) finds or downloads the files, runs the loader, applies
preprocessing (:mod:`.preprocess`), assigns dense ids and records provenance in ``info``.

Registered: ``ml-100k``, ``ml-1m``, ``ml-20m``, ``ml-25m``, ``ml-latest-small``, ``ml-latest``,
``amazon-beauty``, ``amazon2018`` (``category=``), ``amazon2018-gift-cards``, ``amazon2014-csv``
(``category=``), ``amazon2023`` (``category=``), ``recbole`` (``dataset=``), the LightGCN-format
``gowalla``, ``yelp2018``, ``amazon-book`` (with the ``given`` split) and ``synthetic``.
"""

from __future__ import annotations

from . import amazon, lightgcn, movielens, recbole, sequences, synthetic  # noqa: F401  (registers the loaders)
from .base import ENV_VAR, DataError, FileSpec, MissingDataError, RawData, data_root, sha256_file
from .pipeline import build_dataset, dataset_files, dataset_info, load_dataset
from .preprocess import Preprocessing

__all__ = [
    "ENV_VAR",
    "DataError",
    "MissingDataError",
    "FileSpec",
    "RawData",
    "Preprocessing",
    "data_root",
    "sha256_file",
    "load_dataset",
    "dataset_info",
    "dataset_files",
    "build_dataset",
]
