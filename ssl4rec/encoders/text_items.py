"""Text-aware item representations: frozen item-text vectors through a learned adapter.

:class:`TextItemEmbedding` is a drop-in replacement for :class:`~ssl4rec.encoders.base.ItemEmbedding`
(same ids, same ``forward`` / ``all`` / ``scoring_matrix``), so every sequence encoder reads
and scores items through it unchanged. It serves the SSL model's ``item_repr`` option:

* ``"text"``: item ``i`` is ``adapter(text_i)``;
* ``"id+text"``: item ``i`` is ``id_i + adapter(text_i)``;
* ``"attr"`` / ``"id+attr"``: the same over the item's multi-hot attributes (:func:`attribute_matrix`)
  instead of text: the adapter's rows are learned attribute embeddings, pooled per item (their sum
  over the item's attributes, scaled by 1 / sqrt(count) and offset by a shared vector, after
  :func:`prepare_text`), so an item with attributes but no interaction is scored.

Padding (id 0) stays a zero vector and the mask token (id ``n_items + 1``) a learned vector.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ATTR_REPRS", "ITEM_REPRS", "TextItemEmbedding", "attribute_matrix", "image_matrix", "prepare_text", "repr_parts"]

#: Accepted values of the SSL model's ``item_repr`` option.
ITEM_REPRS = ("id", "text", "id+text", "attr", "id+attr", "image", "id+image", "text+image", "id+text+image")
#: The ``item_repr`` values built from item attributes instead of text.
ATTR_REPRS = ("attr", "id+attr")


def repr_parts(item_repr: str) -> set[str]:
    """``"id+text+image"`` -> ``{"id", "text", "image"}``."""
    return set(item_repr.split("+"))


def image_matrix(items, n_items: int) -> tuple[np.ndarray, dict[str, int]]:
    """``[n_items, d]`` float32 image vectors from the items table's ``image`` column (attached by the
    dataset option ``item_features: {image: FILE}``); items without one get zeros (counted)."""
    if items is None or "image" not in getattr(items, "columns", ()):
        raise ValueError("the dataset has no image features (give the dataset item_features: {image: FILE})")
    col = items["image"].tolist()
    dims = {len(v) for v in col if v is not None}
    if len(dims) != 1:
        raise ValueError(f"image vectors must all have one length, found {sorted(dims) or 'none'}")
    (d,) = dims
    out = np.zeros((n_items, d), dtype=np.float32)
    missing = 0
    for i, v in zip(items.index.to_numpy(), col, strict=True):
        if v is None:
            missing += 1
        else:
            out[int(i)] = v
    return out, {"dim": int(d), "items_without": missing}

#: Item side-table columns read as attributes (``item_repr: attr``), with their token prefix.
ATTRIBUTE_COLUMNS = (("attributes", "attr"), ("genres", "genre"), ("categories", "category"), ("brand", "brand"))


def attribute_matrix(items, n_items: int) -> tuple[np.ndarray, dict[str, int]]:
    """Multi-hot ``[n_items, n_tokens]`` float32 of each item's attributes, and counts for the record.

    Tokens come from every column of :data:`ATTRIBUTE_COLUMNS` the items table has (S3-Rec's attribute
    ids, MovieLens genres, Amazon categories and brand), prefixed by their column (``genre:Drama``).
    Raises ``ValueError`` when the table has none of them or no item has any token.
    """
    cols = [(c, prefix) for c, prefix in ATTRIBUTE_COLUMNS if items is not None and c in getattr(items, "columns", ())]
    if not cols:
        raise ValueError(
            "the dataset's items have no attributes (columns " + ", ".join(c for c, _ in ATTRIBUTE_COLUMNS) + ")"
        )
    vocab: dict[str, int] = {}
    rows, ids = [], []
    for c, prefix in cols:
        for i, v in zip(items.index.to_numpy(), items[c].tolist(), strict=True):
            values = (
                v if isinstance(v, list | tuple | np.ndarray) else ([v] if isinstance(v, str | int) and v != "" else [])
            )
            for t in values:
                rows.append(int(i))
                ids.append(vocab.setdefault(f"{prefix}:{t}", len(vocab)))
    if not vocab:
        raise ValueError("the dataset's attribute columns are all empty")
    out = np.zeros((n_items, len(vocab)), dtype=np.float32)
    out[np.asarray(rows), np.asarray(ids)] = 1.0
    info = {"tokens": len(vocab), "columns": [c for c, _ in cols], "items_without": int((out.sum(1) == 0).sum())}
    return out, info


def prepare_text(emb: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Frozen text vectors as the models read them: centred over items, then L2-normalised per row.

    Centring removes the direction every sentence embedding shares (their anisotropy), so the
    adapter sees what distinguishes items; unit rows make the adapter's initial output scale
    equal to its weight scale. Returns float32 ``[n_items, d_text]``.
    """
    x = torch.as_tensor(np.asarray(emb, dtype=np.float32) if not isinstance(emb, torch.Tensor) else emb)
    x = x.to(device=device, dtype=torch.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"item text vectors must be a non-empty [n_items, d] matrix, got shape {tuple(x.shape)}")
    x = x - x.mean(0, keepdim=True)
    return F.normalize(x, dim=1)


class TextItemEmbedding(nn.Module):
    """Items as ``adapter(text)`` (``use_id=False``) or ``id + adapter(text)`` (``use_id=True``).

    The adapter is one linear map ``Linear(d_text, dim)`` over the frozen, centred and
    row-normalised text vectors (see :func:`prepare_text`): the "parametric whitening" of
    Hou et al., "Towards Universal Sequence Representation Learning for Recommender Systems"
    (UniSRec), KDD 2022, ``(x - b) W``, without UniSRec's mixture of experts. A linear adapter
    keeps every item's vector a function of its text alone, so items never seen in training
    get meaningful vectors; the encoder's own layers supply the non-linearity.

    Ids follow :class:`~ssl4rec.encoders.base.ItemEmbedding`: 0 = padding (always the zero
    vector), ``1..n_items`` = items, ``n_items + 1`` = the mask token (a learned vector:
    a row of the ID table with ``use_id``, else its own parameter).

    With ``use_id``, items whose ``trained`` flag is False (no training interaction) have
    their ID part zeroed whenever the module is in eval mode (validation and scoring): their
    ID rows were never trained (the SSL model also leaves such items out of the training
    softmax and negatives), so they are scored from their text alone. In training mode the ID
    rows are used as they are.

    The whole ``[n_items + 2, dim]`` table is recomputed on every call (one ``n_items x
    d_text x dim`` product), which is small next to the full-softmax scoring it feeds.

    Args:
        n_items: catalogue size.
        dim: vector size (the encoder's ``embedding_size``).
        text: ``[n_items, d_text]`` frozen text vectors, as returned by :func:`prepare_text`.
        use_id: add a learned ID embedding (``"id+text"``).
        trained: bool ``[n_items]``, items with at least one training interaction (``use_id`` only;
            default: all).
    """

    def __init__(
        self,
        n_items: int,
        dim: int,
        text: torch.Tensor,
        use_id: bool = False,
        trained: torch.Tensor | np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.n_items = int(n_items)
        self.dim = int(dim)
        if text.ndim != 2 or text.shape[0] != self.n_items:
            raise ValueError(f"text vectors have shape {tuple(text.shape)}, expected [{self.n_items}, d_text]")
        self.use_id = bool(use_id)
        # frozen data, not state: excluded from state_dict (and so from best-epoch checkpoints)
        self.register_buffer("text", text.detach().to(torch.float32), persistent=False)
        self.adapter = nn.Linear(text.shape[1], self.dim)
        if self.use_id:
            self.table = nn.Embedding(self.n_items + 2, self.dim, padding_idx=0)
            keep = torch.ones(self.n_items + 2, 1)
            if trained is not None:
                flags = torch.as_tensor(np.asarray(trained, dtype=bool))
                if flags.shape != (self.n_items,):
                    raise ValueError(f"trained has shape {tuple(flags.shape)}, expected ({self.n_items},)")
                keep[1 : self.n_items + 1, 0] = flags.to(torch.float32)
            self.register_buffer("id_keep", keep.to(text.device), persistent=False)
        else:
            self.mask_vector = nn.Parameter(torch.zeros(self.dim))
        self.reset_parameters()

    @property
    def mask_token(self) -> int:
        return self.n_items + 1

    @property
    def text_dim(self) -> int:
        return int(self.text.shape[1])

    def reset_parameters(self, std: float | None = 0.02) -> None:
        """Normal(0, std) ID rows, adapter weights and mask vector (Xavier-normal scale of the ID
        table when ``std`` is None); zero adapter bias and padding row.

        Text rows have unit norm, so the adapter's initial outputs have about the scale of the
        ID vectors.
        """
        s = math.sqrt(2.0 / (self.n_items + 2 + self.dim)) if std is None else float(std)
        with torch.no_grad():
            nn.init.normal_(self.adapter.weight, 0.0, s)
            nn.init.zeros_(self.adapter.bias)
            if self.use_id:
                nn.init.normal_(self.table.weight, 0.0, s)
                self.table.weight[0].zero_()
            else:
                nn.init.normal_(self.mask_vector, 0.0, s)

    def _table(self) -> torch.Tensor:
        """``[n_items + 2, dim]``: padding, the items, the mask token."""
        t = self.adapter(self.text)
        zero = t.new_zeros(1, self.dim)
        if self.use_id:
            ids = self.table.weight if self.training else self.table.weight * self.id_keep
            return torch.cat([zero, t, zero]) + ids
        return torch.cat([zero, t, self.mask_vector[None]])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Vectors of ``ids`` (any shape) -> ``[*ids.shape, dim]``."""
        return F.embedding(ids, self._table())

    def all(self) -> torch.Tensor:
        """Item vectors ``[n_items + 1, dim]``; row 0 is padding, row ``i + 1`` is item ``i``."""
        return self._table()[: self.n_items + 1]

    def scoring_matrix(self) -> torch.Tensor:
        """``[n_items, dim]``: row ``i`` scores item ``i``."""
        return self._table()[1 : self.n_items + 1]
