"""Optional experiment tracking (``--track wandb``).

The local record stays the source of truth; the tracker mirrors config, per-epoch curves,
final metrics and leaderboard tables, and the record stores the wandb run id. With no
account configured (no ``WANDB_API_KEY`` and no login), runs go to ``WANDB_MODE=offline``
under the results folder. wandb is imported lazily and never required.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..reporting.records import RunRecord

logger = logging.getLogger(__name__)

__all__ = ["WandbTracker", "TrackingUnavailable"]


class TrackingUnavailable(ImportError):
    """wandb is not installed."""


def _has_account() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path.home() / ".netrc"
    return netrc.exists() and "api.wandb.ai" in netrc.read_text(errors="ignore")


class WandbTracker:
    """Mirror each cell to one wandb run.

    Args:
        project: wandb project name.
        suite: suite name (wandb group).
        out: results folder; offline runs are written under ``out/wandb``.
        mode: ``"online"``, ``"offline"`` or ``None`` (offline when no account is configured).
    """

    def __init__(
        self, project: str = "ssl4rec", suite: str = "", out: str | Path = "results", mode: str | None = None
    ) -> None:
        try:
            import wandb
        except ImportError as exc:
            raise TrackingUnavailable("wandb is not installed: `pip install ssl4rec[wandb]`") from exc
        self.wandb = wandb
        self.project, self.suite, self.out = project, suite, Path(out)
        self.mode = mode or os.environ.get("WANDB_MODE") or ("online" if _has_account() else "offline")
        self._run = None
        self.run_dirs: list[str] = []

    def cell_callbacks(self, cell_id: str, record: RunRecord) -> list:
        """Start the cell's run; returns the per-epoch validation callback."""
        (self.out / "wandb").mkdir(parents=True, exist_ok=True)
        self._run = self.wandb.init(
            project=self.project,
            group=self.suite,
            name=cell_id,
            dir=str(self.out),
            mode=self.mode,
            reinit="finish_previous",
            config={
                "cell_id": cell_id,
                "dataset": record.dataset,
                "split": record.split,
                "model": record.model,
                "seed": record.seed,
                "protocol": record.protocol,
            },
        )
        record.wandb = {"run_id": self._run.id, "mode": self.mode, "project": self.project}
        run = self._run

        def on_epoch(epoch: int, value: float, logs: dict[str, float]) -> None:
            run.log(
                {
                    "epoch": epoch,
                    "valid/" + record.protocol["valid_metric"]: value,
                    **{f"train/{k}": v for k, v in logs.items()},
                }
            )

        return [on_epoch]

    def cell_finished(self, cell_id: str, record: RunRecord) -> None:
        if self._run is None:
            return
        self._run.summary.update({f"test/{k}": v for k, v in record.metrics.items() if isinstance(v, (int, float))})
        self._run.summary.update({"fit_seconds": record.fit_seconds, "eval_seconds": record.eval_seconds})
        self.run_dirs.append(str(self._run.dir))
        self._run.finish()
        self._run = None

    def finish(self, leaderboard_files: list[Path]) -> None:
        """Log the generated leaderboard CSVs as tables in one summary run."""
        csvs = [p for p in leaderboard_files if str(p).endswith(".csv")]
        if not csvs:
            return
        import csv

        run = self.wandb.init(
            project=self.project,
            group=self.suite,
            name=f"{self.suite}/leaderboards",
            dir=str(self.out),
            mode=self.mode,
            reinit="finish_previous",
        )
        for p in csvs:
            with open(p, newline="") as f:
                rows = list(csv.reader(f))
            if rows:
                run.log(
                    {
                        f"leaderboard/{Path(p).parent.name}/{Path(p).stem}": self.wandb.Table(
                            columns=rows[0], data=rows[1:]
                        )
                    }
                )
        self.run_dirs.append(str(run.dir))
        run.finish()
