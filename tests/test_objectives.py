"""Tests of ``pyro_vae.objectives``: every named objective against an independent computation.

The reference is the E1 pair of seed 000 §4.1 — a 4-code Gaussian mixture with a factorised
Bernoulli guide over 2 bits — whose exact ELBO is written here by hand in plain torch:
``q(z | x) = Π_j sigmoid(±g_j(x))`` over the codes (bits most significant first) and
``log p(x, z) = log 1/4 + log N(x | θ_z, σ² I)``. Monte-Carlo objectives are compared with it
within 3 standard errors, the standard errors being measured from independent repetitions.
"""

from __future__ import annotations

import math
import warnings
from statistics import NormalDist

import numpy as np
import pyro
import pytest
import torch
from conftest import e1_log_joint, e1_log_lik, e1_log_q, e1_pair
from pyro import poutine
from pyro_vae.guides import DiagonalGaussian
from pyro_vae.models import VAE1

from pyro_vae import fit
from pyro_vae.errors import ConfigError
from pyro_vae.objectives import BASELINE_PREFIX, OBJECTIVES, make_objective
from pyro_vae.objectives.meanfield import JitMeanField

N = 20  # data points
BITS = 2


pytestmark = pytest.mark.usefixtures("float64")


@pytest.fixture
def pair():
    """The E1 model with its true centres, an untrained small guide, and N data points."""
    return e1_pair(N, seed=0)


# --------------------------------------------------------------------------------------------
# Hand-written references (plain torch, no Pyro).
# --------------------------------------------------------------------------------------------


hand_log_q, hand_log_lik, hand_log_joint = e1_log_q, e1_log_lik, e1_log_joint


def hand_elbo(model, guide, x, beta: float = 1.0):
    """``Σ_x E_q log p(x|z) − β KL(q(z|x) ‖ p(z))``, summed over the data points."""
    log_q = hand_log_q(guide, x)
    q = log_q.exp()
    expected_log_lik = (q * hand_log_lik(model, x)).sum()
    kl = (q * (log_q - math.log(1 / 4))).sum()
    return expected_log_lik - beta * kl


def hand_log_marginal(model, x):
    return torch.logsumexp(hand_log_joint(model, x), -1).sum()


def repeated(fn, times: int, seed: int = 0) -> torch.Tensor:
    """``times`` independent evaluations of ``fn()`` after one seeding."""
    pyro.set_rng_seed(seed)
    return torch.tensor([fn() for _ in range(times)])


def mean_and_se(values: torch.Tensor) -> tuple[float, float]:
    return values.mean(0), values.std(0) / math.sqrt(values.shape[0])


def assert_within_se(mean, se, exact, k: float = 3.0):
    """``|mean − exact| ≤ k·se`` (componentwise, with a Bonferroni correction of the k-SE
    two-sided level over the components so that the family of checks has the level of one)."""
    mean, se, exact = (torch.as_tensor(t, dtype=torch.float64) for t in (mean, se, exact))
    d = mean.numel()
    alpha = 2 * (1 - NormalDist().cdf(k))
    z = NormalDist().inv_cdf(1 - alpha / (2 * d)) if d > 1 else k
    err = (mean - exact).abs()
    bad = err > z * se + 1e-9
    assert not bad.any(), (
        f"{int(bad.sum())} of {d} components differ by more than {z:.2f} SE: "
        f"mean {mean[bad]}, exact {exact[bad]}, se {se[bad]}"
    )


# --------------------------------------------------------------------------------------------
# Values.
# --------------------------------------------------------------------------------------------


def test_enum_loss_equals_hand_written_enumeration(pair):
    model, guide, x = pair
    loss = make_objective("enum").loss(model, guide, x)
    with torch.no_grad():
        expected = -hand_elbo(model, guide, x).item()
    assert loss == pytest.approx(expected, rel=1e-10)


def test_hand_written_q_matches_guide_posterior(pair):
    """The hand-written bit product is the guide's own code distribution (MSB first)."""
    _, guide, x = pair
    with torch.no_grad():
        torch.testing.assert_close(guide.posterior(x).logits, hand_log_q(guide, x))


@pytest.mark.parametrize("name,times", [("elbo", 20), ("tracegraph", 15)])
def test_monte_carlo_loss_agrees_with_exact(pair, name, times):
    model, guide, x = pair
    objective = make_objective(name, num_particles=200)
    values = repeated(lambda: objective.loss(model, guide, x), times=times)
    mean, se = mean_and_se(values)
    assert se > 0
    with torch.no_grad():
        exact = -hand_elbo(model, guide, x).item()
    assert_within_se(mean, se, exact)


def test_iwae_is_log_mean_exp_of_the_same_samples(pair):
    model, guide, x = pair
    k = 7
    traced_guide = poutine.trace(guide)  # records the K × n codes the bound used
    pyro.set_rng_seed(1)
    loss = make_objective("iwae", num_particles=k).loss(model, traced_guide, x)
    z = traced_guide.trace.nodes["z"]["value"]
    assert z.numel() == k * N
    z = z.reshape(k, N)  # particles lead, data points last (Pyro may add a singleton between)
    with torch.no_grad():
        rows = torch.arange(N).expand(k, N)
        log_w = hand_log_joint(model, x)[rows, z] - hand_log_q(guide, x)[rows, z]
        bound = (torch.logsumexp(log_w, 0) - math.log(k)).sum().item()
    assert -loss == pytest.approx(bound, rel=1e-10)


def test_iwae_same_seed_same_samples_without_tracing(pair):
    """Seeding identically reproduces the bound: it is a deterministic function of the RNG."""
    model, guide, x = pair
    objective = make_objective("iwae", num_particles=5)
    pyro.set_rng_seed(2)
    a = objective.loss(model, guide, x)
    pyro.set_rng_seed(2)
    b = objective.loss(model, guide, x)
    assert a == b


def test_iwae_with_one_particle_is_the_elbo(pair):
    model, guide, x = pair
    iwae = make_objective("iwae", num_particles=1)
    values = repeated(lambda: iwae.loss(model, guide, x), times=150)
    mean, se = mean_and_se(values)
    with torch.no_grad():
        exact = -hand_elbo(model, guide, x).item()
    assert_within_se(mean, se, exact)
    # Documented: with K = 1 the value equals Trace_ELBO's on the same sample.
    pyro.set_rng_seed(3)
    a = iwae.loss(model, guide, x)
    pyro.set_rng_seed(3)
    b = make_objective("elbo").loss(model, guide, x)
    assert a == pytest.approx(b, rel=1e-12)


def test_iwae_with_one_particle_is_the_beta_elbo(pair):
    """β scales each latent log-density once: L_1 with β = 2 is the β-ELBO, value and gradient."""
    model, guide, x = pair
    iwae = make_objective("iwae", num_particles=1, beta=2.0)
    mean, se = mean_and_se(repeated(lambda: iwae.loss(model, guide, x), times=300))
    with torch.no_grad():
        exact = -hand_elbo(model, guide, x, beta=2.0).item()
    assert_within_se(mean, se, exact)
    params = [p for group in _parameters(model, guide).values() for p in group]
    exact_grad = _gradient(make_objective("enum", beta=2.0), model, guide, x, params)
    pyro.set_rng_seed(5)
    grads = torch.stack([_gradient(iwae, model, guide, x, params) for _ in range(400)])
    mean_grad, se_grad = mean_and_se(grads)
    assert_within_se(mean_grad, se_grad, exact_grad)


def test_iwae_approaches_log_likelihood_from_below(pair):
    """``elbo < L_5 < L_200 ≤ log p(x)``, and ``L_200`` is within 1 % of the gap of ``log p(x)``.

    The guide is made uniform over the codes (last layer zeroed), so every importance weight
    is at most 4 p(x) and the bounds have light tails: a few repetitions give a reliable SE.
    """
    model, guide, x = pair
    with torch.no_grad():
        guide.encoder[-1].weight.zero_()
        guide.encoder[-1].bias.zero_()
        log_lik = hand_log_marginal(model, x).item()
        elbo = hand_elbo(model, guide, x).item()
    bounds = {}
    for k in (5, 200):
        iwae = make_objective("iwae", num_particles=k)
        bounds[k] = mean_and_se(-repeated(lambda: iwae.loss(model, guide, x), times=15))
    (b5, se5), (b200, se200) = bounds[5], bounds[200]
    assert log_lik - elbo > 10  # a poor guide: the bounds have room to tighten
    assert b200 <= log_lik + 3 * se200  # a lower bound
    assert b5 <= log_lik + 3 * se5
    assert elbo < b5 < b200  # monotone in K
    assert log_lik - b200 < 0.01 * (log_lik - elbo)  # and close to log p(x) for large K


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_beta_weights_the_kl_term(pair, beta):
    model, guide, x = pair
    loss = make_objective("enum", beta=beta).loss(model, guide, x)
    with torch.no_grad():
        expected = -hand_elbo(model, guide, x, beta=beta).item()
        plain = -hand_elbo(model, guide, x).item()
    assert loss == pytest.approx(expected, rel=1e-10)
    assert abs(expected - plain) > 1e-3  # β really changes the value


# --------------------------------------------------------------------------------------------
# Gradients.
# --------------------------------------------------------------------------------------------


def _parameters(model, guide):
    return {"encoder": list(guide.encoder.parameters()), "decoder": [model.decoder.weight]}


def _gradient(objective, model, guide, x, params) -> torch.Tensor:
    for p in params:
        p.grad = None
    objective.loss_and_grads(model, guide, x)
    grads = [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]
    for p in params:
        p.grad = None
    return torch.cat([g.flatten() for g in grads])


def test_enum_gradient_equals_hand_written_gradient(pair):
    model, guide, x = pair
    for group, params in _parameters(model, guide).items():
        got = _gradient(make_objective("enum"), model, guide, x, params)
        expected = torch.autograd.grad(-hand_elbo(model, guide, x), params)
        expected = torch.cat([g.flatten() for g in expected])
        assert expected.abs().max() > 1e-2, group
        torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name,beta,times", [("elbo", 1.0, 30), ("tracegraph", 1.0, 25), ("elbo", 2.0, 30)])
def test_score_function_gradients_are_unbiased(pair, name, beta, times):
    """Mean Monte-Carlo gradient over repetitions = the exact (enumerated) gradient ± 3 SE."""
    model, guide, x = pair
    params = [p for group in _parameters(model, guide).values() for p in group]
    exact = _gradient(make_objective("enum", beta=beta), model, guide, x, params)
    objective = make_objective(name, num_particles=400, beta=beta)
    pyro.set_rng_seed(4)
    samples = torch.stack([_gradient(objective, model, guide, x, params) for _ in range(times)])
    mean, se = mean_and_se(samples)
    n_enc = sum(p.numel() for p in _parameters(model, guide)["encoder"])
    for part in (slice(0, n_enc), slice(n_enc, None)):  # encoder, then decoder
        # the check has power: a gradient missing its score-function term would be caught
        assert (exact[part].abs() / se[part].clamp_min(1e-12)).max() > 20
        assert_within_se(mean[part], se[part], exact[part])


# --------------------------------------------------------------------------------------------
# Configuration errors.
# --------------------------------------------------------------------------------------------


def test_every_listed_objective_is_constructed():
    for name in OBJECTIVES:
        assert isinstance(make_objective(name), pyro.infer.ELBO)


def test_unknown_objective_is_rejected():
    with pytest.raises(ConfigError, match=r"unknown objective 'renyi'.*elbo"):
        make_objective("renyi")


@pytest.mark.parametrize("num_particles", [0, -3, 2.5, True])
def test_bad_num_particles_is_rejected(num_particles):
    with pytest.raises(ConfigError, match=r"num_particles must be a positive int"):
        make_objective("elbo", num_particles=num_particles)


@pytest.mark.parametrize("beta", [0, 0.0, -1.0, float("nan"), float("inf"), True, "0.5"])
def test_non_positive_beta_is_rejected(beta):
    with pytest.raises(ConfigError, match=r"beta must be a positive finite number"):
        make_objective("enum", beta=beta)


def test_numpy_scalars_are_accepted_as_settings():
    objective = make_objective("elbo", num_particles=np.int64(3), beta=np.float32(0.5))
    assert objective.num_particles == 3


def hand_iwae_bound_two_particles(model, guide, x):
    """``E_{z1, z2 ~ q} log ½ (w(z1) + w(z2))`` summed over x: an exact sum over the 4 × 4 pairs."""
    log_q = hand_log_q(guide, x)
    log_w = hand_log_joint(model, x) - log_q
    q = log_q.exp()
    pair_bound = torch.logaddexp(log_w[:, :, None], log_w[:, None, :]) - math.log(2)
    return (q[:, :, None] * q[:, None, :] * pair_bound).sum()


def test_iwae_gradient_is_unbiased(pair):
    """The VIMCO estimator of ``iwae`` (K = 2) against the exact gradient of the K = 2 bound.

    The data are repeated 25 times, so one evaluation averages many independent particle pairs.
    """
    model, guide, x = pair
    x = x.repeat(20, 1)
    params = [p for group in _parameters(model, guide).values() for p in group]
    exact = torch.autograd.grad(-hand_iwae_bound_two_particles(model, guide, x), params)
    exact = torch.cat([g.flatten() for g in exact])
    with torch.no_grad():  # the K = 2 bound is tighter than the ELBO: a different target
        assert hand_iwae_bound_two_particles(model, guide, x) > hand_elbo(model, guide, x) + 1
    objective = make_objective("iwae", num_particles=2)
    pyro.set_rng_seed(5)
    samples = torch.stack([_gradient(objective, model, guide, x, params) for _ in range(30)])
    mean, se = mean_and_se(samples)
    n_enc = sum(p.numel() for p in _parameters(model, guide)["encoder"])
    for part in (slice(0, n_enc), slice(n_enc, None)):
        assert (exact[part].abs() / se[part].clamp_min(1e-12)).max() > 20
        assert_within_se(mean[part], se[part], exact[part])


@pytest.mark.parametrize("family", ["gaussian", "bernoulli", "poisson"])
@pytest.mark.parametrize("name", ["meanfield", "elbo"])
def test_beta_weights_the_kl_term_of_edf_vaes(family, name):
    """β-VAEs of seed 003 for each EDF: with the same draws, loss(β) − loss(1) = (β − 1) · KL
    (analytic for ``meanfield``, the sampled log q − log p for ``elbo``)."""
    import torch.distributions as td

    from pyro_vae import families, guides, models

    observation = {"gaussian": families.Gaussian(0.5), "bernoulli": families.Bernoulli(),
                   "poisson": families.Poisson()}[family]
    pyro.set_rng_seed(0)
    model, guide = models.EDFVAE(observation, 6, 2, hidden=(8,)), guides.SharedTrunkGaussian(6, 2, (8, 8))
    x = torch.randint(0, 2, (20, 6)).to(torch.get_default_dtype())

    def loss(beta):
        pyro.set_rng_seed(1)
        return make_objective(name, beta=beta).loss(model, guide, x)

    pyro.set_rng_seed(1)
    trace = poutine.trace(guide).get_trace(x)
    q = trace.nodes["z"]["fn"]
    if name == "meanfield":
        kl = td.kl_divergence(q, model.prior).sum().item()
    else:
        z = trace.nodes["z"]["value"]
        kl = (q.log_prob(z) - model.prior.log_prob(z)).sum().item()
    assert loss(3.0) - loss(1.0) == pytest.approx(2.0 * kl, rel=1e-5)


# --------------------------------------------------------------------------------------------
# jit=True: Pyro's compiled ELBOs, one trace per data shape.
# --------------------------------------------------------------------------------------------


def _trained(jit: bool, objective: str, beta: float, estimator: str = "standard"):
    """A short seeded fit of a small VAE-1 with mini-batches of 12 and 8 rows."""
    pyro.clear_param_store()
    torch.manual_seed(1)
    model, guide, x = VAE1(5, 2, hidden=(7,)), DiagonalGaussian(5, 2, hidden=(7,)), torch.randn(20, 5)
    fit(model, guide, x, objective, steps=6, batch_size=12, lr=0.01, num_particles=3, beta=beta, jit=jit,
        estimator=estimator, seed=0)
    return [p.detach().clone() for m in (model, guide) for p in m.parameters()]


@pytest.mark.parametrize("objective,beta,estimator", [("elbo", 1.0, "standard"), ("elbo", 2.0, "standard"),
                                                      ("meanfield", 1.0, "standard"), ("meanfield", 2.0, "standard"),
                                                      ("tracegraph", 1.0, "standard"),
                                                      ("iwae", 1.0, "standard"), ("iwae", 0.5, "stl")])
def test_jit_training_follows_the_uncompiled_one(objective, beta, estimator):
    """Same seed, same draws: the compiled objective takes the uncompiled one's steps, across
    the two mini-batch shapes (12 and 8 rows), so each shape has its own trace."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback: the traces are used
        compiled_run = _trained(True, objective, beta, estimator)
    for compiled, eager in zip(compiled_run, _trained(False, objective, beta, estimator)):
        torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-8)


def test_jit_enum_on_the_e1_pair_equals_the_hand_written_exact_elbo(pair):
    model, guide, x = pair
    objective = make_objective("enum", jit=True)
    for rows in (x, x[:7]):
        value = objective.differentiable_loss(model, guide, rows).item()  # the compiled trace
        assert value == pytest.approx(-hand_elbo(model, guide, rows).sum().item(), rel=1e-10)
    assert [type(o) for o in objective._by_shape.values()] == [pyro.infer.JitTraceEnum_ELBO] * 2


def test_jit_falls_back_with_a_warning_when_tracing_fails(pair):
    model, guide, x = pair

    def untraceable_model(x):
        if torch.jit.is_tracing():
            raise RuntimeError("this model refuses to be traced")
        return model(x)

    objective = make_objective("enum", jit=True)
    with pytest.warns(RuntimeWarning, match="not compiling 'enum'.*refuses to be traced.*uncompiled"):
        value = objective.differentiable_loss(untraceable_model, guide, x).item()
    assert value == pytest.approx(-hand_elbo(model, guide, x).sum().item(), rel=1e-10)
    assert not objective.compiled


@pytest.mark.parametrize("name", ["elbo", "meanfield", "tracegraph"])
@pytest.mark.parametrize("jit", [False, True])
def test_a_model_without_arguments_trains(name, jit):
    """As with Pyro's own ELBOs, model and guide need not take data (``svi.step()``)."""
    pyro.clear_param_store()

    def model():
        pyro.sample("z", pyro.distributions.Normal(0.0, 1.0))

    def guide():
        pyro.sample("z", pyro.distributions.Normal(pyro.param("loc", torch.tensor(0.5)), 1.0))

    objective = make_objective(name, jit=jit)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), objective)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a compiled objective keeps its trace
        assert math.isfinite(svi.step())
    assert pyro.param("loc").item() != 0.5  # the step moved it
    assert getattr(objective, "compiled", False) == jit


def test_jit_for_an_objective_without_a_compiled_form_is_a_config_error():
    with pytest.raises(ConfigError, match="jit=True: 'disarm' has no compiled form"):
        make_objective("disarm", jit=True)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated:DeprecationWarning")
def test_jit_meanfield_keeps_its_first_trace():
    """pyro-ppl 1.9.2's JitTraceMeanField_ELBO traces anew on every call; ours traces once and
    then draws what the uncompiled objective draws under the same seed."""
    torch.manual_seed(1)
    model, guide, x = VAE1(5, 2, hidden=(7,)), DiagonalGaussian(5, 2, hidden=(7,)), torch.randn(20, 5)
    compiled, eager = JitMeanField(num_particles=3, vectorize_particles=True, max_plate_nesting=1), \
        pyro.infer.TraceMeanField_ELBO(num_particles=3, vectorize_particles=True, max_plate_nesting=1)
    compiled.differentiable_loss(model, guide, x)  # traces
    trace = compiled._differentiable_loss
    for seed in (2, 3):
        values = []
        for objective in (compiled, eager):
            pyro.set_rng_seed(seed)
            values.append(objective.differentiable_loss(model, guide, x).item())
        assert values[0] == pytest.approx(values[1], rel=1e-6)
    assert compiled._differentiable_loss is trace and len(trace.compiled) == 1


def test_jit_tracegraph_with_score_function_sites_runs_uncompiled_with_a_warning(pair):
    """Pyro updates TraceGraph_ELBO's decaying-average baselines in the param store, which a
    trace would freeze: a guide with discrete latents is not compiled."""
    model, guide, x = pair
    objective = make_objective("tracegraph", 2, jit=True)
    with pytest.warns(RuntimeWarning, match=r"not compiling 'tracegraph'.*score-function sites \(z\)"):
        objective.loss_and_grads(model, guide, x)
    assert not objective.compiled
    assert any(name.startswith(BASELINE_PREFIX) for name in pyro.get_param_store().keys())


def test_jit_with_the_dreg_estimator_is_a_config_error():
    with pytest.raises(ConfigError, match="jit=True: the dreg estimator"):
        make_objective("iwae", 5, estimator="dreg", jit=True)


def test_jit_iwae_with_discrete_latents_equals_the_uncompiled_on_the_same_draws(pair):
    model, guide, x = pair
    compiled, eager = make_objective("iwae", 4, jit=True), make_objective("iwae", 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        compiled.differentiable_loss(model, guide, x)  # traced and checked
    values = []
    for objective in (compiled, eager):
        pyro.set_rng_seed(7)
        values.append(objective.differentiable_loss(model, guide, x).item())
    assert values[0] == pytest.approx(values[1], rel=1e-10)
