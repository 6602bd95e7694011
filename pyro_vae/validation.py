"""Checks of user settings and data, shared by ``fit``, the measurements, the experiments and
the CLI: each raises :class:`~pyro_vae.errors.ConfigError` (settings),
:class:`~pyro_vae.errors.DataError` (data) or :class:`~pyro_vae.errors.PairingError` (a model
and guide that do not fit each other or the data) with what was wrong and what is expected."""

from __future__ import annotations

import contextlib
import math
import numbers
import re

import pyro
import torch
from torch import nn

from . import rng
from .errors import ConfigError, DataError
from .pairing import check_model, check_pair, display_name

_DEVICE = re.compile(r"cpu|cuda(:\d+)?")
MAX_SEED = 2**32 - 1  # numpy's seeding limit, which pyro.set_rng_seed also applies


def check_positive_int(name: str, value, allow_none: bool = False) -> int | None:
    """``value`` as a Python int if it is an int (NumPy's too) of at least 1, not a bool."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_positive_number(name: str, value) -> float:
    """``value`` as a Python float if it is a finite real number (an int, a float or a NumPy
    scalar, not a bool) above 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_non_negative_number(name: str, value) -> None:
    """A finite real number (not a bool) of at least 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < math.inf:
        raise ConfigError(f"{name} must be a finite number ≥ 0, got {value!r}")


def check_flag(name: str, value) -> None:
    """``True`` or ``False``: a string such as ``"no"`` would otherwise count as true."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")


def check_seed(seed) -> int:
    """``seed`` as a Python int if it is an int (NumPy's too) in 0..2^32 − 1."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    return int(seed)


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


def check_finite(x: torch.Tensor, where: str) -> None:
    """Raise :class:`DataError` unless ``x`` is a floating-point tensor without NaN or inf."""
    if not torch.is_tensor(x):
        raise DataError(f"{where}: expected a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise DataError(f"{where}: expected a floating-point tensor, got dtype {x.dtype}")
    bad = ~torch.isfinite(x)
    if bad.any():
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise DataError(
            f"{where}: {int(bad.sum())} non-finite value(s) (NaN or inf), first at index {idx}"
        )


def check_values(x: torch.Tensor, ok: torch.Tensor, where: str, expected: str) -> None:
    """Raise :class:`DataError` naming the first value of ``x`` where the mask ``ok`` is false."""
    if not ok.all():
        idx = tuple(int(i) for i in (~ok).nonzero()[0])
        raise DataError(
            f"{where}: {int((~ok).sum())} value(s) outside the support, first {x[idx].item():g} "
            f"at index {idx}; expected {expected}"
        )


def check_counts(x: torch.Tensor, where: str, upper: float | None = None) -> None:
    """Raise :class:`DataError` unless ``x`` holds non-negative integer counts (at most ``upper``)."""
    check_finite(x, where)
    ok = (x >= 0) & (x == x.round())
    expected = "non-negative integer counts"
    if upper is not None:
        ok = ok & (x <= upper)
        expected = f"integer counts in 0..{upper:g}"
    check_values(x, ok, where, expected)


def check_data(model, x, where: str = "x") -> None:
    """Raise :class:`DataError` unless ``x`` is a finite float tensor (rows = data points)
    inside the support of the model's observation family (when the model declares one)."""
    if not torch.is_tensor(x):
        raise DataError(f"{where}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] == 0:
        raise DataError(
            f"{where}: expected a tensor of shape (num_points, ...) with at least one point, "
            f"got shape {tuple(x.shape)}"
        )
    family = getattr(model, "observation", None)
    if family is not None:
        family.check_support(x, where)
    else:
        check_finite(x, where)


def check_dtype(x, *modules) -> None:
    """Data and parameters must share a dtype: say so instead of letting torch fail mid-step."""
    for fn in modules:
        param = next(iter(fn.parameters()), None) if isinstance(fn, nn.Module) else None
        if param is not None and param.dtype != x.dtype:
            raise DataError(
                f"x has dtype {x.dtype} but {display_name(fn)} has parameters of dtype "
                f"{param.dtype}; convert one of them (e.g. x.to({param.dtype}) or .to({x.dtype}))"
            )


def check_tensor(name: str, value, shape: tuple) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite floating-point tensor of ``shape``:
    a parameter a user passes in (centres, a weight to load). A str in ``shape`` stands for any
    size and names it in the message, e.g. ``("K", "D")``."""
    expected = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    if not torch.is_tensor(value) or not torch.is_floating_point(value):
        got = f"dtype {value.dtype}" if torch.is_tensor(value) else type(value).__name__
        raise ConfigError(f"{name} must be a floating-point torch.Tensor of shape {expected}, got {got}")
    if value.dim() != len(shape) or any(s != n for s, n in zip(shape, value.shape) if not isinstance(s, str)):
        raise ConfigError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
    bad = ~torch.isfinite(value)
    if bad.any():
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ConfigError(f"{name} must be finite, found {int(bad.sum())} NaN or inf value(s), first at index {idx}")


def as_float_tensor(name: str, value, shape: tuple) -> torch.Tensor:
    """``value`` (a tensor or nested lists; integers become the default dtype) as a tensor that
    :func:`check_tensor` accepts."""
    value = torch.as_tensor(value)
    if not torch.is_floating_point(value):
        value = value.to(torch.get_default_dtype())
    check_tensor(name, value, shape)
    return value


def check_inputs(model, guide, x, **counts) -> None:
    """The checks of :func:`~pyro_vae.fit` before any estimate: positive sample counts; the
    data a finite float tensor of rows in the model's support, of the dtype of the parameters;
    the model able to score them and ``guide`` (if given) a match for it (:func:`check_guide`)."""
    for name, value in counts.items():
        check_positive_int(name, value)
    check_data(model, x)
    check_guide(model, guide, x)


def check_guide(model, guide, x) -> None:
    """:func:`~pyro_vae.pairing.check_pair` (or :func:`~pyro_vae.pairing.check_model` without a
    guide) on the first rows of ``x``, and the dtypes, as a :func:`probe`."""
    check_dtype(x, *(fn for fn in (model, guide) if fn is not None))
    with probe(x.device):
        if guide is None:
            check_model(model, x[:8])
        else:
            check_pair(model, guide, x[:8])


@contextlib.contextmanager
def probe(device):
    """Run a model or guide to check it, leaving no trace: the random number generators and
    Pyro's param store are as they were afterwards, so that a parameter created on first use
    (``pyro.param`` with a random initial value) is created, and drawn, where the model or
    guide next runs. A ``PyroModule`` that creates a parameter only when first run keeps the
    value drawn here (the library's models and guides create theirs when they are built)."""
    store = pyro.get_param_store()
    saved = store.get_state()
    try:
        with rng.preserved(device):
            yield
    finally:
        store.clear()
        store.set_state(saved)
