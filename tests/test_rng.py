"""``pyro_vae.rng``: the generators' state round-trips; a preserved block and an evaluation
stream leave torch's, NumPy's and Python's generators as they were, also when the block raises;
an evaluation stream is reproducible and does not reuse the numbers the training draws next."""

from __future__ import annotations

import random

import numpy as np
import pyro
import pytest
import torch

from pyro_vae import rng

CPU = torch.device("cpu")


def draws() -> tuple:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


@pytest.mark.parametrize("block", [rng.preserved, rng.evaluation_stream])
def test_a_block_leaves_every_generator_as_it_was(block):
    pyro.set_rng_seed(4)
    np.random.randn()  # NumPy now caches a second normal, part of its state
    expected = draws()
    pyro.set_rng_seed(4)
    np.random.randn()
    with pytest.raises(KeyError), block(CPU):
        draws()
        raise KeyError
    assert draws() == expected


def test_the_state_round_trips_through_a_checkpoint_file(tmp_path):
    pyro.set_rng_seed(9)
    saved = rng.state(CPU)
    torch.save(saved, tmp_path / "rng.pt")
    expected = draws()
    rng.set_state(torch.load(tmp_path / "rng.pt", weights_only=True), CPU)
    assert draws() == expected


def test_an_evaluation_stream_is_its_own_and_reproducible():
    def evaluation(seed):
        pyro.set_rng_seed(seed)
        with rng.evaluation_stream(CPU):
            inside = draws()
        return inside, draws()

    inside, after = evaluation(1)
    assert evaluation(1) == (inside, after)
    assert all(set(a).isdisjoint(b) for a, b in zip(inside, after))  # not the training's next numbers
    assert evaluation(2)[0] != inside
