"""Export user representations of a fitted model, with each user's nearest item labels.

* :func:`user_vectors` — the vector a model scores a user with: SSL models (the encoder's
  user representation, :meth:`~ssl4rec.ssl.SSLRecommender.user_vectors`), ``bpr`` (the user
  embedding; cold users folded in as the mean of their known items), ``content`` /
  ``content-lm`` (the normalised profile vector), or any model with a ``user_vectors(batch)``
  method.
* :func:`export_users` — writes ``<path>.npz`` (user ids, raw ids, vectors) and
  ``<path>.csv`` (each user's ``k`` nearest genres / categories / attributes) and returns a
  summary.

Label vectors are the mean of the vectors of the items carrying the label, in the model's
own item space (its scoring matrix), restricted to the items the model can score; a user's
nearest labels are those with the highest cosine to the user vector.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from ..interactions import Batch, SplitData
from .records import atomic_write_bytes

logger = logging.getLogger(__name__)

__all__ = ["LABEL_COLUMNS", "export_users", "item_labels", "item_vectors", "user_vectors"]

#: Item-table columns read as labels, first present wins: list columns, then attribute ids.
LABEL_COLUMNS = ("genres", "categories", "attributes")


def _name(model: Any) -> str:
    name = getattr(model, "name", None)
    if name:
        return str(name)
    from ..registry import BASELINES

    return next((e.name for e in BASELINES.list() if e.obj is type(model)), type(model).__name__)


def _no_vectors(model: Any) -> TypeError:
    return TypeError(
        f"{_name(model)} has no user representation to export: user vectors exist for SSL models, "
        "bpr, content and content-lm (or any model with a user_vectors(batch) method)"
    )


def user_vectors(model: Any, batch: Batch) -> np.ndarray:
    """The user representations ``[B, d]`` (float32) that ``model`` scores ``batch``'s users with.

    Args:
        model: a fitted model with a ``user_vectors(batch)`` method (SSL models, ``bpr``,
            ``content``, ``content-lm``).
        batch: the users and their known history.

    Raises:
        TypeError: the model has no user representation (``pop``, ``itemknn``, ``ease``, ...).
        RuntimeError: the model is not fitted.
    """
    if not callable(getattr(model, "user_vectors", None)):
        raise _no_vectors(model)
    out = model.user_vectors(batch)
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    return np.ascontiguousarray(out, dtype=np.float32)


def item_vectors(model: Any) -> np.ndarray | sp.csr_matrix | None:
    """Item vectors ``[n_items, d]`` in the space of :func:`user_vectors` (the scoring matrix), or None."""
    if not callable(getattr(model, "item_vectors", None)):
        return None
    out = model.item_vectors()
    return out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else out


def _as_labels(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list | tuple | np.ndarray | pd.Series):
        return [str(v) for v in value if v is not None and not (isinstance(v, float) and np.isnan(v))]
    return [str(value)]


def item_labels(items: pd.DataFrame | None, n_items: int) -> tuple[str, list[str], sp.csr_matrix]:
    """``(column, labels, M)``: the first of :data:`LABEL_COLUMNS` in the item table, its sorted
    distinct values and the binary ``[n_labels, n_items]`` label-item matrix.

    Raises:
        ValueError: the item table has none of the label columns.
    """
    cols = [c for c in LABEL_COLUMNS if items is not None and c in items.columns]
    if not cols:
        found = ", ".join(map(str, items.columns)) if items is not None else "no item table"
        raise ValueError(f"the item table has no label column ({', '.join(LABEL_COLUMNS)}); found {found}")
    col = cols[0]
    values = items[col].reindex(range(n_items)) if len(items) != n_items else items[col]
    per_item = [_as_labels(v) for v in values.tolist()]
    labels = sorted({lab for labs in per_item for lab in labs})
    index = {lab: j for j, lab in enumerate(labels)}
    rows = [index[lab] for labs in per_item for lab in dict.fromkeys(labs)]
    cols_ = [i for i, labs in enumerate(per_item) for _ in dict.fromkeys(labs)]
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols_)), shape=(len(labels), n_items))
    return col, labels, m


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _top_k(sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest entries per row (ties: lower index first)."""
    k = min(k, sim.shape[1])
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sim, order, axis=1)


def export_users(
    model: Any,
    split: SplitData,
    stage: str = "test",
    path: str | Path | None = None,
    k: int = 3,
    batch_size: int = 1024,
) -> dict[str, Any]:
    """Write the user vectors of a fitted model and each user's ``k`` nearest labels.

    The users are those with a known history at ``stage`` (``split.history(stage)``: train,
    plus valid for ``"test"``, plus revealed context) or a target there, in id order.

    Files:
        ``<path>.npz``: ``user`` (int64 ids), ``raw_id`` (str, when ``split.train.users`` has
        a ``raw_id`` column), ``vectors`` (float32 ``[n_users, d]``), ``labels`` and
        ``label_vectors`` (when computed in the model's item space).
        ``<path>.csv``: ``user, raw_id, label_1..label_k, similarity_1..similarity_k``.

    Nearest labels: each label of the item table (``genres`` or ``categories``, else
    ``attributes``) gets the mean vector of the items carrying it, from the model's scoring
    matrix (items the model cannot score left out), and users rank labels by cosine. A model
    with user vectors but no item vectors falls back to item text embeddings (TF-IDF of the
    ``text`` column: the user profile is the mean text vector of the history), else to the
    label counts of the user's history; the summary names the method used.

    Args:
        model: a fitted model with a user representation (see :func:`user_vectors`).
        split: the split the model was fitted on.
        stage: ``"valid"`` or ``"test"``: which known history represents the users.
        path: output path without suffix (a ``.npz`` / ``.csv`` suffix is dropped).
        k: nearest labels per user.
        batch_size: users per model call.

    Returns:
        ``{"model", "stage", "users", "dim", "npz", "csv", "label_column", "labels",
        "label_method", "k"}``.

    Raises:
        TypeError: the model has no user representation.
        ValueError: no ``path``, a bad ``stage``, or an item table without label columns.
    """
    if path is None:
        raise ValueError("export_users: give the output path (without suffix)")
    if k < 1:
        raise ValueError(f"export_users: k must be at least 1, got {k}")
    base = Path(path)
    if base.suffix in (".npz", ".csv"):
        base = base.with_suffix("")
    history = split.history(stage)
    users = np.union1d(np.flatnonzero(history.user_counts > 0), split.targets(stage)["user"].to_numpy()).astype(
        np.int64
    )
    if len(users) == 0:
        raise ValueError(f"export_users: no user has a known history or a target at stage {stage!r}")
    column, labels, label_items = item_labels(split.train.items, split.train.n_items)
    vectors = np.concatenate(
        [
            user_vectors(model, Batch(torch.from_numpy(users[s : s + batch_size]), history))
            for s in range(0, len(users), batch_size)
        ]
    )
    sim, method, label_vectors = _label_similarity(model, split, users, vectors, history, label_items)
    top, top_sim = _top_k(sim, k) if len(labels) else (np.zeros((len(users), 0), int), np.zeros((len(users), 0)))
    raw = _raw_ids(split, users)
    npz = _write_npz(base, users, vectors, labels, raw, label_vectors)
    out_csv = _write_csv(base, users, labels, raw, top, top_sim)
    summary = {
        "model": _name(model),
        "stage": stage,
        "users": int(len(users)),
        "dim": int(vectors.shape[1]) if vectors.ndim == 2 else 0,
        "npz": str(npz),
        "csv": str(out_csv),
        "label_column": column,
        "labels": len(labels),
        "label_method": method,
        "k": int(k),
    }
    logger.info(
        "exported %d user vectors (d=%d) of %s to %s (+ .csv)", summary["users"], summary["dim"], summary["model"], npz
    )
    return summary


def _label_similarity(
    model: Any, split: SplitData, users: np.ndarray, vectors: np.ndarray, history: Any, label_items: sp.csr_matrix
) -> tuple[np.ndarray, str, np.ndarray | None]:
    """``[U, n_labels]`` user-label similarities, the method used, and the label vectors in the
    model's item space (None for the fallbacks): model item vectors, else item text, else history counts."""
    n_items = split.train.n_items
    items = item_vectors(model)
    if items is not None:
        scorable = model.scorable_items() if hasattr(model, "scorable_items") else None
        m = label_items
        if scorable is not None:
            keep = np.zeros(n_items, np.float32)
            keep[np.asarray(scorable, dtype=np.int64)] = 1.0
            m = (m @ sp.diags(keep)).tocsr()
        counts = np.asarray(m.sum(axis=1)).ravel()
        lv = m @ items
        lv = (lv.toarray() if sp.issparse(lv) else np.asarray(lv)).astype(np.float32)
        label_vectors = lv / np.maximum(counts, 1.0)[:, None]
        sim = _normalize(vectors) @ _normalize(label_vectors).T
        sim[:, counts == 0] = -np.inf
        return sim, "model item vectors", label_vectors
    profile_source = _text_vectors(split)
    row_items = Batch(torch.from_numpy(users), history).matrix()  # [U, n_items] binary known history
    if profile_source is not None:
        counts = np.asarray(label_items.sum(axis=1)).ravel()
        lv = np.asarray(label_items @ profile_source) / np.maximum(counts, 1.0)[:, None]
        prof = np.asarray(row_items @ profile_source)
        sim = _normalize(prof) @ _normalize(lv).T
        sim[:, counts == 0] = -np.inf
        return sim, "item text (tfidf) vectors", None
    sim = np.asarray((row_items @ label_items.T).toarray(), dtype=np.float32)
    return sim / np.maximum(sim.sum(axis=1, keepdims=True), 1.0), "history label counts", None


def _raw_ids(split: SplitData, users: np.ndarray) -> np.ndarray | None:
    """The users' original ids (``raw_id`` of the user table, indexed by dense id), when the data have them."""
    table = split.train.users
    if table is None or "raw_id" not in table.columns:
        return None
    raw_col = table["raw_id"].reindex(users)
    return np.array(["" if pd.isna(v) else str(v) for v in raw_col.tolist()], dtype=str)


def _write_npz(
    base: Path,
    users: np.ndarray,
    vectors: np.ndarray,
    labels: list[str],
    raw: np.ndarray | None,
    label_vectors: np.ndarray | None,
) -> Path:
    arrays: dict[str, np.ndarray] = {"user": users, "vectors": vectors, "labels": np.array(labels, dtype=str)}
    if raw is not None:
        arrays["raw_id"] = raw
    if label_vectors is not None:
        arrays["label_vectors"] = label_vectors
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    npz = base.parent / (base.name + ".npz")
    atomic_write_bytes(npz, buf.getvalue())
    return npz


def _write_csv(
    base: Path, users: np.ndarray, labels: list[str], raw: np.ndarray | None, top: np.ndarray, top_sim: np.ndarray
) -> Path:
    text = io.StringIO()
    w = csv.writer(text)
    kk = top.shape[1]
    w.writerow(["user", "raw_id", *[f"label_{j + 1}" for j in range(kk)], *[f"similarity_{j + 1}" for j in range(kk)]])
    for i, u in enumerate(users.tolist()):
        valid = np.isfinite(top_sim[i])
        names = [labels[j] if ok else "" for j, ok in zip(top[i].tolist(), valid, strict=True)]
        sims = [f"{v:.4f}" if ok else "" for v, ok in zip(top_sim[i].tolist(), valid, strict=True)]
        w.writerow([u, "" if raw is None else raw[i], *names, *sims])
    out_csv = base.parent / (base.name + ".csv")
    atomic_write_bytes(out_csv, text.getvalue().encode())
    return out_csv


def _text_vectors(split: SplitData) -> np.ndarray | None:
    """TF-IDF vectors of the items' text (cached), or None when the items have no text."""
    from ..text import item_texts, load_item_embeddings

    try:
        texts = item_texts(split.train.items, split.train.n_items)
    except ValueError:
        return None
    emb, _ = load_item_embeddings("tfidf", texts)
    return emb
