"""EASE^R: a closed-form linear item-item autoencoder."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from scipy.linalg import get_lapack_funcs

from ..interactions import Batch, Interactions
from ..recommender import Recommender, Validator
from ..registry import ConfigError, register_baseline
from ._common import make_config, rows_times_dense

logger = logging.getLogger(__name__)

__all__ = ["EASE", "EASEConfig", "ease_weights"]


@dataclasses.dataclass
class EASEConfig:
    """Parameters of :class:`EASE`."""

    l2: float = 500.0
    """L2 regularisation lambda added to the diagonal of the Gram matrix."""
    dtype: str = "float64"
    """Precision of the solve: "float64" (default, robust) or "float32" (half the memory, faster)."""
    max_items: int = 40_000
    """Refuse catalogues with more items: the model is a dense n_items x n_items matrix."""


def _gram(x: sp.csr_matrix, dtype: np.dtype, block_floats: int = 1 << 23) -> np.ndarray:
    """Dense ``X^T X`` built in column blocks (no sparse n^2 intermediate)."""
    x = sp.csr_matrix(x, dtype=dtype)
    n = x.shape[1]
    xt = x.T.tocsr()
    g = np.empty((n, n), dtype=dtype)
    step = max(1, min(n, block_floats // max(1, n)))
    for start in range(0, n, step):
        g[:, start : start + step] = (xt @ x[:, start : start + step]).toarray()
    return g


def ease_weights(x: sp.spmatrix, l2: float, dtype: str = "float64") -> np.ndarray:
    """The EASE^R weight matrix ``B`` of a user x item matrix ``x`` (scipy sparse).

    ``P = (X^T X + l2 I)^-1``, ``B_ij = -P_ij / P_jj`` off the diagonal and ``B_jj = 0``
    (Steck 2019, eq. 8). The inverse comes from an in-place LAPACK Cholesky factorisation
    (``potrf`` + ``potri``), so the peak memory is one dense ``n x n`` matrix in ``dtype`` plus
    the float32 result. Returned as float32 numpy [n, n].
    """
    g = _gram(x, np.dtype(dtype))
    n = g.shape[0]
    g[np.diag_indices(n)] += l2
    potrf, potri = get_lapack_funcs(("potrf", "potri"), (g,))
    # g is symmetric, so its transpose (a Fortran-ordered view of the same memory) is g itself
    chol, info = potrf(g.T, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"ease: Cholesky factorisation failed (info={info}); increase l2")
    inv, info = potri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"ease: inversion failed (info={info}); increase l2")
    p = inv.T  # C-ordered view: its lower triangle holds the inverse; mirror it to the upper one
    step = max(1, min(n, (1 << 22) // max(1, n)))
    for r0 in range(0, n, step):
        r1 = min(r0 + step, n)
        diag = p[r0:r1, r0:r1]
        diag[...] = np.tril(diag) + np.tril(diag, -1).T
        p[r0:r1, r1:] = p[r1:, r0:r1].T
    scale = -1.0 / np.diag(p).copy()
    p *= scale[None, :]
    p[np.diag_indices(n)] = 0.0
    return p.astype(np.float32, copy=False)


@register_baseline(
    "ease",
    config=EASEConfig,
    search_space={"l2": ("float", 1.0, 10_000.0, "log")},
    paper="Steck, Embarrassingly Shallow Autoencoders for Sparse Data, WWW 2019",
    tags=("baseline", "linear", "closed-form", "non-neural"),
)
class EASE(Recommender):
    """EASE^R: item-item weights ``B`` with zero diagonal, solved in closed form; score = history @ B.

    Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019. Binary
    interactions; the inverse of ``X^T X + l2 I`` comes from an in-place Cholesky factorisation
    in ``dtype`` (the paper calls a generic inverse; same result, a third of the memory). The dense ``n_items^2`` matrix limits the
    catalogue to ``max_items`` items; larger ones raise :class:`ssl4rec.registry.ConfigError`
    before any allocation. Cold users are scored from their revealed history.
    """

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.config = make_config(EASEConfig, params, "baseline 'ease'")
        if self.config.dtype not in ("float32", "float64"):
            raise ConfigError(f"ease: dtype must be 'float32' or 'float64', got {self.config.dtype!r}")
        self.weights: np.ndarray | None = None

    def fit(self, train: Interactions, valid: Validator | None = None) -> EASE:
        c = self.config
        if train.n_items > c.max_items:
            gib = train.n_items**2 * (8 if c.dtype == "float64" else 4) / 2**30
            raise ConfigError(
                f"ease: the catalogue has {train.n_items} items, above max_items={c.max_items}; EASE needs a "
                f"dense {train.n_items} x {train.n_items} matrix (~{gib:.1f} GiB per copy in {c.dtype}). "
                "Raise max_items if the machine has the memory, or use 'itemknn' for large catalogues."
            )
        t0 = time.perf_counter()
        self._remember_train(train)
        self.weights = ease_weights(train.csr, c.l2, c.dtype)
        secs = time.perf_counter() - t0
        self.fit_info = {"epochs_run": 0, "fit_seconds": secs}
        logger.info("ease: solved %d items in %.2fs", train.n_items, secs)
        return self

    def score(self, batch: Batch) -> torch.Tensor:
        if self.weights is None:
            raise RuntimeError("ease: call fit() before score()")
        return rows_times_dense(batch.matrix(), torch.from_numpy(self.weights))
