"""Suite files (YAML) -> validated dataclasses, with clear errors.

A suite lists datasets x splits x models x seeds and the evaluation protocol::

    name: quickstart
    datasets:
      - ml-latest-small                       # a name, or {name, params, preprocessing, label}
    splits:
      - {name: random, params: {ratios: [0.8, 0.1, 0.1]}}
      - {name: sparsity, grid: {p: [0.2, 0.5, 1.0]}}   # grid expands into one split per value
    models:
      - pop
      - {name: bpr, params: {epochs: 50}, label: BPR}
      - {name: lightgcn, splits: [random, sparsity]}   # only these splits (labels, or names of a grid)
    cross:                                    # optional: encoders x objective sets (SSL)
      encoders: [gru, transformer]
      objectives: [[next_item], [masked_item], [next_item, contrastive]]
      params: {epochs: 20}
    seeds: [0, 1, 2]
    evaluation: {ks: [5, 10, 20], candidates: full, mask_history: true}

Every component is referenced as a name or ``{name: ..., params: {...}}``; unknown keys are
errors naming the accepted ones.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..evaluation.evaluator import Protocol
from ..evaluation.splits import check_ratios
from ..registry import BASELINES, PRESETS, SPLITS, ConfigError, UnknownNameError, check_keys, did_you_mean
from .builders import RUNNER_PARAMS, builder_for
from .spec import ComponentSpec, ModelSpec, label_value

__all__ = ["ComponentSpec", "ModelSpec", "Suite", "load_suite", "parse_suite"]

SUITE_KEYS = (
    "name",
    "description",
    "datasets",
    "splits",
    "models",
    "cross",
    "seeds",
    "evaluation",
    "validation",
    "output",
    "published",
    "comparisons",
)
COMPONENT_KEYS = ("name", "params", "label", "grid", "preprocessing")
MODEL_KEYS = ("name", "params", "label", "splits")


@dataclasses.dataclass(frozen=True)
class Suite:
    """A validated suite."""

    name: str
    datasets: tuple[ComponentSpec, ...]
    splits: tuple[ComponentSpec, ...]
    models: tuple[ModelSpec, ...]
    seeds: tuple[int, ...] = (0,)
    protocol: Protocol = dataclasses.field(default_factory=Protocol)
    validation: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    path: str = ""
    published: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Numbers a paper reports for this protocol: ``{source, dataset, split, values: {model label: {metric: value}}}``."""
    comparisons: tuple[tuple[str, str], ...] = ()
    """Pairs ``(a, b)`` of model labels whose paired test every leaderboard table holding both shows
    (e.g. a variant against its base: the claims a suite is built to check)."""

    def select(
        self,
        models: Sequence[str] | None = None,
        splits: Sequence[str] | None = None,
        seeds: Sequence[int] | None = None,
    ) -> Suite:
        """The same suite restricted to some model labels, split labels and/or seeds.

        Cell ids and record hashes do not depend on the rest of the suite, so a selection run
        into the same results folder adds exactly those cells (and skips finished ones).
        """

        def pick(items: tuple, labels: Sequence[str] | None, what: str) -> tuple:
            if not labels:
                return items
            known = [x.label for x in items]
            for lab in labels:
                if lab not in known:
                    raise ConfigError(
                        f"{self.path or self.name}: no {what} labelled {lab!r}.{did_you_mean(lab, known)} Known: {', '.join(known)}"
                    )
            return tuple(x for x in items if x.label in set(labels))

        chosen = self.seeds
        if seeds:
            missing = [s for s in seeds if s not in self.seeds]
            if missing:
                raise ConfigError(
                    f"{self.path or self.name}: seeds {missing} are not among the suite's seeds {list(self.seeds)}"
                )
            chosen = tuple(s for s in self.seeds if s in set(seeds))
        return dataclasses.replace(
            self, models=pick(self.models, models, "model"), splits=pick(self.splits, splits, "split"), seeds=chosen
        )

    def cells(self) -> list[tuple[ComponentSpec, ComponentSpec, ModelSpec, int]]:
        """Every cell, seed-major: a partial run covers every model once before repeating seeds. A model
        with ``splits`` has cells on those splits only."""
        return [
            (d, s, m, seed)
            for seed, d, s, m in itertools.product(self.seeds, self.datasets, self.splits, self.models)
            if m.runs_on(s)
        ]


def _component(raw: Any, kind: str, where: str, keys: tuple[str, ...] = COMPONENT_KEYS) -> dict[str, Any]:
    if isinstance(raw, str):
        return {"name": raw, "params": {}, "label": ""}
    if not isinstance(raw, dict) or "name" not in raw:
        raise ConfigError(f"{where}: each {kind} must be a name or a mapping with 'name', got {raw!r}")
    check_keys(raw, keys, f"{where} ({kind} {raw.get('name')!r})")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: params of {kind} {raw['name']!r} must be a mapping")
    return {
        "name": str(raw["name"]),
        "params": dict(params),
        "label": str(raw.get("label") or ""),
        "grid": raw.get("grid"),
        "preprocessing": raw.get("preprocessing"),
    }


def _expand_grid(c: dict[str, Any], where: str) -> list[dict[str, Any]]:
    grid = c.get("grid")
    if not grid:
        return [c]
    if not isinstance(grid, dict):
        raise ConfigError(f"{where}: grid of {c['name']!r} must map parameter -> list of values")
    keys = sorted(grid)
    out = []
    for values in itertools.product(*[grid[k] if isinstance(grid[k], list) else [grid[k]] for k in keys]):
        params = {**c["params"], **dict(zip(keys, values, strict=True))}
        label = c["label"] or c["name"]
        label += "-" + "-".join(f"{k}{label_value(v)}" for k, v in zip(keys, values, strict=True))
        out.append({**c, "params": params, "label": label, "grid": None})
    return out


def _split_label(c: dict[str, Any]) -> str:
    return c["label"] or c["name"]


def _check_entry_params(entry, params: dict[str, Any], where: str) -> None:
    try:
        entry.resolve({k: v for k, v in params.items() if k != "seed" and k not in RUNNER_PARAMS})
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _cross_spec(enc: dict[str, Any], objs: list[dict[str, Any]], params: dict[str, Any], label: str = "") -> ModelSpec:
    """One encoder x objectives cell; the default label is ``encoder+objective+...``."""
    label = label or (enc["label"] or enc["name"]) + "+" + "+".join(o["label"] or o["name"] for o in objs)
    return ModelSpec(
        label=label,
        kind="cross",
        name="ssl",
        params=params,
        encoder={"name": enc["name"], "params": enc["params"]},
        objectives=tuple({"name": o["name"], "params": o["params"]} for o in objs),
    )


def _models(raw: dict[str, Any], where: str) -> list[ModelSpec]:
    out: list[ModelSpec] = []
    for i, m in enumerate(raw.get("models") or []):
        c = _component(m, "model", f"{where} models[{i}]", MODEL_KEYS)
        only = _model_splits(m, f"{where} models[{i}]")
        name = c["name"]
        if name == "ssl":  # one explicit point of the cross: {name: ssl, params: {encoder, objectives, ...}}
            params = dict(c["params"])
            if "encoder" not in params or "objectives" not in params:
                raise ConfigError(f"{where} models[{i}]: a 'ssl' model needs params 'encoder' and 'objectives'")
            enc = _component(params.pop("encoder"), "encoder", f"{where} models[{i}].encoder")
            objs = [_component(o, "objective", f"{where} models[{i}].objectives") for o in params.pop("objectives")]
            from ..registry import ENCODERS, OBJECTIVES

            ENCODERS.entry(enc["name"])
            for o in objs:
                OBJECTIVES.entry(o["name"])
            out.append(dataclasses.replace(_cross_spec(enc, objs, params, c["label"]), splits=only))
            continue
        if name in BASELINES:
            _check_entry_params(BASELINES.entry(name), c["params"], f"{where} models[{i}]")
            out.append(
                ModelSpec(
                    label=c["label"] or name,
                    kind="baseline",
                    name=BASELINES.entry(name).name,
                    params=c["params"],
                    splits=only,
                )
            )
        elif name in PRESETS:
            out.append(
                ModelSpec(
                    label=c["label"] or PRESETS.entry(name).meta.get("display", name),
                    kind="preset",
                    name=PRESETS.entry(name).name,
                    params=c["params"],
                    splits=only,
                )
            )
        else:
            choices = [*BASELINES.names(), *PRESETS.names(), "ssl"]
            raise UnknownNameError(
                f"{where} models[{i}]: unknown model {name!r}.{did_you_mean(name, choices)} "
                f"Models are baselines ({', '.join(BASELINES.names())}), presets ({', '.join(PRESETS.names())}) or 'ssl' (explicit encoder + objectives); "
                "`ssl4rec list baselines` / `ssl4rec list presets`."
            )
    cross = raw.get("cross")
    if cross:
        if not isinstance(cross, dict):
            raise ConfigError(f"{where} cross: must be a mapping with 'encoders' and 'objectives'")
        check_keys(cross, ("encoders", "objectives", "params", "schedule"), f"{where} cross")
        from ..registry import ENCODERS, OBJECTIVES

        encs = [_component(e, "encoder", f"{where} cross.encoders") for e in cross.get("encoders") or []]
        for e in encs:
            ENCODERS.entry(e["name"])
        for raw_set in cross.get("objectives") or []:
            objset = raw_set if isinstance(raw_set, list) else [raw_set]
            objs = [_component(o, "objective", f"{where} cross.objectives") for o in objset]
            for o in objs:
                OBJECTIVES.entry(o["name"])
            for e in encs:
                params = dict(cross.get("params") or {})
                if cross.get("schedule"):
                    params["schedule"] = cross["schedule"]
                out.append(_cross_spec(e, objs, params))
    labels = [m.label for m in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"{where}: duplicate model labels {dup}; give each a distinct 'label'")
    if not out:
        raise ConfigError(f"{where}: no models (give 'models' and/or 'cross')")
    return out


def _model_splits(raw: Any, where: str) -> tuple[str, ...]:
    """A model entry's ``splits`` (the splits it runs on), as a tuple of names; checked against the
    suite's splits by :func:`_check_model_splits` once those are parsed."""
    only = raw.get("splits") if isinstance(raw, dict) else None
    if only is None:
        return ()
    if isinstance(only, str):
        only = [only]
    if not isinstance(only, list) or not only or not all(isinstance(x, str) and x for x in only):
        raise ConfigError(
            f"{where}: 'splits' must be a non-empty list of split labels (or split names), e.g. [random, sparsity]"
        )
    return tuple(only)


def _check_model_splits(models: Sequence[ModelSpec], splits: Sequence[ComponentSpec], path: str) -> None:
    """Every split a model restricts itself to is one of the suite's (by label, or by name for a grid)."""
    known = [*dict.fromkeys([s.label for s in splits] + [s.name for s in splits])]
    for m in models:
        for name in m.splits:
            if name not in known:
                raise ConfigError(
                    f"{path} models ({m.label}): splits names {name!r}, which is not a split of this suite."
                    f"{did_you_mean(name, known)} Splits: {', '.join(known)}"
                )


#: Training and size options of every model kind, by name, and the values they accept.
POSITIVE_INTS = (
    "epochs",
    "batch_size",
    "eval_batch_size",
    "pretrain_batch_size",
    "max_len",
    "eval_every",
    "embedding_size",
    "hidden_size",
    "num_negatives",
    "k",
    "fanout",
    "num_layers",
    "num_heads",
)
NON_NEGATIVE = ("pretrain_epochs", "weight_decay", "reg", "patience")


def check_domains(params: Any, where: str) -> None:
    """Refuse values outside their domain anywhere in a model's parameters (nested ``encoder`` /
    ``objectives`` blocks included): ``epochs: -1`` would otherwise record an untrained model as ok."""
    if isinstance(params, dict):
        for key, value in params.items():
            at = f"{where}.{key}"
            if isinstance(value, (dict, list)):
                check_domains(value, at)
                continue
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            name = str(key).rsplit(".", 1)[-1]
            if name in POSITIVE_INTS and (value < 1 or value != int(value)):
                raise ConfigError(f"{at} = {value}: must be a whole number >= 1")
            if name in NON_NEGATIVE and value < 0:
                raise ConfigError(f"{at} = {value}: must be >= 0")
            if name == "learning_rate" and value <= 0:
                raise ConfigError(f"{at} = {value}: must be > 0")
            if name == "dropout" and not 0 <= value < 1:
                raise ConfigError(f"{at} = {value}: must be in [0, 1)")
    elif isinstance(params, list):
        for i, item in enumerate(params):
            check_domains(item, f"{where}[{i}]")


def _checked_model(spec: ModelSpec, where: str) -> ModelSpec:
    """``spec`` checked by its kind's builder (no data read): unknown or bad parameters of any kind
    (training options, nested ``encoder`` / ``objectives`` blocks, dotted keys) raise
    :class:`ConfigError` naming ``where``; a cell that cannot run by construction gets its n/a reason."""

    try:
        check_domains(spec.params, "params")
        return builder_for(spec).validate(spec)
    except (ConfigError, UnknownNameError) as exc:
        raise type(exc)(f"{where} ({spec.label}): {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where} ({spec.label}): {exc}") from None


def parse_suite(raw: Any, path: str = "<suite>") -> Suite:
    """Validate a suite mapping (as loaded from YAML): every dataset, preprocessing, split, model
    (including preset and cross parameters, nested encoder / objective blocks and dotted keys),
    evaluation and validation key, before any data is read or any model trains. Plugins
    (``ssl4rec.plugins`` entry points) are loaded first, so a suite may name their components."""
    from ..registry import load_plugins

    load_plugins()
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a suite must be a mapping, got {type(raw).__name__}")
    check_keys(raw, SUITE_KEYS, f"suite {path}")
    seeds = raw.get("seeds", [0])
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigError(f"{path}: seeds must be a list of integers")
    models = _models(raw, path)
    published = _checked_published(dict(raw.get("published") or {}), {m.label for m in models}, path)
    comparisons = _checked_comparisons(raw.get("comparisons"), [m.label for m in models], path)
    validation = dict(raw.get("validation") or {})
    check_keys(validation, ("max_users",), f"{path} validation")
    max_users = validation.get("max_users")
    if max_users is not None and (isinstance(max_users, bool) or not isinstance(max_users, int) or max_users < 1):
        raise ConfigError(f"{path} validation: max_users must be a positive integer (or absent), got {max_users!r}")
    datasets = _datasets(raw, path)
    from .transfer import check_targets

    check_targets(datasets, models, path)
    splits = _splits(raw, path)
    _check_model_splits(models, splits, path)
    return Suite(
        name=str(raw.get("name") or Path(path).stem),
        description=str(raw.get("description") or ""),
        datasets=datasets,
        splits=splits,
        models=tuple(_checked_model(m, f"{path} models") for m in models),
        seeds=tuple(seeds),
        protocol=_protocol(raw.get("evaluation"), path),
        validation=validation,
        path=path,
        published=published,
        comparisons=comparisons,
    )


def _protocol(raw: Any, path: str) -> Protocol:
    try:
        return Protocol.from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{path} evaluation: {exc}") from None


def _datasets(raw: dict[str, Any], path: str) -> tuple[ComponentSpec, ...]:
    """The suite's datasets, each checked against its loader's parameters and the preprocessing keys."""
    from ..datasets.pipeline import check_dataset_spec

    datasets = []
    for i, d in enumerate(raw.get("datasets") or []):
        c = _component(d, "dataset", f"{path} datasets[{i}]")
        try:
            check_dataset_spec(c["name"], c["params"], c.get("preprocessing"))
        except ConfigError as exc:
            raise ConfigError(f"{path} datasets[{i}]: {exc}") from None
        datasets.append(
            ComponentSpec(
                name=c["name"],
                params=c["params"],
                label=c["label"] or c["name"],
                preprocessing=dict(c.get("preprocessing") or {}),
            )
        )
    if not datasets:
        raise ConfigError(f"{path}: no datasets")
    labels = [d.label for d in datasets]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(
            f"{path}: duplicate dataset labels {dup}; give each a distinct 'label' (their records would share a folder)"
        )
    return tuple(datasets)


def _splits(raw: dict[str, Any], path: str) -> tuple[ComponentSpec, ...]:
    """The suite's splits, grids expanded, each checked against its registry entry; labels distinct."""
    splits = []
    for i, s in enumerate(raw.get("splits") or []):
        c = _component(s, "split", f"{path} splits[{i}]")
        entry = SPLITS.entry(c["name"])
        for ex in _expand_grid(c, f"{path} splits[{i}]"):
            _check_entry_params(entry, ex["params"], f"{path} splits[{i}]")
            if "ratios" in ex["params"]:
                try:
                    check_ratios(ex["params"]["ratios"])
                except (ConfigError, TypeError, ValueError) as exc:
                    raise ConfigError(f"{path} splits[{i}] ({entry.name}): {exc}") from None
            splits.append(ComponentSpec(name=entry.name, params=ex["params"], label=_split_label(ex)))
    if not splits:
        raise ConfigError(f"{path}: no splits")
    labels = [s.label for s in splits]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"{path}: duplicate split labels {dup}; give each a distinct 'label'")
    return tuple(splits)


def _checked_comparisons(raw: Any, labels: list[str], path: str) -> tuple[tuple[str, str], ...]:
    """The ``comparisons`` list: ``[a, b]`` pairs of two different model labels of this suite."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{path} comparisons: give a list of [model label, model label] pairs, got {type(raw).__name__}")
    out = []
    for i, pair in enumerate(raw):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise ConfigError(f"{path} comparisons[{i}]: give a pair [model label, model label], got {pair!r}")
        for label in pair:
            if label not in labels:
                raise ConfigError(
                    f"{path} comparisons[{i}]: {label!r} is not a model label of this suite.{did_you_mean(label, labels)}"
                )
        if pair[0] == pair[1]:
            raise ConfigError(f"{path} comparisons[{i}]: compares {pair[0]!r} with itself")
        if tuple(pair) in out:
            raise ConfigError(f"{path} comparisons[{i}]: {pair!r} is listed twice")
        out.append(tuple(pair))
    return tuple(out)


def _checked_published(published: dict[str, Any], labels: set[str], path: str) -> dict[str, Any]:
    """The ``published`` block (a paper's numbers): its keys, orderings, variants and model labels checked."""
    if not published:
        return published
    check_keys(
        published, ("source", "dataset", "split", "values", "variants", "orderings", "notes"), f"{path} published"
    )
    orderings = published.get("orderings") or []
    if not isinstance(orderings, list) or not all(isinstance(o, list) and len(o) == 2 for o in orderings):
        raise ConfigError(f"{path} published: orderings must be a list of [worse, better] model label pairs")
    variants = published.get("variants") or {}
    if not isinstance(variants, dict):
        raise ConfigError(
            f"{path} published: variants must map a variant's model label to the published row it is compared with"
        )
    values = published.get("values") or {}
    for variant, base in variants.items():
        if base not in values:
            raise ConfigError(
                f"{path} published: variant {variant!r} refers to {base!r}, which has no published values.{did_you_mean(str(base), list(values))}"
            )
    for label in [*values, *variants, *(lab for o in orderings for lab in o)]:
        if label not in labels:
            raise ConfigError(
                f"{path} published: {label!r} is not a model label of this suite.{did_you_mean(label, labels)}"
            )
    return published


#: Budgets of a suite file: its size, and the nodes it expands to once every YAML alias is followed.
MAX_SUITE_BYTES = 1_000_000
MAX_SUITE_NODES = 100_000


def _check_expansion(root: Any, path: Path) -> None:
    """Refuse a document whose aliases expand it past :data:`MAX_SUITE_NODES` (an alias "bomb": a few
    lines that nest references to references), counted on the node graph without expanding it."""
    if root is None:
        return
    size: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        children = node.value if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            size[id(node)] = min(1 + sum(size[id(c)] for c in children), MAX_SUITE_NODES + 1)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    if size[id(root)] > MAX_SUITE_NODES:
        raise ConfigError(
            f"{path}: expands to more than {MAX_SUITE_NODES:,} values through YAML aliases (&anchor / *alias); "
            "a suite this large is refused (an alias bomb?)"
        )


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite YAML file (``yaml.safe_load``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"suite file not found: {path}")
    if path.stat().st_size > MAX_SUITE_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes; a suite is at most {MAX_SUITE_BYTES:,} (is this a suite?)")
    try:
        text = path.read_text(encoding="utf-8")
        _check_expansion(yaml.compose(text, Loader=yaml.SafeLoader), path)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{at}: not valid YAML: {problem}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the suite as UTF-8"
        ) from None
    return parse_suite(raw, str(path))
