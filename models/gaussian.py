"""Models with a Gaussian observation family."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.nn.module import to_pyro_module_
from torch import nn

from pyro_vae.errors import ConfigError
from pyro_vae.families import Gaussian, HeteroscedasticGaussian, code_bits
from pyro_vae.naming import UniquelyNamed
from pyro_vae.networks import Concatenate, UnitColumnLinear, mlp
from pyro_vae.ppca import LinearGaussian
from pyro_vae.validation import check_positive_int

from .vae import ExponentialFamilyVAE


class GaussianMixture(ExponentialFamilyVAE):
    """``p(z) = 1/K``, ``p_θ(x | z) = N(x | θ z_onehot, σ² I)``: the toy of seed 000 §4.1.

    :param centres: a ``K × D`` tensor, the initial centres θ (one row per code z).
    :param sigma: the observation noise σ, fixed unless ``learn_sigma``.
    """

    def __init__(self, centres: torch.Tensor, sigma: float, learn_sigma: bool = False):
        centres = torch.as_tensor(centres, dtype=torch.get_default_dtype())
        if centres.dim() != 2 or centres.shape[0] < 2:
            raise ConfigError(f"centres must be a K × D tensor with K ≥ 2, got shape {tuple(centres.shape)}")
        if not torch.isfinite(centres).all():
            raise ConfigError("centres must be finite")
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
            raise ConfigError(f"from_centres needs 2^m centres, got {k}")
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
        check_positive_int("latent_dim", latent_dim)
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
        check_positive_int("data_dim", data_dim)
        super().__init__(nn.Linear(latent_dim, data_dim), Gaussian(sigma, learn_sigma), latent_dim)

    def linear_gaussian(self) -> LinearGaussian:
        """The current ``(W, μ₀, σ)``, detached: for the closed forms of :mod:`pyro_vae.ppca`."""
        return LinearGaussian(
            self.decoder.weight.detach(), self.decoder.bias.detach(), self.observation.sigma.detach()
        )

    def load(self, params: LinearGaussian) -> "LinearVAE":
        """Set ``(W, μ₀, σ)``, e.g. to the pPCA solution of :func:`~pyro_vae.ppca.ppca_mle`."""
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
        super().__init__(mlp(latent_dim, data_dim, hidden), Gaussian(sigma, learn_sigma), latent_dim)


class VAE2(GaussianVAE):
    """VAE-2 (seed 002 eq. 12–18): VAE-1 with learned prior variances α_h² and the columns of
    the decoder's first layer of unit length; it spans the same distributions as VAE-1."""

    def __init__(self, data_dim: int, latent_dim: int, hidden=(50, 50), sigma: float = 1.0,
                 learn_sigma: bool = True):
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
        decoder = Concatenate(mlp(latent_dim, data_dim, hidden), mlp(latent_dim, data_dim, hidden))
        super().__init__(decoder, HeteroscedasticGaussian(scale), latent_dim)
