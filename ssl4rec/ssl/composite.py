"""The SSL model: one encoder and one or more objectives, trained jointly or pretrain-then-finetune.

``SSLRecommender(encoder, objectives, schedule, **training)`` meets the protocol of every
model (``fit`` / ``score``). Exactly one *main* objective (``next_item``, ``masked_item`` or
``reconstruction``) defines scoring; auxiliary self-supervised objectives (``contrastive``,
plugins) add weighted losses. :func:`check_compatible` tells whether an encoder and a set of
objectives train together, and why not; the constructor raises :class:`IncompatibleError`
for such pairs, so the runner can record "n/a: reason".

Item representations (training option ``item_repr``): ``"id"`` (learned ID embeddings),
``"text"`` (a learned adapter over the frozen item text vectors of ``text_encoder``) or
``"id+text"`` (their sum); see :class:`~ssl4rec.encoders.text_items.TextItemEmbedding`. The text
vectors are loaded in :meth:`SSLRecommender.fit` (cached on disk) whenever ``item_repr`` uses
text or an objective needs it (``text_alignment``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from .. import encoders as _encoders  # noqa: F401  (registers the built-in encoders)
from .. import objectives as _objectives  # noqa: F401  (registers the built-in objectives)
from ..encoders.base import Bag, make_config
from ..encoders.text_items import ITEM_REPRS, TextItemEmbedding, prepare_text, repr_parts
from ..interactions import Batch, Interactions
from ..objectives.base import IncompatibleError, Objective, TrainBatch, TrainData, check_choice, span
from ..recommender import Recommender, Validator, default_device, train_loop
from ..registry import AUGMENTATIONS, ENCODERS, OBJECTIVES, TEXT_ENCODERS, ConfigError, Entry

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEDULES",
    "TRAIN_SEARCH_SPACE",
    "IncompatibleError",
    "SSLNetwork",
    "SSLRecommender",
    "SSLTrainConfig",
    "build_ssl_model",
    "check_compatible",
    "component_versions",
    "epoch_batches",
    "main_objectives",
    "parse_component",
    "resolved_config",
]

SCHEDULES = ("joint", "pretrain_finetune")


@dataclasses.dataclass
class SSLTrainConfig:
    """Training parameters of :class:`SSLRecommender`."""

    epochs: int = 100
    """Maximum epochs of the main phase (each visits every training user once)."""
    batch_size: int = 256
    """Users per optimiser step."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 0.0
    """Adam (L2) weight decay."""
    max_len: int = 50
    """Most recent items of a user's history the encoder reads (truncation from the left)."""
    patience: int = 10
    """Validation evaluations without improvement before early stopping."""
    eval_every: int = 1
    """Evaluate on the validator every this many epochs."""
    pretrain_epochs: int = 10
    """Epochs of self-supervised pretraining (``schedule="pretrain_finetune"`` only)."""
    pretrain_batch_size: int | None = None
    """Users per optimiser step while pretraining; None = ``batch_size``."""
    bucket_by_length: bool = True
    """Length-bucketed batches (sequence encoders): each epoch, users are ordered by their
    (truncated) sequence length with a seeded random tie-break, cut into batches of
    ``batch_size`` and the batches visited in a seeded random order. Each batch is then
    padded only to its own longest sequence, which makes epochs several times faster on
    data where most sequences are short. False: uniformly shuffled batches."""
    length_chunks: int = 4
    """Uniformly shuffled batches (``bucket_by_length=False``) mix short and long sequences, so a
    batch padded to its longest row costs several times a bucketed one. With ``length_chunks`` k > 1
    the encoder runs on k length-sorted chunks of each such batch, each trimmed to its own longest
    row: the same loss and gradients (outputs at real positions do not depend on padding), about
    the cost of a bucketed batch. 1 = run every batch whole. Training only; no effect on results
    beyond the order of dropout draws."""
    train_windows: str = "last"
    """Training sequences of sequence encoders: ``"last"`` = one window per user, the most recent
    ``max_len`` + 1 items (SASRec's, BERT4Rec's and the ICLRec code's choice; earlier
    interactions of longer histories are never targets); ``"all"`` = every user's history cut
    into non-overlapping windows from the end (:meth:`Interactions.windows`), so every
    interaction is a target once and an epoch visits each window once (``batch_size`` then
    counts windows); ``"prefixes"`` = every prefix of every user's history is a row, its last item the
    target (RecBole's sequential data augmentation: with ``next_item``'s ``positions: last`` each
    target is predicted once, from the items before it, and an epoch holds as many updates as
    RecBole's; ``batch_size`` then counts prefixes)."""
    item_repr: str = "id"
    """Item representation, the encoder's input and the scoring matrix alike: ``"id"`` (learned
    ID embeddings), ``"text"`` (a learned linear adapter over frozen item text vectors; scores
    items with no training interaction) or ``"id+text"`` (ID embedding + adapted text; the ID
    part of items with no training interaction is zeroed at validation and scoring). With text,
    items with no training interaction are also left out of the training softmax and sampled
    negatives: in deployment they would not exist yet at training time, and as items that are
    only ever negatives they would teach the adapter to push their text down. Text needs a
    sequence encoder and a dataset with item text. ``"attr"`` / ``"id+attr"``: the same over the
    items' multi-hot attributes (S3-Rec attribute ids, genres, categories, brand; learned attribute
    embeddings pooled per item), so items with attributes but no interaction are scored; n/a on a
    dataset whose items have no attributes."""
    text_encoder: str = "sentence-transformers:all-MiniLM-L6-v2"
    """Text encoder spec (``ssl4rec.text.build_text_encoder``: ``"sentence-transformers:<model>"``,
    ``"tfidf"``) for ``item_repr`` text / id+text and objectives that need item text
    (``text_alignment``); vectors are cached on disk."""
    seed: int = 0
    """Seed of initialisation, dropout, batching, masks, negatives and augmentations."""
    device: str | None = None
    """Torch device; None = CUDA when present, else CPU."""


#: Search space of the training parameters shared by every SSL model.
TRAIN_SEARCH_SPACE: dict[str, tuple] = {
    "learning_rate": ("float", 1e-4, 1e-2, "log"),
    "weight_decay": ("float", 1e-8, 1e-3, "log"),
}


def parse_component(spec: str | Mapping[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    """``"name"``, ``{"name": ..., **params}`` or ``{"name": ..., "params": {...}}`` -> ``(name, params)``."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping):
        d = dict(spec)
        if "name" not in d:
            raise ConfigError(f"{kind} spec {spec!r} has no 'name'")
        name = d.pop("name")
        if "params" in d:
            params = d.pop("params") or {}
            if d:
                raise ConfigError(
                    f"{kind} {name!r}: give parameters either flat or under 'params', not both ({sorted(d)})"
                )
            if not isinstance(params, Mapping):
                raise ConfigError(f"{kind} {name!r}: 'params' must be a mapping, got {params!r}")
            d = dict(params)
        return str(name), d
    raise ConfigError(f"{kind} must be a name or a mapping with 'name', got {spec!r}")


def main_objectives() -> list[str]:
    """Names of the registered main objectives (those that define scoring)."""
    return [e.name for e in OBJECTIVES.list() if getattr(e.obj, "main", False)]


def _describe(entry: Entry, caps: set[str]) -> str:
    if "bag" in caps:
        return "reads bags of items"
    direction = "causal" if "causal" in caps else "bidirectional" if "bidirectional" in caps else "undirected"
    return f"is {direction}"


def _reason(obj: Entry, need: set[str], missing: set[str], enc: Entry, caps: set[str]) -> str:
    head = f"{obj.name} needs"
    reads = "the user-item graph" if "graph" in caps else "bags of items" if "bag" in caps else "sequences"
    if "sequence" in missing:
        return f"{head} a sequence encoder; {enc.name} reads {reads}"
    if "bag" in missing:
        return f"{head} a bag encoder; {enc.name} reads {reads}"
    if "graph" in missing:
        return f"{head} a graph encoder (e.g. lightgcn); {enc.name} reads {reads}"
    for direction in ("causal", "bidirectional"):
        if direction in missing:
            hint = ""
            if "causal" in enc.accepted_params():
                hint = f" (set causal: {'true' if direction == 'causal' else 'false'})"
            return f"{head} a {direction} sequence encoder; {enc.name} {_describe(enc, caps)}{hint}"
    return f"{head} {', '.join(sorted(missing))}; {enc.name} provides {', '.join(sorted(caps)) or 'nothing'}"


def check_compatible(
    encoder_name: str,
    objective_names: Sequence[str],
    encoder_params: Mapping[str, Any] | None = None,
    item_repr: str = "id",
) -> str | None:
    """Whether an encoder and objectives train together.

    Args:
        encoder_name: registered encoder.
        objective_names: registered objectives (exactly one must be a main objective).
        encoder_params: the encoder's parameters, where they change what it provides
            (``transformer``'s ``causal``, ``vae``'s ``variational``).
        item_repr: the model's ``item_repr`` training option; text-aware item representations
            need a sequence encoder.

    Returns:
        None if the combination trains, else a human reason, e.g. ``"masked_item needs a
        bidirectional sequence encoder; gru is causal"``. Unknown names raise
        :class:`ssl4rec.registry.UnknownNameError`.
    """
    enc = ENCODERS.entry(encoder_name)
    caps = set(enc.obj.capabilities(dict(encoder_params or {})))
    objs = [OBJECTIVES.entry(n) for n in objective_names]
    names = [o.name for o in objs]
    if not objs:
        return "no objective given"
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        return f"objective {dup[0]} is listed twice"
    for o in objs:
        need = set(o.requires or getattr(o.obj, "requires", ()))
        missing = need - caps
        if missing:
            return _reason(o, need, missing, enc, caps)
    mains = [o.name for o in objs if getattr(o.obj, "main", False)]
    if not mains:
        return (
            f"no main objective: {' + '.join(names)} only adds self-supervised losses; "
            f"combine it with one of {', '.join(main_objectives())}"
        )
    if len(mains) > 1:
        return f"{' and '.join(mains)} are all main objectives; a model scores with exactly one"
    for o in objs:
        if getattr(o.obj, "reads_item_table", False) and "sequence" not in caps and "graph" not in caps:
            return (
                f"{o.name} reads the shared item representation; {enc.name} reads bags of items "
                "(its input layer is a per-item table of its own): use a sequence or graph encoder"
            )
    time = str((encoder_params or {}).get("time", "none"))
    if time != "none":
        if not getattr(enc.obj, "supports_time", False):
            return f"encoder {enc.name} has no time context (time {time!r}); use transformer or gru"
        blind = [o.name for o in objs if not getattr(o.obj, "passes_time", False)]
        if blind:
            timed = sorted(n for n in OBJECTIVES.names() if getattr(OBJECTIVES.entry(n).obj, "passes_time", False))
            return (
                f"{blind[0]} does not pass timestamps to the encoder, which has time {time!r}; "
                f"time-aware training works with {', '.join(timed)}"
            )
    if item_repr != "id" and "sequence" not in caps and "graph" not in caps:
        return (
            f"item_repr {item_repr!r} needs a sequence encoder; {enc.name} reads bags of items "
            "(its input layer is a per-item table, not the shared item representation): use item_repr 'id'"
        )
    return None


class SSLNetwork(nn.Module):
    """The trainable parts of an SSL model: the encoder and the objectives (which may own parameters).

    ``item_text`` (optional): the frozen ``[n_items, d_text]`` item text vectors (centred,
    unit rows), kept as a buffer outside the state dict; objectives read ``net.item_text``.
    ``candidate_items`` (optional): sorted 0-based ids of the items the training softmax and
    sampled negatives range over (:func:`~ssl4rec.objectives.losses.item_loss`); None = all.
    """

    def __init__(
        self,
        encoder: nn.Module,
        objectives: Mapping[str, Objective],
        n_items: int,
        max_len: int,
        item_text: torch.Tensor | None = None,
        candidate_items: torch.Tensor | None = None,
        length_chunks: int = 1,
    ) -> None:
        super().__init__()
        self.length_chunks = int(length_chunks)
        self.encoder = encoder
        self.objectives = nn.ModuleDict({k.replace(".", "_"): v for k, v in objectives.items()})
        self.n_items = int(n_items)
        self.max_len = int(max_len)
        self.register_buffer("item_text", item_text, persistent=False)
        self.register_buffer("candidate_items", candidate_items, persistent=False)
        self.weights_version = 0
        """Bumped by every optimiser step and state load: what caches of computed outputs (a graph
        encoder's propagation at scoring time) are keyed by. Parameter ``_version`` counters do not
        serve: fused Adam updates parameters in place without bumping them."""

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        out = super().load_state_dict(*args, **kwargs)
        self.weights_version += 1
        return out

    @property
    def item_embedding(self) -> nn.Module:
        return self.encoder.item_embedding

    @property
    def mask_token(self) -> int:
        return self.n_items + 1

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def objective(self, name: str) -> Objective:
        return self.objectives[name.replace(".", "_")]  # type: ignore[return-value]

    @property
    def uses_time(self) -> bool:
        """Whether the encoder reads timestamps beside the items (its ``time`` parameter)."""
        return bool(getattr(self.encoder, "uses_time", False))

    def _call(self, method: str, seq: torch.Tensor, times: torch.Tensor | None, *args: Any) -> torch.Tensor:
        fn = getattr(self.encoder, method) if method != "forward" else self.encoder
        return fn(seq, *args) if times is None else fn(seq, *args, times=times)

    def encode(self, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``[B, W, d]`` of a left-padded sequence batch (sequence encoders).

        ``times`` [B, W]: the positions' timestamps, for a time-aware encoder (:attr:`uses_time`)."""
        chunks = self._length_chunks(seq)
        if chunks is None:
            return self._call("forward", seq, times)
        w = seq.shape[1]
        parts = [
            F.pad(self._call("forward", seq[rows, w - width :], _cut(times, rows, w - width)), (0, 0, w - width, 0))
            for rows, width in chunks
        ]
        return torch.cat(parts).index_select(0, _inverse(torch.cat([rows for rows, _ in chunks])))

    def represent(self, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """User representations ``[B, d]``: ``encode(seq)[:, -1]``, computed only where needed."""
        chunks = self._length_chunks(seq)
        if chunks is None:
            return self._call("represent", seq, times)
        w = seq.shape[1]
        parts = [
            self._call("represent", seq[rows, w - width :], _cut(times, rows, w - width)) for rows, width in chunks
        ]
        return torch.cat(parts).index_select(0, _inverse(torch.cat([rows for rows, _ in chunks])))

    def encode_at(self, seq: torch.Tensor, where: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``[N, d]`` at the True positions of ``where`` [B, W]: ``encode(seq)[where]``, cheaper."""
        chunks = self._length_chunks(seq, where)
        if chunks is None:
            return self._call("hidden_at", seq, times, where)
        w = seq.shape[1]
        flat = torch.arange(seq.numel(), device=seq.device).view(seq.shape)
        parts, order = [], []
        for rows, width in chunks:
            sub_where = where[rows, w - width :]
            parts.append(self._call("hidden_at", seq[rows, w - width :], _cut(times, rows, w - width), sub_where))
            order.append(flat[rows, w - width :][sub_where])
        return torch.cat(parts).index_select(0, torch.cat(order).argsort())

    def encode_chunks(
        self, seq: torch.Tensor, times: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Hidden states of ``seq`` [B, W] in length-sorted chunks, each ``[n_c, w_c, d]`` at its own width.

        Returns ``(rows, outputs)``: ``rows`` [B] are the row indices in chunk order. One chunk (the
        whole batch) outside training or with ``length_chunks`` <= 1. For consumers that do not need
        the ``[B, W, d]`` grid (:func:`~ssl4rec.objectives.losses.flat_similarity`).
        """
        chunks = self._length_chunks(seq)
        if chunks is None:
            return torch.arange(seq.shape[0], device=seq.device), [self._call("forward", seq, times)]
        w = seq.shape[1]
        return torch.cat([r for r, _ in chunks]), [
            self._call("forward", seq[r, w - x :], _cut(times, r, w - x)) for r, x in chunks
        ]

    def packed_chunks(self, seq: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """:meth:`encode_chunks`' layout ``(rows, outputs)`` from packed outputs: ``values`` [N, d] are the
        hidden states of ``seq`` at ``in_span(seq)`` in row-major order (``encode_at(seq, in_span(seq))``,
        e.g. from a step's fused pass); each length-sorted chunk is zero left of its rows' spans."""
        b, d = seq.shape[0], values.shape[1]
        n = span(seq).clamp_min(1)
        chunks = self._length_chunks(seq) or [(torch.arange(b, device=seq.device), int(n.max()) if b else 1)]
        row_base = torch.empty(b, dtype=torch.long, device=seq.device)
        offset = 0
        for rows, width in chunks:
            row_base[rows] = offset + torch.arange(len(rows), device=seq.device) * width + width - n[rows]
            offset += len(rows) * width
        row_of = torch.repeat_interleave(torch.arange(b, device=seq.device), n)
        start = n.cumsum(0) - n
        dest = row_base[row_of] + torch.arange(len(row_of), device=seq.device) - start[row_of]
        buf = values.new_zeros(offset, d).index_copy(0, dest, values)
        grids = [
            g.view(len(r), w, d) for g, (r, w) in zip(buf.split([len(r) * w for r, w in chunks]), chunks, strict=True)
        ]
        return torch.cat([r for r, _ in chunks]), grids

    def _length_chunks(
        self, seq: torch.Tensor, where: torch.Tensor | None = None
    ) -> list[tuple[torch.Tensor, int]] | None:
        """Rows of ``seq`` in length-sorted chunks, each with its own width, or None to run the batch whole.

        Training only, with ``length_chunks`` > 1: a batch whose rows differ in length (uniformly
        shuffled batches) is computed chunk by chunk, each chunk trimmed to its longest row. The
        encoders' outputs at real positions do not depend on the padding a row carries (positions
        count from the right, padding is neither computed nor attended to), so the loss and its
        gradients are those of the whole batch; only the dropout draws fall in another order.
        """
        k = self.length_chunks
        b, w = seq.shape
        if not self.training or k <= 1 or b < 2 * k or seq.dim() != 2:
            return None
        n = span(seq)
        if where is not None:  # a wanted padding position left of a row's span keeps the whole width
            n = torch.maximum(n, torch.where(where.any(1), w - where.to(torch.int8).argmax(1), 0))
        order = n.argsort(stable=True)
        sizes, widths = chunk_plan(n[order].clamp_min(1).cpu().numpy(), k)
        if len(sizes) == 1:
            return None  # one chunk is best: the rows are of similar length already
        return list(zip(order.split(sizes), widths, strict=True))


#: Cost units of one extra encoder call per chunk (its fixed overhead), in padded-token terms.
CHUNK_OVERHEAD = 20_000


def chunk_plan(sorted_spans: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    """The best cut of sorted row spans into at most ``k`` contiguous chunks: ``(rows per chunk, widths)``.

    A chunk of n rows padded to width w costs about ``n w (w + 64)`` (attention over the grid plus
    the grid's scatter) and ``CHUNK_OVERHEAD`` for its own encoder call; dynamic programming over
    the distinct span values (at most ``max_len`` of them) finds the cut of least total cost.
    """
    values, counts = np.unique(sorted_spans, return_counts=True)
    cum = np.concatenate(([0], np.cumsum(counts)))  # rows up to each distinct value
    m = len(values)
    cost = lambda rows, width: rows * width * (width + 64.0) + CHUNK_OVERHEAD  # noqa: E731
    best = np.full((k + 1, m + 1), np.inf)
    back = np.zeros((k + 1, m + 1), dtype=np.int64)
    best[0, 0] = 0.0
    for j in range(1, k + 1):
        for i in range(1, m + 1):  # chunk j ends at distinct value i - 1; starts after value p - 1
            p = np.arange(i)
            total = best[j - 1, :i] + cost(cum[i] - cum[p], float(values[i - 1]))
            at = int(np.argmin(total))
            best[j, i], back[j, i] = total[at], at
    j = int(np.argmin(best[1:, m])) + 1
    ends, i = [], m
    while j > 0:
        ends.append(i)
        i, j = int(back[j, i]), j - 1
    ends.reverse()
    starts = [0, *ends[:-1]]
    sizes = [int(cum[e] - cum[s_]) for s_, e in zip(starts, ends, strict=True)]
    widths = [int(values[e - 1]) for e in ends]
    return sizes, widths


class _ObjectiveState:
    """The tensors objectives keep from one epoch to the next (each objective's ``checkpoint_attrs``,
    e.g. ICLRec's intent prototypes between re-clusterings), as a ``state_dict`` for checkpoints."""

    def __init__(self, net: SSLNetwork, names: list[str]) -> None:
        self.net, self.names = net, names

    def state_dict(self) -> dict[str, Any]:
        out = {}
        for name in self.names:
            obj = self.net.objective(name)
            for attr in getattr(obj, "checkpoint_attrs", ()):
                value = getattr(obj, attr, None)
                if value is not None:
                    out[f"{name}/{attr}"] = value.detach().cpu() if isinstance(value, torch.Tensor) else value
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            name, _, attr = key.rpartition("/")
            obj = self.net.objective(name)
            target = torch.device("cpu") if attr in getattr(obj, "checkpoint_on_cpu", ()) else self.net.device
            setattr(obj, attr, value.to(target) if isinstance(value, torch.Tensor) else value)


def _cut(times: torch.Tensor | None, rows: torch.Tensor, start: int) -> torch.Tensor | None:
    """``times[rows, start:]`` (the chunk of a length-sorted batch), None passed through."""
    return None if times is None else times[rows, start:]


def _inverse(perm: torch.Tensor) -> torch.Tensor:
    """The inverse of a permutation."""
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel(), device=perm.device)
    return inv


class SSLRecommender(Recommender):
    """An encoder trained with one main objective plus optional self-supervised objectives.

    Args:
        encoder: encoder name or ``{"name": ..., **params}``.
        objectives: objective names or ``{"name": ..., "objective_weight": w, **params}``;
            exactly one main objective.
        schedule: ``"joint"`` (main loss + sum of weighted SSL losses, every step) or
            ``"pretrain_finetune"`` (``pretrain_epochs`` with the SSL losses only, then the
            main objective alone, with a fresh optimiser).
        **params: fields of :class:`SSLTrainConfig` (including ``item_repr`` and ``text_encoder``).

    With ``item_repr`` ``"text"`` or ``"id+text"`` the instance sets ``can_score_cold_items``
    (items with no training interaction are scored from their text); so does a ``lightgcn`` encoder
    with ``side_graph: attributes`` (a cold item is reached through its attribute nodes; one without
    attributes stays unscorable, see :meth:`scorable_items`). Whenever text is used
    (``item_repr`` or an objective with ``needs_text``), :meth:`fit` loads the item text
    vectors (cached on disk) and :meth:`record_extra` reports the cache key for the result
    record; a dataset without item text raises ``ValueError`` at fit.

    Raises:
        IncompatibleError: the encoder cannot serve an objective, or there is not exactly
            one main objective, or ``item_repr`` uses text with a bag encoder.
        ssl4rec.registry.ConfigError: unknown parameters or options.
    """

    def __init__(
        self,
        encoder: str | Mapping[str, Any] = "transformer",
        objectives: Sequence[str | Mapping[str, Any]] = ("next_item",),
        schedule: str = "joint",
        name: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.config = make_config(SSLTrainConfig, params, "SSL model")
        check_choice(schedule, SCHEDULES, "SSL model option schedule")
        check_choice(self.config.item_repr, ITEM_REPRS, "SSL model option item_repr")
        check_choice(self.config.train_windows, ("last", "all", "prefixes"), "SSL model option train_windows")
        self.schedule = schedule
        if isinstance(objectives, str | Mapping):
            objectives = [objectives]
        enc_name, enc_params = parse_component(encoder, "encoder")
        self._encoder_entry = ENCODERS.entry(enc_name)
        self.encoder_params = self._encoder_entry.resolve(enc_params)
        self.time_mode = str(self.encoder_params.get("time", "none"))
        self._objective_entries: list[Entry] = []
        self.objective_params: list[dict[str, Any]] = []
        for spec in objectives:
            o_name, o_params = parse_component(spec, "objective")
            entry = OBJECTIVES.entry(o_name)
            self._objective_entries.append(entry)
            self.objective_params.append(entry.resolve(o_params))
        names = [e.name for e in self._objective_entries]
        reason = check_compatible(self._encoder_entry.name, names, self.encoder_params, self.config.item_repr)
        if reason:
            raise IncompatibleError(reason)
        parts = repr_parts(self.config.item_repr)
        self.side_graph = str(self.encoder_params.get("side_graph", "none"))
        self.needs_attributes = "attr" in parts or self.side_graph == "attributes"
        self.needs_image = "image" in parts
        self.needs_text = "text" in parts or any(
            getattr(e.obj, "needs_text", False) for e in self._objective_entries
        )
        if self.needs_text:
            from ..text import build_text_encoder

            try:
                build_text_encoder(self.config.text_encoder)  # validates the spec; loads no model
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"SSL model option text_encoder {self.config.text_encoder!r}: {exc}") from exc
        self.can_score_cold_items = self.config.item_repr != "id" or self.side_graph == "attributes"
        self.text_info: dict[str, Any] = {}
        self._item_text: torch.Tensor | None = None
        self._item_attr: torch.Tensor | None = None
        self._item_attr_multi: np.ndarray | None = None
        self._init_state: dict[str, torch.Tensor] | None = None  # weights a fit starts from (transfer_to)
        self.transfer_info: dict[str, Any] = {}
        self._item_image: torch.Tensor | None = None
        self.image_info: dict[str, Any] = {}
        self.attribute_info: dict[str, Any] = {}
        self._trained_items: np.ndarray | None = None
        # validate options now rather than at fit time (a 1-item catalogue keeps this cheap);
        # fork_rng: building initialises parameters, which must not move the global generator
        with torch.random.fork_rng(devices=[]):
            self._encoder_entry.obj(n_items=1, max_len=self.config.max_len, **self.encoder_params)
            for entry, p in zip(self._objective_entries, self.objective_params, strict=True):
                built = entry.obj(**p)
                moved = [a.name for a in getattr(built, "augmentations", ()) if not getattr(a, "positional", False)]
                if self.time_mode != "none" and moved:
                    raise ConfigError(
                        f"objective {entry.name!r}: augmentation {moved[0]!r} makes up items that have no "
                        f"timestamp, so it cannot train a time-aware encoder (time {self.time_mode!r}); "
                        "use crop, mask or reorder"
                    )
        self.main_objective = next(e.name for e in self._objective_entries if e.obj.main)
        self.auxiliary = [e.name for e in self._objective_entries if not e.obj.main]
        if schedule == "pretrain_finetune" and not self.auxiliary:
            raise IncompatibleError(
                "schedule 'pretrain_finetune' needs at least one self-supervised (non-main) objective to pretrain with"
            )
        self.input_kind = self._encoder_entry.obj.input
        self.name = name or "+".join([self._encoder_entry.name, *names])
        self.device = torch.device(self.config.device) if self.config.device else default_device()
        self.net: SSLNetwork | None = None

    def __repr__(self) -> str:
        return f"SSLRecommender({self.name!r}, schedule={self.schedule!r})"

    # -- description ---------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """The fully resolved specification (encoder, objectives, schedule, training parameters)."""
        return {
            "encoder": {"name": self._encoder_entry.name, **self.encoder_params},
            "objectives": [
                {"name": e.name, **p} for e, p in zip(self._objective_entries, self.objective_params, strict=True)
            ],
            "schedule": self.schedule,
            **dataclasses.asdict(self.config),
        }

    def component_versions(self) -> dict[str, str]:
        """Registry versions of the encoder, objectives and augmentations this model uses."""
        out = {f"encoder.{self._encoder_entry.name}": self._encoder_entry.version}
        for e, p in zip(self._objective_entries, self.objective_params, strict=True):
            out[f"objective.{e.name}"] = e.version
            for aug in p.get("augmentations") or ():
                if aug in AUGMENTATIONS:
                    out[f"augmentation.{aug}"] = AUGMENTATIONS.entry(aug).version
        if self.needs_text:
            text_name = str(self.config.text_encoder).partition(":")[0]
            if text_name in TEXT_ENCODERS:
                out[f"text_encoder.{TEXT_ENCODERS.entry(text_name).name}"] = TEXT_ENCODERS.entry(text_name).version
        return out

    def record_extra(self) -> dict[str, Any]:
        """Provenance of the item text vectors (cache key, model, revision) for the result record."""
        out: dict[str, Any] = {"text_embedding": self.text_info} if self.text_info else {}
        if self.attribute_info:
            out["item_attributes"] = self.attribute_info
        if self.image_info:
            out["item_images"] = self.image_info
        return out

    # -- training ------------------------------------------------------
    def _build(self, n_items: int, item_text: torch.Tensor | None = None, n_users: int | None = None) -> SSLNetwork:
        """A fresh network; ``item_text`` (prepared text vectors) defaults to those loaded by :meth:`load_text`."""
        c = self.config
        text = item_text if item_text is not None else self._item_text
        # what item_repr builds items from: text, attributes and image vectors side by side
        pieces = {"text": text, "attr": self._item_attr, "image": self._item_image}
        wanted = [k for k in ("text", "attr", "image") if k in repr_parts(c.item_repr)]
        if any(pieces[k] is None for k in wanted):
            missing = [k for k in wanted if pieces[k] is None]
            raise ValueError(f"{self.name}: item {', '.join(missing)} vectors are needed (item_repr={c.item_repr!r}); fit(train) loads them")
        side = torch.cat([pieces[k].to(self.device) for k in wanted], dim=1) if wanted else None
        if self.needs_text and text is None:
            raise ValueError(
                f"{self.name}: item text vectors are needed (item_repr={c.item_repr!r}, objectives "
                f"{[e.name for e in self._objective_entries]}); fit(train) or load_text(train) loads them"
            )
        extra: dict[str, Any] = {}
        trained = (
            self._trained_items if self._trained_items is not None and len(self._trained_items) == n_items else None
        )
        if c.item_repr != "id":
            assert side is not None
            dim = self.encoder_params.get("embedding_size")
            if dim is None:
                raise ConfigError(f"item_repr {c.item_repr!r} needs an encoder with an embedding_size parameter")
            extra["item_embedding"] = TextItemEmbedding(
                n_items, int(dim), side.to(self.device), use_id=c.item_repr.startswith("id+"), trained=trained
            )
        candidates = None
        if (c.item_repr != "id" or self.side_graph == "attributes") and trained is not None and not trained.all():
            # items without training interactions are scored from their side information: the training
            # softmax and the sampled negatives leave them out (nothing teaches a held-out item to rank low)
            candidates = torch.from_numpy(np.flatnonzero(trained).astype(np.int64)).to(self.device)
        if self.input_kind == "graph":  # one ego vector per user: the graph's user nodes
            extra["n_users"] = int(n_users or 1)
            if self.side_graph == "attributes":  # and one per attribute: the item-attribute graph's nodes
                if self._item_attr_multi is None:
                    raise ValueError(f"{self.name}: side_graph 'attributes' needs the item attributes; fit(train) loads them")
                extra["n_side"] = int(self._item_attr_multi.shape[1])
        encoder = self._encoder_entry.obj(n_items=n_items, max_len=c.max_len, **extra, **self.encoder_params)
        objs = {e.name: e.obj(**p) for e, p in zip(self._objective_entries, self.objective_params, strict=True)}
        net = SSLNetwork(
            encoder,
            objs,
            n_items,
            c.max_len,
            text.to(self.device) if self.needs_text else None,
            candidates,
            length_chunks=c.length_chunks,
        )
        for obj in objs.values():
            if hasattr(obj, "setup"):
                obj.setup(net)
        return net.to(self.device)

    def load_text(self, train: Interactions) -> None:
        """Load the frozen item text vectors of ``train.items`` (disk cache) when the model uses text.

        Sets ``text_info`` (cache key, hit, encode calls) and the vectors :meth:`_build` uses;
        does nothing for a model without text. Raises ``ValueError`` when the dataset has no
        item text.
        """
        if not self.needs_text:
            return
        from ..text import item_texts, load_item_embeddings

        try:
            texts = item_texts(train.items, train.n_items)
        except ValueError as exc:
            raise ValueError(f"{self.name} (item_repr={self.config.item_repr!r}) uses item text: {exc}") from exc
        emb, self.text_info = load_item_embeddings(self.config.text_encoder, texts)
        self._item_text = prepare_text(emb, self.device)
        self._trained_items = np.asarray(train.item_counts > 0)
        logger.info(
            "%s: item text %s -> %s (cache %s)",
            self.name,
            self.config.text_encoder,
            tuple(emb.shape),
            "hit" if self.text_info.get("hit") else "miss",
        )

    def load_attributes(self, train: Interactions) -> None:
        """The items' multi-hot attributes as the ``attr`` / ``id+attr`` representations read them.

        Raises :class:`IncompatibleError` (the runner's "n/a") when the dataset's items have none."""
        from ..encoders.text_items import attribute_matrix

        if not self.needs_attributes:
            return
        try:
            multi, info = attribute_matrix(train.items, train.n_items)
        except ValueError as exc:
            who = (
                f"item_repr {self.config.item_repr!r}" if "attr" in repr_parts(self.config.item_repr) else "side_graph 'attributes'"
            )
            raise IncompatibleError(f"{who} needs item attributes: {exc}") from exc
        self._item_attr_multi = multi
        self._item_attr = prepare_text(multi, self.device)
        self._trained_items = np.asarray(train.item_counts > 0)
        self.attribute_info = info

    def load_images(self, train: Interactions) -> None:
        """The items' image vectors (dataset option ``item_features: {image: FILE}``) for ``*image`` reprs."""
        from ..encoders.text_items import image_matrix

        if not self.needs_image:
            return
        try:
            vectors, info = image_matrix(train.items, train.n_items)
        except ValueError as exc:
            raise IncompatibleError(f"item_repr {self.config.item_repr!r} needs item image vectors: {exc}") from exc
        self._item_image = prepare_text(vectors, self.device)
        self._trained_items = np.asarray(train.item_counts > 0)
        self.image_info = info

    def fit(self, train: Interactions, valid: Validator | None = None) -> SSLRecommender:
        c = self.config
        if self.time_mode != "none" and not getattr(train, "has_timestamps", True):
            raise IncompatibleError(
                f"needs timestamps: the encoder's time {self.time_mode!r} reads when each interaction "
                "happened, and this dataset only orders them"
            )
        self._remember_train(train)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            self.load_text(train)  # inside fork_rng: a language model must not move the global generator
            self.load_attributes(train)
            self.load_images(train)
            torch.manual_seed(c.seed)  # initialisation and dropout, restored on exit
            self.net = self._build(train.n_items, n_users=train.n_users)
            if self._init_state is not None:  # fine-tuning a model carried from another dataset
                self.net.load_state_dict(self._init_state, strict=False)
            gen = torch.Generator().manual_seed(c.seed)
            users = torch.from_numpy(train.active_users.astype(np.int64))
            ends = torch.from_numpy(train.indptr[users.numpy() + 1].astype(np.int64))
            items = None
            if self.input_kind == "graph":  # training rows are the edges (user, item) of the training graph
                side = sp.csr_matrix(self._item_attr_multi) if self.side_graph == "attributes" else None
                self.net.encoder.set_graph(train.csr, side=side)
                m = train.csr.tocsr()
                users = torch.from_numpy(np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr)))
                items = torch.from_numpy(m.indices.astype(np.int64))
                ends, window, csr = torch.zeros_like(users), None, None
            elif self.input_kind == "sequence" and c.train_windows in ("all", "prefixes"):
                if c.train_windows == "all":
                    rows, window, row_ends = train.windows(users, c.max_len + 1, return_ends=True)
                else:
                    rows, window, row_ends = train.prefixes(users, c.max_len + 1)
                users, ends, csr = torch.from_numpy(rows), torch.from_numpy(row_ends), None
            elif self.input_kind == "sequence":
                window, csr = train.sequences(users, c.max_len + 1), None
            else:
                window, csr = None, train.csr
            times = None
            if window is not None and self.net.uses_time:  # the timestamps of the windows' positions
                times = train.sequence_times(users, c.max_len + 1, ends.numpy())
            data = TrainData(
                train=train,
                users=users,
                ends=ends,
                window=window,
                generator=gen,
                max_len=c.max_len,
                items=items,
                times=times,
            )
            for e in self._objective_entries:
                self.net.objective(e.name).prepare(self.net, data)
            pretrain = None
            if self.schedule == "pretrain_finetune":
                pretrain = self._pretrain(train, data, csr)
                phase = [self.main_objective]
            else:
                phase = [e.name for e in self._objective_entries]
            info = self._train_phase(
                data=data, csr=csr, active=phase, epochs=c.epochs, batch_size=c.batch_size, valid=valid, desc=self.name
            )
        if pretrain is not None:
            info["pretrain"] = pretrain
        self.fit_info = info
        return self

    def restore(self, train: Interactions, state: Mapping[str, torch.Tensor], fit_info: dict[str, Any]) -> SSLRecommender:
        """The model as a fit on ``train`` left it, from its saved network ``state`` and ``fit_info``
        (e.g. a cached source phase of a transfer): side vectors loaded, the network built and filled."""
        self._remember_train(train)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            self.load_text(train)
            self.load_attributes(train)
            self.load_images(train)
            self.net = self._build(train.n_items, n_users=train.n_users)
        self.net.load_state_dict({k: v.to(self.device) for k, v in state.items()})
        self.net.eval()
        self.fit_info = dict(fit_info)
        return self

    def transfer_to(self, train: Interactions) -> SSLRecommender:
        """Carry the fitted network to the items of another dataset (``train``'s), matched through their text.

        A network for ``train``'s catalogue is built and given every trained weight whose shape does
        not depend on the catalogue (encoder, positions, the text adapter, objectives' heads); item-id
        tables stay freshly initialised. The model then scores ``train``'s items as it is (zero-shot),
        and a later :meth:`fit` starts from these weights (fine-tuning). ``transfer_info`` counts the
        tensors carried and names those that were not.
        """
        if self.net is None:
            raise RuntimeError(f"{self.name}: fit() on the source before transfer_to()")
        if "text" not in repr_parts(self.config.item_repr):
            raise ConfigError(f"{self.name}: transfer needs a text item representation, got item_repr {self.config.item_repr!r}")
        trained = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        self._remember_train(train)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            self.load_text(train)
            self.load_attributes(train)
            self.load_images(train)
            torch.manual_seed(self.config.seed)
            net = self._build(train.n_items, n_users=train.n_users)
        own = net.state_dict()
        carried = {  # item-id tables index one catalogue: never carried, even at an equal size
            k: v
            for k, v in trained.items()
            if k in own and own[k].shape == v.shape and "item_embedding.table." not in k
        }
        net.load_state_dict(carried, strict=False)
        self.net = net
        self._init_state = carried
        self.transfer_info = {"carried": len(carried), "left": sorted(set(own) - set(carried))}
        return self

    def _pretrain(self, train: Interactions, data: TrainData, csr: Any) -> dict[str, Any]:
        """The pretraining phase, or its state read back from the disk cache (:mod:`.pretrain_cache`).

        Returns the phase's training info plus ``cache`` (``key``, ``hit``). On a hit the network,
        the torch generator and the batching generator are left exactly as the phase leaves them.
        """
        from . import pretrain_cache

        c, net = self.config, self.net
        assert net is not None
        gen = data.generator
        use = pretrain_cache.enabled()
        key, meta = pretrain_cache.cache_key(
            self.spec(), train, self.device, (self.text_info or {}).get("key") if self.needs_text else None
        )
        cached = pretrain_cache.load(key) if use else None
        if cached is not None:
            net.load_state_dict(cached["state"])
            net.weights_version += 1
            torch.set_rng_state(cached["torch_rng"])
            if self.device.type == "cuda" and "cuda_rng" in cached:
                torch.cuda.set_rng_state(cached["cuda_rng"], self.device)
            gen.set_state(cached["generator"])
            logger.info("%s: pretraining read from cache %s (%d epochs)", self.name, key, c.pretrain_epochs)
            return {**cached["info"], "cache": {"key": key, "hit": True}}
        info = self._train_phase(
            data=data,
            csr=csr,
            active=self.auxiliary,
            epochs=c.pretrain_epochs,
            batch_size=c.pretrain_batch_size or c.batch_size,
            valid=None,
            desc=f"{self.name} pretrain",
        )
        if use:
            payload = {
                "state": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                "torch_rng": torch.get_rng_state(),
                "generator": gen.get_state(),
                "info": json.loads(json.dumps(info, default=lambda o: o.item() if hasattr(o, "item") else str(o))),
            }
            if self.device.type == "cuda":
                payload["cuda_rng"] = torch.cuda.get_rng_state(self.device)
            try:
                path = pretrain_cache.save(key, meta, payload)
                logger.info("%s: pretraining cached as %s", self.name, path)
            except OSError as exc:
                logger.warning("%s: could not write the pretraining cache (%s); continuing", self.name, exc)
        return {**info, "cache": {"key": key, "hit": False} if use else None}

    def _train_phase(
        self,
        *,
        data: TrainData,
        csr: Any,
        active: list[str],
        epochs: int,
        batch_size: int,
        valid: Validator | None,
        desc: str,
    ) -> dict[str, Any]:
        c, net, device = self.config, self.net, self.device
        assert net is not None
        users, window, gen = data.users, data.window, data.generator
        opt = make_adam(net.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay)
        opt.register_step_post_hook(lambda *_: setattr(net, "weights_version", net.weights_version + 1))
        objs = [(name, net.objective(name)) for name in active]
        per_objective: list[dict[str, float]] = []
        n = len(users)
        lengths = (window != 0).sum(1) if window is not None and c.bucket_by_length else None
        from ..running.devices import GradScaler, autocast

        precision = getattr(self, "precision", "fp32")
        scaler = GradScaler(device, precision)

        def run_epoch(epoch: int) -> float:
            total = 0.0
            parts = dict.fromkeys(active, 0.0)
            for _, obj in objs:
                obj.epoch_start(net, epoch, data)
            net.train()
            for idx in epoch_batches(n, batch_size, gen, lengths):
                batch = TrainBatch(
                    users[idx],
                    gen,
                    device,
                    window=window[idx] if window is not None else None,
                    bag=Bag.from_csr(csr[users[idx].numpy()], device) if csr is not None else None,
                    rows=idx,
                    items=data.items[idx] if data.items is not None else None,
                    times=data.times[idx] if data.times is not None else None,
                )
                with autocast(device, precision):  # fp32: no-op
                    for _, obj in objs:
                        obj.plan(net, batch)
                    loss = torch.zeros((), device=device)
                    for name, obj in objs:
                        part = obj.loss(net, batch).float()
                        parts[name] += float(part.detach()) * len(idx)
                        loss = loss + obj.weight * part
                opt.zero_grad(set_to_none=True)
                scaler.step(loss, opt)
                total += float(loss.detach()) * len(idx)
            per_objective.append({k: v / max(1, n) for k, v in parts.items()})
            return total / max(1, n)

        info = train_loop(
            self,
            epochs=epochs,
            run_epoch=run_epoch,
            module=net,
            valid=valid,
            patience=c.patience,
            eval_every=c.eval_every,
            desc=desc,
            state={"optimizer": opt, "generator": gen, "objectives": _ObjectiveState(net, [e.name for e in self._objective_entries])},
        )
        info["objective_losses"] = per_objective
        info["objectives"] = list(active)
        info["examples_per_epoch"] = n  # users, or windows with train_windows="all"
        return info

    # -- scoring -------------------------------------------------------
    def scorable_items(self) -> np.ndarray | None:
        """All items, except with ``item_repr: id`` and the attribute graph: the items with training
        interactions or at least one attribute (an item with neither has no path in the joined graph)."""
        if self.config.item_repr != "id" or self.side_graph != "attributes":
            return super().scorable_items()
        if self._item_attr_multi is None or self._trained_items is None:
            return None  # not fitted yet
        reached = np.asarray(self._trained_items, bool) | (np.asarray(self._item_attr_multi).sum(1) > 0)
        return None if reached.all() else np.flatnonzero(reached)

    @torch.no_grad()
    def score(self, batch: Batch) -> torch.Tensor:
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() before score()")
        was_training = self.net.training
        self.net.eval()
        try:
            out = self.net.objective(self.main_objective).score(self.net, batch)
        finally:
            self.net.train(was_training)
        return out.float()

    @torch.no_grad()
    def user_vectors(self, batch: Batch) -> torch.Tensor:
        """User representations ``[B, d]`` used for scoring: ``score(batch)`` is ``user_vectors(batch)
        @ item_vectors().T`` (plus the decoder's output bias for bag encoders)."""
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() before user_vectors()")
        was_training = self.net.training
        self.net.eval()
        try:
            out = self.net.objective(self.main_objective).user_vectors(self.net, batch)
        finally:
            self.net.train(was_training)
        return out.float()

    @torch.no_grad()
    def item_vectors(self) -> torch.Tensor:
        """The scoring matrix ``[n_items, d]`` as used at scoring time (eval mode)."""
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() before item_vectors()")
        was_training = self.net.training
        self.net.eval()
        try:
            out = self.net.objective(self.main_objective).item_vectors(self.net)
        finally:
            self.net.train(was_training)
        return out.float()


def make_adam(params: Any, lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam, fused (one vectorised pass over each parameter) where this torch supports it."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # torch < 2.4 has no fused Adam on CPU
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def epoch_batches(
    n: int, batch_size: int, generator: torch.Generator, lengths: torch.Tensor | None = None
) -> list[torch.Tensor]:
    """One epoch's batches of indices into ``range(n)``, each index exactly once.

    Without ``lengths``: a seeded random permutation cut into batches of ``batch_size``.
    With ``lengths`` [n]: indices ordered by length (a seeded random permutation first, then
    a stable sort, so equal lengths tie-break at random), cut into batches of ``batch_size``,
    and the batches returned in a seeded random order; each batch holds users of similar length.
    """
    perm = torch.randperm(n, generator=generator)
    if lengths is None:
        return list(perm.split(batch_size))
    order = perm[torch.sort(lengths[perm], stable=True).indices]
    batches = order.split(batch_size)
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def resolved_config(model: SSLRecommender) -> dict[str, Any]:
    """The model's fully resolved specification (see :meth:`SSLRecommender.spec`)."""
    return model.spec()


def component_versions(model: SSLRecommender) -> dict[str, str]:
    """Versions of the components a model is built from (see :meth:`SSLRecommender.component_versions`)."""
    return model.component_versions()


def build_ssl_model(
    encoder: str | Mapping[str, Any],
    objectives: Sequence[str | Mapping[str, Any]],
    **train_params: Any,
) -> SSLRecommender:
    """An :class:`SSLRecommender` from an encoder spec, objective specs and training parameters.

    Example::

        build_ssl_model({"name": "transformer", "causal": True},
                        ["next_item", {"name": "contrastive", "objective_weight": 0.1}],
                        epochs=50, max_len=50)

    ``train_params`` may include ``schedule`` and ``name`` besides the fields of
    :class:`SSLTrainConfig`.
    """
    return SSLRecommender(encoder=encoder, objectives=objectives, **train_params)
