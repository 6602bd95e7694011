"""``experiments.multirun``: runs in worker processes equal the same runs in this process, bit
for bit;
quartiles equal numpy's percentiles; ``make_config`` takes and checks the command-line
overrides (``--runs``, ``--workers``, ``--data``)."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest
import torch

from pyro_vae import experiments
from pyro_vae.errors import ConfigError
from pyro_vae.experiments import linear_vae, multirun


def test_run_seeds_in_workers_keeps_the_order_of_the_seeds():
    task = functools.partial(pow, 3)
    seeds = [4, 1, 3, 2]
    assert multirun.run_seeds(task, seeds, workers=2) == [81, 3, 27, 9]
    assert multirun.run_seeds(task, seeds, workers=1) == [81, 3, 27, 9]


def test_run_tasks_seeds_each_call_by_its_own_seed():
    """Calls with the same seed draw the same numbers, in a worker or here; order is kept."""
    arguments, seeds = ["a", "b", "c"], [5, 6, 5]
    here = multirun.run_tasks(_draw, arguments, seeds, workers=1)
    there = multirun.run_tasks(_draw, arguments, seeds, workers=2)
    assert here == there
    assert [r[0] for r in here] == arguments
    assert here[0][1] == here[2][1] != here[1][1]
    with pytest.raises(ValueError, match="3 arguments but 2 seeds"):
        multirun.run_tasks(_draw, arguments, [1, 2])


def _draw(argument: str) -> tuple[str, float]:
    return argument, torch.rand(()).item()


@pytest.mark.parametrize("workers", [1, 2])
def test_every_run_is_single_threaded_and_the_caller_keeps_its_threads(workers):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert multirun.run_seeds(_threads, [0, 1], workers=workers) == [1, 1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _threads(_seed: int) -> int:
    return torch.get_num_threads()


def test_quartiles_are_numpys_percentiles():
    values = np.random.default_rng(0).normal(size=(7, 5))
    median, q25, q75 = multirun.quartiles(values)
    np.testing.assert_allclose(median, np.median(values, axis=0))
    np.testing.assert_allclose(q25, np.percentile(values, 25, axis=0))
    np.testing.assert_allclose(q75, np.percentile(values, 75, axis=0))


def test_default_workers_is_bounded_by_runs_and_cpus():
    assert multirun.default_workers(1) == 1
    assert 1 <= multirun.default_workers(64) <= 64


def test_the_reported_workers_are_the_processes_started(monkeypatch):
    """More workers than runs start one process per run, and the results say so."""
    started = []
    monkeypatch.setattr(multirun, "run_tasks", lambda task, args, seeds, workers, *rest: started.append(workers) or [])
    assert multirun.run_on_device(abs, [1, 2], [0, 1], workers=5)[0] == 2 == started[0]


def test_a_run_in_a_worker_equals_the_same_run_here():
    """The per-seed task gives the same numbers to the last bit, whichever process runs it."""
    config = linear_vae.PROFILES["smoke"]
    task = functools.partial(linear_vae.one_run, config)
    [here] = multirun.run_seeds(task, [5], workers=1)
    [there, _] = multirun.run_seeds(task, [5, 6], workers=2)
    for variant in ("learned_sigma", "fixed_sigma"):
        for key, values in here[variant].items():
            np.testing.assert_array_equal(there[variant][key], values, err_msg=key)


def test_make_config_applies_overrides():
    module = experiments.get_experiment("linear-vae")
    config = experiments.make_config(module, "smoke", seed=3, runs=5, workers=None)
    assert (config.seed, config.runs, config.workers) == (3, 5, linear_vae.PROFILES["smoke"].workers)


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("gmm", {"runs": 3}, "has no setting --runs"),
        ("gmm", {"data": "x"}, "has no setting --data"),
        ("linear-vae", {"runs": 0}, "--runs must be a positive int"),
        ("linear-vae", {"workers": -1}, "--workers must be a non-negative int"),
        ("vae1", {"data": 3}, "--data must be a str"),
        ("vae3", {"runs": 0}, "--runs must be a positive int, got 0"),
        ("vae3", {"lr": -0.1}, "^lr must be a positive finite number, got -0.1"),
        ("vae3", {"lr": float("nan")}, "^lr must be a positive finite number"),
        ("vae3", {"lr": "0.1"}, "^lr must be a number, got '0.1'"),
        ("vae3", {"runs": 2.0}, "--runs must be an int, got 2.0"),
        ("vae1", {"data": ""}, "--data is empty; give a file or folder, or leave --data out"),
        ("vae1", {"hidden": ()}, "^hidden must be a non-empty tuple"),
        ("vae1", {"hidden": [50]}, r"^hidden must be a non-empty tuple, got \[50\]"),
        ("vae1", {"hidden": (50, "50")}, r"^hidden\[1\] must be an int, got '50'"),
        ("latent-activity", {"betas": (1.0, "2")}, r"^betas\[1\] must be a number, got '2'"),
        ("latent-activity", {"betas": (1.0, 1.0)}, r"^betas lists an entry twice: \(1.0, 1.0\)"),
        ("latent-activity", {"families": ()}, "^families must be a non-empty tuple"),
        ("mle-init", {"latent_dims": (0,)}, r"^latent_dims\[0\] must be a positive int, got 0"),
        ("mle-init", {"burn_in": -0.1}, "^burn_in must be a non-negative finite number"),
        ("gmm", {"exact_guide_control": 1}, "^exact_guide_control must be a bool, got 1"),
        ("gmm", {"objective": 3}, "^objective must be a str, got 3"),
        ("latent-activity", {"betas": ([1.0],)}, r"^betas\[0\] must be a number, got \[1.0\]"),
        ("latent-activity", {"betas": (10**400,)}, r"^betas\[0\] must be a positive finite number"),
        ("vae1", {"runs": 0}, "^--runs must be a positive int, got 0"),
    ],
)
def test_make_config_refuses_bad_overrides(name, overrides, message):
    module = experiments.get_experiment(name)
    with pytest.raises(ConfigError, match=message):
        experiments.make_config(module, "smoke", **overrides)


def test_vae1_refuses_a_missing_data_path_before_creating_the_output(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="no such file or folder"):
        experiments.run_experiment("vae1", "smoke", out=out, data=str(tmp_path / "missing"))
    assert not out.exists()


def test_a_failed_run_in_a_worker_stops_the_others_and_raises_its_error(tmp_path):
    """The runs queued behind a failure never start (the pool used to run them all first)."""
    with pytest.raises(ValueError, match="run 1 failed"):
        multirun.run_seeds(functools.partial(_fail_on_one, tmp_path), list(range(12)), workers=2)
    started = {p.name for p in tmp_path.iterdir()}
    assert "started-1" in started and len(started) < 12


def _fail_on_one(folder, seed: int) -> int:
    (folder / f"started-{seed}").touch()
    if seed == 1:
        raise ValueError("run 1 failed")
    time.sleep(0.5)  # a run that takes a while
    return seed
