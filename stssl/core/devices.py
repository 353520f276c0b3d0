"""Devices: the names a run accepts, and whether this machine has the one asked for.

The name is checked with the rest of a config (:func:`stssl.config.resolve`); whether the device
exists is checked only where the run is trained (:func:`check_device`), since a machine without a
GPU (a cluster's login node) prepares the configs of GPU jobs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from stssl.core.checks import ConfigError, Pattern, check

DEVICE = Pattern(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:N, mps")


def resolve_device(device: str) -> str:
    """``auto``: the GPU if there is one, else the CPU; any other name as it is."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def check_device(device: str) -> str:
    """The device to train on (``auto`` resolved), or a one-line :class:`ConfigError` if the name
    is invalid or this machine does not have that device."""
    check("device", device, DEVICE)
    resolved = resolve_device(device)
    if resolved.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise ConfigError(
                f"device={device!r}, but this machine has no CUDA GPU (torch.cuda.is_available() "
                "is False); use device='cpu', or 'auto' for a GPU where there is one"
            )
        index = int(resolved.partition(":")[2] or 0)
        if index >= count:
            raise ConfigError(
                f"device={device!r}, but this machine has {count} CUDA GPU(s): valid: cuda:0 to cuda:{count - 1}"
            )
    if resolved == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "device='mps', but this machine has no Apple GPU (torch.backends.mps.is_available() "
            "is False); use device='cpu'"
        )
    return resolved


def trainer_devices(device: str) -> dict:
    """Lightning's ``accelerator`` and ``devices`` for a device :func:`check_device` returned."""
    kind, _, index = device.partition(":")
    if kind == "cuda":
        return {"accelerator": "gpu", "devices": [int(index or 0)]}
    return {"accelerator": kind, "devices": 1}


def usable_cores() -> int:
    """The cores this process may run on (its affinity, e.g. a SLURM allocation), not the machine's."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX-BF16 among the Linux
    CPU flags); unknown elsewhere, which counts as no."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


def uses_bf16(precision: str, device: str) -> bool:
    """Whether a run at ``precision`` computes in bf16 on ``device`` (:func:`stssl.train.resolve_precision` falls back to fp32 where it would not)."""
    return precision.startswith("bf16") and (device.startswith("cuda") or cpu_has_bf16())
