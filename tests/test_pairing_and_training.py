"""Tests of the acceptance checks and the training loop: ``pairing.check_pair``,
``training.check_data``, ``training.fit`` and ``training.fit_max_likelihood``.

SPEC ("Reliability"): bad input gets a clear error that says what was wrong and where, before
any training; a guide that does not match its model is an error naming both sides; a diverging
run stops with a message and keeps the last good parameters; a seed makes a run reproducible.
"""

from __future__ import annotations

import copy
import math
import random
import re
import warnings

import numpy as np
import pyro
import pyro.distributions as dist
import pyro.optim
import pytest
import torch
from conftest import e1_pair
from pyro_vae.guides import AmortisedGuide, FactorisedBernoulli, LinearGaussian
from pyro_vae.models import (
    ExponentialFamilyVAE,
    GaussianMixture,
    GaussianRBM,
    LinearVAE,
)
from torch import nn

from pyro_vae.data import gmm_toy
from pyro_vae.enumeration import log_marginal
from pyro_vae.errors import ConfigError, DataError, DivergenceError, PairingError
from pyro_vae.experiments.tracking import fit_tracked
from pyro_vae.families import Bernoulli, Family, Gaussian, Poisson
from pyro_vae.objectives import make_objective, score_function_sites
from pyro_vae.training import (
    JIT_MIN_STEPS,
    _compiles_by_default,
    check_data,
    fit,
    fit_max_likelihood,
    make_optimiser,
)

N = 16


@pytest.fixture
def data():
    return gmm_toy(n=N, seed=0)


def make_pair(data, seed=0, learn_sigma=False):
    torch.manual_seed(seed)
    model = GaussianMixture(data.centres, data.sigma, learn_sigma=learn_sigma)
    guide = FactorisedBernoulli(input_dim=2, bits=2, hidden=(8,))
    return model, guide


def snapshot(*modules) -> list[torch.Tensor]:
    return [p.detach().clone() for m in modules for p in m.parameters()]


def assert_same(a: list[torch.Tensor], b: list[torch.Tensor]):
    assert len(a) == len(b)
    for s, t in zip(a, b):
        assert torch.equal(s, t)


def name_of(fn) -> str:
    return re.escape(fn._pyro_name)


class GaussianLatent(Family):
    """A continuous latent family: predictor (mean, log std)."""

    name = "gaussian_latent"

    def distribution(self, eta):
        return dist.Normal(eta[..., :1], eta[..., 1:].exp()).to_event(1)


# --------------------------------------------------------------------------------------------
# Pairing: a guide that does not fit its model.
# --------------------------------------------------------------------------------------------

MISMATCHES = {
    "3 bits for 4 codes": lambda: FactorisedBernoulli(input_dim=2, bits=3, hidden=(8,)),
    "continuous latent for a discrete model": lambda: AmortisedGuide(GaussianLatent(), nn.Linear(2, 2)),
    "encoder input_dim 3 for 2-d data": lambda: FactorisedBernoulli(input_dim=3, bits=2, hidden=(8,)),
}


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_mismatched_guide_is_refused_before_training(data, case):
    model, _ = make_pair(data)
    guide = MISMATCHES[case]()
    before = snapshot(model, guide)
    with pytest.raises(PairingError, match=name_of(guide)):
        fit(model, guide, data.x, "elbo", steps=5, lr=0.1, seed=0)
    assert_same(snapshot(model, guide), before)


@pytest.mark.parametrize(
    "case",
    [
        "3 bits for 4 codes",
        "continuous latent for a discrete model",
        "encoder input_dim 3 for 2-d data",
    ],
)
def test_pairing_error_names_model_and_guide(data, case):
    model, _ = make_pair(data)
    guide = MISMATCHES[case]()
    with pytest.raises(PairingError) as err:
        fit(model, guide, data.x, "elbo", steps=5)
    message = str(err.value)
    assert model._pyro_name in message, message
    assert guide._pyro_name in message, message


def test_pairing_error_names_the_width_the_guide_reads(data):
    model, _ = make_pair(data)
    guide = MISMATCHES["encoder input_dim 3 for 2-d data"]()
    with pytest.raises(PairingError, match="encoder's first linear layer expects 3 inputs per row, the data have 2"):
        fit(model, guide, data.x, "elbo", steps=5)


def test_the_width_hint_is_given_only_for_an_encoder_that_cannot_read_the_rows(data):
    model, _ = make_pair(data)

    class TwoLayers(nn.Module):  # no ``encoder``: its layers' order says nothing of what reads x
        def __init__(self):
            super().__init__()
            self.head, self.body = nn.Linear(8, 2), nn.Linear(3, 8)

        def forward(self, x):
            logits = self.head(torch.relu(self.body(x)))
            with pyro.plate("data", x.shape[0]):
                return pyro.sample("z", dist.Categorical(logits=logits))

    with pytest.raises(PairingError, match="mat1 and mat2") as err:
        fit(model, TwoLayers(), data.x, "elbo", steps=5)
    assert "first linear layer" not in str(err.value)


def test_mismatched_support_message_says_what_differs(data):
    model, _ = make_pair(data)
    guide = MISMATCHES["3 bits for 4 codes"]()
    with pytest.raises(PairingError, match=r"site 'z' does not match.*upper_bound=3.*upper_bound=7"):
        fit(model, guide, data.x, "enum", steps=5)


def test_model_and_guide_swapped_are_refused_before_training(data):
    model, guide = make_pair(data)
    before = snapshot(model, guide)
    with pytest.raises(PairingError, match=rf"guide {name_of(model)} observes \['x'\].*were model and guide swapped"):
        fit(guide, model, data.x, "enum", steps=5)
    assert_same(snapshot(model, guide), before)


def test_a_model_that_observes_nothing_is_refused(data):
    _, guide = make_pair(data)

    def prior_only(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Categorical(logits=torch.zeros(4)))

    with pytest.raises(PairingError, match="model prior_only observes no site"):
        fit(prior_only, guide, data.x, "enum", steps=5)


def test_a_model_that_cannot_score_the_data_says_why(data):
    """Pyro's message introduces its cause on a second line; the error keeps it."""
    model = GaussianMixture(torch.randn(4, 3), data.sigma)  # 3-d centres for 2-d data
    _, guide = make_pair(data)
    with pytest.raises(PairingError, match=r"rows of shape \(2,\).*at site 'x': Value is not broadcastable"):
        fit(model, guide, data.x, "enum", steps=5)


# --------------------------------------------------------------------------------------------
# Data checks.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_data_is_refused_before_training(data, bad):
    model, guide = make_pair(data)
    before = snapshot(model, guide)
    x = data.x.clone()
    x[5, 1] = bad
    with pytest.raises(DataError, match=r"non-finite.*index \(5, 1\)"):
        fit(model, guide, x, "enum", steps=5, lr=0.1)
    assert_same(snapshot(model, guide), before)


def _discrete_model(observation: Family, dim: int = 3) -> ExponentialFamilyVAE:
    return ExponentialFamilyVAE(dist.Categorical(logits=torch.zeros(4)), nn.Linear(4, dim), observation)


@pytest.mark.parametrize(
    "observation,values,bad,match",
    [
        (Bernoulli, "binary", 0.5, r"outside the support, first 0\.5 at index \(2, 1\); expected binary"),
        (Bernoulli, "binary", 2.0, r"outside the support, first 2 at index \(2, 1\); expected binary"),
        (Poisson, "counts", -1.0, r"outside the support, first -1 at index \(2, 1\); expected non-negative integer"),
        (Poisson, "counts", 2.5, r"outside the support, first 2\.5 at index \(2, 1\); expected non-negative integer"),
    ],
    ids=["bernoulli-0.5", "bernoulli-2", "poisson-negative", "poisson-fraction"],
)
def test_data_outside_the_support_is_refused(observation, values, bad, match):
    model = _discrete_model(observation())
    guide = FactorisedBernoulli(input_dim=3, bits=2, hidden=(8,))
    g = torch.Generator().manual_seed(0)
    if values == "binary":
        x = torch.bernoulli(torch.full((10, 3), 0.5), generator=g)
    else:
        x = torch.poisson(torch.full((10, 3), 2.0), generator=g)
    fit(model, guide, x, "enum", steps=1)  # valid data trains
    before = snapshot(model, guide)
    x[2, 1] = bad
    with pytest.raises(DataError, match=match):
        fit(model, guide, x, "enum", steps=5)
    assert_same(snapshot(model, guide), before)


def test_check_data_refuses_shapes_without_rows(data):
    model, _ = make_pair(data)
    with pytest.raises(DataError, match=r"shape \(num_points, \.\.\.\).*got shape \(2,\)"):
        check_data(model, data.x[0])
    with pytest.raises(DataError, match=r"got shape \(0, 2\)"):
        check_data(model, data.x[:0])


# --------------------------------------------------------------------------------------------
# Divergence.
# --------------------------------------------------------------------------------------------


class Breakable(nn.Module):
    """A decoder that outputs ``value`` everywhere once ``broken`` is set."""

    def __init__(self, inner: nn.Module, value: float):
        super().__init__()
        self.inner = inner
        self.value = value
        self.broken = False

    def forward(self, z):
        out = self.inner(z)
        return out + self.value if self.broken else out


def _breaking_run(data, value: float, break_after: int = 3):
    """Fit with a decoder that breaks after step ``break_after``; snapshot after every step."""
    torch.manual_seed(0)
    decoder = Breakable(nn.Linear(4, 2, bias=False), value)
    model = ExponentialFamilyVAE(dist.Categorical(logits=torch.zeros(4)), decoder, Gaussian(data.sigma))
    guide = FactorisedBernoulli(input_dim=2, bits=2, hidden=(8,))
    initial = snapshot(model, guide)
    snapshots = []

    def evaluate():
        snapshots.append(snapshot(model, guide))
        if len(snapshots) == break_after:
            model.decoder.broken = True
        return {"n": len(snapshots)}

    with pytest.raises(DivergenceError) as err:
        fit(model, guide, data.x, "enum", steps=10, lr=0.05, seed=0, evaluate_every=1, evaluate=evaluate)
    return err.value, initial, snapshots, snapshot(model, guide)


def test_infinite_loss_stops_and_keeps_last_good_parameters(data):
    err, initial, snapshots, final = _breaking_run(data, float("inf"))
    assert re.search(r"diverged at step 4: loss is inf.*parameters of step 3 were kept", str(err))
    assert err.history.steps == [1, 2, 3]
    assert len(err.history.elbo) == 3 and all(math.isfinite(v) for v in err.history.elbo)
    assert [e["step"] for e in err.history.evaluations] == [1, 2, 3]
    assert_same(final, snapshots[-1])
    assert not all(torch.equal(a, b) for a, b in zip(final, initial))  # it did train


def test_nan_decoder_output_stops_with_divergence_error(data):
    err, _, snapshots, final = _breaking_run(data, float("nan"))
    assert "step 4" in str(err)
    assert err.history.steps == [1, 2, 3]
    assert_same(final, snapshots[-1])


def _sgd_run(data, lr, steps):
    model, guide = make_pair(data, learn_sigma=True)
    return model, guide, lambda: fit(model, guide, data.x, "enum", steps=steps, lr=lr, optimizer="sgd", seed=0)


@pytest.mark.parametrize(
    "lr",
    [
        1e10,
        1e30,
    ],
)
def test_huge_learning_rate_stops_with_divergence_error(data, lr):
    model, guide, run = _sgd_run(data, lr, steps=10)
    with pytest.raises(DivergenceError, match=r"diverged at step (\d+)") as err:
        run()
    step = int(re.search(r"step (\d+)", str(err.value)).group(1))
    assert err.value.history.steps == list(range(1, step))
    # the kept parameters are those of the same seeded run stopped before the bad step
    ref_model, ref_guide, ref_run = _sgd_run(data, lr, steps=step - 1)
    ref_run()
    assert_same(snapshot(model, guide), snapshot(ref_model, ref_guide))


@pytest.mark.parametrize("name, pyro_optim", [("adam", pyro.optim.Adam), ("clipped_adam", pyro.optim.ClippedAdam),
                                              ("sgd", pyro.optim.SGD)])
def test_shared_optimiser_follows_pyros_per_parameter_optimisers(data, name, pyro_optim):
    """One torch optimiser over all parameters takes the steps Pyro's one-per-parameter
    ``PyroOptim`` takes, from the same start on the same draws."""
    runs = []
    for optimizer, lr in ((name, 0.01), (pyro_optim({"lr": 0.01}), None)):
        pyro.clear_param_store()
        model, guide = make_pair(data, learn_sigma=True)
        fit(model, guide, data.x, "enum", steps=20, lr=lr, optimizer=optimizer, seed=3, batch_size=5)
        runs.append(snapshot(model, guide))
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_shared_optimiser_takes_parameters_as_they_appear():
    first, late = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(3))
    optimiser = make_optimiser("sgd", lr=0.5)
    first.grad = torch.ones(2)
    optimiser([first])
    first.grad, late.grad = torch.ones(2), torch.full((3,), 2.0)
    optimiser([first, late])
    assert torch.equal(first.detach(), torch.zeros(2)) and torch.equal(late.detach(), torch.zeros(3))


def test_shared_optimiser_drops_parameters_the_store_has_replaced():
    """Pyro's TraceGraph_ELBO replaces its baselines in the param store during every step; the
    replaced tensors must not pile up in the optimiser (1000 steps once made 1000 groups)."""
    pyro.clear_param_store()
    pyro.param("kept", torch.ones(2))
    pyro.param("baseline", torch.zeros(2))
    store = pyro.get_param_store()
    kept, baseline = (dict(store.named_parameters())[name] for name in ("kept", "baseline"))
    optimiser = make_optimiser("sgd", lr=0.5)
    for step in range(3):
        store["baseline"] = torch.full((2,), step + 1.0)  # as TraceGraph_ELBO does mid-step
        kept.grad, baseline.grad = torch.ones(2), torch.ones(2)
        optimiser([kept, baseline])
        baseline = dict(store.named_parameters())["baseline"]
    assert torch.equal(kept.detach(), torch.full((2,), -0.5))
    assert torch.equal(baseline.detach(), torch.full((2,), 3.0))  # the store's value, untouched
    assert optimiser.get_state()["names"] == [["kept"]]
    pyro.clear_param_store()


# --------------------------------------------------------------------------------------------
# The loop: freezing, steps and epochs, evaluations, seeds.
# --------------------------------------------------------------------------------------------


def test_freeze_keeps_the_model_fixed_and_trains_the_guide(data):
    model, guide = make_pair(data, learn_sigma=True)
    model_before, guide_before = snapshot(model), snapshot(guide)
    fit(model, guide, data.x, "enum", steps=5, lr=0.1, freeze=[model])
    assert_same(snapshot(model), model_before)
    assert all(not torch.equal(a, b) for a, b in zip(snapshot(guide), guide_before))
    assert all(p.requires_grad for p in model.parameters())  # restored afterwards
    fit(model, guide, data.x, "enum", steps=1, lr=0.1)  # and trainable again without freeze
    assert not all(torch.equal(a, b) for a, b in zip(snapshot(model), model_before))


def test_a_deep_copy_trains_its_own_parameters_and_leaves_the_original(data):
    model, guide = make_pair(data, learn_sigma=True)
    fit(model, guide, data.x, "enum", steps=2, lr=0.1)  # the originals' parameters are in the store
    model_copy, guide_copy = copy.deepcopy(model), copy.deepcopy(guide)
    assert {m._pyro_name for m in model_copy.modules()}.isdisjoint(m._pyro_name for m in model.modules())
    original, copied = snapshot(model, guide), snapshot(model_copy, guide_copy)
    assert_same(copied, original)
    fit(model_copy, guide_copy, data.x, "enum", steps=5, lr=0.1)
    assert_same(snapshot(model, guide), original)
    assert all(not torch.equal(a, b) for a, b in zip(snapshot(model_copy, guide_copy), copied))


@pytest.mark.parametrize("batch_size", [5, 8, 16, N])
def test_epochs_run_ceil_n_over_batch_steps_each(data, batch_size):
    model, guide = make_pair(data)
    history = fit(model, guide, data.x, "enum", epochs=2, batch_size=batch_size)
    expected = math.ceil(N / batch_size) * 2
    assert history.steps == list(range(1, expected + 1))
    assert len(history.elbo) == expected


def test_batch_larger_than_the_data_is_a_config_error(data):
    model, guide = make_pair(data)
    with pytest.raises(ConfigError, match=rf"batch_size=100 exceeds the {N} data points"):
        fit(model, guide, data.x, "enum", steps=1, batch_size=100)


def test_steps_and_epochs_together_is_a_config_error(data):
    model, guide = make_pair(data)
    before = snapshot(model, guide)
    with pytest.raises(ConfigError, match=r"exactly one of steps= or epochs="):
        fit(model, guide, data.x, "enum", steps=3, epochs=1)
    with pytest.raises(ConfigError, match=r"exactly one of steps= or epochs="):
        fit(model, guide, data.x, "enum")
    assert_same(snapshot(model, guide), before)


def test_evaluations_are_stored_at_the_right_steps(data):
    model, guide = make_pair(data)
    calls = []

    def evaluate():
        calls.append(1)
        return {"calls": len(calls)}

    history = fit(model, guide, data.x, "enum", steps=10, evaluate_every=3, evaluate=evaluate)
    assert [e["step"] for e in history.evaluations] == [3, 6, 9, 10]
    assert [e["calls"] for e in history.evaluations] == [1, 2, 3, 4]


@pytest.mark.parametrize("seed", [3, None])
def test_evaluations_do_not_change_the_training(data, seed):
    """What ``evaluate`` draws from torch, NumPy and Python's generators leaves the training as
    it is without evaluations, step for step (and so with any ``evaluate_every``); with
    ``fit_tracked``'s evaluation at step 0 too, and for an unseeded run."""
    def train(track: bool):
        pyro.clear_param_store()
        model, guide = make_pair(data)
        torch.manual_seed(11)

        def evaluate():
            draws = torch.rand(5).sum().item() + np.random.rand() + random.random()
            return {"draws": draws, "elbo": -pyro.infer.Trace_ELBO().loss(model, guide, data.x)}

        options = dict(steps=12, batch_size=8, lr=0.05, seed=seed)
        if track:
            elbo = fit_tracked(model, guide, data.x, evaluate, evaluate_every=2, **options)["elbo"]
            assert len(elbo) == 7 and len(set(elbo)) > 1
        else:
            fit(model, guide, data.x, **options)
        return snapshot(model, guide)

    assert_same(train(track=True), train(track=False))


def test_seeded_fits_are_reproducible(data):
    def run(seed):
        model, guide = make_pair(data)
        fit(model, guide, data.x, "elbo", epochs=2, batch_size=5, lr=0.05, seed=seed)
        return snapshot(model, guide)

    first, again, other = run(3), run(3), run(4)
    assert_same(first, again)
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


# --------------------------------------------------------------------------------------------
# Maximum likelihood.
# --------------------------------------------------------------------------------------------


def test_fit_max_likelihood_reaches_a_stationary_point():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        data = gmm_toy(n=100, seed=0)
        rbm = GaussianRBM.from_centres(data.centres, data.sigma)
        params = list(rbm.parameters())

        def value_and_grad_norm():
            value = log_marginal(rbm, data.x).mean()
            grads = torch.autograd.grad(value, params)
            return value.item(), torch.cat([g.flatten() for g in grads]).norm().item()

        start, start_grad = value_and_grad_norm()
        result = fit_max_likelihood(rbm, data.x)
        end, end_grad = value_and_grad_norm()
    finally:
        torch.set_default_dtype(old)
    assert end == pytest.approx(result, rel=1e-12)
    assert end >= start + 0.5  # it climbed (the centres of E1 are far from an RBM's)
    assert start_grad > 0.1
    assert end_grad < 1e-4


@pytest.mark.parametrize("options, message", [
    ({"max_iter": 0}, "max_iter must be a positive int"),
    ({"max_iter": 2.5}, "max_iter must be a positive int"),
    ({"tolerance": -1.0}, "tolerance must be a finite number ≥ 0"),
    ({"tolerance": float("nan")}, "tolerance must be a finite number ≥ 0"),
])
def test_fit_max_likelihood_refuses_bad_settings(data, options, message):
    """max_iter=0 once returned the starting log-likelihood as the maximum."""
    rbm = GaussianRBM.from_centres(data.centres, data.sigma)
    with pytest.raises(ConfigError, match=message):
        fit_max_likelihood(rbm, data.x, **options)


def test_fit_max_likelihood_needs_a_latent_it_can_sum_over():
    x = torch.randn(10, 4)
    with pytest.raises(ConfigError, match="fit_max_likelihood sums over the latent of .*cannot be enumerated"):
        fit_max_likelihood(LinearVAE(4, 2), x)


def test_data_of_another_dtype_is_a_data_error():
    model, guide, x = e1_pair(16, seed=0)
    with pytest.raises(DataError, match=r"x has dtype torch.float64 but GaussianMixture_\d+ has parameters of dtype torch.float32"):
        fit(model, guide, x.double(), "enum", steps=1)


# --------------------------------------------------------------------------------------------
# Compiling by default: the library's own models and guides, long runs, compiled objectives.
# --------------------------------------------------------------------------------------------


def _compiled(model, guide, x, **options) -> bool:
    return fit(model, guide, x, **{"objective": "enum", "steps": 1, "seed": 0, **options}).compiled


def test_fit_compiles_the_librarys_own_pair_for_long_runs(data):
    model, guide = make_pair(data)
    assert _compiles_by_default("enum", "standard", model, guide, JIT_MIN_STEPS)
    assert not _compiles_by_default("enum", "standard", model, guide, JIT_MIN_STEPS - 1)
    assert not _compiles_by_default("disarm", "standard", model, guide, JIT_MIN_STEPS)
    assert not _compiles_by_default("iwae", "dreg", model, guide, JIT_MIN_STEPS)
    assert not _compiles_by_default("enum", "standard", lambda x: model(x), guide, JIT_MIN_STEPS)
    assert fit(model, guide, data.x, "enum", steps=JIT_MIN_STEPS, lr=1e-3, seed=0).compiled


def test_fit_compiles_tracegraph_by_default_only_without_score_function_sites(data):
    """TraceGraph_ELBO's baselines for score-function sites live in the param store, outside a
    trace: E1's discrete guide runs uncompiled, a Gaussian guide compiled."""
    model, guide = make_pair(data)
    assert score_function_sites(guide, data.x[:8]) == ["z"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback warning: not compiled at all
        assert not fit(model, guide, data.x, "tracegraph", steps=JIT_MIN_STEPS, batch_size=8, seed=0).compiled
        assert fit(LinearVAE(2, 1), LinearGaussian(2, 1), data.x, "tracegraph", steps=JIT_MIN_STEPS,
                   batch_size=8, seed=0).compiled


def test_fit_jit_option_overrides_the_default(data):
    model, guide = make_pair(data)
    assert not _compiled(model, guide, data.x)
    assert _compiled(model, guide, data.x, jit=True)
    assert _compiled(lambda x: model(x), guide, data.x, jit=True)  # a user's function: on request
    assert not _compiled(model, guide, data.x, jit=False, steps=JIT_MIN_STEPS)


@pytest.mark.parametrize("jit", [1, "yes"])
def test_fit_refuses_a_jit_that_is_not_a_bool(data, jit):
    model, guide = make_pair(data)
    with pytest.raises(ConfigError, match="jit must be True, False or None"):
        fit(model, guide, data.x, "enum", steps=1, jit=jit)


def test_fit_does_not_compile_by_default_what_is_not_the_librarys_own_code(data):
    from pyro_vae.guides import DiagonalGaussian
    from pyro_vae.models import VAE1

    model, guide = make_pair(data)
    assert not _compiles_by_default("enum", "standard", model, guide, JIT_MIN_STEPS, freeze=(model,))
    vae, gaussian = VAE1(2, 2, hidden=(4,)), DiagonalGaussian(2, 2, hidden=(4,))
    assert _compiles_by_default("elbo", "standard", vae, gaussian, JIT_MIN_STEPS)
    gaussian.input_transform = lambda x: x if x.abs().max() < 3 else x / 3  # a user's branch on values
    assert not _compiles_by_default("elbo", "standard", vae, gaussian, JIT_MIN_STEPS)
    vae.decoder.append(_UserLayer())
    assert not _compiles_by_default("elbo", "standard", vae, DiagonalGaussian(2, 2, hidden=(4,)), JIT_MIN_STEPS)


class _UserLayer(nn.Module):
    def forward(self, h):
        return h


def test_jit_with_a_frozen_guide_runs_and_keeps_the_guide(data):
    """Pyro's traces fail on parameters frozen after registration: the step falls back."""
    from pyro_vae.guides import DiagonalGaussian
    from pyro_vae.models import VAE1

    torch.manual_seed(0)
    vae, gaussian, x = VAE1(2, 2, hidden=(4,)), DiagonalGaussian(2, 2, hidden=(4,)), torch.randn(30, 2)
    fit(vae, gaussian, x, "elbo", steps=2, seed=0, jit=False)  # registers the parameters
    before = snapshot(gaussian)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit(vae, gaussian, x, "elbo", steps=3, lr=0.01, seed=0, jit=True, freeze=[gaussian])
    assert_same(snapshot(gaussian), before)


def test_shared_optimiser_leaves_parameters_that_drop_out_of_a_step():
    used, dropped = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    optimiser = make_optimiser("adam", lr=0.1)
    for step in range(5):
        params = [used, dropped] if step < 2 else [used]
        for p in params:
            p.grad = torch.ones(2)
        optimiser(params)
        for p in (used, dropped):
            p.grad = None  # as fit does
        if step == 1:
            kept = dropped.detach().clone()
    assert torch.equal(dropped.detach(), kept) and not torch.equal(used.detach(), kept)


def test_fit_with_nothing_to_train_leaves_everything(data):
    model, guide = make_pair(data)
    before = snapshot(model, guide)
    fit(model, guide, data.x, "enum", steps=2, freeze=[model, guide])
    assert_same(snapshot(model, guide), before)


def test_freeze_given_as_a_generator_still_freezes(data):
    model, guide = make_pair(data, learn_sigma=True)
    before = snapshot(model)
    fit(model, guide, data.x, "enum", steps=3, lr=0.1, freeze=(m for m in [model]))
    assert_same(snapshot(model), before)


@pytest.mark.parametrize("options, message", [
    ({"evaluate": dict}, "evaluate_every= and evaluate= go together"),
    ({"evaluate_every": 2}, "evaluate_every= and evaluate= go together"),
    ({"checkpoint_every": 1}, "checkpoint_every= needs a checkpoint= file"),
    ({"freeze": [nn.Linear(2, 2)]}, "is neither the model .*, the guide .*, nor a part of them"),
    ({"freeze": "model"}, r"freeze: expected a list of modules, e.g. freeze=\[GaussianMixture"),
    ({"optimizer": pyro.optim.Adam({"lr": 1e-3}), "lr": 10.0}, "lr=10.0 would be unused: .*PyroOptim"),
    ({"evaluate": 3.0, "evaluate_every": 1}, "evaluate must be a callable returning a dict of numbers, got float"),
])
def test_settings_that_would_be_ignored_are_refused_before_training(data, options, message):
    """Nothing passed to ``fit`` is silently dropped: a setting without its partner is an error."""
    model, guide = make_pair(data)
    options = {k: model if v == "model" else v for k, v in options.items()}
    before = snapshot(model, guide)
    with pytest.raises(ConfigError, match=message):
        fit(model, guide, data.x, "enum", steps=3, **options)
    assert_same(snapshot(model, guide), before)


def test_an_evaluation_that_is_not_a_dict_is_named(data):
    model, guide = make_pair(data)
    with pytest.raises(ConfigError, match=r"evaluate\(\) must return a dict of numbers, returned float at step 2"):
        fit(model, guide, data.x, "enum", steps=3, evaluate=lambda: 3.0, evaluate_every=2)


def test_meanfield_with_a_guide_that_cannot_be_reparameterised_is_refused_before_training(data):
    model, guide = make_pair(data)
    before = snapshot(model, guide)
    with pytest.raises(ConfigError, match=r"meanfield .* samples \['z'\] without: use elbo, tracegraph or enum"):
        fit(model, guide, data.x, "meanfield", steps=3)
    assert_same(snapshot(model, guide), before)


@pytest.mark.parametrize("model, guide", [(None, "guide"), ("model", None), ("model", "a string")])
def test_a_model_or_guide_that_is_not_callable_is_named(data, model, guide):
    pair = dict(zip(("model", "guide"), make_pair(data)))
    model, guide = (pair.get(v, v) for v in (model, guide))
    with pytest.raises(PairingError, match=r"the (model|guide) must be a Pyro (model|guide), a callable"):
        fit(model, guide, data.x, "enum", steps=1)


def test_freezing_a_part_of_the_guide_is_allowed(data):
    model, guide = make_pair(data)
    first = next(m for m in guide.modules() if isinstance(m, nn.Linear))
    before = [p.detach().clone() for p in first.parameters()]
    fit(model, guide, data.x, "enum", steps=3, lr=0.1, freeze=[first])
    assert_same(list(first.parameters()), before)


def test_factors_in_the_guide_are_not_observations(data):
    """``pyro.factor`` in a guide (a Jacobian term, say) is allowed; a model may score the data
    with ``pyro.factor`` alone."""
    model, guide = make_pair(data)

    def guide_with_factor(x):
        pyro.factor("jacobian", torch.zeros(()), has_rsample=True)
        return guide(x)

    def model_by_factor(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", model.prior)
            pyro.factor("x", model.likelihood(z).log_prob(x))

    exact = make_objective("enum")
    reference = exact.loss(model, guide, data.x)  # the data observed at "x", no factor anywhere
    assert exact.loss(model, guide_with_factor, data.x) == pytest.approx(reference, rel=1e-6)  # a zero factor
    assert exact.loss(model_by_factor, guide, data.x) == pytest.approx(reference, rel=1e-6)  # the same score
    assert fit(model, guide_with_factor, data.x, "enum", steps=2).steps == [1, 2]
    assert fit(model_by_factor, guide, data.x, "enum", steps=2).steps == [1, 2]


def test_numpy_settings_train_and_resume_from_their_checkpoint(data, tmp_path):
    """NumPy counts and numbers are taken as Python ones: the run compiles (or not) as with ints,
    and its checkpoint, which records the settings, loads again."""
    settings = dict(steps=np.int64(4), batch_size=np.int64(8), lr=np.float32(0.05), beta=np.float64(1.0),
                    num_particles=np.int64(1), seed=np.int64(1), checkpoint=tmp_path / "run.pt")
    model, guide = make_pair(data)
    first = fit(model, guide, data.x, "enum", **settings)
    again = fit(model, guide, data.x, "enum", **settings)  # the finished run, read back from its file
    assert first.steps == again.steps == [1, 2, 3, 4]
    assert again.elbo == first.elbo
