"""Tests of the linear Gaussian closed forms (``pyro_vae.ppca``) and of the pPCA / PCA-ring data
of seed 002 App. C (``pyro_vae.data.synthetic``).

What each check is compared against:

* the marginal ``N(x; μ, W Wᵀ + σ² I)``: a brute-force full-covariance
  ``torch.distributions.MultivariateNormal`` and, at the pPCA solution, eq. 45 of seed 002
  (``−D/2 log 2π − ½ log det C − ½ Tr(C⁻¹ S)``) with the data covariance S written by hand;
* the posterior ``p(z | x)``: Gaussian conditioning of the joint ``(z, x)`` (Schur complement),
  written here in plain torch;
* the mean-field encoder: KL to that posterior (zero for orthogonal W) and, for any W, the
  known optimum ``τ_h² = 1 / (Σ⁻¹)_hh`` of a diagonal Gaussian against a full one;
* ``ppca_mle``: the autograd gradient of the exact log-likelihood (zero at a maximum), random
  perturbations and other parameter settings (all lower), and the eigenvalues of S obtained
  from an SVD of the centred data;
* the data: fixed seeds, the sample covariance against ``W Wᵀ + σ² I`` with tolerances from
  the sampling variance ``(C_ij² + C_ii C_jj) / N`` of a Gaussian covariance estimate, and the
  ring map of eq. 81 recomputed from the same generator.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as td
from pyro_vae.models import LinearVAE

from pyro_vae.data.synthetic import pca_ring, ppca_data
from pyro_vae.errors import ConfigError, DataError
from pyro_vae.evaluation import log_likelihood
from pyro_vae.ppca import LinearGaussian, ppca_mle

pytestmark = pytest.mark.usefixtures("float64")

D, H = 10, 2


# --------------------------------------------------------------------------------------------
# Hand-written references (plain torch).
# --------------------------------------------------------------------------------------------


def random_params(seed: int, d: int = D, h: int = H, orthogonal: bool = False) -> LinearGaussian:
    """Random ``(W, μ, σ)``; with ``orthogonal`` the columns of W are orthogonal (not unit)."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(d, h, generator=g)
    if orthogonal:
        q, _ = torch.linalg.qr(weight)
        weight = q * torch.tensor([2.0, 0.7, 1.3, 0.4][:h])
    offset = torch.randn(d, generator=g)
    sigma = 0.2 + torch.rand((), generator=g)
    return LinearGaussian(weight, offset, sigma)


def random_rows(seed: int, n: int = 50, d: int = D) -> torch.Tensor:
    return 2 * torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def brute_marginal(p: LinearGaussian) -> td.MultivariateNormal:
    """``N(μ, W Wᵀ + σ² I)`` with the full D × D covariance."""
    cov = p.weight @ p.weight.T + p.sigma**2 * torch.eye(p.weight.shape[0])
    return td.MultivariateNormal(p.offset, covariance_matrix=cov)


def conditioned_on_x(p: LinearGaussian, x: torch.Tensor):
    """``p(z | x)`` by conditioning the joint Gaussian of ``(z, x)``:
    ``Cov = [[I, Wᵀ], [W, C]]`` gives mean ``Wᵀ C⁻¹ (x − μ)`` and covariance ``I − Wᵀ C⁻¹ W``."""
    d, h = p.weight.shape
    cov_xx = p.weight @ p.weight.T + p.sigma**2 * torch.eye(d)
    cov_zx = p.weight.T  # Cov(z, x) = E[z (W z)ᵀ] = Wᵀ
    gain = cov_zx @ torch.linalg.inv(cov_xx)
    mean = (x - p.offset) @ gain.T
    cov = torch.eye(h) - gain @ cov_zx.T
    return mean, cov


def eq45(p: LinearGaussian, x: torch.Tensor) -> torch.Tensor:
    """Seed 002 eq. 45, the mean pPCA log-likelihood through the data covariance S."""
    d = x.shape[1]
    centred = x - p.offset
    s = centred.T @ centred / x.shape[0]
    c = p.weight @ p.weight.T + p.sigma**2 * torch.eye(d)
    trace = torch.trace(torch.linalg.solve(c, s))
    return -0.5 * d * math.log(2 * math.pi) - 0.5 * torch.logdet(c) - 0.5 * trace


def mean_exact_log_lik(p: LinearGaussian, x: torch.Tensor) -> float:
    return brute_marginal(p).log_prob(x).mean().item()


def covariance_tolerance(cov: torch.Tensor, n: int, k: float = 5.0) -> torch.Tensor:
    """``k`` standard errors of each entry of a sample covariance of n Gaussian rows."""
    var = (cov**2 + torch.outer(cov.diagonal(), cov.diagonal())) / n
    return k * var.sqrt()


def sample_covariance(x: torch.Tensor) -> torch.Tensor:
    centred = x - x.mean(0)
    return centred.T @ centred / x.shape[0]


@pytest.fixture
def ppca_fit():
    """pPCA data (N = 2000, D = 10, H = 2) and its maximum-likelihood solution."""
    x = ppca_data(n_train=2000, n_test=10, data_dim=D, latent_dim=H, sigma=0.1, seed=0).x_train
    return x, ppca_mle(x, H)


# --------------------------------------------------------------------------------------------
# The marginal p(x) (acceptance: exact linear-Gaussian log-likelihood).
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_marginal_is_the_full_covariance_gaussian(seed):
    p = random_params(seed)
    x = random_rows(seed + 100)
    expected = brute_marginal(p).log_prob(x)
    torch.testing.assert_close(p.marginal().log_prob(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_linear_vae_marginal_and_evaluation_log_likelihood_are_exact(seed):
    p = random_params(seed)
    x = random_rows(seed + 100)
    model = LinearVAE(D, H).load(p)
    expected = brute_marginal(p).log_prob(x)
    with torch.no_grad():
        torch.testing.assert_close(model.marginal().log_prob(x), expected, rtol=1e-12, atol=1e-12)
    est = log_likelihood(model, x)
    assert est.exact
    assert est.value == pytest.approx(expected.mean().item(), rel=1e-12)
    assert est.se == pytest.approx(expected.std().item() / math.sqrt(len(x)), rel=1e-9)


def test_linear_vae_load_and_linear_gaussian_round_trip():
    p = random_params(3)
    back = LinearVAE(D, H, sigma=2.0).load(p).linear_gaussian()
    torch.testing.assert_close(back.weight, p.weight, rtol=0, atol=0)
    torch.testing.assert_close(back.offset, p.offset, rtol=0, atol=0)
    torch.testing.assert_close(back.sigma, p.sigma, rtol=1e-14, atol=0)


# --------------------------------------------------------------------------------------------
# The posterior p(z | x) and the mean-field encoder.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("orthogonal", [False, True])
def test_posterior_is_joint_gaussian_conditioning(orthogonal):
    p = random_params(4, orthogonal=orthogonal)
    x = random_rows(5)
    post = p.posterior(x)
    mean, cov = conditioned_on_x(p, x)
    torch.testing.assert_close(post.mean, mean, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(post.covariance_matrix, cov.expand(len(x), H, H), rtol=1e-10, atol=1e-12)


def _mean_field(p: LinearGaussian, x: torch.Tensor):
    v, b, tau = p.mean_field_encoder()
    return x @ v.T + b, tau


def test_mean_field_encoder_at_orthogonal_weight_is_the_exact_posterior():
    p = random_params(6, orthogonal=True)
    x = random_rows(7)
    mean, cov = conditioned_on_x(p, x)
    assert (cov - torch.diag(cov.diagonal())).abs().max() < 1e-12  # the posterior is factorised
    q_mean, tau = _mean_field(p, x)
    torch.testing.assert_close(q_mean, mean, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(tau**2, cov.diagonal(), rtol=1e-10, atol=1e-12)
    kl = td.kl_divergence(td.MultivariateNormal(q_mean, torch.diag(tau**2)), td.MultivariateNormal(mean, cov))
    assert kl.abs().max() < 1e-10


def test_mean_field_encoder_at_ppca_solution_is_the_exact_posterior(ppca_fit):
    x, sol = ppca_fit
    mean, cov = conditioned_on_x(sol, x)
    q_mean, tau = _mean_field(sol, x)
    kl = td.kl_divergence(td.MultivariateNormal(q_mean, torch.diag(tau**2)), td.MultivariateNormal(mean, cov))
    assert kl.abs().max() < 1e-10


def test_mean_field_encoder_at_non_orthogonal_weight_is_the_best_diagonal_gaussian():
    """The best ``N(m, diag τ²)`` against ``N(m, Σ)`` in ``KL(q ‖ p)`` has ``τ_h² = 1/(Σ⁻¹)_hh``."""
    p = random_params(8)
    x = random_rows(9)
    mean, cov = conditioned_on_x(p, x)
    assert (cov - torch.diag(cov.diagonal())).abs().max() > 1e-2  # really a correlated posterior
    q_mean, tau = _mean_field(p, x)
    torch.testing.assert_close(q_mean, mean, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(tau**2, 1 / torch.linalg.inv(cov).diagonal(), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(tau**2, cov.diagonal())

    def kl(t):
        q = td.MultivariateNormal(mean[0], torch.diag(t**2))
        return td.kl_divergence(q, td.MultivariateNormal(mean[0], cov))

    best = kl(tau)
    assert best > 1e-3  # the mean field cannot be exact here
    for factor in (0.9, 1.1):
        for h in range(H):
            scaled = tau.clone()
            scaled[h] *= factor
            assert kl(scaled) > best


# --------------------------------------------------------------------------------------------
# ppca_mle (acceptance: the pPCA solution is a stationary point, eq. 45).
# --------------------------------------------------------------------------------------------


def test_ppca_mle_gradient_of_the_exact_log_likelihood_vanishes(ppca_fit):
    x, sol = ppca_fit
    weight = sol.weight.clone().requires_grad_()
    offset = sol.offset.clone().requires_grad_()
    log_sigma = sol.sigma.log().clone().requires_grad_()
    ll = LinearGaussian(weight, offset, log_sigma.exp()).marginal().log_prob(x).mean()
    ll.backward()
    for grad in (weight.grad, offset.grad, log_sigma.grad):
        assert grad.abs().max() < 1e-6
    # the same through the linear VAE's parameters (its marginal is differentiable in θ)
    model = LinearVAE(D, H).load(sol)
    model.marginal().log_prob(x).mean().backward()
    for param in (model.decoder.weight, model.decoder.bias, model.observation.log_sigma):
        assert param.grad.abs().max() < 1e-6
    # a non-stationary point has a clearly non-zero gradient (the check can fail)
    model = LinearVAE(D, H).load(LinearGaussian(sol.weight, sol.offset, 1.2 * sol.sigma))
    model.marginal().log_prob(x).mean().backward()
    assert model.observation.log_sigma.grad.abs() > 1.0


def test_ppca_mle_log_likelihood_is_eq45(ppca_fit):
    x, sol = ppca_fit
    assert mean_exact_log_lik(sol, x) == pytest.approx(eq45(sol, x).item(), rel=1e-12)
    other = random_params(10)
    assert mean_exact_log_lik(other, x) == pytest.approx(eq45(other, x).item(), rel=1e-12)


def test_ppca_mle_beats_perturbed_and_other_parameters(ppca_fit):
    x, sol = ppca_fit
    best = mean_exact_log_lik(sol, x)
    g = torch.Generator().manual_seed(11)
    for _ in range(5):
        p = LinearGaussian(
            sol.weight + 0.01 * torch.randn(D, H, generator=g),
            sol.offset + 0.01 * torch.randn(D, generator=g),
            sol.sigma * math.exp(0.05 * torch.randn((), generator=g).item()),
        )
        assert mean_exact_log_lik(p, x) < best
    truth = ppca_data(n_train=2000, n_test=10, data_dim=D, latent_dim=H, sigma=0.1, seed=0).truth
    assert mean_exact_log_lik(truth, x) < best
    for seed in range(3):
        assert mean_exact_log_lik(random_params(20 + seed), x) < best
    # any rotation W R is also a maximum (the pPCA likelihood only sees W Wᵀ)
    angle = 0.7
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    rotated = LinearGaussian(sol.weight @ rot, sol.offset, sol.sigma)
    assert mean_exact_log_lik(rotated, x) == pytest.approx(best, rel=1e-12)


def test_ppca_mle_is_the_tipping_bishop_solution(ppca_fit):
    """μ = data mean, σ² = mean of the discarded eigenvalues of S, W Wᵀ = U_H (Λ_H − σ² I) U_Hᵀ,
    with the eigenvalues taken from an SVD of the centred data, and orthogonal columns."""
    x, sol = ppca_fit
    centred = x - x.mean(0)
    _, s, vt = torch.linalg.svd(centred, full_matrices=False)
    lam = s**2 / x.shape[0]
    s2 = lam[H:].mean()
    torch.testing.assert_close(sol.offset, x.mean(0), rtol=1e-12, atol=1e-12)
    assert sol.sigma.item() ** 2 == pytest.approx(s2.item(), rel=1e-10)
    u = vt[:H].T
    expected = u @ torch.diag(lam[:H] - s2) @ u.T
    torch.testing.assert_close(sol.weight @ sol.weight.T, expected, rtol=1e-9, atol=1e-12)
    gram = sol.weight.T @ sol.weight
    assert (gram - torch.diag(gram.diagonal())).abs().max() < 1e-10
    torch.testing.assert_close(gram.diagonal(), lam[:H] - s2, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("latent_dim", [0, D, D + 1, True, 2.0])
def test_ppca_mle_rejects_bad_latent_dim(latent_dim):
    x = random_rows(12)
    with pytest.raises(ConfigError, match="latent_dim"):
        ppca_mle(x, latent_dim)


@pytest.mark.parametrize("x", [torch.zeros(10), torch.zeros(5, 3, dtype=torch.long), [[0.0, 1.0]]])
def test_ppca_mle_rejects_bad_data(x):
    with pytest.raises(DataError, match="ppca_mle"):
        ppca_mle(x, 1)


# --------------------------------------------------------------------------------------------
# Data: pPCA and PCA-ring (seed 002 App. C, eq. 77–81).
# --------------------------------------------------------------------------------------------


def test_ppca_data_is_reproducible_per_seed_and_has_the_right_shapes():
    a = ppca_data(n_train=30, n_test=20, data_dim=7, latent_dim=3, seed=5)
    b = ppca_data(n_train=30, n_test=20, data_dim=7, latent_dim=3, seed=5)
    c = ppca_data(n_train=30, n_test=20, data_dim=7, latent_dim=3, seed=6)
    assert a.x_train.shape == (30, 7) and a.x_test.shape == (20, 7)
    assert a.truth.weight.shape == (7, 3) and a.truth.offset.shape == (7,) and a.truth.sigma.shape == ()
    assert a.x_train.dtype == torch.float64
    for field in ("x_train", "x_test"):
        assert torch.equal(getattr(a, field), getattr(b, field))
        assert not torch.allclose(getattr(a, field), getattr(c, field))
    assert torch.equal(a.truth.weight, b.truth.weight) and not torch.allclose(a.truth.weight, c.truth.weight)
    assert not torch.allclose(a.x_train[:20], a.x_test)  # train and test are different draws
    # W and μ are drawn from U(0, 1) (App. C)
    for t in (a.truth.weight, a.truth.offset):
        assert t.min() >= 0 and t.max() <= 1
    assert a.truth.sigma.item() == 0.1


def test_ppca_data_has_the_model_mean_and_covariance():
    data = ppca_data(seed=1)  # 10 000 + 10 000 rows, D = 10, H = 2, σ = 0.1
    x = torch.cat([data.x_train, data.x_test])
    cov = data.truth.weight @ data.truth.weight.T + data.truth.sigma**2 * torch.eye(D)
    n = x.shape[0]
    assert ((x.mean(0) - data.truth.offset).abs() <= 5 * (cov.diagonal() / n).sqrt()).all()
    assert ((sample_covariance(x) - cov).abs() <= covariance_tolerance(cov, n)).all()


def test_pca_ring_is_eq81_of_the_same_generator():
    """Recompute eq. 79–81 with the generator of the seed: W, μ ~ U(0, 1), then z, then ε."""
    n_train, n_test, d, h, sigma, seed = 40, 15, 6, 2, 0.1, 3
    data = pca_ring(n_train=n_train, n_test=n_test, data_dim=d, latent_dim=h, sigma=sigma, seed=seed)
    g = torch.Generator().manual_seed(seed)
    weight = torch.rand(d, h, generator=g)
    offset = torch.rand(d, generator=g)
    z = torch.randn(n_train + n_test, h, generator=g)
    x = z @ weight.T + sigma * torch.randn(n_train + n_test, d, generator=g)
    expected = offset + x / 10 + x / x.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(data.truth.weight, weight, rtol=0, atol=0)
    torch.testing.assert_close(data.truth.offset, offset, rtol=0, atol=0)
    torch.testing.assert_close(data.x_train, expected[:n_train], rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(data.x_test, expected[n_train:], rtol=1e-14, atol=1e-14)


def test_pca_ring_rows_lie_on_the_ring_around_the_latent_gaussian():
    """``x′ − μ = x (1/10 + 1/|x|)``: its norm is ``1 + |x|/10 ≥ 1``, and undoing the map gives
    back rows with covariance ``W Wᵀ + σ² I`` (no μ)."""
    data = pca_ring(seed=2)
    r = torch.cat([data.x_train, data.x_test]) - data.truth.offset
    norm = r.norm(dim=-1)
    assert (norm > 1).all()
    x = r * (10 * (norm - 1) / norm)[:, None]  # |x| = 10 (|x′ − μ| − 1), same direction
    cov = data.truth.weight @ data.truth.weight.T + data.truth.sigma**2 * torch.eye(D)
    n = x.shape[0]
    assert (x.mean(0).abs() <= 5 * (cov.diagonal() / n).sqrt()).all()
    assert ((sample_covariance(x) - cov).abs() <= covariance_tolerance(cov, n)).all()
    same = pca_ring(seed=2)
    assert torch.equal(same.x_train, data.x_train)
    assert not torch.allclose(pca_ring(n_train=100, n_test=1, seed=3).x_train, data.x_train[:100])


@pytest.mark.parametrize("make", [ppca_data, pca_ring])
@pytest.mark.parametrize(
    "kwargs",
    [dict(sigma=0.0), dict(sigma=-0.1), dict(sigma=math.inf), dict(sigma=True), dict(n_train=0, n_test=0),
     dict(n_train=0, n_test=10), dict(n_train=-5, n_test=10), dict(n_train=10, n_test=-3),
     dict(n_train=True), dict(data_dim=0), dict(latent_dim=0)],
)
def test_data_rejects_bad_arguments(make, kwargs):
    with pytest.raises(ConfigError, match=make.__name__):
        make(**kwargs)


def test_ppca_mle_of_float32_data_is_the_float64_solution_rounded():
    x = ppca_data(n_train=2000, n_test=1, seed=4).x_train.float()
    single, double = ppca_mle(x, 2), ppca_mle(x.double(), 2)
    assert single.weight.dtype == single.offset.dtype == single.sigma.dtype == torch.float32
    for a, b in ((single.weight, double.weight), (single.offset, double.offset), (single.sigma, double.sigma)):
        torch.testing.assert_close(a.double(), b, rtol=1e-6, atol=1e-7)
