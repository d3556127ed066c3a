"""The results store: one JSON record per finished cell, written atomically.

Layout under a results folder::

    records/<dataset>/<split>/<model>/seed<k>-<config hash>.json   # the record
    records/<dataset>/<split>/<model>/seed<k>-<config hash>.npz    # per-user metric arrays
    records/<dataset>/<split>/<model>/seed<k>-<config hash>.model.pt  # the fitted model (opt-in)
    failed/<same path>.json                                         # last failure (not "finished")

A record exists only when the cell finished; re-running a suite skips cells whose record
exists, so a killed run resumes. Records from several machines merge by copying folders.

A record is a :class:`RunRecord`. This module is the only one that reads or writes record
files: older schema versions are migrated here when read (:func:`migrate`), and
:data:`INERT_DEFAULTS` says which model parameters added since records existed leave a record's
meaning unchanged at their default. Reporting formats the structured fields (n/a reason, tuning,
unscorable targets); no prose is stored.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""2: typed :class:`RunRecord`; the prose ``notes`` of version 1 are gone (their content is in
``reason``, ``tuning`` and ``eval_info``)."""
_UMASK = os.umask(0)
os.umask(_UMASK)

__all__ = [
    "INERT_DEFAULTS",
    "SCHEMA_VERSION",
    "RecordError",
    "ResultsStore",
    "RunRecord",
    "atomic_write_bytes",
    "comparable_params",
    "config_hash",
    "migrate",
    "arrays_hash",
    "metrics_hash",
    "safe_name",
]

# Parameters added after records existed, at the value that reproduces the earlier behaviour
# exactly: a record without the key and a record with the key at this value describe the same
# model, so they may be averaged. Any other value still makes records differ.
INERT_DEFAULTS: dict[str, Any] = {
    "item_repr": "id",  # text-aware item representations (absent = ID embeddings only)
    "text_encoder": "sentence-transformers:all-MiniLM-L6-v2",  # only read when item text is used
    "view_repr": "last",  # contrastive views compared by the last hidden state
    "mask_value": "token",  # contrastive mask augmentation writes the mask token
    "train_windows": "last",  # one training window per user (the most recent max_len + 1 items)
    "length_chunks": 4,  # shuffled batches computed in length-sorted chunks: same loss and gradients
    "pretrain_batch_size": None,  # pretraining batches = batch_size
    "positions": "all",  # next_item predicts at every position
    "substitute_ratio": 0.1,  # contrastive options read only by the substitute / insert augmentations
    "insert_ratio": 0.4,
    "item_similarity": "offline",
    "online_after": 0,
    "pool": "real",  # intent_contrastive: mean over real positions
    "assign": "epoch",  # intent_contrastive: intents from the epoch's clustering pass
    "share_views": False,  # intent_contrastive: its own views
    "propagation": "full",  # lightgcn: every training step propagates the whole graph
    "fanout": 10,  # lightgcn: read only with propagation "sampled"
    "isolated": "zero",  # lightgcn: nodes without training edges propagate to 0 (LightGCN's)
    "time": "none",  # sequence encoders read no timestamps
    "time_span": 256,  # read only with time "intervals" / "both"
    "side_graph": "none",  # lightgcn propagates over the user-item graph only
    "anchor": "dropout_view",  # supervised_contrastive: the anchor is a second dropout pass (DuoRec's 'us_x')
    # contrastive ("zero") / intent_contrastive ("position"): padding outputs as before the option existed
    "padding_outputs": ("zero", "position"),
}


def _inert(key: str, value: Any) -> bool:
    inert = INERT_DEFAULTS[key]
    return value in inert if isinstance(inert, tuple) else value == inert


def comparable_params(params: Any) -> Any:
    """Model params minus per-cell seeds (which differ across seeds by design) and minus
    :data:`INERT_DEFAULTS` at their inert value: equal for records that describe the same model."""
    if isinstance(params, dict):
        return {
            k: comparable_params(v)
            for k, v in params.items()
            if k != "seed" and not (k in INERT_DEFAULTS and _inert(k, v))
        }
    if isinstance(params, list):
        return [comparable_params(v) for v in params]
    return params


class RecordError(ValueError):
    """A record file that cannot be read as a :class:`RunRecord` (the message names the file)."""


def _v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: drop the prose ``notes`` (formatted from structured fields since)."""
    d = {k: v for k, v in d.items() if k != "notes"}
    d["schema_version"] = 2
    return d


#: ``{version: function}`` turning a record dict of that version into the next version's.
MIGRATIONS = {1: _v1_to_v2}


def migrate(d: dict[str, Any], where: str = "<record>") -> dict[str, Any]:
    """A record dict of any known schema version, brought to :data:`SCHEMA_VERSION`."""
    version = int(d.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"{where}: schema version {version} is newer than this ssl4rec reads ({SCHEMA_VERSION}); upgrade ssl4rec"
        )
    while version < SCHEMA_VERSION:
        d = MIGRATIONS[version](d)
        version = int(d["schema_version"])
    return d


@dataclasses.dataclass
class RunRecord:
    """One cell's outcome: what ran (data, split, model, seeds, protocol, versions) and what it scored.

    ``status`` is ``"ok"`` (metrics, fit and evaluation details), ``"n/a"`` (``reason``: the cell
    cannot run by construction or the data lack what the model needs) or ``"failed"`` (``error``,
    ``traceback``; kept under ``failed/``, never averaged). ``path`` is where the store read the
    record (relative to the results folder); it is not written.
    """

    cell_id: str
    status: str
    suite: str = ""
    dataset: dict[str, Any] = dataclasses.field(default_factory=dict)
    """name, label, params, checksum, source_files, preprocessing, counts"""
    split: dict[str, Any] = dataclasses.field(default_factory=dict)
    """name, label, params, seed, fingerprint, counts"""
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    """label, kind, name, spec (as the suite gives it), params (resolved), component_versions"""
    seed: int | None = None
    model_seed: int | None = None
    protocol: dict[str, Any] = dataclasses.field(default_factory=dict)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    git_commit: str | None = None
    host: str = ""
    time: str = ""
    reason: str | None = None
    error: str | None = None
    traceback: str | None = None
    tuning: dict[str, Any] | None = None
    metrics: dict[str, float | None] = dataclasses.field(default_factory=dict)
    eval_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    fit_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    fit_seconds: float | None = None
    fit_cpu_seconds: float | None = None
    machine: dict[str, Any] = dataclasses.field(default_factory=dict)
    eval_seconds: float | None = None
    peak_rss_mb: float | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    per_user_file: str | None = None
    model_file: str | None = None
    """The fitted model saved beside the record (``run --save-models``), reloadable with
    :meth:`ResultsStore.load_model`."""
    wandb: dict[str, Any] | None = None
    """The tracker run this cell was mirrored to (``run_id``, ``mode``, ``project``)."""
    schema_version: int = SCHEMA_VERSION
    path: str | None = dataclasses.field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def dataset_label(self) -> str:
        return str(self.dataset.get("label", ""))

    @property
    def split_label(self) -> str:
        return str(self.split.get("label", ""))

    @property
    def model_label(self) -> str:
        return str(self.model.get("label", ""))

    @property
    def resumed(self) -> bool:
        """Whether the fit (or its pretraining) was resumed from a checkpoint in a later process."""
        return any(bool(phase.get("resumed_from")) for phase in _phases(self.fit_info))

    @property
    def fit_seconds_total(self) -> float | None:
        """Wall seconds of the fit across processes: ``fit_seconds`` (the last process) plus, for a fit
        resumed from checkpoints, the earlier processes' training time up to their last checkpoint
        (``segment_seconds``; records older than that field: the seconds of the epochs they ran)."""
        if self.fit_seconds is None:
            return None
        total = float(self.fit_seconds)
        for phase in _phases(self.fit_info):
            seg, starts = phase.get("segment_seconds"), phase.get("resumed_from")
            if seg and len(seg) > 1:
                total += float(sum(seg[:-1]))
            elif starts:
                total += float(sum(phase.get("epoch_seconds", [])[: int(starts[-1])]))
        return total

    @property
    def unscorable_targets(self) -> int:
        """Test targets the model could not rank (cold items it has no vector for)."""
        return int(self.eval_info.get("unscorable_targets") or 0)

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str | None = None) -> RunRecord:
        """A record from its JSON form (any known schema version; migrated)."""
        where = path or "<record>"
        d = migrate(dict(d), where)
        names = {f.name for f in dataclasses.fields(cls)} - {"path"}
        unknown = sorted(set(d) - names)
        if unknown:
            raise RecordError(f"{where}: unknown record fields {unknown} (written by another ssl4rec version?)")
        for key in ("cell_id", "status"):
            if key not in d:
                raise RecordError(f"{where}: not a record (no {key!r})")
        _check_types(d, where)
        return cls(**d, path=path)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field but ``path``; the optional ones only when set."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "path" or (v is None and f.default is None and f.name not in ("git_commit",)):
                continue
            out[f.name] = v
        return out


def _phases(fit_info: dict[str, Any]) -> list[dict[str, Any]]:
    """The training loops of a fit: its own and a pretraining phase's (``fit_info["pretrain"]``)."""
    pre = fit_info.get("pretrain")
    return [fit_info] + ([pre] if isinstance(pre, dict) else [])


_MAPPINGS = (
    "dataset",
    "split",
    "model",
    "protocol",
    "versions",
    "metrics",
    "eval_info",
    "fit_info",
    "machine",
    "extra",
)
_OPTIONAL_MAPPINGS = ("tuning", "wandb")
_NUMBERS = ("fit_seconds", "fit_cpu_seconds", "eval_seconds", "peak_rss_mb")


def _check_types(d: dict[str, Any], where: str) -> None:
    """Refuse a record whose fields have the wrong JSON type (an edited or foreign file), naming the field."""

    def bad(key: str, want: str) -> RecordError:
        return RecordError(f"{where}: field {key!r} should be {want}, got {type(d[key]).__name__} (edited by hand?)")

    for key in ("cell_id", "status"):
        if not isinstance(d[key], str):
            raise bad(key, "a string")
    for key in _MAPPINGS:
        if key in d and not isinstance(d[key], dict):
            raise bad(key, "a JSON object")
    for key in _OPTIONAL_MAPPINGS:
        if d.get(key) is not None and not isinstance(d[key], dict):
            raise bad(key, "a JSON object or null")
    for key in ("seed", "model_seed"):
        if d.get(key) is not None and (isinstance(d[key], bool) or not isinstance(d[key], int)):
            raise bad(key, "an integer")
    for key in _NUMBERS:
        if d.get(key) is not None and (isinstance(d[key], bool) or not isinstance(d[key], int | float)):
            raise bad(key, "a number")
    for name, v in (d.get("metrics") or {}).items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise RecordError(f"{where}: metric {name!r} should be a number, got {type(v).__name__} (edited by hand?)")


def safe_name(s: str) -> str:
    """A filesystem-safe version of a label: one path component inside its folder (keeps letters,
    digits, ``.-_+=,``; a leading dot becomes ``_``, so ``..`` and hidden names never come out)."""
    name = re.sub(r"[^A-Za-z0-9._+=,-]+", "_", s).strip("_")
    return re.sub(r"^\.", "_", name) or "_"


#: Seconds between touches of a held claim, and the age of the last touch after which a claim
#: (from another host, whose process cannot be checked) counts as abandoned.
CLAIM_HEARTBEAT = 30.0
CLAIM_STALE = 300.0


def _claim_is_stale(path: Path) -> bool:
    try:
        info = json.loads(path.read_text())
        age = time.time() - path.stat().st_mtime
    except (OSError, ValueError):
        return True  # unreadable or vanished: not a live claim
    job = os.environ.get("SSL4REC_JOB_ID")
    if job and info.get("job") == job:
        return True  # this scheduler job's own claim from before it was requeued (preemption, time limit)
    if info.get("host") == socket.gethostname():
        try:
            pid = int(info["pid"])
            if pid == os.getpid():
                return True  # this process's own, left behind: nobody else computes it
            os.kill(pid, 0)
        except (ProcessLookupError, ValueError, KeyError, TypeError):
            return True  # the claiming process is gone
        except PermissionError:
            return False  # alive, another user's
        return False
    return age > CLAIM_STALE  # another host: alive while its heartbeat touches the file


def progress_file(base: Path) -> Path:
    """A cell's progress file (JSON curves, rewritten every epoch) beside its record ``base`` (no suffix);
    not ``*.json``, which is a record."""
    return base.with_name(f"{base.name}.progress")


def checkpoint_files(base: Path) -> list[Path]:
    """A cell's checkpoints, ``<base>.<phase>.ckpt.pt``, beside its record ``base`` (no suffix)."""
    return sorted(base.parent.glob(f"{glob.escape(base.name)}.*.ckpt.pt"))


def _time_left(progress: dict[str, Any]) -> str:
    """``", at most ~2.5 h left at 58 s/epoch"`` from a progress file's recent epoch times (median of the
    last 10) and the epochs not run yet (early stopping may end the phase sooner); empty if unknown."""
    secs = [s for s in (progress.get("epoch_seconds") or [])[-10:] if isinstance(s, int | float)]
    done, total = progress.get("epochs_done"), progress.get("epochs")
    if not secs or not isinstance(done, int) or not isinstance(total, int) or done >= total:
        return ""
    per = sorted(secs)[len(secs) // 2]
    left = per * (total - done)
    span = f"{left / 3600:.1f} h" if left >= 3600 else f"{left / 60:.0f} min"
    return f", at most ~{span} left at {per:.0f} s/epoch"


class Claim:
    """A held cell claim: touched by a daemon thread until :meth:`release` (or the ``with`` block's end)."""

    def __init__(self, path: Path, top: Path | None = None) -> None:
        self.path = path
        self.top = top
        """The folder above which nothing is removed (``out``): emptied claim folders up to it go."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(CLAIM_HEARTBEAT):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        self.path.unlink(missing_ok=True)
        if self.top is not None:  # leave no empty claim folders behind (a run that failed writes nothing)
            d = self.path.parent
            while d != self.top and self.top in d.parents:
                try:
                    d.rmdir()
                except OSError:  # not empty (another cell's claim or record), or gone
                    break
                d = d.parent

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def metrics_hash(metrics: dict[str, Any]) -> str:
    """sha256 of a record's metrics (canonical JSON, floats by ``repr``: any edit changes it)."""
    return hashlib.sha256(json.dumps(_jsonable(metrics), sort_keys=True).encode()).hexdigest()


def arrays_hash(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of per-user arrays by name: each one's dtype, shape and bytes (keys as the metric names)."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def config_hash(obj: Any) -> str:
    """Short stable hash of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        v = float(o)
        return v if np.isfinite(v) else None
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, np.ndarray):
        return [_jsonable(x) for x in o.tolist()]
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, Path):
        return str(o)
    return o


class ResultsStore:
    """Read and write cell records under ``root``."""

    def __init__(self, root: str | Path, skip_unreadable: bool = False) -> None:
        self.root = Path(root)
        self.skip_unreadable = skip_unreadable
        """True: :meth:`iter_records` skips an unreadable record with a warning instead of refusing."""

    def rel_path(self, dataset: str, split: str, model: str, seed: int, chash: str) -> Path:
        return Path(safe_name(dataset)) / safe_name(split) / safe_name(model) / f"seed{seed}-{chash}.json"

    def record_path(self, rel: Path) -> Path:
        return self.root / "records" / rel

    def exists(self, rel: Path) -> bool:
        """Whether the cell's record exists and reads back whole (its per-user file too). An unreadable
        one is renamed ``*.unreadable`` (kept, out of every listing) so that the cell runs again."""
        p = self.record_path(rel)
        if not p.exists():
            return False
        try:
            self.per_user(self.read(p))
        except RecordError as exc:
            for bad in (p, p.with_suffix(".npz")):
                if bad.exists():
                    bad.replace(bad.with_name(bad.name + ".unreadable"))
            logger.warning("%s; kept as *.unreadable, the cell runs again", exc)
            return False
        return True

    def write(self, rel: Path, record: RunRecord, per_user: dict[str, np.ndarray] | None = None) -> Path:
        """Write the per-user arrays, then the record (its presence marks the cell finished). The record
        carries content hashes of its metrics and per-user arrays (``extra["integrity"]``, see :meth:`verify`)."""
        path = self.record_path(rel)
        integrity = {"metrics": metrics_hash(record.metrics)}
        if per_user:
            integrity["per_user"] = arrays_hash({k: np.asarray(v) for k, v in per_user.items()})
        record = dataclasses.replace(record, extra={**record.extra, "integrity": integrity})
        if per_user:
            npz = path.with_suffix(".npz")
            import io

            buf = io.BytesIO()
            np.savez_compressed(buf, **{k.replace("/", "__"): v for k, v in per_user.items()})
            atomic_write_bytes(npz, buf.getvalue())
            record = dataclasses.replace(record, per_user_file=npz.name)
        atomic_write_bytes(path, json.dumps(_jsonable(record.to_dict()), indent=1, sort_keys=False).encode())
        (self.root / "failed" / rel).unlink(missing_ok=True)
        return path

    def save_model(self, rel: Path, model: Any) -> str:
        """Save a fitted model beside the record ``rel`` will have; returns the file name (``model_file``).

        The whole model object is pickled (``torch.save``): reloading needs the ssl4rec version of
        the record's ``git_commit``, and, like any pickle, only files you trust.
        """
        import io

        import torch

        path = self.record_path(rel).with_suffix(".model.pt")
        buf = io.BytesIO()
        torch.save(model, buf)
        atomic_write_bytes(path, buf.getvalue())
        return path.name

    def load_model(self, record: RunRecord) -> Any:
        """The fitted model saved with ``record`` (see :meth:`save_model`)."""
        import torch

        if not record.model_file or not record.path:
            raise RecordError(f"{record.path or record.cell_id}: no saved model (run the suite with --save-models)")
        path = (self.root / record.path).with_name(record.model_file)
        if not path.is_file():
            raise RecordError(f"{path}: the saved model named by its record is missing")
        return torch.load(path, map_location="cpu", weights_only=False)

    def write_failure(self, rel: Path, record: RunRecord) -> Path:
        path = self.root / "failed" / rel
        atomic_write_bytes(path, json.dumps(_jsonable(record.to_dict()), indent=1).encode())
        return path

    def read(self, path: Path) -> RunRecord:
        """The record at ``path`` (under this store's root), migrated to the current schema."""
        try:
            d = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"{path}: unreadable record ({exc})") from None
        if not isinstance(d, dict):
            raise RecordError(f"{path}: not a record (a JSON {type(d).__name__})")
        try:
            return RunRecord.from_dict(d, str(path.relative_to(self.root)))
        except (TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, RecordError):
                raise
            raise RecordError(f"{path}: not a record ({exc})") from None

    def claim(self, rel: Path) -> Claim | None:
        """Claim the cell ``rel`` for this process before computing it: a claim file under ``claims/``,
        created exclusively and touched every :data:`CLAIM_HEARTBEAT` seconds while held. Returns None
        when another live runner holds it; a claim whose process is gone (same host, pid not running),
        whose heartbeat stopped for :data:`CLAIM_STALE` seconds, or that the same scheduler job made
        before it was requeued (``SSL4REC_JOB_ID``, set by the Slurm worker) is taken over."""
        path = self.root / "claims" / rel.with_suffix(".claim")
        created = not self.root.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if not _claim_is_stale(path):
                    return None
                path.unlink(missing_ok=True)  # a dead runner's claim
                continue
            with os.fdopen(fd, "w") as f:
                mine = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
                json.dump({**mine, "job": os.environ.get("SSL4REC_JOB_ID")}, f)
            # a root this claim created goes too when it is left empty
            return Claim(path, self.root.parent if created else self.root)
        return None

    def in_progress(self, rel: Path) -> tuple[bool, str | None]:
        """Whether another process computes the unfinished cell ``rel`` now (a live claim), and what is
        known of it: which process, the curves its checkpointer rewrites every epoch (``run
        --checkpoint-every``: epochs done, the best validation value so far) and whether a checkpoint
        to resume from exists. ``(False, None)`` for a cell never started (or started without
        checkpoints and not running now)."""
        parts = []
        claim = self.root / "claims" / rel.with_suffix(".claim")
        running = claim.exists() and not _claim_is_stale(claim)
        if running:
            try:
                info = json.loads(claim.read_text())
                parts.append(f"on {info.get('host')} (pid {info.get('pid')})")
            except (OSError, ValueError):
                pass
        base = self.record_path(rel).with_suffix("")
        progress = progress_file(base)
        try:
            body = json.loads(progress.read_text()) if progress.exists() else None
        except (OSError, ValueError):
            body = None
        if isinstance(body, dict):
            text = f"{body.get('epochs_done')} of {body.get('epochs')} epochs ({body.get('phase')})"
            valid = [v for v in body.get("valid") or [] if isinstance(v, list) and len(v) == 2]
            if valid:
                epoch, best = max(valid, key=lambda v: v[1])
                text += f", best valid {best:.4f} at epoch {epoch}"
            parts.append(text + _time_left(body))
        if checkpoint_files(base):
            parts.append("a checkpoint to resume from (run with --checkpoint-every)")
        return running, "; ".join(parts) or None

    def verify(self, record: RunRecord) -> str:
        """``"ok"`` when the record's metrics and per-user arrays hash to what was written,
        ``"unsigned"`` for a record written before hashes were kept, else what differs."""
        stored = (record.extra or {}).get("integrity")
        if not stored:
            return "unsigned"
        problems = []
        if stored.get("metrics") != metrics_hash(record.metrics):
            problems.append("metrics differ from the ones written")
        if "per_user" in stored:
            if stored["per_user"] != arrays_hash(self.per_user(record)):
                problems.append("per-user arrays differ from the ones written")
        return "; ".join(problems) or "ok"

    def iter_records(self, include_failed: bool = False) -> Iterator[RunRecord]:
        """Every record, sorted by path. An unreadable one raises :class:`RecordError` naming it (a table
        must not average what is left silently), or is skipped with a warning with ``skip_unreadable``."""
        dirs = [self.root / "records"] + ([self.root / "failed"] if include_failed else [])
        for base in dirs:
            if not base.is_dir():
                continue
            for p in sorted(base.rglob("*.json")):
                if p.name.startswith("."):
                    continue
                try:
                    rec = self.read(p)
                except RecordError as exc:
                    if not self.skip_unreadable:
                        raise RecordError(f"{exc}; delete or repair it, or pass --skip-unreadable") from None
                    logger.warning("skipping %s", exc)
                    continue
                yield rec

    def per_user(self, record: RunRecord) -> dict[str, np.ndarray]:
        """Load the per-user arrays of ``record`` (empty when absent)."""
        name = record.per_user_file
        if not name or not record.path:
            return {}
        p = (self.root / record.path).with_name(name)
        if not p.exists():
            return {}
        try:
            with np.load(p, allow_pickle=False) as z:
                out = {k.replace("__", "/"): z[k] for k in z.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise RecordError(f"{p}: unreadable per-user file ({exc})") from None
        users = out.get("users")
        if users is not None and any(v.shape != users.shape for v in out.values()):
            raise RecordError(f"{p}: per-user arrays of different lengths (truncated or edited?)")
        n = (record.eval_info or {}).get("n_users")
        if users is not None and isinstance(n, dict):
            n = n.get("all")
        if users is not None and isinstance(n, int) and not isinstance(n, bool) and len(users) != n:
            raise RecordError(
                f"{p}: per-user arrays hold {len(users)} users, its record evaluated {n} (truncated or edited?)"
            )
        return out
