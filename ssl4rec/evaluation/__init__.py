"""Evaluation: splits, metrics, the protocol and the evaluator (full or sampled ranking).

Importing it registers the built-in splits and metrics.
"""

from . import (
    metrics,  # noqa: F401
    splits,  # noqa: F401
)
from .evaluator import EvalResult, Protocol, RankingValidator, evaluate  # noqa: F401
