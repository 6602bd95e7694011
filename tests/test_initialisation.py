"""Seed 003's initialisers: He ("Bench") and the MLE written into the pair ("MLE-B")."""

import math

import pytest
import torch

import pyro_vae as pv
from pyro_vae import families, guides, models
from pyro_vae.errors import ConfigError, DataError
from pyro_vae.initialisation import he_init, mle_init


def _data(n=600, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 3, generator=g) @ (2 * torch.randn(3, d, generator=g))
    return torch.bernoulli(torch.sigmoid(logits), generator=g)


def _pair(observation, d, k, deep):
    model = models.EDFVAE(observation, d, k, hidden=(16, 24) if deep else ())
    guide = guides.SharedTrunkGaussian(d, k, hidden=(20, 16) if deep else (20, d))
    return model, guide


@pytest.mark.parametrize("deep", [False, True], ids=["affine", "relu-net"])
def test_mle_b_computes_the_mle(deep):
    x = _data()
    model, guide = _pair(families.Bernoulli(), 12, 3, deep)
    solution = mle_init(model, guide, x, beta=1.5)
    z = 2 * torch.randn(50, 3)
    torch.testing.assert_close(model.predictor(z), (z.double() @ solution.weight.T + solution.bias).float())
    enc_weight, enc_bias, cov = solution.encoder()
    q = guide.posterior(x).base_dist
    torch.testing.assert_close(q.loc, (x.double() @ enc_weight.T + enc_bias).float())
    torch.testing.assert_close(q.scale, torch.diagonal(cov).sqrt().float().expand_as(q.scale))


def test_mle_b_as_in_app_b3():
    """``pass_through=False``: the MLE sits in the heads and the x̂-layer only; an affine pair
    still computes it, a deep one does not (the paper's offset at the beginning)."""
    x = _data()
    for deep in (False, True):
        model, guide = _pair(families.Bernoulli(), 12, 3, deep)
        solution = mle_init(model, guide, x, pass_through=False)
        z = torch.randn(50, 3)
        exact = torch.allclose(model.predictor(z), (z.double() @ solution.weight.T + solution.bias).float(), atol=1e-5)
        assert exact != deep
        torch.testing.assert_close(guide.mean_head.weight[:, 12:], torch.zeros(3, guide.mean_head.in_features - 12))


def test_mle_b_checks_the_pair_before_changing_it():
    x = _data()
    model, guide = _pair(families.Bernoulli(), 12, 3, deep=False)
    before = model.output_layer.weight.clone()
    with pytest.raises(ConfigError, match="3 latent units but the guide 2"):
        mle_init(model, guides.SharedTrunkGaussian(12, 2, (20, 12)), x)
    with pytest.raises(ConfigError, match="x has 10 columns but the model's data dimension is 12"):
        mle_init(model, guide, x[:, :10])
    with pytest.raises(ConfigError, match="expected an EDFVAE model and a SharedTrunkGaussian guide"):
        mle_init(model, guides.DiagonalGaussian(12, 3), x)
    torch.testing.assert_close(model.output_layer.weight, before)


def test_mle_b_elbo_at_step_0_is_l_hat_for_a_gaussian():
    """For a Gaussian decoder L̂ is exact (Cor. 1), so the sampled ELBO of the MLE-B pair is L̂."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(800, 3, generator=g) @ torch.rand(3, 10, generator=g) + 0.05 * torch.rand(800, 10, generator=g)
    model, guide = _pair(families.Gaussian(1.0, learn_sigma=True), 10, 2, deep=True)
    solution = mle_init(model, guide, x)
    assert float(model.observation.sigma.detach()) ** 2 == pytest.approx(solution.edf.dispersion, rel=1e-5)
    estimate = pv.elbo(model, guide, x, num_samples=200)
    l_hat = float(solution.objective(x))
    assert abs(estimate.value - l_hat) < 4 * estimate.se + 1e-4 * abs(l_hat)


def test_he_init_statistics():
    layer = torch.nn.Linear(400, 300)
    he_init(layer)
    std = layer.weight.std().item()
    n = layer.weight.numel()
    assert abs(std - math.sqrt(2 / 400)) < 4 * math.sqrt(2 / 400) / math.sqrt(2 * n)
    assert torch.count_nonzero(layer.bias) == 0


def test_he_init_refuses_what_is_not_a_module():
    with pytest.raises(ConfigError, match="he_init: expected torch modules .*got str"):
        he_init(torch.nn.Linear(2, 2), "model")


def test_mle_b_refuses_what_it_cannot_represent():
    x = _data()
    model, guide = _pair(families.Bernoulli(), 12, 3, deep=True)
    with pytest.raises(DataError, match="x ≥ 0"):
        mle_init(models.EDFVAE(families.Gaussian(1.0), 12, 3), guide, x - 0.5)
    narrow = models.EDFVAE(families.Bernoulli(), 12, 3, hidden=(4, 24))
    with pytest.raises(ConfigError, match=r"decoder needs ≥ 6 units .*\[4\]"):
        mle_init(narrow, guide, x)
    with pytest.raises(ConfigError, match=r"encoder trunk needs ≥ 12 units"):
        mle_init(model, guides.SharedTrunkGaussian(12, 3, hidden=(20, 8)), x)


def test_edf_vae_refuses_a_family_outside_table_1():
    with pytest.raises(ConfigError, match="no exponential-dispersion view"):
        models.EDFVAE(families.Categorical(3), 4, 2)


@pytest.mark.parametrize("call, error, message", [
    (lambda m, g, x: mle_init(m, g, x, pass_through="no"), ConfigError,
     "mle_init: pass_through must be True or False, got 'no'"),
    (lambda m, g, x: mle_init(m, g, x[:0]), DataError,
     r"mle_init: x must be a tensor of shape \(N, d\) with at least one row, got shape \(0, 12\)"),
    (lambda m, g, x: mle_init(m, g, x.index_fill(0, torch.tensor([4]), math.nan)), DataError,
     r"mle_init: x: 12 non-finite value\(s\) \(NaN or inf\), first at index \(4, 0\)"),
])
def test_mle_b_refuses_bad_arguments_before_changing_the_pair(call, error, message):
    x = _data()
    model, guide = _pair(families.Bernoulli(), 12, 3, deep=False)
    before = model.output_layer.weight.clone()
    with pytest.raises(error, match=message):
        call(model, guide, x)
    torch.testing.assert_close(model.output_layer.weight, before)
