"""Transfer through item text: train on a source dataset, then evaluate zero-shot or fine-tune on the target.

A text-based SSL model (``item_repr: text``, or ``id+text`` when fine-tuning) names its source in the
suite's model parameters::

    - name: sasrec
      label: SASRec (text, zero-shot from ml-latest-small)
      params:
        item_repr: text
        transfer: {source: ml-latest-small, mode: zero_shot}      # split: leave_one_out (default)

The cell's dataset is the target. The model first trains on the source's split (early stopping on the
source's validation targets), then is carried to the target's items, which it has never seen: the
encoder, the text adapter and every other weight whose shape does not depend on the catalogue move
over, item-id tables do not (:meth:`~ssl4rec.ssl.composite.SSLRecommender.transfer_to`). ``zero_shot``
evaluates it as it is; ``finetune`` trains on the target from there (early stopping on the target's
validation). UniSRec-style (Hou et al., KDD 2022): items are matched through their text only.
"""

from __future__ import annotations

from typing import Any

from ..registry import DATASETS, SPLITS, ConfigError, check_keys
from .spec import ComponentSpec, ModelSpec

__all__ = ["MODES", "check_targets", "check_transfer", "parse_transfer", "self_transfer", "source_specs", "transfer_of"]

MODES = ("zero_shot", "finetune")


def parse_transfer(raw: Any, where: str) -> dict[str, Any]:
    """The ``transfer`` block as ``{source: {name, params, preprocessing, label}, split: {name, params}, mode}``,
    every key checked (no data read)."""
    from ..datasets.pipeline import check_dataset_spec

    if not isinstance(raw, dict):
        raise ConfigError(f"{where} transfer: must be a mapping with 'source' and 'mode', got {raw!r}")
    check_keys(raw, ("source", "mode", "split"), f"{where} transfer")
    for key in ("source", "mode"):
        if key not in raw:
            raise ConfigError(
                f"{where} transfer: '{key}' is missing (e.g. transfer: {{source: ml-latest-small, mode: zero_shot}})"
            )
    mode = raw["mode"]
    if mode not in MODES:
        raise ConfigError(f"{where} transfer: mode {mode!r} is not one of {list(MODES)}")
    src = raw["source"]
    src = {"name": src} if isinstance(src, str) else src
    if not isinstance(src, dict) or "name" not in src:
        raise ConfigError(f"{where} transfer: source must be a dataset name or a mapping with 'name', got {src!r}")
    check_keys(src, ("name", "params", "preprocessing", "label"), f"{where} transfer.source")
    params, prep = dict(src.get("params") or {}), dict(src.get("preprocessing") or {})
    try:
        check_dataset_spec(str(src["name"]), params, prep)
    except ConfigError as exc:
        raise ConfigError(f"{where} transfer.source: {exc}") from None
    entry = DATASETS.entry(str(src["name"]))
    if "text" not in (entry.tags or ()):
        with_text = sorted(n for n in DATASETS.names() if "text" in (DATASETS.entry(n).tags or ()))
        raise ConfigError(
            f"{where} transfer: source dataset {entry.name!r} has no item text, and a transferred model knows "
            f"another dataset's items only through their text; sources with text: {', '.join(with_text)}"
        )
    split = raw.get("split", "leave_one_out")
    split = {"name": split} if isinstance(split, str) else split
    if not isinstance(split, dict) or "name" not in split:
        raise ConfigError(f"{where} transfer: split must be a split name or a mapping with 'name', got {split!r}")
    check_keys(split, ("name", "params"), f"{where} transfer.split")
    s_entry = SPLITS.entry(str(split["name"]))
    s_params = dict(split.get("params") or {})
    try:
        s_entry.resolve({k: v for k, v in s_params.items() if k != "seed"})
    except ConfigError as exc:
        raise ConfigError(f"{where} transfer.split: {exc}") from None
    return {
        "source": {
            "name": entry.name,
            "params": params,
            "preprocessing": prep,
            "label": str(src.get("label") or entry.name),
        },
        "split": {"name": s_entry.name, "params": s_params},
        "mode": mode,
    }


def transfer_of(spec: ModelSpec) -> dict[str, Any] | None:
    """The parsed ``transfer`` block of a model spec, or None."""
    raw = spec.params.get("transfer")
    return None if raw is None else parse_transfer(raw, spec.label)


def source_specs(transfer: dict[str, Any]) -> tuple[ComponentSpec, ComponentSpec]:
    """The source dataset and split as the runner loads them."""
    s, sp = transfer["source"], transfer["split"]
    return (
        ComponentSpec(name=s["name"], params=s["params"], label=s["label"], preprocessing=s["preprocessing"]),
        ComponentSpec(name=sp["name"], params=sp["params"], label=sp["name"]),
    )


def self_transfer(dspec: ComponentSpec, mspec: ModelSpec) -> str | None:
    """Why a cell of a transfer model cannot run because its source is its own dataset (else None)."""
    transfer = transfer_of(mspec)
    if transfer is None:
        return None
    source = source_specs(transfer)[0]
    if source.key() != dspec.key():
        return None
    return f"the transfer source {source.label} is this cell's dataset: nothing to transfer"


def check_transfer(transfer: dict[str, Any], item_repr: str, text_encoder: Any, where: str) -> None:
    """Refuse a transfer the model cannot make: items are matched through their text, so the text
    vectors of both datasets must live in one space."""
    from ..text import build_text_encoder

    parts = item_repr.split("+")
    enc = build_text_encoder(text_encoder)
    if not getattr(enc, "corpus_independent", False):
        raise ConfigError(
            f"{where}: text_encoder {text_encoder!r} fits its vectors to each dataset's items, so two datasets' "
            "vectors are not comparable and nothing transfers; use sentence-transformers or hashing"
        )
    if transfer["mode"] == "zero_shot" and item_repr != "text":
        raise ConfigError(
            f"{where}: transfer mode zero_shot needs item_repr 'text' (got {item_repr!r}): the target's items "
            "have no trained id vectors, only their text"
        )
    if "text" not in parts:
        raise ConfigError(
            f"{where}: transfer needs a text item representation (item_repr 'text' or 'id+text'), got {item_repr!r}"
        )


def check_targets(datasets: tuple[ComponentSpec, ...], models: list[ModelSpec], where: str) -> None:
    """Refuse a suite whose transfer model would run on a target dataset without item text."""
    for m in models:
        if m.params.get("transfer") is None:
            continue
        for d in datasets:
            if "text" not in (DATASETS.entry(d.name).tags or ()):
                raise ConfigError(
                    f"{where}: model {m.label!r} transfers through item text, but dataset {d.label!r} has none; "
                    "leave it out of this suite or drop the transfer"
                )
