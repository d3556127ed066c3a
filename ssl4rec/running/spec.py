"""What a suite's cells are made of: dataset / split references and model specs (plain, frozen data)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

__all__ = ["ComponentSpec", "ModelSpec", "tuning_key"]


def label_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "-".join(label_value(x) for x in v)
    if isinstance(v, dict):
        return ",".join(f"{k}={label_value(x)}" for k, x in sorted(v.items()))
    return str(v)


@dataclasses.dataclass(frozen=True)
class ComponentSpec:
    """A dataset or split reference: registry name, parameters and display label."""

    name: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    label: str = ""
    preprocessing: dict[str, Any] = dataclasses.field(default_factory=dict)

    def key(self) -> str:
        return json.dumps(
            {"name": self.name, "params": self.params, "preprocessing": self.preprocessing}, sort_keys=True, default=str
        )


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model cell: a baseline, a preset, or an encoder x objectives pair of the cross."""

    label: str
    kind: str
    """``"baseline"``, ``"preset"`` or ``"cross"``."""
    name: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    encoder: dict[str, Any] | None = None
    objectives: tuple[dict[str, Any], ...] = ()
    na: str | None = None
    """Why the cell cannot run by construction (an encoder that cannot serve an objective), found at
    load time; the runner records it as "n/a: reason". Not part of the cell id."""
    splits: tuple[str, ...] = ()
    """The splits this model runs on (split labels, or split names covering a grid's expansion, e.g.
    ``sparsity``); empty: every split of the suite. Not part of the cell id: a cell the model does not
    run on is not planned, tuned or listed as missing."""

    def runs_on(self, sspec: ComponentSpec) -> bool:
        """Whether the suite plans this model on split ``sspec``."""
        return not self.splits or sspec.label in self.splits or sspec.name in self.splits

    def resolved(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "name": self.name, "params": self.params}
        if self.encoder is not None:  # an explicit point of the cross (its encoder and objectives are its identity)
            d["encoder"] = self.encoder
            d["objectives"] = list(self.objectives)
        return d


def tuning_key(dspec: ComponentSpec, sspec: ComponentSpec, mspec: ModelSpec) -> str:
    """The tuned-parameters entry of a cell: ``dataset/split/model``, the model being the one named by its
    ``tuned_as`` parameter when it has one (an ablation reusing another model's tuned parameters);
    ``tuned_as: SPLIT/MODEL`` also names the split (a split of another suite, e.g. the base split of
    an attacked one)."""
    alias = mspec.params.get("tuned_as")
    if alias and "/" in str(alias):
        return f"{dspec.label}/{alias}"
    return f"{dspec.label}/{sspec.label}/{alias or mspec.label}"
