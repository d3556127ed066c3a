"""Evaluation: splits, metrics, the protocol and the evaluator (full or sampled ranking).

Importing it registers the built-in splits, metrics and shilling attacks.
"""

from . import (
    attacks,  # noqa: F401
    detectors,  # noqa: F401
    metrics,  # noqa: F401
    splits,  # noqa: F401
)
from .evaluator import EvalResult, Protocol, RankingValidator, evaluate  # noqa: F401
