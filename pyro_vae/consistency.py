"""How far a model is from the consistent set Θ_Φ (seed 000 Thm 1, eq. 3, 7; Prop. A.1).

The ELBO can be tight only if the model's posterior lies in the encoder family of statistic ψ:
``log p_θ(z | x) = <ψ(z), g(x)> − B(x) + log h′(z)``. By Bayes, with

    T(x, z) = log p_θ(x | z) + log p(z) − log h′(z),

that says: after removing a function of x alone, T is ``<ψ(z), g(x)>``; and since the decoder
is an exponential family in ν(x), g must be affine in ν (Thm 1: the joint is a harmonium, eq. 7).
So θ ∈ Θ_Φ exactly when the row-centred table ``T_c`` lies in ``span{ν_e(x)} ⊗ span{ψ_c(z)}``,
with ν_e = (ν, 1) (eq. 27) and ψ_c the centred statistic. As in the proof of Prop. A.1, the
best fit is a weighted least-squares projection (weights p_d(x) over data points and p(z)
over latent values); the residual is the part of the model that no consistent model expresses.
Note the prior enters: with a fixed uniform prior, a mixture whose centres are affine in the
bits is consistent only if ``|μ(z)|²`` is affine in the bits too.
"""

from __future__ import annotations

import math

import torch

from .enumeration import check_enumerable, latent_table
from .errors import ConfigError
from .pairing import display_name
from .validation import check_inputs


def _project(basis: torch.Tensor, weights: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``P table`` with P the ``weights``-orthogonal projector onto the columns of ``basis``
    (along the rows of ``table``), without forming the rows × rows matrix P."""
    gram = basis.T @ (weights[:, None] * basis)
    return basis @ (torch.linalg.pinv(gram, hermitian=True) @ (basis.T @ (weights[:, None] * table)))


def _centre_rows(table: torch.Tensor, w_z: torch.Tensor) -> torch.Tensor:
    return table - (table @ w_z)[:, None]


def glm_residual(
    log_joint: torch.Tensor, nu: torch.Tensor, psi: torch.Tensor, w_x: torch.Tensor, w_z: torch.Tensor
) -> torch.Tensor:
    """Residual of ``T`` (rows x, columns z) after the best harmonium fit (see module doc).

    :param log_joint: ``T(x, z) = log p(x|z) + log p(z) − log h′(z)``, shape (n, K).
    :param nu: ν(x), shape (n, d); ``psi``: ψ(z), shape (K, m); ``w_x``, ``w_z``: weights.
    """
    centred = _centre_rows(log_joint, w_z)
    nu_e = torch.cat([nu, torch.ones_like(nu[:, :1])], -1)
    psi_c = psi - w_z @ psi
    fitted = _project(nu_e, w_x, centred)
    fitted = _project(psi_c, w_z, fitted.T).T
    return centred - fitted


def consistency_distance(model, guide, x: torch.Tensor) -> dict[str, float]:
    """Distance of the model (prior and decoder) from the set consistent with the guide family.

    Needs a model whose latent sites Pyro can enumerate (a categorical code, or a binary code
    sampled bit by bit, :mod:`pyro_vae.bits`; at most ``2 ** MAX_ENUMERATED_BITS`` values) and
    whose ``observation`` family gives ν, and a guide with a latent ``family`` (ψ, h′) that
    fits the model (:func:`~pyro_vae.pairing.check_pair`). Observed sites that do not depend on
    z (a document's length) are functions of x alone and drop out. Returns ``distance``: the
    weighted RMS residual in nats (0 exactly on Θ_Φ), and ``relative``: that residual over the
    RMS of the row-centred table, i.e. the share of the posterior's dependence on z that no
    consistent model expresses.

    Θ_Φ is the set of the guide's *family*, with ``g(x)`` any function of x (Thm 1): the
    guide's encoder network is not used, so encoders of one family (a Text VAE's e1, e2 and
    e3) share a distance. How near the encoder's own ``g`` comes to the posterior is the
    tightness gap (:func:`~pyro_vae.evaluation.tightness_gap`).
    """
    check_inputs(model, guide, x)
    check_enumerable(model, x, "consistency_distance")
    missing = [f"{what} {display_name(fn)} has no {attr!r}" for what, fn, attr in
               (("model", model, "observation"), ("guide", guide, "family")) if not hasattr(fn, attr)]
    if missing:
        raise ConfigError(f"consistency_distance: {'; '.join(missing)}; it needs an exponential-family decoder "
                          "(pyro_vae.models) and an exponential-family guide (pyro_vae.guides)")
    with torch.no_grad():
        log_joint, log_prior, z = latent_table(model, x)
        table = (log_joint.T - guide.family.log_base_measure(z)).double()
        nu = model.observation.sufficient_statistic(x).double()
        psi = guide.family.sufficient_statistic(z).double()
        w_z = log_prior.exp().double()
    w_x = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=torch.double, device=x.device)
    residual = glm_residual(table, nu, psi, w_x, w_z)
    centred = _centre_rows(table, w_z)
    weight = w_x[:, None] * w_z[None, :]
    distance = math.sqrt((weight * residual**2).sum().item())
    scale = math.sqrt((weight * centred**2).sum().item())
    return {"distance": distance, "relative": distance / scale if scale > 0 else 0.0}
