"""Protocol sensitivity (issue 25, track 1): would the ranking of models change under another protocol?

``ssl4rec sensitivity SUITE.yaml --out DIR [--tuned]`` fits each cell once (validated under the first
protocol) and evaluates the fitted model under every protocol, each protocol's records into
``DIR/<protocol>/`` (finished records are reused; ``--separate-fits`` trains each protocol's cells apart,
validation included), then writes ``DIR/sensitivity.md`` / ``.csv``:
per (dataset, split) and protocol the models ranked by the primary metric (mean ± std over seeds),
Kendall's tau (with its p-value) between every pair of protocols' rankings, and every pair of models
whose order flips between two protocols, with the paired test over users on each side.

Protocols: ``full`` (every item a candidate), ``sampled-uniform`` and ``sampled-popularity`` (100
negatives each, the target among them; SAMPLED, not comparable in value with full ranking: Krichene
& Rendle, KDD 2020; their corrected estimate, ``corrected/<metric>`` in records evaluated with uniform
negatives, is shown beside the sampled value); ``--protocols`` picks some of them. The split is the suite's: the leave-one-out vs global-timeline comparison (Ji et al., TOIS 2023) is a
suite with both splits (registered names ``leave_one_out`` and ``temporal``): the report's last section
sets, per dataset and protocol, the ranking on each leave-one-out split against the ranking on each
temporal split (Kendall's tau and the flips, each flip with the paired test over users within each
split: the two test sets differ, so only the orders compare).
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
from pathlib import Path
from typing import Any

from ..registry import ConfigError
from .tables import pretty, spread

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_PROTOCOLS", "kendall_tau", "protocol_suites", "sensitivity_report"]

DEFAULT_PROTOCOLS: dict[str, dict[str, Any]] = {
    "full": {"candidates": "full"},
    "sampled-uniform": {"candidates": "sampled", "n_negatives": 100, "sampling": "uniform"},
    "sampled-popularity": {"candidates": "sampled", "n_negatives": 100, "sampling": "popularity"},
}


def kendall_tau(a: list[str], b: list[str]) -> tuple[float, float, int]:
    """Kendall's tau-b between two rankings (best first) over the models in both, its two-sided
    p-value, and how many models were compared (tau is NaN below two)."""
    from scipy import stats

    common = [m for m in a if m in b]
    if len(common) < 2:
        return float("nan"), float("nan"), len(common)
    ra = [a.index(m) for m in common]
    rb = [b.index(m) for m in common]
    res = stats.kendalltau(ra, rb)
    return float(res.statistic), float(res.pvalue), len(common)


def protocol_suites(suite: Any, protocols: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """``{protocol name: the suite evaluated under it}`` (the suite's other evaluation keys kept)."""
    import dataclasses

    from ..evaluation.evaluator import Protocol

    chosen = protocols or DEFAULT_PROTOCOLS
    out = {}
    base = suite.protocol.to_dict()
    for name, keys in chosen.items():
        merged = {k: v for k, v in base.items() if k in {f.name for f in dataclasses.fields(Protocol)}}
        merged.update(keys)
        try:
            proto = Protocol.from_dict(merged)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"protocol {name!r}: {exc}") from exc
        out[name] = dataclasses.replace(suite, protocol=proto)
    return out


def _split_names(root: Path) -> dict[tuple[str, str], str]:
    """``{(dataset, table split label): the split's registered name}`` of the records under ``root``."""
    from .leaderboard import table_split
    from .records import ResultsStore

    out: dict[tuple[str, str], str] = {}
    for r in ResultsStore(root).iter_records():
        out.setdefault((r.dataset_label, table_split(r).split(" [")[0]), str(r.split.get("name", "")))
    return out


def _rankings(root: Path, primary: str) -> dict[tuple[str, str], list[Any]]:
    from .leaderboard import build_tables
    from .records import ResultsStore

    out = {}
    for t in build_tables(ResultsStore(root), primary=primary):
        rows = sorted((r for r in t.rows if primary in r.mean), key=lambda r: -r.mean[primary])
        # a sampled protocol's table is labelled "split [sampled-...]": the split is what pairs them up
        out[(t.dataset, t.split.split(" [")[0])] = (rows, t.split)
    return out


def sensitivity_report(
    out: str | Path, protocols: list[str], primary: str = "ndcg@10", alpha: float = 0.05
) -> tuple[str, str, dict[str, str]]:
    """``(markdown, csv, figures)`` of the report over ``out/<protocol>/`` folders (see the module doc);
    ``figures``: ``{file name: SVG}``, one rank-vs-protocol chart per dataset and split."""
    from .svg import bump_chart

    out = Path(out)
    ranks = {p: _rankings(out / p, primary) for p in protocols if (out / p / "records").is_dir()}
    if len(ranks) < 2:
        raise ConfigError(f"{out}: records for at least two protocols are needed, found {sorted(ranks) or 'none'}")
    cells = sorted({c for r in ranks.values() for c in r})
    md = [
        f"# Protocol sensitivity — {pretty(primary)}",
        "",
        "Models ranked by the primary metric under each protocol (mean ± std over seeds); sampled protocols "
        "(100 negatives with the target) are SAMPLED: their values are not comparable with full ranking, "
        "only their orderings are (Krichene & Rendle, KDD 2020); beside a sampled value, 'corrected' is their "
        "bias-variance estimate of the full-ranking value from the sampled ranks (uniform negatives, one "
        "target per user). Kendall's tau-b between rankings; flips are "
        f"pairs whose order differs, with the paired Wilcoxon test over users (each user's value averaged over "
        f"seeds) under each protocol, significant at {alpha}. Unless run with --separate-fits, every protocol "
        "evaluates the same fitted models (records: extra.fit_shared_with), so only the test protocol differs. "
        "Generated from records; do not edit.",
        "",
    ]
    buf = io.StringIO()
    figures: dict[str, str] = {}
    w = csv.writer(buf)
    w.writerow(["dataset", "split", "kind", "protocol_a", "protocol_b", "model_a", "model_b", "value", "p_value", "n"])
    for ds, sp in cells:
        md += [f"## {ds} / {sp}", ""]
        present = [p for p in ranks if (ds, sp) in ranks[p]]
        md += ["| rank | " + " | ".join(present) + " |", "|---:|" + "---|" * len(present)]
        depth = max(len(ranks[p][(ds, sp)][0]) for p in present)
        for i in range(depth):
            cells_i = []
            for p in present:
                rows = ranks[p][(ds, sp)][0]
                if i < len(rows):
                    r = rows[i]
                    corrected = r.mean.get(f"corrected/{primary}")
                    fix = f"; corrected {corrected:.4f}" if corrected is not None else ""
                    cells_i.append(f"{r.model} {r.mean[primary]:.4f}{spread(r, primary)}{fix} (n={r.n_seeds})")
                    w.writerow([ds, sp, "rank", p, "", r.model, "", f"{r.mean[primary]:.6f}", "", r.n_seeds])
                    if corrected is not None:
                        w.writerow([ds, sp, "corrected", p, "", r.model, "", f"{corrected:.6f}", "", r.n_seeds])
                else:
                    cells_i.append("")
            md.append(f"| {i + 1} | " + " | ".join(cells_i) + " |")
        models = [r.model for r in ranks[present[0]][(ds, sp)][0]]
        models += [r.model for p in present[1:] for r in ranks[p][(ds, sp)][0] if r.model not in models]
        chart = {
            m: [next((i + 1 for i, r in enumerate(ranks[p][(ds, sp)][0]) if r.model == m), None) for p in present]
            for m in models
        }
        fig = f"sensitivity-{_slug(ds)}-{_slug(sp)}.svg"
        figures[fig] = bump_chart(chart, present, f"{ds} / {sp}: rank by {pretty(primary)} under each protocol")
        md += ["", f"![rank of each model under each protocol]({fig})"]
        md += ["", "| protocols | Kendall tau | p | models |", "|---|---:|---:|---:|"]
        flips = []
        for pa, pb in itertools.combinations(present, 2):
            la = [r.model for r in ranks[pa][(ds, sp)][0]]
            lb = [r.model for r in ranks[pb][(ds, sp)][0]]
            tau, p, n = kendall_tau(la, lb)
            md.append(f"| {pa} vs {pb} | {tau:.3f} | {p:.3g} | {n} |")
            w.writerow([ds, sp, "kendall_tau", pa, pb, "", "", f"{tau:.6f}", f"{p:.6g}", n])
            for x, y in itertools.combinations([m for m in la if m in lb], 2):
                if (la.index(x) < la.index(y)) != (lb.index(x) < lb.index(y)):
                    flips.append((pa, pb, x, y))
        md.append("")
        if not flips:
            md += ["No pair of models changes order between these protocols.", ""]
            continue
        md += [
            "| protocols | pair | order under A | Wilcoxon p under A | order under B | Wilcoxon p under B |",
            "|---|---|---|---:|---|---:|",
        ]
        for pa, pb, x, y in flips:
            cols = []
            for proto in (pa, pb):
                other = pb if proto == pa else pa
                lead = [ds, sp, "flip", proto, other]  # this side's test; protocol_b: the other side
                cols += _flip_side(w, out / proto, x, y, primary, alpha, ds, ranks[proto][(ds, sp)][1], lead)
            md.append(f"| {pa} vs {pb} | {x}, {y} | " + " | ".join(cols) + " |")
        md.append("")
    md += _timeline_section(w, out, ranks, primary, alpha)
    md.append(
        "\\* significant; a flip significant on both sides (under both protocols, or on both splits) is a real change of conclusion."
    )
    return "\n".join(md) + "\n", buf.getvalue(), figures


def _flip_side(
    w: Any, root: Path, x: str, y: str, primary: str, alpha: float, ds: str, table_split: str, lead: list[str]
) -> list[str]:
    """The two report cells of one side of a flip (order, paired-test p) and its CSV row."""
    from .leaderboard import compare_models
    from .records import ResultsStore

    (row,) = compare_models(ResultsStore(root), x, y, primary, ds, table_split) or [{}]
    pv = row.get("wilcoxon_p", float("nan"))
    w.writerow([*lead, x, y, f"{row.get('diff', float('nan')):.6f}", f"{pv:.6g}", row.get("n_users", "")])
    order = f"{x} > {y}" if row.get("diff", 0) > 0 else f"{y} > {x}"
    return [order, f"{pv:.3g}{' *' if pv < alpha else ''}"]


def _timeline_section(w: Any, out: Path, ranks: dict[str, Any], primary: str, alpha: float) -> list[str]:
    """Leave-one-out vs a global timeline (Ji et al., TOIS 2023): per dataset and protocol, the ranking on
    each ``leave_one_out`` split against each ``temporal`` split's, with Kendall's tau and the flips."""
    pairs = []  # (protocol, dataset, leave-one-out split, temporal split)
    for proto, cells in ranks.items():
        names = _split_names(out / proto)
        for ds in sorted({d for d, _ in cells}):
            loo = [sp for d, sp in sorted(cells) if d == ds and names.get((d, sp)) == "leave_one_out"]
            tem = [sp for d, sp in sorted(cells) if d == ds and names.get((d, sp)) == "temporal"]
            pairs += [(proto, ds, a, b) for a in loo for b in tem]
    if not pairs:
        return []
    md = [
        "## Leave-one-out vs a global timeline",
        "",
        "The same models ranked on a leave-one-out split (each user's last interaction is the test target) and "
        "on a global temporal split (the interactions after a cut in time are the test set: Ji et al., TOIS "
        "2023). The test sets differ, so only the orders compare; each flip's paired test is over the users of "
        "one split.",
        "",
        "| dataset | protocol | leave-one-out vs timeline | Kendall tau | p | models |",
        "|---|---|---|---:|---:|---:|",
    ]
    flips = []
    for proto, ds, a, b in pairs:
        la = [r.model for r in ranks[proto][(ds, a)][0]]
        lb = [r.model for r in ranks[proto][(ds, b)][0]]
        tau, p, n = kendall_tau(la, lb)
        md.append(f"| {ds} | {proto} | {a} vs {b} | {tau:.3f} | {p:.3g} | {n} |")
        w.writerow([ds, f"{a} vs {b}", "split_kendall_tau", proto, "", "", "", f"{tau:.6f}", f"{p:.6g}", n])
        for x, y in itertools.combinations([m for m in la if m in lb], 2):
            if (la.index(x) < la.index(y)) != (lb.index(x) < lb.index(y)):
                flips.append((proto, ds, a, b, x, y))
    md.append("")
    if not flips:
        return md + ["No pair of models changes order between the two splits.", ""]
    md += [
        "| dataset | protocol | pair | order on leave-one-out | Wilcoxon p | order on the timeline | Wilcoxon p |",
        "|---|---|---|---|---:|---|---:|",
    ]
    for proto, ds, a, b, x, y in flips:
        cols = []
        for sp in (a, b):
            lead = [ds, sp, "split_flip", proto, ""]
            cols += _flip_side(w, out / proto, x, y, primary, alpha, ds, ranks[proto][(ds, sp)][1], lead)
        md.append(f"| {ds} | {proto} | {x}, {y} | " + " | ".join(cols) + " |")
    return md + [""]


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")
