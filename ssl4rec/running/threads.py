"""How many threads a cell computes with: never more than the cores nobody else is using.

torch's default (one thread per physical core) oversubscribes a machine where other work runs
(issue 28 reports BPR 15x slower that way on a busy 2-core machine). The
default here is ``(usable cores - cores busy with other processes) / concurrent cells``, at least 1,
where the busy cores are the 1-minute load average rounded; ``--threads N`` or ``OMP_NUM_THREADS``
override it. The count is applied to torch and, through threadpoolctl, to numpy / scipy's BLAS and
OpenMP pools, and recorded with the reason in every record (``machine.threads`` /
``machine.threads_chosen_by``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["apply_threads", "choose_threads", "usable_cores"]


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where that is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_threads(
    requested: int | None = None,
    concurrent: int = 1,
    env: Mapping[str, str] | None = None,
    cores: int | None = None,
    load: float | None = None,
) -> tuple[int, str]:
    """``(threads per cell, why)``: ``requested`` (``--threads``) first, then ``OMP_NUM_THREADS``,
    else the free cores divided among ``concurrent`` cells (at least one thread)."""
    from ..registry import ConfigError

    if requested is not None:
        if requested < 1:
            raise ConfigError(f"--threads must be a positive number of threads, got {requested}")
        return int(requested), "--threads"
    env = os.environ if env is None else env
    omp = env.get("OMP_NUM_THREADS", "").strip()
    if omp:
        try:
            n = int(omp)
        except ValueError:
            n = 0
        if n < 1:
            raise ConfigError(f"OMP_NUM_THREADS={omp!r} is not a positive whole number: unset it or set e.g. 1")
        return n, "OMP_NUM_THREADS"
    cores = usable_cores() if cores is None else int(cores)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    busy = min(cores - 1, int(load + 0.5))
    n = max(1, (cores - busy) // max(1, concurrent))
    return n, f"{cores} cores, {busy} busy (load {load:.1f}), {concurrent} concurrent cell(s)"


_LIMITS: list[Any] = []  # the threadpoolctl limiter stays alive for the process (it restores on collection)


def apply_threads(n: int) -> None:
    """Use ``n`` threads in torch and in the BLAS / OpenMP pools numpy and scipy loaded."""
    import torch

    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: BLAS keeps its own default
        logger.debug("threadpoolctl not installed: BLAS thread pools left as they are")
        return
    _LIMITS[:] = [threadpool_limits(limits=n)]
