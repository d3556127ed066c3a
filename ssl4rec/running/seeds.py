"""Seeds derived from what a cell is, so adding a cell to a suite never shifts another's seed."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from .spec import ComponentSpec

__all__ = ["derive_seed", "split_seed_key"]


def derive_seed(*keys: Any) -> int:
    """A seed derived from the cell's keys, so adding a cell never shifts another's seed."""
    h = hashlib.sha256("|".join(str(k) for k in keys).encode()).digest()
    return int.from_bytes(h[:4], "little") % (2**31 - 1)


def split_seed_key(sspec: ComponentSpec) -> str:
    """What a split's seed is derived from: its own spec, or, for a split registered with
    ``seed_from`` (a sparsity level), the spec of the split it is cut from.

    So every sparsity level of a suite holds the same valid and test sets and nested train parts
    (the levels differ only in how much training data they keep), and ``p: 1.0`` is the base split
    itself when the suite also lists that split with the same parameters.
    """
    from ..registry import SPLITS

    source = SPLITS.entry(sspec.name).meta.get("seed_from")
    if source is None:
        return sspec.key()
    name, params = source(sspec.params)
    return dataclasses.replace(sspec, name=name, params=params).key()
