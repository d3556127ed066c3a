"""Self-contained HTML leaderboard pages: a Jinja2 template, inline-SVG charts, no external file.

Per split: a bar chart of the primary metric (error bars = std over seeds where there is a spread,
† marks), the learning curves stored in the records (validation metric per evaluated epoch, mean
over seeds), cold vs warm test targets of the same test set where the split reports them, and the
table (sticky header and first column, scrolling inside its box). Per dataset: the sparsity
curve when the suite has sparsity levels, and a provenance footer (commits, package versions,
data checksums, links to the record files).
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from .svg import bar_chart, grouped_bars, line_chart
from .tables import (
    COMPARISON_HEAD,
    NO_SPREAD,
    Row,
    Table,
    comparison_cells,
    comparisons_caption,
    has_spread,
    header_notes,
    pretty,
    spread,
)

logger = logging.getLogger(__name__)

__all__ = ["render_index"]


def _split_meta(t: Table, key: str) -> Any:
    """Registry metadata ``key`` of the split behind ``t`` (None for a plugin split not installed here)."""
    from ..registry import SPLITS

    name = (t.header or {}).get("split")
    try:
        return SPLITS.entry(name).meta.get(key) if name else None
    except KeyError:
        return None


def _cold_start(t: Table) -> str | None:
    """``users`` / ``items`` for a cold-start split (registry metadata ``cold_start``), else None."""
    return _split_meta(t, "cold_start")


def _level_groups(tables: list[Table]) -> dict[tuple[str, str, str], list[Table]]:
    """Tables of splits cut from another (registry ``seed_from``) by their ``level_param``, grouped by
    (split name, label without the level suffix, parameter): one curve chart per group (sparsity
    levels, attack sizes of one attack)."""
    groups: dict[tuple[str, str, str], list[Table]] = {}
    for t in tables:
        param = _split_meta(t, "level_param")
        if not (_split_meta(t, "seed_from") and param in ((t.header or {}).get("split_params") or {})):
            continue
        base = t.split.rsplit(f"-{param}", 1)[0]
        groups.setdefault((str(t.header.get("split")), base, str(param)), []).append(t)
    return groups


def _sparsity_curves(tables: list[Table], primary: str) -> tuple[list[float], dict[str, list[float]]] | None:
    """Sparsity levels (ascending; splits cut from another, registry ``seed_from``, by the parameter
    their entry names as ``level_param``, p) and each model's ``primary`` at every level, NaN where it has no record: the plotted line breaks there instead of joining the levels around a missing one.
    None with fewer than two levels."""
    levels = [
        (t, _split_meta(t, "level_param"))
        for t in tables
        if _split_meta(t, "seed_from") and _split_meta(t, "level_param") in (t.header.get("split_params") or {})
    ]
    sparsity = sorted(((float(t.header["split_params"][param]), t) for t, param in levels), key=lambda x: x[0])
    if len(sparsity) < 2:
        return None
    models = sorted({r.model for _, t in sparsity for r in t.rows if primary in r.mean})
    curves = {}
    for m in models:
        rows = [next((r for r in t.rows if r.model == m and primary in r.mean), None) for _, t in sparsity]
        curves[m] = [r.mean[primary] if r else math.nan for r in rows]
    return [p for p, _ in sparsity], curves


def _markup(text: str) -> Any:
    """Escaped text with Markdown `code` spans as <code>."""
    from markupsafe import Markup

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text)))


def _read(root: Path | None, rel: str) -> dict[str, Any] | None:
    if root is None or not rel:
        return None
    try:
        return json.loads((root / rel).read_text())
    except (OSError, ValueError):
        return None


def _learning_curves(t: Table, records: dict[str, dict[str, Any]]) -> tuple[str, dict[str, list[tuple[float, float]]]]:
    """(validation metric, {model: [(epoch, mean over seeds)]}) from the records' ``fit_info.valid``;
    an epoch counts where every seed evaluated it (seeds that stopped early end the line)."""
    metric, curves = "", {}
    for r in t.rows:
        per_seed = []
        for rel in r.records:
            rec = records.get(rel) or {}
            fit_info = rec.get("fit_info") or {}
            valid = fit_info.get("valid") or []
            if valid:
                shift = 1 - int(fit_info.get("epochs_from", 0))  # older records counted epochs from 0
                per_seed.append({int(e) + shift: float(v) for e, v in valid})
                metric = metric or (rec.get("protocol") or {}).get("valid_metric", "")
        if not per_seed:
            continue
        common = sorted(set.intersection(*(set(d) for d in per_seed)))
        if len(common) >= 2:
            curves[r.model] = [(e, sum(d[e] for d in per_seed) / len(per_seed)) for e in common]
    return metric, curves


def _charts(t: Table, records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    from markupsafe import Markup

    p = t.primary
    ok = sorted((r for r in t.rows if p in r.mean), key=lambda r: -r.mean[p])
    out = []
    if ok:
        best = ok[0].mean[p]
        bars = [
            (
                r.model + (" †" if r.significant else ""),
                r.mean[p],
                r.std.get(p) if has_spread(r.n_seeds, r.mean[p], r.std.get(p)) else None,
                abs(r.mean[p] - best) < 1e-12,
            )
            for r in ok
        ]
        cold = _cold_start(t)
        what = (
            f"test users are cold users (only their first interactions are seen); not comparable with a warm split's {pretty(p)}"
            if cold == "users"
            else f"test targets include items never seen in training; {pretty(p)} is over all of them"
            if cold == "items"
            else "all test users of the split"
        )
        caption = (
            f"{pretty(p)} on {t.split}: mean over seeds, whiskers ± std where seeds differ, † below the best; {what}."
        )
        out.append({"svg": Markup(bar_chart(bars, f"{t.split}: {pretty(p)}", pretty(p))), "caption": caption})
    metric, curves = _learning_curves(t, records)
    if curves:
        svg = line_chart(curves, f"{t.split}: validation {pretty(metric)} per epoch", "epoch", pretty(metric))
        caption = (
            f"Learning curves: validation {pretty(metric)} at each evaluated epoch (mean over the seeds that reached it), "
            "from the records; models without epochs (closed-form, counting) have none."
        )
        out.append({"svg": Markup(svg), "caption": caption})
    cold_m, warm_m = f"cold/{p}", f"warm/{p}"
    both = [r for r in t.rows if cold_m in r.mean and warm_m in r.mean]
    if both:
        groups = ["cold items", "warm items"]
        values = {
            "cold items": {r.model: r.mean[cold_m] for r in both},
            "warm items": {r.model: r.mean[warm_m] for r in both},
        }
        svg = grouped_bars(
            groups, [r.model for r in both], values, f"{t.split}: {pretty(p)}, cold vs warm targets", pretty(p)
        )
        caption = (
            f"Like with like: the same test users of {t.split}, their test targets split into items never seen in training "
            "(cold) and items seen in training (warm); each user's metric over one subset of their targets."
        )
        out.append({"svg": Markup(svg), "caption": caption})
    return out


def _cells(t: Table, r: Row, best: dict[str, float | None]) -> list[dict[str, str]]:
    if r.status != "ok":
        note = "; ".join(r.notes)
        label = {"n/a": f"n/a: {note}", "failed": f"failed: {note}", "missing": "missing (no record)"}.get(
            r.status, note
        )
        return [
            {"text": r.model, "cls": ""},
            {"text": "0", "cls": "num"},
            *({"text": "–", "cls": "num na"} for _ in t.columns),
            {"text": "–", "cls": "num na"},
            {"text": "–", "cls": "num na"},
            {"text": label, "cls": "notes na"},
        ]
    cells = [{"text": r.model + (" †" if r.significant else ""), "cls": ""}, {"text": str(r.n_seeds), "cls": "num"}]
    for c in t.columns:
        if c not in r.mean:
            cells.append({"text": "–", "cls": "num na"})
            continue
        top = best[c] is not None and abs(r.mean[c] - best[c]) < 1e-12
        cells.append({"text": f"{r.mean[c]:.4f}{spread(r, c)}", "cls": "num best" if top else "num"})
    cells.append({"text": f"{r.fit_seconds or 0:.1f}" + (" ‡" if r.contended else ""), "cls": "num"})
    cells.append({"text": f"{r.seconds_per_epoch:.2f}" if r.seconds_per_epoch else "–", "cls": "num"})
    cells.append({"text": "; ".join(r.notes), "cls": "notes"})
    return cells


def _short_commit(commit: Any) -> str:
    """The first 12 hex digits of a record's commit, keeping a ``+dirty`` mark."""
    c = str(commit or "unknown")
    head, plus, rest = c.partition("+")
    return head[:12] + plus + rest


def _anchor(split: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", split) or "split"


def render_index(
    dataset: str,
    tables: list[Table],
    primary: str = "ndcg@10",
    root: str | Path | None = None,
    page_dir: str | Path | None = None,
) -> str:
    """One self-contained page for ``dataset``: per split its charts and table, the sparsity curve,
    and the provenance footer. ``root``: the results folder the tables' records are read from
    (learning curves, provenance); ``page_dir``: where the page is written (record links are
    relative to it)."""
    import jinja2

    from .. import __version__

    root = Path(root) if root is not None else None
    records: dict[str, dict[str, Any]] = {}
    for t in tables:
        for r in t.rows:
            for rel in r.records:
                rec = _read(root, rel)
                if rec is not None:
                    records[rel] = rec
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ssl4rec.reporting", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("leaderboard.html").render(
        dataset=dataset,
        version=__version__,
        primary=pretty(primary),
        no_spread=NO_SPREAD,
        sections=[_section(t, records, root, page_dir) for t in tables],
        level_charts=_level_charts(tables, primary),
        provenance=_provenance(tables, list(records.values())),
    )


def _section(
    t: Table, records: dict[str, dict[str, Any]], root: Path | None, page_dir: str | Path | None
) -> dict[str, Any]:
    """One split's part of the page: notes, charts, the table (best values marked), record links, comparisons."""
    best: dict[str, float | None] = {}
    for c in t.columns:
        vals = [r.mean[c] for r in t.rows if c in r.mean]
        best[c] = max(vals) if vals and max(vals) > min(vals) else None
    links = []
    for r in t.rows:
        for rel in r.records:
            if rel and root is not None:
                target = root / rel
                href = os.path.relpath(target, page_dir) if page_dir is not None else str(target)
                rec = records.get(rel) or {}
                links.append((f"{r.model} seed {rec.get('seed', '?')} ({rel})", Path(href).as_posix()))
    return {
        "split": t.split,
        "anchor": _anchor(t.split),
        "notes": [(label, _markup(text)) for label, text in header_notes(t)],
        "charts": _charts(t, records),
        "head": ["model", "seeds", *[pretty(c) for c in t.columns], "fit s", "s/epoch", "notes"],
        "rows": [_cells(t, r, best) for r in t.rows],
        "links": links,
        "comparisons": (
            {
                "caption": _markup(comparisons_caption(t.comparisons[0]["metric"])),
                "head": COMPARISON_HEAD,
                "rows": [comparison_cells(c) for c in t.comparisons],
            }
            if t.comparisons
            else None
        ),
    }


def _level_charts(tables: list[Table], primary: str) -> list[dict[str, Any]]:
    """The primary metric against the level of each group of splits cut from one base split (sparsity)."""
    from markupsafe import Markup

    charts = []
    for (name, base, param), group in _level_groups(tables).items():
        curves = _sparsity_curves(group, primary)
        if not curves:
            continue
        levels, by_model = curves
        meta = _split_meta(group[0], "level_label") or param
        svg = line_chart(
            {m: list(zip(levels, ys, strict=True)) for m, ys in by_model.items()},
            f"{pretty(primary)} vs {param} ({base})",
            str(meta),
            pretty(primary),
        )
        charts.append(
            {
                "anchor": _anchor(f"levels-{base}"),
                "title": f"{base}: {pretty(primary)} vs {param}",
                "svg": Markup(svg),
                "caption": f"Like with like: every level of {base} ({name}) keeps the base split's valid and test sets "
                "and changes only the training part; a line breaks where a model has no record at a level.",
            }
        )
    return charts


def _provenance(tables: list[Table], recs: list[dict[str, Any]]) -> dict[str, Any]:
    """The page's footer: commits and package versions of its records, data checksums, when generated."""
    versions: dict[str, set[str]] = {}
    for rec in recs:
        for k, v in (rec.get("versions") or {}).items():
            if isinstance(v, str | int | float):
                versions.setdefault(k, set()).add(str(v))
    return {
        "commits": Counter(_short_commit(rec.get("git_commit")) for rec in recs).most_common(),
        "versions": [(k, ", ".join(sorted(v))) for k, v in sorted(versions.items())],
        "checksums": [(t.split, str((t.header or {}).get("checksum", "–"))[:16]) for t in tables],
        "generated": f"from {len(recs)} records, the newest of {max((str(r.get('time', '')) for r in recs), default='–')}",
    }
