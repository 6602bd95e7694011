"""Fixtures shared by the tests."""

import pytest
import torch
from pyro_vae.guides import FactorisedBernoulli
from pyro_vae.models import GaussianMixture

from pyro_vae.data import gmm_toy


@pytest.fixture
def float64():
    """Exact comparisons in double precision; the default dtype is restored afterwards."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def e1_pair(n: int, seed: int, hidden=(8,)):
    """The E1 model at its true centres, an untrained small factorised guide, and n points."""
    data = gmm_toy(n=n, seed=seed)
    torch.manual_seed(seed)
    model = GaussianMixture(data.centres, data.sigma)
    guide = FactorisedBernoulli(input_dim=2, bits=2, hidden=hidden)
    return model, guide, data.x
