"""What every objective shares: the :class:`Objective` base, its config and the training batch.

An objective is an ``nn.Module`` (so it may own parameters, e.g. a projection head) with:

* ``requires``: what the encoder must provide, e.g. ``("sequence", "causal")``,
  ``("sequence", "bidirectional")``, ``("sequence",)`` or ``("bag",)``;
* ``main``: True if it defines how the model scores items (``next_item``, ``masked_item``,
  ``reconstruction``); auxiliary self-supervised objectives (``contrastive``) leave it False;
* ``loss(net, batch) -> Tensor``: a finite scalar for one :class:`TrainBatch`;
* ``score(net, batch) -> Tensor[B, n_items]`` (main objectives only);
* optionally ``needs_text = True`` (the model then loads the frozen item text vectors,
  ``net.item_text``) and ``setup(net)``, called once the network is built and before the
  optimiser is made, to create parameters whose sizes depend on it (a projection head).

``net`` is the model's network (:class:`ssl4rec.ssl.composite.SSLNetwork`): ``net.encoder``,
``net.item_embedding`` (``scoring_matrix()`` = ``[n_items, d]``), ``net.encode(seq)`` ->
``[B, W, d]``, ``net.represent(seq)`` -> ``[B, d]`` (= ``encode(seq)[:, -1]``),
``net.encode_at(seq, where)`` -> ``[N, d]`` (= ``encode(seq)[where]``; the last two skip
work for unused positions), ``net.n_items``, ``net.max_len``, ``net.mask_token``, ``net.device``, and ``net.item_text``
(``[n_items, d_text]`` frozen, centred, unit-norm item text vectors; None unless the model
loaded item text).
Parameters arrive through the objective's config dataclass (``Config``), which extends
:class:`ObjectiveConfig` and so always carries ``objective_weight``.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.base import Bag, make_config
from ..interactions import Batch
from ..registry import ConfigError, did_you_mean

__all__ = [
    "IncompatibleError",
    "Objective",
    "ObjectiveConfig",
    "TrainBatch",
    "TrainData",
    "check_choice",
    "in_span",
    "last_position",
    "span",
    "trim_left",
]


@dataclasses.dataclass
class ObjectiveConfig:
    """Parameters every objective accepts."""

    objective_weight: float = 1.0
    """Weight of this loss in the total (``joint`` schedule: main + sum of weighted SSL losses)."""


def check_choice(value: Any, choices: list[str] | tuple[str, ...], where: str) -> None:
    """Raise :class:`ConfigError` (with "did you mean") unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {list(choices)}.{did_you_mean(str(value), choices)}")


def trim_left(seq: torch.Tensor, min_width: int = 1) -> torch.Tensor:
    """Drop leading columns that are padding in every row (left-padded ``seq`` [B, L]).

    The width kept is the longest *span* (first real item to the end), not the longest item
    count: a padding id inside a row (the ``mask`` augmentation with ``value="padding"``) is
    kept in place.
    """
    if seq.shape[0] == 0:
        return seq[:, -min_width:]
    width = max(int(span(seq).max()), min_width)
    return seq[:, -width:] if width < seq.shape[1] else seq


def last_position(seq: torch.Tensor) -> torch.Tensor:
    """[B, W] bool, True at the last column only (``encode_at(seq, last_position(seq))`` = ``represent(seq)``)."""
    where = torch.zeros(seq.shape, dtype=torch.bool, device=seq.device)
    where[:, -1] = True
    return where


def in_span(seq: torch.Tensor) -> torch.Tensor:
    """[B, W] bool, True from each row's first real item to the end (the last column at least): the
    positions where a sequence encoder's output may be non-zero (``encode(seq)`` is zero elsewhere)."""
    w = seq.shape[1]
    return torch.arange(w, device=seq.device)[None] >= (w - span(seq).clamp_min(1))[:, None]


def span(seq: torch.Tensor) -> torch.Tensor:
    """[B] positions from each row's first real item to the end (0 for an all-padding row)."""
    real = seq != 0
    w = seq.shape[1]
    return torch.where(real.any(1), w - real.to(torch.int8).argmax(1), 0)


class IncompatibleError(ValueError):
    """An encoder, objectives or data that cannot train together; the message says why (the runner records n/a)."""


@dataclasses.dataclass
class TrainData:
    """What an objective's data hooks (:meth:`Objective.prepare`, :meth:`Objective.epoch_start`) see.

    Attributes:
        train: the training log (``train.items`` carries item side information, e.g. ``attributes``).
        users: LongTensor [R], the user of each training row (one row per user, or per window
            with ``train_windows="all"``).
        ends: LongTensor [R], for each row the absolute position in ``train``'s log just after its
            last item (``train.sequences(users, L, ends)`` rebuilds the row's most recent L items).
        window: LongTensor [R, max_len + 1] (CPU) of the rows' items (sequence encoders), else None.
        generator: the model's seeded CPU random source.
        max_len: the model's ``max_len``.
        items: LongTensor [R], the item of each training row when the rows are edges (graph
            encoders: ``users[r]`` interacted with ``items[r]``), else None.
        times: LongTensor [R, max_len + 1] (CPU), the timestamps of ``window``'s positions when the
            encoder is time-aware, else None.
    """

    train: Any
    users: torch.Tensor
    ends: torch.Tensor
    window: torch.Tensor | None
    generator: torch.Generator
    max_len: int
    items: torch.Tensor | None = None
    times: torch.Tensor | None = None


def _represent(net: nn.Module, seq: torch.Tensor, where: torch.Tensor | None, times: torch.Tensor | None) -> torch.Tensor:
    """``net.represent(seq)`` (``where`` None) or ``net.encode_at(seq, where)``, with ``times`` when given."""
    extra = {} if times is None else {"times": times}
    return net.represent(seq, **extra) if where is None else net.encode_at(seq, where, **extra)


class TrainBatch:
    """One training batch, prepared once and shared by all objectives of a step.

    Args:
        users: LongTensor [B] of user ids.
        generator: the seeded CPU random source for masks, negatives and augmentations.
        device: where tensors are sent.
        window: LongTensor [B, max_len + 1] (CPU): each user's most recent ``max_len + 1``
            items, left-padded, shifted +1 (sequence encoders), else None.
        bag: the users' item sets (bag encoders), else None.
        rows: LongTensor [B], the batch's rows in the :class:`TrainData` arrays (what state an
            objective keeps per training row, e.g. intent assignments, is indexed by).
        items: LongTensor [B], each row's positive item when the rows are edges (graph encoders).
        times: LongTensor [B, max_len + 1] (CPU), the timestamps of ``window``'s positions (time-aware
            encoders), else None; :attr:`input_times` and :attr:`sequence_times` follow
            :attr:`pairs` and :attr:`sequence`.

    ``memo`` holds what the step's objectives share, e.g. the augmented views an objective drew
    (:func:`~ssl4rec.objectives.contrastive.draw_views`), for a later objective that reuses them.

    Representations requested in the objectives' :meth:`Objective.plan` (:meth:`request`) are computed
    together, in one encoder pass over all requested rows, when the first of them is read
    (:meth:`hidden`): each request's rows get their own dropout draws, as in separate passes, at
    the cost of one (DuoRec's main, dropout-view and same-target sequences; CL4SRec's sequences and their
    two views: three passes in one).
    """

    def __init__(
        self,
        users: torch.Tensor,
        generator: torch.Generator,
        device: torch.device,
        window: torch.Tensor | None = None,
        bag: Bag | None = None,
        rows: torch.Tensor | None = None,
        items: torch.Tensor | None = None,
        times: torch.Tensor | None = None,
    ) -> None:
        self.users = users
        self.times = times
        self.generator = generator
        self.device = device
        self.window = window
        self.bag = bag
        self.rows = rows if rows is not None else torch.arange(users.shape[0])
        self.items = items
        self.memo: dict[Any, Any] = {}
        self._requests: dict[Any, tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]] = {}
        self._represented: dict[Any, torch.Tensor] = {}

    def request(
        self, key: Any, seq: torch.Tensor, where: torch.Tensor | None = None, times: torch.Tensor | None = None
    ) -> None:
        """Ask for ``net.represent(seq)`` (``where`` None) or ``net.encode_at(seq, where)`` under ``key``,
        to be computed with the step's other requests (``times``: the timestamps of ``seq``'s positions,
        for a time-aware encoder)."""
        if key in self._requests or key in self._represented:
            raise ValueError(f"representation {key!r} requested twice in one step")
        self._requests[key] = (seq, where, times)

    def hidden(
        self,
        net: nn.Module,
        key: Any,
        seq: torch.Tensor,
        where: torch.Tensor | None = None,
        times: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``net.represent(seq)`` [B, d] (``where`` None) or ``net.encode_at(seq, where)`` [N, d]: from the
        step's fused pass when ``key`` was requested (with these arguments), else computed now."""
        if key in self._requests:
            self._compute_requested(net)
        out = self._represented.pop(key, None)
        if out is not None:
            return out
        return _represent(net, seq, where, times)

    def _compute_requested(self, net: nn.Module) -> None:
        keys, asked = list(self._requests), list(self._requests.values())
        self._requests.clear()
        width = max(seq.shape[1] for seq, _, _ in asked)
        rows = torch.cat([F.pad(seq, (width - seq.shape[1], 0)) for seq, _, _ in asked])
        timed = [t is not None for _, _, t in asked]
        if any(timed) and not all(timed):
            raise ValueError("a step's fused pass mixes sequences with and without timestamps")
        times = torch.cat([F.pad(t, (width - t.shape[1], 0)) for _, _, t in asked]) if all(timed) else None
        if all(where is None for _, where, _ in asked):
            outs = _represent(net, rows, None, times).split([seq.shape[0] for seq, _, _ in asked])
        else:
            wheres = [last_position(seq) if where is None else where for seq, where, _ in asked]
            where = torch.cat([F.pad(w, (width - w.shape[1], 0), value=False) for w in wheres])
            outs = _represent(net, rows, where, times).split([int(w.sum()) for w in wheres])
        self._represented.update(zip(keys, outs, strict=True))

    def __len__(self) -> int:
        return int(self.users.shape[0])

    @cached_property
    def _window(self) -> torch.Tensor:
        if self.window is None:
            raise ValueError("this batch carries no sequences (the encoder reads bags)")
        return self.window.to(self.device)

    @cached_property
    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, targets)`` [B, W] for next-item prediction: targets are inputs shifted by one.

        Inputs are the ``max_len`` items before each user's last one; ``inputs != 0`` marks
        the positions that have a target.
        """
        w = trim_left(self._window, min_width=2)
        return w[:, :-1], w[:, 1:]

    @cached_property
    def sequence(self) -> torch.Tensor:
        """[B, W]: each user's most recent ``max_len`` items (what the model sees at scoring)."""
        return trim_left(self._window[:, 1:])

    @cached_property
    def input_times(self) -> torch.Tensor | None:
        """[B, W]: the timestamps of :attr:`pairs`' inputs (None without ``times``)."""
        if self.times is None:
            return None
        return self.times.to(self.device)[:, -self.pairs[0].shape[1] - 1 : -1]

    @cached_property
    def sequence_times(self) -> torch.Tensor | None:
        """[B, W]: the timestamps of :attr:`sequence`'s positions (None without ``times``)."""
        if self.times is None:
            return None
        return self.times.to(self.device)[:, -self.sequence.shape[1] :]

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform [0, 1) floats from the batch's generator, on the device."""
        return torch.rand(shape, generator=self.generator).to(self.device)

    def randint(self, low: int, high: int, *shape: int) -> torch.Tensor:
        """Uniform integers in [low, high) from the batch's generator, on the device."""
        return torch.randint(low, high, shape, generator=self.generator).to(self.device)


class Objective(nn.Module):
    """Base of objectives; subclasses set ``Config``, ``requires``, ``main`` and ``loss``.

    Args:
        **params: fields of ``Config`` (unknown keys raise with suggestions).
    """

    Config: ClassVar[type] = ObjectiveConfig
    requires: ClassVar[tuple[str, ...]] = ("sequence",)
    main: ClassVar[bool] = False
    needs_text: ClassVar[bool] = False
    """True: the model loads the item text vectors (``net.item_text``) for this objective."""
    passes_time: ClassVar[bool] = False
    """True: the objective hands the timestamps of its sequences to the encoder (``times=`` of
    ``net.represent`` / ``encode_at``, :attr:`TrainBatch.input_times`), so it can train a
    time-aware encoder (``time`` other than ``"none"``)."""

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self.config = make_config(self.Config, params, f"objective {type(self).__name__!r}")

    @property
    def weight(self) -> float:
        return float(self.config.objective_weight)

    def setup(self, net: nn.Module) -> None:
        """Create parameters that depend on the built network (sizes); called once per build."""

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        """Read what the objective needs from the training data (item similarities, positives,
        attributes); called once per fit, after :meth:`setup` and before the optimiser is made, so
        it may still create parameters. Raise :class:`~ssl4rec.ssl.composite.IncompatibleError` when
        the data lack what the objective needs (the runner then records the cell as n/a)."""

    def epoch_start(self, net: nn.Module, epoch: int, data: TrainData) -> None:
        """Called before each training epoch in which the objective is active (e.g. re-clustering)."""

    def plan(self, net: nn.Module, batch: TrainBatch) -> None:
        """Request (:meth:`TrainBatch.request`) the representations :meth:`loss` will read through
        :meth:`TrainBatch.hidden`, before any objective's loss runs, so that the step computes
        every objective's requests in one encoder pass. Optional: unrequested ones are computed alone."""

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        """The scalar loss of ``batch``."""
        raise NotImplementedError

    def score(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        """Scores ``[B, n_items]`` for ``batch`` (main objectives only)."""
        raise NotImplementedError(f"{type(self).__name__} is not a main objective and does not score")

    def item_vectors(self, net: nn.Module) -> torch.Tensor:
        """The ``[n_items, d]`` matrix :meth:`user_vectors` are scored against (main objectives): by
        default the item embedding's scoring matrix; graph objectives give the propagated vectors."""
        return net.item_embedding.scoring_matrix()

    def user_vectors(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        """User vectors ``[B, d]`` that :meth:`score` multiplies with ``net.item_embedding.scoring_matrix()``
        (main objectives that score that way)."""
        raise NotImplementedError(f"{type(self).__name__} gives no user vectors")
