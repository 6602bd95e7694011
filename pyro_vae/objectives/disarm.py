"""The DisARM gradient for Bernoulli latents (Dong, Mnih & Tucker 2020)."""

from __future__ import annotations

import pyro
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask

from pyro_vae.errors import ConfigError
from pyro_vae.pairing import latent_sites

from .iwae import _per_point
from .surrogate import SurrogateELBO


class DisARM(SurrogateELBO):
    """The ELBO with DisARM gradients for guides whose latent sites are Bernoulli.

    For each data point and particle one uniform ``u`` gives an antithetic pair of codes
    ``b = 1[u < σ(θ)]`` and ``b̃ = 1[1 − u < σ(θ)]``; with ``f(z) = log p(x, z) − log q(z | x)``
    the gradient with respect to the logits θ of bit j is

        ½ (f(b) − f(b̃)) · (−1)^{b̃_j} · 1[b_j ≠ b̃_j] · σ(|θ_j|),

    the distributionally-antithetic form of ARM (Yin & Zhou 2019), unbiased and with lower
    variance than REINFORCE. Model parameters get ``½ ∇(log p(x, b) + log p(x, b̃))``.
    ``num_particles`` is the number of pairs (each costs two model evaluations, vectorised).

    The guide's Bernoulli parameters must not depend on its own latent values (a factorised
    encoder such as :class:`~pyro_vae.guides.BernoulliBits`); they are read once per step.
    """

    def __init__(self, num_particles: int = 1, max_plate_nesting: int = 1):
        super().__init__(num_particles=num_particles, max_plate_nesting=max_plate_nesting,
                         vectorize_particles=True)

    def _particles(self, fn, size):
        return pyro.plate("disarm_particles", size, dim=-self.max_plate_nesting - 1)(fn)

    def _surrogate(self, model, guide, args, kwargs):
        k = self.num_particles
        guide_trace = poutine.trace(self._particles(guide, k)).get_trace(*args, **kwargs)
        sites = latent_sites(guide_trace)
        codes = {}  # name -> (logits θ, b, b̃)
        for name, site in sites.items():
            theta = _bernoulli_logits(name, site["fn"])
            u = torch.rand_like(theta)
            b = (u < torch.sigmoid(theta)).to(theta.dtype)
            b_tilde = (1 - u < torch.sigmoid(theta)).to(theta.dtype)
            codes[name] = theta, b, b_tilde
        # One vectorised model run scores both halves: particles 0..k−1 are b, k..2k−1 are b̃.
        both = guide_trace.copy()
        for name, (_, b, b_tilde) in codes.items():
            both.nodes[name] = dict(both.nodes[name], value=torch.cat([b, b_tilde]))
        model_trace = poutine.trace(
            poutine.replay(self._particles(model, 2 * k), trace=both)
        ).get_trace(*args, **kwargs)
        model_trace.compute_log_prob()
        log_p = sum(_per_point(s["log_prob"], 2 * k) for s in model_trace.nodes.values()
                    if s["type"] == "sample")
        log_q = torch.cat([
            sum(_scaled_log_q(sites[name], code[i], k) for name, code in codes.items()) for i in (1, 2)
        ])
        f = (log_p - log_q.detach()).reshape(2, k, -1)
        elbo = f.mean(0)  # (k, batch): the pair's average, an unbiased ELBO estimate per point
        surrogate = elbo.sum() / k
        half_difference = 0.5 * (f[0] - f[1]).detach()
        for name, (theta, b, b_tilde) in codes.items():
            weight = (1 - 2 * b_tilde) * (b != b_tilde).to(theta.dtype) * torch.sigmoid(theta.abs())
            term = weight.detach() * theta
            event_dims = len(sites[name]["fn"].event_shape)
            if event_dims:
                term = term.sum(tuple(range(-event_dims, 0)))
            surrogate = surrogate + (half_difference * _per_point(term, k)).sum() / k
        return elbo.sum().detach() / k, surrogate


def _scaled_log_q(site, value, k) -> torch.Tensor:
    """``log q`` of ``value`` at a guide site, with the site's scale (β), per particle and point."""
    return _per_point(scale_and_mask(site["fn"].log_prob(value), site["scale"], site["mask"]), k)


def _bernoulli_logits(name: str, fn) -> torch.Tensor:
    """The logits of a (possibly ``.to_event``) Bernoulli site, or a clear error."""
    base = fn
    while hasattr(base, "base_dist"):
        base = base.base_dist
    if not isinstance(base, torch.distributions.Bernoulli):
        raise ConfigError(f"disarm needs Bernoulli latent sites; guide site {name!r} is {type(base).__name__}")
    return base.logits.expand(fn.batch_shape + fn.event_shape)
