"""Tests of ``pyro_vae.entropies``: the three entropies of seed 002 (Prop. 1–3, Cor. 1, A1).

What each check is compared against:

* at the pPCA maximum-likelihood solution (a stationary point reached analytically, with the
  mean-field encoder, which is the exact posterior there): the sampled ELBO of
  :func:`pyro_vae.evaluation.elbo`, eq. 33 written by hand from σ and τ, and the exact
  log-likelihood (Cor. A1, eq. 44);
* with σ moved off its optimum: the ELBO in closed form for a linear model and a diagonal
  Gaussian q (written here), whose distance to the three entropies is, by eq. 21 of the
  proof of Prop. 1, ``D/2 (1 − σ*²/σ²)``; the gap is also measured in the estimates' SEs;
* VAE-1 / VAE-2 at random parameters: eq. 25 / eq. 20 by hand from σ, α and the encoder's
  τ(x) = exp(ρ(x)/2) (the identity does not need a stationary point to be the formula);
* VAE-3: a hand-written Monte-Carlo estimate of eq. 39 with its own standard error;
* the residuals of the monitor: derivatives of the same-draws sampled ELBO (central
  differences) along the parameter directions of the proofs, which rescale the decoder
  variances (eq. 67–72) and z (eq. 24); with softplus outputs these directions do not exist
  and the two differ.
"""

from __future__ import annotations

import copy
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import e1_pair
from pyro_vae.guides import DiagonalGaussian
from pyro_vae.guides import LinearGaussian as LinearGaussianGuide
from pyro_vae.models import VAE1, VAE2, VAE3, LinearVAE

from pyro_vae.data.synthetic import ppca_data
from pyro_vae.entropies import entropy_monitor, relative_gap, three_entropies, three_entropies_per_point
from pyro_vae.errors import ConfigError, DataError, PairingError
from pyro_vae.evaluation import Estimate, elbo, log_likelihood, tightness_gap
from pyro_vae.ppca import LinearGaussian, ppca_mle

pytestmark = pytest.mark.usefixtures("float64")

TWO_PI_E = 2 * math.pi * math.e
D, H, N = 10, 2, 2000


# --------------------------------------------------------------------------------------------
# Hand-written references.
# --------------------------------------------------------------------------------------------


def eq33(sigma: torch.Tensor, tau: torch.Tensor, d: int) -> float:
    """Seed 002 eq. 33 / 44: ``−D/2 log(2πeσ²) + ½ Σ_h log τ_h²``."""
    return -0.5 * d * math.log(TWO_PI_E * sigma.item() ** 2) + 0.5 * (tau**2).log().sum().item()


def linear_closed_form_elbo(params: LinearGaussian, v, b, tau, x) -> torch.Tensor:
    """The ELBO of ``x ~ N(W z + μ, σ² I)``, ``z ~ N(0, I)`` with ``q = N(V x + b, diag τ²)``,
    per data point: ``E_q log p(x|z) + E_q log p(z) + H[q]`` with the Gaussian moments."""
    w, mu, s2 = params.weight, params.offset, params.sigma**2
    d, h = w.shape
    m = x @ v.T + b
    resid = ((x - m @ w.T - mu) ** 2).sum(-1) + (tau**2 * (w**2).sum(0)).sum()
    expected_log_lik = -0.5 * d * torch.log(2 * math.pi * s2) - resid / (2 * s2)
    expected_log_prior = -0.5 * h * math.log(2 * math.pi) - 0.5 * ((m**2).sum(-1) + (tau**2).sum())
    entropy = 0.5 * torch.log(TWO_PI_E * tau**2).sum()
    return expected_log_lik + expected_log_prior + entropy


@pytest.fixture
def optimum():
    """pPCA data, its ML solution as a linear VAE and the mean-field encoder as its guide."""
    x = ppca_data(n_train=N, n_test=10, data_dim=D, latent_dim=H, sigma=0.1, seed=0).x_train
    sol = ppca_mle(x, H)
    model = LinearVAE(D, H).load(sol)
    guide = LinearGaussianGuide(D, H).load(*sol.mean_field_encoder())
    return x, sol, model, guide


def random_rows(seed: int, n: int, d: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def guide_tau(guide: DiagonalGaussian, x: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """τ(x) of the standard encoder: exp(ρ/2) of the second half of its output [ν, ρ = log τ²]."""
    return torch.exp(0.5 * guide.encoder(x)[..., latent_dim:])


# --------------------------------------------------------------------------------------------
# Acceptance: the linear VAE at the pPCA solution (Cor. 1, Cor. A1).
# --------------------------------------------------------------------------------------------


def test_three_entropies_equal_elbo_eq33_and_log_likelihood_at_the_ppca_solution(optimum):
    x, sol, model, guide = optimum
    pyro.set_rng_seed(0)
    te = three_entropies(model, guide, x, num_samples=10)
    assert te.exact and te.se == 0.0
    tau = sol.mean_field_encoder()[2]
    assert te.value == pytest.approx(eq33(sol.sigma, tau, D), rel=1e-12)
    assert te.value == pytest.approx(eq33(model.observation.sigma, guide.tau, D), rel=1e-12)
    pyro.set_rng_seed(0)
    lb = elbo(model, guide, x, num_samples=100)
    assert not lb.exact and lb.se < 1e-10  # q is the exact posterior: every weight is p(x)
    assert relative_gap(lb.value, te.value) < 1e-10
    ll = log_likelihood(model, x)
    assert ll.exact
    assert abs(te.value - ll.value) / abs(ll.value) < 1e-10
    with torch.no_grad():
        closed = linear_closed_form_elbo(sol, *sol.mean_field_encoder(), x).mean().item()
    assert closed == pytest.approx(ll.value, rel=1e-10)
    pyro.set_rng_seed(0)
    assert abs(tightness_gap(model, guide, x, num_samples=10).value) < 1e-10


@pytest.mark.parametrize("factor", [1.5, 0.7])
def test_moving_sigma_off_its_optimum_separates_elbo_and_three_entropies(optimum, factor):
    x, sol, _, guide = optimum
    moved = LinearGaussian(sol.weight, sol.offset, factor * sol.sigma)
    model = LinearVAE(D, H).load(moved)
    pyro.set_rng_seed(1)
    te = three_entropies(model, guide, x, num_samples=10)
    assert te.exact and te.se == 0.0
    assert te.value == pytest.approx(eq33(moved.sigma, guide.tau, D), rel=1e-12)
    pyro.set_rng_seed(1)
    lb = elbo(model, guide, x, num_samples=100)
    assert lb.se > 0
    with torch.no_grad():
        closed = linear_closed_form_elbo(moved, *sol.mean_field_encoder(), x).mean().item()
    # the sampled ELBO is the closed form, within its standard error
    assert abs(lb.value - closed) <= 4 * lb.se
    # eq. 21: F₂ = D/2 (1 − R / (D σ²)) − D/2 log(2πeσ²) with R = D σ*² at the optimum
    expected_gap = 0.5 * D * (1 - 1 / factor**2)
    assert closed - te.value == pytest.approx(expected_gap, rel=1e-9)
    # measured in standard errors, the two are far apart
    gap_in_se = abs(lb.value - te.value) / math.hypot(lb.se, te.se)
    assert gap_in_se > 100
    assert relative_gap(lb.value, te.value) > 0.5


# --------------------------------------------------------------------------------------------
# The formula for each model (eq. 20, 25, 39) at arbitrary parameters.
# --------------------------------------------------------------------------------------------


def test_vae1_three_entropies_is_eq25():
    d, h, n = 6, 3, 30
    torch.manual_seed(0)
    model = VAE1(d, h, hidden=(8,), sigma=0.7)
    guide = DiagonalGaussian(d, h, hidden=(8,))
    x = random_rows(1, n, d)
    pyro.set_rng_seed(0)
    te = three_entropies(model, guide, x, num_samples=5)
    with torch.no_grad():
        tau = guide_tau(guide, x, h)
    expected = -0.5 * d * math.log(TWO_PI_E * 0.7**2) + 0.5 * (tau**2).log().sum(-1).mean().item()
    assert te.exact and te.se == 0.0
    assert te.value == pytest.approx(expected, rel=1e-12)
    per_point, var = three_entropies_per_point(model, guide, x, num_samples=5)
    expected_points = -0.5 * d * math.log(TWO_PI_E * 0.7**2) + 0.5 * (tau**2).log().sum(-1)
    torch.testing.assert_close(per_point, expected_points, rtol=1e-12, atol=1e-12)
    assert torch.equal(var, torch.zeros(n))


def test_vae2_three_entropies_is_eq20():
    d, h, n = 6, 3, 30
    torch.manual_seed(1)
    model = VAE2(d, h, hidden=(8,), sigma=0.4)
    log_alpha = torch.tensor([-0.3, 0.2, 0.5])
    with torch.no_grad():
        model.log_prior_scale.copy_(log_alpha)
    guide = DiagonalGaussian(d, h, hidden=(8,))
    x = random_rows(2, n, d)
    pyro.set_rng_seed(0)
    te = three_entropies(model, guide, x, num_samples=5)
    with torch.no_grad():
        tau = guide_tau(guide, x, h)
    alpha2 = (2 * log_alpha).exp()
    expected = (
        -0.5 * torch.log(TWO_PI_E * alpha2).sum().item()
        - 0.5 * d * math.log(TWO_PI_E * 0.4**2)
        + 0.5 * torch.log(TWO_PI_E * tau**2).sum(-1).mean().item()
    )
    assert te.exact and te.se == 0.0
    assert te.value == pytest.approx(expected, rel=1e-12)


def hand_eq39(model: VAE3, guide: DiagonalGaussian, x: torch.Tensor, h: int, particles: int, seed: int):
    """Eq. 39 by plain-torch Monte Carlo: ``½ Σ_h log τ_h²(x) − ½ Σ_d E_q log σ_d²(z) − D/2 log 2πe``
    with ``z = ν(x) + τ(x) ε`` and ``σ(z) = exp(ρ(z)/2)`` from the decoder's second network.
    Returns the mean over points and its Monte-Carlo standard error."""
    d = x.shape[1]
    with torch.no_grad():
        out = guide.encoder(x)
        nu, tau = out[..., :h], torch.exp(0.5 * out[..., h:])
        eps = torch.randn(particles, *nu.shape, generator=torch.Generator().manual_seed(seed))
        z = nu + tau * eps
        sigma = torch.exp(0.5 * model.decoder.networks[1](z))  # (particles, n, D)
        values = 0.5 * (tau**2).log().sum(-1) - 0.5 * (sigma**2).log().sum(-1) - 0.5 * d * math.log(TWO_PI_E)
    per_point_var = values.var(0) / particles
    return values.mean().item(), per_point_var.sum().sqrt().item() / x.shape[0]


def test_vae3_three_entropies_is_a_monte_carlo_estimate_of_eq39():
    d, h, n, particles = 5, 2, 40, 400
    torch.manual_seed(2)
    model = VAE3(d, h, hidden=(8,))
    guide = DiagonalGaussian(d, h, hidden=(8,))
    x = random_rows(3, n, d)
    pyro.set_rng_seed(0)
    te = three_entropies(model, guide, x, num_samples=particles)
    expected, expected_se = hand_eq39(model, guide, x, h, particles, seed=4)
    assert not te.exact and te.se > 0
    assert te.se == pytest.approx(expected_se, rel=0.15)  # the same estimator, other draws
    assert abs(te.value - expected) <= 4 * math.hypot(te.se, expected_se)
    # a wrong decoder term would be far off: the σ(z) part alone is several nats
    assert abs(te.value - (expected + 0.5 * d * math.log(TWO_PI_E))) > 100 * te.se


def test_vae3_standard_error_is_the_spread_of_repeated_estimates():
    d, h, n = 4, 2, 10
    torch.manual_seed(3)
    model = VAE3(d, h, hidden=(6,))
    guide = DiagonalGaussian(d, h, hidden=(6,))
    x = random_rows(5, n, d)
    values, ses = [], []
    for seed in range(30):
        pyro.set_rng_seed(seed)
        est = three_entropies(model, guide, x, num_samples=50)
        values.append(est.value)
        ses.append(est.se)
    spread = torch.tensor(values).std().item()
    mean_se = sum(ses) / len(ses)
    # the sample std of 30 values has a relative error of about 1/√58 ≈ 13 %
    assert 0.6 * mean_se < spread < 1.5 * mean_se


# --------------------------------------------------------------------------------------------
# The monitor's residuals: derivatives of the bound along the proofs' parameter directions.
# --------------------------------------------------------------------------------------------


def shift_decoder_log_variances(model: VAE3, guide: DiagonalGaussian, t: float) -> None:
    """Add t to the bias of the σ network's output layer: with ρ = log σ², every σ_d²(z) is
    multiplied by e^t (the direction of eq. 70–72)."""
    model.decoder.networks[1][-1].bias.add_(t)


def rescale_latent(model: VAE3, guide: DiagonalGaussian, t: float) -> None:
    """z → e^t z: ν's output layer times e^t, τ's log-variance bias plus 2t, and the first
    layers of both decoder networks divided by e^t, so that the decoder sees the same inputs."""
    mean, log_variance = guide.encoder.networks
    mean[-1].weight.mul_(math.exp(t))
    mean[-1].bias.mul_(math.exp(t))
    log_variance[-1].bias.add_(2 * t)
    for network in model.decoder.networks:
        network[0].weight.div_(math.exp(t))


def monitored(model, guide, x, seed: int = 11) -> dict[str, float]:
    pyro.set_rng_seed(seed)  # the same draws ε for every call
    return entropy_monitor(model, guide, x, num_samples=7)()


def elbo_derivative(model, guide, x, move, h: float = 1e-5) -> float:
    """Central difference of the sampled ELBO (the same draws) along ``move``."""
    saved = [copy.deepcopy(m.state_dict()) for m in (model, guide)]
    values = []
    for t in (h, -h):
        with torch.no_grad():
            move(model, guide, t)
        values.append(monitored(model, guide, x)["elbo"])
        for m, state in zip((model, guide), saved):
            m.load_state_dict(state)
    return (values[0] - values[1]) / (2 * h)


@pytest.mark.parametrize("scale", ["log_variance", "softplus"])
def test_residuals_are_derivatives_along_the_proofs_directions_only_for_log_variance_outputs(float64, scale):
    """d F / dt along the variance shift is −(F2 + E_q H[p(x|z)]) and along z → e^t z it is
    2 (F1 + H[p(z)]) = Σ_h (1 − E_q z_h²): so the residuals vanish wherever F is stationary, as
    Prop. 3 needs. With softplus outputs the same moves are not these rescalings."""
    d, h, n = 5, 2, 30
    torch.manual_seed(5)
    model, guide = VAE3(d, h, hidden=(8,), scale=scale), DiagonalGaussian(d, h, hidden=(8,), scale=scale)
    x = random_rows(6, n, d)
    residuals = monitored(model, guide, x)
    along_variances = elbo_derivative(model, guide, x, shift_decoder_log_variances)
    along_latent_scale = elbo_derivative(model, guide, x, rescale_latent)
    assert min(abs(residuals["f1_residual"]), abs(residuals["f2_residual"])) > 0.05  # far from stationary
    if scale == "log_variance":
        assert along_variances == pytest.approx(-residuals["f2_residual"], rel=1e-6, abs=1e-8)
        assert along_latent_scale == pytest.approx(2 * residuals["f1_residual"], rel=1e-6, abs=1e-8)
    else:
        assert abs(along_variances + residuals["f2_residual"]) > 0.1 * abs(residuals["f2_residual"])
        assert abs(along_latent_scale - 2 * residuals["f1_residual"]) > 0.1 * abs(residuals["f1_residual"])


# --------------------------------------------------------------------------------------------
# relative_gap and errors.
# --------------------------------------------------------------------------------------------


def test_relative_gap_is_the_absolute_difference_over_the_reference():
    assert relative_gap(-2.0, -2.5) == pytest.approx(0.25, rel=1e-15)
    assert relative_gap(-2.5, -2.0) == pytest.approx(0.2, rel=1e-15)
    assert relative_gap(-2.0, -2.5, reference=10.0) == pytest.approx(0.05, rel=1e-15)
    assert relative_gap(3.0, 3.0) == 0.0
    assert relative_gap(Estimate(-2.0, 0.1, False), Estimate(-2.5, 0.0, True)) == pytest.approx(0.25, rel=1e-15)
    with pytest.raises(ConfigError, match="reference .* is 0"):
        relative_gap(-2.0, -2.5, reference=0.0)


def test_three_entropies_refuses_a_vae_that_is_not_gaussian():
    """Seed 002's identity is for Gaussian prior, encoder and decoder; a categorical code or a
    Bernoulli decoder has an entropy too, and would get a number marked exact."""
    from pyro_vae.guides import SharedTrunkGaussian
    from pyro_vae.models import EDFVAE

    from pyro_vae.families import Bernoulli

    model, guide, x = e1_pair(12, seed=0)
    with pytest.raises(ConfigError, match="model's site 'z' is a Categorical.*Gaussian VAEs"):
        three_entropies(model, guide, x, num_samples=3)
    rows = random_rows(6, 5, 6)
    with pytest.raises(ConfigError, match="model's site 'x' is a Bernoulli"):
        three_entropies(EDFVAE(Bernoulli(), 6, 2), SharedTrunkGaussian(6, 2, hidden=(4,)), (rows > 0).to(rows.dtype),
                        num_samples=3)


def test_three_entropies_and_its_monitor_check_the_pair_and_the_data():
    model = VAE1(4, 2, hidden=(4,))
    with pytest.raises(PairingError, match="another width"):
        three_entropies(VAE1(1, 2, hidden=(4,)), DiagonalGaussian(4, 2, hidden=(4,)), random_rows(6, 5, 4),
                        num_samples=3)
    with pytest.raises(PairingError, match="observes"):
        entropy_monitor(DiagonalGaussian(4, 2, hidden=(4,)), model, random_rows(6, 5, 4), num_samples=3)
    with pytest.raises(DataError, match="expected a torch.Tensor"):
        entropy_monitor(model, DiagonalGaussian(4, 2, hidden=(4,)), random_rows(6, 5, 4).numpy(), num_samples=3)


def test_three_entropies_rejects_a_site_without_closed_form_entropy():
    d, h = 4, 2
    model = VAE1(d, h, hidden=(4,))

    def guide(x):
        base = dist.Normal(torch.zeros(x.shape[0], h), 1.0).to_event(1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.TransformedDistribution(base, [dist.transforms.AffineTransform(1.0, 2.0)]))

    with pytest.raises(ConfigError, match="'z'.*TransformedDistribution"):
        three_entropies(model, guide, random_rows(6, 5, d), num_samples=3)


@pytest.mark.parametrize("factor", [1.0, 1.5])
def test_entropy_monitor_reports_the_elbo_and_the_three_entropies_of_one_run(optimum, factor):
    """The callback for ``fit`` gives what ``elbo`` and ``three_entropies`` give separately."""
    x, sol, _, guide = optimum
    model = LinearVAE(D, H).load(LinearGaussian(sol.weight, sol.offset, factor * sol.sigma))
    row = entropy_monitor(model, guide, x, num_samples=50)()
    te = three_entropies(model, guide, x, num_samples=50)
    lb = elbo(model, guide, x, num_samples=50)
    assert row["three_entropies"] == pytest.approx(te.value, rel=1e-12) and row["three_entropies_se"] == 0
    assert abs(row["elbo"] - lb.value) <= 4 * math.hypot(row["elbo_se"], lb.se) + 1e-9
    assert row["relative_gap"] == pytest.approx(relative_gap(row["elbo"], row["three_entropies"]))
    assert (row["relative_gap"] < 1e-10) == (factor == 1.0)


@pytest.mark.parametrize("factor, scale", [(1.0, 1.0), (1.5, 1.0), (1.0, 0.8)])
def test_entropy_monitor_residuals_are_the_closed_form_f1_and_f2_residuals(optimum, factor, scale):
    """``f1_residual = F1 + H[p(z)]`` and ``f2_residual = F2 + E_q H[p(x|z)]`` (seed 002 eq. 24,
    76) against the Gaussian moments of the linear VAE. Both vanish at the pPCA optimum with its
    mean-field encoder; σ moved by ``factor`` moves only F2's, the encoder's mean and τ
    shrunk by ``scale`` (E_q |z|² below H) moves F1's. Tolerances: 5 standard errors of the
    Monte-Carlo mean, from draws made here by hand around each row's exact expectation."""
    x, sol, _, _ = optimum
    params = LinearGaussian(sol.weight, sol.offset, factor * sol.sigma)
    model = LinearVAE(D, H).load(params)
    v, b, tau = (scale * t for t in sol.mean_field_encoder())
    guide = LinearGaussianGuide(D, H).load(v, b, tau)
    m = x @ v.T + b
    s2 = params.sigma**2
    f1_rows = 0.5 * H - 0.5 * ((m**2).sum(-1) + (tau**2).sum())
    resid = ((x - m @ params.weight.T - params.offset) ** 2).sum(-1) + (tau**2 * (params.weight**2).sum(0)).sum()
    f2_rows = 0.5 * D - resid / (2 * s2)
    f1_exact, f2_exact = f1_rows.mean().item(), f2_rows.mean().item()
    assert (abs(f1_exact) < 1e-9) == (scale == 1.0)
    assert f1_exact == pytest.approx(0.5 * H * (1 - scale**2), rel=1e-9)  # E_q |z|² = H at the optimum
    assert (abs(f2_exact) < 1e-9) == (factor == 1.0 and scale == 1.0)
    if scale == 1.0:
        assert f2_exact == pytest.approx(0.5 * D * (1 - 1 / factor**2), rel=1e-9)

    k = 200
    z = m + tau * torch.randn(k, *m.shape, generator=torch.Generator().manual_seed(5), dtype=x.dtype)
    f1_draws = 0.5 * H - 0.5 * (z**2).sum(-1) - f1_rows
    f2_draws = 0.5 * D - ((x - z @ params.weight.T - params.offset) ** 2).sum(-1) / (2 * s2) - f2_rows
    pyro.set_rng_seed(1)
    row = entropy_monitor(model, guide, x, num_samples=k)()
    for key, exact, draws in (("f1_residual", f1_exact, f1_draws), ("f2_residual", f2_exact, f2_draws)):
        assert abs(draws.mean().item()) <= 5 * draws.std().item() / math.sqrt(draws.numel())  # the reference
        assert abs(row[key] - exact) <= 5 * draws.std().item() / math.sqrt(draws.numel())
    # Their sum is the gap, up to the Monte-Carlo error of −E_q log q against H[q] (per draw
    # ½(|ε|² − H), standard deviation √(H/2)).
    gap = row["elbo"] - row["three_entropies"]
    assert abs(row["f1_residual"] + row["f2_residual"] - gap) <= 5 * math.sqrt(H / 2) / math.sqrt(k * N)


@pytest.mark.parametrize("num_samples", [0, 1, 2.5, True])
def test_too_few_samples_are_refused(optimum, num_samples):
    x, _, model, guide = optimum
    with pytest.raises(ConfigError, match="num_samples must be an int ≥ 2"):
        three_entropies(model, guide, x, num_samples=num_samples)
    with pytest.raises(ConfigError, match="num_samples must be an int ≥ 2"):
        entropy_monitor(model, guide, x, num_samples=num_samples)
