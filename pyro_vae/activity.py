"""Latent activity (Burda et al. 2015) and its analytic value for β-VAEs (seed 003 §3.4).

A latent unit j is *active* when ``A_{z_j} = Cov_x(E_{q(z_j|x)}[z_j]) > 0.01``. Seed 003
eq. 21 predicts A for an affine decoder without training: ``(λ_j − β F″(0)⁻¹ φ) / λ_j`` when
the eigenvalue λ_j exceeds the cut-off, else 0 (auto-pruning).
"""

from __future__ import annotations

import torch
from pyro import poutine

from .edf import EDF
from .errors import ConfigError
from .glm import glm_mle

__all__ = ["ACTIVE_THRESHOLD", "active_units", "analytic_activity", "latent_activity"]

ACTIVE_THRESHOLD = 0.01


def analytic_activity(x: torch.Tensor, edf: EDF, latent_dim: int, beta: float = 1.0,
                      estimate_dispersion: bool = False) -> torch.Tensor:
    """``A_{z_j}`` of seed 003 eq. 21 for j = 1..κ, from the MLE of eq. 15–18 on the rows of x
    (``estimate_dispersion``: a Gaussian's σ² from eq. 18 too, see :func:`~pyro_vae.glm.glm_mle`)."""
    return glm_mle(x, edf, latent_dim, beta, estimate_dispersion).activity


@torch.no_grad()
def latent_activity(guide, x: torch.Tensor, *args, site: str = "z", **kwargs) -> torch.Tensor:
    """``A_{z_j} = Cov_x(E_q[z_j])``: the variance over the rows of x of the guide's mean at ``site``.

    Works with any Pyro guide whose site distribution has a ``mean`` (e.g. the Gaussian guides
    of :mod:`pyro_vae.guides`); the guide is called as ``guide(x, *args, **kwargs)``.
    """
    trace = poutine.trace(guide).get_trace(x, *args, **kwargs)
    if site not in trace.nodes:
        raise ConfigError(f"latent_activity: the guide has no sample site {site!r}; "
                       f"its sites are {[n for n in trace.nodes if trace.nodes[n]['type'] == 'sample']}")
    mean = trace.nodes[site]["fn"].mean
    return mean.reshape(-1, mean.shape[-1]).var(0, unbiased=False)


def active_units(activity: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many units have ``A_{z_j} > threshold`` (0.01, Burda et al. 2015)."""
    return int((activity > threshold).sum())
