"""Gradient estimators for Bernoulli latents (DisARM, REINFORCE with a baseline, IWAE's score
terms) against the exact gradient of the ELBO, computed by enumerating every code.

A small Text VAE (9 words, 3 bits, one hidden layer) with the deep encoder e2. Each estimator's
mean gradient is compared with the exact one along fixed random directions, within 3 standard
errors measured from independent repetitions.
"""

from __future__ import annotations

import math

import pyro
import pytest
import torch

from pyro_vae import guides, models
from pyro_vae.bits import split_bits
from pyro_vae.errors import ConfigError
from pyro_vae.objectives import DisARM, make_objective

VOCAB, BITS = 9, 3


@pytest.fixture
def problem():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    model = models.TextVAE(VOCAB, BITS, depth=1, hidden=6)
    guide = guides.text_encoder("e2", VOCAB, BITS, hidden=6)
    x = torch.poisson(torch.rand(6, VOCAB) * 3)
    params = [*model.parameters(), *guide.parameters()]
    return model, guide, x, params


def gradient(params):
    out = torch.cat([torch.zeros(p.numel()) if p.grad is None else p.grad.reshape(-1) for p in params])
    for p in params:
        p.grad = None
    return out


def exact_gradient(model, guide, x, params, beta=1.0):
    make_objective("enum", beta=beta).differentiable_loss(model, guide, x).backward()
    return gradient(params)


def sampled_gradients(name, model, guide, x, params, repeats, particles, warmup=0):
    objective = make_objective(name, num_particles=particles)
    for _ in range(warmup):  # lets a decaying-average baseline settle
        objective.loss_and_grads(model, guide, x)
        gradient(params)
    draws = []
    for _ in range(repeats):
        objective.loss_and_grads(model, guide, x)
        draws.append(gradient(params))
    return torch.stack(draws)


DIRECTIONS = torch.randn(4, 1000, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("name, repeats, particles", [
    ("disarm", 150, 10), ("tracegraph", 150, 10), ("iwae", 1500, 1),
])
def test_mean_gradient_is_the_exact_gradient(problem, name, repeats, particles):
    model, guide, x, params = problem
    exact = exact_gradient(model, guide, x, params)
    draws = sampled_gradients(name, model, guide, x, params, repeats, particles, warmup=30)
    directions = DIRECTIONS[:, : exact.numel()]
    projected, target = draws @ directions.T, directions @ exact
    se = projected.std(0) / math.sqrt(repeats)
    z = (projected.mean(0) - target) / se
    print(name, "z along 4 directions:", [round(v, 2) for v in z.tolist()])
    assert (z.abs() < 3).all(), z


def test_disarm_gradient_variance_is_below_reinforce_with_baseline(problem):
    model, guide, x, params = problem
    n_encoder = sum(p.numel() for p in guide.parameters())
    variance = {}
    for name in ("disarm", "tracegraph"):
        draws = sampled_gradients(name, model, guide, x, params, 150, 10, warmup=30)
        # one draw averages 10 independent particles: scale back to a single particle (or pair)
        variance[name] = 10 * draws[:, -n_encoder:].var(0).sum().item()
    print("encoder gradient variance per draw: DisARM %.4f, REINFORCE + baseline %.4f"
          % (variance["disarm"], variance["tracegraph"]))
    assert variance["disarm"] < variance["tracegraph"]


@pytest.mark.parametrize("beta", [1.0, 2.5])
def test_disarm_loss_is_an_unbiased_beta_elbo(problem, beta):
    model, guide, x, _ = problem
    exact = make_objective("enum", beta=beta).loss(model, guide, x)
    losses = torch.tensor([make_objective("disarm", 20, beta).loss(model, guide, x) for _ in range(50)])
    assert abs(losses.mean().item() - exact) < 4 * losses.std().item() / math.sqrt(50)


def test_disarm_reads_bits_sampled_one_site_each(problem):
    model, guide, x, params = problem
    exact = exact_gradient(model, guide, x, params)
    objective = DisARM(num_particles=400)
    objective.loss_and_grads(split_bits()(model), split_bits()(guide), x)
    by_bits = gradient(params)
    objective.loss_and_grads(model, guide, x)
    by_vector = gradient(params)
    # same estimator, two forms of the code: both near the exact gradient at 400 pairs
    scale = exact.norm()
    assert (by_bits - exact).norm() < 0.25 * scale
    assert (by_vector - exact).norm() < 0.25 * scale


def test_disarm_refuses_a_non_bernoulli_guide():
    model = models.VAE1(data_dim=4, latent_dim=2, hidden=(5,))
    guide = guides.DiagonalGaussian(4, 2, hidden=(5,))
    with pytest.raises(ConfigError, match="disarm needs Bernoulli latent sites; guide site 'z' is Normal"):
        DisARM().loss(model, guide, torch.randn(3, 4))
