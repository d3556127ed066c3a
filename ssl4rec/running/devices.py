"""Devices and numeric precision of training (``run --device ... --precision ...``).

``--device auto|cpu|cuda|cuda:N|mps`` puts every trainable model (SSL models, BPR, graph models) on
that device; ``auto`` = CUDA when present, else MPS, else CPU. ``--precision fp32|bf16|fp16`` trains
the forward and loss under ``torch.autocast`` in that type (fp16 on CUDA with gradient scaling);
parameters and optimiser state stay fp32, scoring for evaluation runs in fp32. Autocast lowers
matrix products (attention, linear layers, the softmax over items); element-wise models such as
BPR's dot products train as in fp32. Custom autograd functions run in fp32 (``full_precision``). A device or type the
machine does not have is refused before anything runs. Each record keeps the device, the precision
and torch's determinism flags (``machine``).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import torch

from ..registry import ConfigError

__all__ = ["PRECISIONS", "autocast", "determinism", "resolve_device", "check_precision", "GradScaler"]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str | None) -> torch.device:
    """``auto`` / None, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` -> a device this machine has."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", spec):
        raise ConfigError(f"--device {spec!r}: use auto, cpu, cuda, cuda:N or mps")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {spec}: no CUDA device on this machine (torch {torch.__version__}); use cpu or auto"
            )
        index = int(spec.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if spec == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ConfigError("--device mps: Apple's MPS backend is not available here; use cpu or auto")
    return torch.device(spec)


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` if the device can train in it, else a ConfigError naming what it lacks."""
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision {precision!r}: use fp32, bf16 or fp16")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bfloat16; use fp16 or fp32")
    if precision == "fp16" and device.type == "mps" and not hasattr(torch, "mps"):
        raise ConfigError("--precision fp16 is not available on this MPS build; use fp32")
    return precision


def autocast(device: torch.device, precision: str | None) -> Any:
    """The context a training step's forward and loss run in (a no-op for fp32)."""
    dtype = PRECISIONS.get(precision or "fp32")
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class GradScaler:
    """Loss scaling for fp16 on CUDA (bf16 and fp32 need none); a pass-through elsewhere."""

    def __init__(self, device: torch.device, precision: str | None) -> None:
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" and device.type == "cuda" else None

    def step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            opt.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)
        self.scaler.update()


def determinism() -> dict[str, Any]:
    """torch's determinism settings, for the record."""
    out: dict[str, Any] = {"deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}
    if torch.backends.cudnn.is_available():
        out.update(
            cudnn_deterministic=torch.backends.cudnn.deterministic, cudnn_benchmark=torch.backends.cudnn.benchmark
        )
    return out
