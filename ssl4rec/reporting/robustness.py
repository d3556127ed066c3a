"""The robustness report (issue 25, track 2): target hit rate and genuine users' accuracy vs attack size.

``ssl4rec robustness RESULTS_DIR [--k 10] [--to DIR]`` reads the records of ``attacked`` splits and
writes ``robustness.md`` / ``robustness.csv`` / ``robustness.svg``: per dataset, attack (and defense)
and model, at every attack size, the mean over seeds of ``attack/target_hr@K`` (genuine test users whose
top K holds a target) and of NDCG@K over genuine users, with the change from size 0 (the clean split
with the same targets), and for defended splits the detector's AUC, precision and recall. Generated from
records only.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..registry import ConfigError
from .records import ResultsStore

__all__ = ["robustness_report"]


def _group(r: Any) -> tuple[str, str, str]:
    params = r.split.get("params") or {}
    defense = (params.get("defense") or {}).get("detector") if isinstance(params.get("defense"), dict) else None
    return r.dataset_label, str(params.get("attack")), defense or "none"


#: A model whose clean NDCG@k is below this share of the best model's is flagged as not having learned.
UNLEARNED_SHARE = 0.1


def _unlearned(models: dict[str, dict[float, list[Any]]], k: int) -> dict[str, tuple[float, float, str]]:
    """``{model: (its clean NDCG@k, the best clean NDCG@k, that model)}`` for the models of a clean sweep
    (size 0) whose accuracy is below :data:`UNLEARNED_SHARE` of the best one's."""
    clean = {
        m: float(np.mean([r.metrics.get(f"ndcg@{k}", np.nan) for r in by_size[0.0]]))
        for m, by_size in models.items()
        if 0.0 in by_size
    }
    clean = {m: v for m, v in clean.items() if np.isfinite(v)}
    if len(clean) < 2:
        return {}
    best_model = max(clean, key=clean.get)
    best = clean[best_model]
    return {m: (v, best, best_model) for m, v in clean.items() if v < UNLEARNED_SHARE * best}


def robustness_report(results: str | Path, k: int = 10) -> tuple[str, str, str]:
    """``(markdown, csv, svg)`` over the ``attacked`` records of ``results``."""
    from .svg import line_chart

    store = ResultsStore(results)
    cells: dict[tuple, dict[str, dict[float, list[Any]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in store.iter_records():
        if r.ok and r.split.get("name") == "attacked" and f"attack/target_hr@{k}" in r.metrics:
            size = float((r.split.get("params") or {}).get("size", 0.0))
            cells[_group(r)][r.model_label][size].append(r)
    if not cells:
        raise ConfigError(
            f"{results}: no records of 'attacked' splits with attack/target_hr@{k} (run a suite with one)"
        )
    md = [
        f"# Robustness to shilling attacks — target HR@{k} and NDCG@{k}",
        "",
        f"Target HR@{k}: the share of genuine test users whose top {k} holds an attack target; NDCG@{k} over "
        "genuine users; target rank: the mean over genuine users of a target's best rank among all items (1 = "
        "first), whose shift from size 0 is the ranking analogue of prediction shift. Mean over seeds (n); "
        "Δ = change from size 0 (the clean split with the same targets; for a defended sweep, the undefended "
        "sweep's size 0). Each split label gives its cells their own model seeds, so trained models differ "
        "between labels by seed as well as by data. "
        "Generated from records; do not edit.",
        "",
    ]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "dataset",
            "attack",
            "defense",
            "model",
            "size",
            "seeds",
            f"target_hr@{k}",
            "target_rank",
            f"ndcg@{k}",
            "auc",
            "precision",
            "recall",
        ]
    )
    series: dict[str, list[tuple[float, float]]] = {}
    for (ds, attack, defense), models in sorted(cells.items()):
        unlearned = _unlearned(cells.get((ds, attack, "none"), models), k)
        md += [f"## {ds} — {attack} attack, defense {defense}", ""]
        md += [
            f"| model | size | seeds | target HR@{k} | Δ | target rank | shift | NDCG@{k} | Δ | detector AUC / P / R |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for model, by_size in sorted(models.items()):
            base_hr = base_nd = base_rank = None
            if 0.0 not in by_size and 0.0 in cells.get((ds, attack, "none"), {}).get(model, {}):
                # a defended sweep without its own size 0: the clean split of the same attack is the reference
                clean = cells[(ds, attack, "none")][model][0.0]
                base_hr = float(np.mean([r.metrics[f"attack/target_hr@{k}"] for r in clean]))
                base_nd = float(np.mean([r.metrics.get(f"ndcg@{k}", np.nan) for r in clean]))
                base_rank = float(np.mean([r.metrics.get("attack/target_rank", np.nan) for r in clean]))
            points = []
            for size in sorted(by_size):
                recs = by_size[size]
                hr = float(np.mean([r.metrics[f"attack/target_hr@{k}"] for r in recs]))
                nd = float(np.mean([r.metrics.get(f"ndcg@{k}", np.nan) for r in recs]))
                rank = float(np.mean([r.metrics.get("attack/target_rank", np.nan) for r in recs]))
                if size == 0:
                    base_hr, base_nd, base_rank = hr, nd, rank
                det = [((r.split.get("attack") or {}).get("defense") or {}) for r in recs]
                auc = np.mean([d["auc"] for d in det if "auc" in d]) if any("auc" in d for d in det) else None
                prec = np.mean([d["precision"] for d in det if "precision" in d]) if auc is not None else None
                rec = np.mean([d["recall"] for d in det if "recall" in d]) if auc is not None else None
                dh = f"{hr - base_hr:+.4f}" if base_hr is not None else "–"
                dn = f"{nd - base_nd:+.4f}" if base_nd is not None else "–"
                dcol = f"{auc:.3f} / {prec:.2f} / {rec:.2f}" if auc is not None else "–"
                shift = f"{rank - base_rank:+.1f}" if base_rank is not None and np.isfinite(rank - base_rank) else "–"
                md.append(
                    f"| {model} | {size:g} | {len(recs)} | {hr:.4f} | {dh} | {rank:.1f} | {shift} | {nd:.4f} | {dn} | {dcol} |"
                )
                w.writerow([ds, attack, defense, model, size, len(recs), f"{hr:.6f}", f"{rank:.3f}", f"{nd:.6f}",
                            "" if auc is None else f"{auc:.6f}", "" if prec is None else f"{prec:.6f}",
                            "" if rec is None else f"{rec:.6f}"])  # fmt: skip
                points.append((size, hr))
            series[f"{model} ({attack}, {defense})" if len(cells) > 1 else model] = points
        for model, (value, best, best_model) in sorted(unlearned.items()):
            md += [
                "",
                f"⚠ {model}: clean NDCG@{k} {value:.4f} is below a tenth of the best model's ({best_model} "
                f"{best:.4f}): it did not learn this data, so its rows say nothing about its robustness.",
            ]
        md.append("")
    svg = line_chart(
        series, f"Target HR@{k} vs attack size", "attack size (fake users / genuine users)", f"target HR@{k}"
    )
    md.append("![target hit rate vs attack size](robustness.svg)")
    return "\n".join(md) + "\n", buf.getvalue(), svg
