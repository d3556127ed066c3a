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


def _clusters(
    rng: np.random.Generator, n_users: int, n_items: int, n_clusters: int, zipf: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each user's and item's cluster, the items' popularity (Zipf over a random order) and each item's
    position along its cluster's path (the order users tend to follow)."""
    user_cluster = rng.integers(n_clusters, size=n_users)
    item_cluster = rng.permutation(np.arange(n_items) % n_clusters)
    popularity = 1.0 / (rng.permutation(n_items) + 1.0) ** float(zipf)
    path_pos = np.empty(n_items)
    for c in range(n_clusters):
        members = np.flatnonzero(item_cluster == c)
        path_pos[members] = rng.permutation(len(members)) / max(1, len(members))
    return user_cluster, item_cluster, popularity, path_pos


def _lengths(rng: np.random.Generator, n_users: int, n_items: int, n_interactions: int) -> np.ndarray:
    """History lengths: at least 5 (or every item), the rest of ``n_interactions`` spread log-normally."""
    min_len = min(5, n_items)
    extra = max(0, int(n_interactions) - min_len * n_users)
    weights = rng.lognormal(0.0, 0.75, size=n_users)
    lengths = min_len + rng.multinomial(extra, weights / weights.sum())
    return np.minimum(lengths, n_items)


def _cluster_mass(item_cluster: np.ndarray, popularity: np.ndarray, n_clusters: int, affinity: float) -> np.ndarray:
    """[clusters, items]: a cluster's users choose its own items with mass ``affinity``, by popularity."""
    mass = np.zeros((n_clusters, len(item_cluster)))
    for c in range(n_clusters):
        inside = item_cluster == c
        p_in = np.where(inside, popularity, 0.0)
        p_out = np.where(~inside, popularity, 0.0)
        m = affinity * p_in / p_in.sum()
        if p_out.sum() > 0:
            m += (1.0 - affinity) * p_out / p_out.sum()
        mass[c] = m / m.sum()
    return mass


def _interactions(
    rng: np.random.Generator,
    user_cluster: np.ndarray,
    item_cluster: np.ndarray,
    path_pos: np.ndarray,
    lengths: np.ndarray,
    mass: np.ndarray,
) -> pd.DataFrame:
    """Each user's distinct items in (noisy) path order with increasing timestamps; ratings higher inside
    the user's cluster."""
    n_users, n_items = len(user_cluster), len(item_cluster)
    users, items, stamps = [], [], []
    starts = T0 + rng.integers(0, 180 * 86400, size=n_users)
    for u in range(n_users):
        probs = mass[user_cluster[u]]
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
    return pd.DataFrame({"user": user_arr, "item": item_arr, "rating": ratings, "timestamp": np.concatenate(stamps)})


def _item_table(rng: np.random.Generator, item_cluster: np.ndarray, n_clusters: int) -> pd.DataFrame:
    """Titles, genres (the cluster's, sometimes a second) and text drawn from the cluster's own words."""
    vocab = [_words(rng, 12) for _ in range(n_clusters)]
    common = _words(rng, 20)
    texts, genres, titles = [], [], []
    for i in range(len(item_cluster)):
        c = int(item_cluster[i])
        own = rng.choice(vocab[c], size=4, replace=True)
        texts.append(f"cluster-{c} " + " ".join([*own, str(rng.choice(common))]))
        g = [f"genre-{c}"]
        if n_clusters > 1 and rng.random() < 0.2:
            g.append(f"genre-{int((c + 1 + rng.integers(n_clusters - 1)) % n_clusters)}")
        genres.append(g)
        titles.append(f"{own[0]} {own[1]} {i}")
    return pd.DataFrame(
        {"title": titles, "genres": genres, "cluster": item_cluster, "text": texts},
        index=pd.Index(np.arange(len(item_cluster)), name="item"),
    )


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
    rng = np.random.default_rng(seed)  # one generator, drawn from in this order: clusters, lengths, logs, text
    user_cluster, item_cluster, popularity, path_pos = _clusters(rng, n_users, n_items, n_clusters, zipf)
    lengths = _lengths(rng, n_users, n_items, n_interactions)
    mass = _cluster_mass(item_cluster, popularity, n_clusters, affinity)
    interactions = _interactions(rng, user_cluster, item_cluster, path_pos, lengths, mass)
    items_table = _item_table(rng, item_cluster, n_clusters)
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
