"""Intent contrastive learning: sequence views against the prototype of their k-means intent (ICLRec)."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ConfigError, register_objective
from .base import IncompatibleError, TrainBatch, TrainData, check_choice, in_span, span, trim_left
from .contrastive import AugmentationConfig, ViewObjective, build_augmentations, needs_window_outputs
from .losses import info_nce

logger = logging.getLogger(__name__)

__all__ = ["IntentContrastive", "IntentContrastiveConfig", "mean_pool", "window_pool"]


@dataclasses.dataclass
class IntentContrastiveConfig(AugmentationConfig):
    """Parameters of :class:`IntentContrastive`."""

    objective_weight: float = 0.1
    """Weight of the loss (ICLRec's ``intent_cf_weight``; its Beauty script uses 0.1)."""
    temperature: float = 1.0
    """InfoNCE temperature."""
    similarity: str = "dot"
    """``"dot"`` (the authors' code: raw dot products) or ``"cosine"``."""
    num_intents: int = 256
    """k of the k-means over sequence representations (ICLRec's ``num_intent_clusters``)."""
    cluster_every: int = 1
    """Re-cluster every this many epochs (ICLRec: every epoch)."""
    warm_up_epochs: int = 0
    """Epochs before the first clustering; the loss is zero until then (ICLRec's ``warm_up_epoches``)."""
    kmeans_iters: int = 20
    """Lloyd iterations per k-means run (faiss ``niter`` in the authors' code)."""
    kmeans_restarts: int = 5
    """k-means runs per clustering, the lowest inertia kept (faiss ``nredo``)."""
    false_negatives: bool = False
    """ICLRec's false-negative mitigation (``--de_noise``): sequences of the batch with the same intent
    are not negatives of each other. Off by default, as in the authors' code and scripts."""
    encode_batch_size: int = 1024
    """Sequences per forward pass when encoding all training sequences for clustering."""
    pool: str = "real"
    """How a sequence becomes one vector: ``"real"`` = the mean of its hidden states at real positions;
    ``"window"`` = the mean over the whole ``max_len`` window, the outputs at the padding left of the
    items included (the authors' ``torch.mean(sequence_output, dim=1)``; causal transformers only)."""
    padding_outputs: str = "position"
    """With ``pool="window"``, the outputs at the padding positions: ``"position"`` = those of one
    all-padding window, shared by every row (position-only); ``"attending"`` = each row's own, as the
    authors' code computes them (every window position run; a position with no real key at or before
    it attends to every key of the window, the row's items included:
    :meth:`~ssl4rec.encoders.transformer.TransformerEncoder.window_outputs`). Costs full-window passes."""
    assign: str = "epoch"
    """Where a row's intent comes from: ``"epoch"`` = its assignment in the epoch's clustering pass;
    ``"batch"`` = the centroid nearest to its representation in the training step (train mode, no
    gradient), as the authors' code queries the k-means index with the step's forward output."""
    share_views: bool = False
    """Contrast the views an earlier ``contrastive`` objective of the step drew with the same
    augmentation settings (ICLRec's ``Hybrid`` feeds one pair of views to both losses) instead of new ones."""


def mean_pool(seqs: list[torch.Tensor], hidden: list[torch.Tensor]) -> torch.Tensor:
    """Mean of each row's hidden states over its real (non-padding) positions, chunk by chunk, concatenated."""
    out = []
    for seq, h in zip(seqs, hidden, strict=True):
        real = (seq != 0).to(h.dtype)
        out.append((h * real[:, :, None]).sum(1) / real.sum(1, keepdim=True).clamp_min(1.0))
    return torch.cat(out)


def window_pool(seqs: list[torch.Tensor], hidden: list[torch.Tensor], padding: torch.Tensor) -> torch.Tensor:
    """Mean of each row's hidden states over the whole window, the padding outputs left of its items included.

    ``padding`` [max_len, d] are the encoder's outputs at the positions of an all-padding window
    (:meth:`~ssl4rec.encoders.base.SequenceEncoder.padding_outputs`); a row whose span starts at
    window position ``p`` adds ``padding[:p]``. A padding id inside a row (the ``mask``
    augmentation with value "padding") counts as a zero output.
    """
    max_len = padding.shape[0]
    before = torch.cat([padding.new_zeros(1, padding.shape[1]), padding.cumsum(0)])  # [max_len + 1, d]
    out = []
    for seq, h in zip(seqs, hidden, strict=True):
        real = (seq != 0).to(h.dtype)
        out.append((h * real[:, :, None]).sum(1) + before[max_len - span(seq)])
    return torch.cat(out) / max_len


def pool_packed(
    net: nn.Module, seq: torch.Tensor, where: torch.Tensor, values: torch.Tensor, pool: str
) -> torch.Tensor:
    """:func:`window_pool` / :func:`mean_pool` [B, d] of ``seq`` from packed outputs: ``values`` [N, d] are
    its hidden states at ``where`` (row-major; every real position included), e.g. from a step's fused pass."""
    b, d = seq.shape[0], values.shape[1]
    real = seq != 0
    row_of = where.nonzero()[:, 0]
    sums = values.new_zeros(b, d).index_add(0, row_of, values * real[where].to(values.dtype)[:, None])
    if pool != "window":
        return sums / real.sum(1, keepdim=True).clamp_min(1).to(values.dtype)
    padding = net.encoder.padding_outputs()
    max_len = padding.shape[0]
    before = torch.cat([padding.new_zeros(1, d), padding.cumsum(0)])
    return (sums + before[max_len - span(seq)]) / max_len


def _pooled(net: nn.Module, seq: torch.Tensor, pool: str) -> torch.Tensor:
    """Pooled hidden states [B, d] of ``seq`` (:func:`mean_pool` or :func:`window_pool`), in the rows' order."""
    rows, hidden = net.encode_chunks(seq)
    w = seq.shape[1]
    parts = [seq[rows[lo : lo + h.shape[0]], w - h.shape[1] :] for lo, h in zip(_starts(hidden), hidden, strict=True)]
    pooled = window_pool(parts, hidden, net.encoder.padding_outputs()) if pool == "window" else mean_pool(parts, hidden)
    inv = torch.empty_like(rows)
    inv[rows] = torch.arange(rows.numel(), device=rows.device)
    return pooled.index_select(0, inv)


def _starts(hidden: list[torch.Tensor]) -> list[int]:
    out, lo = [], 0
    for h in hidden:
        out.append(lo)
        lo += h.shape[0]
    return out


@register_objective(
    "intent_contrastive",
    config=IntentContrastiveConfig,
    requires=("sequence",),
    search_space={
        "objective_weight": ("float", 0.01, 1.0, "log"),
        "num_intents": ("categorical", [64, 128, 256, 512, 1024]),
    },
    paper="Chen et al., Intent Contrastive Learning for Sequential Recommendation (ICLRec), WWW 2022",
    tags=("ssl", "sequence", "clustering"),
)
class IntentContrastive(ViewObjective):
    """InfoNCE between each augmented view of a sequence and the prototype of the sequence's intent.

    Chen et al., "Intent Contrastive Learning for Sequential Recommendation" (ICLRec), WWW 2022.
    Every ``cluster_every`` epochs (from ``warm_up_epochs``) the model, in eval mode, encodes every
    training sequence; the mean of its hidden states is clustered by seeded k-means into
    ``num_intents`` intents (L2, as the authors' faiss call). A sequence's intent is its nearest
    centroid; its prototype is that centroid L2-normalised (the code's ``centroids``). Each step, two
    augmented views of each sequence (one of ``augmentations`` per view) are mean-pooled and each is
    contrasted with the prototypes (:func:`info_nce`, the prototypes as the second view; the loss is
    the mean over the two views, ICLRec's ``PCLoss``). Combine with ``contrastive`` (flattened views)
    for ICLRec's ``Hybrid`` objective. By default the mean is over real positions, a row's intent
    comes from the epoch's clustering pass and the views are the objective's own; ``pool="window"``,
    ``assign="batch"`` and ``share_views=True`` do as the authors' code does (the ``iclrec`` preset):
    the mean over all ``max_len`` positions with the padding outputs, the intent re-assigned in each
    step from the model's current representation, the views of the ``contrastive`` objective.
    Deviation of ``pool="window"``: the padding outputs of one all-padding pass serve every row of a
    step (the code draws dropout per row).
    """

    Config = IntentContrastiveConfig
    requires = ("sequence",)
    main = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        c = self.config
        check_choice(c.similarity, ("dot", "cosine"), "objective 'intent_contrastive' option similarity")
        check_choice(c.pool, ("real", "window"), "objective 'intent_contrastive' option pool")
        check_choice(c.assign, ("epoch", "batch"), "objective 'intent_contrastive' option assign")
        check_choice(
            c.padding_outputs, ("position", "attending"), "objective 'intent_contrastive' option padding_outputs"
        )
        if c.padding_outputs == "attending" and c.pool != "window":
            raise ConfigError(
                "objective 'intent_contrastive': padding_outputs 'attending' applies to the window mean; set pool: window"
            )
        for key in ("num_intents", "cluster_every", "kmeans_iters", "kmeans_restarts", "encode_batch_size"):
            if int(getattr(c, key)) < 1:
                raise ConfigError(f"objective 'intent_contrastive': {key} must be >= 1, got {getattr(c, key)}")
        if c.temperature <= 0:
            raise ConfigError(f"objective 'intent_contrastive': temperature must be positive, got {c.temperature}")
        self.augmentations = build_augmentations(c, "intent_contrastive")
        self.centroids: torch.Tensor | None = None
        self.prototypes: torch.Tensor | None = None
        self.assign: torch.Tensor | None = None
        self.cluster_seconds: list[float] = []

    def prepare(self, net: nn.Module, data: TrainData) -> None:
        super().prepare(net, data)
        if self.config.padding_outputs == "attending":
            needs_window_outputs(net, "intent_contrastive padding_outputs 'attending'")
        elif self.config.pool == "window":
            try:
                net.encoder.padding_outputs()
            except NotImplementedError as e:
                raise IncompatibleError(f"intent_contrastive pool 'window' needs the padding outputs: {e}") from None

    #: Kept between epochs (re-clustered only every ``cluster_every``): saved in training checkpoints.
    checkpoint_attrs = ("centroids", "prototypes", "assign")
    checkpoint_on_cpu = ("assign",)

    def epoch_start(self, net: nn.Module, epoch: int, data: TrainData) -> None:
        super().epoch_start(net, epoch, data)  # the augmentations' correlations
        c = self.config
        if epoch < c.warm_up_epochs or (epoch - c.warm_up_epochs) % c.cluster_every:
            return
        from ..ssl.kmeans import kmeans

        t0 = time.perf_counter()
        reps = self.represent_all(net, data)
        seed = int(torch.randint(2**31 - 1, (1,), generator=data.generator))
        centroids, assign, _ = kmeans(
            reps, c.num_intents, torch.Generator().manual_seed(seed), c.kmeans_iters, c.kmeans_restarts
        )
        self.centroids = centroids.to(net.device)
        self.prototypes = F.normalize(centroids, dim=1).to(net.device)
        self.assign = assign.cpu()
        self.cluster_seconds.append(time.perf_counter() - t0)
        logger.debug("intent_contrastive: %d intents in %.2fs", centroids.shape[0], self.cluster_seconds[-1])

    @torch.no_grad()
    def represent_all(self, net: nn.Module, data: TrainData) -> torch.Tensor:
        """Mean-pooled representations [R, d] of every training row's input sequence (eval mode)."""
        if data.window is None:
            raise ValueError("intent_contrastive needs a sequence encoder")
        was = net.training
        net.eval()
        try:
            inputs = data.window[:, :-1]
            lengths = (inputs != 0).sum(1)
            order = lengths.argsort()  # similar lengths together: little padding per pass
            out = torch.empty(inputs.shape[0], net.encoder.dim, device=net.device)
            for s in range(0, len(order), self.config.encode_batch_size):
                rows = order[s : s + self.config.encode_batch_size]
                seq = trim_left(inputs[rows].to(net.device))
                if self.config.padding_outputs == "attending":
                    out[rows.to(net.device)] = net.encoder.window_outputs(seq).mean(1)
                else:
                    out[rows.to(net.device)] = self._pool([seq], [net.encode(seq)], net)
        finally:
            net.train(was)
        return out

    def _pool(self, seqs: list[torch.Tensor], hidden: list[torch.Tensor], net: nn.Module) -> torch.Tensor:
        if self.config.pool == "window":
            return window_pool(seqs, hidden, net.encoder.padding_outputs())
        return mean_pool(seqs, hidden)

    def intents(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        """[B] the batch rows' intents: from the epoch's clustering, or (``assign="batch"``) the centroid
        nearest (L2, as the authors' faiss index) to each row's current representation of its input."""
        if self.config.assign == "epoch":
            return self.assign[batch.rows].to(self.prototypes.device)
        inputs = batch.pairs[0]
        main = batch.memo.get("next_item_hidden")  # the step's forward output, as the authors' code queries
        with torch.no_grad():
            if self.config.padding_outputs == "attending":
                z = net.encoder.window_outputs(inputs).mean(1)
            elif main is not None and main[0] is inputs:
                z = pool_packed(net, inputs, main[1], main[2].detach(), self.config.pool)
            else:
                z = _pooled(net, inputs, self.config.pool)
        return torch.cdist(z, self.centroids).argmin(1)

    def plan(self, net: nn.Module, batch: TrainBatch) -> None:
        if self.prototypes is not None and self.assign is not None and self.config.padding_outputs != "attending":
            views = self.views(net, batch, reuse=self.config.share_views)
            batch.request(("intent_contrastive", id(self)), views, in_span(views))

    def loss(self, net: nn.Module, batch: TrainBatch) -> torch.Tensor:
        if self.prototypes is None or self.assign is None:
            return torch.zeros((), device=batch.device)
        c = self.config
        intent = self.intents(net, batch)
        proto = self.prototypes[intent]
        views = self.views(net, batch, reuse=c.share_views)
        if c.padding_outputs == "attending":  # a full-window pass of its own, as the code's PCL pass
            z1, z2 = net.encoder.window_outputs(views).mean(1).chunk(2)
        else:
            where = in_span(views)
            hidden = batch.hidden(net, ("intent_contrastive", id(self)), views, where)
            z1, z2 = pool_packed(net, views, where, hidden, c.pool).chunk(2)
        keys = intent if c.false_negatives else None
        return 0.5 * (
            info_nce(z1, proto, c.temperature, c.similarity, keys=keys)
            + info_nce(z2, proto, c.temperature, c.similarity, keys=keys)
        )
