"""The runner: a suite's datasets x splits x models x seeds, one record per cell.

``run`` reads top to bottom as the recipe of one cell: config -> seed -> data -> split ->
build -> train -> evaluate -> record. Datasets and splits are built once per run and
shared by all cells that use them. Finished cells (record present) are skipped, so a
killed run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import resource
import subprocess
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..evaluation.evaluator import evaluate
from ..interactions import Dataset, SplitData
from ..objectives.base import IncompatibleError
from ..registry import ConfigError, load_plugins
from ..reporting.records import RecordError, ResultsStore, RunRecord, config_hash
from .builders import NotApplicable, builder_for, cell_seed, fit_cell
from .devices import determinism
from .plan import ComponentSpec, ModelSpec, Suite
from .seeds import derive_seed, split_seed_key
from .spec import tuning_key
from .transfer import self_transfer, source_specs, transfer_of

logger = logging.getLogger(__name__)

__all__ = ["Runner", "build_model", "versions", "git_commit", "CellOutcome"]


def versions() -> dict[str, str]:
    """Versions of the packages that can change results."""
    import pandas
    import scipy

    from .. import __version__

    return {
        "ssl4rec": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "scipy": scipy.__version__,
    }


def git_commit() -> str | None:
    """The commit of the ssl4rec checkout (``None`` outside git), ``+dirty`` when modified."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def build_model(spec: ModelSpec, seed: int) -> tuple[Any, dict[str, Any]]:
    """Instantiate a model cell; returns the model and its resolved params + component versions."""
    return builder_for(spec).build(spec, seed)


@dataclasses.dataclass
class CellOutcome:
    cell_id: str
    status: str  # ok | skipped | claimed (another runner computes it) | n/a | failed
    path: str | None = None
    error: str | None = None


def _without_seed(params: Any) -> Any:
    """Resolved model parameters without the model seed (derived per cell, not part of a recipe)."""
    if not isinstance(params, dict):
        return params
    return json.loads(json.dumps({k: v for k, v in params.items() if k != "seed"}, default=str))  # as recorded


class Runner:
    """Runs a suite into a results folder.

    Args:
        suite: the validated suite.
        out: results folder (records, leaderboards).
        data_dir: where datasets are found (``$SSL4REC_DATA`` when ``None``).
        fail_fast: re-raise a failing cell instead of recording it and continuing.
        trackers: experiment trackers (``cell_callbacks(cell_id, record)``, ``cell_finished``).
        tuning: the entries of ``<suite>.best.yaml`` whose parameters override the suite's.
        save_models: also save each fitted model beside its record (``model_file``), so
            ``export-users`` and users' own code can reload it instead of training again.
        device: ``auto`` / ``cpu`` / ``cuda[:N]`` / ``mps`` for every trainable model (None: each model's own).
        precision: ``fp32`` / ``bf16`` / ``fp16`` training (autocast; :mod:`ssl4rec.running.devices`).
        checkpoint_every: N > 0 saves each cell's training state every N epochs beside its record, and a
            cell that finds one (its last run was killed) resumes from it (:class:`~ssl4rec.recommender.Checkpointer`).
        threads: ``(n, why)`` as :func:`ssl4rec.running.threads.choose_threads` chose them (recorded).
        save_rankings: K > 0 also writes each cell's top-K test rankings beside its record
            (TREC run + qrels, Parquet; :mod:`ssl4rec.reporting.rankings`).
    """

    def __init__(
        self,
        suite: Suite,
        out: str | Path = "results",
        data_dir: str | Path | None = None,
        fail_fast: bool = False,
        trackers: list[Any] | None = None,
        tuning: dict[str, dict[str, Any]] | None = None,
        save_models: bool = False,
        save_rankings: int = 0,
        threads: tuple[int, str] | None = None,
        checkpoint_every: int = 0,
        device: str | None = None,
        precision: str = "fp32",
    ) -> None:
        self.suite = suite
        self.save_models = save_models
        if save_rankings < 0:
            raise ConfigError(f"save_rankings = {save_rankings}: give the length K >= 1 of the lists to save (0 = none)")
        self.save_rankings = int(save_rankings)
        self.threads_chosen_by = threads[1] if threads else "the caller (torch's setting as found)"
        if checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every = {checkpoint_every}: give N >= 1 epochs (0 = no checkpoints)")
        self.checkpoint_every = int(checkpoint_every)
        from .devices import check_precision, resolve_device

        # None: each model's own choice (its `device` parameter, else CUDA when present)
        self.device = resolve_device(device) if device is not None else None
        self.precision = check_precision(precision, self.device or torch.device("cpu"))
        self.store = ResultsStore(out)
        self.data_dir = data_dir
        self.fail_fast = fail_fast
        self.trackers = list(trackers or [])
        # tuning: entries of <suite>.best.yaml ({params, value, trial, trials, metric} per
        # "dataset/split/model"); their params override the suite's and the record says so
        self.tuning = dict(tuning or {})
        self.model_overrides = {k: dict(v.get("params") or {}) for k, v in self.tuning.items()}
        self._datasets: dict[str, Dataset] = {}
        self._splits: dict[tuple[str, str, int], SplitData] = {}
        self.companions: list[Runner] = []
        """Runners of the same suite under other protocols (``ssl4rec sensitivity``): each cell this runner
        fits is also evaluated under theirs and written to their stores (:meth:`write_companion`)."""
        self._versions = versions()
        self._commit = git_commit()

    # -- shared, cached preparation ----------------------------------
    def dataset(self, spec: ComponentSpec) -> Dataset:
        key = spec.key()
        if key not in self._datasets:
            from ..datasets import load_dataset

            t0 = time.perf_counter()
            self._datasets[key] = load_dataset(
                spec.name, data_dir=self.data_dir, preprocessing=spec.preprocessing or None, **spec.params
            )
            ds = self._datasets[key]
            logger.info(
                "loaded %s: %d users, %d items, %d interactions in %.1fs",
                spec.label,
                ds.n_users,
                ds.n_items,
                len(ds.interactions),
                time.perf_counter() - t0,
            )
        return self._datasets[key]

    def split(self, dspec: ComponentSpec, sspec: ComponentSpec, seed: int) -> SplitData:
        key = (dspec.key(), sspec.key(), seed)
        if key not in self._splits:
            from ..evaluation.splits import make_split

            ds = self.dataset(dspec)
            split_seed = derive_seed("split", dspec.label, ds.checksum, split_seed_key(sspec), seed)
            self._splits[key] = make_split(ds, sspec.name, seed=split_seed, **sspec.params)
        return self._splits[key]

    def _model_spec(self, dspec: ComponentSpec, sspec: ComponentSpec, mspec: ModelSpec) -> ModelSpec:
        over = self.model_overrides.get(tuning_key(dspec, sspec, mspec))
        return builder_for(mspec).apply(mspec, over) if over else mspec

    def cell_key(self, dspec: ComponentSpec, sspec: ComponentSpec, mspec: ModelSpec, seed: int) -> tuple[str, Path]:
        mspec = self._model_spec(dspec, sspec, mspec)
        cell_id = f"{dspec.label}/{sspec.label}/{mspec.label}/seed{seed}"
        chash = config_hash(
            {
                "dataset": dspec.key(),
                "split": sspec.key(),
                "model": mspec.resolved(),
                "seed": seed,
                "protocol": self.suite.protocol.to_dict(),
                "validation": self.suite.validation,
            }
        )
        return cell_id, self.store.rel_path(dspec.label, sspec.label, mspec.label, seed, chash)

    def plan(self) -> list[CellOutcome]:
        """Every cell of the suite without running any: ``"done"`` (a record exists in ``out``),
        ``"n/a"`` (with the reason found at load time), ``"running"`` (another process holds its claim)
        or ``"pending"``; an unfinished cell's ``error`` says what is known of it (claim, epochs done,
        best validation value, checkpoint: :meth:`ResultsStore.in_progress`). Reads no data."""
        out = []
        for dspec, sspec, mspec, seed in self.suite.cells():
            cell_id, rel = self.cell_key(dspec, sspec, mspec, seed)
            if self.store.exists(rel):
                eff = self._model_spec(dspec, sspec, mspec)
                out.append(CellOutcome(cell_id, "done", str(rel), self.version_change(eff, rel)))
            elif mspec.na or self_transfer(dspec, mspec):
                out.append(CellOutcome(cell_id, "n/a", str(rel), mspec.na or self_transfer(dspec, mspec)))
            else:
                running, detail = self.store.in_progress(rel)
                out.append(CellOutcome(cell_id, "running" if running else "pending", str(rel), detail))
        return out

    def version_change(self, mspec: ModelSpec, rel: Path) -> str | None:
        """Why the finished record at ``rel`` may not be what the suite's model ``mspec`` (its tuned
        parameters applied) now builds: a preset whose version changed since (its defaults changed),
        which a cell's identity does not include (the suite's text is the same). None when the versions
        agree, when the record cannot be read, or when the record's resolved parameters are those the
        suite resolves to now (the suite pinned what the new defaults changed, e.g. a labelled variant
        whose recipe became the default): what a preset builds is its resolved parameters."""
        from ..registry import PRESETS

        if mspec.name not in PRESETS:
            return None
        want = PRESETS.entry(mspec.name).version
        try:
            rec = self.store.read(self.store.record_path(rel))
        except RecordError:
            return None
        have = (rec.model.get("component_versions") or {}).get(mspec.name)
        if have is None or str(have) == str(want):
            return None
        try:
            now = builder_for(mspec).build(mspec, 0)[1]["params"]
        except Exception:  # noqa: BLE001  (what it builds now is unknown: say the versions differ)
            now = None
        if now is not None and _without_seed(rec.model.get("params")) == _without_seed(now):
            return None
        return (
            f"its record was made with preset {mspec.name!r} version {have}; the suite now builds version "
            f"{want} (`ssl4rec show preset {mspec.name}`): pin the older recipe's parameters in the suite, or "
            "give the model a new label"
        )

    # -- the run -----------------------------------------------------
    def pending(self) -> list[tuple[ComponentSpec, ComponentSpec, ModelSpec, int]]:
        """The cells without a record yet (n/a cells included: they still write theirs)."""
        return [c for c in self.suite.cells() if not self.store.exists(self.cell_key(*c)[1])]

    def preload(self, cells: list[tuple[ComponentSpec, ComponentSpec, ModelSpec, int]]) -> None:
        """Read the data of ``cells`` (those that train) before anything is written: a bad or missing
        file stops the run with nothing half-written in ``out``."""
        specs: dict[str, ComponentSpec] = {}
        for dspec, _, mspec, _ in cells:
            if not mspec.na:
                specs.setdefault(dspec.key(), dspec)
                transfer = transfer_of(mspec)
                if transfer is not None:  # a transfer model's source is read up front too
                    source = source_specs(transfer)[0]
                    specs.setdefault(source.key(), source)
        for dspec in specs.values():
            self.dataset(dspec)

    def run(self) -> list[CellOutcome]:
        load_plugins()
        cells = self.suite.cells()
        self.preload(self.pending())
        outcomes: list[CellOutcome] = []
        bar = tqdm(cells, desc=f"suite {self.suite.name}", dynamic_ncols=True)
        for dspec, sspec, mspec, seed in bar:
            bar.set_postfix_str(f"{dspec.label}/{sspec.label}/{mspec.label}/seed{seed}"[-60:])
            outcomes.append(self.run_one(dspec, sspec, mspec, seed))
        bar.close()
        n = {s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "claimed", "n/a", "failed")}
        logger.info(
            "suite %s: %d ran, %d skipped (finished before), %d left to other runners, %d n/a, %d failed",
            self.suite.name,
            n["ok"],
            n["skipped"],
            n["claimed"],
            n["n/a"],
            n["failed"],
        )
        return outcomes

    def run_one(self, dspec: ComponentSpec, sspec: ComponentSpec, mspec: ModelSpec, seed: int) -> CellOutcome:
        """One cell: skipped when its record exists or another runner holds its claim; else claimed,
        computed and recorded (a failure is recorded under ``failed/`` and returned, not raised, except
        data errors and ``fail_fast``). What :meth:`run` does per cell, and what executors' workers call."""
        cell_id, rel = self.cell_key(dspec, sspec, mspec, seed)
        if self.store.exists(rel):
            logger.info("skip %s (record exists)", cell_id)
            changed = self.version_change(self._model_spec(dspec, sspec, mspec), rel)
            if changed:
                logger.warning("%s: %s", cell_id, changed)
            return CellOutcome(cell_id, "skipped", str(rel), changed)
        claim = self.store.claim(rel)
        if claim is None:
            logger.info("skip %s (another runner is computing it)", cell_id)
            return CellOutcome(cell_id, "claimed", str(rel))
        try:
            with claim:
                if self.store.exists(rel):  # finished by another runner between the check and the claim
                    return CellOutcome(cell_id, "skipped", str(rel))
                spec = self._model_spec(dspec, sspec, mspec)
                return self.run_cell(dspec, sspec, spec, seed, cell_id, rel)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            from ..datasets import DataError

            if self.fail_fast or isinstance(exc, DataError):  # data problems are not cell-specific: stop
                raise
            logger.error("cell %s failed: %s: %s", cell_id, type(exc).__name__, exc)
            self.store.write_failure(
                rel,
                RunRecord(
                    cell_id=cell_id,
                    status="failed",
                    suite=self.suite.name,
                    error=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(),
                    time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                ),
            )
            return CellOutcome(cell_id, "failed", str(rel), f"{type(exc).__name__}: {exc}")

    def _write_rankings(self, rel: Path, label: str, split: SplitData, result: Any) -> dict[str, Any]:
        """The cell's ranked lists and test qrels beside its record (see :mod:`ssl4rec.reporting.rankings`)."""
        from ..reporting.rankings import write_rankings

        all_users, tmat = split.target_matrix("test")
        if not np.array_equal(all_users, result.users):  # evaluated on a subset: their rows
            where = {int(u): i for i, u in enumerate(all_users)}
            tmat = tmat[[where[int(u)] for u in result.users]]
        train = split.train
        return write_rankings(
            self.store.record_path(rel).with_suffix(""),
            result.users,
            *result.rankings,
            tmat,
            train.users,
            train.items,
            train.n_users,
            train.n_items,
            label,
        )

    def _not_applicable(self, record: RunRecord, rel: Path, cell_id: str, exc: Exception) -> CellOutcome:
        """Write the record of a cell that cannot run by construction ("n/a: reason")."""
        path = self.store.write(rel, dataclasses.replace(record, status="n/a", reason=str(exc), metrics={}, tuning=None))
        logger.info("%s: n/a (%s)", cell_id, exc)
        return CellOutcome(cell_id, "n/a", str(path))

    def _record_stub(
        self,
        dspec: ComponentSpec,
        sspec: ComponentSpec,
        mspec: ModelSpec,
        seed: int,
        cell_id: str,
        model_seed: int,
        ds: Dataset,
        split: SplitData,
    ) -> RunRecord:
        """What a cell's record says before the model trains: data, split, model, seeds, protocol, provenance."""
        return RunRecord(
            cell_id=cell_id,
            status="running",
            suite=self.suite.name,
            dataset={
                "name": dspec.name,
                "label": dspec.label,
                "params": dspec.params,
                "checksum": ds.checksum,
                "source_files": ds.info.get("source_files", {}),
                "preprocessing": ds.info.get("preprocessing", []),
                "counts": ds.stats(),
            },
            split={
                "name": sspec.name,
                "label": sspec.label,
                "params": split.info.get("params", sspec.params),
                "seed": split.info.get("seed"),
                "fingerprint": split.info.get("fingerprint"),
                "counts": split.info.get("counts"),
                **({"attack": _attack_summary(split.info["attack"])} if split.info.get("attack") else {}),
            },
            model={"label": mspec.label, "kind": mspec.kind, "name": mspec.name, "spec": mspec.resolved()},
            seed=seed,
            model_seed=model_seed,
            protocol=self.suite.protocol.to_dict(),
            versions=self._versions,
            git_commit=self._commit,
            host=platform.node(),
            time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )

    def run_cell(
        self, dspec: ComponentSpec, sspec: ComponentSpec, mspec: ModelSpec, seed: int, cell_id: str, rel: Path
    ) -> CellOutcome:
        """config -> seed -> data -> split -> build -> train -> evaluate -> record."""
        protocol = self.suite.protocol
        model_seed = cell_seed(dspec.label, sspec.label, mspec.label, seed)
        ds = self.dataset(dspec)
        split = self.split(dspec, sspec, seed)
        record = self._record_stub(dspec, sspec, mspec, seed, cell_id, model_seed, ds, split)
        if mspec.na:  # found when the suite was loaded
            return self._not_applicable(record, rel, cell_id, NotApplicable(mspec.na))
        tuned = self.tuning.get(tuning_key(dspec, sspec, mspec))
        if tuned:
            record.tuning = {k: tuned.get(k) for k in ("trials", "trial", "value", "metric", "params", "skipped")}
            if mspec.params.get("tuned_as"):  # parameters tuned for another model, reused as they are
                record.tuning["tuned_as"] = mspec.params["tuned_as"]
                record.tuning["file"] = tuned.get("file")
            if tuned.get("study"):  # tuned in the study of a split with the same data
                record.tuning["study"] = tuned["study"]
        callbacks = [cb for t in self.trackers for cb in t.cell_callbacks(cell_id, record)]
        checkpointer = None
        if self.checkpoint_every:
            from ..recommender import Checkpointer

            checkpointer = Checkpointer(self.store.record_path(rel).with_suffix(""), self.checkpoint_every)
        transfer, source = transfer_of(mspec), None
        if transfer is not None:
            reason = self_transfer(dspec, mspec)
            if reason:
                return self._not_applicable(record, rel, cell_id, NotApplicable(reason))
            source_dspec, source_sspec = source_specs(transfer)
            source = (self.split(source_dspec, source_sspec, seed), seed)
        try:
            fitted = fit_cell(
                mspec,
                split,
                protocol,
                model_seed,
                max_users=self.suite.validation.get("max_users"),
                callbacks=callbacks,
                checkpointer=checkpointer,
                device=self.device,
                precision=self.precision,
                source=source,
            )
        except (NotApplicable, IncompatibleError) as exc:  # by construction, or the data lack what the model needs
            return self._not_applicable(record, rel, cell_id, exc)
        resolved = fitted.resolved
        record.model.update(params=resolved["params"], component_versions=resolved["versions"])
        path = self._evaluate_and_write(record, fitted, split, protocol, model_seed, rel, checkpointer, mspec.label)
        for other in self.companions:  # the same fitted model under the companions' protocols (sensitivity)
            other.write_companion(dspec, sspec, mspec, seed, record, fitted, split)
        return CellOutcome(cell_id, "ok", str(path))

    def write_companion(
        self,
        dspec: ComponentSpec,
        sspec: ComponentSpec,
        mspec: ModelSpec,
        seed: int,
        record: RunRecord,
        fitted: Any,
        split: SplitData,
    ) -> None:
        """Write this runner's record of a cell another runner has just fitted (same suite, data, split,
        model and seed; another protocol): the model is evaluated under this runner's protocol, not
        trained again. Nothing happens when this runner's store has the record already."""
        cell_id, rel = self.cell_key(dspec, sspec, mspec, seed)
        if self.store.exists(rel):
            return
        mine = dataclasses.replace(
            record, protocol=self.suite.protocol.to_dict(), model=dict(record.model), extra=dict(record.extra or {})
        )
        mine.extra["fit_shared_with"] = record.protocol
        self._evaluate_and_write(mine, fitted, split, self.suite.protocol, record.model_seed, rel, None, mspec.label)

    def _evaluate_and_write(
        self,
        record: RunRecord,
        fitted: Any,
        split: SplitData,
        protocol: Any,
        model_seed: int,
        rel: Path,
        checkpointer: Any,
        label: str,
    ) -> Path:
        """Evaluate a fitted cell on the test targets under ``protocol`` and write its record (and per-user arrays)."""
        model = fitted.model
        cell_id = record.cell_id
        fit_seconds, fit_cpu_seconds = fitted.fit_seconds, fitted.fit_cpu_seconds
        result = evaluate(model, split, "test", protocol, seed=model_seed, rankings=self.save_rankings)
        fit_info = {k: v for k, v in getattr(model, "fit_info", {}).items()}
        extra = {**getattr(model, "record_extra", lambda: {})(), **(record.extra or {})}
        record = dataclasses.replace(
            record,
            status="ok",
            metrics=result.metrics,
            eval_info=result.info,
            fit_info=fit_info,
            fit_seconds=fit_seconds,
            # wall clock depends on what else ran: CPU time, threads and the machine's load say how
            # much (wall > CPU / threads means the fit waited for cores)
            fit_cpu_seconds=fit_cpu_seconds,
            machine={
                "threads": torch.get_num_threads(),
                "threads_chosen_by": self.threads_chosen_by,
                "device": str(getattr(model, "device", "cpu")),
                "precision": getattr(model, "precision", "fp32"),
                **determinism(),
                "cpus": os.cpu_count(),
                "load_avg_1m": os.getloadavg()[0],
            },
            eval_seconds=result.info["seconds"],
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            extra=extra,
        )
        if self.save_models:  # the fitted model (best validation epoch) beside its record
            record.model_file = self.store.save_model(rel, model)
        if result.rankings is not None:
            record.extra["rankings"] = self._write_rankings(rel, label, split, result)
        per_user = {"users": result.users.astype(np.int32), **result.per_user}
        for t in self.trackers:
            t.cell_finished(cell_id, record)
        path = self.store.write(rel, record, per_user)
        if checkpointer is not None:  # the record is written: the checkpoints have done their job
            checkpointer.clear()
        m = protocol.valid_metric
        logger.info(
            "%s: %s=%.4f fit %.1fs eval %.1fs",
            cell_id,
            m,
            result.metrics.get(m, float("nan")),
            fit_seconds,
            result.info["seconds"],
        )
        return path


def _attack_summary(attack: dict[str, Any]) -> dict[str, Any]:
    """What a record keeps of an attacked split: the attack, its targets, how many fakes, the defense."""
    return {**{k: v for k, v in attack.items() if k != "fake_users"}, "fake_users": len(attack.get("fake_users") or [])}


def summarize(outcomes: list[CellOutcome]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return json.dumps(counts)
