"""Run a suite's cells on engines labs already operate: a Ray cluster (or a local Ray instance) and
Slurm (through submitit). ssl4rec schedules nothing itself.

Where records are written: **by the workers, into the shared results folder** (``--out`` must be
on storage every worker sees: the local disk for a local Ray instance or submitit's local executor,
a shared file system on a cluster). Each worker runs :meth:`Runner.run_one` for its cell: the same
claim, atomic record write and failure record as a sequential run, so a folder filled by an executor
is indistinguishable from one filled by ``ssl4rec run``, resume skips finished cells, and a
sequential run and an executor can even work on one folder at once.

A worker killed mid-cell leaves no record (records are written atomically, last) and a claim
whose process is gone; the engine retries the task (``retries`` times: Ray's ``max_retries``,
submitit's requeue on preemption or time limit: the Slurm worker is checkpointable, and a requeued job
takes its own claims over by job id) and the retried cell takes the claim over and resumes from its
checkpoint (``checkpoint_every`` defaults to 1 epoch through an executor). A cell whose retries are
spent is reported failed with the engine's reason (and a failure record is written).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..registry import ConfigError
from .runner import CellOutcome, Runner

logger = logging.getLogger(__name__)

__all__ = ["EXECUTORS", "ExecutorOptions", "run_with_executor", "tune_with_ray"]

EXECUTORS = ("local", "ray", "slurm")


@dataclasses.dataclass
class ExecutorOptions:
    """How an executor runs cells (``ssl4rec run --executor ...``)."""

    executor: str = "local"
    workers: int = 2
    """Cells at a time (Ray: a local instance gets ``workers * threads`` CPUs)."""
    threads: int = 1
    """Threads per cell (each task asks for this many CPUs)."""
    gpus: float = 0.0
    """GPUs per cell (Ray ``num_gpus``; Slurm ``gpus_per_node``)."""
    address: str | None = None
    """Ray cluster address (``ray://host:10001`` or ``host:6379``); None starts a local instance on 127.0.0.1."""
    retries: int = 2
    """Times a cell whose worker died is retried."""
    slurm_partition: str | None = None
    slurm_time: int = 60
    """Minutes per Slurm job."""
    slurm_cluster: str | None = None
    """submitit cluster: None = Slurm; ``"local"`` runs the jobs as local processes (tests)."""
    cells_per_job: int = 1
    """Slurm: cells per array task."""


def _cell_label(cell: tuple) -> str:
    d, s, m, seed = cell
    return f"{d.label}/{s.label}/{m.label}/seed{seed}"


#: Worker side: the runners this process built, by their arguments' digest (the most recent few). An
#: engine reuses a worker process for many tasks (Ray keeps its workers; a Slurm array task runs a
#: batch): each later cell of the same suite reuses the runner's loaded data and splits instead of
#: reading the dataset and splitting it again.
_WORKER_RUNNERS: dict[str, Runner] = {}
_WORKER_RUNNERS_KEPT = 2


def _worker_runner(runner_kwargs: dict[str, Any]) -> Runner:
    import hashlib
    import pickle

    key = hashlib.sha256(pickle.dumps(sorted(runner_kwargs.items()))).hexdigest()
    runner = _WORKER_RUNNERS.pop(key, None) or Runner(**runner_kwargs)
    _WORKER_RUNNERS[key] = runner  # most recent last
    while len(_WORKER_RUNNERS) > _WORKER_RUNNERS_KEPT:
        _WORKER_RUNNERS.pop(next(iter(_WORKER_RUNNERS)))
    return runner


def _run_cells(runner_kwargs: dict[str, Any], labels: list[str]) -> list[dict[str, Any]]:
    """Worker side: the runner of these arguments (rebuilt, or this process's from an earlier task)
    runs the named cells (in order); their outcomes as dicts."""
    from .threads import apply_threads

    runner_kwargs = dict(runner_kwargs)
    threads = runner_kwargs.pop("threads_per_cell", None)
    if threads:
        apply_threads(int(threads))
    runner = _worker_runner(runner_kwargs)
    by_label = {_cell_label(c): c for c in runner.suite.cells()}
    out = []
    for label in labels:
        outcome = runner.run_one(*by_label[label])
        out.append(dataclasses.asdict(outcome))
    return out


try:  # submitit is optional ([slurm]); without it the Slurm executor refuses to start
    from submitit.helpers import Checkpointable as _Checkpointable
except ImportError:  # pragma: no cover - exercised only without the extra
    _Checkpointable = object  # type: ignore[assignment,misc]


class SlurmCells(_Checkpointable):  # type: ignore[misc,valid-type]
    """The Slurm worker: runs its cells (:func:`_run_cells`) under the job's id (``SSL4REC_JOB_ID``), so
    that the job, requeued after a preemption or its time limit (submitit calls :meth:`checkpoint`, which
    resubmits the same cells), takes its own cell claims over and each cell resumes from its last
    checkpoint instead of waiting for its old claim to go stale."""

    def __call__(self, runner_kwargs: dict[str, Any], labels: list[str]) -> list[dict[str, Any]]:
        import os

        try:
            import submitit

            os.environ["SSL4REC_JOB_ID"] = str(submitit.JobEnvironment().job_id)
        except (ImportError, RuntimeError):  # not inside a submitit job (called directly)
            pass
        return _run_cells(runner_kwargs, labels)


def run_with_executor(runner: Runner, options: ExecutorOptions) -> list[CellOutcome]:
    """Run every pending cell of ``runner``'s suite through ``options.executor``; returns the outcomes
    (finished cells are ``skipped`` as in a sequential run)."""
    if options.executor not in EXECUTORS:
        raise ConfigError(f"--executor {options.executor!r}: use one of {', '.join(EXECUTORS)}")
    if options.workers < 1 or options.threads < 1 or options.retries < 0:
        raise ConfigError("--workers and --threads must be >= 1 and --retries >= 0")
    if options.executor == "local":
        return runner.run()
    pending = runner.pending()
    runner.preload(pending)  # bad data stops here, before any worker starts or anything is written
    done = [CellOutcome(_cell_label(c), "skipped", "") for c in runner.suite.cells() if c not in pending]
    kwargs = {
        "suite": runner.suite,
        "out": runner.store.root,
        "data_dir": runner.data_dir,
        "tuning": runner.tuning,
        "save_models": runner.save_models,
        "save_rankings": runner.save_rankings,
        "threads": (options.threads, f"--threads through --executor {options.executor}"),
        "checkpoint_every": runner.checkpoint_every or 1,
        "device": str(runner.device) if runner.device is not None else None,
        "precision": runner.precision,
        "threads_per_cell": options.threads,
    }
    labels = [_cell_label(c) for c in pending]
    if not labels:
        logger.info("suite %s: every cell has a record", runner.suite.name)
        return done
    run = _run_ray if options.executor == "ray" else _run_slurm
    outcomes = run(kwargs, labels, options, runner)
    return done + outcomes


def _progress(total: int, desc: str) -> Any:
    return tqdm(total=total, desc=desc, dynamic_ncols=True)


def _fail(runner: Runner, label: str, reason: str) -> CellOutcome:
    """A cell the engine gave up on: a failure record saying why."""
    from ..reporting.records import RunRecord

    cells = {_cell_label(c): c for c in runner.suite.cells()}
    _, rel = runner.cell_key(*cells[label])
    runner.store.write_failure(
        rel,
        RunRecord(
            cell_id=label,
            status="failed",
            suite=runner.suite.name,
            error=reason,
            time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        ),
    )
    logger.error("cell %s failed: %s", label, reason)
    return CellOutcome(label, "failed", str(rel), reason)


# -------------------------------------------------------------------------------- Ray


def _ray_init(options: ExecutorOptions) -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--executor ray needs Ray: pip install 'ssl4rec[ray]'") from exc
    if ray.is_initialized():
        return ray
    if options.address and options.address != "auto":
        _check_reachable(options.address)
    try:
        if options.address:
            ray.init(address=options.address, log_to_driver=False, include_dashboard=False)
        else:
            ray.init(
                num_cpus=options.workers * options.threads,
                num_gpus=options.gpus * options.workers if options.gpus else 0,
                include_dashboard=False,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = options.address or "a local instance"
        raise ConfigError(
            f"--executor ray: cannot reach the Ray cluster at {where} ({str(exc).splitlines()[0]})"
        ) from exc
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse a Ray address nobody answers on (Ray itself retries for minutes before giving up)."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except ValueError as exc:
        raise ConfigError(f"--address {address!r}: expected HOST:PORT or ray://HOST:PORT") from exc
    except OSError as exc:
        raise ConfigError(f"--executor ray: cannot reach the Ray cluster at {address} ({exc.strerror or exc})") from exc


def _run_ray(kwargs: dict[str, Any], labels: list[str], options: ExecutorOptions, runner: Runner) -> list[CellOutcome]:
    ray = _ray_init(options)
    started_here = not options.address
    remote = ray.remote(_run_cells).options(
        num_cpus=options.threads, num_gpus=options.gpus, max_retries=options.retries, retry_exceptions=False
    )
    try:
        futures = {remote.remote(dict(kwargs), [label]): label for label in labels}
        outcomes: list[CellOutcome] = []
        bar = _progress(len(futures), f"suite {runner.suite.name} (ray)")
        failed = 0
        waiting = list(futures)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                label = futures[ref]
                try:
                    (result,) = ray.get(ref)
                    outcome = CellOutcome(**result)
                except Exception as exc:  # noqa: BLE001  (the engine gave up: worker died more than `retries` times)
                    outcome = _fail(runner, label, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
                failed += outcome.status == "failed"
                outcomes.append(outcome)
                bar.update(1)
                running = min(len(waiting), options.workers)
                bar.set_postfix_str(
                    f"done {len(outcomes)}, running {running}, queued {len(waiting) - running}, failed {failed}"
                )
        bar.close()
        return outcomes
    finally:
        if started_here:
            ray.shutdown()


# -------------------------------------------------------------------------------- Slurm


def _run_slurm(
    kwargs: dict[str, Any], labels: list[str], options: ExecutorOptions, runner: Runner
) -> list[CellOutcome]:
    import shutil

    try:
        import submitit
    except ImportError as exc:
        raise ConfigError("--executor slurm needs submitit: pip install 'ssl4rec[slurm]'") from exc
    if options.slurm_cluster != "local" and shutil.which("sbatch") is None:
        raise ConfigError("--executor slurm: no Slurm here (sbatch not found); run on a Slurm login node")
    folder = Path(runner.store.root) / "slurm" / "%j"
    executor = submitit.AutoExecutor(folder=folder, cluster=options.slurm_cluster)
    params: dict[str, Any] = {"timeout_min": options.slurm_time, "cpus_per_task": options.threads}
    if options.slurm_cluster != "local":
        params.update(slurm_array_parallelism=options.workers, slurm_max_num_timeout=options.retries)
        if options.slurm_partition:
            params["slurm_partition"] = options.slurm_partition
        if options.gpus:
            params["gpus_per_node"] = int(options.gpus)
    executor.update_parameters(**params)
    batches = [labels[i : i + options.cells_per_job] for i in range(0, len(labels), max(1, options.cells_per_job))]
    jobs = executor.map_array(SlurmCells(), [dict(kwargs) for _ in batches], batches)
    outcomes: list[CellOutcome] = []
    bar = _progress(len(labels), f"suite {runner.suite.name} (slurm)")
    failed = 0
    for job, batch in zip(jobs, batches, strict=True):
        try:
            results = [CellOutcome(**r) for r in job.result()]
        except Exception as exc:  # noqa: BLE001  (the job died or timed out beyond its requeues)
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'job failed'}"
            results = [_fail(runner, label, reason) for label in batch]
        for o in results:
            failed += o.status == "failed"
            outcomes.append(o)
            bar.update(1)
        bar.set_postfix_str(f"done {len(outcomes)}, failed {failed}")
    bar.close()
    return outcomes


# -------------------------------------------------------------------------------- tuning on Ray


def _tune_worker(
    suite: Any,
    out: str,
    trials: int,
    storage: str | None,
    data_dir: Any,
    timeout: Any,
    threads: int,
    checkpoint_every: int = 0,
) -> dict:
    from .threads import apply_threads
    from .tuning import tune

    apply_threads(threads)
    return tune(
        suite, out, trials, storage=storage, data_dir=data_dir, timeout=timeout, checkpoint_every=checkpoint_every
    )


def tune_with_ray(
    suite: Any,
    out: Path,
    trials: int,
    storage: str | None,
    data_dir: Any,
    timeout: Any,
    options: ExecutorOptions,
    checkpoint_every: int = 0,
) -> dict[str, Any]:
    """``options.workers`` trial workers as Ray tasks on one study storage per cell: each runs the
    same ``tune`` as a sequential worker (shared budget of ``trials`` finished configurations,
    defaults as trial 0, heartbeats, resume), so the result is the one several ``tune`` processes
    on one storage give. The storage must be reachable from every worker: the results folder's
    SQLite file on a local instance or shared disk, else ``--storage postgresql://...``. Trials
    checkpoint every ``checkpoint_every`` epochs (default 1 here, as cells through an executor): a
    retried worker's killed trial resumes."""
    from .tuning import storage_url

    url = storage_url(out, storage)  # the SQLite file exists before the workers race to create it
    ray = _ray_init(options)
    started_here = not options.address
    remote = ray.remote(_tune_worker).options(num_cpus=options.threads, max_retries=options.retries)
    try:
        refs = [
            remote.remote(suite, str(out), trials, url, data_dir, timeout, options.threads, checkpoint_every or 1)
            for _ in range(options.workers)
        ]
        results = ray.get(refs)
    finally:
        if started_here:
            ray.shutdown()
    return results[0]
