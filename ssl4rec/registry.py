"""One generic :class:`Registry` and every registry instance of ssl4rec.

A component exists only because a decorator registered it under an explicit name
(no discovery by file or class naming). Each entry is one frozen :class:`Entry`
holding everything known about the component: its object, aliases, version, tags,
one-line summary, paper, config dataclass, search space, and what it requires or
provides. Third-party packages add entries through the ``ssl4rec.plugins`` entry-point
group; a plugin that fails to import is reported, not fatal.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "Entry",
    "Registry",
    "UnknownNameError",
    "ConfigError",
    "did_you_mean",
    "check_keys",
    "DATASETS",
    "SPLITS",
    "ENCODERS",
    "OBJECTIVES",
    "AUGMENTATIONS",
    "VIEWS",
    "BASELINES",
    "PRESETS",
    "METRICS",
    "TEXT_ENCODERS",
    "REGISTRIES",
    "load_plugins",
]


class UnknownNameError(KeyError):
    """An unknown component name, with suggestions."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class ConfigError(ValueError):
    """A malformed configuration (unknown key, bad value, wrong type)."""


#: Names other frameworks (RecBole, Elliot, Cornac, ...) use for our keys: suggested when no spelling is close.
SYNONYMS = {
    "topk": "ks",
    "top_k": "ks",
    "k": "ks",
    "cutoffs": "ks",
    "metric": "metrics",
    "valid_metric_name": "valid_metric",
    "eval_metric": "valid_metric",
    "lr": "learning_rate",
    "epoch": "epochs",
    "train_batch_size": "batch_size",
    "eval_batch_size": "batch_size",
    "stopping_step": "patience",
    "early_stop": "patience",
    "embedding_dim": "embedding_size",
    "hidden_dim": "hidden_size",
    "n_layers": "num_layers",
    "n_heads": "num_heads",
    "dropout_prob": "dropout",
    "hidden_dropout_prob": "dropout",
    "neg_sample_num": "n_negatives",
    "seed_list": "seeds",
}


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``" Did you mean 'a' or 'b'?"`` (or ``""``) for a misspelled name, or for another
    framework's name of one of ``choices`` (:data:`SYNONYMS`: ``topk`` -> ``ks``)."""
    choices = list(choices)
    synonym = SYNONYMS.get(str(name).lower())
    if synonym in choices:
        return f" Did you mean {synonym!r}?"
    close = difflib.get_close_matches(str(name), list(choices), n=n, cutoff=0.5)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=0.5)]
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def check_keys(given: Iterable[str], accepted: Iterable[str], where: str) -> None:
    """Raise :class:`ConfigError` if ``given`` has keys outside ``accepted``.

    Args:
        given: keys found in a config.
        accepted: keys the component accepts.
        where: what is being configured, for the message (e.g. ``"model 'bpr'"``).
    """
    accepted = list(accepted)
    unknown = [k for k in given if k not in accepted]
    if unknown:
        parts = [f"unknown key {k!r} for {where}.{did_you_mean(k, accepted)}" for k in unknown]
        raise ConfigError(" ".join(parts) + f" Accepted keys: {', '.join(sorted(accepted)) or '(none)'}.")


@dataclasses.dataclass(frozen=True)
class Entry:
    """Everything known about one registered component."""

    name: str
    """Canonical name used in configs."""
    obj: Any
    """The registered class or factory."""
    kind: str
    """Registry kind (``"objective"``, ``"baseline"``, ...)."""
    summary: str = ""
    """One-line description (defaults to the first docstring line)."""
    aliases: tuple[str, ...] = ()
    version: str = "1"
    """Bumped whenever results of the component change; results of different versions are never averaged."""
    tags: tuple[str, ...] = ()
    paper: str = ""
    config: type | None = None
    """Dataclass of accepted parameters; derived from the constructor when absent."""
    search_space: Mapping[str, tuple] = dataclasses.field(default_factory=dict)
    """``{param: ("float"|"int"|"categorical", low, high, "log"|"linear") or ("categorical", [choices])}``."""
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Kind-specific extras (e.g. dataset files and download address)."""
    module: str = ""

    def accepted_params(self) -> list[str]:
        """Names of the parameters this component accepts."""
        if self.config is not None and dataclasses.is_dataclass(self.config):
            return [f.name for f in dataclasses.fields(self.config)]
        target = self.obj.__init__ if inspect.isclass(self.obj) else self.obj
        try:
            sig = inspect.signature(target)
        except (TypeError, ValueError):
            return []
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]

    def defaults(self) -> dict[str, Any]:
        """Default parameter values (from the config dataclass or the signature)."""
        if self.config is not None and dataclasses.is_dataclass(self.config):
            out = {}
            for f in dataclasses.fields(self.config):
                if f.default is not dataclasses.MISSING:
                    out[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                    out[f.name] = f.default_factory()  # type: ignore[misc]
            return out
        target = self.obj.__init__ if inspect.isclass(self.obj) else self.obj
        try:
            sig = inspect.signature(target)
        except (TypeError, ValueError):
            return {}
        return {
            p.name: p.default
            for p in sig.parameters.values()
            if p.name != "self" and p.default is not inspect.Parameter.empty
        }

    def resolve(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``params``; unknown keys raise :class:`ConfigError`."""
        params = dict(params or {})
        if self.accepted_params() or self.config is not None:
            check_keys(params, self.accepted_params(), f"{self.kind} {self.name!r}")
        out = self.defaults()
        out.update(params)
        return out

    def build(self, **params: Any) -> Any:
        """Instantiate (or call) the component with validated parameters."""
        return self.obj(**self.resolve(params))


class Registry:
    """A named collection of components of one kind.

    Args:
        kind: singular noun used in messages (``"objective"``).
        doc: the contract every entry must meet; becomes the registry's ``__doc__``.
    """

    def __init__(self, kind: str, doc: str = "", meta_keys: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.__doc__ = doc
        self.meta_keys = tuple(meta_keys)
        """Kind-specific registration keywords (beyond the :class:`Entry` fields) this registry accepts."""
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    # -- registration -------------------------------------------------
    def register(self, name: str, **meta: Any) -> Callable[[Any], Any]:
        """Decorator registering a class or factory under ``name``.

        Keyword arguments fill the :class:`Entry` fields (``summary``, ``aliases``,
        ``version``, ``tags``, ``paper``, ``config``, ``search_space``, ``requires``,
        ``provides``, ``meta``); the registry's own ``meta_keys`` go to ``Entry.meta``; any other
        keyword raises ``TypeError`` with suggestions.
        """

        def deco(obj: Any) -> Any:
            self.add(name, obj, **meta)
            return obj

        return deco

    def add(self, name: str, obj: Any, **meta: Any) -> Entry:
        """Register ``obj`` under ``name`` (see :meth:`register`)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        fields = {f.name for f in dataclasses.fields(Entry)} - {"name", "obj", "kind", "module"}
        allowed = sorted(fields | set(self.meta_keys))
        for key in meta:  # a typo (serach_space=) must not land silently in meta
            if key not in allowed:
                raise TypeError(
                    f"register_{self.kind}({name!r}): unknown keyword {key!r}.{did_you_mean(key, allowed)} "
                    f"Accepted: {', '.join(allowed)}."
                )
        known = {k: v for k, v in meta.items() if k in fields}
        extra = {k: v for k, v in meta.items() if k not in fields}
        if extra:
            known["meta"] = {**dict(known.get("meta", {})), **extra}
        for key in ("aliases", "tags", "requires", "provides"):
            if key in known:
                known[key] = tuple(known[key])
        if not known.get("summary"):
            doc = inspect.getdoc(obj) or ""
            known["summary"] = doc.strip().splitlines()[0] if doc.strip() else ""
        entry = Entry(name=name, obj=obj, kind=self.kind, module=getattr(obj, "__module__", ""), **known)
        for key in (name, *entry.aliases):
            if key in self._entries or key in self._aliases:
                other = self._entries.get(key) or self._entries[self._aliases[key]]
                raise ValueError(
                    f"duplicate {self.kind} name {key!r}: already registered by {other.module}.{getattr(other.obj, '__qualname__', other.obj)}"
                )
        self._entries[name] = entry
        for alias in entry.aliases:
            self._aliases[alias] = name
        return entry

    def remove(self, name: str) -> None:
        """Unregister ``name`` (for tests and plugin reloads)."""
        entry = self._entries.pop(name)
        for alias in entry.aliases:
            self._aliases.pop(alias, None)

    # -- lookup -------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        load_builtins()
        return name in self._entries or name in self._aliases

    def __len__(self) -> int:
        load_builtins()
        return len(self._entries)

    def __iter__(self):
        load_builtins()
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        """Sorted canonical names."""
        load_builtins()
        return sorted(self._entries)

    def entry(self, name: str) -> Entry:
        """The :class:`Entry` for ``name`` or an alias; unknown names raise with suggestions."""
        load_builtins()
        key = self._aliases.get(name, name)
        if key not in self._entries:
            choices = list(self._entries) + list(self._aliases)
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, choices)} "
                f"{len(self._entries)} {self.kind}s are registered; list them with `ssl4rec list {self.kind}s`."
            )
        return self._entries[key]

    def get(self, name: str) -> Any:
        """The registered object for ``name``."""
        return self.entry(name).obj

    def build(self, name: str, **params: Any) -> Any:
        """Instantiate ``name`` with validated ``params``."""
        return self.entry(name).build(**params)

    def list(
        self,
        include: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[Entry]:
        """Entries filtered by glob ``include``/``exclude`` patterns and required ``tags``."""
        inc = [include] if isinstance(include, str) else list(include or ["*"])
        exc = [exclude] if isinstance(exclude, str) else list(exclude or [])
        want = set(tags or [])
        out = []
        load_builtins()
        for name in sorted(self._entries):
            e = self._entries[name]
            if not any(fnmatch.fnmatch(name, p) for p in inc):
                continue
            if any(fnmatch.fnmatch(name, p) for p in exc):
                continue
            if want and not want.issubset(e.tags):
                continue
            out.append(e)
        return out

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


DATASETS = Registry(
    "dataset",
    """Datasets. An entry is a loader ``load(root: Path, **params) -> RawData`` reading the
    source's own files from ``root``; ``meta['files']`` lists the ``FileSpec`` s it needs (name,
    sha256, download address) so that missing files are downloaded or named in the error.""",
    meta_keys=('citation', 'expected_counts', 'files', 'homepage', 'normalize_params', 'params_help', 'url'),
)
SPLITS = Registry(
    "split",
    """Splits. An entry is a function ``split(ds: Dataset, seed: int, **params) -> SplitData``,
    deterministic in ``seed``, returning train/valid/test over the dataset's id space with cold
    users/items marked. Nothing of test may be in train.""",
    meta_keys=('cold_start', 'level_label', 'level_param', 'seed_from', 'warm_reference'),
)
ENCODERS = Registry(
    "encoder",
    """Encoders. An entry is an ``nn.Module`` class declaring ``input`` ("sequence" or "bag") and
    ``direction`` ("causal", "bidirectional" or None); it maps a batch of user histories to
    representations that objectives consume.""",
)
OBJECTIVES = Registry(
    "objective",
    """Objectives (main or self-supervised losses). An entry is a class with ``requires`` (what the
    encoder must provide) and ``loss(model, batch) -> Tensor`` returning a finite scalar.""",
)
AUGMENTATIONS = Registry(
    "augmentation",
    """Sequence augmentations. An entry maps a padded batch of item sequences (LongTensor [B, L],
    0 = padding, left-padded) and a ``torch.Generator`` to an augmented batch of the same shape.""",
)
VIEWS = Registry(
    "view",
    """Graph view generators for graph contrastive learning. An entry builds a
    :class:`ssl4rec.ssl.graph_views.GraphView`: ``views(encoder, generator, main)`` gives two
    :class:`~ssl4rec.encoders.graph.GraphOutput` views (perturbed adjacencies, noisy layers or two
    layers of one pass); ``epoch_start`` redraws what a view keeps for an epoch (dropped edges).""",
)
BASELINES = Registry(
    "baseline",
    """Baseline recommenders. An entry is a :class:`ssl4rec.recommender.Recommender` subclass:
    ``fit(train, valid=None)`` then ``score(batch) -> Tensor[B, n_items]`` (higher is better).""",
)
PRESETS = Registry(
    "preset",
    """Named models that are presets of the encoder x objective cross (SASRec, BERT4Rec, ...).
    An entry's ``meta['spec']`` is the SSL model spec (encoder, objectives, schedule, params).""",
    meta_keys=('display', 'spec'),
)
METRICS = Registry(
    "metric",
    """Ranking metrics, by what they need. ``needs="ranks"`` (the default): ``f(ranks, n_rel, k) ->
    ndarray[n_users]`` over 0-based ranks of the relevant items (``inf`` = not retrieved, shape
    [U, T]) and each user's relevant count. ``needs="scores"``: ``f(correct, pairs, n_rel) ->
    ndarray[n_users]`` from pair counts over every candidate's score (AUC-type; ``aggregate``:
    ``"users"`` = mean over users, ``"targets"`` = weighted by ``n_rel``). ``needs="top_k_lists"``:
    ``f(in_some_top_k: bool ndarray[n_items]) -> float`` per cut-off (coverage-type). ``label``: the
    display name; ``higher_is_better``.""",
    meta_keys=("aggregate", "higher_is_better", "label", "needs"),
)
TEXT_ENCODERS = Registry(
    "text_encoder",
    """Item-text encoders. An entry builds an object with ``encode(texts: list[str]) -> ndarray[n, d]``
    and a ``cache_key`` identifying model, revision and settings.""",
)

ATTACKS = Registry(
    "attack",
    """Shilling attacks: seeded transforms of a split's training part that add fake users. An entry is a
    function ``attack(split: SplitData, seed: int, size, filler, targets, ...) -> SplitData`` returning
    the split with the fake users appended to ``train`` (valid and test untouched) and
    ``info["attack"]`` naming them.""",
)

DETECTORS = Registry(
    "detector",
    """Fake-profile detectors. An entry is a function ``detect(train: Interactions, **params) -> ndarray
    [n_users]`` of suspicion scores (higher = more likely fake) for every training user.""",
)

REGISTRIES: dict[str, Registry] = {
    "datasets": DATASETS,
    "splits": SPLITS,
    "encoders": ENCODERS,
    "objectives": OBJECTIVES,
    "augmentations": AUGMENTATIONS,
    "views": VIEWS,
    "baselines": BASELINES,
    "presets": PRESETS,
    "metrics": METRICS,
    "text_encoders": TEXT_ENCODERS,
    "attacks": ATTACKS,
    "detectors": DETECTORS,
}

register_dataset = DATASETS.register
register_split = SPLITS.register
register_encoder = ENCODERS.register
register_objective = OBJECTIVES.register
register_augmentation = AUGMENTATIONS.register
register_view = VIEWS.register
register_baseline = BASELINES.register
register_preset = PRESETS.register
register_metric = METRICS.register
register_text_encoder = TEXT_ENCODERS.register
register_attack = ATTACKS.register
register_detector = DETECTORS.register

_PLUGINS_LOADED = False
PLUGIN_ERRORS: dict[str, str] = {}


_BUILTINS_LOADED = False
#: The packages whose import registers the built-in components.
BUILTIN_PACKAGES = ("baselines", "datasets", "encoders", "evaluation", "objectives", "ssl", "text")


def load_builtins() -> None:
    """Import the built-in components once (their modules register themselves); every registry lookup
    calls it, so ``import ssl4rec`` stays light (no torch) until a component is needed."""
    global _BUILTINS_LOADED  # noqa: PLW0603 - import-once latch, not configuration
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    import importlib

    for name in BUILTIN_PACKAGES:
        importlib.import_module(f"ssl4rec.{name}")


def load_plugins(force: bool = False) -> dict[str, str]:
    """Import every ``ssl4rec.plugins`` entry point once; failures are logged and returned."""
    global _PLUGINS_LOADED  # noqa: PLW0603 - import-once latch, not configuration
    if _PLUGINS_LOADED and not force:
        return PLUGIN_ERRORS
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="ssl4rec.plugins"):
        try:
            obj = ep.load()
            if callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj):
                obj()
        except Exception as exc:  # a broken plugin must not break the tool
            PLUGIN_ERRORS[ep.name] = f"{type(exc).__name__}: {exc}"
            logger.warning("plugin %r (%s) failed to load: %s", ep.name, ep.value, exc)
    return PLUGIN_ERRORS
