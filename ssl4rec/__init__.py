"""ssl4rec: a benchmark framework for self-supervised and language-model-enhanced recommendation.

Importing the package registers every built-in component (datasets, splits, metrics,
baselines, encoders, objectives, text encoders); plugins from the ``ssl4rec.plugins``
entry-point group are loaded by :func:`ssl4rec.registry.load_plugins` (the CLI and the
runner call it).
"""

__version__ = "0.1.0"

from . import (  # noqa: E402,F401
    baselines,
    datasets,
    encoders,
    evaluation,
    objectives,
    registry,  # noqa: E402
    ssl,
    text,
)
from .interactions import Batch, Dataset, Interactions, SplitData  # noqa: E402
from .recommender import Recommender  # noqa: E402
from .registry import (  # noqa: E402
    BASELINES,
    DATASETS,
    ENCODERS,
    METRICS,
    OBJECTIVES,
    PRESETS,
    SPLITS,
    TEXT_ENCODERS,
)

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
