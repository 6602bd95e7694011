"""Checkpoints of a ``fit`` run, from which it resumes exactly (SPEC "Reliability").

A checkpoint holds everything the rest of a run depends on: the values of Pyro's parameters
(by their param-store names) and the buffers of the model and guide, the optimiser's state,
the random number generators of torch, Python and NumPy, the order of the current epoch's
mini-batches, the :class:`~pyro_vae.training.History` so far, and the run's settings with a
digest of the data. Resuming with other settings or other data is refused, naming the
difference. The file holds only tensors and plain Python values, so it loads with
``torch.load(weights_only=True)``; it is written to a temporary file and renamed into place,
so an interrupted write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import tempfile

import pyro
import torch
from pyro import poutine
from torch import nn

from . import rng
from .errors import ConfigError
from .objectives import BASELINE_PREFIX

#: Format 2: evaluations draw from a stream of their own (:func:`pyro_vae.rng.evaluation_stream`).
#: A format-1 checkpoint's generators include its evaluations' draws, so resuming one would
#: continue neither the old run nor a new one.
FORMAT = "pyro_vae.fit checkpoint 2"


def data_digest(x: torch.Tensor) -> str:
    """SHA-256 of the data's shape, dtype and values: a resumed run must see the same rows."""
    values = x.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{tuple(values.shape)} {values.dtype}".encode())
    digest.update(values.view(torch.uint8).numpy().tobytes() if values.numel() else b"")
    return digest.hexdigest()


def parameters_of(model, guide, x: torch.Tensor) -> set[str]:
    """The param-store names that ``model`` and ``guide`` use on ``x`` (a few rows), found by
    running them once without touching the random number generators."""
    with rng.preserved(x.device), torch.no_grad():
        with poutine.trace(param_only=True) as used:
            poutine.replay(model, trace=poutine.trace(guide).get_trace(x))(x)
    return set(used.trace.nodes)


def save(path: pathlib.Path, *, settings: dict, step: int, order: torch.Tensor, modules, params: set[str], optim,
         history) -> None:
    """Write the state of a run after ``step`` steps to ``path``, atomically: of Pyro's param
    store, only the modules' parameters, the other ``params`` of this model and guide, and the
    objective's baselines (not what other fits left in the store)."""
    module_params = {id(p) for m in modules if isinstance(m, nn.Module) for p in m.parameters()}
    own = {name: p for name, p in pyro.get_param_store().named_parameters()
           if id(p) in module_params or name in params or name.startswith(BASELINE_PREFIX)}
    names = {name: stable for name, stable in _stable_names(modules).items() if name in own}
    state = {
        "format": FORMAT,
        "settings": settings,
        "step": step,
        "modules": [m.state_dict() if isinstance(m, nn.Module) else {} for m in modules],
        "params": {name: p.detach().clone() for name, p in own.items() if id(p) not in module_params},
        "optimiser": _renamed(optim.get_state(), names, only_known=True),
        "rng": rng.state(order.device),
        "order": order.detach().cpu(),
        "history": json.dumps(dataclasses.asdict(history), default=_plain),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, temporary)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def load(path: pathlib.Path, settings: dict) -> dict:
    """The checkpoint at ``path``, after checking that it was written by a run with these
    ``settings``; a :class:`~pyro_vae.errors.ConfigError` says what differs."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- any unreadable file gets the same advice
        raise ConfigError(f"checkpoint {str(path)!r} cannot be read as a pyro_vae checkpoint "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                          "delete it or give another path") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ConfigError(f"checkpoint {str(path)!r} is not a {FORMAT!r} file; delete it or give another path")
    differences = setting_differences(state["settings"], settings)
    if differences:
        raise ConfigError(f"checkpoint {str(path)!r} belongs to another run ({differences}); "
                          "give the same settings and data to resume, or another path to start afresh")
    return state


def evaluation_columns(path: str | os.PathLike) -> list[str] | None:
    """The sorted keys of the first evaluation saved in the checkpoint at ``path``; None where
    there is no readable checkpoint (:func:`load` then says why) or it holds no evaluation yet."""
    try:
        evaluations = json.loads(torch.load(path, map_location="cpu", weights_only=True)["history"])["evaluations"]
    except Exception:  # noqa: BLE001 -- fit's load() reports any unreadable file
        return None
    return sorted(evaluations[0]) if evaluations else None


def setting_differences(saved: dict, current: dict) -> str:
    """``"key=a there, b here; ..."`` for every setting that differs ("" when none does)."""
    return "; ".join(f"{key}={saved.get(key)!r} there, {current.get(key)!r} here"
                     for key in sorted(set(saved) | set(current)) if saved.get(key) != current.get(key))


def restore(state: dict, modules, optim, device: torch.device) -> torch.Tensor:
    """Put the parameters, buffers, optimiser state and generators of ``state`` back in place
    (the parameters must exist: call the model and guide once first). Returns the mini-batch
    order of the epoch in progress."""
    for module, module_state in zip(modules, state["modules"]):
        if isinstance(module, nn.Module):
            try:
                module.load_state_dict(module_state)
            except RuntimeError as e:
                raise ConfigError(f"checkpoint: the saved weights do not fit this model or guide ({e})") from e
    store = dict(pyro.get_param_store().named_parameters())
    for name, value in state["params"].items():
        if name not in store and name.startswith(BASELINE_PREFIX):  # made by the objective as it runs
            pyro.param(name, value.to(device))
            continue
        if name not in store or store[name].shape != value.shape:
            found = "not created" if name not in store else f"of shape {tuple(store[name].shape)}"
            raise ConfigError(f"checkpoint: parameter {name!r} of shape {tuple(value.shape)} is saved but {found} "
                              "by this model and guide; resume with the same model and guide")
        with torch.no_grad():
            store[name].copy_(value)
    current = {stable: name for name, stable in _stable_names(modules).items()}
    try:
        optim.set_state(_renamed(state["optimiser"], current))
    except KeyError as e:
        raise ConfigError(f"checkpoint: the optimiser state names parameter {e} that this model and guide "
                          "do not create; resume with the same model and guide") from e
    rng.set_state(state["rng"], device)
    return state["order"].to(device)


def _stable_names(modules) -> dict[str, str]:
    """Param-store name → a name that does not depend on the instance: ``model.decoder.weight``
    for a parameter of the model module (whose store name carries an instance number), the
    store name for the rest (``pyro.param`` names, ``pyro.module`` prefixes)."""
    labels = {id(p): f"{label}.{name}" for label, m in zip(("model", "guide"), modules) if isinstance(m, nn.Module)
              for name, p in m.named_parameters()}
    return {name: labels.get(id(p), name) for name, p in pyro.get_param_store().named_parameters()}


def _renamed(optimiser_state: dict, names: dict[str, str], only_known: bool = False) -> dict:
    """An optimiser's state with its parameter names mapped: ``SharedOptimiser``'s (groups of
    names) or ``PyroOptim``'s (one state per name; ``only_known`` leaves out the names that
    ``names`` lacks, such as other fits' parameters in a ``PyroOptim`` used before)."""
    if set(optimiser_state) == {"names", "optimiser"}:
        return {**optimiser_state, "names": [[names[n] for n in group] for group in optimiser_state["names"]]}
    return {names[name]: value for name, value in optimiser_state.items() if not only_known or name in names}


def _plain(value):
    """A JSON value for what an ``evaluate`` callback may return (NumPy or torch numbers, arrays)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"checkpoint: evaluate() returned a {type(value).__name__}, which a checkpoint cannot "
                          "hold; return numbers, lists or arrays") from None
