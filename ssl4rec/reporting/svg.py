"""Small inline-SVG charts for the HTML leaderboards: no plotting library, no external file.

Each function returns one ``<svg>`` element as a string (text escaped), sized in CSS pixels and
scaling down with the page (``max-width: 100%``). Colours are the ten of matplotlib's ``tab10``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

__all__ = ["PALETTE", "bar_chart", "bump_chart", "grouped_bars", "line_chart"]

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
DASHES = ("", "6 3", "2 3")
FONT = "font-family='system-ui,sans-serif' font-size='12'"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _nice_max(v: float, steps: tuple[float, ...] = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)) -> float:
    """A round axis end at or above ``v``: one of ``steps`` times a power of ten."""
    if not v > 0 or not math.isfinite(v):
        return 1.0
    p = 10 ** math.floor(math.log10(v))
    return next(m * p for m in steps if m * p >= v - 1e-12)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values in ``[lo, hi]``: a step of 1, 2, 2.5 or 5 times a power of ten, about ``n`` steps."""
    if not hi > lo:
        return [lo]
    step = _nice_max((hi - lo) / n, (1, 2, 2.5, 5, 10))
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


CHAR_W = 6.8  # average width of a character of FONT in CSS pixels (labels are sized by it)


def _text_w(text: str) -> float:
    return CHAR_W * len(text)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def bar_chart(
    rows: Sequence[tuple[str, float, float | None, bool]],
    title: str,
    axis: str,
    width: int = 640,
) -> str:
    """Horizontal bars: ``rows`` of ``(label, value, error or None, highlighted)``, top to bottom.

    The error is drawn as a whisker of ± that much (omitted where None); the highlighted bars (the
    best) are drawn dark, the others light; each value is written at the end of its bar.
    """
    label_w = int(14 + max((_text_w(r[0]) for r in rows), default=28.0))
    width = max(width, label_w + 400)  # long labels widen the chart (it scales down with the page)
    bar_h, top, bottom = 20, 28, 34
    h = top + bar_h * len(rows) + bottom
    plot_w = width - label_w - 70
    vmax = _nice_max(max((v + (e or 0.0) for _, v, e, _ in rows if math.isfinite(v)), default=1.0))
    x = lambda v: label_w + plot_w * max(0.0, v) / vmax  # noqa: E731
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {h}' width='{width}' height='{h}' "
        f"role='img' aria-label='{_e(title)}' {FONT}>",
        f"<text x='{width / 2}' y='16' text-anchor='middle' font-weight='bold'>{_e(title)}</text>",
    ]
    for t in _ticks(0.0, vmax):
        xt = x(t)
        out.append(f"<line x1='{xt:.1f}' x2='{xt:.1f}' y1='{top - 4}' y2='{h - bottom}' stroke='#e5e5e5'/>")
        out.append(f"<text x='{xt:.1f}' y='{h - bottom + 14}' text-anchor='middle' fill='#555'>{_fmt(t)}</text>")
    out.append(f"<text x='{label_w + plot_w / 2}' y='{h - 4}' text-anchor='middle' fill='#333'>{_e(axis)}</text>")
    for i, (label, v, err, best) in enumerate(rows):
        y = top + i * bar_h
        out.append(f"<text x='{label_w - 6}' y='{y + 14}' text-anchor='end'>{_e(label)}</text>")
        if not math.isfinite(v):
            out.append(f"<text x='{label_w + 4}' y='{y + 14}' fill='#888'>no value</text>")
            continue
        colour = PALETTE[0] if best else "#9ecae1"
        out.append(
            f"<rect x='{label_w}' y='{y + 3}' width='{max(0.5, x(v) - label_w):.1f}' height='{bar_h - 6}' "
            f"fill='{colour}'><title>{_e(label)}: {v:.4f}{f' ± {err:.4f}' if err else ''}</title></rect>"
        )
        end = x(v)
        if err:
            lo, hi, yc = x(v - err), x(v + err), y + bar_h / 2
            out.append(f"<line x1='{lo:.1f}' x2='{hi:.1f}' y1='{yc}' y2='{yc}' stroke='#222'/>")
            out += [f"<line x1='{p:.1f}' x2='{p:.1f}' y1='{yc - 4}' y2='{yc + 4}' stroke='#222'/>" for p in (lo, hi)]
            end = hi
        out.append(f"<text x='{end + 4:.1f}' y='{y + 14}' fill='#333'>{v:.4f}</text>")
    out.append("</svg>")
    return "".join(out)


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    width: int = 640,
    height: int = 300,
) -> str:
    """Lines of ``(x, y)`` points per label (NaN y breaks a line), with a legend on the right."""
    pts = [(x, y) for s in series.values() for x, y in s if math.isfinite(y)]
    if not pts:
        return ""
    legend_w = int(30 + max(_text_w(k) for k in series))
    width = max(width, legend_w + 440)  # a long legend widens the chart instead of being cut
    left, right, top, bottom = 56, legend_w + 10, 26, 40
    pw, ph = width - left - right, height - top - bottom
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min([0.0, *(p[1] for p in pts)]), _nice_max(max(p[1] for p in pts))
    x1 = x1 if x1 > x0 else x0 + 1
    sx = lambda v: left + pw * (v - x0) / (x1 - x0)  # noqa: E731
    sy = lambda v: top + ph * (1 - (v - y0) / (y1 - y0 or 1.0))  # noqa: E731
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
        f"role='img' aria-label='{_e(title)}' {FONT}>",
        f"<text x='{left + pw / 2}' y='16' text-anchor='middle' font-weight='bold'>{_e(title)}</text>",
    ]
    for t in _ticks(y0, y1, 4):
        out.append(f"<line x1='{left}' x2='{left + pw}' y1='{sy(t):.1f}' y2='{sy(t):.1f}' stroke='#e5e5e5'/>")
        out.append(f"<text x='{left - 4}' y='{sy(t) + 4:.1f}' text-anchor='end' fill='#555'>{_fmt(t)}</text>")
    for t in _ticks(x0, x1, 5):
        out.append(f"<text x='{sx(t):.1f}' y='{top + ph + 14}' text-anchor='middle' fill='#555'>{_fmt(t)}</text>")
    out.append(f"<rect x='{left}' y='{top}' width='{pw}' height='{ph}' fill='none' stroke='#999'/>")
    out.append(f"<text x='{left + pw / 2}' y='{height - 6}' text-anchor='middle' fill='#333'>{_e(xlabel)}</text>")
    out.append(
        f"<text transform='translate(12 {top + ph / 2}) rotate(-90)' text-anchor='middle' fill='#333'>{_e(ylabel)}</text>"
    )
    for i, (label, s) in enumerate(series.items()):
        colour, dash = PALETTE[i % 10], DASHES[(i // 10) % 3]
        segs, cur = [], []
        for x, y in s:
            if math.isfinite(y):
                cur.append(f"{sx(x):.1f},{sy(y):.1f}")
            elif cur:
                segs.append(cur)
                cur = []
        segs += [cur] if cur else []
        style = f"stroke='{colour}' fill='none' stroke-width='1.6'" + (f" stroke-dasharray='{dash}'" if dash else "")
        for seg in segs:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                out.append(f"<circle cx='{cx}' cy='{cy}' r='2.5' fill='{colour}'/>")
            else:
                out.append(f"<polyline points='{' '.join(seg)}' {style}><title>{_e(label)}</title></polyline>")
        ly = top + 6 + 16 * i
        out.append(f"<line x1='{width - legend_w}' x2='{width - legend_w + 18}' y1='{ly}' y2='{ly}' {style}/>")
        out.append(f"<text x='{width - legend_w + 22}' y='{ly + 4}'>{_e(label)}</text>")
    out.append("</svg>")
    return "".join(out)


def grouped_bars(
    groups: list[str], models: list[str], values: dict[str, dict[str, float]], title: str, axis: str
) -> str:
    """Vertical bars per model, one bar per group (legend on top); a missing value is marked ×."""
    # labels are written at -30 degrees under their bars: the margins below and left grow with the longest
    lw = max((_text_w(m) for m in models), default=0.0)
    width, top, bottom = 640, 44, int(max(90.0, 30 + 0.5 * lw))
    height = 210 + bottom
    # the first label is anchored at left + slot / 2, slot = (width - left - 10) / n: solve for its start >= 4
    half = 1 / (2 * max(1, len(models)))
    left = int(math.ceil(max(56.0, (0.87 * lw + 4 - (width - 10) * half) / (1 - half))))
    pw, ph = width - left - 10, height - top - bottom
    vmax = _nice_max(max((v for g in values.values() for v in g.values() if math.isfinite(v)), default=1.0))
    sy = lambda v: top + ph * (1 - v / vmax)  # noqa: E731
    slot = pw / max(1, len(models))
    bw = 0.8 * slot / max(1, len(groups))
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
        f"role='img' aria-label='{_e(title)}' {FONT}>",
        f"<text x='{width / 2}' y='16' text-anchor='middle' font-weight='bold'>{_e(title)}</text>",
    ]
    for j, g in enumerate(groups):
        lx = left + 150 * j
        out.append(f"<rect x='{lx}' y='24' width='12' height='10' fill='{PALETTE[j % 10]}'/>")
        out.append(f"<text x='{lx + 16}' y='33'>{_e(g)}</text>")
    for t in _ticks(0.0, vmax, 4):
        out.append(f"<line x1='{left}' x2='{left + pw}' y1='{sy(t):.1f}' y2='{sy(t):.1f}' stroke='#e5e5e5'/>")
        out.append(f"<text x='{left - 4}' y='{sy(t) + 4:.1f}' text-anchor='end' fill='#555'>{_fmt(t)}</text>")
    out.append(
        f"<text transform='translate(12 {top + ph / 2}) rotate(-90)' text-anchor='middle' fill='#333'>{_e(axis)}</text>"
    )
    for i, m in enumerate(models):
        for j, g in enumerate(groups):
            bx = left + slot * i + 0.1 * slot + bw * j
            v = values.get(g, {}).get(m)
            if v is None or not math.isfinite(v):
                out.append(f"<text x='{bx + bw / 2:.1f}' y='{top + ph - 2}' text-anchor='middle' fill='#888'>×</text>")
                continue
            out.append(
                f"<rect x='{bx:.1f}' y='{sy(v):.1f}' width='{bw:.1f}' height='{top + ph - sy(v):.1f}' "
                f"fill='{PALETTE[j % 10]}'><title>{_e(m)}, {_e(g)}: {v:.4f}</title></rect>"
            )
        cx = left + slot * (i + 0.5)
        out.append(
            f"<text transform='translate({cx:.1f} {top + ph + 12}) rotate(-30)' text-anchor='end'>{_e(m)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def bump_chart(ranks: dict[str, list[int | None]], columns: list[str], title: str, width: int = 640) -> str:
    """Ranks of each label (1 = best, top) across categorical ``columns`` (e.g. protocols), one line per
    label, labelled at both ends; None leaves a gap. Lines that cross are order flips."""
    n = max((r for rs in ranks.values() for r in rs if r is not None), default=0)
    if n == 0 or len(columns) < 1:
        return ""
    name_w = min(220, 16 + 7 * max(len(k) for k in ranks))
    left, right, top, bottom = name_w + 34, name_w + 10, 40, 16
    height = top + bottom + 22 * n
    pw = width - left - right
    sx = lambda j: left + (pw * j / (len(columns) - 1) if len(columns) > 1 else pw / 2)  # noqa: E731
    sy = lambda r: top + 22 * (r - 0.5)  # noqa: E731
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
        f"role='img' aria-label='{_e(title)}' {FONT}>",
        f"<text x='{width / 2}' y='16' text-anchor='middle' font-weight='bold'>{_e(title)}</text>",
    ]
    for j, c in enumerate(columns):
        out.append(f"<text x='{sx(j):.1f}' y='{top - 8}' text-anchor='middle' fill='#333'>{_e(c)}</text>")
        out.append(f"<line x1='{sx(j):.1f}' x2='{sx(j):.1f}' y1='{top}' y2='{height - bottom}' stroke='#e5e5e5'/>")
    for i, (label, rs) in enumerate(ranks.items()):
        colour = PALETTE[i % 10]
        dash = DASHES[(i // 10) % 3]
        style = f"stroke='{colour}' fill='none' stroke-width='2'" + (f" stroke-dasharray='{dash}'" if dash else "")
        pts = [(sx(j), sy(r)) for j, r in enumerate(rs) if r is not None]
        if len(pts) > 1:
            joined = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f"<polyline points='{joined}' {style}><title>{_e(label)}</title></polyline>")
        for j, r in enumerate(rs):
            if r is not None:
                out.append(
                    f"<circle cx='{sx(j):.1f}' cy='{sy(r):.1f}' r='3.5' fill='{colour}'><title>{_e(label)}: {r}</title></circle>"
                )
        first = next(((j, r) for j, r in enumerate(rs) if r is not None), None)
        last = next(((j, r) for j, r in reversed(list(enumerate(rs))) if r is not None), None)
        if first is not None:
            out.append(
                f"<text x='{sx(first[0]) - 8:.1f}' y='{sy(first[1]) + 4:.1f}' text-anchor='end' fill='{colour}'>"
                f"{first[1]}. {_e(label)}</text>"
            )
        if last is not None and len(columns) > 1:
            out.append(
                f"<text x='{sx(last[0]) + 8:.1f}' y='{sy(last[1]) + 4:.1f}' fill='{colour}'>{last[1]}. {_e(label)}</text>"
            )
    out.append("</svg>")
    return "".join(out)
