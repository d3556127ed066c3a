"""Compare the records of two results folders cell by cell: a re-run against the records it replaces.

``ssl4rec diff OLD NEW`` pairs records by their path (same dataset, split, model label, seed and cell
configuration hash), and reports for each pair the commits that produced them, the primary metric on
both sides, the largest absolute difference over every metric, and whether the metrics are bit for
bit equal. Used to replace records made from an uncommitted tree (``+dirty``) by a clean re-run
(``publish NEW --to ... --supersede``) only after seeing what changed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..registry import ConfigError

__all__ = ["diff_records"]


def _gap(x: float | None, y: float | None) -> float:
    """|x - y|; a metric without a value (None: e.g. a user group with no member, or NaN) on both sides
    agrees (0), on one side only it differs by infinity."""
    x_none, y_none = x is None or math.isnan(x), y is None or math.isnan(y)
    if x_none or y_none:
        return 0.0 if x_none and y_none else math.inf
    return abs(x - y)


def diff_records(
    old: str | Path, new: str | Path, metric: str = "ndcg@10", tol: float = 1e-6
) -> tuple[str, list[dict[str, Any]]]:
    """``(markdown, rows)``: one row per cell found in both folders, and the cells found in one only."""
    from .records import ResultsStore

    a = {r.path: r for r in ResultsStore(old).iter_records()}
    b = {r.path: r for r in ResultsStore(new).iter_records()}
    if not a or not b:
        raise ConfigError(f"diff: {old if not a else new} holds no records")
    rows = []
    for path in sorted(set(a) & set(b)):
        ra, rb = a[path], b[path]
        keys = sorted(set(ra.metrics) & set(rb.metrics))
        diffs = [_gap(ra.metrics[k], rb.metrics[k]) for k in keys]
        rows.append(
            {
                "cell": ra.cell_id,
                "old_commit": (ra.git_commit or "?")[:12] + ("+dirty" if "dirty" in (ra.git_commit or "") else ""),
                "new_commit": (rb.git_commit or "?")[:12] + ("+dirty" if "dirty" in (rb.git_commit or "") else ""),
                "old": ra.metrics.get(metric, float("nan")),
                "new": rb.metrics.get(metric, float("nan")),
                "max_abs_diff": max(diffs) if diffs else float("nan"),
                "identical": set(ra.metrics) == set(rb.metrics) and not any(diffs),
                "same_keys": set(ra.metrics) == set(rb.metrics),
            }
        )
    only_old, only_new = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    n = len(rows)
    same = sum(r["identical"] for r in rows)
    close = sum((not r["identical"]) and r["max_abs_diff"] <= tol for r in rows)
    worst = max((r["max_abs_diff"] for r in rows if not math.isnan(r["max_abs_diff"])), default=float("nan"))
    md = [
        f"# Records of `{new}` against `{old}`",
        "",
        f"{n} cells in both: {same} with bit-identical metrics, {close} within {tol:g}, "
        f"{n - same - close} differing (largest absolute difference over all metrics: {worst:.6g}); "
        f"{len(only_old)} only in the old folder, {len(only_new)} only in the new one.",
        "",
        f"| cell | old commit | new commit | {metric} old | {metric} new | max abs diff | identical |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['cell']} | {r['old_commit']} | {r['new_commit']} | {r['old']:.4f} | {r['new']:.4f} | "
            f"{r['max_abs_diff']:.3g} | {'yes' if r['identical'] else 'no'} |"
        )
    for name, paths in (("old", only_old), ("new", only_new)):
        if paths:
            md += ["", f"Only in the {name} folder: " + ", ".join(f"`{p}`" for p in paths[:20])
                   + (f" and {len(paths) - 20} more" if len(paths) > 20 else "")]  # fmt: skip
    return "\n".join(md) + "\n", rows
