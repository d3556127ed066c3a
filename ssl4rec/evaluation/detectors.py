"""Fake-profile detectors (issue 25, track 2) and how well they find an attack's fake users.

Detectors score every training user (higher = more suspicious) from the training interactions alone:

* ``rdma``: Rating Deviation from Mean Agreement (Chirita et al., WIDM 2005) for implicit feedback: a
  profile's mean of 1 / item popularity; fillers drawn at random or from the long tail, and targets
  pushed from obscurity, make it high;
* ``degsim``: degree of similarity with the top-k neighbours (Chirita et al.): the mean Jaccard
  similarity of a profile with its k most similar profiles; fake profiles built by one rule resemble
  each other more than genuine users do;
* ``svd``: reconstruction error of a profile under a rank-r truncated SVD of the user-item matrix
  (a representation-based detector: profiles the dominant taste directions explain poorly);
* ``ssl_vectors``: a self-supervised model (default CL4SRec) trained on the attacked data, its user
  representations scored by an isolation forest, the distance to k-means prototypes, or their
  similarity with their nearest neighbours.

:func:`detection_metrics` scores suspicion scores against the fake ids an attacked split recorded:
ROC AUC, and precision / recall when flagging as many users as there are fakes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..interactions import Interactions
from ..registry import ConfigError, register_detector

__all__ = ["detection_metrics"]


def _binary(train: Interactions) -> sp.csr_matrix:
    m = train.csr.tocsr().astype(np.float64)
    m.data[:] = 1.0
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


@register_detector(
    "rdma", summary="Mean inverse popularity of a profile's items (RDMA for implicit feedback).", tags=("shilling",)
)
def rdma(train: Interactions) -> np.ndarray:
    m = _binary(train)
    pop = np.asarray(m.sum(0)).ravel()
    inv = np.divide(1.0, pop, out=np.zeros_like(pop), where=pop > 0)
    length = np.asarray(m.sum(1)).ravel()
    return np.divide(m @ inv, length, out=np.zeros(m.shape[0]), where=length > 0)


@register_detector(
    "degsim", summary="Mean Jaccard similarity with the k most similar profiles (DegSim).", tags=("shilling",)
)
def degsim(train: Interactions, k: int = 10) -> np.ndarray:
    if int(k) < 1:
        raise ConfigError(f"detector degsim: k = {k}, the number of neighbours, must be >= 1")
    m = _binary(train)
    inter = (m @ m.T).toarray()
    length = np.asarray(m.sum(1)).ravel()
    union = length[:, None] + length[None, :] - inter
    jac = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    np.fill_diagonal(jac, -np.inf)
    k = min(int(k), max(1, m.shape[0] - 1))
    top = -np.sort(-jac, axis=1)[:, :k]
    top[~np.isfinite(top)] = 0.0
    return top.mean(1)


@register_detector(
    "svd", summary="Reconstruction error under a rank-r truncated SVD of the user-item matrix.", tags=("shilling",)
)
def svd_error(train: Interactions, rank: int = 16, seed: int = 0) -> np.ndarray:
    from scipy.sparse.linalg import svds

    m = _binary(train)
    r = min(int(rank), min(m.shape) - 1)
    if r < 1:
        raise ConfigError(f"detector svd: rank = {rank} must be >= 1 and below the matrix's smaller side")
    u, s, vt = svds(m, k=r, random_state=seed)
    recon = (u * s) @ vt
    dense = m.toarray()
    length = np.maximum(1.0, dense.sum(1))
    return ((dense - recon) ** 2).sum(1) / length


DETECTION_METHODS = ("isolation_forest", "prototypes", "neighbour_similarity")


@register_detector(
    "ssl_vectors",
    summary="Suspicion from a self-supervised model's user representations (isolation forest, k-means prototypes or neighbour similarity).",
    tags=("shilling", "ssl"),
)
def ssl_vectors(
    train: Interactions,
    model: str = "cl4srec",
    method: str = "neighbour_similarity",
    epochs: int = 10,
    k: int = 10,
    seed: int = 0,
    max_len: int = 50,
) -> np.ndarray:
    """Train the SSL preset ``model`` on the (attacked) training part for ``epochs`` epochs, no validation,
    then score each user's representation (``user_vectors``, the vector the model ranks with, unit rows):

    * ``isolation_forest``: the isolation forest's anomaly score (Liu et al., ICDM 2008);
    * ``prototypes``: distance to the nearest of ``k`` k-means prototypes (ICLRec-style intents);
    * ``neighbour_similarity``: mean cosine similarity with the ``k`` most similar users (DegSim in the
      learned space: profiles made by one rule land together).
    """
    import torch

    from ..interactions import Batch
    from ..ssl.presets import build_preset

    if method not in DETECTION_METHODS:
        raise ConfigError(f"detector ssl_vectors: method {method!r} is not one of {list(DETECTION_METHODS)}")
    if int(k) < 1 or int(epochs) < 1:
        raise ConfigError(f"detector ssl_vectors: k = {k} and epochs = {epochs} must be >= 1")
    net = build_preset(model, epochs=int(epochs), seed=int(seed), max_len=int(max_len))
    net.fit(train)
    users = torch.arange(train.n_users)
    vec = torch.cat([net.user_vectors(Batch(users[i : i + 1024], train)) for i in range(0, train.n_users, 1024)])
    x = torch.nn.functional.normalize(vec.float(), dim=1).cpu().numpy().astype(np.float64)
    if method == "isolation_forest":
        try:
            from sklearn.ensemble import IsolationForest
        except ImportError as exc:
            raise ConfigError(
                "detector ssl_vectors: method isolation_forest needs scikit-learn (pip install scikit-learn, "
                "or 'ssl4rec[text]'); prototypes and neighbour_similarity need nothing more"
            ) from exc
        return -IsolationForest(random_state=int(seed)).fit(x).score_samples(x)
    if method == "prototypes":  # the k-means of ICLRec's intents (torch, seeded)
        from ..ssl.kmeans import kmeans

        t = torch.from_numpy(x).float()
        centroids, assign, _ = kmeans(t, int(k), torch.Generator().manual_seed(int(seed)))
        return (t - centroids[assign]).norm(dim=1).double().numpy()
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    kk = min(int(k), max(1, len(x) - 1))
    return -np.sort(-sim, axis=1)[:, :kk].mean(1)


def detection_metrics(scores: np.ndarray, fake_users: list[int] | np.ndarray) -> dict[str, Any]:
    """ROC AUC of the suspicion scores for the fake users, and precision / recall of flagging the
    ``len(fake_users)`` most suspicious users (ties broken by user id)."""
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=np.float64)
    fake = np.zeros(len(scores), dtype=bool)
    fake[np.asarray(fake_users, dtype=np.int64)] = True
    n_pos, n_neg = int(fake.sum()), int((~fake).sum())
    if n_pos == 0 or n_neg == 0:
        raise ConfigError("detection metrics need both fake and genuine users")
    ranks = rankdata(scores)  # average ranks: ties count half
    auc = (ranks[fake].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    flagged = np.lexsort((np.arange(len(scores)), -scores))[:n_pos]
    tp = int(fake[flagged].sum())
    return {"auc": float(auc), "precision": tp / n_pos, "recall": tp / n_pos, "flagged": n_pos, "fakes": n_pos}
