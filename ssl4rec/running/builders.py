"""One builder interface for every model kind of a suite, and the one recipe that fits a cell.

A suite's model is a :class:`~ssl4rec.running.plan.ModelSpec` of some ``kind``: a baseline, a preset of
the SSL cross, or an explicit encoder x objectives point of the cross (a graph kind is next). Each
kind has one :class:`ModelBuilder`, registered here by kind, that knows how to

* ``validate(spec)``: check every parameter without data (building once on a 1-item catalogue);
  return the spec, with its n/a reason when the cell cannot run by construction;
* ``search_space(spec)``: the registered search space (dotted keys for SSL components);
* ``apply(spec, params)``: merge (dotted) parameters, e.g. tuned ones;
* ``build(spec, seed)``: the model and its resolved parameters and component versions.

Nothing outside the builders branches on a model kind. Adding a kind = implement this interface
and ``register_builder("kind")``. :func:`fit_cell` is the recipe of one cell (seed -> build ->
fit on the split's training part, validated on its valid part) that ``run``, ``tune`` and
``export-users`` share; :func:`cell_seed` derives a cell's model seed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import torch

from ..registry import BASELINES, PRESETS, ConfigError, UnknownNameError, did_you_mean
from .seeds import derive_seed
from .spec import ModelSpec

logger = logging.getLogger(__name__)

__all__ = [
    "BUILDERS",
    "FittedCell",
    "ModelBuilder",
    "NotApplicable",
    "builder_for",
    "cell_seed",
    "fit_cell",
    "register_builder",
]


#: Model parameters that the runner reads and the model never sees: where a model transfers from
#: (:mod:`ssl4rec.running.transfer`) and whose tuned parameters it reuses (``run --tuned``).
RUNNER_PARAMS = ("transfer", "tuned_as")


class NotApplicable(Exception):
    """The cell cannot run by construction (e.g. an objective the encoder cannot serve)."""


class ModelBuilder:
    """Validate, search, parameterise and build the models of one kind (see the module docstring)."""

    kind: str = ""

    def validate(self, spec: ModelSpec) -> ModelSpec:
        """``spec`` with every parameter checked (building once, no data); its n/a reason set if it cannot run."""
        from ..objectives.base import IncompatibleError

        try:
            with torch.random.fork_rng(devices=[]):
                self.build(spec, 0)
        except (NotApplicable, IncompatibleError) as exc:
            return dataclasses.replace(spec, na=str(exc))
        return spec

    def search_space(self, spec: ModelSpec) -> dict[str, tuple]:
        raise NotImplementedError

    def apply(self, spec: ModelSpec, params: dict[str, Any]) -> ModelSpec:
        """``spec`` with ``params`` merged into its parameters."""
        return dataclasses.replace(spec, params={**spec.params, **params}) if params else spec

    def build(self, spec: ModelSpec, seed: int) -> tuple[Any, dict[str, Any]]:
        """``(model, {"params": resolved parameters, "versions": component versions})``."""
        raise NotImplementedError

    def dotted_defaults(self, spec: ModelSpec) -> dict[str, Any]:
        """Every resolved parameter under the dotted key a search space uses for it."""
        _, resolved = self.build(spec, 0)
        return _flatten(resolved["params"])


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    if not isinstance(obj, dict):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


BUILDERS: dict[str, ModelBuilder] = {}


def register_builder(kind: str) -> Callable[[type[ModelBuilder]], type[ModelBuilder]]:
    """Class decorator: the builder of model kind ``kind`` (one per kind)."""

    def deco(cls: type[ModelBuilder]) -> type[ModelBuilder]:
        if kind in BUILDERS:
            raise ValueError(f"duplicate model kind {kind!r}")
        cls.kind = kind
        BUILDERS[kind] = cls()
        return cls

    return deco


def builder_for(spec: ModelSpec) -> ModelBuilder:
    """The builder of ``spec.kind``."""
    try:
        return BUILDERS[spec.kind]
    except KeyError:
        raise UnknownNameError(
            f"no builder for model kind {spec.kind!r}.{did_you_mean(spec.kind, list(BUILDERS))} Known: {', '.join(BUILDERS)}"
        ) from None


@register_builder("baseline")
class BaselineBuilder(ModelBuilder):
    """Baselines: a registered class and its parameters (``seed`` given when it takes one)."""

    def validate(self, spec: ModelSpec) -> ModelSpec:
        entry = BASELINES.entry(spec.name)
        if "transfer" in spec.params:
            raise ConfigError(f"model {spec.label!r}: transfer is for text-based sequence models, not the {spec.name} baseline")
        entry.resolve({k: v for k, v in spec.params.items() if k != "seed" and k not in RUNNER_PARAMS})  # unknown keys raise
        return spec

    def search_space(self, spec: ModelSpec) -> dict[str, tuple]:
        return dict(BASELINES.entry(spec.name).search_space)

    def build(self, spec: ModelSpec, seed: int) -> tuple[Any, dict[str, Any]]:
        entry = BASELINES.entry(spec.name)
        params = {k: v for k, v in spec.params.items() if k not in RUNNER_PARAMS}
        if "seed" in entry.accepted_params():
            params.setdefault("seed", seed)
        resolved = entry.resolve(params)
        return entry.obj(**resolved), {"params": resolved, "versions": {spec.name: entry.version}}


class _SSLBuilder(ModelBuilder):
    """What the SSL kinds (preset, cross) share: their resolved config's dotted parameter names, and
    the ``transfer`` parameter (:mod:`ssl4rec.running.transfer`), which is the runner's, not the model's."""

    def validate(self, spec: ModelSpec) -> ModelSpec:
        from .transfer import check_transfer, transfer_of

        checked = super().validate(spec)
        transfer = transfer_of(spec)
        if transfer is not None and checked.na is None:
            model, _ = self.build(spec, 0)
            if model.input_kind != "sequence":
                raise ConfigError(
                    f"model {spec.label!r}: transfer carries a sequence encoder to another catalogue; "
                    f"this model's encoder reads {model.input_kind}s, whose user vectors belong to one dataset"
                )
            check_transfer(transfer, model.config.item_repr, model.config.text_encoder, f"model {spec.label!r}")
        return checked

    @staticmethod
    def model_params(spec: ModelSpec, seed: int) -> dict[str, Any]:
        """The parameters the model is built with: ``spec``'s, seeded, without ``transfer``."""
        return {"seed": seed, **{k: v for k, v in spec.params.items() if k not in RUNNER_PARAMS}}

    @staticmethod
    def with_transfer(spec: ModelSpec, resolved: dict[str, Any]) -> dict[str, Any]:
        """``resolved`` with the spec's ``transfer`` block in its parameters (what the record shows)."""
        if spec.params.get("transfer") is not None:
            resolved["params"]["transfer"] = spec.params["transfer"]
        return resolved

    def dotted_defaults(self, spec: ModelSpec) -> dict[str, Any]:
        _, resolved = self.build(spec, 0)
        params = resolved["params"]  # {"encoder": {"name", ...}, "objectives": [{"name", ...}], training...}
        flat = _flatten(params)
        enc = params.get("encoder", {})
        for k, v in (enc.get("params", enc) if isinstance(enc, dict) else {}).items():
            flat[f"encoder.{k}"] = v
        for o in params.get("objectives", []) or []:
            if isinstance(o, dict):
                for k, v in (o.get("params", o)).items():
                    flat[f"objectives.{o.get('name')}.{k}"] = v
        return flat


def _ssl_record(model: Any, extra_versions: dict[str, str] | None = None) -> dict[str, Any]:
    from .. import ssl as ssl_pkg

    return {
        "params": ssl_pkg.resolved_config(model),
        "versions": {**(extra_versions or {}), **ssl_pkg.component_versions(model)},
    }


@register_builder("preset")
class PresetBuilder(_SSLBuilder):
    """Presets of the SSL cross: overrides (nested blocks, dotted keys) on a registered spec."""

    def search_space(self, spec: ModelSpec) -> dict[str, tuple]:
        return dict(PRESETS.entry(spec.name).search_space)

    def build(self, spec: ModelSpec, seed: int) -> tuple[Any, dict[str, Any]]:
        entry = PRESETS.entry(spec.name)
        model = entry.obj(**self.model_params(spec, seed))
        return model, self.with_transfer(spec, _ssl_record(model, {spec.name: entry.version}))


@register_builder("cross")
class CrossBuilder(_SSLBuilder):
    """An explicit encoder x objectives point of the cross; incompatible pairs are n/a."""

    def search_space(self, spec: ModelSpec) -> dict[str, tuple]:
        from ..ssl.presets import preset_search_space

        assert spec.encoder is not None
        return preset_search_space({"encoder": spec.encoder, "objectives": list(spec.objectives)})

    def apply(self, spec: ModelSpec, params: dict[str, Any]) -> ModelSpec:
        """Top-level training parameters, ``encoder.param`` and ``objectives.name.param`` (the presets' grammar)."""
        if not params:
            return spec
        from ..ssl.presets import split_dotted

        assert spec.encoder is not None
        over = split_dotted(params, f"parameters of {spec.label}")
        enc = {
            "name": spec.encoder["name"],
            "params": {**(spec.encoder.get("params") or {}), **over.pop("encoder", {})},
        }
        given = over.pop("objectives", {})
        names = [o["name"] for o in spec.objectives]
        for name in given:
            if name not in names:
                raise ConfigError(
                    f"parameter objectives.{name}.* names an objective not in {spec.label}.{did_you_mean(name, names)}"
                )
        objs = tuple(
            {"name": o["name"], "params": {**(o.get("params") or {}), **given.get(o["name"], {})}}
            for o in spec.objectives
        )
        return dataclasses.replace(spec, params={**spec.params, **over}, encoder=enc, objectives=objs)

    def build(self, spec: ModelSpec, seed: int) -> tuple[Any, dict[str, Any]]:
        from .. import ssl as ssl_pkg

        assert spec.encoder is not None
        reason = ssl_pkg.check_compatible(
            spec.encoder["name"],
            [o["name"] for o in spec.objectives],
            spec.encoder.get("params") or {},
            item_repr=spec.params.get("item_repr", "id"),
        )
        if reason:
            raise NotApplicable(reason)
        model = ssl_pkg.build_ssl_model(
            dict(spec.encoder), [dict(o) for o in spec.objectives], **self.model_params(spec, seed)
        )
        return model, self.with_transfer(spec, _ssl_record(model))


def cell_seed(dataset: str, split: str, model: str, seed: int) -> int:
    """The model seed of a cell, derived from its labels and the suite seed (so adding a cell shifts no other)."""

    return derive_seed("model", dataset, split, model, seed)


@dataclasses.dataclass
class FittedCell:
    """What :func:`fit_cell` returns: the fitted model, its resolved parameters and versions, the fit times."""

    model: Any
    resolved: dict[str, Any]
    validator: Any
    fit_seconds: float
    fit_cpu_seconds: float


def fit_cell(
    spec: ModelSpec,
    split: Any,
    protocol: Any,
    model_seed: int,
    *,
    max_users: int | None = None,
    callbacks: list[Callable[..., None]] | None = None,
    checkpointer: Any = None,
    device: Any = None,
    precision: str = "fp32",
    source: tuple[Any, int] | None = None,
) -> FittedCell:
    """The recipe of one cell: build the model with ``model_seed``, fit it on ``split.train`` with
    early stopping on ``split``'s validation targets under ``protocol``.

    Raises :class:`NotApplicable` or :class:`~ssl4rec.objectives.base.IncompatibleError` when the
    cell cannot run (by construction, or because the data lack what the model needs).
    ``checkpointer``: a :class:`~ssl4rec.recommender.Checkpointer` the training loop saves to and
    resumes from. ``source``: for a model with a ``transfer`` block, ``(split, suite seed)``: the source
    dataset's split it trains on first (:mod:`ssl4rec.running.transfer`) and the seed of the cell's
    suite run; the fit time counts both phases.
    """
    from ..evaluation.evaluator import RankingValidator
    from .transfer import transfer_of

    if spec.na:
        raise NotApplicable(spec.na)
    transfer = transfer_of(spec)
    if transfer is not None and source is None:
        raise ConfigError(
            f"model {spec.label!r} transfers from {transfer['source']['name']}: it runs through `ssl4rec run`, "
            "which loads its source (tuning a transfer model is not supported yet)"
        )
    model, resolved = builder_for(spec).build(spec, model_seed)
    validator = RankingValidator(split, protocol, seed=model_seed, max_users=max_users, callbacks=list(callbacks or []))
    torch.manual_seed(model_seed)
    if checkpointer is not None:  # train_loop saves / resumes through it (see recommender.Checkpointer)
        model.checkpointer = checkpointer
    if hasattr(model, "device"):  # trainable models (SSL, BPR): where and in what type they train
        if device is not None:
            model.device = device
        model.precision = precision
    t0, c0 = time.perf_counter(), time.process_time()
    if transfer is None:
        model.fit(split.train, validator)
    else:
        _fit_transferred(model, transfer, split, source, validator, protocol, model_seed, max_users, checkpointer)
    return FittedCell(model, resolved, validator, time.perf_counter() - t0, time.process_time() - c0)


def transfer_phase_key(model: Any) -> str:
    """What identifies a transfer's source phase: the model's resolved configuration (seed aside)."""
    from .. import ssl as ssl_pkg

    conf = {k: v for k, v in ssl_pkg.resolved_config(model).items() if k != "seed"}
    return json.dumps(conf, sort_keys=True, default=str)


def _fit_transferred(
    model: Any,
    transfer: dict[str, Any],
    split: Any,
    source: tuple[Any, int],
    validator: Any,
    protocol: Any,
    model_seed: int,
    max_users: int | None,
    checkpointer: Any,
) -> None:
    """Train on the source split (or read that phase from the cache), carry the model to the target's
    items, then fine-tune or not.

    The source phase depends on the model, the source data and split and the suite seed only, not on
    the target or the mode: its seed is derived from those, and its result is cached on disk (as the
    pretraining cache, :mod:`ssl4rec.ssl.pretrain_cache`), so the zero-shot and fine-tuned cells of every
    target share one source fit per seed.
    """
    from ..evaluation.evaluator import RankingValidator
    from ..ssl import pretrain_cache

    source_split, suite_seed = source
    source_seed = derive_seed("transfer-source", source_split.info.get("fingerprint"), transfer_phase_key(model), suite_seed)
    key, meta = pretrain_cache.cache_key(
        {"phase": "transfer source", "model": transfer_phase_key(model), "seed": source_seed},
        source_split.train,
        model.device,
        None,
    )
    cached = pretrain_cache.load(key) if pretrain_cache.enabled() else None
    model.config.seed = source_seed
    if cached is not None:
        model.restore(source_split.train, cached["state"], cached["fit_info"])
    else:
        source_validator = RankingValidator(source_split, protocol, seed=source_seed, max_users=max_users)
        if checkpointer is not None:  # the source phase checkpoints apart from the target's
            from ..recommender import Checkpointer

            model.checkpointer = Checkpointer(
                checkpointer.base.with_name(checkpointer.base.name + ".source"), checkpointer.every
            )
        model.fit(source_split.train, source_validator)
        if checkpointer is not None:  # the source phase is done (and cached below): its checkpoints go
            model.checkpointer.clear()
        if pretrain_cache.enabled():
            state = {k: v.detach().cpu() for k, v in model.net.state_dict().items()}
            info_json = json.loads(json.dumps(model.fit_info, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
            try:
                pretrain_cache.save(key, meta, {"state": state, "fit_info": info_json})
            except OSError as exc:
                logger.warning("could not cache the transfer source phase (%s); continuing", exc)
    source_fit = {k: v for k, v in model.fit_info.items() if k in ("best_epoch", "epochs_run", "best_valid", "seconds_per_epoch")}
    model.config.seed = model_seed
    model.transfer_to(split.train)
    info = {
        "mode": transfer["mode"],
        "source_cache": {"key": key, "hit": cached is not None, "seed": source_seed},
        "source": transfer["source"],
        "source_split": {**transfer["split"], **{k: source_split.info.get(k) for k in ("seed", "fingerprint", "counts")}},
        "source_fit": source_fit,
        "carried": model.transfer_info,
    }
    if transfer["mode"] == "finetune":
        model.checkpointer = checkpointer
        model.fit(split.train, validator)
    else:
        model.fit_info = {"epochs": 0}
    model.fit_info["transfer"] = info
