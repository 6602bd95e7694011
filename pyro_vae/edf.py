"""Exponential dispersion families: the observation models of seed 003 (Definition 1, Table 1).

Coordinate-wise, ``log p(x | ϑ) = (x ϑ − F(ϑ)) / φ + K(x, φ)`` (eq. 8) with the location
parameter ϑ, the log-normaliser F and the dispersion φ. Lemma 1: ``E[x] = F′(ϑ)`` and
``Var[x] = φ F″(ϑ)`` (the seed prints ``F″/φ``; the Gaussian row of Table 1, F″ = 1 and
φ = σ², shows the product is meant).

For each of the four families of Table 1 the location parameter ϑ is exactly what a decoder of
:mod:`pyro_vae.families` outputs (its predictor η): the mean for the Gaussian, the logit for
Bernoulli and Binomial, the log-rate for Poisson. ``family.edf()`` gives a family's view.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F

from .errors import ConfigError
from .validation import check_counts, check_finite, check_positive_int, check_positive_number

__all__ = ["EDF", "GaussianEDF", "BinomialEDF", "PoissonEDF"]


@dataclasses.dataclass(frozen=True)
class EDF:
    """One exponential dispersion family: F, F′, F″, K and the dispersion φ (seed 003 eq. 8).

    Every function acts element-wise; ``log_prob`` sums over the last (event) dimension.
    """

    name: ClassVar[str] = "edf"
    dispersion: float | torch.Tensor = 1.0  # φ

    def __post_init__(self):
        phi = self.dispersion
        if torch.is_tensor(phi) and phi.dim() == 0:
            phi = phi.item()
        check_positive_number(f"{self.name}: the dispersion φ", phi)

    def log_normalizer(self, theta: torch.Tensor) -> torch.Tensor:  # F
        raise NotImplementedError

    def mean(self, theta: torch.Tensor) -> torch.Tensor:  # F′
        raise NotImplementedError

    def variance_function(self, theta: torch.Tensor) -> torch.Tensor:  # F″
        raise NotImplementedError

    def log_base(self, x: torch.Tensor) -> torch.Tensor:  # K(x, φ)
        raise NotImplementedError

    def check_support(self, x: torch.Tensor, where: str = "data") -> None:
        """Raise :class:`~pyro_vae.errors.DataError` unless ``x`` is finite and in the family's support."""
        check_finite(x, where)

    def log_prob(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """``Σ_j (x_j ϑ_j − F(ϑ_j)) / φ + K(x_j, φ)`` (eq. 8), summed over the last dimension."""
        return ((x * theta - self.log_normalizer(theta)) / self.dispersion + self.log_base(x)).sum(-1)

    def at_zero(self) -> tuple[float, float, float]:
        """``(F(0), F′(0), F″(0))``: the constants of Prop. 1 (Table 2)."""
        zero = torch.zeros((), dtype=torch.float64)
        return tuple(float(f(zero)) for f in (self.log_normalizer, self.mean, self.variance_function))

    def activation(self, rho: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
        """The linearly canonical activation ``m(ϑ) = F′(ρ ϑ)`` (eq. 10); ρ = 1 is canonical (eq. 9)."""
        if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho != 0):
            raise ConfigError(f"{self.name}: rho must be a finite non-zero number, got {rho!r}")
        return lambda theta: self.mean(rho * theta)

    def with_dispersion(self, dispersion: float | torch.Tensor) -> EDF:
        """The same family with another φ (e.g. the estimate of eq. 18)."""
        return dataclasses.replace(self, dispersion=dispersion)


@dataclasses.dataclass(frozen=True)
class GaussianEDF(EDF):
    """``N(μ, σ²)`` with σ² fixed: F(ϑ) = ϑ²/2, K(x, φ) = −x²/(2φ) − ½ log(2πφ), ϑ = μ, φ = σ²."""

    name: ClassVar[str] = "gaussian"

    def log_normalizer(self, theta):
        return 0.5 * theta**2

    def mean(self, theta):
        return theta

    def variance_function(self, theta):
        return torch.ones_like(theta)

    def log_base(self, x):
        phi = torch.as_tensor(self.dispersion, dtype=x.dtype, device=x.device)
        return -0.5 * x**2 / phi - 0.5 * torch.log(2 * math.pi * phi)


@dataclasses.dataclass(frozen=True)
class BinomialEDF(EDF):
    """``Bin(n, p)``, n fixed: F(ϑ) = n log(1 + e^ϑ), K = log C(n, x), ϑ = logit p, φ = 1.

    ``n = 1`` is the Bernoulli row of Table 1. ``BinomialEDF(5)`` is n = 5; φ is keyword-only.
    """

    total_count: int = 1
    dispersion: float | torch.Tensor = dataclasses.field(default=1.0, kw_only=True)

    def __post_init__(self):
        check_positive_int("binomial: total_count", self.total_count)
        object.__setattr__(self, "total_count", int(self.total_count))  # a NumPy int would turn tensors into arrays
        super().__post_init__()

    @property
    def name(self) -> str:
        return "bernoulli" if self.total_count == 1 else "binomial"

    def check_support(self, x, where="data"):
        check_counts(x, where, upper=self.total_count)

    def log_normalizer(self, theta):
        return self.total_count * F.softplus(theta)

    def mean(self, theta):
        return self.total_count * torch.sigmoid(theta)

    def variance_function(self, theta):
        p = torch.sigmoid(theta)
        return self.total_count * p * (1 - p)

    def log_base(self, x):
        n = torch.as_tensor(float(self.total_count), dtype=x.dtype, device=x.device)
        return torch.lgamma(n + 1) - torch.lgamma(x + 1) - torch.lgamma(n - x + 1)


@dataclasses.dataclass(frozen=True)
class PoissonEDF(EDF):
    """``Pois(λ)``: F(ϑ) = e^ϑ, K = −log x!, ϑ = log λ, φ = 1."""

    name: ClassVar[str] = "poisson"

    def log_normalizer(self, theta):
        return theta.exp()

    def mean(self, theta):
        return theta.exp()

    def variance_function(self, theta):
        return theta.exp()

    def log_base(self, x):
        return -torch.lgamma(x + 1)

    def check_support(self, x, where="data"):
        check_counts(x, where)
