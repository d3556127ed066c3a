"""Time context for sequence encoders: interval buckets (TiSASRec) and absolute time features.

A time-aware encoder (``time: intervals | features | both``) reads, beside the item sequence
``seq`` [B, W], the Unix timestamps ``times`` [B, W] (seconds, int64) of the same positions;
padding positions carry any value (they are never read).

* **intervals** (Li, Wang and McAuley, "Time Interval Aware Self-Attention for Sequential
  Recommendation", WSDM 2020): the interval between positions i and j of a row is
  ``|t_i - t_j|`` divided by the row's smallest positive gap between consecutive items (the
  "personalised" scale), floored and clipped at ``time_span``; a row whose items all share one
  timestamp has every interval 0. Buckets depend on differences only, so they do not change
  when every timestamp of a row moves by the same amount (tested).
* **features**: hour of day (24, UTC), day of week (7, Monday = 0) and the recency since the
  previous item of the row in log2 minute buckets (0 = the row's first item), each a learned
  embedding summed into the item embedding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..registry import ConfigError

__all__ = [
    "RECENCY_BUCKETS",
    "TIME_MODES",
    "TimeFeatures",
    "check_time_mode",
    "interval_buckets",
    "previous_gap_buckets",
    "recency_buckets",
    "uses_intervals",
    "uses_features",
]

#: The values of a time-aware encoder's ``time`` parameter.
TIME_MODES = ("none", "intervals", "features", "both")
#: Recency buckets: 0 (no previous item), then 1 + floor(log2(1 + minutes)) clipped to 31.
RECENCY_BUCKETS = 32


def check_time_mode(mode: str, time_span: int, where: str) -> None:
    """Raise :class:`ConfigError` for an unknown ``time`` mode or a non-positive ``time_span``."""
    if mode not in TIME_MODES:
        raise ConfigError(f"{where}: time {mode!r} is not one of {list(TIME_MODES)}")
    if int(time_span) < 1:
        raise ConfigError(f"{where}: time_span must be a positive number of interval buckets, got {time_span}")


def uses_intervals(mode: str) -> bool:
    return mode in ("intervals", "both")


def uses_features(mode: str) -> bool:
    return mode in ("features", "both")


def _row_scale(times: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """[B] the smallest positive gap between consecutive real positions of each row (1 where none)."""
    t = times.to(torch.int64)
    # gaps between adjacent real positions (a padding id inside a row, the mask augmentation with
    # value "padding", breaks a gap in two that are not counted)
    gap = (t[:, 1:] - t[:, :-1]).abs()
    both = real[:, 1:] & real[:, :-1]
    big = torch.iinfo(torch.int64).max
    gap = torch.where(both & (gap > 0), gap, torch.full_like(gap, big))
    scale = gap.min(1).values if gap.shape[1] else torch.full((t.shape[0],), big, device=t.device)
    return torch.where(scale == big, torch.ones_like(scale), scale)


def interval_buckets(times: torch.Tensor, real: torch.Tensor, time_span: int) -> torch.Tensor:
    """[B, W, W] LongTensor: ``min(|t_i - t_j| // scale, time_span)`` (TiSASRec's personalised intervals).

    ``real`` [B, W] marks the positions that hold items; pairs with a padding position get 0.
    """
    t = times.to(torch.int64)
    scale = _row_scale(t, real)
    diff = (t[:, :, None] - t[:, None, :]).abs() // scale[:, None, None]
    out = diff.clamp_max(int(time_span))
    return out * (real[:, :, None] & real[:, None, :])


def previous_gap_buckets(times: torch.Tensor, real: torch.Tensor, time_span: int) -> torch.Tensor:
    """[B, W]: the interval bucket between each position and the real one before it (0 for the first)."""
    t = times.to(torch.int64)
    scale = _row_scale(t, real)
    gap = torch.zeros_like(t)
    gap[:, 1:] = (t[:, 1:] - t[:, :-1]).abs() // scale[:, None]
    keep = torch.zeros_like(real)
    keep[:, 1:] = real[:, 1:] & real[:, :-1]
    return gap.clamp_max(int(time_span)) * keep


def recency_buckets(times: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """[B, W]: 0 at a row's first item (and padding), else 1 + floor(log2(1 + minutes since the previous item))."""
    t = times.to(torch.int64)
    minutes = torch.zeros_like(t, dtype=torch.float64)
    minutes[:, 1:] = (t[:, 1:] - t[:, :-1]).abs().to(torch.float64) / 60.0
    keep = torch.zeros_like(real)
    keep[:, 1:] = real[:, 1:] & real[:, :-1]
    b = (1 + torch.floor(torch.log2(1.0 + minutes))).to(torch.int64).clamp(1, RECENCY_BUCKETS - 1)
    return b * keep


class TimeFeatures(nn.Module):
    """Learned embeddings of hour of day, day of week and recency, summed: ``[B, W] times -> [B, W, d]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.hour = nn.Embedding(24, dim)
        self.weekday = nn.Embedding(7, dim)
        self.recency = nn.Embedding(RECENCY_BUCKETS, dim)

    def forward(self, times: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        t = times.to(torch.int64).clamp_min(0)
        hour = (t // 3600) % 24
        weekday = (t // 86400 + 3) % 7  # 1970-01-01 was a Thursday
        out = self.hour(hour) + self.weekday(weekday) + self.recency(recency_buckets(times, real))
        return out * real[..., None]


def time_params(config: Any) -> tuple[str, int]:
    """``(time, time_span)`` of an encoder config (``("none", 256)`` for encoders without them)."""
    return str(getattr(config, "time", "none")), int(getattr(config, "time_span", 256))
