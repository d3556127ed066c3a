"""What every encoder shares: the item representation, the two input kinds, config building.

An encoder maps a batch of user histories to representations that objectives consume:

* a *sequence* encoder (``input = "sequence"``) maps a left-padded LongTensor ``[B, W]`` of
  item ids (shifted +1, 0 = padding, ``n_items + 1`` = the mask token, ``W <= max_len``) to
  hidden states ``[B, W, d]`` for every position; the user representation is the last position.
* a *bag* encoder (``input = "bag"``) maps a :class:`Bag` (each user's set of items) to
  :class:`BagOutput` logits over all items (+ the latent ``mu`` / ``logvar``).

Items are represented by one :class:`ItemEmbedding` module owned by the encoder (attribute
``item_embedding``): its :meth:`~ItemEmbedding.all` gives the ``[n_items + 1, d]`` item vectors
(row 0 = padding) used both as the input embedding and as the output scoring matrix. A later
item representation (e.g. from item text) replaces this one module.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..registry import ConfigError, check_keys

__all__ = [
    "Bag",
    "BagEncoder",
    "BagOutput",
    "ItemEmbedding",
    "SequenceEncoder",
    "attention_mask",
    "dropout",
    "make_config",
]

C = TypeVar("C")


def make_config(config_cls: type[C], params: dict[str, Any], where: str) -> C:
    """``config_cls(**params)``; unknown keys raise :class:`ssl4rec.registry.ConfigError` with suggestions."""
    check_keys(params, [f.name for f in dataclasses.fields(config_cls)], where)  # type: ignore[arg-type]
    return config_cls(**params)


def full_precision(function: Any, *args: Any) -> Any:
    """``function.apply(*args)`` with autocast off and floating-point tensors in fp32.

    Custom autograd functions compute their own backward, which autocast does not cast: under
    ``--precision bf16/fp16`` their inputs would arrive in mixed types. They run in fp32 (the
    gradients flow back through the casts to the low-precision tensors); without autocast this
    is exactly ``function.apply(*args)``.
    """
    device = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "cpu")
    if not torch.is_autocast_enabled(device):
        return function.apply(*args)
    args = tuple(a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
    with torch.autocast(device_type=device, enabled=False):
        return function.apply(*args)


class _RowsMatmul(torch.autograd.Function):
    """``h @ weight[lo:hi].T`` whose backward writes the gradient of ``weight`` in one pass."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, weight: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        ctx.save_for_backward(h, weight)
        ctx.lo, ctx.hi = lo, hi
        return h @ weight[lo:hi].T

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        h, weight = ctx.saved_tensors
        lo, hi = ctx.lo, ctx.hi
        gh = g @ weight[lo:hi] if ctx.needs_input_grad[0] else None
        gw = None
        if ctx.needs_input_grad[1]:
            gw = weight.new_empty(weight.shape)
            gw[:lo].zero_()
            gw[hi:].zero_()
            torch.mm(g.reshape(-1, g.shape[-1]).T, h.reshape(-1, h.shape[-1]), out=gw[lo:hi])
        return gh, gw, None, None


class ItemEmbedding(nn.Module):
    """Learned ID embeddings of the items, plus the special mask token.

    Ids follow the sequence convention: 0 = padding (a zero vector), ``1..n_items`` = items,
    ``n_items + 1`` = the mask token (used by ``masked_item`` and the ``mask`` augmentation).

    Args:
        n_items: catalogue size.
        dim: vector size.
    """

    def __init__(self, n_items: int, dim: int) -> None:
        super().__init__()
        self.n_items = int(n_items)
        self.dim = int(dim)
        self.table = nn.Embedding(self.n_items + 2, self.dim, padding_idx=0)

    @property
    def mask_token(self) -> int:
        return self.n_items + 1

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Vectors of ``ids`` (any shape) -> ``[*ids.shape, dim]``."""
        return self.table(ids)

    def all(self) -> torch.Tensor:
        """Item vectors ``[n_items + 1, dim]``; row 0 is padding, row ``i + 1`` is item ``i``."""
        return self.table.weight[: self.n_items + 1]

    def scoring_matrix(self) -> torch.Tensor:
        """``[n_items, dim]``: row ``i`` scores item ``i`` (the output side of the tied embedding)."""
        return self.table.weight[1 : self.n_items + 1]

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """``h @ scoring_matrix().T``: ``[..., n_items]`` scores of every item.

        Same values and gradients; the table's gradient is written by one matrix product into its
        item rows, where autograd's slice backward zero-fills a full-size buffer and copies the
        rows into it (for a wide table, e.g. Mult-VAE's 600-dim output on 12k items, a 29 MB
        fill and copy per batch).
        """
        return full_precision(_RowsMatmul, h, self.table.weight, 1, self.n_items + 1)

    def reset_parameters(self, std: float | None = 0.02) -> None:
        """Normal(0, std) initialisation (Xavier-normal when ``std`` is None); padding row zero."""
        with torch.no_grad():
            if std is None:
                nn.init.xavier_normal_(self.table.weight)
            else:
                nn.init.normal_(self.table.weight, 0.0, std)
            self.table.weight[0].zero_()


class SequenceEncoder(nn.Module):
    """Base of sequence encoders: ``forward(seq [B, W]) -> hidden states [B, W, d]``.

    Subclasses set ``Config`` (their config dataclass), ``direction`` and build their layers
    in ``__init__`` after calling ``super().__init__``. ``W`` may be shorter than ``max_len``
    (batches are trimmed to their longest sequence); rows are left-padded, so the last
    column is each user's most recent item and the user representation.
    """

    Config: ClassVar[type] = type(None)
    input: ClassVar[str] = "sequence"
    direction: ClassVar[str | None] = "causal"
    name: ClassVar[str] = "sequence"
    supports_time: ClassVar[bool] = False
    """True for encoders with a ``time`` parameter (:mod:`ssl4rec.encoders.time`): ``forward``,
    ``represent`` and ``hidden_at`` then take ``times`` [B, W] (Unix seconds of each position)."""

    def __init__(
        self,
        n_items: int,
        max_len: int = 50,
        item_embedding: ItemEmbedding | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.config = make_config(self.Config, params, f"encoder {self.name!r}")
        self.n_items = int(n_items)
        self.max_len = int(max_len)
        dim = int(self.config.embedding_size)
        if item_embedding is not None and item_embedding.dim != dim:
            raise ConfigError(f"encoder {self.name!r}: item_embedding has dim {item_embedding.dim}, expected {dim}")
        self._own_items = item_embedding is None
        self.item_embedding = item_embedding if item_embedding is not None else ItemEmbedding(n_items, dim)

    @property
    def dim(self) -> int:
        return self.item_embedding.dim

    @property
    def uses_time(self) -> bool:
        """Whether this instance reads timestamps (its ``time`` parameter is not ``"none"``)."""
        return str(getattr(self.config, "time", "none")) != "none"

    def check_times(self, seq: torch.Tensor, times: torch.Tensor | None) -> torch.Tensor | None:
        """``times`` when this encoder reads them (shape-checked against ``seq``), else None; a
        time-aware encoder given none, or a time-free one given some, raises ``ValueError``."""
        if not self.uses_time:
            if times is not None:
                raise ValueError(f"encoder {self.name!r} has time 'none' but was given timestamps")
            return None
        if times is None:
            raise ValueError(f"encoder {self.name!r} (time={self.config.time!r}) needs the timestamps of its input")
        if times.shape != seq.shape:
            raise ValueError(f"encoder {self.name!r}: times {tuple(times.shape)} do not match seq {tuple(seq.shape)}")
        return times

    @classmethod
    def capabilities(cls, params: dict[str, Any] | None = None) -> tuple[str, ...]:
        """What this encoder provides under ``params``: its input kind and direction."""
        return (cls.input, cls.direction) if cls.direction else (cls.input,)

    def represent(self, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """User representations ``[B, d]`` (the hidden state at the last position)."""
        return (self(seq) if times is None else self(seq, times))[:, -1]

    def hidden_at(self, seq: torch.Tensor, where: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``[N, d]`` at the positions where ``where`` [B, W] (bool) is True, row by row.

        Equal to ``self(seq)[where]``; encoders may override it to skip work for the other
        positions (the transformer's last block computes only the wanted outputs).
        """
        return (self(seq) if times is None else self(seq, times))[where]

    def window_outputs(self, seq: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs ``[B, max_len, d]`` at every position of each row's ``max_len`` window, padding included,
        as the SASRec-family code computes them (see the transformer's).

        Encoders that do not compute padding positions raise :class:`NotImplementedError`; objectives
        that need these outputs make the cell n/a.
        """
        raise NotImplementedError(f"encoder {self.name!r} does not compute outputs at padding positions")

    def padding_outputs(self) -> torch.Tensor:
        """Outputs ``[max_len, d]`` at the positions of an all-padding window (see the transformer's).

        Encoders that do not compute padding positions (their outputs there are zero) raise
        :class:`NotImplementedError`; objectives that need these outputs make the cell n/a.
        """
        raise NotImplementedError(f"encoder {self.name!r} does not compute outputs at padding positions")


@dataclasses.dataclass
class Bag:
    """A batch of item sets in ``embedding_bag`` layout (item ids NOT shifted: 0 is an item).

    Attributes:
        items: LongTensor [nnz], the items of all users, row after row.
        offsets: LongTensor [B], start of each row in ``items``.
        rows: LongTensor [nnz], the row of each entry of ``items``.
        size: number of rows B.
    """

    items: torch.Tensor
    offsets: torch.Tensor
    rows: torch.Tensor
    size: int

    @classmethod
    def from_csr(cls, m: sp.csr_matrix, device: torch.device | str = "cpu") -> Bag:
        """Rows of a binary CSR matrix as a :class:`Bag`."""
        indptr = np.asarray(m.indptr, dtype=np.int64)
        counts = np.diff(indptr)
        rows = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        return cls(
            items=torch.from_numpy(np.asarray(m.indices, dtype=np.int64)).to(device),
            offsets=torch.from_numpy(indptr[:-1].copy()).to(device),
            rows=torch.from_numpy(rows).to(device),
            size=len(counts),
        )

    def counts(self) -> torch.Tensor:
        """Items per row, float [B]."""
        return torch.bincount(self.rows, minlength=self.size).to(torch.float32)


@dataclasses.dataclass
class BagOutput:
    """What a bag encoder returns: item logits and the latent Gaussian (``logvar`` None if not variational)."""

    logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor | None


class BagEncoder(nn.Module):
    """Base of bag encoders: ``forward(bag: Bag) -> BagOutput`` with logits ``[B, n_items]``."""

    Config: ClassVar[type] = type(None)
    input: ClassVar[str] = "bag"
    direction: ClassVar[str | None] = None
    name: ClassVar[str] = "bag"

    def __init__(self, n_items: int, max_len: int = 50, **params: Any) -> None:
        super().__init__()
        self.config = make_config(self.Config, params, f"encoder {self.name!r}")
        self.n_items = int(n_items)
        self.max_len = int(max_len)

    @classmethod
    def capabilities(cls, params: dict[str, Any] | None = None) -> tuple[str, ...]:
        return (cls.input,)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout, as ``F.dropout`` (zero with probability ``p``, scale the rest by ``1 / (1 - p)``).

    On CPU, ``F.dropout`` draws its mask with ``bernoulli_``, several times slower than
    comparing uniform draws; this helper does the latter, from the same global generator.
    """
    if not training or p <= 0.0:
        return x
    if p >= 1.0:
        return x * 0.0
    keep = (torch.rand(x.shape, device=x.device) >= p).to(x.dtype).mul_(1.0 / (1.0 - p))
    return x * keep


def attention_mask(real: torch.Tensor, causal: bool) -> torch.Tensor:
    """Boolean attention mask ``[B, 1, W, W]`` (True = may attend) from ``real`` [B, W] (non-padding).

    Queries attend to real keys (and, if ``causal``, only to earlier positions); every position
    may also attend to itself, so no row is all-masked: an all-padding sequence (a user with no
    history) gets a finite, position-only representation instead of NaN.
    """
    w = real.shape[1]
    allowed = real[:, None, :].expand(-1, w, -1)
    if causal:
        allowed = allowed & torch.ones(w, w, dtype=torch.bool, device=real.device).tril()
    allowed = allowed | torch.eye(w, dtype=torch.bool, device=real.device)
    return allowed[:, None]


def gather_positions(h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``h[b, index[b, j]]`` for ``h`` [B, W, d] and ``index`` [B, W]."""
    return torch.gather(h, 1, index[:, :, None].expand(-1, -1, h.shape[2]))


def normalize_rows(values: torch.Tensor, rows: torch.Tensor, size: int) -> torch.Tensor:
    """Divide each entry by the L2 norm of its row (rows with no entries are untouched)."""
    sq = torch.zeros(size, dtype=values.dtype, device=values.device).index_add_(0, rows, values * values)
    return values / sq.clamp_min(1e-12).sqrt()[rows]
