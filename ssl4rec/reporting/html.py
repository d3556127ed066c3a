"""Self-contained HTML leaderboard pages (tables + matplotlib plots embedded as data URIs)."""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from typing import Any

from .tables import CONTENDED, NO_SPREAD, Table, pretty, spread

logger = logging.getLogger(__name__)

__all__ = ["render_index"]

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
td:last-child{min-width:22em;text-align:left}
th{background:#f3f3f3} .best{font-weight:bold} .na{color:#888} .meta{color:#555;font-size:13px}
img{max-width:640px;border:1px solid #ddd;margin:0.5em 1em 0.5em 0}
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _style(i: int) -> dict[str, Any]:
    """Line style ``i``: ten colours, then the same colours with other markers and dashes."""
    return {"color": f"C{i % 10}", "marker": "osD^v"[(i // 10) % 5], "linestyle": ["-", "--", ":"][(i // 10) % 3]}


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


def _warm_reference(tables: list[Table]) -> Table | None:
    """The split cold-start results are compared with: one registered as ``warm_reference`` (``random``)
    if published, else the first split that is neither a cold-start split nor cut from another split
    (``seed_from``: a sparsity level)."""
    plain = [t for t in tables if t.header and not _cold_start(t) and not _split_meta(t, "seed_from")]
    return next((t for t in plain if _split_meta(t, "warm_reference")), plain[0] if plain else None)


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


def _cold_vs_warm(tables: list[Table], primary: str) -> tuple[list[str], list[str], dict[str, dict[str, float]]] | None:
    """Bars per model: the primary metric on each cold-start split and on the warm reference split."""
    cold = [t for t in tables if _cold_start(t)]
    if not cold:
        return None
    values: dict[str, dict[str, float]] = {}
    for t in cold:
        values[f"cold {_cold_start(t)} ({t.split})"] = {r.model: r.mean[primary] for r in t.rows if primary in r.mean}
    warm = _warm_reference(tables)
    if warm is not None:
        values[f"warm ({warm.split} split)"] = {r.model: r.mean[primary] for r in warm.rows if primary in r.mean}
    models: list[str] = []
    for t in cold:
        models += [r.model for r in t.rows if r.model not in models]
    return list(values), models, values


def _plots(tables: list[Table], primary: str) -> list[tuple[str, str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib not installed: HTML leaderboards without plots (pip install ssl4rec[plots])")
        return []
    out = []
    sparsity = _sparsity_curves(tables, primary)
    if sparsity:
        levels, curves = sparsity
        fig, ax = plt.subplots(figsize=(7.5, 4))
        for i, (m, ys) in enumerate(curves.items()):
            ax.plot(levels, ys, label=m, **_style(i))
        ax.set_xlabel("fraction of training interactions kept (p)")
        ax.set_ylabel(pretty(primary))
        ax.set_title(f"{pretty(primary)} vs sparsity")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        out.append((f"{pretty(primary)} vs sparsity level", _png(fig)))
        plt.close(fig)
    cold_warm = _cold_vs_warm(tables, primary)
    if cold_warm:
        groups, models, values = cold_warm
        fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(models)), 4))
        width = 0.8 / len(groups)
        missing_x = []
        for j, g in enumerate(groups):
            xs = [i - 0.4 + width * (j + 0.5) for i in range(len(models))]
            ax.bar(xs, [values[g].get(m, 0.0) for m in models], width=width, label=g)
            missing_x += [x for x, m in zip(xs, models, strict=True) if m not in values[g]]
        if missing_x:  # tell "no record" apart from a value of 0
            ax.plot(missing_x, [0.0] * len(missing_x), "x", color="0.5", label="no record")
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(pretty(primary))
        ax.set_title(f"{pretty(primary)}: cold-start splits vs a warm split")
        ax.legend(fontsize=8)
        out.append(("cold-start vs warm", _png(fig)))
        plt.close(fig)
    for t in tables:  # a split that tests cold and warm targets together: its two subsets
        cold, warm = f"cold/{primary}", f"warm/{primary}"
        rows = [r for r in t.rows if cold in r.mean and warm in r.mean]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], [r.mean[cold] for r in rows], width=0.4, label="cold items")
        ax.bar([i + 0.2 for i in x], [r.mean[warm] for r in rows], width=0.4, label="warm items")
        ax.set_xticks(list(x), [r.model for r in rows], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(pretty(primary))
        ax.set_title(f"{t.split}: cold vs warm test items")
        ax.legend()
        out.append((f"{t.split}: cold vs warm", _png(fig)))
        plt.close(fig)
    return out


def _table_html(t: Table) -> str:
    h = t.header
    meta = ""
    if h:
        meta = (
            f"<p class='meta'>Protocol: {html.escape(str(h.get('protocol')))}; split <code>{html.escape(str(h.get('split')))}</code> "
            f"{html.escape(str(h.get('split_params')))}; data checksum <code>{html.escape(str(h.get('checksum'))[:16])}</code>. "
            "† = significantly below the best (paired Wilcoxon, Holm, p &lt; 0.05); "
            f"‡ = a fit waited for cores (wall time &gt; {CONTENDED:g} × CPU time), so its time is inflated.</p>"
        )
    best = {}
    for c in t.columns:
        vals = [r.mean[c] for r in t.rows if c in r.mean]
        best[c] = max(vals) if vals and max(vals) > min(vals) else None
    head = "".join(
        f"<th>{html.escape(x)}</th>"
        for x in ["model", "seeds", *[pretty(c) for c in t.columns], "train s", "s/epoch", "notes"]
    )
    body = []
    for r in t.rows:
        if r.status != "ok":
            cells = "".join("<td class='na'>–</td>" for _ in t.columns)
            body.append(
                f"<tr><td>{html.escape(r.model)}</td><td>0</td>{cells}<td>–</td><td>–</td><td class='na'>{html.escape(r.status + ': ' + '; '.join(r.notes))}</td></tr>"
            )
            continue
        cells = []
        for c in t.columns:
            if c not in r.mean:
                cells.append("<td class='na'>–</td>")
                continue
            v = f"{r.mean[c]:.4f}" + spread(r, c)
            cls = " class='best'" if best[c] is not None and abs(r.mean[c] - best[c]) < 1e-12 else ""
            cells.append(f"<td{cls}>{v}</td>")
        spe = f"{r.seconds_per_epoch:.2f}" if r.seconds_per_epoch else "–"
        name = html.escape(r.model) + (" †" if r.significant else "")
        body.append(
            f"<tr><td>{name}</td><td>{r.n_seeds}</td>{''.join(cells)}<td>{r.fit_seconds:.1f}{' ‡' if r.contended else ''}</td><td>{spe}</td><td>{html.escape('; '.join(r.notes))}</td></tr>"
        )
    return f"<h2 id='{html.escape(t.split)}'>{html.escape(t.split)}</h2>{meta}<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_index(dataset: str, tables: list[Table], primary: str = "ndcg@10") -> str:
    """One self-contained page for ``dataset``: every split's table plus the plots."""
    plots = _plots(tables, primary)
    imgs = "".join(
        f"<figure><img alt='{html.escape(title)}' src='{src}'><figcaption>{html.escape(title)}</figcaption></figure>"
        for title, src in plots
    )
    toc = " · ".join(f"<a href='#{html.escape(t.split)}'>{html.escape(t.split)}</a>" for t in tables)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>ssl4rec — {html.escape(dataset)}</title><style>{CSS}</style></head><body>"
        f"<h1>ssl4rec leaderboards — {html.escape(dataset)}</h1><p class='meta'>Generated from result records by <code>ssl4rec publish</code>; "
        f"values are mean ± std over seeds ({NO_SPREAD}). Splits: {toc}</p>{imgs}{''.join(_table_html(t) for t in tables)}</body></html>"
    )
