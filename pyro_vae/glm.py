"""Seed 003's GLM reading of a β-VAE with an affine decoder ``ϑ(z) = W z + b``.

With the decoder's log-likelihood replaced by its second-order Taylor expansion in ϑ around 0
(eq. 2–4), the β-VAE objective (eq. 1) becomes ``L̂``, whose maximiser over a full-covariance
Gaussian encoder is closed form (eq. 5–6) and whose value is then a pPCA-like function of
(W, b) (Prop. 1, eq. 12 and 14). Its maximiser over (W, b) is the MLE of eq. 15–20. For a
Gaussian decoder ``L̂`` is the objective itself; for Bernoulli/Binomial it is a lower bound
(Cor. 1, eq. 13).

Throughout, ``c = φ / F″(0)`` and ``y = (x − F′(0)) / F″(0)``; values are per data point.
Functions of given (W, b) compute in the dtype of ``x`` (use float64 for closed-form checks);
:func:`glm_mle` computes and returns float64.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from .edf import EDF, BinomialEDF, GaussianEDF, PoissonEDF
from .errors import ConfigError, DataError
from .validation import check_flag, check_positive_number, check_tensor

__all__ = [
    "GLMSolution",
    "dispersion_term",
    "glm_encoder",
    "glm_mle",
    "glm_objective",
    "remainder_bounds",
    "taylor_objective",
]


def _check_edf(edf: EDF, where: str) -> None:
    if not isinstance(edf, EDF):
        raise ConfigError(f"{where}: expected an exponential dispersion family such as "
                          f"families.Bernoulli().edf(), got {edf!r}")


def _check_data(x: torch.Tensor, edf: EDF, where: str) -> None:
    _check_edf(edf, where)
    if not torch.is_tensor(x) or x.dim() != 2 or not torch.is_floating_point(x) or x.shape[0] == 0:
        got = f"{x.dtype} of shape {tuple(x.shape)}" if torch.is_tensor(x) else type(x).__name__
        raise DataError(f"{where}: x must be a float tensor of shape (N, d) with at least one row, got {got}")
    edf.check_support(x, f"{where}: x")


def _check_beta(beta: float, where: str) -> None:
    check_positive_number(f"{where}: beta", beta)


def _check_affine(weight: torch.Tensor, bias: torch.Tensor, where: str, d: int | str = "d") -> None:
    """The decoder ``ϑ = W z + b``: finite, W of shape (d, κ) and b of shape (d,)."""
    check_tensor(f"{where}: weight", weight, (d, "κ"))
    check_tensor(f"{where}: bias", bias, (weight.shape[0],))


def _check_encoder(weight: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, n: int, where: str) -> None:
    """``q(z | x⁽ⁱ⁾) = N(mean_i, cov_i)``: mean of shape (N, κ), cov a covariance, shared or one per row."""
    k = weight.shape[1]
    check_tensor(f"{where}: mean", mean, (n, k))
    check_tensor(f"{where}: cov", cov, (n, k, k) if torch.is_tensor(cov) and cov.dim() == 3 else (k, k))
    if not (mean.dtype == cov.dtype == weight.dtype):
        raise ConfigError(f"{where}: weight, mean and cov must share a dtype, got {weight.dtype}, {mean.dtype} "
                          f"and {cov.dtype}")
    if not torch.allclose(cov, cov.mT) or (torch.linalg.cholesky_ex(cov).info != 0).any():
        raise ConfigError(f"{where}: cov must be symmetric positive definite (a covariance matrix)")


def _scale(edf: EDF) -> float:
    """``c = φ / F″(0)``: the isotropic part of C in eq. 12."""
    return float(edf.dispersion) / edf.at_zero()[2]


def _transformed(x: torch.Tensor, edf: EDF) -> torch.Tensor:
    """``y = F″(0)⁻¹ (x − F′(0))``, the data as eq. 14 sees them."""
    _, f1, f2 = edf.at_zero()
    return (x - f1) / f2


def dispersion_term(x: torch.Tensor, edf: EDF) -> torch.Tensor:
    """``D(φ)`` of eq. 33: ``2d F(0)/φ − (1/N) Σ_i [‖x⁽ⁱ⁾ − F′(0)‖² / (F″(0) φ) + 2 Σ_j K(x_j⁽ⁱ⁾, φ)]``."""
    _check_data(x, edf, "dispersion_term")
    f0, f1, f2 = edf.at_zero()
    phi = float(edf.dispersion)
    d = x.shape[-1]
    per_point = ((x - f1) ** 2).sum(-1) / (f2 * phi) + 2 * edf.log_base(x).sum(-1)
    return 2 * d * f0 / phi - per_point.mean()


def glm_objective(x: torch.Tensor, edf: EDF, weight: torch.Tensor, bias: torch.Tensor,
                  beta: float = 1.0) -> torch.Tensor:
    """``L̂(W, b)`` of seed 003 eq. 14 (eq. 12 with an affine decoder), per data point.

    ``−½ [tr(C⁻¹ S) + β log|C| + β d log(F″(0)/φ) + D(φ)]`` with ``C = c I + β⁻¹ W Wᵀ`` and
    S the second moment of ``y − b``: the β-VAE objective at the best Gaussian encoder of
    eq. 5–6, with the decoder's log-likelihood taken to second order in ϑ.
    """
    _check_data(x, edf, "glm_objective")
    _check_beta(beta, "glm_objective")
    _check_affine(weight, bias, "glm_objective", x.shape[1])
    n, d = x.shape
    centred = _transformed(x, edf) - bias
    cov = _scale(edf) * torch.eye(d, dtype=x.dtype, device=x.device) + weight @ weight.T / beta
    chol = torch.linalg.cholesky(cov)
    whitened = torch.linalg.solve_triangular(chol, centred.T, upper=False)
    trace = (whitened**2).sum() / n
    logdet = 2 * torch.log(torch.diagonal(chol)).sum()
    f2 = edf.at_zero()[2]
    return -0.5 * (trace + beta * logdet + beta * d * math.log(f2 / float(edf.dispersion))
                   + dispersion_term(x, edf))


def glm_encoder(edf: EDF, weight: torch.Tensor, bias: torch.Tensor,
                beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Gaussian encoder that maximises ``L̂`` for the decoder (W, b) (eq. 5–6).

    ``Σ = (I + WᵀW / (β c))⁻¹`` for every x and ``μ(x) = A x + a`` with
    ``A = Σ Wᵀ / (β c F″(0))`` and ``a = −A (F′(0) + F″(0) b)``. At the MLE this is eq. 19–20.
    Returns ``(A, a, Σ)``: A is κ × d.
    """
    _check_edf(edf, "glm_encoder")
    _check_affine(weight, bias, "glm_encoder")
    _check_beta(beta, "glm_encoder")
    if bias.dtype != weight.dtype:
        raise ConfigError(f"glm_encoder: weight and bias must share a dtype, got {weight.dtype} and {bias.dtype}")
    _, f1, f2 = edf.at_zero()
    bc = beta * _scale(edf)
    k = weight.shape[1]
    cov = torch.linalg.inv(torch.eye(k, dtype=weight.dtype, device=weight.device) + weight.T @ weight / bc)
    enc_weight = cov @ weight.T / (bc * f2)
    return enc_weight, -enc_weight @ (f1 + f2 * bias), cov


def _location_moments(weight, bias, mean, cov) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of ``ϑ_j = W_j z + b_j`` under ``z ~ N(mean, cov)``, per data point."""
    return mean @ weight.T + bias, torch.einsum("jk,...kl,jl->...j", weight, cov, weight)


def taylor_objective(x: torch.Tensor, edf: EDF, weight: torch.Tensor, bias: torch.Tensor,
                     mean: torch.Tensor, cov: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """``L̂(θ, φ)`` of eq. 4 for the encoder ``q(z | x⁽ⁱ⁾) = N(mean_i, cov_i)``, per data point.

    ``E_q Σ_j [x_j ϑ_j − F(0) − F′(0) ϑ_j − ½ F″(0) ϑ_j²] / φ + K(x_j, φ) − β KL(q ‖ N(0, I))``
    with ``ϑ = W z + b``. ``mean`` is N × κ; ``cov`` is κ × κ or N × κ × κ.
    """
    _check_data(x, edf, "taylor_objective")
    _check_beta(beta, "taylor_objective")
    _check_affine(weight, bias, "taylor_objective", x.shape[1])
    _check_encoder(weight, mean, cov, x.shape[0], "taylor_objective")
    f0, f1, f2 = edf.at_zero()
    phi = float(edf.dispersion)
    m, s2 = _location_moments(weight, bias, mean, cov)
    expected = ((x * m - f0 - f1 * m - 0.5 * f2 * (m**2 + s2)) / phi + edf.log_base(x)).sum(-1)
    k = mean.shape[-1]
    trace, logdet = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1), torch.logdet(cov)
    kl = 0.5 * (trace + (mean**2).sum(-1) - k - logdet)
    return (expected - beta * kl).mean()


def remainder_bounds(x: torch.Tensor, edf: EDF, weight: torch.Tensor, bias: torch.Tensor,
                     mean: torch.Tensor, cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds on ``L − L̂ = E_q R₂`` per data point for an affine decoder (Cor. 1).

    Gaussian: 0 (exact). Binomial(n): ``0 ≤ R₂ ≤ n/(8·4!) Σ_j ϑ_j⁴`` (eq. 13 and the Lagrange
    remainder). Poisson: ``Σ_j −ϑ_j³ e^{ϑ_j}/6 ≤ R₂ ≤ Σ_j −ϑ_j³/6``. (The seed's φ = 1; for
    another φ the remainder of eq. 8 is divided by φ.) Expectations over ``ϑ_j ~ N(m_j, s_j²)``
    are closed form. Returns ``(lower, upper)``.
    """
    _check_data(x, edf, "remainder_bounds")
    _check_affine(weight, bias, "remainder_bounds", x.shape[1])
    _check_encoder(weight, mean, cov, x.shape[0], "remainder_bounds")
    m, s2 = _location_moments(weight, bias, mean, cov)
    if isinstance(edf, GaussianEDF):
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        return zero, zero
    if isinstance(edf, BinomialEDF):
        fourth = m**4 + 6 * m**2 * s2 + 3 * s2**2
        upper = edf.total_count / (8 * math.factorial(4)) * fourth.sum(-1).mean() / float(edf.dispersion)
        return torch.zeros_like(upper), upper
    if isinstance(edf, PoissonEDF):
        third = m**3 + 3 * m * s2
        tilted = m + s2  # ϑ under the density ∝ e^ϑ N(ϑ; m, s²)
        third_tilted = torch.exp(m + s2 / 2) * (tilted**3 + 3 * tilted * s2)
        phi = float(edf.dispersion)
        return (-third_tilted / 6).sum(-1).mean() / phi, (-third / 6).sum(-1).mean() / phi
    raise ConfigError(f"remainder_bounds: no Corollary 1 bound for the {edf.name} family")


@dataclass(frozen=True)
class GLMSolution:
    """The maximiser of ``L̂`` over an affine decoder (seed 003 eq. 15–20), with R = I.

    ``edf`` carries the dispersion used (the estimate of eq. 18 for a Gaussian with a learned
    σ). ``weight`` (d × κ) has orthogonal columns, zero where a latent unit is pruned.
    """

    edf: EDF
    beta: float
    weight: torch.Tensor
    bias: torch.Tensor
    eigenvalues: torch.Tensor  # λ₁ ≥ … ≥ λ_d of the covariance of y

    @property
    def cutoff(self) -> float:
        """``β F″(0)⁻¹ φ``: eigenvalues below it are pruned (eq. 17)."""
        return self.beta * _scale(self.edf)

    @property
    def latent_dim(self) -> int:
        return self.weight.shape[1]

    @property
    def activity(self) -> torch.Tensor:
        """The analytic activity ``A_{z_j}`` of eq. 21, j = 1..κ."""
        lam = self.eigenvalues[: self.latent_dim]
        return ((lam - self.cutoff) / lam).clamp_min(0)

    def encoder(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(A, a, Σ̂_z)`` with ``μ̂_z = A x + a`` (eq. 20) and the diagonal Σ̂_z of eq. 19."""
        return glm_encoder(self.edf, self.weight, self.bias, self.beta)

    def objective(self, x: torch.Tensor) -> torch.Tensor:
        """``L̂`` at this solution on the rows of x (eq. 14)."""
        return glm_objective(x, self.edf, self.weight, self.bias, self.beta)


def glm_mle(x: torch.Tensor, edf: EDF, latent_dim: int, beta: float = 1.0,
            estimate_dispersion: bool = False) -> GLMSolution:
    """The MLE of ``L̂`` for an affine decoder with κ = ``latent_dim`` (seed 003 eq. 15–18).

    ``b̂`` = the mean of y (eq. 15); with the eigen-decomposition ``λ, U`` of the covariance
    of y, ``Ŵ = U_κ (K_κ − β c I)^{1/2}`` where ``k_j = max(λ_j, β c)`` (eq. 16–17).
    With ``estimate_dispersion`` (a Gaussian only) it also maximises over ``φ = σ²``: eq. 18
    when every unit stays active, and in general the best number q of active units with
    ``σ² = Σ_{j>q} λ_j / (d − β q)`` (only q < d / β are possible). Otherwise the EDF's φ is
    used. Computed in float64 and returned in float64.
    """
    _check_data(x, edf, "glm_mle")
    _check_beta(beta, "glm_mle")
    check_flag("glm_mle: estimate_dispersion", estimate_dispersion)
    n, d = x.shape
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, numbers.Integral) or not 1 <= latent_dim < d:
        raise ConfigError(f"glm_mle: latent_dim must be an int in 1..{d - 1}, got {latent_dim!r}")
    if estimate_dispersion and not isinstance(edf, GaussianEDF):
        raise ConfigError(f"glm_mle: the dispersion of the {edf.name} family is fixed (φ = 1, Table 1); "
                          "only a Gaussian's σ² can be estimated")
    y = _transformed(x.double(), edf)
    bias = y.mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh((y - bias).T @ (y - bias) / n)
    eigenvalues, eigenvectors = eigenvalues.flip(0).clamp_min(0), eigenvectors.flip(1)
    if estimate_dispersion:
        edf = edf.with_dispersion(_gaussian_dispersion(eigenvalues, latent_dim, beta))
    scale = (eigenvalues[:latent_dim] - beta * _scale(edf)).clamp_min(0).sqrt()
    return GLMSolution(edf, beta, eigenvectors[:, :latent_dim] * scale, bias, eigenvalues)


def _gaussian_dispersion(eigenvalues: torch.Tensor, latent_dim: int, beta: float) -> float:
    """σ² maximising eq. 14 for a Gaussian: over the number q of active units, the profile
    ``−2 L̂ = β q + β Σ_{j≤q} log(λ_j/β) + Σ_{j>q} λ_j/σ² + (d − β q) log σ² + d log 2π``
    at ``σ² = Σ_{j>q} λ_j / (d − β q)``, for the q whose units all clear the cut-off β σ²."""
    d = eigenvalues.shape[0]
    best = None
    for q in range(latent_dim + 1):
        if d - beta * q <= 0:
            break
        phi = float(eigenvalues[q:].sum() / (d - beta * q))
        if phi <= 0 or (q > 0 and eigenvalues[q - 1] < beta * phi):
            continue
        active = eigenvalues[:q]
        profile = (beta * q + beta * torch.log(active / beta).sum() + (d - beta * q) * (1 + math.log(phi)))
        if best is None or float(profile) < best[0]:
            best = (float(profile), phi)
    if best is None:
        raise DataError("glm_mle: the data have no variance to fit σ² to")
    return best[1]
