"""Core data containers shared by loaders, splits, models and the evaluator.

* :class:`Dataset` — a preprocessed dataset with dense ids and side tables.
* :class:`Interactions` — an immutable interaction log over a fixed id space, with
  cached CSR matrix and per-user chronological sequences (what models consume).
* :class:`SplitData` — the output of a split: train / valid / test (+ revealed context).
* :class:`Batch` — users to score and their known history.
"""

from __future__ import annotations

import dataclasses
import hashlib
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

COLUMNS = ("user", "item", "rating", "timestamp")
DTYPES = {"user": np.int32, "item": np.int32, "rating": np.float32, "timestamp": np.int64}


def normalize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly the four canonical columns and dtypes (a copy)."""
    out = pd.DataFrame({c: df[c].to_numpy().astype(DTYPES[c], copy=False) for c in COLUMNS})
    return out


def frame_fingerprint(df: pd.DataFrame) -> str:
    """sha256 over the canonical columns' bytes (order-sensitive)."""
    h = hashlib.sha256()
    for c in COLUMNS:
        h.update(np.ascontiguousarray(df[c].to_numpy().astype(DTYPES[c], copy=False)).tobytes())
    return h.hexdigest()


@dataclasses.dataclass
class Dataset:
    """A preprocessed dataset.

    Attributes:
        name: registry name (plus variant, e.g. ``"ml-100k"``).
        interactions: columns ``user``, ``item`` (int32 dense ids), ``rating`` (float32), ``timestamp`` (int64).
        users: side table indexed by dense user id; column ``raw_id`` plus features.
        items: side table indexed by dense item id; column ``raw_id`` plus ``title``, ``genres``/
            ``categories``, ``text``, ``attributes`` where the source has them.
        info: provenance — ``source_files`` (name -> sha256), ``preprocessing`` (steps applied with
            counts), ``counts``, ``checksum`` (of the processed interactions), ``root``.
    """

    name: str
    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def checksum(self) -> str:
        """Fingerprint of the processed interactions (sources + preprocessing)."""
        if "checksum" not in self.info:
            self.info["checksum"] = frame_fingerprint(self.interactions)
        return self.info["checksum"]

    def stats(self) -> dict[str, Any]:
        n = len(self.interactions)
        return {
            "users": self.n_users,
            "items": self.n_items,
            "interactions": n,
            "density": n / max(1, self.n_users * self.n_items),
        }


class Interactions:
    """An interaction log over a fixed ``n_users`` x ``n_items`` id space.

    Rows are kept sorted by (user, timestamp, original order), so each user's slice is
    that user's chronological history. ``items`` / ``users`` side tables ride along so
    content models can reach item text and attributes.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        n_users: int,
        n_items: int,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        has_timestamps: bool = True,
    ) -> None:
        df = normalize_frame(df)
        order = np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy(), df["user"].to_numpy()))
        self.df = df.iloc[order].reset_index(drop=True)
        self.n_users = int(n_users)
        self.n_items = int(n_items)
        self.items = items
        self.users = users
        self.has_timestamps = bool(has_timestamps)
        """False when ``timestamp`` only orders each user's interactions (a dataset without times)."""
        if len(self.df):
            if self.df["user"].max() >= n_users or self.df["item"].max() >= n_items or self.df["user"].min() < 0:
                raise ValueError("interaction ids outside the declared id space")

    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        return f"Interactions({len(self)} rows, {self.n_users} users, {self.n_items} items)"

    @classmethod
    def concat(cls, parts: list[Interactions | pd.DataFrame], like: Interactions) -> Interactions:
        """Union of several logs over ``like``'s id space and side tables."""
        frames = [p.df if isinstance(p, Interactions) else p for p in parts if p is not None and len(p)]
        df = pd.concat(frames, ignore_index=True) if frames else like.df.iloc[:0]
        return cls(df, like.n_users, like.n_items, like.items, like.users, like.has_timestamps)

    @cached_property
    def user_array(self) -> np.ndarray:
        return self.df["user"].to_numpy()

    @cached_property
    def item_array(self) -> np.ndarray:
        return self.df["item"].to_numpy()

    @cached_property
    def time_array(self) -> np.ndarray:
        return self.df["timestamp"].to_numpy()

    @cached_property
    def indptr(self) -> np.ndarray:
        """CSR row pointer: user ``u``'s rows are ``indptr[u]:indptr[u+1]``."""
        counts = np.bincount(self.user_array, minlength=self.n_users)
        out = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=out[1:])
        return out

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Binary user x item matrix (duplicates collapse to 1), float32."""
        m = sp.csr_matrix(
            (np.ones(len(self.df), dtype=np.float32), (self.user_array, self.item_array)),
            shape=(self.n_users, self.n_items),
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    @cached_property
    def user_counts(self) -> np.ndarray:
        return np.diff(self.indptr)

    @cached_property
    def item_counts(self) -> np.ndarray:
        return np.bincount(self.item_array, minlength=self.n_items)

    @cached_property
    def active_users(self) -> np.ndarray:
        return np.flatnonzero(self.user_counts > 0)

    def sequences(self, users: np.ndarray | torch.Tensor, max_len: int, ends: np.ndarray | None = None) -> torch.Tensor:
        """Left-padded chronological item sequences, shape [len(users), max_len].

        Items are shifted by +1 so that 0 is padding; sequences longer than ``max_len`` keep
        their most recent ``max_len`` items (truncation from the left). ``ends`` (absolute
        positions into the log, one per row) cuts each row's sequence off before that position
        instead of at the user's last interaction (see :meth:`windows`).
        """
        return self._layout(users, max_len, ends, self.item_array, 1)

    def sequence_times(
        self, users: np.ndarray | torch.Tensor, max_len: int, ends: np.ndarray | None = None
    ) -> torch.Tensor:
        """The timestamps of :meth:`sequences`' positions, same layout (0 at padding), int64 [len(users), max_len]."""
        return self._layout(users, max_len, ends, self.time_array, 0)

    def _layout(
        self, users: np.ndarray | torch.Tensor, max_len: int, ends: np.ndarray | None, values: np.ndarray, shift: int
    ) -> torch.Tensor:
        """``values`` (one per log row, + ``shift``) in the left-padded [len(users), max_len] layout."""
        users = np.asarray(users.cpu() if isinstance(users, torch.Tensor) else users, dtype=np.int64)
        starts = self.indptr[users]
        ends = self.indptr[users + 1] if ends is None else np.asarray(ends, dtype=np.int64)
        lens = np.clip(ends - starts, 0, max_len)
        out = np.zeros((len(users), max_len), dtype=np.int64)
        if len(users) == 0 or max_len == 0:
            return torch.from_numpy(out)
        # position j of row r (right-aligned) holds the log row ends[r] - max_len + j when >= starts
        j = np.arange(max_len)
        src = ends[:, None] - max_len + j[None, :]
        valid = j[None, :] >= (max_len - lens)[:, None]
        out[valid] = values[src[valid]] + shift
        return torch.from_numpy(out)

    def windows(
        self, users: np.ndarray | torch.Tensor, width: int, return_ends: bool = False
    ) -> tuple[np.ndarray, torch.Tensor] | tuple[np.ndarray, torch.Tensor, np.ndarray]:
        """Every user's sequence cut into windows of ``width`` items whose targets do not overlap.

        Windows end at the user's last item, then ``width - 1`` items earlier, and so on, while a
        window still holds two items (one input, one target): with next-item targets at positions
        1..width-1 of each window, every interaction after a user's first is a target exactly
        once. Returns ``(row_users, windows)``: the user of each row and the left-padded windows
        [rows, width] (+1 shifted, as :meth:`sequences`). A user with fewer than two items gets
        one (short) window. Rows are ordered by user, latest window first. ``return_ends``: also
        each row's end (the absolute log position after its last item).
        """
        users = np.asarray(users.cpu() if isinstance(users, torch.Tensor) else users, dtype=np.int64)
        stride = max(1, width - 1)
        n = self.indptr[users + 1] - self.indptr[users]
        count = np.maximum(1, 1 + (n - 2) // stride)
        row = np.repeat(np.arange(len(users)), count)
        k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        ends = self.indptr[users + 1][row] - k * stride
        if return_ends:
            return users[row], self.sequences(users[row], width, ends), ends
        return users[row], self.sequences(users[row], width, ends)

    def prefixes(self, users: np.ndarray | torch.Tensor, width: int) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
        """Every prefix of every user's sequence as a row (RecBole's sequential data augmentation).

        A user with n >= 2 items gives n - 1 rows, ending at its 2nd, 3rd, ..., n-th item: the row's
        last item is its target, the (at most ``width - 1``) items before it its input. A user with
        fewer than two items gives one (short) row. Returns ``(row_users, windows [rows, width]
        left-padded +1 shifted, ends)``, rows ordered by user, then by end.
        """
        users = np.asarray(users.cpu() if isinstance(users, torch.Tensor) else users, dtype=np.int64)
        n = self.indptr[users + 1] - self.indptr[users]
        count = np.maximum(1, n - 1)
        row = np.repeat(np.arange(len(users)), count)
        k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        ends = np.minimum(self.indptr[users][row] + 2 + k, self.indptr[users + 1][row])
        return users[row], self.sequences(users[row], width, ends), ends

    def user_items(self, user: int) -> np.ndarray:
        return self.item_array[self.indptr[user] : self.indptr[user + 1]]


def target_matrix(targets: pd.DataFrame, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Users with targets and their padded target items.

    Returns:
        ``users`` [U] sorted, ``items`` int64 [U, T] padded with ``-1`` (duplicates removed).
    """
    if len(targets) == 0:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.int64)
    pairs = np.unique(targets["user"].to_numpy().astype(np.int64) * n_items + targets["item"].to_numpy())
    u = pairs // n_items
    it = pairs % n_items
    users, starts, counts = np.unique(u, return_index=True, return_counts=True)
    T = int(counts.max())
    mat = np.full((len(users), T), -1, dtype=np.int64)
    col = np.arange(len(u)) - np.repeat(starts, counts)
    mat[np.repeat(np.arange(len(users)), counts), col] = it
    return users, mat


@dataclasses.dataclass
class SplitData:
    """Train / valid / test over one id space.

    Attributes:
        train: what models are fitted on.
        valid: interactions to predict for validation (early stopping, tuning).
        test: interactions to predict for the final score (read once per configuration).
        context: interactions revealed at prediction time but never trained on (cold users'
            first n interactions).
        cold_users: ids of users absent from ``train``.
        cold_items: ids of items with zero training interactions that appear in valid/test.
        info: split name, parameters, seed, counts and fingerprint.
    """

    train: Interactions
    valid: pd.DataFrame
    test: pd.DataFrame
    context: pd.DataFrame | None = None
    cold_users: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cold_items: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def history(self, stage: str) -> Interactions:
        """Known history when predicting ``stage`` ("valid" or "test").

        valid: train + context; test: train + valid + context.
        """
        parts: list[Any] = [self.train]
        if stage == "test":
            parts.append(self.valid)
        elif stage != "valid":
            raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")
        if self.context is not None:
            parts.append(self.context)
        key = f"_history_{stage}"
        if key not in self.__dict__:
            self.__dict__[key] = Interactions.concat(parts, like=self.train)
        return self.__dict__[key]

    def targets(self, stage: str) -> pd.DataFrame:
        return {"valid": self.valid, "test": self.test}[stage]

    def target_matrix(self, stage: str) -> tuple[np.ndarray, np.ndarray]:
        """:func:`target_matrix` of ``stage``'s targets, computed once (validation reads it every epoch).

        Read-only arrays: ``users`` [U] sorted, ``items`` [U, T] padded with ``-1``.
        """
        key = f"_targets_{stage}"
        if key not in self.__dict__:
            users, mat = target_matrix(self.targets(stage), self.train.n_items)
            users.flags.writeable = mat.flags.writeable = False
            self.__dict__[key] = (users, mat)
        return self.__dict__[key]

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for part in (self.train.df, self.valid, self.test, self.context):
            if part is not None:
                h.update(frame_fingerprint(normalize_frame(part)).encode())
        return h.hexdigest()


@dataclasses.dataclass
class Batch:
    """Users to score and the history known for them.

    Attributes:
        users: LongTensor [B] of user ids.
        history: the known history (train, plus valid/context as the stage allows).
    """

    users: torch.Tensor
    history: Interactions

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def sequences(self, max_len: int) -> torch.Tensor:
        """Left-padded item sequences (+1 shifted) of the batch's users, [B, max_len]."""
        return self.history.sequences(self.users, max_len)

    def sequence_times(self, max_len: int) -> torch.Tensor:
        """The timestamps of :meth:`sequences`' positions (0 at padding), [B, max_len]."""
        return self.history.sequence_times(self.users, max_len)

    def matrix(self) -> sp.csr_matrix:
        """Rows of the binary history matrix for the batch's users."""
        return self.history.csr[self.users.cpu().numpy()]

    def dense(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Dense float32 [B, n_items] history rows."""
        return torch.from_numpy(self.matrix().toarray()).to(device)
