"""Models with a Gaussian observation family."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from pyro.nn.module import to_pyro_module_
from torch import nn

from pyro_vae.families import Gaussian, code_bits
from pyro_vae.naming import unique_name

from .vae import ExponentialFamilyVAE


class GaussianMixture(ExponentialFamilyVAE):
    """``p(z) = 1/K``, ``p_θ(x | z) = N(x | θ z_onehot, σ² I)``: the toy of seed 000 §4.1.

    :param centres: a ``K × D`` tensor, the initial centres θ (one row per code z).
    :param sigma: the observation noise σ, fixed unless ``learn_sigma``.
    """

    def __init__(self, centres: torch.Tensor, sigma: float, learn_sigma: bool = False):
        centres = torch.as_tensor(centres, dtype=torch.get_default_dtype())
        if centres.dim() != 2 or centres.shape[0] < 2:
            raise ValueError(f"centres must be a K × D tensor with K ≥ 2, got shape {tuple(centres.shape)}")
        if not torch.isfinite(centres).all():
            raise ValueError("centres must be finite")
        k, d = centres.shape
        decoder = nn.Linear(k, d, bias=False)
        with torch.no_grad():
            decoder.weight.copy_(centres.T)
        prior = dist.Categorical(logits=torch.zeros(k))
        super().__init__(prior, decoder, Gaussian(float(sigma), learn_sigma=learn_sigma))

    @property
    def centres(self) -> torch.Tensor:
        """The current centres θ, one row per code."""
        return self.decoder.weight.T.detach()

    @property
    def sigma(self) -> float:
        return self.observation.sigma.item()


class GaussianRBM(PyroModule):
    """Gaussian–Bernoulli RBM over m bits, the consistent-set model of seed 000 §4.1 (eq. 7, 11).

    ``p(x, z) ∝ exp(−|x|²/2σ² + <x, a + W z>/σ² + <v, z>)`` with z ∈ {0,1}^m. Written as a
    mixture over the 2^m codes: centres ``μ(z) = a + W z`` (affine in the bits) and weights
    ``p(z) ∝ exp(<v, z> + |μ(z)|²/2σ²)``. Its posterior factorises over the bits, so the
    factorised Bernoulli guide can match it exactly: it lies in the consistent set.
    """

    latent_is_discrete = True

    def __init__(self, data_dim: int, bits: int, sigma: float):
        super().__init__(unique_name(self))
        self.bits = bits
        self.observation = Gaussian(float(sigma))
        to_pyro_module_(self.observation)
        self.register_buffer("table", code_bits(bits), persistent=False)
        self.offset = nn.Parameter(torch.zeros(data_dim))
        self.weight = nn.Parameter(torch.zeros(data_dim, bits))
        self.bias = nn.Parameter(torch.zeros(bits))

    @classmethod
    def from_centres(cls, centres: torch.Tensor, sigma: float) -> "GaussianRBM":
        """Start at a = μ(0…0) and W_j = μ(e_j) − μ(0…0), read off ``2^m × D`` centres."""
        centres = torch.as_tensor(centres, dtype=torch.get_default_dtype())
        k, d = centres.shape
        bits = k.bit_length() - 1
        if 2**bits != k:
            raise ValueError(f"from_centres needs 2^m centres, got {k}")
        rbm = cls(d, bits, sigma)
        with torch.no_grad():
            rbm.offset.copy_(centres[0])
            for j in range(bits):
                rbm.weight[:, j] = centres[2 ** (bits - 1 - j)] - centres[0]
        return rbm

    @property
    def centres(self) -> torch.Tensor:
        return self.offset + self.table @ self.weight.T

    @property
    def prior(self) -> dist.Categorical:
        centres = self.centres
        s2 = self.observation.sigma**2
        return dist.Categorical(logits=self.table @ self.bias + (centres**2).sum(-1) / (2 * s2))

    def likelihood(self, z: torch.Tensor) -> dist.Distribution:
        return self.observation.distribution(self.centres[z.long()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prior = self.prior
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", prior)
            pyro.sample("x", self.likelihood(z), obs=x)
        return z
