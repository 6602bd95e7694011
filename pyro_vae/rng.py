"""The random number generators of a run: their state, and the stream its evaluations draw from.

A run draws from the generators of torch (and of its GPU), Python and NumPy; a seed sets all of
them (``pyro.set_rng_seed``). A checkpoint keeps their :func:`state`. Monitoring must not steer
the training: :func:`evaluation_stream` runs an evaluation on generators of its own and puts the
training's back afterwards (SPEC "Reliability": a seed makes a run reproducible).
"""

from __future__ import annotations

import contextlib
import random

import numpy as np
import pyro
import torch

#: Mixed into the seed of an evaluation stream, so that it differs from any stream seeded by a number.
EVALUATION_STREAM = 0x65_76_61_6C  # "eval"


def state(device: torch.device) -> dict:
    """The generators' state, as tensors and plain values (``torch.load(weights_only=True)``
    reads it back): torch's, Python's, NumPy's, and the GPU's when ``device`` is one."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    saved = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss)}
    if device.type == "cuda":
        saved["cuda"] = torch.cuda.get_rng_state(device)
    return saved


def set_state(saved: dict, device: torch.device) -> None:
    """Put the generators back in a :func:`state`."""
    torch.set_rng_state(saved["torch"])
    random.setstate(saved["python"])
    name, keys, position, has_gauss, gauss = saved["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    if "cuda" in saved:
        torch.cuda.set_rng_state(saved["cuda"], device)


@contextlib.contextmanager
def preserved(device: torch.device):
    """Run a block, then put the generators back as they were, also when the block raises: what
    the block draws changes nothing after it."""
    saved = state(device)
    try:
        yield
    finally:
        set_state(saved, device)


@contextlib.contextmanager
def evaluation_stream(device: torch.device):
    """Run a block (an evaluation during training) on generators seeded from the training's
    state, then put the training's generators back.

    The training continues as if the block had not run, and the block does not reuse the
    numbers the training will draw next: its seed hashes (NumPy's ``SeedSequence``) the next
    number torch's generator would give with :data:`EVALUATION_STREAM`. So the block's draws are
    reproducible from the run's seed and the step, and survive a checkpoint and resume.
    """
    with preserved(device):
        upcoming = int(torch.randint(2**62, ()).item())
        pyro.set_rng_seed(int(np.random.SeedSequence((upcoming, EVALUATION_STREAM)).generate_state(1)[0]))
        yield
