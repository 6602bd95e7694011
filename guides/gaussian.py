"""Guides over continuous latents: diagonal Gaussians ``q_φ(z | x) = N(z; ν(x), diag τ²)``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyro_vae.errors import ConfigError
from pyro_vae.families import Gaussian, HeteroscedasticGaussian
from pyro_vae.networks import Concatenate, check_hidden, mlp
from pyro_vae.validation import check_positive_int, check_positive_number, check_tensor

from .amortised import AmortisedGuide


class LinearGaussian(AmortisedGuide):
    """The linear VAE's encoder (seed 002 eq. 31–32): ``N(z; V x + b, diag τ²)``, τ constant.

    The paper writes the mean as ``V (x − μ₀)``; the bias b covers ``−V μ₀`` without reading
    the decoder's μ₀.
    """

    def __init__(self, data_dim: int, latent_dim: int, tau: float = 1.0):
        check_positive_int("LinearGaussian: data_dim", data_dim)
        check_positive_int("LinearGaussian: latent_dim", latent_dim)
        check_positive_number("LinearGaussian: tau", tau)
        super().__init__(Gaussian(tau, learn_sigma=True, size=latent_dim), nn.Linear(data_dim, latent_dim))

    @property
    def tau(self) -> torch.Tensor:
        """The encoder standard deviations τ_h."""
        return self.family.sigma

    def load(self, weight: torch.Tensor, bias: torch.Tensor, tau: torch.Tensor) -> "LinearGaussian":
        """Set ``(V, b, τ)``, e.g. to :meth:`~pyro_vae.ppca.LinearGaussian.mean_field_encoder`."""
        latent_dim, data_dim = self.encoder.weight.shape
        check_tensor("LinearGaussian.load: weight", weight, (latent_dim, data_dim))
        check_tensor("LinearGaussian.load: bias", bias, (latent_dim,))
        check_tensor("LinearGaussian.load: tau", tau, (latent_dim,))
        if not (tau > 0).all():
            i = int((tau <= 0).nonzero()[0])
            raise ConfigError(f"LinearGaussian.load: tau must be positive, got {tau[i].item():g} at index {i}")
        with torch.no_grad():
            self.encoder.weight.copy_(weight)
            self.encoder.bias.copy_(bias)
            self.family.log_sigma.copy_(tau.log())
        return self


class SharedTrunkGaussian(AmortisedGuide):
    """``N(z; μ(x), diag σ²(x))`` with a μ head and a σ head on one ReLU trunk (seed 003 App. B.1).

    ``x → hidden[0] → … → hidden[-1]``, then two linear heads: ``μ_z`` and ``ρ``, where ρ is
    log σ² as in the paper (``scale="softplus"``: σ = softplus(ρ)).
    The "Affine" architecture uses ``hidden=(2000, d)``, the "ReLU-Net" ``(2000, 1000)``.
    """

    def __init__(self, data_dim: int, latent_dim: int, hidden: Sequence[int] = (2000, 1000),
                 scale: str = "log_variance"):
        check_positive_int("SharedTrunkGaussian: data_dim", data_dim)
        check_positive_int("SharedTrunkGaussian: latent_dim", latent_dim)
        check_hidden(hidden, "SharedTrunkGaussian")
        if not hidden:
            raise ConfigError("SharedTrunkGaussian: hidden must name at least one layer")
        trunk = mlp(data_dim, hidden[-1], tuple(hidden[:-1]))
        heads = Concatenate(nn.Linear(hidden[-1], latent_dim), nn.Linear(hidden[-1], latent_dim))
        super().__init__(HeteroscedasticGaussian(scale), nn.Sequential(trunk, nn.ReLU(), heads))

    @property
    def trunk(self) -> nn.Sequential:
        return self.encoder[0]

    @property
    def mean_head(self) -> nn.Linear:
        return self.encoder[2].networks[0]

    @property
    def scale_head(self) -> nn.Linear:
        """Outputs ρ: log σ², or softplus⁻¹(σ) (see ``scale``)."""
        return self.encoder[2].networks[1]


class DiagonalGaussian(AmortisedGuide):
    """The standard VAE encoder (seed 002 eq. 4–7): ``N(z; ν_φ(x), diag τ_φ²(x))`` with one
    MLP for the mean ν and one for log τ² (or for ρ with τ = softplus(ρ)).

    :param scale: how the τ network's output ρ gives τ: ``"log_variance"`` (ρ = log τ², the
        default, as seed 002's footnote 1; rescaling z is then exact in the parameters) or
        ``"softplus"``; see :class:`~pyro_vae.families.HeteroscedasticGaussian`.
    """

    def __init__(self, data_dim: int, latent_dim: int, hidden: Sequence[int] = (50, 50),
                 scale: str = "log_variance"):
        check_positive_int("DiagonalGaussian: data_dim", data_dim)
        check_positive_int("DiagonalGaussian: latent_dim", latent_dim)
        encoder = Concatenate(mlp(data_dim, latent_dim, hidden), mlp(data_dim, latent_dim, hidden))
        super().__init__(HeteroscedasticGaussian(scale), encoder)
