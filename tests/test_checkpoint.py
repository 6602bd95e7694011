"""``fit(checkpoint=...)`` (``pyro_vae.checkpoint``): a run interrupted and resumed from its last
checkpoint ends with the same parameters and history, to the last bit, as the same run without
interruption (SPEC "Reliability": long runs checkpoint and resume exactly); checkpoints load
with ``torch.load(weights_only=True)``; a checkpoint of another run is refused before any step."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pyro
import pyro.distributions as dist
import pyro.optim
import pytest
import torch
from conftest import e1_pair
from pyro_vae.guides import DiagonalGaussian, LinearGaussian
from pyro_vae.models import VAE3, LinearVAE
from torch.distributions import constraints

from pyro_vae import checkpoint
from pyro_vae.data import ppca_data
from pyro_vae.errors import ConfigError
from pyro_vae.experiments import run_experiment
from pyro_vae.experiments.tracking import checkpoint_file, fit_tracked
from pyro_vae.training import fit

STEPS, EVERY, STOP = 14, 4, 10  # checkpoints at 4 and 8; interrupted during step 10's evaluation


class Interrupted(Exception):
    pass


def linear_pair(seed: int):
    torch.manual_seed(seed)
    return LinearVAE(10, 2), LinearGaussian(10, 2)


def ppca_x():
    return ppca_data(n_train=60, n_test=1, seed=3).x_train  # batches of 16: the 4th has 12 rows


def e1(seed: int):
    model, guide, _ = e1_pair(50, seed)
    return model, guide


def e1_x():
    return e1_pair(50, 0)[2]


def run(make_pair, x, checkpoint=None, stop_at=None, pair_seed=0, **options):
    """``fit`` on a fresh pair in an empty param store, evaluating every step with a draw from
    torch's generator (as the experiments' monitors do); ``stop_at`` interrupts it there."""
    pyro.clear_param_store()
    model, guide = make_pair(pair_seed)

    def evaluate():
        step = len(history_steps) + 1
        history_steps.append(step)
        if step == stop_at:
            raise Interrupted
        return {"draw": torch.rand(()).item()}

    history_steps: list[int] = []
    if "optimizer" in options:
        options = options | {"optimizer": options["optimizer"]()}
    saving = {} if checkpoint is None else {"checkpoint": checkpoint, "checkpoint_every": EVERY}
    history = fit(model, guide, x, steps=STEPS, batch_size=16, seed=7, evaluate_every=1, evaluate=evaluate,
                  **saving, **options)
    modules = {label: m for label, m in (("model", model), ("guide", guide)) if isinstance(m, torch.nn.Module)}
    params = {f"{label}.{name}": value.detach().clone() for label, m in modules.items()
              for name, value in m.state_dict().items()}
    in_modules = {id(p) for m in modules.values() for p in m.parameters()}
    params |= {name: value.detach().clone() for name, value in pyro.get_param_store().named_parameters()
               if id(value) not in in_modules}  # e.g. tracegraph's baselines
    return params, history


def user_pair(seed: int):
    """A model and guide written as plain functions with ``pyro.param``, as in Pyro's tutorials."""
    torch.manual_seed(seed)
    start = torch.randn(10)

    def model(x):
        w = pyro.param("w", start)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z.unsqueeze(-1) * w, 1.0).to_event(1), obs=x)

    def guide(x):
        a = pyro.param("a", torch.zeros(10))
        s = pyro.param("s", torch.ones(()), constraint=constraints.positive)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(x @ a, s))

    return model, guide


CASES = {
    "elbo": (linear_pair, ppca_x, dict(objective="elbo", num_particles=3, jit=False)),
    "elbo, compiled": (linear_pair, ppca_x, dict(objective="elbo", num_particles=3, jit=True)),
    "iwae, dreg": (linear_pair, ppca_x, dict(objective="iwae", num_particles=5, estimator="dreg")),
    "tracegraph, baselines": (e1, e1_x, dict(objective="tracegraph", num_particles=2)),
    "PyroOptim": (linear_pair, ppca_x, dict(objective="elbo", optimizer=lambda: pyro.optim.Adam({"lr": 0.01}))),
    "functions with pyro.param": (user_pair, ppca_x, dict(objective="elbo", num_particles=2)),
}


@pytest.mark.parametrize("case", CASES)
def test_a_resumed_run_equals_the_uninterrupted_run(case, tmp_path):
    make_pair, make_x, options = CASES[case]
    x = make_x()
    expected_params, expected = run(make_pair, x, **options)
    path = tmp_path / "run.pt"
    with pytest.raises(Interrupted):
        run(make_pair, x, checkpoint=path, stop_at=STOP, **options)
    assert torch.load(path, weights_only=True)["step"] == 8
    # other initial weights: everything must come from the checkpoint
    params, resumed = run(make_pair, x, checkpoint=path, pair_seed=1, **options)
    assert params.keys() == expected_params.keys()
    for name, value in expected_params.items():
        assert torch.equal(params[name], value), name
    assert resumed.steps == expected.steps == list(range(1, STEPS + 1))
    assert resumed.elbo == expected.elbo
    assert resumed.evaluations == expected.evaluations
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary files left


def test_a_finished_run_is_not_trained_again(tmp_path):
    x, path = ppca_x(), tmp_path / "run.pt"
    params, history = run(linear_pair, x, checkpoint=path)
    again_params, again = run(linear_pair, x, checkpoint=path, pair_seed=1)
    assert all(torch.equal(again_params[name], value) for name, value in params.items())
    assert dataclasses.asdict(again) == {**dataclasses.asdict(history), "runtime_s": again.runtime_s}


def test_resumed_evaluations_with_other_columns_are_refused_before_training(tmp_path):
    """An experiment resumed from a checkpoint whose evaluations track other columns (written by
    another version) gets a clear error before any step, also where the run was unfinished."""
    x, path = ppca_x(), tmp_path / "run.pt"
    calls = []

    def tracked(columns, stop_at=None):
        pyro.clear_param_store()
        model, guide = linear_pair(0)

        def evaluate():
            calls.append(len(calls))
            if len(calls) == stop_at:
                raise Interrupted
            return dict.fromkeys(columns, 0.0)

        return fit_tracked(model, guide, x, evaluate, steps=4, batch_size=16, seed=7, evaluate_every=2,
                           checkpoint_every=2, checkpoint=path)

    with pytest.raises(Interrupted):
        tracked(["a"], stop_at=3)  # step 0, step 2 (then its checkpoint), interrupted at step 4
    calls.clear()
    with pytest.raises(ConfigError, match=r"columns \['a', 'step'\], this run tracks \['a', 'b', 'step'\]"):
        tracked(["a", "b"])
    assert len(calls) == 1  # the step-0 evaluation only: no training step ran
    calls.clear()
    assert tracked(["a"]) == {"step": [0, 2, 4], "a": [0.0] * 3}


def test_evaluations_with_changing_keys_are_refused():
    pyro.clear_param_store()
    model, guide = linear_pair(0)
    keys = iter([["a"], ["a"], ["a", "b"]])
    with pytest.raises(ValueError, match=r"\['a', 'step'\] at step 0 but \['a', 'b', 'step'\] at step 4"):
        fit_tracked(model, guide, ppca_x(), lambda: dict.fromkeys(next(keys), 0.0), steps=4, batch_size=16,
                    evaluate_every=2)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(lr=0.01), r"lr=0\.001 there, 0\.01 here"),
        (dict(num_particles=2), r"num_particles=1 there, 2 here"),
        (dict(x_scale=2.0), r"data='[0-9a-f]{64}' there"),
        (dict(seed=8), r"seed=7 there, 8 here"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused_before_any_step(change, message, tmp_path):
    x, path = ppca_x(), tmp_path / "run.pt"
    run(linear_pair, x, checkpoint=path)
    before = path.read_bytes()
    pyro.clear_param_store()
    model, guide = linear_pair(0)
    weights = [p.detach().clone() for p in model.parameters()]
    options = dict(lr=1e-3, num_particles=1, seed=7) | change
    scale = options.pop("x_scale", 1.0)
    with pytest.raises(ConfigError, match=message):
        fit(model, guide, x * scale, steps=STEPS, batch_size=16, evaluate_every=1, evaluate=dict,
            checkpoint=path, checkpoint_every=EVERY, **options)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), weights))
    assert path.read_bytes() == before


def test_bad_checkpoint_paths_and_files_get_clear_errors(tmp_path):
    x = ppca_x()
    model, guide = linear_pair(0)
    with pytest.raises(ConfigError, match="is a folder; give a file name"):
        fit(model, guide, x, steps=2, checkpoint=tmp_path)
    with pytest.raises(ConfigError, match="checkpoint must be a file path, got int"):
        fit(model, guide, x, steps=2, checkpoint=3)
    with pytest.raises(ConfigError, match="checkpoint_every must be a positive int"):
        fit(model, guide, x, steps=2, checkpoint=tmp_path / "a.pt", checkpoint_every=0)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="cannot be read as a pyro_vae checkpoint.*delete it"):
        fit(model, guide, x, steps=2, checkpoint=junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ConfigError, match="is not a 'pyro_vae.fit checkpoint 2' file"):
        fit(model, guide, x, steps=2, checkpoint=other)


def test_resuming_with_another_model_is_refused(tmp_path):
    x, path = ppca_x(), tmp_path / "run.pt"
    run(linear_pair, x, checkpoint=path)
    pyro.clear_param_store()
    model, guide = LinearVAE(10, 3), LinearGaussian(10, 3)
    with pytest.raises(ConfigError, match=r"belongs to another run \(guide='LinearGaussian \(size=2, sigma learned\)' "
                                          r"there, 'LinearGaussian \(size=3, sigma learned\)' here\)"):
        fit(model, guide, x, steps=STEPS, batch_size=16, seed=7, evaluate_every=1, evaluate=dict,
            checkpoint=path, checkpoint_every=EVERY)


@pytest.mark.parametrize("name, fits", [("linear-vae", 4), ("mle-init", 6), ("latent-activity", 8)])
def test_an_interrupted_experiment_resumes_to_the_results_of_an_uninterrupted_one(name, fits, tmp_path, monkeypatch):
    """``pyro-vae run --resume``: a smoke profile (its fits one after another here) interrupted
    after its third fit, then resumed in the same folder."""
    save, saved = checkpoint.save, []
    monkeypatch.setattr(checkpoint, "save", lambda path, **state: (save(path, **state), saved.append(path.name)))
    expected, _ = run_experiment(name, "smoke", out=tmp_path / "whole", progress=False)
    every_fit = list(saved)
    assert len(set(every_fit)) == len(every_fit) == fits  # one checkpoint file per fit

    def save_then_interrupt(path, **state):
        save(path, **state)
        saved.append(path.name)
        if len(saved) == 3:
            raise KeyboardInterrupt

    saved.clear()
    monkeypatch.setattr(checkpoint, "save", save_then_interrupt)
    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(name, "smoke", out=out, progress=False)
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == sorted(every_fit[:3])
    with pytest.raises(ConfigError, match="checkpoints of an interrupted run; continue it with --resume"):
        run_experiment(name, "smoke", out=out, progress=False)
    saved.clear()
    monkeypatch.setattr(checkpoint, "save", lambda path, **state: (save(path, **state), saved.append(path.name)))
    resumed, _ = run_experiment(name, "smoke", out=out, progress=False, resume=True)
    assert saved == every_fit[3:]  # the three finished fits came from their checkpoints
    assert resumed.metrics == expected.metrics
    assert resumed.tables == expected.tables
    assert [dataclasses.asdict(c) for c in resumed.claims] == [dataclasses.asdict(c) for c in expected.claims]
    assert resumed.settings == {**expected.settings, "resumed": True}
    assert not (out / "checkpoints").exists() and (out / "results.json").is_file()


def test_checkpoint_files_are_named_by_their_fit():
    folder = pathlib.Path("out/checkpoints")
    assert checkpoint_file(folder, "fixed_sigma", "seed1") == folder / "fixed_sigma-seed1.pt"
    assert checkpoint_file(folder, "affine", "kappa2", "MLE-B (App. B.3)") == folder / "affine-kappa2-MLE-B_App._B.3.pt"
    assert checkpoint_file(None, "affine") is None


def test_resuming_an_experiment_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "out"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "config.json").write_text(json.dumps({"runs": 2}))
    with pytest.raises(ConfigError, match="had other settings .*runs=2 there, 3 here"):
        run_experiment("linear-vae", "smoke", out=out, progress=False, resume=True, runs=3)


def test_a_checkpoint_holds_only_this_fits_parameters(tmp_path):
    """Another fit's parameters and unrelated ones left in the param store are not saved, so a
    resume (in a new process, where instance names start again) cannot load them."""
    pyro.clear_param_store()
    x = ppca_x()
    fit(*linear_pair(5), x, steps=2)
    pyro.param("unrelated", torch.ones(3))
    model, guide = user_pair(0)
    fit(model, guide, x, steps=3, checkpoint=tmp_path / "run.pt")
    assert sorted(torch.load(tmp_path / "run.pt", weights_only=True)["params"]) == ["a", "s", "w"]
    pyro.clear_param_store()


def test_resume_is_refused_where_there_is_nothing_to_resume(tmp_path):
    with pytest.raises(ConfigError, match="'gmm' keeps no checkpoints, so it cannot --resume; those that can: "
                                          "linear-vae, vae1, vae3, mle-init, latent-activity"):
        run_experiment("gmm", "smoke", out=tmp_path, resume=True)
    with pytest.raises(ConfigError, match="--resume needs --out DIR"):
        run_experiment("vae3", "smoke", resume=True)
    with pytest.raises(ConfigError, match="holds no checkpoints/ folder"):
        run_experiment("vae3", "smoke", out=tmp_path, resume=True)


def test_a_pyro_optim_used_before_saves_only_this_fits_state(tmp_path):
    pyro.clear_param_store()
    x, optim = ppca_x(), pyro.optim.Adam({"lr": 0.01})
    fit(*linear_pair(5), x, steps=2, optimizer=optim)
    model, guide = linear_pair(0)
    fit(model, guide, x, steps=3, optimizer=optim, checkpoint=tmp_path / "run.pt")
    saved = torch.load(tmp_path / "run.pt", weights_only=True)["optimiser"]
    assert sorted(saved) == sorted(f"{label}.{name}" for label, m in (("model", model), ("guide", guide))
                                   for name, _ in m.named_parameters())
    pyro.clear_param_store()


def test_resuming_with_another_family_setting_is_refused(tmp_path):
    """The same classes and shapes with another σ(z) and τ(x) link: the saved weights would mean
    other variances."""
    x, path = ppca_x(), tmp_path / "run.pt"

    def vae3_pair(scale):
        torch.manual_seed(0)
        return VAE3(10, 2, hidden=(4,), scale=scale), DiagonalGaussian(10, 2, hidden=(4,), scale=scale)

    fit(*vae3_pair("softplus"), x, steps=2, checkpoint=path)
    pyro.clear_param_store()
    with pytest.raises(ConfigError, match=r"guide=\"DiagonalGaussian \(scale='softplus'\)\" there, .*; "
                                          r"model=\"VAE3 \(scale='softplus'\)\" there, \"VAE3 \(scale='log_variance'\)\" here"):
        fit(*vae3_pair("log_variance"), x, steps=2, checkpoint=path)
    pyro.clear_param_store()
