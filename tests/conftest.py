"""Fixtures and hand-written references shared by the tests."""

import math

import pytest
import torch
import torch.nn.functional as F
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


E1_CODES = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])  # code k = its bits, MSB first


def e1_log_q(guide, x):
    """Hand-written ``log q(z | x)`` of the factorised guide for the 4 codes, shape (n, 4):
    a product of per-bit sigmoids of the encoder output."""
    logits = guide.encoder(x)
    bits = E1_CODES.to(logits.dtype)
    log_on, log_off = F.logsigmoid(logits), F.logsigmoid(-logits)
    return (bits * log_on[:, None, :] + (1 - bits) * log_off[:, None, :]).sum(-1)


def e1_log_lik(model, x):
    """Hand-written ``log N(x | θ_z, σ² I)`` for the 4 codes, shape (n, 4), differentiable."""
    centres = model.decoder.weight.T
    s2 = model.observation.sigma**2
    sq = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return -0.5 * sq / s2 - 0.5 * x.shape[-1] * torch.log(2 * math.pi * s2)


def e1_log_joint(model, x):
    """``log p(x, z) = log 1/4 + log N(x | θ_z, σ² I)``, shape (n, 4)."""
    return math.log(1 / 4) + e1_log_lik(model, x)
