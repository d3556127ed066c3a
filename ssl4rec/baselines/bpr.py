"""BPR-MF: matrix factorisation trained with the Bayesian Personalised Ranking loss."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..interactions import Batch, Interactions
from ..recommender import Recommender, Validator, default_device, train_loop
from ..registry import register_baseline
from ._common import batch_users, make_config

logger = logging.getLogger(__name__)

__all__ = ["BPR", "BPRConfig", "sample_negatives"]

#: Rounds of re-drawing negatives that hit a training item; survivors of all rounds are kept.
_RESAMPLE_ROUNDS = 10


@dataclasses.dataclass
class BPRConfig:
    """Parameters of :class:`BPR`."""

    embedding_size: int = 64
    """Dimension of the user and item embeddings."""
    epochs: int = 300
    """Maximum number of epochs (each visits every training (user, item) pair once)."""
    batch_size: int = 2048
    """(user, positive, negative) triples per optimiser step."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 1e-5
    """L2 penalty on the embeddings in the batch: ``weight_decay * (|u|^2 + |i|^2 + |j|^2) / batch``."""
    patience: int = 10
    """Validation evaluations without improvement before early stopping."""
    eval_every: int = 1
    """Evaluate on the validator every this many epochs."""
    seed: int = 0
    """Seed of the initialisation, shuffling and negative sampling."""


class MF(nn.Module):
    """User and item embedding tables; score = dot product."""

    def __init__(self, n_users: int, n_items: int, dim: int, generator: torch.Generator) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        nn.init.xavier_normal_(self.user.weight, generator=generator)
        nn.init.xavier_normal_(self.item.weight, generator=generator)


def sample_negatives(
    users: torch.Tensor, n_items: int, known: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Uniform negative items for ``users``, re-drawn when they hit a known (user, item) pair.

    Args:
        users: LongTensor [N] of user ids.
        n_items: size of the catalogue to draw from.
        known: sorted LongTensor of known pair keys ``user * n_items + item``.
        generator: the random source.

    Returns:
        LongTensor [N]. Up to ``_RESAMPLE_ROUNDS`` re-draws are made; a draw still colliding
        after that is kept (only users who interacted with almost every item get any).
    """
    neg = torch.randint(n_items, users.shape, generator=generator)
    todo = torch.arange(len(users))
    for round_ in range(_RESAMPLE_ROUNDS + 1):
        if len(todo) == 0 or len(known) == 0:
            break
        keys = users[todo] * n_items + neg[todo]
        pos = torch.searchsorted(known, keys).clamp_(max=len(known) - 1)
        todo = todo[known[pos] == keys]
        if len(todo) and round_ < _RESAMPLE_ROUNDS:
            neg[todo] = torch.randint(n_items, todo.shape, generator=generator)
    return neg


@register_baseline(
    "bpr",
    config=BPRConfig,
    search_space={
        "embedding_size": ("categorical", [32, 64, 128, 256]),
        "learning_rate": ("float", 1e-4, 1e-2, "log"),
        "weight_decay": ("float", 1e-7, 1e-2, "log"),
    },
    paper="Rendle et al., BPR: Bayesian Personalized Ranking from Implicit Feedback, UAI 2009",
    tags=("baseline", "matrix-factorization", "neural"),
)
class BPR(Recommender):
    """Matrix factorisation trained with the pairwise BPR loss, negatives drawn uniformly.

    Rendle, Freudenthaler, Gantner and Schmidt-Thieme, "BPR: Bayesian Personalized Ranking
    from Implicit Feedback", UAI 2009. Deviations, as in RecBole's BPR: Adam instead of
    SGD with bootstrap sampling; each epoch shuffles every distinct training (user, item)
    pair once and pairs it with one uniform negative (re-drawn when it hits one of the
    user's training items, up to 10 rounds, after which a rare collision is allowed);
    Xavier-normal initialisation; no item bias. The L2 penalty acts on the embeddings of the
    batch only. Early stopping on the validator with ``patience``; the best epoch is restored.

    Cold users (absent from train) have no learned embedding: they are folded in as the mean
    embedding of the items in their revealed history that were seen in training (all-zero
    scores for an empty history).
    """

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.config = make_config(BPRConfig, params, "baseline 'bpr'")
        self.device = default_device()
        self.module: MF | None = None
        self._train_users: np.ndarray | None = None
        self._seen_items: np.ndarray | None = None

    def fit(self, train: Interactions, valid: Validator | None = None) -> BPR:
        c = self.config
        self._remember_train(train)
        gen = torch.Generator().manual_seed(int(c.seed))
        self.module = MF(train.n_users, train.n_items, c.embedding_size, gen).to(self.device)
        self._train_users = train.user_counts > 0
        self._seen_items = np.zeros(train.n_items, dtype=np.float32)
        self._seen_items[self._train_items] = 1.0

        x = train.csr
        users = torch.from_numpy(np.repeat(np.arange(train.n_users), np.diff(x.indptr)).astype(np.int64))
        items = torch.from_numpy(x.indices.astype(np.int64))
        known = torch.sort(users * train.n_items + items).values  # for searchsorted
        n = len(users)
        # foreach: the same updates as torch's default single-tensor Adam on the CPU, bit for bit
        # (checked), in fewer kernel calls
        opt = torch.optim.Adam(self.module.parameters(), lr=c.learning_rate, foreach=True)
        module, device = self.module, self.device
        from ..running.devices import GradScaler, autocast

        precision = getattr(self, "precision", "fp32")
        scaler = GradScaler(device, precision)

        def run_epoch(epoch: int) -> float:
            perm = torch.randperm(n, generator=gen)
            u_all, i_all = users[perm], items[perm]
            j_all = sample_negatives(u_all, train.n_items, known, gen)
            total = 0.0
            for s in range(0, n, c.batch_size):
                with autocast(device, precision):  # fp32: no-op
                    u = module.user(u_all[s : s + c.batch_size].to(device))
                    i = module.item(i_all[s : s + c.batch_size].to(device))
                    j = module.item(j_all[s : s + c.batch_size].to(device))
                    diff = (u * (i - j)).sum(-1)
                    loss = -F.logsigmoid(diff.float()).mean()
                    if c.weight_decay:
                        loss = loss + c.weight_decay * (u.pow(2).sum() + i.pow(2).sum() + j.pow(2).sum()).float() / len(u)
                opt.zero_grad(set_to_none=True)
                scaler.step(loss, opt)
                total += float(loss.detach()) * len(u)
            return total / max(1, n)

        self.fit_info = train_loop(
            self,
            epochs=c.epochs,
            run_epoch=run_epoch,
            module=self.module,
            valid=valid,
            patience=c.patience,
            eval_every=c.eval_every,
            desc="bpr",
            state={"optimizer": opt, "generator": gen},
        )
        return self

    @torch.no_grad()
    def user_vectors(self, batch: Batch) -> torch.Tensor:
        """The users' vectors ``[B, d]`` that :meth:`score` multiplies with :meth:`item_vectors`
        (a user without training interactions: the mean of their known items' vectors)."""
        return self._user_matrix(batch).detach()

    def item_vectors(self) -> torch.Tensor:
        """The item vectors ``[n_items, d]``."""
        if self.module is None:
            raise RuntimeError("bpr: call fit() first")
        return self.module.item.weight.detach()

    @torch.no_grad()
    def score(self, batch: Batch) -> torch.Tensor:
        return self._user_matrix(batch) @ self.module.item.weight.T

    def _user_matrix(self, batch: Batch) -> torch.Tensor:
        if self.module is None or self._train_users is None:
            raise RuntimeError("bpr: call fit() before score()")
        ids = batch_users(batch)
        item_emb = self.module.item.weight
        user_emb = self.module.user.weight[torch.from_numpy(ids).to(self.device)]
        cold = ~self._train_users[ids]
        if cold.any():
            rows = np.flatnonzero(cold)
            x = batch.matrix()[rows].multiply(self._seen_items[None, :]).tocsr()
            counts = np.maximum(np.asarray(x.sum(axis=1)).ravel(), 1.0)
            folded = (x @ item_emb.detach().cpu().numpy()) / counts[:, None]
            user_emb[torch.from_numpy(rows).to(self.device)] = torch.from_numpy(folded.astype(np.float32)).to(
                self.device
            )
        return user_emb
