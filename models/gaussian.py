"""Models with a Gaussian observation family."""

from __future__ import annotations

import math
import numbers

import pyro
import pyro.distributions as dist
import torch
from pyro.nn.module import to_pyro_module_
from torch import nn

from pyro_vae.bits import MAX_ENUMERATED_BITS
from pyro_vae.errors import ConfigError
from pyro_vae.families import Gaussian, HeteroscedasticGaussian, code_bits
from pyro_vae.naming import UniquelyNamed
from pyro_vae.networks import Concatenate, UnitColumnLinear, mlp
from pyro_vae.ppca import LinearGaussian
from pyro_vae.validation import (
    as_float_tensor,
    check_flag,
    check_positive_int,
    check_positive_number,
    check_tensor,
)

from .vae import ExponentialFamilyVAE


def _check_arguments(where: str, data_dim, latent_dim, sigma=1.0, learn_sigma=False) -> None:
    """Before any layer is built, so that a bad value is named as the caller passed it."""
    check_positive_int(f"{where}: data_dim", data_dim)
    check_positive_int(f"{where}: latent_dim", latent_dim)
    check_positive_number(f"{where}: sigma", sigma)
    check_flag(f"{where}: learn_sigma", learn_sigma)


def _follow_dtype(model: nn.Module, dtype: torch.dtype, sigma) -> None:
    """Move ``model`` to the dtype of its centres, with σ set in that precision."""
    if dtype != torch.get_default_dtype():
        model.to(dtype)
        with torch.no_grad():
            model.observation.log_sigma.fill_(math.log(sigma))


class GaussianMixture(ExponentialFamilyVAE):
    """``p(z) = 1/K``, ``p_θ(x | z) = N(x | θ z_onehot, σ² I)``: the toy of seed 000 §4.1.

    :param centres: a ``K × D`` tensor, the initial centres θ (one row per code z); the model
        takes their floating-point dtype.
    :param sigma: the observation noise σ, fixed unless ``learn_sigma``.
    """

    def __init__(self, centres: torch.Tensor, sigma: float, learn_sigma: bool = False):
        centres = as_float_tensor("GaussianMixture: centres", centres, ("K", "D"))
        if centres.shape[0] < 2:
            raise ConfigError(f"GaussianMixture: centres must be a K × D tensor with K ≥ 2, got shape "
                              f"{tuple(centres.shape)}")
        check_positive_number("GaussianMixture: sigma", sigma)
        check_flag("GaussianMixture: learn_sigma", learn_sigma)
        k, d = centres.shape
        decoder = nn.Linear(k, d, bias=False)
        prior = dist.Categorical(logits=torch.zeros(k))
        super().__init__(prior, decoder, Gaussian(sigma, learn_sigma=learn_sigma))
        _follow_dtype(self, centres.dtype, sigma)
        with torch.no_grad():
            decoder.weight.copy_(centres.T)

    @property
    def centres(self) -> torch.Tensor:
        """The current centres θ, one row per code."""
        return self.decoder.weight.T.detach()

    @property
    def sigma(self) -> float:
        return self.observation.sigma.item()


class GaussianRBM(UniquelyNamed):
    """Gaussian–Bernoulli RBM over m bits, the consistent-set model of seed 000 §4.1 (eq. 7, 11).

    ``p(x, z) ∝ exp(−|x|²/2σ² + <x, a + W z>/σ² + <v, z>)`` with z ∈ {0,1}^m. Written as a
    mixture over the 2^m codes: centres ``μ(z) = a + W z`` (affine in the bits) and weights
    ``p(z) ∝ exp(<v, z> + |μ(z)|²/2σ²)``. Its posterior factorises over the bits, so the
    factorised Bernoulli guide can match it exactly: it lies in the consistent set.
    """

    latent_is_discrete = True

    def __init__(self, data_dim: int, bits: int, sigma: float):
        super().__init__()
        check_positive_int("GaussianRBM: data_dim", data_dim)
        # the prior and the likelihood enumerate all 2^m codes
        if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or not 1 <= bits <= MAX_ENUMERATED_BITS:
            raise ConfigError(f"GaussianRBM: bits must be an int in 1..{MAX_ENUMERATED_BITS} (its 2^bits codes are "
                              f"enumerated), got {bits!r}")
        check_positive_number("GaussianRBM: sigma", sigma)
        data_dim, bits = int(data_dim), int(bits)
        self.bits = bits
        self.observation = Gaussian(sigma)
        to_pyro_module_(self.observation)
        self.register_buffer("table", code_bits(bits), persistent=False)
        self.offset = nn.Parameter(torch.zeros(data_dim))
        self.weight = nn.Parameter(torch.zeros(data_dim, bits))
        self.bias = nn.Parameter(torch.zeros(bits))

    @classmethod
    def from_centres(cls, centres: torch.Tensor, sigma: float) -> "GaussianRBM":
        """Start at a = μ(0…0) and W_j = μ(e_j) − μ(0…0), read off ``2^m × D`` centres (m ≥ 1);
        the RBM takes their floating-point dtype."""
        centres = as_float_tensor("GaussianRBM.from_centres: centres", centres, ("K", "D"))
        k, d = centres.shape
        bits = k.bit_length() - 1
        if k < 2 or 2**bits != k:
            raise ConfigError(f"GaussianRBM.from_centres: needs 2^m centres with m ≥ 1 (2, 4, 8, …), got {k}")
        rbm = cls(d, bits, sigma)
        _follow_dtype(rbm, centres.dtype, sigma)
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


class GaussianVAE(ExponentialFamilyVAE):
    """A standard Gaussian VAE of seed 002: ``z ~ N(0, diag α²)``, ``x ~ N(μ_θ(z), Σ_θ(z))``.

    :param decoder: maps z to the observation family's predictor.
    :param observation: :class:`~pyro_vae.families.Gaussian` (σ shared: VAE-1, VAE-2, linear
        VAE) or :class:`~pyro_vae.families.HeteroscedasticGaussian` (σ(z): VAE-3).
    :param latent_dim: H.
    :param learn_prior_scale: learn the prior standard deviations α_h (VAE-2, eq. 12, 15);
        α = 1 otherwise.
    """

    def __init__(self, decoder: nn.Module, observation, latent_dim: int, learn_prior_scale: bool = False):
        check_positive_int(f"{type(self).__name__}: latent_dim", latent_dim)
        check_flag(f"{type(self).__name__}: learn_prior_scale", learn_prior_scale)
        prior = dist.Normal(torch.zeros(latent_dim), torch.ones(latent_dim)).to_event(1)
        super().__init__(prior, decoder, observation)
        self.latent_dim = latent_dim
        self.log_prior_scale = nn.Parameter(torch.zeros(latent_dim)) if learn_prior_scale else None

    @property
    def prior(self) -> dist.Distribution:
        if self.log_prior_scale is None:
            return super().prior
        scale = self.log_prior_scale.exp()
        return dist.Normal(torch.zeros_like(scale), scale).to_event(1)


class LinearVAE(GaussianVAE):
    """The linear VAE's decoder (seed 002 eq. 29–30): ``x ~ N(W z + μ₀, σ² I)``, ``z ~ N(0, I)``.

    Its log-likelihood is closed form (:meth:`marginal`), and so is its posterior.
    """

    def __init__(self, data_dim: int, latent_dim: int, sigma: float = 1.0, learn_sigma: bool = True):
        _check_arguments("LinearVAE", data_dim, latent_dim, sigma, learn_sigma)
        super().__init__(nn.Linear(latent_dim, data_dim), Gaussian(sigma, learn_sigma), latent_dim)

    def linear_gaussian(self) -> LinearGaussian:
        """The current ``(W, μ₀, σ)``, detached: for the closed forms of :mod:`pyro_vae.ppca`."""
        return LinearGaussian(
            self.decoder.weight.detach(), self.decoder.bias.detach(), self.observation.sigma.detach()
        )

    def load(self, params: LinearGaussian) -> "LinearVAE":
        """Set ``(W, μ₀, σ)``, e.g. to the pPCA solution of :func:`~pyro_vae.ppca.ppca_mle`."""
        if not isinstance(params, LinearGaussian):
            raise ConfigError(f"LinearVAE.load: expected a pyro_vae.ppca.LinearGaussian, got {type(params).__name__}")
        data_dim, latent_dim = self.decoder.weight.shape
        check_tensor("LinearVAE.load: weight", params.weight, (data_dim, latent_dim))
        check_tensor("LinearVAE.load: offset", params.offset, (data_dim,))
        check_tensor("LinearVAE.load: sigma", params.sigma, ())
        if not params.sigma > 0:
            raise ConfigError(f"LinearVAE.load: sigma must be positive, got {params.sigma.item():g}")
        with torch.no_grad():
            self.decoder.weight.copy_(params.weight)
            self.decoder.bias.copy_(params.offset)
            self.observation.log_sigma.copy_(params.sigma.log())
        return self

    def marginal(self) -> dist.LowRankMultivariateNormal:
        """``p_θ(x) = N(x; μ₀, W Wᵀ + σ² I)`` (seed 002 eq. 45), differentiable in θ."""
        return LinearGaussian(self.decoder.weight, self.decoder.bias, self.observation.sigma).marginal()


class VAE1(GaussianVAE):
    """VAE-1 (seed 002 eq. 1–3): ``x ~ N(MLP(z), σ² I)`` with one shared σ (learned by default)."""

    def __init__(self, data_dim: int, latent_dim: int, hidden=(50, 50), sigma: float = 1.0,
                 learn_sigma: bool = True):
        _check_arguments("VAE1", data_dim, latent_dim, sigma, learn_sigma)
        super().__init__(mlp(latent_dim, data_dim, hidden), Gaussian(sigma, learn_sigma), latent_dim)


class VAE2(GaussianVAE):
    """VAE-2 (seed 002 eq. 12–18): VAE-1 with learned prior variances α_h² and the columns of
    the decoder's first layer of unit length; it spans the same distributions as VAE-1."""

    def __init__(self, data_dim: int, latent_dim: int, hidden=(50, 50), sigma: float = 1.0,
                 learn_sigma: bool = True):
        _check_arguments("VAE2", data_dim, latent_dim, sigma, learn_sigma)
        decoder = mlp(latent_dim, data_dim, hidden)
        decoder[0] = UnitColumnLinear(decoder[0].in_features, decoder[0].out_features)
        super().__init__(decoder, Gaussian(sigma, learn_sigma), latent_dim, learn_prior_scale=True)


class VAE3(GaussianVAE):
    """VAE-3 (seed 002 eq. 34–38): ``x ~ N(μ(z), diag σ²(z))``, μ and σ from two MLPs.

    :param scale: how the σ network's output ρ gives σ: ``"log_variance"`` (ρ = log σ², the
        default, for which Prop. 3's rescaling of the variances is exact) or ``"softplus"``; see
        :class:`~pyro_vae.families.HeteroscedasticGaussian`.
    """

    def __init__(self, data_dim: int, latent_dim: int, hidden=(50, 50), scale: str = "log_variance"):
        _check_arguments("VAE3", data_dim, latent_dim)
        decoder = Concatenate(mlp(latent_dim, data_dim, hidden), mlp(latent_dim, data_dim, hidden))
        super().__init__(decoder, HeteroscedasticGaussian(scale), latent_dim)
