"""Closed forms of the linear Gaussian decoder: probabilistic PCA (Tipping & Bishop 1999).

The model ``z ~ N(0, I)``, ``x | z ~ N(W z + μ, σ² I)`` has the marginal
``N(x; μ, W Wᵀ + σ² I)`` and the posterior ``N(z; M⁻¹ Wᵀ (x − μ), σ² M⁻¹)`` with
``M = Wᵀ W + σ² I``. Its maximum-likelihood solution is closed form, and seed 002 (Cor. A1,
eq. 44–45) uses it as the point the linear VAE of eq. 29–32 must converge to.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyro.distributions as dist
import torch

from .errors import ConfigError, DataError


@dataclass(frozen=True)
class LinearGaussian:
    """Parameters ``(W, μ, σ)`` of ``x = W z + μ + σ ε``: W is D × H, μ has D entries."""

    weight: torch.Tensor
    offset: torch.Tensor
    sigma: torch.Tensor

    def marginal(self) -> dist.LowRankMultivariateNormal:
        """``p(x) = N(x; μ, W Wᵀ + σ² I)`` (seed 002 eq. 45)."""
        diag = (self.sigma**2).expand(self.offset.shape)
        return dist.LowRankMultivariateNormal(self.offset, self.weight, diag)

    def _m(self) -> torch.Tensor:
        """``M = Wᵀ W + σ² I`` (H × H): σ² times the posterior precision."""
        eye = torch.eye(self.weight.shape[1], dtype=self.weight.dtype, device=self.weight.device)
        return self.weight.T @ self.weight + self.sigma**2 * eye

    def posterior(self, x: torch.Tensor) -> dist.MultivariateNormal:
        """``p(z | x) = N(z; M⁻¹ Wᵀ (x − μ), σ² M⁻¹)`` with ``M = Wᵀ W + σ² I``."""
        s2, m = self.sigma**2, self._m()
        mean = torch.linalg.solve(m, self.weight.T @ (x - self.offset).T).T
        return dist.MultivariateNormal(mean, covariance_matrix=s2 * torch.linalg.inv(m))

    def mean_field_encoder(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The best factorised Gaussian ``q(z|x) = N(z; V x + b, diag τ²)`` for every x.

        Minimising ``KL(q ‖ p(z|x))`` over diagonal covariances gives the posterior mean and
        ``τ_h² = σ² / M_hh``. When the columns of W are orthogonal (as in :func:`ppca_mle`)
        M is diagonal and q is the exact posterior (Lucas et al. 2019).
        Returns ``(V, b, τ)`` with V of shape H × D.
        """
        s2, m = self.sigma**2, self._m()
        v = torch.linalg.solve(m, self.weight.T)
        return v, -v @ self.offset, (s2 / torch.diagonal(m)).sqrt()


def ppca_mle(x: torch.Tensor, latent_dim: int) -> LinearGaussian:
    """The maximum-likelihood pPCA fit of the rows of ``x`` (Tipping & Bishop 1999, eq. 7–8).

    ``μ`` = the data mean; with the eigenvalues λ₁ ≥ … ≥ λ_D of the (1/N) covariance S and
    their eigenvectors U, ``σ² = mean(λ_{H+1..D})`` and ``W = U_H (Λ_H − σ² I)^{1/2}``: the
    rotation R = I, so the columns of W are orthogonal. Computed in float64 and returned in
    the dtype of ``x``.
    """
    if not torch.is_tensor(x) or x.dim() != 2 or not torch.is_floating_point(x):
        raise DataError(f"ppca_mle: x must be a float tensor of shape (N, D), got {getattr(x, 'shape', x)!r}")
    n, d = x.shape
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or not 1 <= latent_dim < d:
        raise ConfigError(f"ppca_mle: latent_dim must be an int in 1..{d - 1}, got {latent_dim!r}")
    x64 = x.double()
    offset = x64.mean(0)
    centred = x64 - offset
    eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / n)
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    s2 = eigenvalues[latent_dim:].mean()
    scale = (eigenvalues[:latent_dim] - s2).clamp_min(0).sqrt()
    weight = eigenvectors[:, :latent_dim] * scale
    return LinearGaussian(weight.to(x.dtype), offset.to(x.dtype), s2.sqrt().to(x.dtype))
