"""benchmark."""
from . import (
    metrics,  # noqa: F401,E402
    splits,  # noqa: F401
)
from .evaluation import EvalResult, Protocol, RankingValidator, evaluate  # noqa: F401,E402
