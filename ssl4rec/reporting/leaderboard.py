"""Leaderboards generated from records only (Markdown + CSV per dataset x split).

Records of one (dataset, split, model) are averaged over seeds only when they agree on
the dataset checksum, split parameters, protocol and component versions; otherwise
:class:`MergeError` names what differs. Each model is compared with the best one by a
paired test over per-user values of the primary metric (Wilcoxon signed-rank, Holm-corrected
across models); rows significantly below the best are marked.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .html import render_index
from .records import RecordError, ResultsStore, RunRecord, atomic_write_bytes, comparable_params, safe_name
from .tables import (
    COMPARISON_HEAD,
    CONTENDED,
    Row,
    Table,
    comparison_cells,
    comparisons_caption,
    header_notes,
    pretty,
    spread,
)

logger = logging.getLogger(__name__)

__all__ = ["MergeError", "Table", "build_tables", "write_leaderboards", "holm"]

DEFAULT_COLUMNS = ("ndcg@10", "recall@10", "precision@10", "f1@10", "hr@10", "mrr@10", "map@10", "auc", "coverage@10")


class MergeError(ValueError):
    """Records that must not be averaged together (different data, split, protocol or versions)."""


def unscorable_note(records: list[RunRecord]) -> str | None:
    """"cannot score cold items" with the mean share of test targets that were items the model could
    not score (an ID-only model on a cold-items split: most cold targets; the item-attribute graph: only
    the cold items without attributes), or None when every target was scorable in every record."""
    if not any(r.unscorable_targets for r in records):
        return None
    shares = [r.unscorable_targets / r.eval_info["n_targets"] for r in records if r.eval_info.get("n_targets")]
    if not shares:
        return "cannot score cold items"
    share = float(np.mean(shares))
    shown = f"{share:.0%}" if share >= 0.01 else ("< 0.01%" if share < 1e-4 else f"{share:.2%}")
    return f"cannot score cold items ({shown} of test targets)"


def record_notes(record: RunRecord) -> list[str]:
    """The short notes of a finished cell, formatted from its structured fields: how it was tuned
    (``tuning``) and whether it resumed; a row's unscorable targets are :func:`unscorable_note`'s."""
    out = []
    tuned = record.tuning
    if tuned and tuned.get("skipped"):
        out.append(f"not tuned, default configuration ({tuned['skipped']})")
    elif tuned:
        shared = f"; study of {tuned['study'].split('/')[1]}, same data" if tuned.get("study") else ""
        n = tuned.get("trials")
        if n == 1 and not tuned.get("params"):
            out.append("no parameters to tune")
        else:
            out.append(f"tuned ({n} trial{'' if n == 1 else 's'}, {tuned.get('metric') or 'valid'}{shared})")
    if record.resumed:
        out.append("resumed from a checkpoint (fit s: every process)")
    return out


def _consistency_key(rec: RunRecord) -> dict[str, Any]:
    return {
        "dataset checksum": rec.dataset.get("checksum"),
        "split": json.dumps(
            {"name": rec.split.get("name"), "params": rec.split.get("params")}, sort_keys=True, default=str
        ),
        "protocol": json.dumps(rec.protocol, sort_keys=True),
        "component versions": json.dumps(rec.model.get("component_versions"), sort_keys=True),
        "model params": json.dumps(comparable_params(rec.model.get("params")), sort_keys=True, default=str),
    }


def _check_mergeable(recs: list[RunRecord], what: str) -> None:
    keys = [_consistency_key(r) for r in recs]
    for field in keys[0]:
        values = {k[field] for k in keys}
        if len(values) > 1:
            paths = ", ".join(r.path or "?" for r in recs)
            seeds = [r.seed for r in recs]
            hint = (
                " Several records share a seed (a re-run after re-tuning?): `publish RESULTS_DIR --to DIR --supersede` "
                "publishes only the newest record of each seed."
                if len(set(seeds)) < len(seeds)
                else ""
            )
            raise MergeError(
                f"refusing to average {what}: records differ in {field} ({len(values)} distinct values) — {paths}.{hint}"
            )


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(pvalues)
    order = np.argsort(pvalues)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adj[i] = running
    return adj.tolist()


def _paired_values(store: ResultsStore, recs: list[RunRecord], metric: str) -> dict[tuple[int, int], float]:
    out = {}
    for r in recs:
        pu = store.per_user(r)
        if metric not in pu or "users" not in pu:
            continue
        for u, v in zip(pu["users"].tolist(), pu[metric].tolist(), strict=True):
            if not math.isnan(v):
                out[(r.seed, u)] = v
    return out


def _user_means(
    va: dict[tuple[int, int], float], vb: dict[tuple[int, int], float]
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Each user's value averaged over the seeds where both models have it: ``(a [U], b [U], keys)``.

    The unit of the paired tests is the user: the same users come back in every seed, so treating
    (seed, user) pairs as independent would count each user once per seed and overstate significance.
    """
    common = sorted(set(va) & set(vb))
    users = sorted({u for _, u in common})
    at = {u: i for i, u in enumerate(users)}
    sa, sb, n = np.zeros(len(users)), np.zeros(len(users)), np.zeros(len(users))
    for k in common:
        i = at[k[1]]
        sa[i] += va[k]
        sb[i] += vb[k]
        n[i] += 1
    n = np.maximum(n, 1)
    return sa / n, sb / n, common


def paired_test(
    store: ResultsStore, recs_a: list[RunRecord], recs_b: list[RunRecord], metric: str
) -> dict[str, Any]:
    """Paired comparison over users of two models' records on one (dataset, split).

    The unit is the user: each user's metric is averaged over the seeds where both models were
    evaluated (:func:`_user_means`), and the tests pair the two models' user averages. Gives
    ``n_users``, ``n_seeds``, the means, the mean difference ``diff`` (a - b), ``per_seed_diff``,
    ``identical`` (every user's two values equal, e.g. both models unable to score), the two-sided Wilcoxon signed-rank p-value over users (zero differences dropped,
    ``zero_method="wilcox"``) and the paired t-test p-value; without a common user, ``n_users`` 0
    and a ``reason``.
    """
    from scipy import stats

    va, vb = _paired_values(store, recs_a, metric), _paired_values(store, recs_b, metric)
    xa, xb, common = _user_means(va, vb)
    row: dict[str, Any] = {"n_users": len(xa)}
    if not common:
        row["reason"] = "metric not recorded" if not (va or vb) else "no user evaluated for both in one seed"
        return row
    seeds = sorted({k[0] for k in common})
    per_seed = {}
    for sd in seeds:
        keys = [k for k in common if k[0] == sd]
        per_seed[sd] = float(np.mean([va[k] for k in keys]) - np.mean([vb[k] for k in keys]))
    d = xa - xb
    row.update(
        n_seeds=len(seeds),
        mean_a=float(np.mean([va[k] for k in common])),
        mean_b=float(np.mean([vb[k] for k in common])),
        diff=float(np.mean([va[k] - vb[k] for k in common])),
        per_seed_diff=per_seed,
        identical=not np.any(d != 0),
        wilcoxon_p=float(stats.wilcoxon(xa, xb, zero_method="wilcox").pvalue) if np.any(d != 0) else 1.0,
        ttest_p=float(stats.ttest_rel(xa, xb).pvalue) if np.any(d != 0) and len(d) > 1 else 1.0,
    )
    return row


def compare_models(
    store: ResultsStore, a: str, b: str, metric: str = "ndcg@10", dataset: str | None = None, split: str | None = None
) -> list[dict[str, Any]]:
    """Paired comparison of models ``a`` and ``b`` (:func:`paired_test`) in every (dataset, split)
    holding both. ``metric`` may be a subset metric such as ``"cold/ndcg@10"``. Records of one
    model that cannot be merged raise :class:`MergeError`.
    """
    groups: dict[tuple[str, str], dict[str, list[RunRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in store.iter_records():
        if not r.ok:
            continue
        ds, sp, model = r.dataset_label, table_split(r), r.model_label
        if model in (a, b) and (dataset is None or ds == dataset) and (split is None or sp == split):
            groups[(ds, sp)][model].append(r)
    out = []
    for (ds, sp), models in sorted(groups.items()):
        if a not in models or b not in models:
            continue
        for m in (a, b):
            _check_mergeable(models[m], f"{ds}/{sp}/{m}")
        if models[a][0].dataset.get("checksum") != models[b][0].dataset.get("checksum"):
            raise MergeError(f"refusing to compare {a} and {b} on {ds}/{sp}: dataset checksums differ")
        row = {"dataset": ds, "split": sp, "metric": metric, "a": a, "b": b}
        out.append({**row, **paired_test(store, models[a], models[b], metric)})
    return out


def _table_comparisons(
    store: ResultsStore,
    models: dict[str, list[RunRecord]],
    pairs: list[tuple[str, str]],
    listed: set[str],
    primary: str,
) -> list[dict[str, Any]]:
    """The suite's ``comparisons`` on one table: :func:`paired_test` of each pair whose models are
    both on the table (with records or expected), Holm-corrected over the table's tested pairs."""
    out = []
    for a, b in pairs:
        if a not in listed or b not in listed:
            continue
        row: dict[str, Any] = {"a": a, "b": b, "metric": primary}
        ok = {m: [r for r in models.get(m, []) if r.ok] for m in (a, b)}
        absent = [m for m in (a, b) if not ok[m]]
        na = {m: sorted({r.reason or "" for r in models.get(m, []) if r.status == "n/a"}) for m in absent}
        if absent and all(na.values()):  # a model that cannot run on this table by construction: no test
            row.update(n_users=0, reason="; ".join(f"{m} n/a here: {', '.join(na[m])}" for m in absent))
        elif absent:
            row.update(n_users=0, reason=f"no record of {' and '.join(absent)}")
        elif ok[a][0].dataset.get("checksum") != ok[b][0].dataset.get("checksum"):
            row.update(n_users=0, reason="dataset checksums differ")
        else:
            row.update(paired_test(store, ok[a], ok[b], primary))
        out.append(row)
    tested = [r for r in out if r["n_users"]]
    for r, adj in zip(tested, holm([r["wilcoxon_p"] for r in tested]), strict=True):
        r["holm_p"] = adj
    return out


def render_comparison(rows: list[dict[str, Any]], alpha: float = 0.05) -> str:
    """Markdown table of :func:`compare_models` rows."""
    if not rows:
        return "No (dataset, split) has records of both models.\n"
    a, b, metric = rows[0]["a"], rows[0]["b"], rows[0]["metric"]
    lines = [
        f"Paired comparison of **{a}** (A) and **{b}** (B) on {pretty(metric)}; unit = user (each user's "
        f"value averaged over the seeds both have), two-sided tests, significant at {alpha}.",
        "",
        "| dataset | split | seeds | users | A | B | A - B | A - B per seed | Wilcoxon p | paired t p | significant |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        if not r["n_users"]:
            lines.append(f"| {r['dataset']} | {r['split']} | 0 | 0 | | | | | | | {r['reason']} |")
            continue
        seeds = ", ".join(f"{d:+.4f}" for d in r["per_seed_diff"].values())
        sig = "yes" if r["wilcoxon_p"] < alpha else "no"
        lines.append(
            f"| {r['dataset']} | {r['split']} | {r['n_seeds']} | {r['n_users']} | {r['mean_a']:.4f} | {r['mean_b']:.4f} | "
            f"{r['diff']:+.4f} | {seeds} | {r['wilcoxon_p']:.3g} | {r['ttest_p']:.3g} | {sig} |"
        )
    return "\n".join(lines) + "\n"


def build_tables(
    store: ResultsStore,
    columns: tuple[str, ...] = DEFAULT_COLUMNS,
    primary: str = "ndcg@10",
    alpha: float = 0.05,
    expected: dict[str, list[str]] | None = None,
    comparisons: list[tuple[str, str]] | None = None,
) -> list[Table]:
    """One :class:`Table` per (dataset, split) found in ``store``.

    ``expected``: {dataset label: model labels} that every table of that dataset lists, as
    "missing" rows when they have no record (e.g. a suite's models not run yet); a key
    ``"dataset/split"`` lists models expected on that split's table only. ``comparisons``: pairs
    ``(a, b)`` of model labels (a suite's ``comparisons``) tested on every table listing both, on
    the primary metric (:func:`_table_comparisons`)."""
    records = list(store.iter_records(include_failed=True))
    by_table, models_by_dataset = _group_records(records)
    for key, labels in (expected or {}).items():
        ds = key.split("/")[0]
        models_by_dataset[ds] += [m for m in labels if m not in models_by_dataset[ds]]
    tables = []
    for (ds, sp), models in sorted(by_table.items()):
        cols = _table_columns([r for rs in models.values() for r in rs if r.ok], columns, primary)
        # a table lists the models with records on it and the expected ones (a model run on another
        # split only, e.g. by another suite, is not "missing" here)
        on_split = (expected or {}).get(f"{ds}/{sp.split(' [')[0]}", [])
        wanted = set(models) | set((expected or {}).get(ds, [])) | set(on_split)
        listed = models_by_dataset.get(ds, [])
        rows, header = [], {}
        for model in [m for m in listed if m in wanted] + sorted(set(models) - set(listed)):
            recs = models.get(model, [])
            rows.append(_model_row(model, recs, cols, f"{ds}/{sp}/{model}"))
            ok = [r for r in recs if r.ok]
            if ok:
                header = _table_header(header, ok[0], ds, f"{ds}/{sp}")
        order = {"ok": 0, "n/a": 1, "failed": 2, "missing": 3}
        rows.sort(key=lambda r: (order[r.status], -r.mean.get(primary, -math.inf), r.model))
        _mark_significance(store, rows, models, primary, alpha)
        tested = _table_comparisons(store, models, list(comparisons or []), {r.model for r in rows}, primary)
        tables.append(
            Table(dataset=ds, split=sp, header=header, columns=cols, rows=rows, primary=primary, comparisons=tested)
        )
    return tables


def _group_records(
    records: list[RunRecord],
) -> tuple[dict[tuple[str, str], dict[str, list[RunRecord]]], dict[str, list[str]]]:
    """Records by table (dataset, table split) and model label; each dataset's model labels in first-seen order."""
    by_table: dict[tuple[str, str], dict[str, list[RunRecord]]] = defaultdict(lambda: defaultdict(list))
    models_by_dataset: dict[str, list[str]] = defaultdict(list)
    for r in records:
        if r.status == "failed":
            ds, sp, model = r.cell_id.split("/")[:3]
            by_table[(ds, sp)][model].append(r)
            continue
        ds, sp, model = r.dataset_label, table_split(r), r.model_label
        by_table[(ds, sp)][model].append(r)
        if model not in models_by_dataset[ds]:
            models_by_dataset[ds].append(model)
    return by_table, models_by_dataset


def _table_columns(ok_recs: list[RunRecord], columns: tuple[str, ...], primary: str) -> list[str]:
    """The metric columns of a table: the wanted ones recorded, plugin metrics at K = 10, cold / warm primary,
    and a sampled protocol's corrected primary (Krichene & Rendle's estimate of its full-ranking value)."""
    from ..evaluation.metrics import ALL_METRICS

    present = set().union(*[r.metrics.keys() for r in ok_recs]) if ok_recs else set()
    cols = [c for c in columns if c in present]
    cols += sorted(
        c
        for c in present
        if "/" not in c
        and c.partition("@")[0] not in ALL_METRICS
        and c not in cols
        and (c.endswith("@10") or "@" not in c)
    )
    return cols + [f"{sub}/{primary}" for sub in ("cold", "warm", "corrected") if f"{sub}/{primary}" in present]


def _model_row(model: str, recs: list[RunRecord], cols: list[str], what: str) -> Row:
    """One model's row: seed means and stds of its finished records, else n/a, failed or missing."""
    ok = [r for r in recs if r.ok]
    if not ok:
        if any(r.status == "n/a" for r in recs):
            notes = sorted({r.reason or "" for r in recs if r.status == "n/a"})
            return Row(model=model, status="n/a", notes=notes, records=[r.path or "" for r in recs])
        if recs:
            return Row(model=model, status="failed", notes=sorted({(r.error or "")[:160] for r in recs}))
        return Row(model=model, status="missing")
    _check_mergeable(ok, what)
    seeds = [r.seed for r in ok]
    twice = sorted({sd for sd in seeds if seeds.count(sd) > 1})
    if twice:
        paths = ", ".join(r.path or "?" for r in ok if r.seed in twice)
        raise MergeError(
            f"refusing to average {what}: seed {', '.join(map(str, twice))} has more than one record ({paths}); "
            "a mean would weigh that seed twice. Delete the stale ones, or `publish RESULTS_DIR --to DIR "
            "--supersede` to keep only the newest record of each seed."
        )
    row = Row(model=model, status="ok", n_seeds=len(set(seeds)))
    for c in cols:
        vals = [r.metrics.get(c) for r in ok]
        vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if vals:
            row.mean[c] = float(np.mean(vals))
            row.std[c] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    row.fit_seconds = float(np.mean([r.fit_seconds_total or 0.0 for r in ok]))  # resumed fits: every process
    spe = [s for s in (r.fit_info.get("seconds_per_epoch") for r in ok) if s]
    row.seconds_per_epoch = float(np.mean(spe)) if spe else None
    cpu = [r.fit_cpu_seconds for r in ok]
    if all(c is not None for c in cpu):
        row.fit_cpu_seconds = float(np.mean(cpu))
        row.contended = any(
            r.fit_seconds > CONTENDED * max(r.fit_cpu_seconds, 1e-3) for r in ok if (r.fit_seconds or 0.0) > 1.0
        )
    row.notes = sorted({n for r in ok for n in record_notes(r)})
    unscorable = unscorable_note(ok)
    if unscorable:
        row.notes.append(unscorable)
    row.records = [r.path or "" for r in ok]
    return row


def _table_header(header: dict[str, Any], r0: RunRecord, ds: str, what: str) -> dict[str, Any]:
    """The table's header from its first finished record; later models must share its data and protocol."""
    if not header:
        return {
            "dataset": ds,
            "checksum": r0.dataset["checksum"],
            "counts": r0.dataset.get("counts"),
            "split": r0.split["name"],
            "split_params": r0.split["params"],
            "split_counts": r0.split.get("counts"),
            "protocol": r0.protocol.get("label"),
            "protocol_full": r0.protocol,
        }
    if header["checksum"] != r0.dataset["checksum"]:
        raise MergeError(f"refusing to put {what} models on one table: dataset checksums differ")
    if header["protocol"] != r0.protocol.get("label"):
        raise MergeError(f"refusing to put {what} models on one table: protocols differ")
    return header


def _mark_significance(
    store: ResultsStore, rows: list[Row], models: dict[str, list[RunRecord]], primary: str, alpha: float
) -> None:
    """Each row against the best by a paired Wilcoxon test over users (each user's value averaged over the
    seeds both have, :func:`_user_means`), Holm-corrected."""
    from scipy import stats

    ok_rows = [r for r in rows if r.status == "ok" and primary in r.mean]
    if len(ok_rows) < 2:
        return
    best = max(ok_rows, key=lambda r: r.mean[primary])
    best_vals = _paired_values(store, [rec for rec in models[best.model] if rec.ok], primary)
    tested, pvals = [], []
    for row in ok_rows:
        if row is best:
            continue
        vals = _paired_values(store, [rec for rec in models[row.model] if rec.ok], primary)
        a, b, _ = _user_means(best_vals, vals)
        if len(a) < 10:
            continue
        p = 1.0 if np.allclose(a, b) else float(stats.wilcoxon(a, b, zero_method="wilcox").pvalue)
        tested.append(row)
        pvals.append(p)
    for row, p in zip(tested, holm(pvals) if pvals else [], strict=True):
        row.p_value = p
        row.significant = p < alpha


def _fmt(row: Row, c: str, best: float | None) -> str:
    if c not in row.mean:
        return "–"
    s = f"{row.mean[c]:.4f}" + spread(row, c)
    if best is not None and abs(row.mean[c] - best) < 1e-12:
        s = f"**{s}**"
    return s


def render_markdown(t: Table) -> str:
    lines = [f"# {t.dataset} — {t.split}", ""]
    notes = header_notes(t)
    if notes:
        lines += [f"- **{label}:** {text}" for label, text in notes] + [""]
    best = {}
    for c in t.columns:
        vals = [r.mean[c] for r in t.rows if c in r.mean]
        best[c] = max(vals) if vals and max(vals) > min(vals) else None  # no bold when all equal
    head = ["model", "seeds", *[pretty(c) for c in t.columns], "fit s", "s/epoch", "notes"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] * len(head)) + "|")
    for r in t.rows:
        if r.status != "ok":
            note = "; ".join(r.notes) if r.notes else ""
            label = {"n/a": f"n/a: {note}", "failed": f"failed: {note}", "missing": "missing (no record)"}[r.status]
            lines.append(
                "| " + " | ".join([r.model, "0", *["–"] * len(t.columns), "–", "–", label.replace("|", "/")]) + " |"
            )
            continue
        name = r.model + (" †" if r.significant else "")
        cells = [_fmt(r, c, best[c]) for c in t.columns]
        spe = f"{r.seconds_per_epoch:.2f}" if r.seconds_per_epoch else "–"
        fit = f"{r.fit_seconds:.1f}" + (" ‡" if r.contended else "")
        lines.append("| " + " | ".join([name, str(r.n_seeds), *cells, fit, spe, "; ".join(r.notes)]) + " |")
    lines.append("")
    if t.comparisons:
        lines += render_table_comparisons(t.comparisons) + [""]
    return "\n".join(lines)


def render_table_comparisons(comparisons: list[dict[str, Any]], alpha: float = 0.05) -> list[str]:
    """Markdown lines: the caption and table of a leaderboard table's comparisons."""
    lines = [f"**Comparisons.** {comparisons_caption(comparisons[0]['metric'], alpha)}", ""]
    lines.append("| " + " | ".join(COMPARISON_HEAD) + " |")
    lines.append("|---|---|" + "---:|" * (len(COMPARISON_HEAD) - 3) + "---|")
    for c in comparisons:
        lines.append("| " + " | ".join(x.replace("|", "/") for x in comparison_cells(c, alpha)) + " |")
    return lines


def render_csv(t: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "dataset",
            "split",
            "model",
            "status",
            "seeds",
            *[f"{c}_{s}" for c in t.columns for s in ("mean", "std")],
            "fit_seconds",
            "seconds_per_epoch",
            "fit_cpu_seconds",
            "contended",
            "p_value_vs_best",
            "significant",
            "notes",
            "records",
        ]
    )
    for r in t.rows:
        vals = []
        for c in t.columns:
            std = f"{r.std[c]:.6f}" if c in r.std and r.n_seeds > 1 else ""  # no spread from one seed
            vals += [f"{r.mean[c]:.6f}" if c in r.mean else "", std]
        w.writerow(
            [
                t.dataset,
                t.split,
                r.model,
                r.status,
                r.n_seeds,
                *vals,
                f"{r.fit_seconds:.3f}" if r.fit_seconds is not None else "",
                f"{r.seconds_per_epoch:.3f}" if r.seconds_per_epoch else "",
                f"{r.fit_cpu_seconds:.3f}" if r.fit_cpu_seconds is not None else "",
                int(r.contended),
                f"{r.p_value:.3g}" if r.p_value is not None else "",
                int(r.significant),
                "; ".join(r.notes),
                ";".join(r.records),
            ]
        )
    return buf.getvalue()


def summary_text(tables: list[Table], out: Path) -> str:
    """What a finished run prints: per (dataset, split) its models by the primary metric (mean ± std,
    seeds, † = significantly below the best), then where each dataset's page is."""
    lines = []
    for t in tables:
        ok = sorted((r for r in t.rows if r.status == "ok" and t.primary in r.mean), key=lambda r: -r.mean[t.primary])
        others = [f"{r.model} ({r.status})" for r in t.rows if r.status != "ok"]
        lines.append(f"{t.dataset} / {t.split} — {pretty(t.primary)}:")
        width = max((len(r.model) + 2 for r in ok), default=10)
        for r in ok:
            name = r.model + (" †" if r.significant else "")
            lines.append(f"  {name:<{width}} {r.mean[t.primary]:.4f}{spread(r, t.primary)}  (seeds: {r.n_seeds})")
        if others:
            lines.append("  without a value: " + ", ".join(others))
    for ds in sorted({t.dataset for t in tables}):
        lines.append(f"page: {out / safe_name(ds) / 'index.html'}")
    return "\n".join(lines)


def write_leaderboards(
    results: str | Path,
    out: str | Path | None = None,
    columns: tuple[str, ...] = DEFAULT_COLUMNS,
    primary: str = "ndcg@10",
    expected: dict[str, list[str]] | None = None,
    skip_unreadable: bool = False,
    tables: list[Table] | None = None,
    comparisons: list[tuple[str, str]] | None = None,
) -> list[Path]:
    """Write ``<out>/<dataset>/<split>.md|.csv`` (+ an index per dataset) from the records in ``results``
    (``expected``: model labels listed as missing rows where they have no record, see :func:`build_tables`;
    an unreadable record refuses the tables unless ``skip_unreadable``; ``tables``: already built ones)."""
    out = Path(out) if out is not None else Path(results) / "leaderboards"
    if tables is None:
        store = ResultsStore(results, skip_unreadable=skip_unreadable)
        tables = build_tables(store, columns=columns, primary=primary, expected=expected, comparisons=comparisons)
    written: list[Path] = []
    by_ds: dict[str, list[Table]] = defaultdict(list)
    for t in tables:
        d = out / safe_name(t.dataset)
        md = d / f"{safe_name(t.split)}.md"
        atomic_write_bytes(md, render_markdown(t).encode())
        cs = d / f"{safe_name(t.split)}.csv"
        atomic_write_bytes(cs, render_csv(t).encode())
        written += [md, cs]
        by_ds[t.dataset].append(t)
    for ds, ts in by_ds.items():
        lines = [
            f"# Leaderboards — {ds}",
            "",
            f"Primary metric: {pretty(primary)}. One table per split; generated from records.",
            "",
        ]
        lines.append("| split | best model | " + pretty(primary) + " | models with results | n/a | missing |")
        lines.append("|---|---|---|---|---|---|")
        for t in ts:
            ok = [r for r in t.rows if primary in r.mean]
            best = max(ok, key=lambda r: r.mean[primary]) if ok else None
            missing = [r.model for r in t.rows if r.status == "missing"]
            n_ok = sum(r.status == "ok" for r in t.rows)
            n_na = sum(r.status == "n/a" for r in t.rows)  # cannot run by construction: not a result
            cells = [
                f"[{t.split}]({safe_name(t.split)}.md)",
                best.model if best else "–",
                f"{best.mean[primary]:.4f}" if best else "–",
            ]
            cells += [f"{n_ok} of {len(t.rows) - n_na}", str(n_na) if n_na else "–", ", ".join(missing) or "–"]
            lines.append("| " + " | ".join(cells) + " |")
        p = out / safe_name(ds) / "README.md"
        atomic_write_bytes(p, ("\n".join(lines) + "\n").encode())
        written.append(p)

        page = out / safe_name(ds) / "index.html"
        atomic_write_bytes(page, render_index(ds, ts, primary, root=Path(results), page_dir=page.parent).encode())
        written.append(page)
    return written


def publish(
    results: str | Path,
    to: str | Path,
    datasets: list[str] | None = None,
    expected: dict[str, list[str]] | None = None,
    supersede: bool = False,
    comparisons: list[tuple[str, str]] | None = None,
) -> list[Path]:
    """Copy the records (JSON + per-user arrays) of ``results`` into ``to/records`` and regenerate
    every leaderboard under ``to`` from the records there, so each published cell stays traceable.

    Args:
        results: a results folder written by ``ssl4rec run``.
        to: the publication folder (e.g. ``leaderboards``).
        datasets: only publish records of these dataset labels.
        expected: {dataset label: model labels} shown as missing rows where they have no record
            (``publish --suite``: the suite's models).
        comparisons: pairs of model labels tested on every table listing both (a suite's ``comparisons``).
        supersede: a cell (dataset, split, model label, seed) keeps only its newest record (by the
            record's time): older records of it in ``results`` are not copied and those in
            ``to/records`` are removed (e.g. after re-tuning changed a model's parameters, whose old
            records would otherwise be refused as a merge of different configurations). Without it,
            such records stay and building the tables fails, naming them.
    """
    import shutil

    src = ResultsStore(results)
    dst = Path(to)
    copied = 0
    recs = [r for r in src.iter_records() if not datasets or r.dataset_label in datasets]
    edited = [f"{r.path} ({v})" for r in recs if (v := src.verify(r)) not in ("ok", "unsigned")]
    if edited:
        raise RecordError(
            f"refusing to publish records whose content changed after they were written: {'; '.join(edited)}"
        )
    if supersede:
        newest: dict[tuple, RunRecord] = {}
        for r in sorted(recs, key=lambda r: (r.time, r.path or "")):
            newest[_cell_of(r)] = r
        logger.info("supersede: %d of %d records in %s are the newest of their cell", len(newest), len(recs), results)
        recs = list(newest.values())
    for rec in recs:
        rel = Path(rec.path or "")
        target = dst / rel
        if target.exists() and target.resolve() == (Path(results) / rel).resolve():
            continue  # publishing a folder into itself: its records stay, its tables are regenerated
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(results) / rel, target)
        if rec.per_user_file:
            npz = (Path(results) / rel).with_name(rec.per_user_file)
            if npz.exists():
                shutil.copy2(npz, target.with_name(rec.per_user_file))
        copied += 1
    logger.info("published %d records from %s into %s", copied, results, dst / "records")
    if supersede:
        keep = {_cell_of(r): Path(r.path or "") for r in recs}
        removed = []
        for old in ResultsStore(dst).iter_records():
            cell = _cell_of(old)
            if cell in keep and Path(old.path or "") != keep[cell]:
                path = dst / (old.path or "")
                if old.per_user_file:
                    path.with_name(old.per_user_file).unlink(missing_ok=True)
                path.unlink()
                removed.append(old.path)
        for r in removed:
            logger.info("superseded (removed): %s", r)
        logger.info("supersede: removed %d older records from %s", len(removed), dst / "records")
    return write_leaderboards(dst, dst, expected=expected, comparisons=comparisons)


def _cell_of(rec: RunRecord) -> tuple:
    """(dataset, table split, model label, seed) of a record: what one leaderboard cell averages over seeds."""
    return (rec.dataset_label, table_split(rec), rec.model_label, rec.seed)


def table_split(rec: RunRecord) -> str:
    """The table a record belongs to within its dataset: its split label, qualified by the protocol
    when that is not the default (full ranking, history masked), so records of one model under full
    and sampled ranking stand in two tables instead of being refused (or superseded) as one cell."""
    sp = rec.split_label
    proto = rec.protocol
    tags = []
    if proto.get("candidates", "full") != "full":
        tags.append(f"sampled-{proto.get('n_negatives')}-{proto.get('sampling', 'uniform')}")
    if proto.get("mask_history", True) is False:
        tags.append("history-kept")
    return f"{sp} [{', '.join(tags)}]" if tags else sp


def runners_up(rows: list[Any], primary: str, n: int = 2) -> str:
    """The ``n`` best of ``rows`` by ``primary`` as "model value, ...". Models tied at a printed
    value are counted, not named ("12 models 0.0000"), so a tie is not read as a ranking."""
    shown: list[str] = []
    covered = 0
    ranked = sorted(rows, key=lambda r: -r.mean[primary])
    for value, group in itertools.groupby(ranked, key=lambda r: f"{r.mean[primary]:.4f}"):
        if covered >= n:
            break
        tied = list(group)
        shown.append(f"{tied[0].model} {value}" if len(tied) == 1 else f"{len(tied)} models {value}")
        covered += len(tied)
    return ", ".join(shown)


README_BEGIN, README_END = "<!-- results:begin -->", "<!-- results:end -->"


def _sensitivity_summary(reports: list[Path], base: Path) -> list[str]:
    """README lines for protocol-sensitivity reports (``sensitivity.csv`` beside their protocol folders):
    per dataset and split, Kendall's tau of full ranking against each other protocol and the number of
    model pairs that flip; then, under full ranking, the leave-one-out vs timeline splits' tau and flips."""
    lines: list[str] = []
    for report in reports:
        with open(report / "sensitivity.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        taus = [r for r in rows if r["kind"] == "kendall_tau" and r["protocol_a"] == "full"]
        if not taus:
            continue
        link = (report / "sensitivity.md").relative_to(base)
        if not lines:
            lines += [
                "",
                "| protocol sensitivity | rankings compared | Kendall tau | p | models | pairs that flip |",
                "|---|---|---|---|---|---|",
            ]
        for r in taus:
            # each flip has one CSV row per side; the full-ranking side names the other protocol
            n_flips = sum(
                1
                for x in rows
                if x["kind"] == "flip"
                and (x["dataset"], x["split"], x["protocol_a"], x["protocol_b"])
                == (r["dataset"], r["split"], "full", r["protocol_b"])
            )
            lines.append(
                f"| [{r['dataset']} / {r['split']}]({link}) | full vs {r['protocol_b']} | {float(r['value']):.3f} | "
                f"{float(r['p_value']):.3g} | {r['n']} | {n_flips} |"
            )
        for r in (r for r in rows if r["kind"] == "split_kendall_tau" and r["protocol_a"] == "full"):
            loo = r["split"].split(" vs ")[0]  # one split_flip row per side of a flip: count the first side's
            n_flips = sum(
                1
                for x in rows
                if x["kind"] == "split_flip" and (x["dataset"], x["split"], x["protocol_a"]) == (r["dataset"], loo, "full")
            )
            lines.append(
                f"| [{r['dataset']}]({link}) | {r['split']} (full) | {float(r['value']):.3f} | "
                f"{float(r['p_value']):.3g} | {r['n']} | {n_flips} |"
            )
    return lines


def update_readme(readme: str | Path, root: str | Path = "leaderboards", primary: str = "ndcg@10") -> bool:
    """Replace the README block between the results markers with a summary generated from the
    records under ``root`` (every ``records`` folder below it) and the reproduction CSVs."""
    readme, root = Path(readme), Path(root)
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{readme} has no {README_BEGIN} ... {README_END} block")
    lines = [README_BEGIN, ""]
    sensitivity = []  # protocol folders of a sensitivity report: summarised by the report, not per table
    for rec_dir in sorted(p for p in root.rglob("records") if p.is_dir()):
        pub = rec_dir.parent
        if (pub.parent / "sensitivity.csv").is_file():
            sensitivity += [pub.parent] if pub.parent not in sensitivity else []
            continue
        for t in build_tables(ResultsStore(pub), primary=primary):
            ok = [r for r in t.rows if primary in r.mean]
            if not ok:
                continue
            best = max(ok, key=lambda r: r.mean[primary])
            rel = (pub / safe_name(t.dataset) / f"{safe_name(t.split)}.md").relative_to(readme.parent)
            runner_up = runners_up([r for r in ok if r is not best], primary)
            where = "" if pub == root else f" ({pub.relative_to(root)})"
            lines.append(
                f"| [{t.dataset} / {t.split}{where}]({rel}) | {best.model} | {best.mean[primary]:.4f} (n={best.n_seeds}) | {runner_up} |"
            )
    if len(lines) > 2:
        lines[2:2] = [f"| leaderboard | best | {pretty(primary)} | next |", "|---|---|---|---|"]
    repro = sorted((root / "reproductions").glob("*.csv")) if (root / "reproductions").is_dir() else []
    if repro:
        lines += ["", "| reproduction | model | metric | ours | published | rel. diff |", "|---|---|---|---|---|---|"]
        not_run: dict[Path, list[str]] = defaultdict(list)
        for p in repro:
            link = p.with_suffix(".md").relative_to(readme.parent)
            with open(p, newline="") as f:
                for row in csv.DictReader(f):
                    if not row["ours_mean"]:  # no record yet: named once below, not as a row per metric
                        if row["model"] not in not_run[link]:
                            not_run[link].append(row["model"])
                        continue
                    rel = f"{float(row['rel_diff']):+.1%}" if row["rel_diff"] else "–"
                    n = f" (n={row['n_seeds']})" if row.get("n_seeds") else ""  # a one-seed row says so
                    lines.append(
                        f"| [{p.stem}]({link}) | {row['model']} | {pretty(row['metric'])} | {float(row['ours_mean']):.4f}{n} | {float(row['published']):.4f} | {rel} |"
                    )
        for link, models in not_run.items():
            lines += ["", f"Not run yet in [{link.stem}]({link}): {', '.join(models)}."]
    lines += _sensitivity_summary(sensitivity, readme.parent)
    lines += ["", f"Generated by `ssl4rec publish --readme` from the records under `{root}/`.", README_END]
    start, end = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    new = text[:start] + "\n".join(lines) + text[end:]
    if new != text:
        atomic_write_bytes(readme, new.encode())
        return True
    return False
