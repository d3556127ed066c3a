"""Tuning studies as text: snapshot them into a journal file, restore them elsewhere, summarise them.

A tuning study lives in a database (SQLite under the results folder by default). A snapshot
copies every study of a storage into an Optuna journal file (JSON lines, Optuna's own format,
readable by anyone with ``optuna.storages.JournalStorage``), so that a study can be committed
beside the leaderboards as the trace of each model's budget, or carried to another machine and
resumed there: ``import`` writes the studies back into a database and ``tune`` goes on where the
snapshot stopped.

A trial that was running when the snapshot was taken is stored as failed, and ``import`` queues
it again with the same parameters, as the heartbeat does for a killed worker's trial (failed,
retried once). Trial numbers are kept, so the per-trial sampler seeds stay the same.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..registry import ConfigError

logger = logging.getLogger(__name__)

#: study user attribute set on a study restored from a snapshot
RESTORED_FROM = "restored_from"


def check_journal(path: str | Path) -> None:
    """Refuse a snapshot that is not an Optuna journal, naming the file and line: not UTF-8, a line
    that is not a JSON object with an integer ``op_code``, or no study at all."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no study snapshot at {path} (write one with `ssl4rec studies export`)")
    hint = "a snapshot is the JSON-lines file `ssl4rec studies export` writes"
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}, line {line}: not UTF-8 text; {hint}") from exc
    creates = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            op = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}, line {lineno}: not JSON ({exc.msg}); {hint}") from exc
        if not isinstance(op, dict) or not isinstance(op.get("op_code"), int):
            raise ConfigError(f"{path}, line {lineno}: a journal line is a JSON object with an integer op_code; {hint}")
        creates += op["op_code"] == 0
    if not creates:
        raise ConfigError(f"{path}: no studies in this snapshot (no create-study line); {hint}")


def _journal(path: str | Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's "experimental" and categorical-choice warnings off."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _study_names(storage: Any) -> list[str]:
    import optuna

    return sorted(s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False))


def _copy(src: Any, dst: Any, name: str, *, running: str) -> tuple[int, int]:
    """Copy study ``name`` from ``src`` to ``dst`` (which must not hold it); ``running`` says
    what becomes of running trials: ``"fail"`` (snapshot) or ``"retry"`` (restore: failed
    ones that were running at snapshot time are queued again). Returns (trials, requeued)."""
    import optuna
    from optuna.trial import TrialState

    from_study = optuna.load_study(study_name=name, storage=src)
    to_study = optuna.create_study(study_name=name, storage=dst, directions=from_study.directions)
    for key, value in src.get_study_system_attrs(from_study._study_id).items():
        dst.set_study_system_attr(to_study._study_id, key, value)
    for key, value in from_study.user_attrs.items():
        to_study.set_user_attr(key, value)
    trials = from_study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}  # a snapshot of a restored study has them queued already
    requeue = []
    for trial in trials:
        t = trial
        if t.state == TrialState.RUNNING and running == "fail":
            attrs = {**t.system_attrs, "snapshot_interrupted": True}
            t = optuna.trial.FrozenTrial(
                number=t.number,
                state=TrialState.FAIL,
                value=None,
                values=None,
                datetime_start=t.datetime_start,
                datetime_complete=datetime.datetime.now(),
                params=t.params,
                distributions=t.distributions,
                user_attrs=t.user_attrs,
                system_attrs=attrs,
                intermediate_values=t.intermediate_values,
                trial_id=t.number,
            )
        elif (
            t.state == TrialState.FAIL
            and t.system_attrs.get("snapshot_interrupted")
            and running == "retry"
            and t.number not in retried
        ):
            requeue.append(t)
        dst.create_new_trial(to_study._study_id, template_trial=t)
    for t in requeue:
        to_study.enqueue_trial(t.params, user_attrs={**t.user_attrs, "retry_of": t.number}, skip_if_exists=False)
    return len(trials), len(requeue)


def export_studies(storage_url: str, to: str | Path) -> dict[str, int]:
    """Write every study of ``storage_url`` into the journal file ``to`` (replaced atomically).

    Returns ``{study name: number of trials}``.
    """
    import optuna

    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    tmp = to.with_name(to.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with _quiet():
        src = optuna.storages.get_storage(storage_url)
        names = _study_names(src)
        if not names:
            raise ConfigError(f"no tuning study in {storage_url}: nothing to export")
        dst = _journal(tmp)
        counts = {name: _copy(src, dst, name, running="fail")[0] for name in names}
    os.replace(tmp, to)
    logger.info("exported %d studies (%d trials) to %s", len(counts), sum(counts.values()), to)
    return counts


def import_studies(journal: str | Path, storage_url: str) -> dict[str, tuple[int, int]]:
    """Restore every study of the journal file ``journal`` into ``storage_url``.

    A study that already exists there is refused (importing twice would duplicate its trials).
    Returns ``{study name: (trials, trials queued again)}``.
    """
    import optuna

    journal = Path(journal)
    check_journal(journal)
    with _quiet():
        try:
            src = _journal(journal)
            names = _study_names(src)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # well-formed lines, wrong content
            raise ConfigError(
                f"{journal}: not an Optuna journal that replays ({type(exc).__name__}: {exc}); "
                "a snapshot is the JSON-lines file `ssl4rec studies export` writes"
            ) from exc
        dst = optuna.storages.get_storage(storage_url)
        present = sorted(set(names) & set(_study_names(dst)))
        if present:
            raise ConfigError(
                f"{len(present)} of the snapshot's studies already exist in {storage_url} ({', '.join(present[:3])}"
                f"{', ...' if len(present) > 3 else ''}): importing would duplicate their trials. "
                "Import into a fresh results folder (--out) or delete those studies first."
            )
        out = {}
        for name in names:
            out[name] = _copy(src, dst, name, running="retry")
            optuna.load_study(study_name=name, storage=dst).set_user_attr(RESTORED_FROM, journal.name)
    logger.info("imported %d studies from %s into %s", len(out), journal, storage_url)
    return out


def summarise_studies(storage_url: str) -> list[dict[str, Any]]:
    """One row per study: trial counts by state and the best value so far."""
    import optuna
    from optuna.trial import TrialState

    with _quiet():
        storage = optuna.storages.get_storage(storage_url)
        rows = []
        for name in _study_names(storage):
            study = optuna.load_study(study_name=name, storage=storage)
            trials = study.get_trials(deepcopy=False)
            states = Counter(t.state.name.lower() for t in trials)
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            best = max(complete, key=lambda t: (t.value, -t.number)) if complete else None
            rows.append(
                {
                    "study": name,
                    "trials": len(trials),
                    **{s: states.get(s, 0) for s in ("complete", "pruned", "fail", "running", "waiting")},
                    "best_value": None if best is None else float(best.value),
                    "best_trial": None if best is None else best.number,
                }
            )
    return rows
