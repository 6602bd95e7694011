"""The experiments that reproduce the papers, by name, and the runner that runs one.

Each experiment is one module of this package. It defines

* ``NAME: str``, e.g. ``"gmm"``;
* ``SUMMARY: str``, one line: what it reproduces, e.g. ``"seed 000 §4.1: ..."``;
* ``PROFILES: dict[str, Config]`` with keys ``"smoke"``, ``"default"`` and ``"paper"``, where
  ``Config`` is a dataclass with at least a ``seed: int`` field;
* ``run(config, out_dir, progress=True, device="cpu") -> Results``, which writes its figures
  into ``out_dir`` and returns a :class:`~pyro_vae.results.Results`;
* optionally ``check_config(config, given=frozenset())``, which raises :class:`ConfigError`
  for settings that need more than a type check (a data file that must exist, say, or a
  setting the user gave that the data in use would leave unused); ``given`` holds the names
  of the settings the user gave (the overrides of :func:`make_config`). It runs before any output;
* optionally ``RESUMABLE = True`` when its fits keep checkpoints in ``out_dir/checkpoints``
  (:data:`~pyro_vae.experiments.tracking.CHECKPOINTS`), from which ``resume=True`` continues.

* optionally ``ZERO_ALLOWED`` and ``REPEATS_ALLOWED``, tuples of setting names: numbers that
  may be 0, and tuples that may repeat an entry (see :func:`make_config`).

Settings a user may change from the command line (:data:`CLI_SETTINGS`: ``--runs``,
``--workers``, ``--data``, ``--vocabulary-size``) are fields of ``Config``; an experiment
without such a field refuses the option.

:func:`run_experiment` validates every setting before any training, runs the experiment and
writes ``results.json`` and ``results.md`` (the experiment's ``run`` does not).
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import math
import pathlib
import shutil
import sys
import time
from types import ModuleType
from typing import Any

from pyro_vae.checkpoint import setting_differences
from pyro_vae.errors import ConfigError
from pyro_vae.results import Results, write_results
from pyro_vae.validation import check_device, check_seed

from .tracking import CHECKPOINTS

#: Experiment name -> module path, in the order ``pyro-vae list`` shows them; imported lazily.
EXPERIMENTS: dict[str, str] = {
    "gmm": "pyro_vae.experiments.gmm",
    "text-hashing": "pyro_vae.experiments.text_hashing",
    "linear-vae": "pyro_vae.experiments.linear_vae",
    "vae1": "pyro_vae.experiments.vae1",
    "vae3": "pyro_vae.experiments.vae3",
    "mle-init": "pyro_vae.experiments.mle_init",
    "latent-activity": "pyro_vae.experiments.latent_activity",
}

PROFILE_NAMES = ("smoke", "default", "paper")
_CONTRACT = ("NAME", "SUMMARY", "PROFILES", "run")

__all__ = [
    "CHECKPOINTS",
    "CLI_SETTINGS",
    "EXPERIMENTS",
    "PROFILE_NAMES",
    "get_experiment",
    "make_config",
    "check_device",
    "prepare_out_dir",
    "resume_out_dir",
    "run_experiment",
]


def get_experiment(name: str) -> ModuleType:
    """The module of experiment ``name``; :class:`ConfigError` for an unknown name."""
    if name not in EXPERIMENTS:
        known = ", ".join(EXPERIMENTS) or "(none)"
        raise ConfigError(f"unknown experiment {name!r}; known experiments: {known}")
    module = importlib.import_module(EXPERIMENTS[name])
    missing = [attr for attr in _CONTRACT if not hasattr(module, attr)]
    if missing:
        raise TypeError(f"experiment module {module.__name__} lacks {', '.join(missing)}")
    return module


#: The settings that ``pyro-vae run`` has options for; the others are set through :func:`run_experiment`.
CLI_SETTINGS = ("runs", "workers", "data", "vocabulary_size")


def make_config(module: ModuleType, profile: str, seed: int | None = None, **overrides) -> Any:
    """A copy of the experiment's configuration for ``profile``, with ``seed`` if given and
    with the ``overrides`` that are not None (e.g. ``runs=10``, ``data="..."``).

    An override the experiment does not have, or of another type than the profile's value, is a
    :class:`ConfigError`; so is a number that is not positive (zero is allowed for ``workers``,
    "one per CPU", and for the settings in the module's optional ``ZERO_ALLOWED``), a float
    that is not finite, an empty ``data``, and an empty tuple or one that repeats an entry (tuples
    list setups, except those in the module's optional ``REPEATS_ALLOWED``, e.g. layer widths).
    """
    if profile not in module.PROFILES:
        known = ", ".join(module.PROFILES)
        raise ConfigError(f"unknown profile {profile!r} for experiment {module.NAME!r}; known profiles: {known}")
    config = module.PROFILES[profile]
    changes = {key: value for key, value in overrides.items() if value is not None}
    fields = {f.name for f in dataclasses.fields(config)}
    zero_allowed = {"workers", *getattr(module, "ZERO_ALLOWED", ())}
    repeats_allowed = set(getattr(module, "REPEATS_ALLOWED", ()))
    for key, value in changes.items():
        option = "--" + key.replace("_", "-") if key in CLI_SETTINGS else key
        if key not in fields:
            raise ConfigError(f"experiment {module.NAME!r} has no setting {option}")
        changes[key] = _checked_setting(option, value, getattr(config, key), key in zero_allowed,
                                        key in repeats_allowed)
        if key == "data" and not value:
            raise ConfigError("--data is empty; give a file or folder, or leave --data out for the built-in data")
    if seed is not None:
        changes["seed"] = check_seed(seed)
    return dataclasses.replace(config, **changes)


def _checked_setting(option: str, value, like, zero_allowed: bool, repeats_allowed: bool):
    """``value`` checked against the profile's value ``like``; an int for a float setting becomes a float."""
    if isinstance(like, tuple):
        if not isinstance(value, tuple) or not value:
            raise ConfigError(f"{option} must be a non-empty tuple, got {value!r}")
        value = tuple(_checked_setting(f"{option}[{i}]", v, like[0], zero_allowed, repeats_allowed)
                      for i, v in enumerate(value))
        if not repeats_allowed and len(set(value)) < len(value):
            raise ConfigError(f"{option} lists an entry twice: {value!r}")
        return value
    if isinstance(like, (bool, str)):
        if type(value) is not type(like):
            raise ConfigError(f"{option} must be a {type(like).__name__}, got {value!r}")
        return value
    number = int if isinstance(like, int) else float
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (number is int and not isinstance(value, int)):
        raise ConfigError(f"{option} must be {'an int' if number is int else 'a number'}, got {value!r}")
    kind = "non-negative" if zero_allowed else "positive"
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond any float
        finite = False
    if not finite or value < 0 or (value == 0 and not zero_allowed):
        raise ConfigError(f"{option} must be a {kind} {'int' if number is int else 'finite number'}, got {value!r}")
    return number(value)


def default_out_dir(name: str, now: datetime.datetime | None = None) -> pathlib.Path:
    """``runs/NAME-YYYYmmdd-HHMMSS/``, with ``-2``, ``-3``, ... appended if that exists."""
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = pathlib.Path("runs") / f"{name}-{stamp}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def prepare_out_dir(out: str | pathlib.Path) -> pathlib.Path:
    """Create the output folder ``out``; ConfigError if it is a file or a non-empty folder."""
    out = pathlib.Path(out)
    if (out / CHECKPOINTS).is_dir():
        raise ConfigError(f"output folder {str(out)!r} holds the checkpoints of an interrupted run; continue it "
                          "with --resume (and the options it had), or choose another --out")
    if out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"output folder {str(out)!r} exists and is not empty; choose another --out")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {str(out)!r} exists and is not a folder; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create output folder {str(out)!r}: {e.strerror or e}") from e
    return out


def run_experiment(
    name: str,
    profile: str = "default",
    out: str | pathlib.Path | None = None,
    seed: int | None = None,
    device: str = "cpu",
    progress: bool | None = None,
    resume: bool = False,
    **overrides,
) -> tuple[Results, pathlib.Path]:
    """Run experiment ``name`` with ``profile`` and write its results into ``out``.

    Every argument is validated before any training. ``out`` defaults to
    ``runs/NAME-YYYYmmdd-HHMMSS/``; an existing non-empty folder or a file is refused.
    ``progress`` defaults to whether stderr is a terminal. ``overrides`` replace settings of the
    profile (those that are not None), as :func:`make_config` checks them. Pyro's random seed is set to the
    configuration's seed before the run; the param store is left to the experiment.

    An experiment with ``RESUMABLE`` keeps its fits' checkpoints in ``out/checkpoints`` while it
    runs and removes them once the results are written. ``resume=True`` continues an interrupted
    run in ``out`` from them; with the same settings it ends with the same results as an
    uninterrupted run (``settings["resumed"]`` says it was resumed; ``runtime_s`` counts this part).

    :returns: the results and the output folder.
    """
    module = get_experiment(name)
    config = make_config(module, profile, seed, **overrides)
    given = frozenset(key for key, value in overrides.items() if value is not None)
    device = check_device(device)
    if device != "cpu" and getattr(config, "workers", 0) > 1:
        raise ConfigError(f"--workers {config.workers} applies to runs on the CPU; on {device} the fits run one "
                          "after another in this process; leave --workers out")
    if hasattr(module, "check_config"):
        module.check_config(config, given)
    if resume:
        out_dir = resume_out_dir(module, out)
    else:
        out_dir = prepare_out_dir(default_out_dir(name) if out is None else out)
    if getattr(module, "RESUMABLE", False):
        _keep_or_compare_config(out_dir / CHECKPOINTS, config, device, resume)
    if progress is None:
        progress = sys.stderr.isatty()

    import pyro

    pyro.set_rng_seed(config.seed)
    start = time.perf_counter()
    results = module.run(config, out_dir, progress=progress, device=device)
    elapsed = time.perf_counter() - start
    if not isinstance(results, Results):
        raise TypeError(f"{module.__name__}.run returned a {type(results).__name__}, not a Results")
    if not results.runtime_s:
        results = dataclasses.replace(results, runtime_s=elapsed)
    if resume:
        results = dataclasses.replace(results, settings={**results.settings, "resumed": True})
    write_results(results, out_dir)
    shutil.rmtree(out_dir / CHECKPOINTS, ignore_errors=True)
    return results, out_dir


def resume_out_dir(module: ModuleType, out: str | pathlib.Path | None) -> pathlib.Path:
    """The output folder of an interrupted run of ``module`` that ``resume=True`` continues."""
    if not getattr(module, "RESUMABLE", False):
        resumable = [n for n in EXPERIMENTS if getattr(get_experiment(n), "RESUMABLE", False)]
        raise ConfigError(f"experiment {module.NAME!r} keeps no checkpoints, so it cannot --resume; "
                          f"those that can: {', '.join(resumable)}")
    if out is None:
        raise ConfigError("--resume needs --out DIR: the output folder of the interrupted run")
    out = pathlib.Path(out)
    if not (out / CHECKPOINTS).is_dir():
        raise ConfigError(f"--resume: {str(out)!r} holds no {CHECKPOINTS}/ folder of an interrupted run")
    return out


def _keep_or_compare_config(folder: pathlib.Path, config, device: str, resume: bool) -> None:
    """Write the run's settings beside its checkpoints; on ``resume``, refuse other settings
    (``workers`` aside: it does not change the numbers)."""
    settings = json.loads(json.dumps({**dataclasses.asdict(config), "device": device}, default=str))
    settings.pop("workers", None)
    file = folder / "config.json"
    if not resume:
        folder.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(settings, indent=1))
        return
    saved = json.loads(file.read_text()) if file.is_file() else {}
    differences = setting_differences(saved, settings)
    if differences:
        raise ConfigError(f"--resume: the interrupted run in {str(folder.parent)!r} had other settings "
                          f"({differences}); give the options it had")
