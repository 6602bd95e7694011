"""Latent activity (Burda et al. 2015) and its analytic value for β-VAEs (seed 003 §3.4).

A latent unit j is *active* when ``A_{z_j} = Cov_x(E_{q(z_j|x)}[z_j]) > 0.01``. Seed 003
eq. 21 predicts A for an affine decoder without training: ``(λ_j − β F″(0)⁻¹ φ) / λ_j`` when
the eigenvalue λ_j exceeds the cut-off, else 0 (auto-pruning).
"""

from __future__ import annotations

import torch
from pyro import poutine

from .edf import EDF
from .errors import ConfigError, DataError
from .glm import glm_mle
from .pairing import display_name
from .validation import check_finite, check_non_negative_number

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

    Works with any Pyro guide whose site is a continuous latent with a ``mean`` (e.g. the
    Gaussian guides of :mod:`pyro_vae.guides`); the guide is called as ``guide(x, *args, **kwargs)``.
    """
    check_finite(x, "latent_activity: x")
    if x.dim() < 2 or x.shape[0] < 2:
        raise DataError(f"latent_activity: x must have shape (num_points, ...) with at least 2 points (a "
                        f"variance over them), got shape {tuple(x.shape)}")
    trace = poutine.trace(guide).get_trace(x, *args, **kwargs)
    name = display_name(guide)
    samples = [n for n, s in trace.nodes.items() if s["type"] == "sample"]
    if site not in samples:
        raise ConfigError(f"latent_activity: {name} has no sample site {site!r}; its sites are {samples}")
    if any(trace.nodes[n]["is_observed"] for n in samples):
        raise ConfigError(f"latent_activity: {name} observes data, so it is a model; pass the guide (the "
                          "encoder q(z|x)), whose mean the activity is")
    fn = trace.nodes[site]["fn"]
    if fn.support.is_discrete:
        raise ConfigError(f"latent_activity: site {site!r} of {name} is discrete ({type(fn).__name__}); the "
                          "activity (Burda et al. 2015) is the variance of a continuous latent's posterior mean")
    mean = fn.mean
    return mean.reshape(-1, mean.shape[-1]).var(0, unbiased=False)


def active_units(activity: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many units have ``A_{z_j} > threshold`` (0.01, Burda et al. 2015)."""
    activity = torch.as_tensor(activity)
    if not torch.is_floating_point(activity):
        activity = activity.to(torch.get_default_dtype())
    check_finite(activity, "active_units: activity")
    check_non_negative_number("active_units: threshold", threshold)
    return int((activity > threshold).sum())
