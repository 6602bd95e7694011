"""The importance-weighted bound and its gradient estimators, against hand-written PyTorch.

A linear Gaussian model ``z ~ N(0, I_2)``, ``x | z ~ N(W z + μ, σ² I_4)`` (:class:`LinearVAE`)
with the linear Gaussian encoder of seed 002 (:class:`LinearGaussian`). Its posterior is
Gaussian, so the encoder can be exact; there the importance weights are all ``p(x)`` and the
path derivative ``∂ log w / ∂z`` vanishes for every draw: STL and DReG give the guide a zero
gradient, the standard estimator a noisy one with mean zero (Roeder et al. 2017).
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_vae import guides, models
from pyro_vae.errors import ConfigError
from pyro_vae.objectives import make_objective
from pyro_vae.ppca import LinearGaussian as PPCA

pytestmark = pytest.mark.usefixtures("float64")

D, H, N = 4, 2, 12


def pair(exact: bool):
    """The model at a pPCA with orthogonal columns; its exact encoder, or a perturbed one."""
    pyro.clear_param_store()
    torch.manual_seed(0)
    weight = torch.tensor([[1.0, 0.0], [0.0, 0.7], [1.0, 0.0], [0.0, -0.7]])  # orthogonal columns
    params = PPCA(weight, torch.tensor([0.5, -0.2, 0.1, 0.3]), torch.tensor(0.6))
    model = models.LinearVAE(D, H).load(params)
    guide = guides.LinearGaussian(D, H)
    v, b, tau = params.mean_field_encoder()
    if not exact:
        v, b, tau = v + 0.3 * torch.randn_like(v), b + 0.2, tau * 1.4
    guide.load(v, b, tau)
    x = params.marginal().sample((N,))
    return model, guide, x


def hand_written_bound(model, guide, x, k):
    """``Σ_n log (1/K) Σ_k p(x_n, z_nk) / q(z_nk | x_n)`` with torch.distributions, drawing z
    as Pyro's Normal site does (one ``rsample`` of shape (K, N, H))."""
    mean = guide.encoder(x)
    q = torch.distributions.Normal(mean.expand(k, N, H), guide.tau.expand(k, N, H))
    z = q.rsample()
    log_q = q.log_prob(z).sum(-1)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    sigma = model.observation.sigma
    log_lik = torch.distributions.Normal(model.decoder(z), sigma).log_prob(x).sum(-1)
    log_w = log_prior + log_lik - log_q
    return (torch.logsumexp(log_w, 0) - math.log(k)).sum()


@pytest.mark.parametrize("k", [1, 7, 100])
def test_value_is_a_hand_written_log_mean_exp(k):
    model, guide, x = pair(exact=False)
    torch.manual_seed(3)
    ours = make_objective("iwae", num_particles=k).loss(model, guide, x)
    torch.manual_seed(3)
    reference = hand_written_bound(model, guide, x, k)
    assert ours == pytest.approx(-reference.item(), abs=1e-5)


def test_one_particle_is_trace_elbo():
    model, guide, x = pair(exact=False)
    torch.manual_seed(4)
    ours = make_objective("iwae", num_particles=1).loss(model, guide, x)
    torch.manual_seed(4)
    reference = pyro.infer.Trace_ELBO().loss(model, guide, x)
    assert ours == pytest.approx(reference, abs=1e-5)


def test_a_subsampled_data_plate_scales_each_point_after_the_log_mean_exp():
    """With ``plate("data", N, subsample=idx)`` the bound of the B points is multiplied by N / B."""
    torch.manual_seed(0)
    x = torch.randn(10, 3)
    idx = torch.tensor([1, 4, 7])
    loc = torch.randn(10, 2)

    def model(x):
        with pyro.plate("data", 10, subsample=idx):
            z = pyro.sample("z", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
            pyro.sample("x", dist.Normal(z.sum(-1, keepdim=True).expand(z.shape[:-1] + (3,)), 1.0).to_event(1),
                        obs=x[idx])

    def guide(x):
        with pyro.plate("data", 10, subsample=idx):
            pyro.sample("z", dist.Normal(loc[idx], 0.8).to_event(1))

    k = 5
    torch.manual_seed(1)
    ours = make_objective("iwae", num_particles=k).loss(model, guide, x)
    torch.manual_seed(1)
    q = torch.distributions.Normal(loc[idx].expand(k, 3, 2), 0.8)
    z = q.rsample()
    mean = z.sum(-1, keepdim=True).expand(k, 3, 3)
    log_w = (torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
             + torch.distributions.Normal(mean, 1.0).log_prob(x[idx]).sum(-1) - q.log_prob(z).sum(-1))
    expected = 10 / 3 * (torch.logsumexp(log_w, 0) - math.log(k)).sum()
    assert ours == pytest.approx(-expected.item(), abs=1e-6)


def guide_gradients(model, guide, x, k, estimator, repeats):
    """``repeats`` independent draws of the gradient of the guide's parameters, flattened."""
    objective = make_objective("iwae", num_particles=k, estimator=estimator)
    params = list(guide.parameters())
    draws = []
    for _ in range(repeats):
        loss = objective.differentiable_loss(model, guide, x)
        draws.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
    return torch.stack(draws)


@pytest.mark.parametrize("estimator", ["stl", "dreg"])
@pytest.mark.parametrize("k", [1, 5])
def test_at_the_exact_posterior_the_path_estimators_stick_the_landing(estimator, k):
    model, guide, x = pair(exact=True)
    torch.manual_seed(5)
    path = guide_gradients(model, guide, x, k, estimator, 20)
    standard = guide_gradients(model, guide, x, k, "standard", 20)
    assert path.abs().max() < 1e-9  # zero for every draw
    assert standard.abs().max() > 1e-2  # the score term is noise with mean zero


@pytest.mark.parametrize("estimator, k", [("stl", 1), ("dreg", 1), ("dreg", 5), ("dreg", 20)])
def test_path_estimators_are_unbiased_and_less_noisy(estimator, k):
    model, guide, x = pair(exact=False)
    torch.manual_seed(6)
    repeats = 400
    path = guide_gradients(model, guide, x, k, estimator, repeats)
    standard = guide_gradients(model, guide, x, k, "standard", repeats)
    se = (path.var(0) / repeats + standard.var(0) / repeats).sqrt()
    z = (path.mean(0) - standard.mean(0)) / se
    print(f"{estimator} K={k}: max |z| {z.abs().max():.2f} over {z.numel()} parameters; gradient variance "
          f"(sum over parameters) {path.var(0).sum():.3f} vs standard {standard.var(0).sum():.3f}")
    assert z.abs().max() < 3.5  # 12 parameters: a Bonferroni-style margin over 3
    assert path.var(0).sum() < standard.var(0).sum()


def test_estimator_is_checked():
    with pytest.raises(ConfigError, match="unknown estimator 'rws'"):
        make_objective("iwae", 5, estimator="rws")
    with pytest.raises(ConfigError, match="applies to the iwae objective, not 'elbo'"):
        make_objective("elbo", estimator="dreg")


def test_stl_is_biased_for_more_than_one_particle():
    """Tucker et al. (2019): dropping the score term is unbiased only for K = 1; we document it."""
    model, guide, x = pair(exact=False)
    torch.manual_seed(7)
    stl = guide_gradients(model, guide, x, 20, "stl", 300)
    standard = guide_gradients(model, guide, x, 20, "standard", 300)
    z = (stl.mean(0) - standard.mean(0)) / ((stl.var(0) + standard.var(0)) / 300).sqrt()
    assert z.abs().max() > 6


def test_likelihood_by_importance_sampling_in_chunks_of_points_and_particles(monkeypatch):
    """With the exact posterior as proposal every weight is p(x): the estimate is exact whatever
    the chunks, here 3 points × 7 particles at a time for K = 50."""
    from pyro_vae import evaluation

    model, guide, x = pair(exact=True)
    monkeypatch.setattr(evaluation, "MAX_CHUNK_ELEMENTS", 7 * 3 * D)
    sampled = evaluation.log_likelihood_per_point(model, x, guide=guide, num_samples=50, chunk_size=7, exact=False)
    assert sampled.shape == (N,)
    assert torch.allclose(sampled, model.marginal().log_prob(x), atol=1e-9)


def test_dreg_is_unbiased_with_beta():
    """With the latent terms weighted by β the guide's factor is (1 − β) w̃ + β w̃², not w̃²."""
    model, guide, x = pair(exact=False)
    params = list(guide.parameters())
    draws = {}
    for estimator in ("dreg", "standard"):
        objective = make_objective("iwae", 5, beta=0.3, estimator=estimator)
        torch.manual_seed(8)
        grads = []
        for _ in range(400):
            loss = objective.differentiable_loss(model, guide, x)
            grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
        draws[estimator] = torch.stack(grads)
    dreg, standard = draws["dreg"], draws["standard"]
    z = (dreg.mean(0) - standard.mean(0)) / ((dreg.var(0) + standard.var(0)) / 400).sqrt()
    assert z.abs().max() < 3.5


def test_path_estimators_refuse_a_guide_with_two_latent_sites():
    def model(x):
        with pyro.plate("data", x.shape[0]):
            a = pyro.sample("a", dist.Normal(0.0, 1.0))
            b = pyro.sample("b", dist.Normal(a, 1.0))
            pyro.sample("x", dist.Normal(b, 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            a = pyro.sample("a", dist.Normal(x, 1.0))
            pyro.sample("b", dist.Normal(a, 1.0))

    x = torch.randn(5)
    make_objective("iwae", 3).loss(model, guide, x)  # the standard estimator is fine
    for estimator in ("stl", "dreg"):
        with pytest.raises(ConfigError, match=r"one reparameterised latent site; this guide has \['a', 'b'\]"):
            make_objective("iwae", 3, estimator=estimator).differentiable_loss(model, guide, x)


def test_a_subsample_size_plate_is_no_latent_and_k_one_is_trace_elbo():
    """``plate("data", N, subsample_size=B)`` draws its indices at a guide site that is no latent."""
    torch.manual_seed(0)
    x, loc = torch.randn(10, 3), torch.randn(10, 3)

    def model(x):
        with pyro.plate("data", 10, subsample_size=4) as idx:
            z = pyro.sample("z", dist.Normal(0.0, 1.0).expand([3]).to_event(1))
            pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=x[idx])

    def guide(x):
        with pyro.plate("data", 10, subsample_size=4) as idx:
            pyro.sample("z", dist.Normal(loc[idx], 0.7).to_event(1))

    from pyro_vae.objectives.iwae import log_importance_weights

    weights = log_importance_weights(model, guide, (x,), {}, 3)
    assert weights.scale == 10 / 4 and weights.log_w.shape == (3, 4)
    assert not torch.is_tensor(weights.log_q_score)  # no score-function term to add
    torch.manual_seed(2)
    ours = make_objective("iwae", 1).loss(model, guide, x)
    torch.manual_seed(2)
    assert ours == pytest.approx(pyro.infer.Trace_ELBO().loss(model, guide, x), abs=1e-6)
