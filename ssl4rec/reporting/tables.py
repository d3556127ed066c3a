"""The leaderboard's table model (a table per dataset x split, a row per model) and its display helpers."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

__all__ = ["CONTENDED", "NO_SPREAD", "Row", "Table", "has_spread", "header_notes", "pretty", "spread"]


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
    comparisons: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Paired tests of the suite's ``comparisons`` on this table (see ``leaderboard._table_comparisons``)."""


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


def header_notes(t: Table) -> list[tuple[str, str]]:
    """The notes above a table as ``(label, text)`` (text with Markdown backticks), shared by the
    Markdown and the HTML pages; empty without a header."""
    h = t.header
    if not h:
        return []
    c = h.get("counts") or {}
    sc = h.get("split_counts") or {}
    return [
        ("Protocol", f"{h['protocol']}; metrics averaged over users with ≥ 1 test item; ties broken by item id."),
        (
            "Data",
            f"`{t.dataset}` — {c.get('users')} users, {c.get('items')} items, {c.get('interactions')} interactions; checksum `{str(h['checksum'])[:16]}`.",
        ),
        (
            "Split",
            f"`{h['split']}` {json.dumps(h['split_params'], sort_keys=True)} — train {sc.get('train')}, valid {sc.get('valid')}, test {sc.get('test')} "
            f"({sc.get('test_users')} test users; cold users {sc.get('cold_users')}, cold items {sc.get('cold_items')}).",
        ),
        (
            "Significance",
            f"† = below the best {pretty(t.primary)} by a paired Wilcoxon signed-rank test over users, each user's value averaged over seeds (Holm-corrected, p < 0.05).",
        ),
        (
            "Values",
            f"mean ± std over seeds (n = seeds column; {NO_SPREAD}). Generated from result records by `ssl4rec leaderboard`; do not edit.",
        ),
        (
            "Time",
            f"fit s and s/epoch are wall clock on the machine that ran the record; ‡ = some fit's wall time exceeded its CPU time by > {CONTENDED - 1:.0%} "
            "(it shared the cores with other work, so its time is inflated; CPU seconds are in the CSV).",
        ),
    ]


#: Header of the comparisons table on leaderboard pages (markdown and HTML).
COMPARISON_HEAD = ["A", "B", "seeds", "users", "A mean", "B mean", "A - B", "Wilcoxon p", "Holm p", "verdict"]


def comparison_cells(c: dict[str, Any], alpha: float = 0.05) -> list[str]:
    """One row of :data:`COMPARISON_HEAD` for a :func:`_table_comparisons` entry."""
    if not c["n_users"]:
        return [c["a"], c["b"], "0", "0", "", "", "", "", "", c["reason"]]
    if c.get("identical"):
        verdict = "equal on every user"
    elif c["holm_p"] < alpha:
        verdict = "A > B" if c["diff"] > 0 else "A < B"
    else:
        verdict = f"no difference at {alpha}"
    return [
        c["a"],
        c["b"],
        str(c["n_seeds"]),
        str(c["n_users"]),
        f"{c['mean_a']:.4f}",
        f"{c['mean_b']:.4f}",
        f"{c['diff']:+.4f}",
        f"{c['wilcoxon_p']:.3g}",
        f"{c['holm_p']:.3g}",
        verdict,
    ]


def comparisons_caption(metric: str, alpha: float = 0.05) -> str:
    return (
        f"Paired comparisons named by the suite (`comparisons`), on {pretty(metric)}: unit = user (each user's "
        "value averaged over the seeds both models have), two-sided Wilcoxon signed-rank test, Holm-corrected "
        f"over this table's comparisons; the verdict holds at {alpha} whichever way it comes out."
    )
