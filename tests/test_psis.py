"""PSIS k̂ (pyro_vae.psis) on importance weights whose tail is known in closed form.

A proposal N(0, s²) for the target N(0, 1) gives weights ``w ∝ exp((1 − s²) χ²₁ / 2)``, whose
right tail is Pareto with shape ``k = 1 − s²``: k = ½ for s² = ½ (the SPEC's known answer),
k = 0.8 for s² = 0.2, and bounded weights (k < 0) for s² > 1.
"""

import math
import sys
import types

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from conftest import e1_pair

from pyro_vae import evaluation
from pyro_vae.errors import ConfigError, DataError
from pyro_vae.psis import MIN_SAMPLES, khat, psis_khat


def gaussian_log_weights(s2: float, k: int, n: int, seed: int) -> torch.Tensor:
    """``log N(z; 0, 1) − log N(z; 0, s²)`` for ``z ~ N(0, s²)``, shape (k, n)."""
    z = math.sqrt(s2) * torch.randn(k, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.distributions.Normal(0.0, 1.0).log_prob(z) - torch.distributions.Normal(0.0, math.sqrt(s2)).log_prob(z)


def assert_mean_near(values: torch.Tensor, expected: float):
    se = values.std().item() / math.sqrt(values.numel())
    assert abs(values.mean().item() - expected) <= 4 * se, (values.mean().item(), se)


def test_khat_of_a_proposal_half_as_wide_in_variance_is_one_half():
    k = khat(gaussian_log_weights(0.5, 4000, 40, seed=0))
    assert k.shape == (40,) and k.dtype == torch.float64
    assert_mean_near(k, 0.5)


def test_khat_orders_proposals_by_the_heaviness_of_their_weights():
    narrow = khat(gaussian_log_weights(0.2, 4000, 40, seed=1))  # k = 0.8
    wide = khat(gaussian_log_weights(2.0, 4000, 40, seed=2))  # bounded weights
    assert narrow.mean() > 0.7 and (wide < 0).all()


def test_khat_of_equal_weights_is_minus_infinity():
    log_w = torch.zeros(50, 3)
    log_w[:, 1] = torch.randn(50, generator=torch.Generator().manual_seed(3))
    k = khat(log_w)
    assert k[0] == -math.inf and k[2] == -math.inf and math.isfinite(k[1])


def conjugate_model(x):
    """z ~ N(0, 1), x | z ~ N(z, 1): the posterior is N(x / 2, ½)."""
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=x)


def posterior_guide(relative_variance: float):
    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(x / 2, math.sqrt(0.5 * relative_variance)).to_event(1))

    return guide


@pytest.mark.parametrize("max_elements", [evaluation.MAX_CHUNK_ELEMENTS, 300])
def test_psis_khat_of_a_guide_narrower_than_the_posterior(monkeypatch, max_elements):
    """A guide with half the posterior's variance: k̂ ≈ ½ per data point, also when the rows are
    split into blocks (300 elements: 30 particles × 10 rows at a time)."""
    monkeypatch.setattr(evaluation, "MAX_CHUNK_ELEMENTS", max_elements)
    x = torch.randn(40, 1, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    pyro.set_rng_seed(5)
    k = psis_khat(conjugate_model, posterior_guide(0.5), x, num_samples=4000, chunk_size=30)
    assert k.shape == (40,)
    assert_mean_near(k, 0.5)


def test_psis_khat_checks_x_as_the_other_estimates_do():
    with pytest.raises(DataError, match="at least one point"):
        psis_khat(conjugate_model, posterior_guide(0.5), torch.zeros(0, 1))
    with pytest.raises(DataError, match="non-finite"):
        psis_khat(conjugate_model, posterior_guide(0.5), torch.full((3, 1), math.nan))


def test_psis_khat_of_the_exact_posterior_is_minus_infinity():
    x = torch.randn(5, 1, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    k = psis_khat(conjugate_model, posterior_guide(1.0), x, num_samples=50)
    assert (k == -math.inf).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"num_samples": 20}, "at least 21"),
    ({"num_samples": 100.0}, "num_samples must be a positive int"),
    ({"chunk_size": 0}, "chunk_size must be a positive int"),
])
def test_psis_khat_refuses_bad_sample_counts(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        psis_khat(conjugate_model, posterior_guide(0.5), torch.zeros(3, 1), **kwargs)


def test_psis_khat_refuses_a_discrete_guide_whose_weights_have_no_tail():
    model, guide, x = e1_pair(20, seed=0)
    with pytest.raises(ConfigError, match="no tail to fit"):
        psis_khat(model, guide, x)


def test_khat_refuses_non_finite_or_too_few_log_weights():
    with pytest.raises(ConfigError, match="NaN"):
        khat(torch.tensor([[0.0], [math.nan]] * 11))
    with pytest.raises(ConfigError, match="at least 21 samples"):
        khat(torch.randn(20, 2))


def test_khat_fits_a_tail_from_the_fewest_samples_it_accepts():
    """ArviZ returns k̂ = inf for every column below 21 samples: the floor is where a fit starts."""
    k = khat(torch.randn(MIN_SAMPLES, 3, generator=torch.Generator().manual_seed(0)))
    assert torch.isfinite(k).all()


def test_arviz_1x_gets_the_negated_log_weights_with_samples_last(monkeypatch):
    """ArviZ 1.x (``arviz_stats``) takes negated log-weights; the adapter negates them."""
    seen = {}

    def psislw(ary, r_eff=1, axis=-1):
        seen["ary"], seen["axis"] = ary, axis
        return -ary, np.full(ary.shape[:-1], 0.25)

    base = types.ModuleType("arviz_stats.base")
    base.array_stats = types.SimpleNamespace(psislw=psislw)
    monkeypatch.setitem(sys.modules, "arviz", types.ModuleType("arviz"))  # no arviz.psislw: the 1.x line
    monkeypatch.setitem(sys.modules, "arviz_stats", types.ModuleType("arviz_stats"))
    monkeypatch.setitem(sys.modules, "arviz_stats.base", base)
    log_w = gaussian_log_weights(0.5, 30, 3, seed=7)
    k = khat(log_w)
    assert torch.equal(k, torch.full((3,), 0.25, dtype=torch.float64))
    assert seen["axis"] == -1 and np.array_equal(seen["ary"], -log_w.numpy().T)
