"""Self-supervised recommenders: the SSL model, sequence augmentations and named presets.

Importing this package registers the augmentations (``crop``, ``mask``, ``reorder``) and the
presets (``gru4rec``, ``sasrec``, ``bert4rec``, ``cl4srec``, ``multvae``, ``multdae``), and,
through :mod:`ssl4rec.ssl.composite`, the built-in encoders and objectives.
"""

from . import augmentations, composite, graph_views, presets  # noqa: F401
from .augmentations import Crop, Mask, Reorder
from .composite import (
    SCHEDULES,
    IncompatibleError,
    SSLNetwork,
    SSLRecommender,
    SSLTrainConfig,
    build_ssl_model,
    check_compatible,
    component_versions,
    main_objectives,
    resolved_config,
)
from .presets import PRESET_SPECS, apply_overrides, build_preset, preset_search_space

__all__ = [
    "PRESET_SPECS",
    "SCHEDULES",
    "Crop",
    "IncompatibleError",
    "Mask",
    "Reorder",
    "SSLNetwork",
    "SSLRecommender",
    "SSLTrainConfig",
    "apply_overrides",
    "build_preset",
    "build_ssl_model",
    "check_compatible",
    "component_versions",
    "main_objectives",
    "preset_search_space",
    "resolved_config",
]
