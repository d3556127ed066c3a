"""A seeded synthetic dataset with planted structure, for tests, demos and sanity checks.

Planted structure (all deterministic in ``seed``):

* users and items belong to ``n_clusters`` clusters; a user picks items of its own cluster with
  probability ``affinity`` and any other item otherwise;
* popularity is Zipf-skewed (exponent ``zipf``) within those choices;
* each cluster has an item order and users visit their items roughly in that order, with
  increasing timestamps, so sequence models have a next-item signal;
* in-cluster interactions get higher ratings (3-5) than out-of-cluster ones (1-4);
* item text is ``"cluster-3 <words of cluster 3> ..."``, genres ``["genre-3", ...]``, and the
  ground-truth ``cluster`` is a column of both side tables.

It goes through the same pipeline (preprocessing, dense ids, info) as real data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..registry import ConfigError, register_dataset
from .base import RawData

__all__ = ["load_synthetic"]

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su", "da", "fo", "gi", "ho", "ju", "be")
T0 = 1_600_000_000  # 2020-09-13, unix seconds


def _words(rng: np.random.Generator, n: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        k = int(rng.integers(2, 4))
        w = "".join(_SYLLABLES[j] for j in rng.integers(len(_SYLLABLES), size=k))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def _check_params(n_users: int, n_items: int, n_clusters: int, zipf: float, affinity: float) -> None:
    for key, value, low in (("n_users", n_users, 1), ("n_items", n_items, 2), ("n_clusters", n_clusters, 1)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise ConfigError(f"synthetic: {key} must be an integer >= {low}, got {value!r}")
    if n_clusters > n_items:
        raise ConfigError(f"synthetic: n_clusters ({n_clusters}) cannot exceed n_items ({n_items})")
    if not 0.0 <= float(affinity) <= 1.0:
        raise ConfigError(f"synthetic: affinity must be in [0, 1], got {affinity!r}")
    if float(zipf) < 0:
        raise ConfigError(f"synthetic: zipf must be >= 0, got {zipf!r}")


def load_synthetic(
    root: Path,
    *,
    n_users: int = 500,
    n_items: int = 300,
    n_interactions: int = 15000,
    n_clusters: int = 5,
    zipf: float = 1.0,
    affinity: float = 0.8,
    seed: int = 0,
) -> RawData:
    """Seeded synthetic interactions with user/item clusters, popularity skew, order and text.

    Args:
        root: unused (no files).
        n_users: number of users (each gets at least 5 interactions).
        n_items: number of items.
        n_interactions: target number of interactions (approximate: a user cannot interact with
            more than ``n_items`` distinct items).
        n_clusters: number of user / item clusters.
        zipf: popularity skew exponent (0 = uniform).
        affinity: probability mass a user puts on its own cluster's items.
        seed: random seed.
    """
    del root
    _check_params(n_users, n_items, n_clusters, zipf, affinity)
    rng = np.random.default_rng(seed)

    user_cluster = rng.integers(n_clusters, size=n_users)
    item_cluster = rng.permutation(np.arange(n_items) % n_clusters)
    popularity = 1.0 / (rng.permutation(n_items) + 1.0) ** float(zipf)
    # position of each item along its cluster's path (the order users tend to follow)
    path_pos = np.empty(n_items)
    for c in range(n_clusters):
        members = np.flatnonzero(item_cluster == c)
        path_pos[members] = rng.permutation(len(members)) / max(1, len(members))

    min_len = min(5, n_items)
    extra = max(0, int(n_interactions) - min_len * n_users)
    weights = rng.lognormal(0.0, 0.75, size=n_users)
    lengths = min_len + rng.multinomial(extra, weights / weights.sum())
    lengths = np.minimum(lengths, n_items)

    cluster_mass = np.zeros((n_clusters, n_items))
    for c in range(n_clusters):
        inside = item_cluster == c
        p_in = np.where(inside, popularity, 0.0)
        p_out = np.where(~inside, popularity, 0.0)
        mass = affinity * p_in / p_in.sum()
        if p_out.sum() > 0:
            mass += (1.0 - affinity) * p_out / p_out.sum()
        cluster_mass[c] = mass / mass.sum()

    users, items, stamps = [], [], []
    starts = T0 + rng.integers(0, 180 * 86400, size=n_users)
    for u in range(n_users):
        probs = cluster_mass[user_cluster[u]]
        n_u = int(min(lengths[u], np.count_nonzero(probs)))
        chosen = rng.choice(n_items, size=n_u, replace=False, p=probs)
        chosen = chosen[np.argsort(path_pos[chosen] + rng.normal(0.0, 0.1, size=n_u), kind="stable")]
        gaps = rng.integers(60, 3 * 86400, size=n_u)
        users.append(np.full(n_u, u))
        items.append(chosen)
        stamps.append(starts[u] + np.cumsum(gaps))
    user_arr = np.concatenate(users)
    item_arr = np.concatenate(items)
    inside = item_cluster[item_arr] == user_cluster[user_arr]
    ratings = np.where(
        inside,
        rng.choice([3.0, 4.0, 5.0], size=len(item_arr), p=[0.2, 0.4, 0.4]),
        rng.choice([1.0, 2.0, 3.0, 4.0], size=len(item_arr), p=[0.3, 0.3, 0.3, 0.1]),
    )
    interactions = pd.DataFrame(
        {"user": user_arr, "item": item_arr, "rating": ratings, "timestamp": np.concatenate(stamps)}
    )

    vocab = [_words(rng, 12) for _ in range(n_clusters)]
    common = _words(rng, 20)
    texts, genres, titles = [], [], []
    for i in range(n_items):
        c = int(item_cluster[i])
        own = rng.choice(vocab[c], size=4, replace=True)
        texts.append(f"cluster-{c} " + " ".join([*own, str(rng.choice(common))]))
        g = [f"genre-{c}"]
        if n_clusters > 1 and rng.random() < 0.2:
            g.append(f"genre-{int((c + 1 + rng.integers(n_clusters - 1)) % n_clusters)}")
        genres.append(g)
        titles.append(f"{own[0]} {own[1]} {i}")
    items_table = pd.DataFrame(
        {"title": titles, "genres": genres, "cluster": item_cluster, "text": texts},
        index=pd.Index(np.arange(n_items), name="item"),
    )
    users_table = pd.DataFrame({"cluster": user_cluster}, index=pd.Index(np.arange(n_users), name="user"))
    return RawData(
        interactions=interactions,
        items=items_table,
        users=users_table,
        files=[],
        info={"synthetic": True},
    )


register_dataset(
    "synthetic",
    summary="Seeded synthetic data with planted clusters, Zipf popularity, sequential order and item text",
    files=[],
    url="",
    homepage="",
    citation="",
    tags=("synthetic", "explicit", "timestamps", "text"),
    version="1",
)(load_synthetic)
