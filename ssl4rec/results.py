"""Results as pandas DataFrames: one row per (dataset, split, model, seed, metric), and per user.

::

    from ssl4rec import results

    df = results.load("results/ml100k")            # tidy: dataset, split, model, seed, metric, value, ...
    df.pivot_table(index="model", columns="metric", values="value", aggfunc="mean")
    users = results.load_per_user("results/ml100k")  # dataset, split, model, seed, user, <metric columns>

Every row carries the record's provenance (data checksum, split and its parameters, protocol,
model name and parameters, package versions, git commit, times, the record file), so a frame
filtered or merged later still says where each number came from. ``ssl4rec export RESULTS_DIR``
writes both frames as CSV (or Parquet, with ``pyarrow`` installed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from .reporting.records import ResultsStore, RunRecord

__all__ = ["PROVENANCE", "export", "load", "load_per_user"]

#: The columns every row of :func:`load` carries besides dataset, split, model, seed, metric and value.
PROVENANCE = (
    "status",
    "cell_id",
    "dataset_checksum",
    "split_name",
    "split_params",
    "split_fingerprint",
    "protocol",
    "candidates",
    "mask_history",
    "model_name",
    "model_kind",
    "model_params",
    "model_seed",
    "git_commit",
    "versions",
    "fit_seconds",
    "fit_seconds_total",
    "resumed",
    "fit_cpu_seconds",
    "eval_seconds",
    "peak_rss_mb",
    "time",
    "record",
)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _provenance(r: RunRecord) -> dict[str, Any]:
    return {
        "status": r.status,
        "cell_id": r.cell_id,
        "dataset_checksum": r.dataset.get("checksum"),
        "split_name": r.split.get("name"),
        "split_params": _json(r.split.get("params")),
        "split_fingerprint": r.split.get("fingerprint"),
        "protocol": r.protocol.get("label"),
        "candidates": r.protocol.get("candidates"),
        "mask_history": r.protocol.get("mask_history"),
        "model_name": r.model.get("name"),
        "model_kind": r.model.get("kind"),
        "model_params": _json(r.model.get("params")),
        "model_seed": r.model_seed,
        "git_commit": r.git_commit,
        "versions": _json(r.versions),
        "fit_seconds": r.fit_seconds,  # the last process's (a fit resumed from a checkpoint ran in several)
        "fit_seconds_total": r.fit_seconds_total,
        "resumed": r.resumed,
        "fit_cpu_seconds": r.fit_cpu_seconds,
        "eval_seconds": r.eval_seconds,
        "peak_rss_mb": r.peak_rss_mb,
        "time": r.time,
        "record": r.path,
    }


def _key(r: RunRecord) -> dict[str, Any]:
    return {"dataset": r.dataset_label, "split": r.split_label, "model": r.model_label, "seed": r.seed}


def load(results: str | Path, include_failed: bool = False, skip_unreadable: bool = False) -> pd.DataFrame:
    """Every metric of every record under ``results`` as a tidy frame.

    Columns: ``dataset``, ``split``, ``model``, ``seed``, ``metric``, ``value`` and :data:`PROVENANCE`.
    A finished record gives one row per metric; an n/a (and, with ``include_failed``, a failed)
    record one row with ``metric`` and ``value`` empty and its ``reason`` / ``error``. An unreadable
    record raises :class:`~ssl4rec.reporting.records.RecordError` naming it unless ``skip_unreadable``.
    """
    rows: list[dict[str, Any]] = []
    store = ResultsStore(results, skip_unreadable=skip_unreadable)
    for r in store.iter_records(include_failed=include_failed):
        base = {**_key(r), **_provenance(r)}
        if r.ok:
            rows += [{**base, "metric": m, "value": v} for m, v in sorted(r.metrics.items())]
        else:
            rows.append({**base, "metric": None, "value": None, "reason": r.reason or r.error})
    columns = ["dataset", "split", "model", "seed", "metric", "value", *PROVENANCE, "reason"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    return frame


def load_per_user(results: str | Path, metrics: list[str] | None = None, skip_unreadable: bool = False) -> pd.DataFrame:
    """The per-user values of every finished record: one row per (dataset, split, model, seed, user),
    one column per metric (``metrics``: only these), plus ``record``. Users are the dataset's dense
    user ids of the split's test users."""
    frames = []
    store = ResultsStore(results, skip_unreadable=skip_unreadable)
    for r in store.iter_records():
        if not r.ok:
            continue
        pu = store.per_user(r)
        if "users" not in pu:
            continue
        cols = {k: v for k, v in pu.items() if k != "users" and (metrics is None or k in metrics)}
        f = pd.DataFrame({"user": pu["users"], **cols})
        for k, v in reversed(_key(r).items()):
            f.insert(0, k, v)
        f["record"] = r.path
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=["dataset", "split", "model", "seed", "user", "record"])
    return pd.concat(frames, ignore_index=True)


def export(results: str | Path, to: str | Path | None = None, fmt: str = "csv") -> list[Path]:
    """Write :func:`load` and :func:`load_per_user` as ``results.<fmt>`` and ``per_user.<fmt>`` into ``to``
    (default: ``RESULTS_DIR/leaderboards``, next to the tables). ``fmt``: ``csv`` or ``parquet`` (needs
    ``pyarrow``). Files are written whole or not at all."""
    from .registry import ConfigError
    from .reporting.records import atomic_write_bytes

    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"export format {fmt!r}: use csv or parquet")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError(
                "export --format parquet needs pyarrow: pip install pyarrow (or use --format csv)"
            ) from None
    out = Path(to) if to is not None else Path(results) / "leaderboards"
    frames = {"results": load(results), "per_user": load_per_user(results)}
    written = []
    for name, frame in frames.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            data = frame.to_csv(index=False).encode()
        else:
            import io

            buf = io.BytesIO()
            frame.to_parquet(buf, index=False)
            data = buf.getvalue()
        atomic_write_bytes(path, data)
        written.append(path)
    return written
