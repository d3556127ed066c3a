"""The protocol every model meets, and the shared training loop.

Every model, baseline or SSL::

    model.fit(train, valid=None)        # early stopping on valid, progress bar
    model.score(batch) -> Tensor[B, n_items]   # higher is better

``valid`` is a :class:`Validator`: anything with ``evaluate(model) -> float`` (higher is
better) and ``report(epoch, value)`` (a hook for tracking and Optuna pruning, which may
raise to stop training).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from .interactions import Batch, Interactions

logger = logging.getLogger(__name__)


class Validator(Protocol):
    """Validation hook passed to :meth:`Recommender.fit`."""

    metric: str

    def evaluate(self, model: Recommender) -> float: ...

    def report(self, epoch: int, value: float, logs: dict[str, float] | None = None) -> None: ...


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Recommender:
    """Base class of all models.

    Subclasses set ``can_score_cold_items`` to True only when they score items with no
    training interaction from something other than a random initialisation (text,
    attributes). The evaluator gives unscorable items ``-inf`` and the leaderboard says so.
    """

    can_score_cold_items: bool = False
    #: "sequence" models read ordered histories; "bag" models read sets.
    input_kind: str = "bag"

    def __init__(self) -> None:
        self.fit_info: dict[str, Any] = {}
        self.n_items = 0
        self._train_items: np.ndarray | None = None

    def fit(self, train: Interactions, valid: Validator | None = None) -> Recommender:
        raise NotImplementedError

    def score(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def _remember_train(self, train: Interactions) -> None:
        self.n_items = train.n_items
        self._train_items = np.flatnonzero(train.item_counts > 0)

    def scorable_items(self) -> np.ndarray | None:
        """Item ids this model can rank meaningfully; ``None`` means all items."""
        if self.can_score_cold_items or self._train_items is None:
            return None
        return self._train_items


def train_loop(
    model: Recommender,
    *,
    epochs: int,
    run_epoch: Callable[[int], float],
    module: torch.nn.Module | None,
    valid: Validator | None,
    patience: int = 5,
    eval_every: int = 1,
    desc: str = "train",
) -> dict[str, Any]:
    """Run ``epochs`` epochs with early stopping on ``valid``; restore the best epoch.

    Args:
        model: the recommender (passed to ``valid.evaluate``).
        epochs: maximum number of epochs.
        run_epoch: trains one epoch, returns its mean loss.
        module: the torch module whose ``state_dict`` is checkpointed at the best epoch.
        valid: validator, or None to train all epochs.
        patience: evaluations without improvement before stopping.
        eval_every: evaluate every this many epochs.
        desc: progress bar label.

    Returns:
        ``fit_info``: epochs run, best epoch and score, per-epoch losses, validation curve,
        seconds per epoch.
    """
    info: dict[str, Any] = {"losses": [], "valid": [], "epoch_seconds": []}
    best, best_epoch, best_state, waited = -math.inf, 0, None, 0
    bar = tqdm(range(epochs), desc=desc, leave=False, dynamic_ncols=True)
    for epoch in bar:
        t0 = time.perf_counter()
        if module is not None:
            module.train()
        loss = float(run_epoch(epoch))
        info["epoch_seconds"].append(time.perf_counter() - t0)
        info["losses"].append(loss)
        number = epoch + 1  # epochs are counted from 1 everywhere: progress bar, logs, records, trackers
        if not math.isfinite(loss):
            raise FloatingPointError(f"{desc}: loss became {loss} in epoch {number}")
        post = {"loss": f"{loss:.4f}"}
        if valid is not None and (number % eval_every == 0 or number == epochs):
            if module is not None:
                module.eval()
            value = float(valid.evaluate(model))
            info["valid"].append((number, value))
            post[valid.metric] = f"{value:.4f}"
            valid.report(number, value, {"loss": loss})
            if value > best:
                best, best_epoch, waited = value, number, 0
                if module is not None:
                    best_state = copy.deepcopy(module.state_dict())
            else:
                waited += 1
                if waited >= patience:
                    bar.set_postfix(post)
                    logger.info(
                        "%s: early stop after epoch %d of %d (best %s=%.4f in epoch %d)",
                        desc,
                        number,
                        epochs,
                        valid.metric,
                        best,
                        best_epoch,
                    )
                    break
        bar.set_postfix(post)
    bar.close()
    if best_state is not None and module is not None:
        module.load_state_dict(best_state)
    if module is not None:
        module.eval()
    info.update(
        epochs_run=len(info["losses"]),
        best_epoch=best_epoch if best_epoch > 0 else None,
        best_valid=best if best_epoch > 0 else None,
        epochs_from=1,  # records before this field counted valid / best_epoch from 0
        seconds_per_epoch=float(np.mean(info["epoch_seconds"])) if info["epoch_seconds"] else 0.0,
    )
    return info
