"""The importance-weighted bound (Burda, Grosse & Salakhutdinov 2016)."""

from __future__ import annotations

import math

import pyro
import torch
from pyro import poutine
from pyro.infer.util import is_validation_enabled
from pyro.util import check_if_enumerated

from .surrogate import SurrogateELBO


class IWAE(SurrogateELBO):
    """``L_K = E_{z_1..K ~ q} [ log (1/K) Σ_k p(x, z_k) / q(z_k | x) ]`` per data point.

    The K particles are vectorised in a plate left of the model's plates; the log-mean-exp
    runs over particles separately for every data point (dim −1 is the ``"data"`` plate).
    Non-reparameterised latent sites get the score-function term
    ``L̂ · ∇ Σ_k log q(z_k | x)`` with the leave-one-out baseline of VIMCO (Mnih & Rezende 2016).
    With K = 1 the value equals ``Trace_ELBO``.
    """

    def __init__(self, num_particles: int = 10, max_plate_nesting: int = 1):
        super().__init__(
            num_particles=num_particles,
            max_plate_nesting=max_plate_nesting,
            vectorize_particles=True,
        )

    def _surrogate(self, model, guide, args, kwargs):
        log_w, log_q = log_importance_weights(
            model, guide, args, kwargs, self.num_particles, self.max_plate_nesting
        )
        k = self.num_particles
        bound = torch.logsumexp(log_w, 0) - math.log(k)
        surrogate = bound
        if torch.is_tensor(log_q):
            surrogate = surrogate + (_vimco_signal(log_w).detach() * log_q.reshape(k, -1)).sum(0)
        return bound.sum(), surrogate.sum()


def particle_traces(model, guide, args, kwargs, num_particles, max_plate_nesting=1):
    """One vectorised run of ``guide`` and of ``model`` replayed on its samples, with
    ``num_particles`` particles in a plate left of the model's ``max_plate_nesting`` plates."""

    def particles(fn):
        return pyro.plate("iwae_particles", num_particles, dim=-max_plate_nesting - 1)(fn)

    guide_trace = poutine.trace(particles(guide)).get_trace(*args, **kwargs)
    model_trace = poutine.trace(poutine.replay(particles(model), trace=guide_trace)).get_trace(
        *args, **kwargs
    )
    if is_validation_enabled():
        check_if_enumerated(guide_trace)
    return guide_trace, model_trace


def log_importance_weights(model, guide, args, kwargs, num_particles, max_plate_nesting=1):
    """``log p(x, z_k) − log q(z_k | x)`` per particle and data point, shape ``(K, batch)``.

    Also returns ``Σ log q`` of the non-reparameterised guide sites (for score-function
    terms), or 0 when every site is reparameterised. Particles are a plate left of the
    model's ``max_plate_nesting`` plates; the data plate must be the rightmost dimension.
    """
    traces = particle_traces(model, guide, args, kwargs, num_particles, max_plate_nesting)
    return weights_of_traces(*traces, num_particles)


def weights_of_traces(guide_trace, model_trace, num_particles):
    """:func:`log_importance_weights` of traces made by :func:`particle_traces`."""
    model_trace.compute_log_prob()
    guide_trace.compute_log_prob()
    log_w = 0.0
    log_q_nonreparam = 0.0
    # ``log_prob`` is already multiplied by the site's scale (β, subsampling).
    for site in model_trace.nodes.values():
        if site["type"] == "sample":
            log_w = log_w + _per_point(site["log_prob"], num_particles)
    for site in guide_trace.nodes.values():
        if site["type"] == "sample":
            log_w = log_w - _per_point(site["log_prob"], num_particles)
            if not site["fn"].has_rsample:  # the score ∇ log q is not scaled
                log_q = site["fn"].log_prob(site["value"])
                log_q_nonreparam = log_q_nonreparam + _per_point(log_q, num_particles)
    return log_w.reshape(num_particles, -1), log_q_nonreparam


def _per_point(log_prob, num_particles):
    """Sum a site's log-density down to shape ``(K, batch)`` (particles × data plate)."""
    t = torch.as_tensor(log_prob)
    if t.dim() == 0:
        return t.expand(num_particles, 1)
    if t.dim() == 1:  # a site outside the data plate: one value per particle
        return t.reshape(num_particles, 1)
    return t.reshape(num_particles, -1, t.shape[-1]).sum(1)


def _vimco_signal(log_w: torch.Tensor) -> torch.Tensor:
    """Learning signal per particle: ``L̂ − L̂_{−k}`` where particle k is replaced by the
    geometric mean of the others (VIMCO's leave-one-out baseline). For K = 1: ``L̂``.

    The sum over the other particles uses prefix and suffix ``logcumsumexp``: O(K) per point.
    """
    k = log_w.shape[0]
    bound = torch.logsumexp(log_w, 0) - math.log(k)
    if k == 1:
        return bound.expand_as(log_w)
    mean_others = (log_w.sum(0, keepdim=True) - log_w) / (k - 1)
    pad = torch.full_like(log_w[:1], -math.inf)
    prefix = torch.cat([pad, torch.logcumsumexp(log_w, 0)[:-1]])
    suffix = torch.cat([torch.logcumsumexp(log_w.flip(0), 0).flip(0)[1:], pad])
    others = torch.logaddexp(prefix, suffix)
    loo = torch.logaddexp(others, mean_others) - math.log(k)
    return bound - loo
