"""Checks of experiment settings that need more than their types (see ``make_config``), shared
by the experiments' ``check_config``: they run before any output or training."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable

from pyro_vae.errors import ConfigError
from pyro_vae.validation import MAX_SEED


def check_known(option: str, values: Iterable[str], known: Iterable[str]) -> None:
    """Every entry of ``values`` is one of ``known``."""
    known = list(known)
    unknown = [repr(v) for v in values if v not in known]
    if unknown:
        raise ConfigError(f"unknown {option} {', '.join(unknown)}; known: {', '.join(known)}")


def check_batch_sizes(rows: int, **batch_sizes: int) -> None:
    """Each mini-batch fits in the ``rows`` training rows."""
    for option, size in batch_sizes.items():
        if size > rows:
            raise ConfigError(f"{option}={size} exceeds the {rows} training data points")


def check_tail(config) -> None:
    """``tail_evaluations`` evaluations follow step 0 (one every ``evaluate_every_epochs`` and one
    at the end)."""
    after_start = math.ceil(config.epochs / config.evaluate_every_epochs)
    if config.tail_evaluations > after_start:
        raise ConfigError(f"tail_evaluations={config.tail_evaluations} averages the last evaluations, but "
                          f"epochs={config.epochs} with evaluate_every_epochs={config.evaluate_every_epochs} "
                          f"gives {after_start} after step 0")


def check_eval_samples(config) -> None:
    """At least two samples per evaluation: its Monte-Carlo standard error needs them."""
    if config.eval_samples < 2:
        raise ConfigError(f"eval_samples={config.eval_samples}: an evaluation needs at least 2 samples for its "
                          "Monte-Carlo standard error")


def check_unused(given: Collection[str], unused: Iterable[str], why: str) -> None:
    """None of the settings the user gave (``given``) is among ``unused``, those that ``why``
    (the data in use, say) leaves unused."""
    names = [setting for setting in unused if setting in given]
    if names:
        raise ConfigError(f"{', '.join(names)} would be unused: {why}")


def check_data_source(config, given: Collection[str], built_in_only: tuple[str, ...]) -> None:
    """A setting of the built-in data that the user gave is refused with ``--data``."""
    if config.data:
        many = sum(setting in given for setting in built_in_only) > 1
        check_unused(given, built_in_only, f"{'they apply' if many else 'it applies'} only to the built-in data, "
                                           f"which --data {config.data!r} replaces")


def check_seeds(config, count: int, what: str) -> None:
    """The seeds ``seed … seed + count − 1`` of ``count`` runs or setups are all valid seeds."""
    last = config.seed + count - 1
    if last > MAX_SEED:
        raise ConfigError(f"seed {config.seed} with {count} {what} uses the seeds up to {last}, beyond the "
                          f"largest seed {MAX_SEED}; give a seed of at most {MAX_SEED - count + 1}")
