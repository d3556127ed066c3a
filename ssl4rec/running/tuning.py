"""Hyperparameter tuning with Optuna: one study per (dataset, split, model), equal budgets.

Every model gets the same number of trials (a model without tunable parameters gets one),
searches the space registered with its components, starts from its default configuration
(enqueued as trial 0), is pruned on the per-epoch validation metric, and never sees test data.
Studies live in SQLite under the results folder by default, or in any database URL Optuna
accepts (``--storage postgresql://...``) so several machines can work on one study. Best
parameters go to ``<out>/<suite>.best.yaml`` (beside the study), which ``run --tuned`` reads from
the same ``--out`` (or from beside the suite, where a project commits the parameters it publishes
with, e.g. ``configs/ml100k.best.yaml``); each finished study is merged into that file at once
(cells of other studies, e.g. from a run with ``--models`` selecting other models, are kept).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

from ..registry import ConfigError
from .builders import builder_for, cell_seed, fit_cell
from .plan import ModelSpec, Suite
from .runner import Runner, build_model
from .seeds import derive_seed

logger = logging.getLogger(__name__)

__all__ = [
    "search_space_for",
    "apply_params",
    "tune",
    "best_params_path",
    "find_best",
    "load_best",
    "load_best_params",
    "check_tuned",
    "storage_url",
]


def search_space_for(mspec: ModelSpec) -> dict[str, tuple]:
    """The registered search space of a model cell (dotted keys for SSL components)."""
    return builder_for(mspec).search_space(mspec)


def apply_params(mspec: ModelSpec, params: dict[str, Any]) -> ModelSpec:
    """``mspec`` with (possibly dotted) ``params`` merged in."""
    return builder_for(mspec).apply(mspec, params)


def _suggest(trial: Any, name: str, spec: tuple) -> Any:
    kind = spec[0]
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec[1]))
    low, high = spec[1], spec[2]
    log = len(spec) > 3 and spec[3] == "log"
    if kind == "int":
        return trial.suggest_int(name, int(low), int(high), log=log)
    if kind == "float":
        return trial.suggest_float(name, float(low), float(high), log=log)
    raise ConfigError(f"bad search-space entry {name}: {spec!r}")


def _defaults(mspec: ModelSpec, space: dict[str, tuple]) -> dict[str, Any]:
    """The model's default values of the searched parameters (those the space can hold): trial 0."""
    flat = builder_for(mspec).dotted_defaults(mspec)
    return {k: flat[k] for k, spec in space.items() if k in flat and _in_space(flat[k], spec)}


def _in_space(value: Any, spec: tuple) -> bool:
    """Whether ``value`` can be enqueued for ``spec`` (e.g. a default weight decay of 0 cannot on a log scale)."""
    if value is None:
        return False
    if spec[0] == "categorical":
        return value in list(spec[1])
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return float(spec[1]) <= v <= float(spec[2])


def _open_storage(url: str, attempts: int = 8) -> Any:
    """An RDB storage with heartbeats (a killed worker's trial is failed and retried once).

    Several workers may create the schema of a new database at the same moment; the losers of
    that race retry.
    """
    import inspect
    import warnings

    from optuna import storages
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    # Optuna >= 4.9 renamed the argument and the callback; older versions have only the first names
    key = (
        "heartbeat_stale_trial_callback"
        if "heartbeat_stale_trial_callback" in inspect.signature(RDBStorage.__init__).parameters
        else "failed_trial_callback"
    )
    retry = getattr(storages, "RetryHeartbeatStaleTrialCallback", None) or storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" warnings of the callback
        kwargs = {"heartbeat_interval": 30, "grace_period": 90, key: retry(max_retry=1)}
    shown = _check_storage_url(url)
    for i in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return RDBStorage(
                    url, engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None, **kwargs
                )
        except SQLAlchemyError as exc:
            # a schema race between workers creating a new database is retried; a server that cannot
            # be reached is not (OperationalError outside SQLite)
            unreachable = isinstance(exc, OperationalError) and not url.startswith("sqlite")
            if i == attempts - 1 or unreachable:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise ConfigError(
                    f"--storage {shown}: cannot open the study database ({reason}); check that the server is "
                    "running and reachable from here, and the user, password and database name"
                ) from exc
            time.sleep(0.5 * (i + 1))
    raise RuntimeError("unreachable")


def _check_storage_url(url: str) -> str:
    """The URL with its password hidden (for messages); refuses a malformed URL or a missing driver.

    ``postgresql://`` is served by psycopg 3 (what ``ssl4rec[postgres]`` installs, and SQLAlchemy
    2.1's default); ``postgresql+psycopg2://`` selects the older driver.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"--storage {url!r} is not a database URL that SQLAlchemy knows (e.g. postgresql://user@host/db): {exc}"
        ) from exc
    shown = parsed.render_as_string(hide_password=True)
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        if exc.name == "psycopg2":
            extra = "pip install psycopg2-binary, or use postgresql:// (psycopg 3, installed by ssl4rec[postgres])"
        elif parsed.get_backend_name() == "postgresql":
            extra = "pip install 'ssl4rec[postgres]'"
        else:
            extra = f"pip install the module {exc.name}"
        raise ConfigError(
            f"--storage {shown}: the {parsed.get_backend_name()} driver ({exc.name}) is not installed: {extra}"
        ) from exc
    return shown


def storage_url(out: str | Path, storage: str | None) -> str:
    if storage:
        return storage
    Path(out).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(out).resolve() / 'tuning.db'}"


def best_params_path(suite_path: str | Path, out: str | Path | None = None) -> Path:
    """Where tuned parameters of the suite at ``suite_path`` live: ``<out>/<suite stem>.best.yaml``
    (what ``tune --out`` writes); without ``out``, beside the suite (a committed copy)."""
    p = Path(suite_path)
    name = p.stem + ".best.yaml"
    return Path(out) / name if out is not None else p.with_name(name)


def find_best(suite_path: str | Path, out: str | Path | None = None) -> Path:
    """The tuned-parameters file ``run --tuned`` reads: ``tune``'s output in ``out`` when it exists, else
    the copy beside the suite; a :class:`ConfigError` names both places when neither exists."""
    if out is not None and str(out).endswith(".best.yaml"):  # a tuned-parameters file named directly
        if not Path(out).is_file():
            raise ConfigError(f"--tuned-from {out}: no such file")
        return Path(out)
    places = ([best_params_path(suite_path, out)] if out is not None else []) + [best_params_path(suite_path)]
    for p in places:
        if p.is_file():
            return p
    raise ConfigError(
        f"no tuned parameters at {' or '.join(map(str, places))}: run `ssl4rec tune {suite_path}"
        f"{f' --out {out}' if out is not None else ''}` first"
    )


def load_best(suite_path: str | Path, out: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """``{"<dataset>/<split>/<model>": {params, value, trial, trials}}`` written by :func:`tune` (see
    :func:`find_best` for where), plus ``metric`` (the validation metric) and ``file`` in every entry."""
    p = find_best(suite_path, out)
    raw = yaml.safe_load(p.read_text()) or {}
    return {k: {**v, "metric": raw.get("metric"), "file": str(p)} for k, v in (raw.get("cells") or {}).items()}


def load_best_params(suite_path: str | Path, out: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """``{"<dataset>/<split>/<model>": params}`` written by :func:`tune`."""
    return {k: dict(v.get("params") or {}) for k, v in load_best(suite_path, out).items()}


def check_tuned(suite: Suite, best: dict[str, dict[str, Any]]) -> None:
    """Refuse ``run --tuned`` when a cell of ``suite`` has no tuned parameters (it would silently
    run with defaults, beside models that had their tuning budget)."""
    from .spec import tuning_key

    keys = [tuning_key(d, s, m) for d in suite.datasets for s in suite.splits for m in suite.models if m.runs_on(s)]
    missing = [k for k in keys if k not in best]
    if missing:
        models = sorted({k.split("/")[2] for k in missing})
        splits = sorted({k.split("/")[1] for k in missing})
        raise ConfigError(
            f"run --tuned: {len(missing)} of {len(keys)} cells have no tuned parameters in "
            f"{next(iter(best.values()), {}).get('file', best_params_path(suite.path))} (e.g. {', '.join(missing[:3])}). Tune them first: "
            f"ssl4rec tune {suite.path} --models {','.join(models)} --splits {','.join(splits)}; "
            "or leave them out with --models / --splits."
        )


def tune(
    suite: Suite,
    out: str | Path,
    trials: int,
    storage: str | None = None,
    data_dir: str | Path | None = None,
    timeout: float | None = None,
    write_best: bool = True,
    checkpoint_every: int = 0,
) -> dict[str, dict[str, Any]]:
    """Tune every (dataset, split, model) of ``suite`` with ``trials`` trials each; resumable.

    ``checkpoint_every`` N > 0: each trial's fit saves its training state every N epochs under
    ``<out>/checkpoints/<study>/``; a trial whose process was killed is run again with its parameters
    (the heartbeat's retry, or enqueued by the next ``tune``) and resumes from that checkpoint, its
    earlier validation values reported to the pruner again, ending as the uninterrupted trial would.
    """
    with warnings.catch_warnings():
        # List choices (the VAE's hidden_sizes) round-trip through the RDB and journal storages as
        # JSON; Optuna warns about any non-scalar choice all the same, at every suggestion and read.
        warnings.filterwarnings("ignore", message="Choices for a categorical distribution", category=UserWarning)
        return _tune(suite, out, trials, storage, data_dir, timeout, write_best, checkpoint_every)


def _tune(
    suite: Suite,
    out: str | Path,
    trials: int,
    storage: str | None,
    data_dir: str | Path | None,
    timeout: float | None,
    write_best: bool,
    checkpoint_every: int = 0,
) -> dict[str, dict[str, Any]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if checkpoint_every < 0:
        raise ConfigError(f"checkpoint_every = {checkpoint_every}: give N >= 1 epochs (0 = no checkpoints)")
    url = storage_url(out, storage)
    job = _TuneJob(suite, out, trials, url, storage, _open_storage(url), timeout, write_best, int(checkpoint_every))
    runner = Runner(suite, out=out, data_dir=data_dir)
    existing = set(optuna.get_all_study_names(storage=job.store))
    for dspec in suite.datasets:
        for sspec in suite.splits:
            models = [m for m in suite.models if m.runs_on(sspec)]
            if not models:
                continue
            split = runner.split(dspec, sspec, suite.seeds[0])
            for mspec in models:
                _tune_cell(job, dspec, sspec, mspec, split, existing)
    if write_best and suite.path and job.best:
        logger.info("best parameters written to %s", best_params_path(suite.path, out))
    return job.best


@dataclasses.dataclass
class _TuneJob:
    """One ``tune`` call: the suite, its budget, the study storage and the best entries found so far."""

    suite: Suite
    out: str | Path
    trials: int
    url: str
    storage: str | None
    store: Any
    timeout: float | None
    write_best: bool
    checkpoint_every: int = 0
    best: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def checkpoints(self, study_name: str) -> _TrialCheckpoints | None:
        """Where the trials of ``study_name`` checkpoint (None without ``checkpoint_every``)."""
        if not self.checkpoint_every:
            return None
        from ..reporting.records import safe_name

        folder = safe_name(study_name.replace("/", "__"))
        return _TrialCheckpoints(Path(self.out) / "checkpoints" / folder, self.checkpoint_every)

    def record(self, key: str, entry: dict[str, Any]) -> None:
        """Keep a cell's best entry; merge it into the best-parameters file at once (a kill loses no finished study)."""
        self.best[key] = entry
        if self.write_best and self.suite.path:
            _write_best(self.suite, self.out, self.trials, self.url, self.storage, key, entry)


def _tune_cell(job: _TuneJob, dspec: Any, sspec: Any, mspec: ModelSpec, split: Any, existing: set[str]) -> None:
    """Run (or resume) one cell's study up to its budget of distinct configurations and record its best."""
    import optuna
    from optuna.trial import TrialState

    suite, seed = job.suite, job.suite.seeds[0]
    key = f"{dspec.label}/{sspec.label}/{mspec.label}"
    config = _study_config(suite, dspec, sspec, mspec)
    fingerprint = split.fingerprint()
    # A study of another split with the same data (e.g. sparsity p = 1 and its base split) is
    # this cell's study: same trials, same validation values.
    owner = (
        key
        if f"{suite.name}/{key}" in existing
        else (_study_of_same_data(job.store, suite.name, key, config, fingerprint) or key)
    )
    space = search_space_for(mspec)
    budget = min(job.trials, _space_size(space))
    model_seed = cell_seed(dspec.label, owner.split("/")[1], mspec.label, seed)
    reason = _untunable(split, mspec, model_seed)
    if reason and f"{suite.name}/{owner}" not in existing:  # a study begun before this check runs on
        logger.info("tune %s: not tuned, %s", key, reason)
        job.record(key, {"params": {}, "trials": 0, "skipped": reason})
        return
    if owner != key:
        logger.info("tune %s: same train/valid/test data as %s, using its study", key, owner)
    study = optuna.create_study(
        study_name=f"{suite.name}/{owner}",
        storage=job.store,
        sampler=_trial_seeded_tpe(derive_seed("tune", suite.name, owner, seed)),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
        direction="maximize",
        load_if_exists=True,
    )
    if study.metric_names is None:  # what optuna-dashboard and the exports show instead of "Objective 0"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([f"valid {suite.protocol.valid_metric}"])
    if owner == key:
        _check_study_config(study, config, key)
        if study.user_attrs.get("split_fingerprint") != fingerprint:
            study.set_user_attr("split_fingerprint", fingerprint)
    if not study.get_trials(deepcopy=False) and space:
        # Defaults outside the space (weight decay 0 on a log scale) are not suggested in trial 0:
        # it leaves them at the model's own default, so trial 0 is the default configuration.
        defaults = _defaults(mspec, space)
        study.enqueue_trial(defaults, user_attrs={"default": True, "default_keys": sorted(defaults)})
    checkpoints = job.checkpoints(study.study_name)
    if checkpoints is not None:
        checkpoints.requeue(study, key)
    objective = _objective(suite, mspec, space, split, model_seed, checkpoints)
    counted, repeats = _run_budget(study, objective, key, budget, job.timeout)
    # The first `budget` distinct trials to finish count; with several workers more may finish (a
    # worker's running trial when another reached the budget): they are kept in the study but not
    # considered, so every model is chosen from `budget` configurations.
    complete = [t for t in counted if t.state == TrialState.COMPLETE]
    if not complete:
        return
    bt = max(complete, key=lambda t: (t.value, -t.number))
    entry = {
        "params": dict(bt.params),
        "value": float(bt.value),
        "trial": bt.number,
        "trials": len(counted),
        "repeats_skipped": repeats,
    }
    if owner != key:
        entry["study"] = owner
    logger.info("tune %s: best %s=%.4f at trial %d", key, suite.protocol.valid_metric, bt.value, bt.number)
    job.record(key, entry)


def _objective(
    suite: Suite,
    mspec: ModelSpec,
    space: dict,
    split: Any,
    model_seed: int,
    checkpoints: _TrialCheckpoints | None = None,
) -> Any:
    """The trial function of a cell's study: fit with the suggested parameters (pruned on the
    per-epoch validation metric) and return the best validation value."""

    def objective(trial: Any) -> float:
        keys = trial.user_attrs.get("default_keys", list(space))
        params = {k: _suggest(trial, k, v) for k, v in space.items() if k in keys}
        ck = checkpoints.checkpointer(params) if checkpoints is not None else None
        t0 = time.perf_counter()
        try:
            fitted = fit_cell(
                apply_params(mspec, params),
                split,
                suite.protocol,
                model_seed,
                max_users=suite.validation.get("max_users"),
                callbacks=[_Reporter(trial)],
                checkpointer=ck,
            )
            value = fitted.model.fit_info.get("best_valid")
            if value is None:
                value = fitted.validator.evaluate(fitted.model)
        except Exception:  # pruned, or failed for good: nothing to resume (a killed process keeps its checkpoint)
            if ck is not None:
                ck.clear()
            raise
        if ck is not None:
            ck.clear()
        resumed = fitted.model.fit_info.get("resumed_from")
        if resumed:
            trial.set_user_attr("resumed_from", list(resumed))
        trial.set_user_attr("fit_seconds", time.perf_counter() - t0)
        return float(value)

    return objective


class _Reporter:
    """A trial's validation callback: report each epoch's value to Optuna and prune when it says so.

    A fit resumed from a checkpoint hands its earlier epochs' values to :meth:`restore` (through the
    validator), which reports them again, so the pruner judges the resumed trial on its whole curve."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def __call__(self, epoch: int, value: float, logs: dict[str, float]) -> None:
        import optuna

        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} ({value:.4f})")

    def restore(self, history: list[tuple[int, float]]) -> None:
        for epoch, value in history:
            self.trial.report(value, epoch)


@dataclasses.dataclass
class _TrialCheckpoints:
    """The checkpoints of one study's trials (``tune --checkpoint-every N``), one per configuration:
    a trial's fit is determined by its parameters (the model seed is the study's), so a later trial
    with the same parameters, the retry of a killed one, resumes where it stopped."""

    root: Path
    every: int

    @staticmethod
    def params_key(params: dict[str, Any]) -> str:
        import hashlib

        return hashlib.sha256(_configuration(params).encode()).hexdigest()[:16]

    def checkpointer(self, params: dict[str, Any]) -> Any:
        from ..recommender import Checkpointer

        self.root.mkdir(parents=True, exist_ok=True)
        return Checkpointer(self.root / f"trial-{self.params_key(params)}", self.every)

    def requeue(self, study: Any, key: str) -> None:
        """Run again the killed trials that left a checkpoint: stale trials are failed first (their
        heartbeat's retry is enqueued then); a failed trial with a checkpoint and no pending or
        finished trial of its parameters is enqueued here; the checkpoints of finished
        configurations are removed."""
        from optuna.storages import fail_stale_trials
        from optuna.trial import TrialState

        if not self.root.is_dir():
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental"
            fail_stale_trials(study)  # (a storage without heartbeats: nothing)
        by_key: dict[str, list[Any]] = {}
        for t in study.get_trials(deepcopy=False):
            by_key.setdefault(self.params_key(t.params), []).append(t)
        for path in sorted(self.root.glob("trial-*.ckpt.pt")):
            pkey = path.name.split(".")[0].removeprefix("trial-")
            trials = by_key.get(pkey, [])
            states = {t.state for t in trials}
            if states & {TrialState.COMPLETE, TrialState.PRUNED}:
                self.checkpointer(trials[0].params).clear()
            elif trials and not states & {TrialState.WAITING, TrialState.RUNNING}:
                last = max(trials, key=lambda t: t.number)
                study.enqueue_trial(dict(last.params), user_attrs=dict(last.user_attrs), skip_if_exists=False)
                logger.info(
                    "tune %s: trial %d was killed; its configuration runs again from its checkpoint", key, last.number
                )


def _run_budget(study: Any, objective: Any, key: str, budget: int, timeout: float | None) -> tuple[list, int]:
    """Run trials until ``budget`` distinct configurations finished (or the timeout / the sampler stops).

    The budget counts distinct configurations: a trial repeating the parameters of one finished
    before it (same seed, so the same result) adds nothing, and counting it would give that model
    fewer configurations than another (see :func:`_counted`). Returns the counted trials and the
    number of repeats skipped.
    """
    from optuna.trial import TrialState

    from ..objectives.base import IncompatibleError

    done_states = (TrialState.COMPLETE, TrialState.PRUNED)

    def n_failed() -> int:
        return len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,)))

    counted, repeats = _counted(study.get_trials(deepcopy=False, states=done_states), budget)
    failed_at_start = n_failed()
    while len(counted) < budget:
        logger.info("tune %s: %d/%d configurations done, running the rest", key, len(counted), budget)
        failed_before = n_failed()
        finished = _optimize(
            study,
            objective,
            key,
            n_trials=budget - len(counted),
            timeout=timeout,
            callbacks=[_BudgetReached(budget, done_states)],
            # a sampled configuration the model cannot be built with (e.g. NCL's context layer above a
            # sampled layer count) fails that trial, not the study; it is not counted in the budget
            catch=(FloatingPointError, IncompatibleError),
        )
        before, failed_now = len(counted), n_failed()
        counted, repeats = _counted(study.get_trials(deepcopy=False, states=done_states), budget)
        if not finished:
            continue
        # a round whose trials failed (unbuildable configurations) is not the sampler running dry:
        # go on, up to 5 failures per budgeted configuration in this call
        retry = failed_now > failed_before and failed_now - failed_at_start < 5 * budget
        if timeout is not None or (len(counted) == before and not retry):
            if len(counted) < budget:
                logger.warning(
                    "tune %s: stopped at %d of %d configurations (timeout, or the sampler found no new one)",
                    key,
                    len(counted),
                    budget,
                )
            break
    return counted, repeats


def _study_of_same_data(store: Any, suite_name: str, key: str, config: dict[str, Any], fingerprint: str) -> str | None:
    """The cell key of another study in ``store`` for the same suite, dataset and model whose
    split holds exactly this split's train / valid / test data, or None.

    Such a study has this cell's configuration but for the split's parameters, and its
    ``split_fingerprint`` (set when tune opens a study for its own cell) equals ``fingerprint``.
    Tuning this cell again would repeat its trials on the same data. The study found first in
    storage order (the earliest made) wins, so every worker picks the same one.
    """
    import optuna

    dataset, _, model = key.split("/", 2)
    want = {k: v for k, v in config.items() if k != "split"}
    for summary in optuna.get_all_study_summaries(storage=store, include_best_trial=False):
        name = summary.study_name
        if not name.startswith(f"{suite_name}/") or name == f"{suite_name}/{key}":
            continue
        other = name[len(suite_name) + 1 :]
        parts = other.split("/", 2)
        if len(parts) != 3 or parts[0] != dataset or parts[2] != model:
            continue
        attrs = summary.user_attrs
        if attrs.get("split_fingerprint") != fingerprint:
            continue
        if {k: v for k, v in (attrs.get("config") or {}).items() if k != "split"} == want:
            return other
    return None


def _untunable(split: Any, mspec: ModelSpec, model_seed: int) -> str | None:
    """Why no configuration of ``mspec`` can change its test result on ``split``, or None.

    That is the case when every test target is an item without training interactions (the
    ``cold_items`` split's test set) and the model cannot score such items: each target is ranked
    below every other item, so the top-k test metrics are 0 and AUC is fixed whatever the
    parameters. Tuning it would spend the budget on a result known in advance.
    """
    _, tmat = split.target_matrix("test")
    targets = tmat[tmat >= 0]
    if not len(targets) or bool((split.train.item_counts[targets] > 0).any()):
        return None  # some target is a warm item (every split but cold_items): no model needs building
    try:
        model, _ = build_model(mspec, model_seed)
    except Exception:  # noqa: BLE001 - not applicable or misconfigured: the study reports it
        return None
    if getattr(model, "can_score_cold_items", True) or not hasattr(model, "scorable_items"):
        return None
    return (
        f"all {len(targets)} test targets are items without training interactions, which this model "
        "cannot score, so its top-k test metrics are 0 under every configuration"
    )


def _trial_seeded_tpe(seed: int) -> Any:
    """A TPE sampler whose random state is re-seeded from (``seed``, trial number) before each trial.

    Workers sharing a study would otherwise hold identically seeded samplers and draw the same
    parameters (in the random start-up phase always); trial numbers are unique within a study,
    so every trial gets its own draws and a single worker stays reproducible.
    """
    import optuna

    class TrialSeededTPE(optuna.samplers.TPESampler):
        def before_trial(self, study: Any, trial: Any) -> None:
            for s in (getattr(self, "_rng", None), getattr(getattr(self, "_random_sampler", None), "_rng", None)):
                if s is not None and hasattr(s, "rng"):
                    s.rng.seed(derive_seed("trial", seed, trial.number) % 2**32)
            super().before_trial(study, trial)

    return TrialSeededTPE(seed=seed)


def _space_size(space: dict[str, tuple]) -> int | float:
    """How many distinct configurations ``space`` holds (infinite with a float dimension; 1 when empty)."""
    size: int | float = 1
    for spec in space.values():
        if spec[0] == "categorical":
            size *= len(spec[1])
        elif spec[0] == "int":
            size *= int(spec[2]) - int(spec[1]) + 1
        else:
            return float("inf")
    return size


def _configuration(params: dict[str, Any]) -> str:
    """A trial's configuration as one string: equal parameters, equal string (repeats, checkpoint keys)."""
    import json

    return json.dumps(params, sort_keys=True, default=str)


def _counted(trials: list[Any], budget: int) -> tuple[list[Any], int]:
    """The first ``budget`` distinct trials by completion time (trial number breaks ties), and how
    many repeats were passed over before the budget was filled.

    A trial whose parameters equal those of a trial that finished before it is a repeat: the model
    seed is fixed per study, so it re-measures the same configuration. Several workers with
    identically seeded samplers drew such repeats (1-7 of 21 per study before samplers were seeded
    per trial); not counting them gives every model ``budget`` different configurations.
    """
    import datetime

    never = datetime.datetime.max
    seen: set[str] = set()
    counted: list[Any] = []
    repeats = 0
    for t in sorted(trials, key=lambda t: (t.datetime_complete or never, t.number)):
        if len(counted) == budget:
            break
        params = _configuration(t.params)
        if params in seen:
            repeats += 1
            continue
        seen.add(params)
        counted.append(t)
    return counted, repeats


def _optimize(study: Any, objective: Any, key: str, **kwargs: Any) -> bool:
    """``study.optimize(objective, **kwargs)``; False when it stopped because another worker had
    already finished this worker's running trial.

    With heartbeats, a worker that starts a trial first fails the trials of workers silent for
    longer than the grace period (a process paused, suspended or starved of CPU) and enqueues
    their retry. When the silent worker comes back, Optuna cannot record its trial and raises out
    of ``optimize`` ("Cannot tell a FAIL trial"), which would end the whole ``tune`` run. Here the
    worker logs it and goes on with the study's remaining budget instead.
    """
    own_errors: list[BaseException] = []
    numbers: list[int] = []

    def tracked(trial: Any) -> Any:
        numbers.append(trial.number)
        try:
            return objective(trial)
        except Exception as e:
            own_errors.append(e)
            raise

    from optuna.trial import TrialState

    try:
        study.optimize(tracked, **kwargs)
    except ValueError as e:
        if not numbers or (own_errors and e is own_errors[-1]):  # the objective's own error, or none ran
            raise
        trial = next(t for t in study.get_trials(deepcopy=False) if t.number == numbers[-1])
        if trial.state == TrialState.RUNNING:
            raise
        logger.warning(
            "tune %s: trial %d was ended (%s) by another worker while this one was silent for longer than the "
            "heartbeat grace period (paused or starved of CPU); it is retried as a new trial, this worker goes on",
            key,
            trial.number,
            trial.state.name,
        )
        return False
    return True


class _BudgetReached:
    """Optuna callback: stop this worker once the study holds ``budget`` distinct finished trials
    (counted over all workers, like Optuna's ``MaxTrialsCallback`` but without repeats)."""

    def __init__(self, budget: int, states: tuple) -> None:
        self.budget, self.states = budget, states

    def __call__(self, study: Any, trial: Any) -> None:
        if len(_counted(study.get_trials(deepcopy=False, states=self.states), self.budget)[0]) >= self.budget:
            study.stop()


def _study_config(suite: Suite, dspec: Any, sspec: Any, mspec: ModelSpec) -> dict[str, Any]:
    """What a study's trials depend on besides the searched parameters (its name holds only labels)."""
    import json

    cfg = {
        "dataset": json.loads(dspec.key()),
        "split": json.loads(sspec.key()),
        "model": mspec.resolved(),
        "seed": suite.seeds[0],
        "valid_metric": suite.protocol.valid_metric,
        "max_valid_users": suite.validation.get("max_users"),
    }
    return json.loads(json.dumps(cfg, sort_keys=True, default=str))


def _check_study_config(study: Any, cfg: dict[str, Any], key: str) -> None:
    """Refuse to resume a study made for another fixed configuration under the same labels."""
    old = study.user_attrs.get("config")
    if old is None:  # a new study, or one from before configs were stored: adopt it
        study.set_user_attr("config", cfg)
        return
    if old != cfg:
        diff = sorted(k for k in set(old) | set(cfg) if old.get(k) != cfg.get(k))
        raise ConfigError(
            f"the study for {key} in this storage was made for another configuration ({', '.join(diff)} differ: "
            f"stored {[old.get(k) for k in diff]}, now {[cfg.get(k) for k in diff]}); its trials would not be "
            f"comparable. Use a new --out/--storage, give the model a new label, or delete the study "
            f"(optuna.delete_study(study_name={study.study_name!r}, storage=...))."
        )


def _write_best(
    suite: Suite, out: str | Path, trials: int, url: str, storage: str | None, key: str, entry: dict[str, Any]
) -> None:
    """Merge one study's best parameters into ``<out>/<suite>.best.yaml`` (other cells are kept)."""
    from ..reporting.records import atomic_write_bytes

    p = best_params_path(suite.path, out)
    doc = (yaml.safe_load(p.read_text()) or {}) if p.exists() else {}
    cells = dict(doc.get("cells") or {})
    cells[key] = entry
    doc = {
        "suite": suite.name,
        "metric": f"valid {suite.protocol.valid_metric}",
        "trials_per_model": trials,
        "storage": url if storage else "sqlite (results folder)",
        "cells": dict(sorted(cells.items())),
    }
    atomic_write_bytes(p, yaml.safe_dump(doc, sort_keys=False).encode())
