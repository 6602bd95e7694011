"""Training with periodic evaluation, kept as columns, and the checkpoint files of E4–E8's fits."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable

from pyro_vae.checkpoint import evaluation_columns
from pyro_vae.errors import ConfigError
from pyro_vae.rng import evaluation_stream
from pyro_vae.training import fit

#: The folder in an experiment's output where its fits keep their checkpoints while it runs
#: (removed when the results are written); ``pyro-vae run --resume`` continues from them.
CHECKPOINTS = "checkpoints"


def checkpoint_file(checkpoints: pathlib.Path | None, *parts) -> pathlib.Path | None:
    """``checkpoints/PART-PART.pt`` for one fit of an experiment, or None without a folder. In
    each part, every run of characters other than word characters, ``.`` and ``-`` becomes one
    ``_``, and ``_`` at its ends is dropped; the caller keeps the parts of its fits distinct."""
    if checkpoints is None:
        return None
    return checkpoints / ("-".join(re.sub(r"[^\w.-]+", "_", str(p)).strip("_") for p in parts) + ".pt")


def fit_tracked(model, guide, x, evaluate: Callable[[], dict], **fit_options) -> dict[str, list]:
    """:func:`~pyro_vae.training.fit` with ``evaluate()`` at step 0 and every ``evaluate_every``
    steps; returns columns ``{"step": [...], key: [...]}`` of the evaluations. Every evaluation,
    the one at step 0 too, draws from its own stream (:func:`pyro_vae.rng.evaluation_stream`).
    A ``checkpoint`` whose saved evaluations have other columns is refused before training."""
    with evaluation_stream(x.device):
        rows = [{"step": 0, **evaluate()}]
    path = fit_options.get("checkpoint")
    saved = None if path is None else evaluation_columns(path)
    if saved is not None and saved != sorted(rows[0]):  # written by a version that tracked other columns
        raise ConfigError(f"checkpoint {str(path)!r} holds evaluations with columns {saved}, this run tracks "
                          f"{sorted(rows[0])}; delete it to start afresh")
    rows += fit(model, guide, x, evaluate=evaluate, progress=False, **fit_options).evaluations
    ragged = next((row for row in rows if row.keys() != rows[0].keys()), None)
    if ragged is not None:
        raise ValueError(f"evaluate() returned the keys {sorted(rows[0])} at step 0 but {sorted(ragged)} "
                         f"at step {ragged['step']}")
    return {key: [row[key] for row in rows] for key in rows[0]}


def track_table(track: dict[str, list]) -> list[dict]:
    """Columns as table rows, one per evaluation."""
    return [{key: values[i] for key, values in track.items()} for i in range(len(track["step"]))]
