"""Contrastive learning between two augmented views of each sequence (CL4SRec)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import AUGMENTATIONS, ConfigError, register_objective
from .base import IncompatibleError, Objective, ObjectiveConfig, TrainBatch, TrainData, check_choice, in_span, trim_left
from .losses import flat_similarity, info_nce

__all__ = [
    "AugmentationConfig",
    "Contrastive",
    "ContrastiveConfig",
    "ViewObjective",
    "augment",
    "augment_input",
    "augmentation_options",
    "build_augmentations",
    "draw_views",
    "view_times",
]


@dataclasses.dataclass
class AugmentationConfig(ObjectiveConfig):
    """Augmentation parameters shared by the objectives that contrast augmented views."""

    augmentations: list[str] = dataclasses.field(default_factory=lambda: ["crop", "mask", "reorder"])
    """Registered augmentations; each view of each sequence draws one of them uniformly."""
    crop_ratio: float = 0.2
    """Fraction kept by ``crop`` (``eta``)."""
    mask_ratio: float = 0.7
    """Fraction masked by ``mask`` (``gamma``)."""
    mask_value: str = "token"
    """What ``mask`` puts in place of an item: ``"token"`` (the paper's ``[mask]``) or
    ``"padding"`` (the CL4SRec / ICLRec code, which writes the padding id 0)."""
    reorder_ratio: float = 0.2
    """Fraction shuffled by ``reorder`` (``beta``)."""
    substitute_ratio: float = 0.1
    """Fraction replaced by their most correlated item by ``substitute`` (CoSeRec)."""
    insert_ratio: float = 0.4
    """Fraction of items before which ``insert`` puts their most correlated item (CoSeRec)."""
    item_similarity: str = "offline"
    """Item correlations of ``substitute`` / ``insert``: ``"offline"`` (ItemCF-IUF on the training split),
    ``"online"`` (the model's item embeddings) or ``"hybrid"`` (the better of the two per item)."""
    online_after: int = 0
    """Epochs of offline correlations before ``online`` / ``hybrid`` ones (CoSeRec's augmentation warm-up)."""


@dataclasses.dataclass
class ContrastiveConfig(AugmentationConfig):
    """Parameters of :class:`Contrastive`."""

    objective_weight: float = 0.1
    """Weight of the contrastive loss (``lambda`` in CL4SRec)."""
    temperature: float = 1.0
    """InfoNCE temperature."""
    similarity: str = "dot"
    """``"dot"`` (CL4SRec) or ``"cosine"`` similarity between views."""
    view_repr: str = "last"
    """How a view is represented: ``"last"`` = the hidden state at the last position (the user
    representation used for scoring); ``"flatten"`` = every position's hidden state of the
    right-aligned view concatenated (padding positions are zeros unless ``padding_outputs`` says
    otherwise), as in the CL4SRec / ICLRec code."""
    padding_outputs: str = "zero"
    """With ``view_repr="flatten"``, what the padding positions left of a view's items contribute:
    ``"zero"`` = nothing; ``"attending"`` = the encoder's outputs there as the authors' SASRec-family
    code computes them (every position of the ``max_len`` window is run, and a position with no real
    key at or before it attends to every key of the window, the view's items included:
    :meth:`~ssl4rec.encoders.transformer.TransformerEncoder.window_outputs`). Costs a full-window
    pass per view (transformers only)."""


def needs_window_outputs(net: nn.Module, what: str) -> None:
    """Refuse (n/a with the reason) an encoder that does not compute outputs at padding positions."""
    try:
        net.encoder.window_outputs(torch.ones(1, 1, dtype=torch.long, device=net.device))
    except NotImplementedError as e:
        raise IncompatibleError(f"{what} needs the outputs of every window position: {e}") from None


def augment(seq: torch.Tensor, augmentations: list, generator: torch.Generator, mask_token: int) -> torch.Tensor:
    """Apply one augmentation, drawn uniformly per row, to each row of ``seq`` [B, L]."""
    if len(augmentations) == 1:
        return augmentations[0](seq, generator, mask_token)
    choice = torch.randint(len(augmentations), (seq.shape[0],), generator=generator).to(seq.device)
    out = seq.clone()
    for k, aug in enumerate(augmentations):
        rows = (choice == k).nonzero().squeeze(1)
        if rows.numel():
            out[rows] = aug(seq[rows], generator, mask_token)
    return out


def augmentation_options(c: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(name, options)`` of each augmentation named in ``c.augmentations``, options read from the config ``c``."""
    correlated = {"similarity": c.item_similarity, "online_after": c.online_after}
    options = {
        "crop": {"ratio": c.crop_ratio},
        "mask": {"ratio": c.mask_ratio, "value": c.mask_value},
        "reorder": {"ratio": c.reorder_ratio},
        "substitute": {"ratio": c.substitute_ratio, **correlated},
        "insert": {"ratio": c.insert_ratio, **correlated},
    }
    return [(name, options.get(name, {})) for name in c.augmentations]


def build_augmentations(c: Any, where: str) -> list:
    """The augmentations named in ``c.augmentations``, each given its ratio and options from the config ``c``."""
    from ..ssl import augmentations as _builtin  # noqa: F401  (registers the built-in augmentations)

    if not c.augmentations:
        raise ConfigError(f"objective {where!r}: augmentations must name at least one augmentation")
    return [AUGMENTATIONS.build(name, **options) for name, options in augmentation_options(c)]


def draw_views(batch: TrainBatch, objective: ViewObjective, net: nn.Module, reuse: bool = False) -> torch.Tensor:
    """Two augmented views of the batch's sequences, ``[2B, W]`` (first views, then second views), trimmed.

    The views are kept in ``batch.memo`` under the objective's augmentation settings; with ``reuse``,
    views an earlier objective of the step drew with the same settings are returned instead of new
    ones (ICLRec's ``Hybrid`` contrasts one pair of views in both its losses).
    """
    key = ("views", repr(augmentation_options(objective.config)))
    if reuse and key in batch.memo:
        return batch.memo[key]
    seq = augment_input(batch, objective.augmentations, net.max_len)
    if batch.sequence_times is not None:
        both, times = _timed_views(seq, batch.sequence_times, objective.augmentations, batch.generator, net.mask_token)
        batch.memo[("view_times", id(both))] = times
    else:
        views = [augment(seq, objective.augmentations, batch.generator, net.mask_token) for _ in range(2)]
        both = trim_left(torch.cat(views))  # one width for both views: positions align from the right
    batch.memo.setdefault(key, both)
    return both


def view_times(batch: TrainBatch, both: torch.Tensor) -> torch.Tensor | None:
    """The timestamps of the positions of views ``both`` drawn by :func:`draw_views` (None without times)."""
    return batch.memo.get(("view_times", id(both)))


def _timed_views(
    seq: torch.Tensor, times: torch.Tensor, augmentations: list, generator: torch.Generator, mask_token: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two views of ``seq`` and their timestamps: the augmentations (positional ones) are applied to
    position ids, which then pick each view position's item and time. The random draws are those
    of augmenting the items themselves, so the views equal :func:`augment`'s."""
    w = seq.shape[1]
    column = torch.arange(w, device=seq.device).expand_as(seq)
    pos = torch.where(seq != 0, column + 1, 0)
    token = w + 1  # a masked position: the item becomes the mask token, its time stays
    drawn = torch.cat([augment(pos, augmentations, generator, token) for _ in range(2)])
    items, stamps = seq.repeat(2, 1), times.repeat(2, 1)
    src = torch.where((drawn > 0) & (drawn <= w), drawn - 1, column.repeat(2, 1))
    picked_items = torch.where(drawn == token, mask_token, items.gather(1, src))
    both = torch.where(drawn == 0, 0, picked_items)
    stamps = torch.where(drawn == 0, 0, stamps.gather(1, src))
    both = trim_left(both)
    return both, stamps[:, w - both.shape[1] :]


def augment_input(batch: TrainBatch, augmentations: list, max_len: int) -> torch.Tensor:
    """The batch's sequences as augmentations take them: padded to ``max_len`` when one may lengthen them."""
    seq = batch.sequence
    if any(getattr(a, "grows", False) for a in augmentations) and seq.shape[1] < max_len:
        seq = F.pad(seq, (max_len - seq.shape[1], 0))
    return seq


class ViewObjective(Objective):
    """Base of objectives that contrast augmented views: owns ``self.augmentations`` and passes
    the data hooks on to them (item correlations of ``substitute`` / ``insert``)."""

    augmentations: list

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        for aug in self.augmentations:
            aug.prepare(net, data)

    def epoch_start(self, net: nn.Module, epoch: int, data: TrainData) -> None:
        for aug in self.augmentations:
            aug.epoch_start(net, epoch, data)

    def views(self, net: nn.Module, batch: TrainBatch, reuse: bool = False) -> torch.Tensor:
        """The step's two views of the batch (:func:`draw_views`), drawn once per objective and step
        (in :meth:`plan`, read again in :meth:`loss`)."""
        key = ("drawn", id(self))
        if key not in batch.memo:
            batch.memo[key] = draw_views(batch, self, net, reuse=reuse)
        return batch.memo[key]


@register_objective(
    "contrastive",
    config=ContrastiveConfig,
    requires=("sequence",),
    search_space={
        "objective_weight": ("float", 0.01, 1.0, "log"),
        "temperature": ("float", 0.05, 2.0, "log"),
        "crop_ratio": ("float", 0.1, 0.9, "linear"),
        "mask_ratio": ("float", 0.1, 0.9, "linear"),
        "reorder_ratio": ("float", 0.1, 0.9, "linear"),
    },
    paper="Xie et al., Contrastive Learning for Sequential Recommendation, ICDE 2022",
    tags=("ssl", "sequence"),
)
class Contrastive(ViewObjective):
    """InfoNCE between the user representations of two augmented views of each sequence.

    Xie et al., "Contrastive Learning for Sequential Recommendation" (CL4SRec), ICDE 2022.
    Each view applies one of ``augmentations`` (default crop / mask / reorder, chosen per
    sequence) to the user's most recent ``max_len`` items; the two views of a sequence are a
    positive pair and the other 2N - 2 views of the batch are negatives (:func:`info_nce`).
    Defaults follow the authors' code (dot-product similarity, temperature 1.0, weight 0.1,
    ratios 0.2 / 0.7 / 0.2). Deviation by default (``view_repr="last"``): views are compared by
    the hidden state at the last position (the user representation used for scoring);
    ``view_repr="flatten"`` compares the flattened sequence outputs as the authors' code does.
    Masked items take the mask token (the paper's ``[mask]``) by default; ``mask_value="padding"``
    writes the padding id as the authors' code does.
    """

    Config = ContrastiveConfig
    passes_time = True
    requires = ("sequence",)
    main = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        c = self.config
        check_choice(c.similarity, ("dot", "cosine"), "objective 'contrastive' option similarity")
        check_choice(c.view_repr, ("last", "flatten"), "objective 'contrastive' option view_repr")
        if c.temperature <= 0:
            raise ConfigError(f"objective 'contrastive': temperature must be positive, got {c.temperature}")
        check_choice(c.mask_value, ("token", "padding"), "objective 'contrastive' option mask_value")
        check_choice(c.padding_outputs, ("zero", "attending"), "objective 'contrastive' option padding_outputs")
        if c.padding_outputs == "attending" and c.view_repr != "flatten":
            raise ConfigError(
                "objective 'contrastive': padding_outputs 'attending' applies to flattened views; set view_repr: flatten"
            )
        self.augmentations = build_augmentations(c, "contrastive")

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        super().prepare(net, data)
        if self.config.padding_outputs == "attending":
            needs_window_outputs(net, "contrastive padding_outputs 'attending'")

    def plan(self, net: nn.Module, batch: TrainBatch) -> None:
        if self.config.padding_outputs == "attending":
            return  # a full-window pass of its own in loss()
        both = self.views(net, batch)
        where = in_span(both) if self.config.view_repr == "flatten" else None
        batch.request(("contrastive", id(self)), both, where, view_times(batch, both))

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        both = self.views(net, batch)
        times = view_times(batch, both)
        seq_rows = both.shape[0] // 2
        key = ("contrastive", id(self))
        if self.config.padding_outputs == "attending":  # every window position, padding outputs included
            z = net.encoder.window_outputs(both, times).flatten(1)
            return info_nce(z[:seq_rows], z[seq_rows:], self.config.temperature, self.config.similarity)
        if self.config.view_repr == "flatten":
            # z @ z.T of the flattened views, by span (padding outputs are zero): dense cost only for long rows
            rows, chunks = net.packed_chunks(both, batch.hidden(net, key, both, in_span(both), times))
            inv = torch.empty_like(rows)
            inv[rows] = torch.arange(rows.numel(), device=rows.device)
            gram = flat_similarity(chunks).index_select(0, inv).index_select(1, inv)
            z1 = gram[:seq_rows]
            return info_nce(z1, z1, self.config.temperature, self.config.similarity, gram=gram)
        z1, z2 = batch.hidden(net, key, both, None, times).chunk(2)
        return info_nce(z1, z2, self.config.temperature, self.config.similarity)
