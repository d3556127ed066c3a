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
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
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


class Checkpointer:
    """Where a cell's training checkpoints go, and how often (``run --checkpoint-every N``).

    The runner attaches one to a model (``model.checkpointer``) before ``fit``; :func:`train_loop`
    then saves, every ``every`` epochs, everything the rest of the phase depends on: the module's
    parameters and buffers, the optimiser, the batching / sampling generators, torch's generator, the
    loss and validation curves and the early-stopping state (best value, epoch, weights, patience
    used). A phase that finds its checkpoint resumes after the saved epoch and ends, on the CPU, with
    the same weights bit for bit as an uninterrupted run. Files sit beside the record the cell will
    write: ``<record>.<phase>.ckpt.pt`` (loaded with ``weights_only=True``) and ``<record>.progress``
    (the curves so far, rewritten every epoch: readable while the cell runs); the runner deletes them
    once the record is written.
    """

    def __init__(self, base: str | Path, every: int = 1) -> None:
        self.base = Path(base)
        self.every = max(1, int(every))

    def path(self, phase: str) -> Path:
        tag = "".join(c if c.isalnum() or c in "-_" else "_" for c in phase) or "train"
        return self.base.with_name(f"{self.base.name}.{tag}.ckpt.pt")

    @property
    def progress_path(self) -> Path:
        from .reporting.records import progress_file

        return progress_file(self.base)

    def load(self, phase: str) -> dict[str, Any] | None:
        path = self.path(phase)
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001  (a damaged checkpoint is never trusted: train again)
            logger.warning("unreadable checkpoint %s (%s): this phase starts from its first epoch", path, exc)
            return None

    def save(self, phase: str, payload: dict[str, Any]) -> None:
        import io

        from .reporting.records import atomic_write_bytes

        buf = io.BytesIO()
        torch.save(payload, buf)
        atomic_write_bytes(self.path(phase), buf.getvalue())

    def progress(self, phase: str, epochs: int, info: dict[str, Any]) -> None:
        import json

        from .reporting.records import atomic_write_bytes

        body = {"phase": phase, "epochs": epochs, "epochs_done": len(info["losses"]), "losses": info["losses"]}
        body["valid"] = info["valid"]
        body["epoch_seconds"] = info["epoch_seconds"]  # this process's epochs (a resumed fit's earlier ones too)
        atomic_write_bytes(self.progress_path, json.dumps(body).encode())

    def clear(self) -> None:
        """Remove this cell's checkpoints and progress file (its record is written)."""
        from .reporting.records import checkpoint_files

        for p in checkpoint_files(self.base):
            p.unlink(missing_ok=True)
        self.progress_path.unlink(missing_ok=True)


def _state_of(obj: Any) -> Any:
    return obj.get_state() if isinstance(obj, torch.Generator) else obj.state_dict()


def _restore(obj: Any, state: Any) -> None:
    if isinstance(obj, torch.Generator):
        obj.set_state(state)
    else:
        obj.load_state_dict(state)


@dataclasses.dataclass
class _Stopping:
    """Early-stopping state of :func:`train_loop`: the best validation value, its epoch (counted from 1;
    0 = none yet), the module's weights there and the validations since without a better value."""

    best: float = -math.inf
    best_epoch: int = 0
    best_state: dict[str, Any] | None = None
    waited: int = 0

    def update(self, value: float, number: int, module: torch.nn.Module | None, patience: int) -> bool:
        """Take epoch ``number``'s validation ``value``; True when ``patience`` validations passed without a better one."""
        if value > self.best:
            self.best, self.best_epoch, self.waited = value, number, 0
            if module is not None:
                self.best_state = copy.deepcopy(module.state_dict())
            return False
        self.waited += 1
        return self.waited >= patience


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
    state: dict[str, Any] | None = None,
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
        desc: progress bar label (and the checkpoint's phase name).
        state: what else the epochs advance, by name: optimisers (``state_dict``) and
            ``torch.Generator`` s; saved and restored with the module when ``model.checkpointer``
            is set (see :class:`Checkpointer`).

    Returns:
        ``fit_info``: epochs run, best epoch and score, per-epoch losses, validation curve,
        seconds per epoch.
    """
    # segment_seconds: wall seconds of this loop in each process that ran it (a resumed fit has several;
    # an earlier process's entry ends at its last checkpoint)
    info: dict[str, Any] = {"losses": [], "valid": [], "epoch_seconds": [], "segment_seconds": []}
    stop = _Stopping()
    state = dict(state or {})
    ck: Checkpointer | None = getattr(model, "checkpointer", None)
    start, began = 0, time.perf_counter()
    saved = ck.load(desc) if ck is not None else None
    if saved is not None:
        start, info, stop = _resume(saved, module, state, valid)
        logger.info("%s: resumed from its checkpoint after epoch %d of %d", desc, start, epochs)
    prior = list(info.get("segment_seconds", []))  # earlier processes' segments
    bar = tqdm(range(start, epochs), desc=desc, leave=False, dynamic_ncols=True, initial=start, total=epochs)
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
            if stop.update(value, number, module, patience):
                bar.set_postfix(post)
                logger.info(
                    "%s: early stop after epoch %d of %d (best %s=%.4f in epoch %d)",
                    desc,
                    number,
                    epochs,
                    valid.metric,
                    stop.best,
                    stop.best_epoch,
                )
                break
        bar.set_postfix(post)
        if ck is not None:
            ck.progress(desc, epochs, info)
            if number % ck.every == 0 and number < epochs:
                segments = list(prior) + [time.perf_counter() - began]
                ck.save(desc, _checkpoint(number, module, state, info, segments, stop))
    bar.close()
    if stop.best_state is not None and module is not None:
        module.load_state_dict(stop.best_state)
    if module is not None:
        module.eval()
    info["segment_seconds"] = prior + [time.perf_counter() - began]
    info.update(
        epochs_run=len(info["losses"]),
        best_epoch=stop.best_epoch if stop.best_epoch > 0 else None,
        best_valid=stop.best if stop.best_epoch > 0 else None,
        epochs_from=1,  # records before this field counted valid / best_epoch from 0
        seconds_per_epoch=float(np.mean(info["epoch_seconds"])) if info["epoch_seconds"] else 0.0,
    )
    return info


def _checkpoint(
    number: int,
    module: torch.nn.Module | None,
    state: dict[str, Any],
    info: dict[str, Any],
    segments: list[float],
    stop: _Stopping,
) -> dict[str, Any]:
    """What :func:`train_loop` saves after epoch ``number``: everything the rest of the phase depends on."""
    saved_info = {k: list(v) for k, v in info.items()}
    saved_info["segment_seconds"] = segments
    return {
        "epoch": number,
        "module": module.state_dict() if module is not None else {},
        "state": {name: _state_of(obj) for name, obj in state.items()},
        "torch_rng": torch.get_rng_state(),
        "info": saved_info,
        "best": stop.best,
        "best_epoch": stop.best_epoch,
        "waited": stop.waited,
        "best_state": stop.best_state,
    }


def _resume(
    saved: dict[str, Any], module: torch.nn.Module | None, state: dict[str, Any], valid: Validator | None
) -> tuple[int, dict[str, Any], _Stopping]:
    """Restore a :func:`_checkpoint` into ``module``, ``state``, torch's generator and ``valid``'s history;
    returns the epoch it was saved after, the fit info so far and the early-stopping state."""
    if module is not None:
        module.load_state_dict(saved["module"])
    for name, obj in state.items():
        _restore(obj, saved["state"][name])
    torch.set_rng_state(saved["torch_rng"])
    info = {k: [tuple(x) if isinstance(x, list) else x for x in v] for k, v in saved["info"].items()}
    stop = _Stopping(saved["best"], saved["best_epoch"], saved["best_state"], saved["waited"])
    start = int(saved["epoch"])
    info["resumed_from"] = info.get("resumed_from", []) + [start]
    info.setdefault("segment_seconds", [])  # checkpoints before this field: none known
    if hasattr(valid, "restore"):
        valid.restore(list(info["valid"]))
    elif hasattr(valid, "history"):
        valid.history[:] = list(info["valid"])
    if hasattr(module, "weights_version"):
        module.weights_version += 1
    return start, info, stop
