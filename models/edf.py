"""Models for any exponential dispersion family: seed 003's β-VAE decoder read as a GLM."""

from __future__ import annotations

from collections.abc import Sequence

import pyro.distributions as dist
import torch
from torch import nn

from pyro_vae.errors import ConfigError
from pyro_vae.families import Family
from pyro_vae.networks import mlp
from pyro_vae.validation import check_positive_int

from .vae import ExponentialFamilyVAE


class EDFVAE(ExponentialFamilyVAE):
    """``z ~ N(0, I_κ)``, ``x_j | z ~ EDF(ϑ_j(z))`` with the canonical activation (seed 003 §3.2, eq. 9).

    ϑ is an MLP with ReLU hidden layers whose output is the family's predictor (the location
    parameter ϑ for Gaussian, Bernoulli, Binomial and Poisson; the family applies F′).
    ``hidden=()`` is the "Affine" (canonical) decoder of App. B.1, ``(1000, 2000)`` its
    "ReLU-Net" (deep) decoder.

    :param observation: a family with an EDF view (``observation.edf()``), e.g.
        ``Bernoulli()`` or ``Gaussian(1.0, learn_sigma=True)``.
    """

    def __init__(self, observation: Family, data_dim: int, latent_dim: int, hidden: Sequence[int] = ()):
        check_positive_int("EDFVAE: data_dim", data_dim)
        check_positive_int("EDFVAE: latent_dim", latent_dim)
        if not isinstance(observation, Family):
            raise ConfigError(f"observation must be a family instance such as Bernoulli(), got {observation!r}")
        observation.edf()  # a clear error for a family outside seed 003's Table 1
        prior = dist.Normal(torch.zeros(latent_dim), torch.ones(latent_dim)).to_event(1)
        super().__init__(prior, mlp(latent_dim, data_dim, hidden), observation)
        self.latent_dim = latent_dim

    @property
    def output_layer(self) -> nn.Linear:
        """The layer that outputs ϑ (App. B.3's "x̂" layer)."""
        return self.decoder[-1]
