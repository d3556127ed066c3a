"""GRU sequence encoder (GRU4Rec)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..registry import register_encoder
from .base import ItemEmbedding, SequenceEncoder, dropout, gather_positions
from .time import TimeFeatures, check_time_mode, previous_gap_buckets, uses_features, uses_intervals

__all__ = ["GRUConfig", "GRUEncoder"]


@dataclasses.dataclass
class GRUConfig:
    """Parameters of :class:`GRUEncoder`."""

    embedding_size: int = 64
    """Size of the item vectors and of the output hidden states."""
    hidden_size: int = 128
    """Size of the GRU state."""
    num_layers: int = 1
    """Stacked GRU layers."""
    dropout: float = 0.3
    """Dropout on the input item embeddings."""
    time: str = "none"
    """Time context (:mod:`ssl4rec.encoders.time`): ``"intervals"`` = an embedding of the interval
    bucket to the previous item added to each input; ``"features"`` = hour-of-day, day-of-week and
    recency embeddings added to each input; ``"both"``; ``"none"``."""
    time_span: int = 256
    """Interval buckets are clipped at this value."""


@register_encoder(
    "gru",
    config=GRUConfig,
    search_space={
        "embedding_size": ("categorical", [32, 64, 128]),
        "hidden_size": ("categorical", [64, 128, 256]),
        "num_layers": ("int", 1, 3, "linear"),
        "dropout": ("float", 0.0, 0.5, "linear"),
    },
    paper="Hidasi et al., Session-based Recommendations with Recurrent Neural Networks, ICLR 2016",
    tags=("sequence", "rnn"),
    provides=("sequence", "causal"),
)
class GRUEncoder(SequenceEncoder):
    """Item embedding, dropout, a GRU and a linear map back to the embedding size.

    Hidasi, Karatzoglou, Baltrunas and Tikk, "Session-based Recommendations with Recurrent
    Neural Networks", ICLR 2016. Layout as RecBole's GRU4Rec: embedding -> dropout -> GRU
    (``num_layers``) -> linear to ``embedding_size``, so the output is scored against the
    same item vectors as the input. Deviations: whole user sequences instead of session-
    parallel mini-batches, full softmax (or sampled) loss instead of TOP1/BPR-max by default.
    Left-padded rows are rotated so the GRU reads real items first; hidden states of real
    positions therefore do not depend on how much padding a batch carries, and the outputs at
    the padding left of a row are zero (as the transformer's).
    """

    Config = GRUConfig
    name = "gru"
    direction = "causal"
    supports_time = True

    def __init__(
        self, n_items: int, max_len: int = 50, item_embedding: ItemEmbedding | None = None, **params: Any
    ) -> None:
        super().__init__(n_items, max_len, item_embedding, **params)
        c = self.config
        check_time_mode(c.time, c.time_span, "encoder 'gru'")
        self.time_features = TimeFeatures(c.embedding_size) if uses_features(c.time) else None
        self.interval = nn.Embedding(c.time_span + 1, c.embedding_size) if uses_intervals(c.time) else None
        self.gru = nn.GRU(c.embedding_size, c.hidden_size, num_layers=c.num_layers, bias=False, batch_first=True)
        self.dense = nn.Linear(c.hidden_size, c.embedding_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform GRU weights, Xavier-normal item embeddings (RecBole's GRU4Rec)."""
        for name, p in self.gru.named_parameters():
            if name.startswith("weight"):
                nn.init.xavier_uniform_(p)
        nn.init.xavier_normal_(self.dense.weight)
        nn.init.zeros_(self.dense.bias)
        for table in (self.time_features, self.interval):
            for m in table.modules() if table is not None else ():
                if isinstance(m, nn.Embedding):
                    nn.init.xavier_normal_(m.weight)
        self.item_embedding.reset_parameters(None)  # also a text-aware representation passed in

    def _run(self, seq: torch.Tensor, times: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """GRU outputs ``[B, W, hidden]`` in the right-padded layout, and each row's span ``n``."""
        b, w = seq.shape
        # span from the first real item to the end: = the item count for left-padded rows; a
        # padding id inside a row (the ``mask`` augmentation with value "padding") is read in place
        real = seq != 0
        n = torch.where(real.any(1), w - real.to(torch.int8).argmax(1), 0)
        j = torch.arange(w, device=seq.device)[None]
        # rotate each row left by its padding so real items come first: right-padded layout
        to_right = (j + (w - n)[:, None]) % w
        x = self.item_embedding(torch.gather(seq, 1, to_right))
        if self.check_times(seq, times) is not None:
            real = seq != 0
            if self.time_features is not None:
                x = x + gather_positions(self.time_features(times, real), to_right)
            if self.interval is not None:
                gaps = previous_gap_buckets(times, real, self.config.time_span)
                x = x + self.interval(torch.gather(gaps, 1, to_right))
        x = dropout(x, self.config.dropout, self.training)
        h, _ = self.gru(x)
        return h, n

    def forward(self, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        h, n = self._run(seq, times)
        w = seq.shape[1]
        j = torch.arange(w, device=seq.device)[None]
        out = gather_positions(self.dense(h), (j + n[:, None]) % w)  # rotate back to the left-padded layout
        return out * (j >= (w - n)[:, None]).unsqueeze(2)  # padding left of a row's span: zero, as the transformer

    def represent(self, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """``forward(seq)[:, -1]``, with the output layer applied to the last position only."""
        h, n = self._run(seq, times)
        w = seq.shape[1]
        last = (w - 1 + n) % w  # where the left-padded layout's last position went
        return self.dense(h[torch.arange(h.shape[0], device=h.device), last])
