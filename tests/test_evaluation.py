"""Tests of ``pyro_vae.evaluation`` against hand-written references.

Discrete case: the E1 mixture of seed 000 §4.1 with a factorised Bernoulli guide, whose
log-likelihood, ELBO and posterior are written out in plain torch over the 4 codes.
Continuous case: a linear-Gaussian model (pPCA with one latent dimension), whose marginal
``N(x; b, W Wᵀ + σ² I)`` and posterior are known in closed form, with a Gaussian guide whose
latent family is written here as a :class:`~pyro_vae.families.Family` subclass.
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import e1_log_joint, e1_log_lik, e1_log_q, e1_pair
from pyro_vae.guides import AmortisedGuide, ExactPosterior
from pyro_vae.models import ExponentialFamilyVAE, GaussianMixture
from torch import nn

from pyro_vae import evaluation
from pyro_vae.enumeration import latent_is_enumerable
from pyro_vae.errors import ConfigError, DataError, PairingError
from pyro_vae.evaluation import (
    approximation_error,
    elbo,
    elbo_per_point,
    evaluate,
    log_likelihood,
    log_likelihood_per_point,
    tightness_gap,
)
from pyro_vae.families import Family, Gaussian
from pyro_vae.objectives import make_objective
from pyro_vae.objectives.iwae import log_importance_weights
from pyro_vae.validation import check_inputs

N = 30


pytestmark = pytest.mark.usefixtures("float64")


@pytest.fixture
def pair():
    """The E1 model with its true centres, an untrained small guide, and N data points."""
    return e1_pair(N, seed=1)


# --------------------------------------------------------------------------------------------
# Hand-written references for the mixture (plain torch).
# --------------------------------------------------------------------------------------------


hand_log_joint, hand_log_q = e1_log_joint, e1_log_q


def hand_log_lik(model, x):
    """Mixture log-density per point: ``logsumexp_z log p(x, z)``."""
    return torch.logsumexp(hand_log_joint(model, x), -1)


def hand_elbo(model, guide, x):
    log_q = hand_log_q(guide, x)
    return (log_q.exp() * (hand_log_joint(model, x) - log_q)).sum(-1)


def hand_kl_to_posterior(model, guide, x):
    """``KL(q(z|x) ‖ p(z|x))`` per point, over the 4 codes."""
    log_q = hand_log_q(guide, x)
    log_post = hand_log_joint(model, x) - hand_log_lik(model, x)[:, None]
    return (log_q.exp() * (log_q - log_post)).sum(-1)


# --------------------------------------------------------------------------------------------
# Discrete latent: exact measurements.
# --------------------------------------------------------------------------------------------


def test_exact_log_likelihood_is_the_mixture_density(pair):
    model, _, x = pair
    est = log_likelihood(model, x)
    with torch.no_grad():
        expected = hand_log_lik(model, x)
    assert est.exact
    assert est.value == pytest.approx(expected.mean().item(), rel=1e-12)
    assert est.se == pytest.approx(expected.std().item() / math.sqrt(N), rel=1e-9)
    torch.testing.assert_close(log_likelihood_per_point(model, x), expected)


def test_exact_elbo_is_the_enum_loss(pair):
    model, guide, x = pair
    est = elbo(model, guide, x)
    loss = make_objective("enum").loss(model, guide, x)
    assert est.exact and est.se == 0.0
    assert est.value == pytest.approx(-loss / N, rel=1e-12)
    with torch.no_grad():
        assert est.value == pytest.approx(hand_elbo(model, guide, x).mean().item(), rel=1e-12)


def test_tightness_gap_is_likelihood_minus_elbo_and_mean_kl(pair):
    model, guide, x = pair
    gap = tightness_gap(model, guide, x)
    assert gap.exact
    ll, lb = log_likelihood(model, x).value, elbo(model, guide, x).value
    assert gap.value == pytest.approx(ll - lb, rel=1e-10)
    with torch.no_grad():
        kl = hand_kl_to_posterior(model, guide, x).mean().item()
    assert kl > 0.1  # an untrained guide: the gap is far from 0
    assert gap.value == pytest.approx(kl, rel=1e-10)


def test_exact_posterior_closes_the_gap(pair):
    model, _, x = pair
    exact = ExactPosterior(model)
    gap = tightness_gap(model, exact, x)
    assert abs(gap.value) < 1e-5
    assert elbo(model, exact, x).value == pytest.approx(log_likelihood(model, x).value, abs=1e-5)


def test_approximation_error_of_a_model_against_itself_is_zero(pair):
    model, _, x = pair
    err = approximation_error(model, model, x)
    assert err.value == 0.0
    assert err.se == 0.0


def test_approximation_error_is_the_likelihood_difference(pair):
    model, _, x = pair
    reference = GaussianMixture(model.centres * 1.3, model.sigma)
    err = approximation_error(model, reference, x)
    with torch.no_grad():
        expected = (hand_log_lik(reference, x) - hand_log_lik(model, x)).mean().item()
    assert abs(expected) > 1e-2
    assert err.value == pytest.approx(expected, rel=1e-10)


def test_evaluate_reports_the_same_numbers(pair):
    model, guide, x = pair
    out = evaluate(model, guide, x, reference=model)
    assert out["elbo"] == pytest.approx(elbo(model, guide, x).value, rel=1e-12)
    assert out["log_likelihood"] == pytest.approx(log_likelihood(model, x).value, rel=1e-12)
    assert out["tightness_gap"] == pytest.approx(out["log_likelihood"] - out["elbo"], rel=1e-10)
    assert out["approximation_error"] == 0.0


# --------------------------------------------------------------------------------------------
# Continuous latent: a linear-Gaussian model, importance-sampled log-likelihood.
# --------------------------------------------------------------------------------------------


class DiagonalNormal(Family):
    """A Gaussian latent family with predictor ``(mean, log std)`` — written for this test."""

    name = "diagonal_normal"

    def distribution(self, eta):
        return dist.Normal(eta[..., :1], eta[..., 1:].exp()).to_event(1)


SIGMA = 0.5
W = ((1.0,), (-0.7,))  # D = 2, H = 1
B = (0.3, -0.2)


def linear_gaussian(mean_scale: float = 1.0, std_scale: float = 1.0):
    """Model ``z ~ N(0, 1)``, ``x ~ N(W z + b, σ² I)`` and a linear Gaussian guide whose mean
    is ``mean_scale`` × the exact posterior mean and whose std is ``std_scale`` × the exact one."""
    w, b = torch.tensor(W), torch.tensor(B)
    decoder = nn.Linear(1, 2)  # depth 0
    with torch.no_grad():
        decoder.weight.copy_(w)
        decoder.bias.copy_(b)
    prior = dist.Normal(0.0, 1.0).expand([1]).to_event(1)
    model = ExponentialFamilyVAE(prior, decoder, Gaussian(SIGMA))
    # exact posterior: variance s² = 1 / (1 + |w|²/σ²), mean s² wᵀ(x − b)/σ²
    s2 = 1 / (1 + (w**2).sum() / SIGMA**2)
    encoder = nn.Linear(2, 2)
    with torch.no_grad():
        encoder.weight[0] = mean_scale * s2 * w[:, 0] / SIGMA**2
        encoder.bias[0] = -mean_scale * s2 * (w[:, 0] @ b) / SIGMA**2
        encoder.weight[1] = 0.0
        encoder.bias[1] = math.log(std_scale) + 0.5 * math.log(s2)
    guide = AmortisedGuide(DiagonalNormal(), encoder)
    return model, guide


def linear_gaussian_data(n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    w, b = torch.tensor(W), torch.tensor(B)
    return b + torch.randn(n, 1, generator=g) @ w.T + SIGMA * torch.randn(n, 2, generator=g)


def closed_form_log_lik(x):
    w, b = torch.tensor(W), torch.tensor(B)
    cov = w @ w.T + SIGMA**2 * torch.eye(2)
    return dist.MultivariateNormal(b, cov).log_prob(x)


def test_importance_sampling_with_the_exact_posterior_is_exact():
    """Every importance weight equals p(x): the estimate is exact for any K."""
    model, guide = linear_gaussian()
    x = linear_gaussian_data()
    pyro.set_rng_seed(0)
    est = log_likelihood(model, x, guide=guide, num_samples=50)
    assert not est.exact
    assert est.value == pytest.approx(closed_form_log_lik(x).mean().item(), abs=1e-9)


def test_importance_sampled_log_likelihood_matches_closed_form():
    model, guide = linear_gaussian(mean_scale=0.5, std_scale=1.5)
    x = linear_gaussian_data()
    exact = closed_form_log_lik(x).mean().item()
    values = []
    for seed in range(10):
        pyro.set_rng_seed(seed)
        values.append(log_likelihood(model, x, guide=guide, num_samples=2000).value)
    values = torch.tensor(values)
    mean, se = values.mean().item(), values.std().item() / math.sqrt(len(values))
    assert 0 < se < 0.01  # a real Monte-Carlo error, small enough to catch a wrong term
    assert abs(mean - exact) <= 3 * se


def test_chunk_size_does_not_change_the_estimate():
    model, guide = linear_gaussian(mean_scale=0.5, std_scale=1.5)
    x = linear_gaussian_data()
    by_chunk = {}
    for chunk in (100, 1000):
        runs = []
        for seed in range(12):
            pyro.set_rng_seed(seed)
            runs.append(log_likelihood_per_point(model, x, guide=guide, num_samples=2000, chunk_size=chunk).mean())
        by_chunk[chunk] = torch.stack(runs)
    a, b = by_chunk[100], by_chunk[1000]
    se_diff = math.sqrt((a.var() / len(a) + b.var() / len(b)).item())
    assert 0 < se_diff < 0.01
    assert abs(a.mean() - b.mean()).item() <= 3 * se_diff
    # each chunked estimate is also the closed form, up to the same Monte-Carlo error
    exact = closed_form_log_lik(x).mean().item()
    for runs in (a, b):
        assert abs(runs.mean().item() - exact) <= 3 * runs.std().item() / math.sqrt(len(runs))


def closed_form_elbo(guide, x):
    """``E_q log p(x | z) + E_q log p(z) + H[q]`` for a Gaussian q = N(m, v), per point."""
    w, b = torch.tensor(W), torch.tensor(B)
    eta = guide.encoder(x)
    m, v = eta[:, 0], (2 * eta[:, 1]).exp()
    fit = dist.Normal(b + m[:, None] * w[:, 0], SIGMA).log_prob(x).sum(-1)
    expected_log_lik = fit - (w**2).sum() * v / (2 * SIGMA**2)
    expected_log_prior = -0.5 * math.log(2 * math.pi) - (m**2 + v) / 2
    entropy = 0.5 * torch.log(2 * math.pi * math.e * v)
    return expected_log_lik + expected_log_prior + entropy


def test_monte_carlo_elbo_matches_closed_form_within_its_standard_error():
    model, guide = linear_gaussian(mean_scale=0.5, std_scale=1.5)
    x = linear_gaussian_data()
    with torch.no_grad():
        exact = closed_form_elbo(guide, x).mean().item()
    pyro.set_rng_seed(0)
    est = elbo(model, guide, x, num_samples=2000)
    assert not est.exact and 0 < est.se < 0.05
    assert abs(est.value - exact) <= 3 * est.se
    # with the exact posterior the ELBO is the log-likelihood and the gap vanishes
    model, guide = linear_gaussian()
    pyro.set_rng_seed(0)
    assert elbo(model, guide, x, num_samples=10).value == pytest.approx(
        closed_form_log_lik(x).mean().item(), abs=1e-9
    )
    assert abs(tightness_gap(model, guide, x, num_samples=10).value) < 1e-9


def test_evaluate_passes_likelihood_samples_to_the_importance_sampler(monkeypatch):
    """The ELBO takes ``num_samples`` particles, the importance-sampled log-likelihood
    ``likelihood_samples``: neither setting is dropped."""
    import pyro_vae.evaluation as evaluation

    model, guide = linear_gaussian(mean_scale=0.5, std_scale=1.5)
    x = linear_gaussian_data()
    drawn = []
    sampler = evaluation._importance_sampled
    monkeypatch.setattr(evaluation, "_importance_sampled",
                        lambda m, g, rows, k, chunk: drawn.append(k) or sampler(m, g, rows, k, chunk))
    evaluate(model, guide, x, reference=model, num_samples=5, likelihood_samples=70)
    tightness_gap(model, guide, x, num_samples=5, likelihood_samples=30)
    assert drawn == [70, 70, 30]


@pytest.mark.parametrize("call, message", [
    (lambda m, g, x: elbo(m, g, x.numpy()), "x: expected a torch.Tensor, got ndarray"),
    (lambda m, g, x: elbo(m, g, x.float()), "x has dtype torch.float32 but"),
    (lambda m, g, x: elbo(m, g, x.sum(-1)), r"shape \(num_points, \.\.\.\)"),
    (lambda m, g, x: log_likelihood(m, torch.full_like(x, math.nan), guide=g), "non-finite"),
    (lambda m, g, x: elbo(m, g, x, num_samples=0), "num_samples must be a positive int, got 0"),
    (lambda m, g, x: log_likelihood(m, x, guide=g, num_samples=-1), "num_samples must be a positive int"),
    (lambda m, g, x: evaluate(m, g, x, likelihood_samples=0), "likelihood_samples must be a positive int"),
])
def test_estimates_refuse_bad_input_as_fit_does(call, message):
    from pyro_vae.errors import PyroVAEError

    model, guide = linear_gaussian()
    with pytest.raises(PyroVAEError, match=message):
        call(model, guide, linear_gaussian_data())


def test_an_estimate_formats_as_its_value():
    from pyro_vae.evaluation import Estimate

    estimate = Estimate(-3.14159, 0.01, False)
    assert f"{estimate:.2f}" == "-3.14" and f"{estimate}" == str(estimate) and float(estimate) == -3.14159


def test_a_sampled_log_likelihood_checks_x_before_running_the_model(pair):
    model, guide, x = pair
    with pytest.raises(DataError, match="expected a torch.Tensor, got list"):
        log_likelihood(model, x.tolist(), guide=guide)
    with pytest.raises(DataError, match="at least one point"):
        log_likelihood(model, x[:0], guide=guide)


# --------------------------------------------------------------------------------------------
# Every measurement checks model, guide and data as fit does, before estimating anything.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("measure", [
    lambda m, g, x: elbo(m, g, x),
    lambda m, g, x: log_likelihood(m, x, guide=g),
    lambda m, g, x: tightness_gap(m, g, x),
    lambda m, g, x: evaluate(m, g, x),
])
@pytest.mark.parametrize("model_width, data_width", [(1, 5), (5, 1)])
def test_data_of_another_width_than_the_model_are_refused(measure, model_width, data_width):
    """A model built for rows of 1 value would broadcast its one mean over 5 columns, or one
    built for 5 would score a single column five times, and report a number."""
    from pyro_vae.guides import DiagonalGaussian
    from pyro_vae.models import VAE1

    model = VAE1(model_width, 2, hidden=(8,)).double()
    guide = DiagonalGaussian(data_width, 2, hidden=(8,)).double()
    x = torch.randn(16, data_width, generator=torch.Generator().manual_seed(0))
    with pytest.raises(PairingError, match=rf"scores rows of shape \({model_width},\), but the data have rows of "
                                           rf"shape \({data_width},\).*another width"):
        measure(model, guide, x)


@pytest.mark.parametrize("measure", [
    lambda m, g, x: elbo(g, m, x),
    lambda m, g, x: evaluate(g, m, x),
    lambda m, g, x: tightness_gap(g, m, x),
    lambda m, g, x: approximation_error(m, g, x),
])
def test_a_guide_in_the_place_of_a_model_is_refused(measure, pair):
    model, guide, x = pair
    with pytest.raises(PairingError, match="observes"):
        measure(model, guide, x)


def test_a_guide_of_another_latent_is_refused_by_the_measurements(pair):
    from pyro_vae.guides import FactorisedBernoulli

    model, _, x = pair
    three_bits = FactorisedBernoulli(input_dim=2, bits=3, hidden=(8,)).double()
    with pytest.raises(PairingError, match="does not match"):
        elbo(model, three_bits, x)
    with pytest.raises(ConfigError, match="needs a guide"):
        elbo(model, None, x)


def test_exact_must_be_a_bool_and_possible():
    model, guide = linear_gaussian()
    x = linear_gaussian_data()
    with pytest.raises(ConfigError, match="exact must be True, False or None"):
        elbo(model, guide, x, exact="yes")
    with pytest.raises(ConfigError, match="exact=True sums over the latent of .*cannot be enumerated"):
        elbo(model, guide, x, exact=True)  # a Gaussian latent: once a number above log p(x), marked exact
    with pytest.raises(ConfigError, match="exact=True sums over the latent"):
        log_likelihood(model, x, guide=guide, exact=True)


def test_a_likelihood_without_guide_says_the_latent_cannot_be_summed(float64):
    from pyro_vae.models import TextVAE

    from pyro_vae.documents import DocumentLength

    big = TextVAE(6, bits=14, depth=0, length=DocumentLength(torch.tensor(1.0), torch.tensor(0.5))).double()
    counts = torch.tensor([[1.0, 0, 2, 0, 0, 1]])
    with pytest.raises(ConfigError, match=r"cannot be summed exactly \(continuous, or more than 2\*\*12 values\)"):
        log_likelihood(big, counts)


def test_a_monte_carlo_elbo_estimate_needs_two_particles():
    model, guide = linear_gaussian()
    with pytest.raises(ConfigError, match="at least 2 particles"):
        elbo(model, guide, linear_gaussian_data(), num_samples=1)


def test_the_elbo_is_estimated_in_blocks_of_bounded_size(monkeypatch, pair):
    """An exact ELBO sums ``codes × rows × dim(x)`` within MAX_CHUNK_ELEMENTS at a time, a
    Monte-Carlo one ``particles × rows × dim(x)`` within MAX_SAMPLED_ELEMENTS; the exact ELBO is
    the same in blocks as at once."""
    model, guide, x = pair
    whole = elbo(model, guide, x).value
    monkeypatch.setattr(evaluation, "MAX_CHUNK_ELEMENTS", 4 * 3 * x.shape[-1])  # 4 codes × 3 rows
    assert elbo(model, guide, x).value == pytest.approx(whole, rel=1e-12)
    seen = []
    sampler = evaluation.log_importance_weights
    monkeypatch.setattr(evaluation, "log_importance_weights",
                        lambda m, g, args, kw, k: seen.append(args[0].shape[0] * k) or sampler(m, g, args, kw, k))
    monkeypatch.setattr(evaluation, "MAX_SAMPLED_ELEMENTS", 6 * 3 * 2)  # 6 particles × 3 rows of 2
    lg_model, lg_guide = linear_gaussian()
    estimate = elbo(lg_model, lg_guide, linear_gaussian_data(n=10), num_samples=6)
    assert seen == [6 * 3, 6 * 3, 6 * 3, 6 * 1]
    assert math.isfinite(estimate.value) and estimate.se > 0


def test_measurements_below_the_block_size_draw_as_one_call_and_checks_draw_nothing():
    """Experiments stay reproducible: a Monte-Carlo ELBO within one block is one draw of all
    rows, and the checks before it (the pair on a few rows, the data) leave the generators as
    they were."""
    model, guide = linear_gaussian()
    x = linear_gaussian_data(n=10)
    torch.manual_seed(3)
    state = torch.get_rng_state()
    check_inputs(model, guide, x)
    assert torch.equal(torch.get_rng_state(), state)
    assert latent_is_enumerable(guide, x) is False  # the probe elbo() runs first, drawing as always
    at_once = log_importance_weights(model, guide, (x,), {}, 7).log_w
    torch.manual_seed(3)
    per_point, _ = elbo_per_point(model, guide, x, num_samples=7)
    torch.testing.assert_close(per_point, at_once.mean(0), rtol=0, atol=0)


def test_evaluate_takes_a_proposal_for_the_reference():
    """A reference with another latent needs its own importance proposal."""
    from pyro_vae.guides import DiagonalGaussian
    from pyro_vae.models import VAE1

    model, guide = linear_gaussian()
    x = linear_gaussian_data()
    reference = VAE1(2, 3, hidden=(4,)).double()
    reference_guide = DiagonalGaussian(2, 3, hidden=(4,)).double()
    with pytest.raises(PairingError, match="does not match"):
        evaluate(model, guide, x, reference=reference)
    out = evaluate(model, guide, x, reference=reference, reference_guide=reference_guide)
    assert math.isfinite(out["approximation_error"])
    error = approximation_error(model, reference, x, guide=guide, reference_guide=reference_guide)
    assert not error.exact  # the reference's likelihood is importance-sampled


def test_a_reference_with_an_exact_likelihood_needs_no_fitting_guide(pair):
    """The guide is the proposal of a sampled likelihood only: an 8-centre mixture as reference
    of a 4-centre one is summed exactly, whatever the guide's latent."""
    model, guide, x = pair
    reference = GaussianMixture(torch.cat([model.centres, model.centres + 0.5]), float(model.observation.sigma))
    out = evaluate(model, guide, x, reference=reference)
    reference_log_lik = torch.logsumexp(math.log(1 / 8) + e1_log_lik(reference, x), -1)
    expected = (reference_log_lik - hand_log_lik(model, x)).mean().item()
    assert out["approximation_error"] == pytest.approx(expected, rel=1e-9)


def test_a_bad_reference_is_named_before_anything_is_estimated(monkeypatch):
    from pyro_vae.guides import DiagonalGaussian
    from pyro_vae.models import VAE1

    model, guide = linear_gaussian()
    x = linear_gaussian_data()
    calls = []
    monkeypatch.setattr(evaluation, "log_importance_weights", lambda *a: calls.append(a))
    wrong_width = VAE1(3, 3, hidden=(4,)).double()
    with pytest.raises(PairingError, match="^reference: model VAE1_.*another width"):
        evaluate(model, guide, x, reference=wrong_width, reference_guide=DiagonalGaussian(2, 3, hidden=(4,)).double())
    with pytest.raises(PairingError, match="^reference: "):
        approximation_error(model, wrong_width, x, guide=guide, reference_guide=guide)
    with pytest.raises(ConfigError, match="reference_guide= would be unused"):
        evaluate(model, guide, x, reference_guide=guide)
    assert calls == []


def test_a_single_particle_gives_per_point_values_but_no_standard_error():
    """elbo_per_point(num_samples=1) is a one-sample estimate per point (a Text VAE's NELBO track
    uses it); elbo() needs two particles for the standard error it reports."""
    model, guide = linear_gaussian()
    per_point, particle_var = elbo_per_point(model, guide, linear_gaussian_data(), num_samples=1)
    assert torch.isfinite(per_point).all() and torch.isnan(particle_var).all()


def test_every_experiment_profile_evaluates_its_monte_carlo_elbo_in_one_block():
    """Blocks draw other random numbers than one call: the largest evaluations the experiments
    make (E7's paper profile on 60 000 MNIST-sized images; E3's 250-document chunks of a
    vocabulary of --vocabulary-size words) must fit one block to stay as they were."""
    from pyro_vae.experiments import mle_init, text_hashing

    assert 60_000 * mle_init.PROFILES["paper"].eval_samples * 784 <= evaluation.MAX_SAMPLED_ELEMENTS
    paper = text_hashing.PROFILES["paper"]
    assert 250 * paper.eval_samples * paper.vocabulary_size <= evaluation.MAX_SAMPLED_ELEMENTS


def test_parameters_a_guide_creates_on_first_use_are_not_created_by_the_checks():
    """A ``pyro.param`` with a random initial value is left to be created, and drawn, where the
    measurement first runs model and guide: the checks draw nothing and leave the store as it
    was, so a model's and a guide's lazily made parameters are not drawn from the same numbers."""
    def model(x):
        a = pyro.param("lazy_a", lambda: torch.randn(2, dtype=x.dtype))
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 1, dtype=x.dtype), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z + a, 1.0).to_event(1), obs=x)

    def guide(x):
        b = pyro.param("lazy_b", lambda: torch.randn(1, dtype=x.dtype))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(b.expand(x.shape[0], 1), 1.0).to_event(1))

    x = linear_gaussian_data()
    pyro.clear_param_store()
    state = torch.get_rng_state()
    check_inputs(model, guide, x)
    assert len(pyro.get_param_store()) == 0 and torch.equal(torch.get_rng_state(), state)
    evaluate(model, guide, x, num_samples=5, likelihood_samples=5)
    store = pyro.get_param_store()
    assert not torch.equal(store["lazy_a"][:1], store["lazy_b"])


def test_the_checks_keep_parameters_that_share_a_tensor():
    """Model and guide may share a module under two names; the store keeps both."""
    from pyro_vae.guides import DiagonalGaussian

    shared = nn.Linear(2, 2).double()
    guide = DiagonalGaussian(2, 1, hidden=(4,)).double()

    def model(x):
        pyro.module("decoder", shared)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 1, dtype=x.dtype), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(shared(torch.cat([z, z], -1)), 1.0).to_event(1), obs=x)

    def tied_guide(x):
        pyro.module("encoder", shared)
        return guide(x)

    pyro.clear_param_store()  # the checks are the first to register the tensor, under both names
    value = elbo(model, tied_guide, linear_gaussian_data(), num_samples=4).value
    assert math.isfinite(value)
    assert {"decoder$$$weight", "encoder$$$weight"} <= set(pyro.get_param_store().keys())
