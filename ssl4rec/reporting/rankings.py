"""Ranked lists of a cell (``ssl4rec run --save-rankings K``) in TREC run format and Parquet.

Beside the record ``<cell>/seed<N>.json`` a run with ``--save-rankings K`` writes

- ``seed<N>.run.trec``: ``qid Q0 docid rank score run_name``, each test user's top K under the
  suite's protocol (history masked, candidates, unscorable items left out; equal scores: lower
  item id first). TREC tools re-sort by score, so the score column is ``K + 1 - rank`` and they
  read exactly our order; the model's own scores are in the Parquet file.
- ``seed<N>.qrels.trec``: ``qid 0 docid 1`` for every test target, so ``ranx`` or ``trec_eval``
  recompute any metric from these two files alone.
- ``seed<N>.rankings.parquet`` (needs ``pyarrow``): ``user``, ``user_id``, ``rank``, ``item``,
  ``item_id``, ``score`` (dense ids and the dataset's raw ids).

Ids in the TREC files are the dataset's raw ids (``raw_id`` of the users / items tables) when
every one of them is free of whitespace, else the dense ids; the record's ``extra.rankings`` says
which, and holds the files' sha256.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["id_strings", "write_rankings"]


def id_strings(table: Any, n: int) -> tuple[np.ndarray, str]:
    """``(ids [n] str, "raw" | "dense")``: a side table's ``raw_id`` as strings when it has one for
    every dense id and none contains whitespace (TREC columns are whitespace-separated), else ``0..n-1``."""
    if table is not None and "raw_id" in getattr(table, "columns", ()) and len(table) == n:
        raw = np.asarray([str(v) for v in table["raw_id"].tolist()], dtype=object)
        if all(s and not any(c.isspace() for c in s) for s in raw):
            return raw, "raw"
    return np.asarray([str(i) for i in range(n)], dtype=object), "dense"


def _trec_bytes(rows: list[str]) -> bytes:
    return ("\n".join(rows) + ("\n" if rows else "")).encode()


def write_rankings(
    base: Path,
    users: np.ndarray,
    items: np.ndarray,
    scores: np.ndarray,
    targets: np.ndarray,
    user_table: Any,
    item_table: Any,
    n_users: int,
    n_items: int,
    run_name: str,
) -> dict[str, Any]:
    """Write ``<base>.run.trec``, ``<base>.qrels.trec`` and ``<base>.rankings.parquet`` (when pyarrow
    is installed), each atomically; returns what the record keeps (``extra.rankings``).

    Args:
        base: the record's path without suffix (``.../seed0``).
        users: [U] dense user ids; ``items`` / ``scores`` [U, K] their ranked lists (-1 = none);
        targets: [U, T] their test items (-1 = padding).
        run_name: the TREC run tag (whitespace replaced by ``_``).
    """
    from .records import atomic_write_bytes

    uid, u_kind = id_strings(user_table, n_users)
    iid, i_kind = id_strings(item_table, n_items)
    tag = "_".join(run_name.split()) or "ssl4rec"
    k = items.shape[1]
    run_rows: list[str] = []
    for u, row in zip(users, items, strict=True):
        q = uid[u]
        for r, it in enumerate(row[row >= 0].tolist()):
            run_rows.append(f"{q} Q0 {iid[it]} {r + 1} {k - r} {tag}")
    qrel_rows = [
        f"{uid[u]} 0 {iid[t]} 1" for u, row in zip(users, targets, strict=True) for t in row[row >= 0].tolist()
    ]
    files: dict[str, bytes] = {
        f"{base.name}.run.trec": _trec_bytes(run_rows),
        f"{base.name}.qrels.trec": _trec_bytes(qrel_rows),
    }
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        logger.warning("pyarrow is not installed: rankings written as TREC only (pip install pyarrow for Parquet)")
    else:
        keep = items >= 0
        rank = np.broadcast_to(np.arange(1, k + 1), items.shape)
        u = np.broadcast_to(users[:, None], items.shape)[keep]
        frame = pd.DataFrame(
            {
                "user": u.astype(np.int64),
                "user_id": uid[u],
                "rank": rank[keep].astype(np.int32),
                "item": items[keep].astype(np.int64),
                "item_id": iid[items[keep]],
                "score": scores[keep].astype(np.float32),
            }
        )
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        files[f"{base.name}.rankings.parquet"] = buf.getvalue()
    for name, data in files.items():
        atomic_write_bytes(base.with_name(name), data)
    return {
        "k": int(k),
        "ids": {"users": u_kind, "items": i_kind},
        "run_name": tag,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
