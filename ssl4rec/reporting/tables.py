"""The leaderboard's table model (a table per dataset x split, a row per model) and its display helpers."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["CONTENDED", "NO_SPREAD", "Row", "Table", "has_spread", "pretty", "spread"]


def pretty(metric: str) -> str:
    """Display form of a metric column (``"cold/ndcg@10"`` -> ``"NDCG@10 (cold)"``), labels from the registry."""
    from ..evaluation.metrics import metric_label

    sub, _, m = metric.rpartition("/")
    name, _, k = m.partition("@")
    out = metric_label(name) + (f"@{k}" if k else "")
    return f"{out} ({sub})" if sub else out


@dataclasses.dataclass
class Row:
    model: str
    status: str  # ok | n/a | failed | missing
    n_seeds: int = 0
    mean: dict[str, float] = dataclasses.field(default_factory=dict)
    std: dict[str, float] = dataclasses.field(default_factory=dict)
    fit_seconds: float | None = None
    seconds_per_epoch: float | None = None
    fit_cpu_seconds: float | None = None  # None when a record predates CPU timing
    contended: bool = False  # a fit's wall time exceeded its CPU time by > CONTENDED (it waited for cores)
    notes: list[str] = dataclasses.field(default_factory=list)
    records: list[str] = dataclasses.field(default_factory=list)
    p_value: float | None = None
    significant: bool = False


@dataclasses.dataclass
class Table:
    dataset: str
    split: str
    header: dict[str, Any]
    columns: list[str]
    rows: list[Row]
    primary: str


# A fit is "contended" when its wall time exceeds its CPU time by this factor: the process waited
# for cores (another job ran), so its wall time overstates the model's cost. Only 1-thread fits can
# show it (a multi-threaded fit uses more CPU than wall time), so the mark is conservative.
CONTENDED = 1.2


def has_spread(n_seeds: int, mean: float | None, std: float | None) -> bool:
    """Whether a mean over seeds has a spread to show: more than one seed, and a std above the float
    summation noise of a deterministic model (whose seeds all give the same value)."""
    return n_seeds > 1 and (std or 0.0) > 1e-9 * max(1.0, abs(mean or 0.0))


def spread(row: Row, c: str) -> str:
    """``" ± std"`` of a metric over seeds; empty when :func:`has_spread` says there is none."""
    if has_spread(row.n_seeds, row.mean.get(c), row.std.get(c)):
        return f" ± {row.std[c]:.4f}"
    return ""


#: Said once under every table that shows values without ``±``.
NO_SPREAD = "a value without ± has one seed, or the same value from every seed (a deterministic model)"
