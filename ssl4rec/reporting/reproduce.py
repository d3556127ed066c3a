"""Reproduction reports: our numbers (from records) beside a paper's published ones.

A suite with a ``published`` block (source, dataset, split, values per model label) gets a
report ``<name>.md`` + ``<name>.csv`` (columns ``model, metric, ours_mean, ours_std, n_seeds,
published, rel_diff``) generated from the records in a results folder.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..running.plan import Suite
from .leaderboard import _check_mergeable
from .records import ResultsStore, RunRecord, atomic_write_bytes
from .tables import has_spread, pretty

logger = logging.getLogger(__name__)

__all__ = ["reproduction_rows", "write_reproduction"]


def reproduction_rows(
    suite: Suite, results: str | Path, tolerance: float = 0.10
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows ``{model, metric, ours_mean, ours_std, n_seeds, published, rel_diff, within}`` and timing per model.

    Models are the labels of ``published.values``, then the labelled variants of
    ``published.variants`` (variant label -> published row it is compared with).
    """
    pub = suite.published
    ds = pub.get("dataset") or suite.datasets[0].label
    sp = pub.get("split") or suite.splits[0].label
    recs: dict[str, list[RunRecord]] = {}
    for r in ResultsStore(results).iter_records():
        if r.ok and r.dataset_label == ds and r.split_label == sp:
            recs.setdefault(r.model_label, []).append(r)
    rows, timing = [], {}
    values_of = dict(pub.get("values") or {})
    for variant, base in (pub.get("variants") or {}).items():
        values_of[variant] = values_of[base]  # a labelled variant is held against its base model's published row
    for model, values in values_of.items():
        ok = recs.get(model, [])
        if ok:
            _check_mergeable(ok, f"{ds}/{sp}/{model}")
            spe = [r.fit_info.get("seconds_per_epoch") for r in ok]
            timing[model] = {
                "seeds": len(ok),
                "seconds_per_epoch": float(np.mean([s for s in spe if s])) if any(spe) else None,
                "fit_seconds": float(np.mean([r.fit_seconds_total or 0.0 for r in ok])),
                "resumed": sum(r.resumed for r in ok),
                "epochs": float(np.mean([r.fit_info.get("epochs_run", 0) for r in ok])),
                "records": [r.path for r in ok],
            }
        for metric, published in values.items():
            vals = [r.metrics[metric] for r in ok if r.metrics.get(metric) is not None]
            row = {"model": model, "metric": metric, "n_seeds": len(vals), "published": float(published)}
            if vals:
                mean = float(np.mean(vals))
                row.update(
                    ours_mean=mean,
                    ours_std=float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                    rel_diff=(mean - published) / published if published else None,
                )
                row["within"] = row["rel_diff"] is not None and abs(row["rel_diff"]) <= tolerance
            else:
                row.update(ours_mean=None, ours_std=None, rel_diff=None, within=False)
            rows.append(row)
    return rows, timing


def _ordering_lines(suite: Suite, results: str | Path, rows: list[dict[str, Any]]) -> list[str]:
    """The "Orderings" section: does each published ``[worse, better]`` pair keep its order in ours?"""
    from .leaderboard import compare_models

    pub = suite.published
    means = {(r["model"], r["metric"]): r for r in rows}
    store = ResultsStore(results)
    out = [
        "",
        "## Orderings",
        "",
        "Published orderings checked on our means (a labelled variant stands in for its base model in its own rows);"
        " p = two-sided Wilcoxon signed-rank test over users (each user's value averaged over seeds).",
        "",
        "| worse < better | metric | published | ours | holds | Wilcoxon p |",
        "|---|---|---|---|---|---|",
    ]
    variants = pub.get("variants") or {}
    pairs = []
    for worse, better in pub["orderings"]:
        pairs.append((worse, better))
        pairs += [(worse, v) for v, base in variants.items() if base == better]
        pairs += [(v, better) for v, base in variants.items() if base == worse]
    for worse, better in pairs:
        for metric in (pub.get("values") or {}).get(variants.get(better, better), {}):
            w, b = means.get((worse, metric)), means.get((better, metric))
            if not w or not b:
                continue
            published = f"{w['published']:.4f} < {b['published']:.4f}"
            if w["ours_mean"] is None or b["ours_mean"] is None:
                out.append(f"| {worse} < {better} | {pretty(metric)} | {published} | missing | – | – |")
                continue
            # a sampled protocol's table is "split [sampled-...]": match the published split by its base name
            cmp = [
                c
                for c in compare_models(store, better, worse, metric, pub.get("dataset"))
                if pub.get("split") is None or c["split"].split(" [")[0] == pub["split"]
            ]
            p = f"{cmp[0]['wilcoxon_p']:.3g}" if cmp and cmp[0].get("n_users") else "–"
            holds = "yes" if w["ours_mean"] < b["ours_mean"] else "no"
            out.append(
                f"| {worse} < {better} | {pretty(metric)} | {published} | {w['ours_mean']:.4f} vs {b['ours_mean']:.4f} | {holds} | {p} |"
            )
    return out


def write_reproduction(
    suite: Suite, results: str | Path, out: str | Path, notes: str = "", tolerance: float = 0.10
) -> list[Path]:
    """Write ``out.md`` and ``out.csv`` for ``suite`` from the records in ``results``."""
    rows, timing = reproduction_rows(suite, results, tolerance)
    out = Path(out)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "metric", "ours_mean", "ours_std", "n_seeds", "published", "rel_diff"])
    for r in rows:
        fmt = lambda v: "" if v is None else f"{v:.6f}"  # noqa: E731
        w.writerow(
            [
                r["model"],
                r["metric"],
                fmt(r["ours_mean"]),
                fmt(r["ours_std"]),
                r["n_seeds"],
                f"{r['published']:.4f}",
                fmt(r["rel_diff"]),
            ]
        )
    pub = suite.published
    lines = [
        f"# Reproduction: {suite.name}",
        "",
        f"- **Published numbers:** {pub.get('source', '?')}",
        f"- **Suite:** `{suite.path}`; dataset `{pub.get('dataset') or suite.datasets[0].label}`, split `{pub.get('split') or suite.splits[0].label}`; protocol: {suite.protocol.label()}.",
        f"- **Ours:** mean ± std over seeds (no ± with one seed), from result records (generated by `ssl4rec report`; do not edit). ✓ = within ±{tolerance:.0%} relative, ✗ = outside it, · = no record yet (not run).",
        "",
        "| model | metric | ours | published | rel. diff | |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        spread = f" ± {r['ours_std']:.4f}" if has_spread(r["n_seeds"], r["ours_mean"], r["ours_std"]) else ""
        ours = "missing" if r["ours_mean"] is None else f"{r['ours_mean']:.4f}{spread} (n={r['n_seeds']})"
        rel = "–" if r["rel_diff"] is None else f"{r['rel_diff']:+.1%}"
        mark = "·" if r["ours_mean"] is None else "✓" if r["within"] else "✗"  # a missing row is not a miss
        lines.append(f"| {r['model']} | {pretty(r['metric'])} | {ours} | {r['published']:.4f} | {rel} | {mark} |")
    lines += [
        "",
        "## Training time on this machine",
        "",
        "| model | seeds | epochs (mean) | s/epoch | fit s (mean) |",
        "|---|---|---|---|---|",
    ]
    for model, t in timing.items():
        spe = f"{t['seconds_per_epoch']:.2f}" if t["seconds_per_epoch"] else "–"
        resumed = f" ({t['resumed']} resumed)" if t.get("resumed") else ""
        lines.append(f"| {model} | {t['seeds']} | {t['epochs']:.0f} | {spe} | {t['fit_seconds']:.1f}{resumed} |")
    if any(t.get("resumed") for t in timing.values()):
        lines += [
            "",
            "*resumed*: fits that continued from a checkpoint in a later process; their fit seconds add the "
            "earlier processes' training time (for records that predate per-process times, the seconds of "
            "their epochs, without their validation passes).",
        ]
    if pub.get("orderings"):
        lines += _ordering_lines(suite, results, rows)
    if pub.get("notes") or notes:
        lines += ["", "## Notes", "", str(pub.get("notes") or ""), notes]
    lines += ["", "Records: " + ", ".join(f"`{p}`" for t in timing.values() for p in t["records"]), ""]
    md, cs = out.with_suffix(".md"), out.with_suffix(".csv")
    atomic_write_bytes(md, "\n".join(lines).encode())
    atomic_write_bytes(cs, buf.getvalue().encode())
    return [md, cs]
