"""ssl4rec: a benchmark framework for self-supervised and language-model-enhanced recommendation.

Every built-in component (datasets, splits, metrics, baselines, encoders, objectives, text
encoders) is registered on the first lookup in any registry; plugins from the ``ssl4rec.plugins``
entry-point group are loaded by :func:`ssl4rec.registry.load_plugins` (the CLI and the
runner call it).
"""

__version__ = "0.1.0"

import importlib
from typing import Any

#: Names this package gives, and the module each comes from (imported on first use, so that e.g.
#: ``ssl4rec --help`` does not import torch; the registries import the built-in components on their
#: first lookup, see :func:`ssl4rec.registry.load_builtins`).
_LAZY = {
    "Batch": "interactions",
    "Dataset": "interactions",
    "Interactions": "interactions",
    "SplitData": "interactions",
    "Recommender": "recommender",
    **dict.fromkeys(
        ("BASELINES", "DATASETS", "ENCODERS", "METRICS", "OBJECTIVES", "PRESETS", "SPLITS", "TEXT_ENCODERS"),
        "registry",
    ),
}
_SUBMODULES = ("baselines", "datasets", "encoders", "evaluation", "objectives", "registry", "results", "ssl", "text")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'ssl4rec' has no attribute {name!r}")


__all__ = [
    "Batch",
    "Dataset",
    "Interactions",
    "SplitData",
    "Recommender",
    "BASELINES",
    "DATASETS",
    "ENCODERS",
    "METRICS",
    "OBJECTIVES",
    "PRESETS",
    "SPLITS",
    "TEXT_ENCODERS",
    "registry",
]
