"""The three entropies of seed 002: what the ELBO of a Gaussian VAE equals at convergence.

At every stationary point of the ELBO of a standard Gaussian VAE (seed 002, Prop. 1–3)

    F(Φ, Θ) = (1/N) Σ_n H[q_Φ(z | x_n)] − H[p_Θ(z)] − (1/N) Σ_n E_{q_Φ(z|x_n)} H[p_Θ(x | z)].

For a shared σ this is eq. 25 (VAE-1), eq. 33 (linear VAE) and eq. 20 (VAE-2, learned prior
variances); with σ(z) it is eq. 39 (VAE-3), whose expectation is sampled.
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
from pyro import poutine

from .errors import ConfigError
from .evaluation import Estimate, elbo_estimate
from .objectives.iwae import importance_weights, particle_traces
from .pairing import latent_sites
from .validation import check_inputs

GAUSSIANS = (dist.Normal, dist.MultivariateNormal, dist.LowRankMultivariateNormal)


def three_entropies_per_point(model, guide, x: torch.Tensor, num_samples: int = 100):
    """Per data point ``H[q(z|x_n)] − H[p(z)] − E_q H[p(x|z)]`` and the particle variance of
    its Monte-Carlo mean (zero when ``H[p(x|z)]`` does not depend on z, as for a shared σ).

    Entropies are the Pyro distributions' own ``entropy()`` at the sites of one vectorised
    run of guide and model (``num_samples`` ≥ 2 particles).
    """
    _check_num_samples(num_samples)
    check_inputs(model, guide, x)
    with torch.no_grad(), poutine.block():
        traces = particle_traces(model, guide, (x,), {}, num_samples)
    return _entropies_of_traces(*traces, num_samples, x.shape[0])


def _term_groups(guide_trace, model_trace):
    """The sites of the bound's three terms F = F1 + F2 + F3 (seed 002 eq. 46): the prior's
    latent sites (F1 = E_q log p(z)), the observed sites (F2 = E_q log p(x|z)) and the guide's
    latent sites (F3 = H[q]), each with the sign of its entropy in the three entropies."""
    observed = {k: s for k, s in model_trace.nodes.items() if s["type"] == "sample" and s["is_observed"]}
    return {"F1": (latent_sites(model_trace), -1.0, "model"),  # − H[p(z)]
            "F2": (observed, -1.0, "model"),  # − H[p(x|z)], one value per particle
            "F3": (latent_sites(guide_trace), 1.0, "guide")}  # H[q(z|x)]


def _entropies_of_traces(guide_trace, model_trace, num_samples: int, n: int):
    total = 0.0
    for sites, sign, which in _term_groups(guide_trace, model_trace).values():
        for site in sites.values():
            total = total + sign * _entropy(site, which).expand(num_samples, n)
    return total.mean(0), total.var(0) / num_samples


def _residuals_of_traces(guide_trace, model_trace) -> dict[str, float]:
    """``F1 + H[p(z)]`` and ``F2 + E_q H[p(x|z)]`` averaged over rows and particles: how far the
    prior and the observation terms of the bound are from their values at a stationary point
    (seed 002 eq. 24 and eq. 76). Their sum is the gap ELBO − three entropies, up to the
    Monte-Carlo error of ``−E_q log q`` against ``H[q]``."""
    groups = _term_groups(guide_trace, model_trace)
    out = {}
    for term in ("F1", "F2"):
        sites, _, which = groups[term]
        out[f"{term.lower()}_residual"] = sum(
            (site["fn"].log_prob(site["value"]) + _entropy(site, which)).mean().item() for site in sites.values())
    return out


def three_entropies(model, guide, x: torch.Tensor, num_samples: int = 100) -> Estimate:
    """The three entropies of seed 002 (eq. 10, 20, 25, 33, 39), averaged over the rows of x.

    Equals the ELBO at stationary points of the variance parameters (σ, α, τ). The standard
    error is the Monte-Carlo error of the sampled ``E_q H[p(x|z)]`` (0 and ``exact`` when the
    decoder variance does not depend on z).
    """
    return _estimate(*three_entropies_per_point(model, guide, x, num_samples))


def _estimate(per_point: torch.Tensor, particle_var: torch.Tensor) -> Estimate:
    se = math.sqrt(particle_var.sum().item()) / per_point.numel()
    return Estimate(per_point.mean().item(), se, se == 0.0)


def relative_gap(lower_bound: float | Estimate, entropies: float | Estimate,
                 reference: float | Estimate | None = None) -> float:
    """``|F − three entropies| / |reference|``, the reference being F unless given (seed 002
    Fig. 1 bottom divides by the final sampled bound). Takes floats or :class:`Estimate` values."""
    denominator = abs(float(lower_bound if reference is None else reference))
    if denominator == 0:
        raise ConfigError("relative_gap: the reference (the bound F unless given) is 0, so no gap relative to it")
    return abs(float(lower_bound) - float(entropies)) / denominator


def entropy_monitor(model, guide, x: torch.Tensor, num_samples: int = 100):
    """A callback for ``fit(..., evaluate=...)``: the sampled ELBO on ``x``, the three entropies
    and their relative gap, as a dict (the quantities of seed 002 Fig. 1), both from one
    vectorised run of guide and model with ``num_samples`` particles.

    The gap is split into the terms' residuals ``f1_residual = F1 + H[p(z)]`` (eq. 24) and
    ``f2_residual = F2 + E_q H[p(x|z)]`` (eq. 76), which say which stationarity condition is not
    met: F1's vanishes when the latent scale is stationary (``E_q |z|² = H`` for a standard
    normal prior), F2's when the decoder variances are. The proofs rescale z and the variances
    through the networks' layers (eq. 67–72): exactly so when a variance is linear in its last
    layer, as in the paper, or the exp of an affine layer, as with ``scale="log_variance"`` (the
    default of ``VAE3`` and ``DiagonalGaussian``). There ``f2_residual`` is minus the derivative
    of F along a shift of the output bias of the decoder's σ network, and ``2 f1_residual`` its
    derivative along ``z → e^t z``, so both vanish at a stationary point. With ``scale="softplus"`` these
    rescalings are not parameter directions, and the residuals need not vanish there. Like the
    three entropies, the residuals are unscaled: β and masks are not applied.
    """

    _check_num_samples(num_samples)
    check_inputs(model, guide, x)

    def monitor() -> dict[str, float]:
        with torch.no_grad(), poutine.block():
            traces = particle_traces(model, guide, (x,), {}, num_samples)
            log_w = importance_weights(*traces, num_samples).log_w
            entropies = _estimate(*_entropies_of_traces(*traces, num_samples, x.shape[0]))
            residuals = _residuals_of_traces(*traces)
        lower_bound = elbo_estimate(log_w.mean(0), log_w.var(0) / num_samples)
        return {
            "elbo": lower_bound.value,
            "elbo_se": lower_bound.se,
            "three_entropies": entropies.value,
            "three_entropies_se": entropies.se,
            "relative_gap": relative_gap(lower_bound.value, entropies.value),
            **residuals,
        }

    return monitor


def _check_num_samples(num_samples) -> None:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 2:
        raise ConfigError(
            f"num_samples must be an int ≥ 2 (the Monte-Carlo error needs two particles), got {num_samples!r}"
        )


def _entropy(site, which: str) -> torch.Tensor:
    """The entropy of a Gaussian site (seed 002's identity is for Gaussian VAEs: Gaussian prior,
    encoder and decoder)."""
    base = site["fn"]
    while isinstance(base, (dist.Independent, dist.MaskedDistribution)):
        base = base.base_dist
    if not isinstance(base, GAUSSIANS):
        raise ConfigError(
            f"three_entropies: the {which}'s site {site['name']!r} is a {type(base).__name__}; seed 002's "
            "identity is for Gaussian VAEs, whose prior, encoder and decoder are Gaussian"
        )
    return site["fn"].entropy()
