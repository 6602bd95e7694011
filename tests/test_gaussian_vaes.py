"""Tests of the Gaussian VAEs of seed 002 (``LinearVAE``, ``VAE1``, ``VAE2``, ``VAE3``), their
guides (``LinearGaussian``, ``DiagonalGaussian``) and the networks they use.

What each check is compared against:

* ``UnitColumnLinear`` and ``Concatenate``: the affine map with normalised columns and
  ``torch.cat``, written by hand;
* the densities of models and guides: ``torch.distributions.Normal`` built by hand from the
  networks' outputs (for the heteroscedastic ones σ = exp(ρ/2) by default, softplus(ρ) with
  ``scale="softplus"``);
* VAE-2 represents VAE-1 (proof of Prop. 2, eq. 26–28): with ``W̃ = W / ‖columns‖`` and
  ``α = ‖columns‖``, ``log p̃(x | α z) = log p(x | z)`` and ``log p̃(α z) = log p(z) − Σ log α``,
  so the pushed-forward guide gives the same ELBO (same Monte-Carlo draws) and the same three
  entropies (eq. 25 by hand);
* plain Pyro: ``SVI`` + ``Trace_ELBO`` steps, ``Predictive`` against the guide's own mean
  (tolerance from the number of draws), ``pairing.check_pair``, and a short training whose
  ELBO gain is compared with the estimates' standard errors and bounded by the exact pPCA
  maximum (Cor. A1).
"""

from __future__ import annotations

import math
import re

import pyro
import pyro.distributions as dist
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import SVI, Predictive, Trace_ELBO
from pyro_vae.guides import DiagonalGaussian, ExactCategorical, FactorisedBernoulli
from pyro_vae.guides import LinearGaussian as LinearGaussianGuide
from pyro_vae.models import VAE1, VAE2, VAE3, GaussianMixture, GaussianRBM, LinearVAE
from torch import nn

import pyro_vae
from pyro_vae.data.synthetic import ppca_data
from pyro_vae.entropies import three_entropies
from pyro_vae.errors import ConfigError, PairingError
from pyro_vae.evaluation import elbo, elbo_per_point, log_likelihood
from pyro_vae.networks import Concatenate, UnitColumnLinear
from pyro_vae.pairing import check_pair
from pyro_vae.ppca import LinearGaussian, ppca_mle

pytestmark = pytest.mark.usefixtures("float64")

D, H = 5, 2


def random_rows(seed: int, n: int, d: int = D) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def make_pair(kind: str, d: int = D, h: int = H, seed: int = 0):
    torch.manual_seed(seed)
    if kind == "linear":
        return LinearVAE(d, h), LinearGaussianGuide(d, h)
    model = {"vae1": VAE1, "vae2": VAE2, "vae3": VAE3}[kind](d, h, hidden=(8,))
    return model, DiagonalGaussian(d, h, hidden=(8,))


KINDS = ["linear", "vae1", "vae2", "vae3"]


# --------------------------------------------------------------------------------------------
# Networks.
# --------------------------------------------------------------------------------------------


def test_unit_column_linear_normalises_the_columns():
    torch.manual_seed(0)
    layer = UnitColumnLinear(3, 4)
    z = torch.randn(6, 3)
    w, b = layer.weight.detach(), layer.bias.detach()
    norms = torch.sqrt((w**2).sum(0))
    expected = torch.stack([sum(z[n, h] * w[:, h] / norms[h] for h in range(3)) + b for n in range(6)])
    torch.testing.assert_close(layer(z), expected, rtol=1e-12, atol=1e-12)
    # scaling a column of the raw weight changes nothing
    with torch.no_grad():
        layer.weight[:, 1] *= 7.0
    torch.testing.assert_close(layer(z), expected, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(nn.functional.linear(z, layer.weight, layer.bias), expected)


def test_concatenate_puts_the_outputs_side_by_side():
    torch.manual_seed(1)
    a, b = nn.Linear(3, 2), nn.Linear(3, 4)
    x = torch.randn(5, 3)
    out = Concatenate(a, b)(x)
    assert out.shape == (5, 6)
    torch.testing.assert_close(out[:, :2], a(x), rtol=0, atol=0)
    torch.testing.assert_close(out[:, 2:], b(x), rtol=0, atol=0)
    assert len(list(Concatenate(a, b).parameters())) == 4


# --------------------------------------------------------------------------------------------
# Densities of the models and guides.
# --------------------------------------------------------------------------------------------


def test_vae1_and_linear_vae_likelihoods_are_the_shared_sigma_gaussian():
    z, x = random_rows(1, 7, H), random_rows(2, 7)
    for model in (VAE1(D, H, hidden=(8,), sigma=0.6), LinearVAE(D, H, sigma=0.6)):
        with torch.no_grad():
            expected = torch.distributions.Normal(model.decoder(z), 0.6).log_prob(x).sum(-1)
            torch.testing.assert_close(model.likelihood(z).log_prob(x), expected, rtol=1e-12, atol=1e-12)
            prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
            torch.testing.assert_close(model.prior.log_prob(z), prior, rtol=1e-12, atol=1e-12)


SCALES = {"log_variance": lambda rho: torch.exp(0.5 * rho), "softplus": F.softplus}


def scale_option(scale: str | None) -> dict:
    """The ``scale`` keyword, or none at all to take the default (log-variance)."""
    return {} if scale is None else {"scale": scale}


@pytest.mark.parametrize("scale", [None, "log_variance", "softplus"])
def test_vae3_likelihood_has_mean_and_scale_from_two_networks(scale):
    torch.manual_seed(3)
    model = VAE3(D, H, hidden=(8,), **scale_option(scale))
    z, x = random_rows(4, 7, H), random_rows(5, 7)
    with torch.no_grad():
        mu, rho = model.decoder.networks[0](z), model.decoder.networks[1](z)
        expected = torch.distributions.Normal(mu, SCALES[scale or "log_variance"](rho)).log_prob(x).sum(-1)
        torch.testing.assert_close(model.likelihood(z).log_prob(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scale", [None, "log_variance", "softplus"])
def test_guides_are_diagonal_gaussians_of_their_networks(scale):
    torch.manual_seed(4)
    x, z = random_rows(6, 7), random_rows(7, 7, H)
    guide = DiagonalGaussian(D, H, hidden=(8,), **scale_option(scale))
    with torch.no_grad():
        nu, rho = guide.encoder.networks[0](x), guide.encoder.networks[1](x)
        expected = torch.distributions.Normal(nu, SCALES[scale or "log_variance"](rho)).log_prob(z).sum(-1)
        torch.testing.assert_close(guide.posterior(x).log_prob(z), expected, rtol=1e-12, atol=1e-12)
    linear = LinearGaussianGuide(D, H, tau=0.3)
    v, b, tau = torch.randn(H, D), torch.randn(H), torch.tensor([0.2, 1.7])
    linear.load(v, b, tau)
    torch.testing.assert_close(linear.tau, tau, rtol=1e-14, atol=0)
    with torch.no_grad():
        expected = torch.distributions.Normal(x @ v.T + b, tau).log_prob(z).sum(-1)
        torch.testing.assert_close(linear.posterior(x).log_prob(z), expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# VAE-2 represents VAE-1 (Prop. 2, eq. 26–28).
# --------------------------------------------------------------------------------------------


def vae2_from_vae1(vae1: VAE1) -> tuple[VAE2, torch.Tensor]:
    """Copy every layer and σ; the first weight is copied as is (VAE-2 normalises its columns)
    and α_h = the column norms of VAE-1's first weight (eq. 26)."""
    hidden = tuple(m.out_features for m in vae1.decoder if isinstance(m, nn.Linear))[:-1]
    vae2 = VAE2(D, H, hidden=hidden)
    alpha = vae1.decoder[0].weight.detach().norm(dim=0)
    with torch.no_grad():
        for p2, p1 in zip(vae2.decoder.parameters(), vae1.decoder.parameters()):
            p2.copy_(p1)
        vae2.observation.log_sigma.copy_(vae1.observation.log_sigma)
        vae2.log_prior_scale.copy_(alpha.log())
    return vae2, alpha


def test_vae2_with_the_normalised_vae1_weight_has_the_same_distributions():
    torch.manual_seed(5)
    vae1 = VAE1(D, H, hidden=(8, 6), sigma=0.8)
    vae2, alpha = vae2_from_vae1(vae1)
    assert not torch.allclose(alpha, torch.ones(H), atol=0.1)  # a real reparametrisation
    z, x = random_rows(8, 9, H), random_rows(9, 9)
    with torch.no_grad():
        torch.testing.assert_close(
            vae2.likelihood(alpha * z).log_prob(x), vae1.likelihood(z).log_prob(x), rtol=1e-12, atol=1e-12
        )
        # change of variables z̃ = α z: the densities differ by the Jacobian Σ log α_h
        torch.testing.assert_close(
            vae2.prior.log_prob(alpha * z) + alpha.log().sum(), vae1.prior.log_prob(z), rtol=1e-12, atol=1e-12
        )
        # without the α scaling the likelihoods really differ
        assert not torch.allclose(vae2.likelihood(z).log_prob(x), vae1.likelihood(z).log_prob(x))


def test_vae2_with_the_pushed_forward_guide_has_the_same_elbo_and_three_entropies():
    torch.manual_seed(6)
    vae1 = VAE1(D, H, hidden=(8,), sigma=0.8)
    vae2, alpha = vae2_from_vae1(vae1)
    guide = DiagonalGaussian(D, H, hidden=(8,))

    def pushed_guide(x):
        """q̃(z̃ | x): the law of z̃ = α z for z ~ q(z | x), i.e. N(α ν, diag α² τ²)."""
        q = guide.posterior(x).base_dist
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("z", dist.Normal(alpha * q.loc, alpha * q.scale).to_event(1))

    x = random_rows(10, 25)
    pyro.set_rng_seed(3)
    lb1, _ = elbo_per_point(vae1, guide, x, num_samples=20, exact=False)
    pyro.set_rng_seed(3)
    lb2, _ = elbo_per_point(vae2, pushed_guide, x, num_samples=20, exact=False)
    torch.testing.assert_close(lb2, lb1, rtol=1e-10, atol=1e-10)  # the same draws, point by point
    te1 = three_entropies(vae1, guide, x, num_samples=3)
    te2 = three_entropies(vae2, pushed_guide, x, num_samples=3)
    with torch.no_grad():
        tau = torch.exp(0.5 * guide.encoder(x)[:, H:])
    eq25 = -0.5 * D * math.log(2 * math.pi * math.e * 0.8**2) + 0.5 * (tau**2).log().sum(-1).mean().item()
    assert te1.value == pytest.approx(eq25, rel=1e-12)
    assert te2.value == pytest.approx(eq25, rel=1e-12)  # eq. 28: A cancels against Ã = A T


# --------------------------------------------------------------------------------------------
# Plain Pyro: SVI, fit, Predictive, check_pair.
# --------------------------------------------------------------------------------------------


def _learnable(model) -> dict[str, torch.Tensor]:
    out = {}
    if getattr(model.observation, "learn_sigma", False):
        out["sigma"] = model.observation.log_sigma.detach().clone()
    if getattr(model, "log_prior_scale", None) is not None:
        out["alpha"] = model.log_prior_scale.detach().clone()
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_plain_pyro_svi_steps_are_finite_and_learn_the_variances(kind):
    model, guide = make_pair(kind)
    x = random_rows(11, 20)
    before = _learnable(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO())
    losses = [svi.step(x) for _ in range(3)]
    assert all(math.isfinite(loss) for loss in losses)
    for name, value in _learnable(model).items():  # σ (VAE-1, linear) and α (VAE-2) are learned
        assert not torch.equal(value, before[name]), name
    if kind == "vae2":
        assert "alpha" in before


@pytest.mark.parametrize("kind", KINDS)
def test_fit_runs_and_check_pair_accepts_the_pair(kind):
    model, guide = make_pair(kind, seed=1)
    x = random_rows(12, 20)
    check_pair(model, guide, x[:4])
    history = pyro_vae.fit(model, guide, x, steps=4, lr=1e-2, seed=0)
    assert history.steps == [1, 2, 3, 4]
    assert all(math.isfinite(v) for v in history.elbo)


@pytest.mark.parametrize("kind", ["linear", "vae3"])
def test_posterior_predictive_with_pyros_uncondition_draws_new_data(kind):
    """The models observe x; ``poutine.uncondition`` (Pyro's idiom, as the README shows) makes
    ``Predictive`` draw x ~ p(x | z) for z ~ q(z | x) instead of returning the data."""
    model, guide = make_pair(kind, seed=2)
    x = random_rows(13, 6)
    pyro.set_rng_seed(0)
    draws = Predictive(poutine.uncondition(model), guide=guide, num_samples=400)(x)
    assert draws["x"].shape == (400, 6, D) and draws["z"].shape == (400, 6, H)
    with torch.no_grad():
        likelihood = model.likelihood(draws["z"])
        standard = (draws["x"] - likelihood.mean) / likelihood.stddev
    assert abs(standard.mean().item()) < 5 / math.sqrt(standard.numel())
    assert abs(standard.std().item() - 1) < 0.05


@pytest.mark.parametrize("kind", ["linear", "vae3"])
def test_predictive_on_the_guide_samples_its_posterior(kind):
    model, guide = make_pair(kind, seed=2)
    x = random_rows(13, 6)
    pyro.set_rng_seed(0)
    samples = Predictive(guide, num_samples=400, parallel=True)(x)["z"]
    assert samples.shape == (400, 6, H)
    with torch.no_grad():
        q = guide.posterior(x)
        mean, std = q.mean, q.base_dist.scale
    assert ((samples.mean(0) - mean).abs() <= 5 * std / math.sqrt(400)).all()
    # a sample std of 400 draws has a relative error of about 1/√800 ≈ 3.5 %
    assert ((samples.std(0) / std - 1).abs() < 0.2).all()


@pytest.mark.parametrize("kind", KINDS)
def test_a_mismatched_latent_dimension_is_a_pairing_error_naming_both(kind):
    model, _ = make_pair(kind, h=2)
    _, guide = make_pair(kind, h=3)
    pattern = f"(?s)(?=.*{re.escape(model._pyro_name)})(?=.*{re.escape(guide._pyro_name)})"
    with pytest.raises(PairingError, match=pattern):
        check_pair(model, guide, random_rows(14, 4))
    with pytest.raises(PairingError, match=pattern):
        pyro_vae.fit(model, guide, random_rows(14, 4), steps=1)


def test_short_training_of_the_linear_vae_increases_its_elbo():
    d, h = 10, 2
    x = ppca_data(n_train=200, n_test=1, data_dim=d, latent_dim=h, sigma=0.1, seed=4).x_train
    torch.manual_seed(7)
    model, guide = LinearVAE(d, h), LinearGaussianGuide(d, h)
    pyro.set_rng_seed(0)
    before = elbo(model, guide, x, num_samples=100)
    pyro_vae.fit(model, guide, x, steps=100, lr=1e-2, num_particles=10, seed=1)
    pyro.set_rng_seed(0)
    after = elbo(model, guide, x, num_samples=100)
    assert after.value - before.value > 5 * math.hypot(before.se, after.se)
    # and no ELBO exceeds the maximum log-likelihood (Cor. A1)
    best = log_likelihood(LinearVAE(d, h).load(ppca_mle(x, h)), x).value
    assert after.value <= best + 4 * after.se


# --------------------------------------------------------------------------------------------
# Bad arguments: refused before anything is built, named as the caller passed them.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("build, message", [
    (lambda: VAE1(6, 0), "VAE1: latent_dim must be a positive int, got 0"),
    (lambda: VAE1(0, 2), "VAE1: data_dim must be a positive int, got 0"),
    (lambda: VAE2(6, 0), "VAE2: latent_dim must be a positive int, got 0"),
    (lambda: VAE3(0, 2), "VAE3: data_dim must be a positive int, got 0"),
    (lambda: LinearVAE(6, -1), "LinearVAE: latent_dim must be a positive int, got -1"),
    (lambda: DiagonalGaussian(6, 0), "DiagonalGaussian: latent_dim must be a positive int, got 0"),
    (lambda: DiagonalGaussian(0, 2), "DiagonalGaussian: data_dim must be a positive int, got 0"),
    (lambda: LinearGaussianGuide(6, 2.0), "LinearGaussian: latent_dim must be a positive int, got 2.0"),
    (lambda: FactorisedBernoulli(0, 2), "FactorisedBernoulli: input_dim must be a positive int, got 0"),
    (lambda: ExactCategorical(0, 4), "ExactCategorical: input_dim must be a positive int, got 0"),
    (lambda: VAE1(6, 2, learn_sigma="no"), "VAE1: learn_sigma must be True or False, got 'no'"),
    (lambda: VAE2(6, 2, learn_sigma=0), "VAE2: learn_sigma must be True or False, got 0"),
    (lambda: LinearVAE(6, 2, learn_sigma="no"), "LinearVAE: learn_sigma must be True or False, got 'no'"),
    (lambda: VAE1(6, 2, sigma=True), "VAE1: sigma must be a positive finite number, got True"),
    (lambda: LinearGaussianGuide(6, 2, tau=math.inf), "LinearGaussian: tau must be a positive finite number, got inf"),
    (lambda: GaussianMixture(torch.eye(2), 0.5, learn_sigma="no"), "GaussianMixture: learn_sigma must be True or "
                                                                     "False, got 'no'"),
    (lambda: GaussianMixture(torch.eye(2), "1"), "GaussianMixture: sigma must be a positive finite number, got '1'"),
    (lambda: GaussianMixture(torch.tensor([[0.0, math.nan], [1.0, 1.0]]), 1.0),
     r"GaussianMixture: centres must be finite, found 1 NaN or inf value\(s\), first at index \(0, 1\)"),
    (lambda: GaussianMixture(torch.zeros(3), 1.0), r"GaussianMixture: centres must have shape \(K, D\), got \(3,\)"),
])
def test_constructors_name_the_callers_argument(build, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        build()


@pytest.mark.parametrize("build, message", [
    (lambda: GaussianRBM(6, 0, 1.0), r"GaussianRBM: bits must be an int in 1\.\.12 .*got 0"),
    (lambda: GaussianRBM(6, -1, 1.0), r"GaussianRBM: bits must be an int in 1\.\.12 .*got -1"),
    (lambda: GaussianRBM(6, 2.0, 1.0), r"GaussianRBM: bits must be an int in 1\.\.12 .*got 2\.0"),
    (lambda: GaussianRBM(6, 40, 1.0), r"GaussianRBM: bits must be an int in 1\.\.12 \(its 2\^bits codes are "
                                      r"enumerated\), got 40"),
    (lambda: GaussianRBM(0, 2, 1.0), "GaussianRBM: data_dim must be a positive int, got 0"),
    (lambda: GaussianRBM(6, 2, -1.0), "GaussianRBM: sigma must be a positive finite number, got -1.0"),
    (lambda: GaussianRBM.from_centres(torch.zeros(1, 2), 1.0), r"GaussianRBM.from_centres: needs 2\^m centres with "
                                                                "m ≥ 1 .*got 1"),
    (lambda: GaussianRBM.from_centres(torch.zeros(6, 2), 1.0), r"GaussianRBM.from_centres: needs 2\^m centres .*got 6"),
    (lambda: GaussianRBM.from_centres(torch.full((4, 2), math.nan), 1.0),
     r"GaussianRBM.from_centres: centres must be finite, found 8 NaN or inf value\(s\)"),
])
def test_gaussian_rbm_checks_its_arguments(build, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        build()


@pytest.mark.parametrize("change, message", [
    (lambda v, b, t: (v, b, -t), "LinearGaussian.load: tau must be positive, got -1 at index 0"),
    (lambda v, b, t: (v, b, t.index_fill(0, torch.tensor([1]), 0.0)), "LinearGaussian.load: tau must be positive, "
                                                                      "got 0 at index 1"),
    (lambda v, b, t: (v.T, b, t), r"LinearGaussian.load: weight must have shape \(2, 6\), got \(6, 2\)"),
    (lambda v, b, t: (v, b * math.nan, t), r"LinearGaussian.load: bias must be finite"),
    (lambda v, b, t: (v, b, t[:1]), r"LinearGaussian.load: tau must have shape \(2,\), got \(1,\)"),
])
def test_the_linear_guide_loads_only_an_encoder_of_its_shape(change, message):
    guide = LinearGaussianGuide(6, 2)
    before = [p.clone() for p in guide.parameters()]
    with pytest.raises(ConfigError, match=f"^{message}"):
        guide.load(*change(torch.zeros(2, 6), torch.zeros(2), torch.ones(2)))
    assert all(torch.equal(a, b) for a, b in zip(before, guide.parameters()))


@pytest.mark.parametrize("change, message", [
    (lambda w, m, s: (w, m, -s), "LinearVAE.load: sigma must be positive, got -1"),
    (lambda w, m, s: (w.T, m, s), r"LinearVAE.load: weight must have shape \(6, 2\), got \(2, 6\)"),
    (lambda w, m, s: (w, m * math.inf, s), "LinearVAE.load: offset must be finite"),
    (lambda w, m, s: (w, m, s.reshape(1)), r"LinearVAE.load: sigma must have shape \(\), got \(1,\)"),
])
def test_the_linear_vae_loads_only_a_decoder_of_its_shape(change, message):
    model = LinearVAE(6, 2)
    with pytest.raises(ConfigError, match=f"^{message}"):
        model.load(LinearGaussian(*change(torch.zeros(6, 2), torch.zeros(6), torch.tensor(1.0))))
    with pytest.raises(ConfigError, match="LinearVAE.load: expected a pyro_vae.ppca.LinearGaussian, got tuple"):
        model.load((torch.zeros(6, 2), torch.zeros(6), torch.tensor(1.0)))
    assert torch.isfinite(model.observation.sigma) and model.observation.sigma == 1.0


def test_mixture_and_rbm_keep_the_dtype_of_their_centres():
    """float64 centres give a float64 model, exactly those centres and σ, whatever the default dtype."""
    torch.set_default_dtype(torch.float32)  # the fixture restores the default
    centres = torch.tensor([[0.1, 0.2], [0.1, 1.3], [2.0 / 3, 0.2], [2.0 / 3, 1.3]], dtype=torch.float64)
    x = torch.tensor([[0.3, 0.7], [1.0 / 3, -0.1]], dtype=torch.float64)
    for model in (GaussianMixture(centres, 0.9), GaussianRBM.from_centres(centres, 0.9)):
        assert all(p.dtype == torch.float64 for p in [*model.parameters(), *model.buffers()])
        assert torch.equal(model.centres.detach(), centres)
        assert model.observation.sigma.item() == pytest.approx(0.9, rel=1e-15)
        codes = torch.arange(4)
        by_hand = dist.Normal(centres, 0.9).log_prob(x[:, None]).sum(-1)  # (points, codes)
        torch.testing.assert_close(model.likelihood(codes).log_prob(x[:, None]), by_hand, rtol=1e-14, atol=0)
    assert GaussianMixture(torch.tensor([[0, 1], [2, 3]]), 0.9).centres.dtype == torch.float32  # ints: the default
