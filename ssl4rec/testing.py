"""Tiny in-code data for tests and conformance checks (no files, no network)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .interactions import Interactions, SplitData


def tiny_frame(n_users: int = 40, n_items: int = 30, per_user: int = 8, seed: int = 0) -> pd.DataFrame:
    """A log with planted structure: two user groups prefer two item halves, items in a
    group are visited in a fixed cyclic order (so sequence models can learn it)."""
    rng = np.random.default_rng(seed)
    rows = []
    half = n_items // 2
    for u in range(n_users):
        base = 0 if u % 2 == 0 else half
        start = int(rng.integers(half))
        for t in range(per_user):
            item = base + (start + t) % half
            rows.append((u, item, float(rng.integers(1, 6)), 1_000 + 10 * t + u))
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


def tiny_items(n_items: int = 30, attributes: bool = False) -> pd.DataFrame:
    """Item side table: titles, genres and text by half (space / love); ``attributes``: S3-Rec-style
    attribute ids too (1 or 2 by half, plus one of 3..5)."""
    half = n_items // 2
    out = pd.DataFrame(
        {
            "raw_id": [str(i) for i in range(n_items)],
            "title": [f"{'space' if i < half else 'love'} movie {i}" for i in range(n_items)],
            "genres": [["Sci-Fi"] if i < half else ["Romance"] for i in range(n_items)],
            "text": [f"{'space robots galaxy' if i < half else 'love romance wedding'} movie {i}" for i in range(n_items)],
        }
    )
    if attributes:
        out["attributes"] = [[1 if i < half else 2, 3 + i % 3] for i in range(n_items)]
    return out


def tiny_split(
    n_users: int = 40, n_items: int = 30, per_user: int = 8, seed: int = 0, attributes: bool = False
) -> SplitData:
    """Leave-one-out split of :func:`tiny_frame`: last item test, second-to-last valid."""
    df = tiny_frame(n_users, n_items, per_user, seed)
    df = df.sort_values(["user", "timestamp"], kind="stable")
    pos = df.groupby("user").cumcount(ascending=False).to_numpy()
    items = tiny_items(n_items, attributes)
    users = pd.DataFrame({"raw_id": [str(u) for u in range(n_users)]})
    train = Interactions(df[pos >= 2], n_users, n_items, items=items, users=users)
    return SplitData(
        train=train,
        valid=df[pos == 1].reset_index(drop=True),
        test=df[pos == 0].reset_index(drop=True),
        info={"name": "tiny_leave_one_out", "seed": seed},
    )
