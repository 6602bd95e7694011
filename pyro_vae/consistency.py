"""How far a decoder is from the consistent set Θ_Φ (seed 000 Thm 1, Prop. A.1).

A decoder is consistent with an encoder family of statistic ψ when
``log p(x | z) = log h̃(x) + <ν(x), W ψ(z)> − Ã(z)`` (eq. 5/20). Given the table
``L[x, z] = log p_θ(x | z)`` over data points x and latent values z, the best such fit is a
weighted least-squares projection, as in the proof of Prop. A.1: the free terms ``log h̃(x)``
and ``Ã(z)`` remove the weighted means over z and over x, and what is left is projected on
``ν_c(x) W ψ_c(z)ᵀ`` (both statistics centred). The residual, weighted by ``p_d(x) p(z)``, is
the part of the decoder that no GLM in ψ can express.
"""

from __future__ import annotations

import math

import torch


def _project(basis: torch.Tensor, weights: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``P table`` with P the ``weights``-orthogonal projector onto the columns of ``basis``
    (along the rows of ``table``), without forming the rows × rows matrix P."""
    gram = basis.T @ (weights[:, None] * basis)
    return basis @ (torch.linalg.pinv(gram, hermitian=True) @ (basis.T @ (weights[:, None] * table)))


def glm_residual(
    log_lik: torch.Tensor, nu: torch.Tensor, psi: torch.Tensor, w_x: torch.Tensor, w_z: torch.Tensor
) -> torch.Tensor:
    """Residual of ``log_lik`` (rows x, columns z) after the best GLM fit (see module doc)."""
    centred = log_lik - (log_lik @ w_z)[:, None]
    centred = centred - (w_x @ centred)[None, :]
    nu_c = nu - w_x @ nu
    psi_c = psi - w_z @ psi
    fitted = _project(nu_c, w_x, centred)
    fitted = _project(psi_c, w_z, fitted.T).T
    return centred - fitted


def consistency_distance(model, guide, x: torch.Tensor) -> dict[str, float]:
    """Distance of the model's decoder from the GLM decoders consistent with the guide family.

    Needs a model with a discrete prior ``model.prior``, ``model.likelihood(z)`` and
    ``model.observation`` (ν), and a guide with a latent ``family`` (ψ). Returns
    ``distance``: the weighted RMS residual in nats (0 exactly on the consistent set), and
    ``relative``: that residual over the RMS of the centred table (the share of the
    z-dependence of log p(x | z) that is not GLM).
    """
    prior = model.prior
    codes = prior.enumerate_support(expand=False).reshape(-1)
    with torch.no_grad():
        table = model.likelihood(codes).log_prob(x.unsqueeze(-2)).double()
        nu = model.observation.sufficient_statistic(x).double()
        psi = guide.family.sufficient_statistic(codes).double()
        w_z = prior.log_prob(codes).exp().double()
    w_x = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=torch.double, device=x.device)
    residual = glm_residual(table, nu, psi, w_x, w_z)
    centred = table - (table @ w_z)[:, None]
    centred = centred - (w_x @ centred)[None, :]
    weight = w_x[:, None] * w_z[None, :]
    distance = math.sqrt((weight * residual**2).sum().item())
    scale = math.sqrt((weight * centred**2).sum().item())
    return {"distance": distance, "relative": distance / scale if scale > 0 else 0.0}
