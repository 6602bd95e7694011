"""Seed 003's L̂ and its MLE, against independent computations.

References: the β-VAE objective of a Gaussian / Bernoulli / Poisson decoder ``ϑ = W z + b``
with a per-data-point full-covariance Gaussian encoder, written with torch.distributions
(Gaussian, Poisson: closed form; Bernoulli: Gauss–Hermite quadrature) and maximised
numerically; the pPCA solution; the exact marginal ``N(b, W Wᵀ + σ² I)``.
"""

import math

import numpy as np
import pytest
import torch
import torch.distributions as td

from pyro_vae import families
from pyro_vae.activity import analytic_activity
from pyro_vae.edf import GaussianEDF
from pyro_vae.errors import ConfigError, DataError
from pyro_vae.glm import (
    dispersion_term,
    glm_encoder,
    glm_mle,
    glm_objective,
    remainder_bounds,
    taylor_objective,
)
from pyro_vae.ppca import ppca_mle

N, D, K = 12, 5, 2
NODES, WEIGHTS = (torch.tensor(a) for a in np.polynomial.hermite.hermgauss(80))


def _problem(family, seed=0):
    g = torch.Generator().manual_seed(seed)
    weight = 0.8 * torch.randn(D, K, generator=g, dtype=torch.float64)
    bias = 0.3 * torch.randn(D, generator=g, dtype=torch.float64)
    z = torch.randn(N, K, generator=g, dtype=torch.float64)
    x = family.distribution((z @ weight.T + bias).to(torch.get_default_dtype())).sample().double()
    return x, weight, bias


def _expected_log_lik(family, x, m, s2):
    """``E_{ϑ ~ N(m, s²)} log p(x | ϑ)`` summed over coordinates, by reference computations."""
    if isinstance(family, families.Gaussian):
        sigma = family.edf().dispersion ** 0.5
        return (td.Normal(m, sigma).log_prob(x) - s2 / (2 * sigma**2)).sum(-1)
    if isinstance(family, families.Poisson):
        return (x * m - torch.exp(m + s2 / 2) - torch.lgamma(x + 1)).sum(-1)
    # Bernoulli: E softplus(ϑ) by Gauss–Hermite quadrature
    theta = m[..., None] + (2 * s2[..., None]).sqrt() * NODES
    softplus = (torch.nn.functional.softplus(theta) * WEIGHTS).sum(-1) / math.sqrt(math.pi)
    return (x * m - softplus).sum(-1)


def reference_objective(family, x, weight, bias, mean, scale_tril, beta):
    """The β-VAE objective (seed 003 eq. 1) per data point, for ``q_i = N(mean_i, L_i L_iᵀ)``."""
    cov = scale_tril @ scale_tril.transpose(-1, -2)
    m = mean @ weight.T + bias
    s2 = torch.einsum("jk,nkl,jl->nj", weight, cov, weight)
    q = td.MultivariateNormal(mean, scale_tril=scale_tril)
    prior = td.MultivariateNormal(torch.zeros(K, dtype=x.dtype), torch.eye(K, dtype=x.dtype))
    return (_expected_log_lik(family, x, m, s2) - beta * td.kl_divergence(q, prior)).mean()


def best_reference_objective(family, x, weight, bias, beta):
    """Maximise :func:`reference_objective` over a separate encoder per data point (L-BFGS)."""
    mean = torch.zeros(N, K, dtype=torch.float64, requires_grad=True)
    raw = torch.zeros(N, K, K, dtype=torch.float64, requires_grad=True)
    tril = torch.tril(torch.ones(K, K, dtype=torch.bool), -1)

    def scale_tril():
        return torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp()) + raw * tril

    optimiser = torch.optim.LBFGS([mean, raw], max_iter=2000, tolerance_grad=1e-12,
                                  tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = -reference_objective(family, x, weight, bias, mean, scale_tril(), beta)
        loss.backward()
        return loss

    for _ in range(3):
        optimiser.step(closure)
    with torch.no_grad():
        return float(reference_objective(family, x, weight, bias, mean, scale_tril(), beta))


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_gaussian_l_hat_is_the_best_beta_vae_objective(beta):
    """Cor. 1, Gaussian case: L̂(W, b) of eq. 14 equals the maximised β-VAE objective."""
    family = families.Gaussian(0.6)
    x, weight, bias = _problem(family)
    l_hat = float(glm_objective(x, family.edf(), weight, bias, beta))
    best = best_reference_objective(family, x, weight, bias, beta)
    assert best <= l_hat + 1e-10  # nothing beats the closed-form maximum
    assert l_hat == pytest.approx(best, rel=1e-7)
    if beta == 1.0:  # the ELBO at the exact posterior is the log-likelihood
        phi = family.edf().dispersion
        marginal = td.MultivariateNormal(bias, weight @ weight.T + phi * torch.eye(D, dtype=torch.float64))
        assert l_hat == pytest.approx(float(marginal.log_prob(x).mean()), rel=1e-12)


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_bernoulli_l_hat_is_a_lower_bound(beta):
    """Eq. 13: for Bernoulli, L̂ ≤ the maximised objective, and the gap is within Cor. 1's bound."""
    family = families.Bernoulli()
    x, weight, bias = _problem(family, seed=1)
    edf = family.edf()
    l_hat = float(glm_objective(x, edf, weight, bias, beta))
    best = best_reference_objective(family, x, weight, bias, beta)
    assert l_hat < best

    enc_weight, enc_bias, cov = glm_encoder(edf, weight, bias, beta)
    mean = x @ enc_weight.T + enc_bias
    at_encoder = float(reference_objective(family, x, weight, bias, mean,
                                           torch.linalg.cholesky(cov).expand(N, K, K), beta))
    taylor = float(taylor_objective(x, edf, weight, bias, mean, cov, beta))
    assert taylor == pytest.approx(l_hat, rel=1e-12)  # eq. 5–6 maximise eq. 4 to give eq. 12
    lower, upper = remainder_bounds(x, edf, weight, bias, mean, cov)
    assert float(lower) == 0.0
    assert 0.0 < at_encoder - taylor <= float(upper)
    assert at_encoder <= best + 1e-9


def test_poisson_remainder_within_corollary_1_bounds():
    family = families.Poisson()
    x, weight, bias = _problem(family, seed=2)
    weight, bias = 0.5 * weight, 0.5 * bias
    edf = family.edf()
    enc_weight, enc_bias, cov = glm_encoder(edf, weight, bias)
    mean = x @ enc_weight.T + enc_bias
    exact = float(reference_objective(family, x, weight, bias, mean, torch.linalg.cholesky(cov).expand(N, K, K), 1.0))
    taylor = float(taylor_objective(x, edf, weight, bias, mean, cov))
    lower, upper = remainder_bounds(x, edf, weight, bias, mean, cov)
    assert float(lower) <= exact - taylor <= float(upper)
    assert float(lower) < float(upper)


@pytest.mark.parametrize("family", [families.Gaussian(1.0), families.Bernoulli(), families.Poisson()],
                         ids=lambda f: f.name)
@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_mle_maximises_l_hat(family, beta):
    """Eq. 15–17: the gradient of L̂ at the MLE is ~0 and random perturbations lower it."""
    g = torch.Generator().manual_seed(3)
    if isinstance(family, families.Gaussian):
        x = torch.randn(400, 8, generator=g, dtype=torch.float64) @ torch.randn(8, 8, generator=g, dtype=torch.float64)
    else:
        rates = torch.sigmoid(torch.randn(400, 2, generator=g) @ (3 * torch.randn(2, 8, generator=g)))
        x = torch.bernoulli(rates, generator=g).double() if family.name == "bernoulli" else \
            torch.poisson(4 * rates, generator=g).double()
    solution = glm_mle(x, family.edf(), 3, beta, estimate_dispersion=isinstance(family, families.Gaussian))
    weight = solution.weight.clone().requires_grad_(True)
    bias = solution.bias.clone().requires_grad_(True)
    value = glm_objective(x, solution.edf, weight, bias, beta)
    grad_w, grad_b = torch.autograd.grad(value, (weight, bias))
    value = float(value.detach())
    assert grad_w.abs().max() < 1e-8 and grad_b.abs().max() < 1e-8
    for _ in range(20):
        dw = 0.05 * torch.randn(weight.shape, generator=g, dtype=torch.float64)
        db = 0.05 * torch.randn(bias.shape, generator=g, dtype=torch.float64)
        assert float(glm_objective(x, solution.edf, solution.weight + dw, solution.bias + db, beta)) < value
    if isinstance(family, families.Gaussian):  # eq. 18: σ² maximises too
        for factor in (0.95, 1.05):
            moved = solution.edf.with_dispersion(solution.edf.dispersion * factor)
            assert float(glm_objective(x, moved, solution.weight, solution.bias, beta)) < value


def test_gaussian_mle_at_beta_1_is_ppca():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(300, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64)
    solution = glm_mle(x, GaussianEDF(), 2, estimate_dispersion=True)
    ppca = ppca_mle(x, 2)
    assert solution.edf.dispersion == pytest.approx(float(ppca.sigma**2), rel=1e-12)
    torch.testing.assert_close(solution.weight.abs(), ppca.weight.abs())
    torch.testing.assert_close(solution.bias, ppca.offset)
    torch.testing.assert_close(solution.objective(x), ppca.marginal().log_prob(x).mean())


def test_eq_18_and_pruning_by_beta():
    g = torch.Generator().manual_seed(5)
    scales = torch.tensor([3.0, 2.0, 1.0, 0.3, 0.2, 0.1], dtype=torch.float64)
    x = torch.randn(2000, 6, generator=g, dtype=torch.float64) * scales
    lam = np.sort(np.linalg.eigvalsh(np.cov(x.numpy().T, bias=True)))[::-1]
    solution = glm_mle(x, GaussianEDF(), 3, beta=1.0, estimate_dispersion=True)
    assert solution.edf.dispersion == pytest.approx(lam[3:].sum() / (6 - 3), rel=1e-10)
    assert int((solution.activity > 0).sum()) == 3
    # a large β prunes units: fewer columns of Ŵ are non-zero and their activity is zero
    pruned = glm_mle(x, GaussianEDF(dispersion=1.0), 3, beta=2.0)
    assert pruned.cutoff == 2.0
    active = lam[:3] > 2.0
    assert torch.equal(pruned.weight.norm(dim=0) > 0, torch.tensor(active))
    torch.testing.assert_close(pruned.activity, torch.tensor(np.where(active, (lam[:3] - 2.0) / lam[:3], 0.0)))
    _, _, cov = pruned.encoder()
    torch.testing.assert_close(torch.diagonal(cov)[~torch.tensor(active)], torch.ones(int((~active).sum()),
                                                                                     dtype=torch.float64))


def test_eq_21_is_the_covariance_of_the_encoder_means():
    """A_{z_j} (eq. 21) equals the sample variance of μ̂_z (eq. 20) over the data."""
    g = torch.Generator().manual_seed(6)
    x = torch.bernoulli(torch.sigmoid(torch.randn(3000, 2, generator=g) @ (2 * torch.randn(2, 10, generator=g))),
                        generator=g).double()
    solution = glm_mle(x, families.Bernoulli().edf(), 4, beta=1.5)
    enc_weight, enc_bias, cov = solution.encoder()
    means = x @ enc_weight.T + enc_bias
    torch.testing.assert_close(means.var(0, unbiased=False), solution.activity)
    torch.testing.assert_close(cov, torch.diag(torch.diagonal(cov)))  # eq. 19: diagonal


def test_bad_arguments():
    x = torch.randn(20, 4, dtype=torch.float64)
    with pytest.raises(ConfigError, match="beta"):
        glm_mle(x, GaussianEDF(), 2, beta=-1.0)
    with pytest.raises(ConfigError, match="latent_dim"):
        glm_mle(x, GaussianEDF(), 4)
    with pytest.raises(ConfigError, match="dispersion of the bernoulli"):
        glm_mle((x > 0).double(), families.Bernoulli().edf(), 2, estimate_dispersion=True)
    with pytest.raises(DataError, match="no variance"):
        glm_mle(torch.ones(20, 4, dtype=torch.float64), GaussianEDF(), 2, estimate_dispersion=True)
    with pytest.raises(ConfigError, match=r"glm_objective: weight must have shape \(4, κ\), got \(3, 2\)"):
        glm_objective(x, GaussianEDF(), torch.zeros(3, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))


@pytest.mark.parametrize("family, bad, expected", [
    (families.Bernoulli(), 0.5, "expected integer counts in 0..1"),
    (families.Binomial(3), 4.0, "expected integer counts in 0..3"),
    (families.Poisson(), -1.0, "expected non-negative integer counts"),
    (families.Gaussian(1.0), float("nan"), "non-finite"),
])
def test_data_outside_the_family_is_refused(family, bad, expected):
    """Every function of x refuses data the family cannot have produced, as ``fit`` does."""
    x = torch.ones(20, 4, dtype=torch.float64)
    x[3, 2] = bad
    edf, weight, bias = family.edf(), torch.zeros(4, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    mean, cov = torch.zeros(20, 2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    calls = {"glm_mle": lambda: glm_mle(x, edf, 2), "glm_objective": lambda: glm_objective(x, edf, weight, bias),
             "taylor_objective": lambda: taylor_objective(x, edf, weight, bias, mean, cov),
             "remainder_bounds": lambda: remainder_bounds(x, edf, weight, bias, mean, cov),
             "dispersion_term": lambda: dispersion_term(x, edf),
             "glm_mle ": lambda: analytic_activity(x, edf, 2)}
    for name, call in calls.items():
        with pytest.raises(DataError) as error:
            call()
        message = str(error.value)
        assert message.startswith(f"{name.strip()}: x: ") and "(3, 2)" in message and expected in message


def test_a_family_in_place_of_its_edf_is_refused():
    with pytest.raises(ConfigError, match=r"such as families\.Bernoulli\(\)\.edf\(\), got "):
        glm_mle(torch.ones(10, 4, dtype=torch.float64), families.Bernoulli(), 2)


def test_gaussian_mle_when_beta_kappa_exceeds_d():
    """Eq. 18 needs d − β κ > 0; with β κ ≥ d at most q < d / β units can stay active."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(500, 6, generator=g, dtype=torch.float64) * torch.tensor([3.0, 2, 1, 0.5, 0.3, 0.2],
                                                                            dtype=torch.float64)
    solution = glm_mle(x, GaussianEDF(), 4, beta=2.0, estimate_dispersion=True)
    active = int((solution.activity > 0).sum())
    assert 1 <= active < 3
    for factor in (0.9, 1.1):
        moved = solution.edf.with_dispersion(solution.edf.dispersion * factor)
        assert float(glm_objective(x, moved, solution.weight, solution.bias, 2.0)) < float(solution.objective(x))


def test_edf_arguments_are_checked():
    with pytest.raises(ValueError, match="dispersion φ must be a positive finite number"):
        GaussianEDF(dispersion=0.0)
    with pytest.raises(ValueError, match="total_count must be a positive int"):
        families.Binomial(1).edf().__class__(total_count=0)


def test_remainder_bounds_scale_with_the_dispersion():
    family = families.Poisson()
    x, weight, bias = _problem(family, seed=8)
    edf = family.edf()
    mean, cov = torch.zeros(N, K, dtype=torch.float64), torch.eye(K, dtype=torch.float64)
    one = remainder_bounds(x, edf, 0.3 * weight, bias, mean, cov)
    two = remainder_bounds(x, edf.with_dispersion(2.0), 0.3 * weight, bias, mean, cov)
    torch.testing.assert_close(torch.stack(two), torch.stack(one) / 2)


def _encoder_problem():
    x = torch.ones(32, 5, dtype=torch.float64)
    x[::2] = 0
    weight = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return x, families.Bernoulli().edf(), weight, torch.zeros(5, dtype=torch.float64)


@pytest.mark.parametrize("change, message", [
    (lambda w, b: (w[:, 0], b), r"glm_encoder: weight must have shape \(d, κ\), got \(5,\)"),
    (lambda w, b: (w.numpy(), b), r"glm_encoder: weight must be a floating-point torch.Tensor of shape \(d, κ\), "
                                  "got ndarray"),
    (lambda w, b: (w, b[:4]), r"glm_encoder: bias must have shape \(5,\), got \(4,\)"),
    (lambda w, b: (w.index_fill(0, torch.tensor([3]), math.nan), b),
     r"glm_encoder: weight must be finite, found 2 NaN or inf value\(s\), first at index \(3, 0\)"),
    (lambda w, b: (w, b.float()), "glm_encoder: weight and bias must share a dtype, got torch.float64 and "
                                  "torch.float32"),
])
def test_glm_encoder_checks_the_decoder(change, message):
    _, edf, weight, bias = _encoder_problem()
    with pytest.raises(ConfigError, match=message):
        glm_encoder(edf, *change(weight, bias))


def test_glm_encoder_refuses_a_family_in_place_of_its_edf():
    _, _, weight, bias = _encoder_problem()
    with pytest.raises(ConfigError, match=r"glm_encoder: expected an exponential dispersion family such as "
                                          r"families\.Bernoulli\(\)\.edf\(\), got Bernoulli"):
        glm_encoder(families.Bernoulli(), weight, bias)


@pytest.mark.parametrize("name", ["taylor_objective", "remainder_bounds"])
@pytest.mark.parametrize("change, message", [
    (lambda mean, cov: (mean[:5], cov), r"mean must have shape \(32, 2\), got \(5, 2\)"),
    (lambda mean, cov: (torch.zeros(32, 3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)),
     r"mean must have shape \(32, 2\), got \(32, 3\)"),
    (lambda mean, cov: (mean, cov[:1]), r"cov must have shape \(2, 2\), got \(1, 2\)"),
    (lambda mean, cov: (mean, cov.expand(5, 2, 2)), r"cov must have shape \(32, 2, 2\), got \(5, 2, 2\)"),
    (lambda mean, cov: (mean, -cov), "cov must be symmetric positive definite"),
    (lambda mean, cov: (mean, cov + torch.tensor([[0.0, 0.5], [0.0, 0.0]], dtype=torch.float64)),
     "cov must be symmetric positive definite"),
    (lambda mean, cov: (mean, cov * math.nan), r"cov must be finite, found 4 NaN or inf value\(s\)"),
    (lambda mean, cov: (mean.float(), cov), "weight, mean and cov must share a dtype"),
])
def test_the_encoder_of_the_taylor_objective_is_checked(name, change, message):
    """A mean for other rows, another latent size or a matrix that is no covariance would give a
    number (or NaN) of nothing."""
    x, edf, weight, bias = _encoder_problem()
    mean, cov = torch.zeros(32, 2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    function = {"taylor_objective": taylor_objective, "remainder_bounds": remainder_bounds}[name]
    function(x, edf, weight, bias, mean, cov.expand(32, 2, 2))  # one covariance per row is fine
    with pytest.raises(ConfigError, match=f"{name}: {message}"):
        function(x, edf, weight, bias, *change(mean, cov))


def test_data_without_rows_are_refused():
    x, edf, weight, bias = _encoder_problem()
    empty, mean, cov = x[:0], torch.zeros(0, 2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    calls = {"glm_mle": lambda: glm_mle(empty, edf, 2),
             "glm_objective": lambda: glm_objective(empty, edf, weight, bias),
             "taylor_objective": lambda: taylor_objective(empty, edf, weight, bias, mean, cov),
             "remainder_bounds": lambda: remainder_bounds(empty, edf, weight, bias, mean, cov),
             "dispersion_term": lambda: dispersion_term(empty, edf)}
    for name, call in calls.items():
        with pytest.raises(DataError, match=rf"^{name}: x must be a float tensor of shape \(N, d\) with at least one "
                                            r"row, got torch.float64 of shape \(0, 5\)"):
            call()


def test_estimate_dispersion_must_be_a_bool():
    with pytest.raises(ConfigError, match="glm_mle: estimate_dispersion must be True or False, got 'no'"):
        glm_mle(torch.randn(20, 4, dtype=torch.float64), GaussianEDF(), 2, estimate_dispersion="no")
