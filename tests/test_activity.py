"""Latent activity: the empirical statistic of Burda et al. and seed 003's eq. 21."""

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_vae import families, guides
from pyro_vae.activity import active_units, analytic_activity, latent_activity
from pyro_vae.errors import ConfigError
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
