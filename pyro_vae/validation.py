"""Checks of user settings, shared by ``fit``, the experiments and the CLI: each raises
:class:`~pyro_vae.errors.ConfigError` with what was wrong and what is expected."""

from __future__ import annotations

import re

import torch

from .errors import ConfigError

_DEVICE = re.compile(r"cpu|cuda(:\d+)?")
MAX_SEED = 2**32 - 1  # numpy's seeding limit, which pyro.set_rng_seed also applies


def check_positive_int(name: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")


def check_seed(seed) -> int:
    """``seed`` if it is an int in 0..2^32 − 1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    return seed


def check_device(device) -> str:
    """``device`` if it is ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` and usable here."""
    device = str(device) if isinstance(device, torch.device) else device
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ConfigError(f"unknown device {device!r}; expected cpu, cuda or cuda:N")
    if device == "cpu":
        return device
    if not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} was asked for, but CUDA is not available here "
            f"(torch.cuda.is_available() is False; torch {torch.__version__}); use cpu"
        )
    index = int(device.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"device {device!r} does not exist: this machine has {count} CUDA device(s)")
    return device
