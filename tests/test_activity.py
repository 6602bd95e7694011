"""Latent activity: the empirical statistic of Burda et al. and seed 003's eq. 21."""

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_vae import families, guides
from pyro_vae.activity import active_units, analytic_activity, latent_activity
from pyro_vae.errors import ConfigError, DataError
from pyro_vae.glm import glm_mle


def test_latent_activity_of_a_linear_guide_at_the_mle_is_eq_21():
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([2.0, 1.5, 0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    x = (torch.randn(4000, 8, generator=g) * scales).double()
    edf = families.Gaussian(1.0).edf().with_dispersion(0.5)
    solution = glm_mle(x, edf, 4, beta=1.0)
    enc_weight, enc_bias, cov = solution.encoder()
    guide = guides.LinearGaussian(8, 4).load(enc_weight, enc_bias, torch.diagonal(cov).sqrt())
    empirical = latent_activity(guide, x.float()).double()
    torch.testing.assert_close(empirical, solution.activity, rtol=1e-4, atol=1e-6)
    # eigenvalues ≈ 4, 2.25, 0.25, …: units 1–2 stay active, 3–4 are pruned (cut-off 0.5)
    assert active_units(empirical) == active_units(solution.activity) == 2
    torch.testing.assert_close(analytic_activity(x, edf, 4), solution.activity)


def test_latent_activity_of_a_plain_pyro_guide():
    x = torch.linspace(-1, 1, 101)[:, None].expand(101, 2)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("code", dist.Normal(torch.stack([3 * x[:, 0], 0 * x[:, 1]], -1), 1.0).to_event(1))

    activity = latent_activity(guide, x, site="code")
    torch.testing.assert_close(activity, torch.tensor([9 * x[:, 0].var(unbiased=False), 0.0]))
    assert active_units(activity) == 1
    with pytest.raises(ConfigError, match="no sample site 'z'.*'code'"):
        latent_activity(guide, x)


def test_latent_activity_refuses_a_model_a_discrete_guide_and_too_few_rows():
    from pyro_vae.guides import DiagonalGaussian, FactorisedBernoulli
    from pyro_vae.models import VAE1

    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="observes data, so it is a model; pass the guide"):
        latent_activity(VAE1(4, 2, hidden=(8,)), x)  # its prior's mean, 0: every unit would look inactive
    with pytest.raises(ConfigError, match="discrete"):
        latent_activity(FactorisedBernoulli(4, 2), x)  # a Categorical's mean is NaN
    with pytest.raises(DataError, match="at least 2 points"):
        latent_activity(DiagonalGaussian(4, 2, hidden=(8,)), x[:1])
    with pytest.raises(DataError, match="at least 2 points"):
        latent_activity(DiagonalGaussian(4, 2, hidden=(8,)), x[0])


@pytest.mark.parametrize("threshold", [-1.0, float("nan"), float("inf"), "0.01", True])
def test_active_units_refuses_a_threshold_that_is_not_a_finite_non_negative_number(threshold):
    with pytest.raises(ConfigError, match="threshold must be a finite number ≥ 0"):
        active_units(torch.tensor([0.5, 0.0]), threshold)


def test_active_units_takes_a_list():
    assert active_units([0.5, 0.0, 0.02]) == 2 and active_units([1, 0]) == 1


def test_active_units_refuses_nan_activities():
    """A NaN compares False with the threshold and would count as an inactive unit."""
    with pytest.raises(DataError, match="non-finite"):
        active_units(torch.tensor([0.5, float("nan")]))
