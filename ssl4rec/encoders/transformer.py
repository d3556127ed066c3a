"""Transformer sequence encoder: causal (SASRec) or bidirectional (BERT4Rec)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ConfigError, register_encoder
from .base import ItemEmbedding, SequenceEncoder, attention_mask, dropout
from .time import TimeFeatures, check_time_mode, interval_buckets, uses_features, uses_intervals

__all__ = ["TransformerConfig", "TransformerEncoder"]


@dataclasses.dataclass
class TransformerConfig:
    """Parameters of :class:`TransformerEncoder`."""

    embedding_size: int = 64
    """Size of item, position and hidden vectors."""
    num_layers: int = 2
    """Number of self-attention blocks."""
    num_heads: int = 2
    """Attention heads per block (must divide ``embedding_size``)."""
    inner_size: int | None = None
    """Hidden size of the feed-forward layer; None = 4 x ``embedding_size``."""
    dropout: float = 0.2
    """Dropout on embeddings, attention weights and residual branches."""
    causal: bool = True
    """True: each position attends to earlier ones (SASRec); False: to all (BERT4Rec)."""
    layer_norm_eps: float = 1e-12
    """Epsilon of the layer norms."""
    time: str = "none"
    """Time context (:mod:`ssl4rec.encoders.time`): ``"none"``; ``"intervals"`` = TiSASRec's
    interval embeddings added to attention keys and values; ``"features"`` = hour-of-day,
    day-of-week and recency embeddings added to the input; ``"both"``."""
    time_span: int = 256
    """Interval buckets are clipped at this value (TiSASRec's ``k``)."""


class _Block(nn.Module):
    """Post-LN transformer block: multi-head self-attention and a GELU feed-forward layer."""

    def __init__(self, dim: int, heads: int, inner: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.ff1 = nn.Linear(dim, inner)
        self.ff2 = nn.Linear(inner, dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)

    def forward(
        self,
        x: torch.Tensor,
        flat: torch.Tensor,
        shape: tuple[int, int],
        allowed: torch.Tensor,
        select: torch.Tensor | None = None,
        intervals: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``x`` [N, d]: the kept positions ``flat`` (indices into the flattened [B, W] grid).

        ``select`` (indices into the rows of ``x``): compute and return only those outputs
        (every position still serves as key and value). ``intervals``: ``(buckets [B, W, W],
        key table [T + 1, d], value table [T + 1, d])``, TiSASRec's relative time terms.
        """
        b, w = shape
        d = x.shape[1]
        qkv = x.new_zeros(b * w, 3 * d).index_copy(0, flat, self.qkv(x))
        q, k, v = qkv.view(b, w, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if intervals is not None:
            a = self._interval_attention(q, k, v, allowed, intervals)
        elif self.training and self.dropout > 0:
            # explicit attention: SDPA's CPU dropout draws with bernoulli_, much slower
            s = (q @ k.transpose(-1, -2)).mul_(1.0 / math.sqrt(q.shape[-1]))
            s = s.masked_fill(~allowed, float("-inf")).softmax(-1)
            a = dropout(s, self.dropout) @ v
        else:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        if select is not None:
            flat, x = flat[select], x.index_select(0, select)
        a = self.out(a.transpose(1, 2).reshape(b * w, d).index_select(0, flat))
        x = self.norm1(x + dropout(a, self.dropout, self.training))
        f = self.ff2(F.gelu(self.ff1(x)))
        return self.norm2(x + dropout(f, self.dropout, self.training))

    def _interval_attention(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        allowed: torch.Tensor,
        intervals: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        """Attention with interval terms: ``softmax(q_i (k_j + r^K_ij)) (v_j + r^V_ij)`` (TiSASRec).

        The ``[B, H, W, W, d_h]`` tensors of relative vectors are never built: ``q . r^K`` is
        ``q`` against the whole key table gathered by bucket, and the value term sums the
        attention weights per bucket before one product with the value table.
        """
        buckets, key_table, value_table = intervals
        h, dh = q.shape[1], q.shape[-1]
        index = buckets[:, None].expand(-1, h, -1, -1)
        s = q @ k.transpose(-1, -2)
        s = s + torch.einsum("bhwd,thd->bhwt", q, key_table.view(-1, h, dh)).gather(-1, index)
        s = s.mul_(1.0 / math.sqrt(dh)).masked_fill(~allowed, float("-inf")).softmax(-1)
        s = dropout(s, self.dropout, self.training)
        per_bucket = s.new_zeros(*s.shape[:3], key_table.shape[0]).scatter_add_(-1, index, s)
        return s @ v + torch.einsum("bhwt,thd->bhwd", per_bucket, value_table.view(-1, h, dh))


@register_encoder(
    "transformer",
    config=TransformerConfig,
    search_space={
        "embedding_size": ("categorical", [32, 64, 128]),
        "num_layers": ("int", 1, 3, "linear"),
        "num_heads": ("categorical", [1, 2, 4]),
        "dropout": ("float", 0.0, 0.5, "linear"),
    },
    paper=(
        "Kang & McAuley, Self-Attentive Sequential Recommendation, ICDM 2018 (causal); "
        "Sun et al., BERT4Rec, CIKM 2019 (bidirectional)"
    ),
    tags=("sequence", "transformer"),
    provides=("sequence", "causal", "bidirectional"),
)
class TransformerEncoder(SequenceEncoder):
    """Self-attention over the item sequence with learned positions; causal or bidirectional.

    Kang and McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018 (``causal=True``,
    SASRec); Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
    Representations from Transformer", CIKM 2019 (``causal=False``). Layout as in RecBole's
    SASRec/BERT4Rec: (item + position) embedding, LayerNorm, dropout, then post-LN blocks of
    multi-head attention and a GELU feed-forward layer. Deviations: SASRec's original uses
    pre-LN blocks with a ReLU feed-forward layer; positions are absolute over ``max_len``
    counted from the right end, so the most recent item always has position ``max_len - 1``.
    Every position may attend to itself, so an all-padding row stays finite; padding positions
    are not computed (their output is zero) except the last one.
    """

    Config = TransformerConfig
    name = "transformer"
    direction = "causal"  # the default; ``causal=False`` makes an instance "bidirectional"
    supports_time = True

    def __init__(
        self, n_items: int, max_len: int = 50, item_embedding: ItemEmbedding | None = None, **params: Any
    ) -> None:
        super().__init__(n_items, max_len, item_embedding, **params)
        c = self.config
        if c.embedding_size % c.num_heads:
            raise ConfigError(
                f"encoder 'transformer': num_heads={c.num_heads} must divide embedding_size={c.embedding_size}"
            )
        d = c.embedding_size
        check_time_mode(c.time, c.time_span, "encoder 'transformer'")
        self.causal = bool(c.causal)
        self.direction = "causal" if self.causal else "bidirectional"  # type: ignore[misc]
        self.position = nn.Embedding(self.max_len, d)
        self.time_features = TimeFeatures(d) if uses_features(c.time) else None
        if uses_intervals(c.time):  # shared by the blocks, as TiSASRec's time-matrix embeddings
            self.interval_key = nn.Embedding(c.time_span + 1, d)
            self.interval_value = nn.Embedding(c.time_span + 1, d)
        self.norm = nn.LayerNorm(d, eps=c.layer_norm_eps)
        self.blocks = nn.ModuleList(
            _Block(d, c.num_heads, c.inner_size or 4 * d, c.dropout, c.layer_norm_eps) for _ in range(c.num_layers)
        )
        self.reset_parameters()

    @classmethod
    def capabilities(cls, params: dict[str, Any] | None = None) -> tuple[str, ...]:
        causal = (params or {}).get("causal", TransformerConfig.causal)
        return ("sequence", "causal" if causal else "bidirectional")

    def reset_parameters(self) -> None:
        """Normal(0, 0.02) weights, zero biases, unit layer norms (BERT / RecBole).

        An item representation passed in (e.g. text-aware) is initialised by its own
        ``reset_parameters(0.02)``, not by the loop over this encoder's layers.
        """
        given = set() if self._own_items else set(self.item_embedding.modules())
        for m in self.modules():
            if m in given:
                continue
            if isinstance(m, nn.Linear | nn.Embedding):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.item_embedding.reset_parameters(0.02)

    def forward(self, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        b, w = seq.shape
        x, flat, _ = self._run(seq, None, times=times)
        return x.new_zeros(b * w, x.shape[1]).index_copy(0, flat, x).view(b, w, -1)

    def represent(self, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        where = torch.zeros(seq.shape, dtype=torch.bool, device=seq.device)
        where[:, -1] = True
        return self.hidden_at(seq, where, times)

    def hidden_at(self, seq: torch.Tensor, where: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        if bool((where & (seq == 0))[:, :-1].any()):
            return self(seq, times)[where]  # padding positions (zero outputs) asked for: the slow path
        return self._run(seq, where, times=times)[0]

    def padding_outputs(self) -> torch.Tensor:
        """Outputs ``[max_len, d]`` at the positions of an all-padding window, every position computed.

        What implementations that run the padding (the SASRec-family code of S3-Rec, CL4SRec and
        ICLRec) output left of a row's first item: under causal attention a padding position sees
        only the padding before it, so its output depends on its position alone (and on dropout
        while training). Causal encoders only.
        """
        if not self.causal:
            raise NotImplementedError("a bidirectional transformer's padding outputs depend on the row's items")
        seq = torch.zeros(1, self.max_len, dtype=torch.long, device=self.position.weight.device)
        times = torch.zeros_like(seq) if self.uses_time else None
        return self._run(seq, None, keep=torch.ones(seq.shape, dtype=torch.bool, device=seq.device), times=times)[0]

    def window_outputs(self, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs ``[B, max_len, d]`` at every position of each row's ``max_len`` window (``seq`` is
        left-padded to it), padding positions and padding ids inside a row included, as the SASRec-family
        code of S3-Rec, CL4SRec, ICLRec and CoSeRec computes them.

        That code runs all ``max_len`` positions and adds -10000 to the score of every padding key
        (and, causal, of every later key). A query with no real key at or before it, i.e. every
        position left of a row's first item, has all its keys shifted alike, which cancels in the
        softmax: it attends to every key of the window, the row's items included (later ones too), so
        its output depends on the row. Real positions attend as in :meth:`forward` and their outputs
        equal it (padding keys are never attended by them). The authors' flattened views
        (CL4SRec, CoSeRec, ICLRec's instance contrast) and window means (ICLRec's intents) are made of
        these outputs; for Beauty's short rows most of a window is padding. Unlike
        :meth:`padding_outputs` (an all-padding window: position-only outputs), these carry the row.
        """
        b, w = seq.shape
        if w > self.max_len:
            raise ValueError(f"sequence width {w} exceeds max_len={self.max_len}")
        pad = self.max_len - w
        if pad:
            seq = F.pad(seq, (pad, 0))
            times = None if times is None else F.pad(times, (pad, 0))
        real = seq != 0
        allowed = real[:, None, :].expand(-1, self.max_len, -1)
        if self.causal:
            allowed = allowed & torch.ones(self.max_len, self.max_len, dtype=torch.bool, device=seq.device).tril()
        allowed = allowed | ~allowed.any(-1, keepdim=True)  # no key left: every key, alike
        keep = torch.ones_like(real)
        x, _, _ = self._run(seq, None, keep=keep, times=times, allowed=allowed[:, None])
        return x.view(b, self.max_len, -1)

    def _run(
        self,
        seq: torch.Tensor,
        where: torch.Tensor | None,
        keep: torch.Tensor | None = None,
        times: torch.Tensor | None = None,
        allowed: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Outputs ``[N, d]`` of the kept positions (or of ``where``), their flat indices, the kept mask."""
        b, w = seq.shape
        if w > self.max_len:
            raise ValueError(f"sequence width {w} exceeds max_len={self.max_len}")
        # Only real positions (and the last one, the user representation even for an empty
        # history) are computed unless ``keep`` says otherwise: feed-forward layers, norms and
        # dropout run on the packed tokens; attention scatters them back to the [B, W] grid.
        # With ``where``, the last block computes only the wanted outputs.
        if keep is None:
            keep = seq != 0
            keep[:, -1] = True
        flat = keep.view(-1).nonzero().squeeze(1)
        pos = torch.arange(self.max_len - w, self.max_len, device=seq.device).repeat(b)[flat]
        x = self.item_embedding(seq.reshape(-1)[flat]) + self.position(pos)
        intervals = None
        if self.check_times(seq, times) is not None:
            real = seq != 0
            if self.time_features is not None:
                x = x + self.time_features(times, real).view(b * w, -1)[flat]
            if uses_intervals(self.config.time):
                buckets = interval_buckets(times, real, self.config.time_span)
                intervals = (buckets, self.interval_key.weight, self.interval_value.weight)
        x = dropout(self.norm(x), self.config.dropout, self.training)
        if allowed is None:
            allowed = attention_mask(keep, self.causal)
        select = None if where is None else where.reshape(-1)[flat].nonzero().squeeze(1)
        for i, block in enumerate(self.blocks):
            x = block(x, flat, (b, w), allowed, select if i == len(self.blocks) - 1 else None, intervals)
        if select is not None:
            if not self.blocks:
                x = x.index_select(0, select)
            flat = flat[select]
        return x, flat, keep
