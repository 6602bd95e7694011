"""The importance-weighted bound (Burda, Grosse & Salakhutdinov 2016)."""

from __future__ import annotations

import math
import weakref
from typing import NamedTuple

import pyro
import pyro.ops.jit
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.infer.util import is_validation_enabled
from pyro.poutine.util import site_is_subsample
from pyro.util import check_if_enumerated

from pyro_vae.errors import ConfigError, PairingError

from .surrogate import SurrogateELBO

ESTIMATORS = {
    "standard": "the gradient of the bound, reparameterised where the guide allows",
    "stl": "sticking the landing (Roeder et al. 2017): the score term of log q dropped; unbiased "
           "for K = 1, biased for K > 1 (Tucker et al. 2019)",
    "dreg": "doubly reparameterised (Tucker et al. 2019): the guide's gradient through z weighted "
            "by the squared normalised weights; unbiased, and its variance falls as K grows",
}


class IWAE(SurrogateELBO):
    """``L_K = E_{z_1..K ~ q} [ log (1/K) Σ_k p(x, z_k) / q(z_k | x) ]`` per data point.

    The K particles are vectorised in a plate left of the model's plates; the log-mean-exp
    runs over particles separately for every data point (dim −1 is the ``"data"`` plate). A
    subsampled data plate (``pyro.plate("data", N, subsample_size=B)``) scales each point's
    bound by N / B *after* the log-mean-exp, so a mini-batch estimates the full-data bound.
    With K = 1 the value equals ``Trace_ELBO``.

    Gradients (``estimator``, see :data:`ESTIMATORS`) for reparameterised guide sites, with
    normalised weights ``w̃_k ∝ p(x, z_k) / q(z_k | x)``:

    * ``standard``: ``Σ_k w̃_k ∇ log w_k``;
    * ``stl``: the same with ``∂ log q / ∂φ`` at fixed z dropped (Roeder et al. 2017);
    * ``dreg``: the guide gets ``Σ_k w̃_k² ∂ log w_k / ∂z_k · ∂z_k / ∂φ``, the model
      ``Σ_k w̃_k ∇_θ log p(x, z_k)`` (Tucker, Lawson, Gu & Maddison 2019); with the latent
      terms weighted by β the guide's factor is ``(1 − β) w̃_k + β w̃_k²``, which the same
      identity gives.

    ``stl`` and ``dreg`` need a guide with one latent site, reparameterised (the amortised
    guides of :mod:`pyro_vae.guides`): for a guide whose latents condition on each other the
    fixed-z score and the reweighting at each sample would not be these estimators.
    Non-reparameterised latent sites get the score-function term ``∇ Σ_k log q(z_k | x)``
    times VIMCO's leave-one-out learning signal (Mnih & Rezende 2016).
    """

    def __init__(self, num_particles: int = 10, max_plate_nesting: int = 1, estimator: str = "standard"):
        if estimator not in ESTIMATORS:
            raise ConfigError(f"IWAE: unknown estimator {estimator!r}; expected one of {', '.join(ESTIMATORS)}")
        super().__init__(
            num_particles=num_particles,
            max_plate_nesting=max_plate_nesting,
            vectorize_particles=True,
        )
        self.estimator = estimator

    def _surrogate(self, model, guide, args, kwargs):
        k = self.num_particles
        traces = particle_traces(model, guide, args, kwargs, k, self.max_plate_nesting)
        if self.estimator != "standard":
            _check_single_reparameterised_site(traces[0], self.estimator)
        weights = importance_weights(*traces, k, path_only=self.estimator != "standard")
        bound = (torch.logsumexp(weights.log_w, 0) - math.log(k)) * weights.scale
        surrogate = bound
        if torch.is_tensor(weights.log_q_score):
            signal = _vimco_signal(weights.log_w).detach() * weights.scale
            surrogate = surrogate + (signal * weights.log_q_score).sum(0)
        if self.estimator == "dreg":
            _weight_path_gradients(traces[0], torch.softmax(weights.log_w, 0).detach(), k)
        return bound.sum(), surrogate.sum()



class JitIWAE(IWAE):
    """:class:`IWAE` with the bound and its surrogate compiled by ``pyro.ops.jit.trace``.

    One instance serves one model, guide and data shape (``make_objective(..., jit=True)``
    keeps one per shape). Not for ``dreg``, whose tensor hooks a trace does not keep.
    """

    def __init__(self, num_particles: int = 10, max_plate_nesting: int = 1, estimator: str = "standard",
                 ignore_jit_warnings: bool = True):
        if estimator == "dreg":
            raise ConfigError("JitIWAE: the dreg estimator's tensor hooks are not traced; use IWAE")
        super().__init__(num_particles, max_plate_nesting, estimator)
        self.ignore_jit_warnings = ignore_jit_warnings
        self._compiled = None

    def _surrogate(self, model, guide, args, kwargs):
        if self._compiled is None:
            weak_self = weakref.ref(self)

            @pyro.ops.jit.trace(ignore_warnings=self.ignore_jit_warnings)
            def bound_and_surrogate(*args, **kwargs):
                return IWAE._surrogate(weak_self(), model, guide, args, kwargs)

            self._compiled = bound_and_surrogate
        return self._compiled(*args, **kwargs)

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


class Weights(NamedTuple):
    """Log importance weights ``log p(x, z_k) − log q(z_k | x)`` of shape ``(K, batch)``, the
    data plate's subsampling scale N / B (1 without subsampling; it is divided out of the
    weights), and ``Σ log q`` of the non-reparameterised guide sites, shape ``(K, batch)``, for
    score-function terms (0 when every site is reparameterised)."""

    log_w: torch.Tensor
    scale: float
    log_q_score: torch.Tensor | float


def log_importance_weights(model, guide, args, kwargs, num_particles, max_plate_nesting=1) -> Weights:
    """:class:`Weights` of one vectorised run of ``guide`` with ``num_particles`` particles and of
    ``model`` replayed on its samples. The data plate must be the rightmost dimension."""
    traces = particle_traces(model, guide, args, kwargs, num_particles, max_plate_nesting)
    return importance_weights(*traces, num_particles)


def importance_weights(guide_trace, model_trace, num_particles, path_only: bool = False) -> Weights:
    """:class:`Weights` of traces made by :func:`particle_traces`.

    ``log_prob`` already carries each site's scale: β (:func:`~pyro_vae.objectives.scale_latents`),
    which stays, and the data plate's subsampling N / B, which is divided out. With
    ``path_only``, a reparameterised guide site's ``log q(z)`` keeps its value but loses its
    gradient in φ at fixed z (the score term), as STL and DReG need.
    """
    model_trace.compute_log_prob()
    guide_trace.compute_log_prob()
    log_w = 0.0
    log_q_score = 0.0
    for site in _sample_sites(model_trace):
        log_w = log_w + _per_point(site["log_prob"] / _subsample_factor(site), num_particles)
    for site in _sample_sites(guide_trace):
        log_q = site["log_prob"] / _subsample_factor(site)
        if not site["fn"].has_rsample:  # the score ∇ log q is not scaled by β
            log_q_score = log_q_score + _per_point(site["fn"].log_prob(site["value"]), num_particles)
        elif path_only:
            at_fixed_z = scale_and_mask(site["fn"].log_prob(site["value"].detach()), site["scale"], site["mask"])
            log_q = log_q - (at_fixed_z - at_fixed_z.detach()) / _subsample_factor(site)
        log_w = log_w - _per_point(log_q, num_particles)
    scale = max((_subsample_factor(s) for s in _sample_sites(model_trace)), default=1.0)
    return Weights(log_w.reshape(num_particles, -1), scale, log_q_score)


def _sample_sites(trace):
    """The sample sites of a trace that carry a density (not a plate's subsample indices)."""
    return [s for s in trace.nodes.values() if s["type"] == "sample" and not site_is_subsample(s)]


def _subsample_factor(site) -> float:
    """The product of N / B over the subsampled plates of a site: the part of its scale that
    subsampling adds, which belongs outside the log-mean-exp."""
    factor = 1.0
    for frame in site["cond_indep_stack"]:
        if frame.full_size is not None and frame.size != frame.full_size:
            factor *= frame.full_size / frame.size
    return factor


def _check_single_reparameterised_site(guide_trace, estimator: str) -> None:
    latents = [name for name, s in guide_trace.nodes.items()
               if s["type"] == "sample" and not s["is_observed"] and not site_is_subsample(s)]
    if len(latents) != 1 or not guide_trace.nodes[latents[0]]["fn"].has_rsample:
        raise ConfigError(f"IWAE(estimator={estimator!r}) needs a guide with one reparameterised latent site; "
                          f"this guide has {latents or 'none'}"
                          + ("" if len(latents) != 1 else " and it has no rsample"))


def _weight_path_gradients(guide_trace, normalised: torch.Tensor, num_particles: int) -> None:
    """DReG: multiply the gradient that reaches the guide's sample z_k by ``(1 − β) + β w̃_k``
    (β: the site's scale without subsampling; w̃_k for the plain bound)."""
    for name, site in guide_trace.nodes.items():
        if site["type"] != "sample" or not site["fn"].has_rsample or not site["value"].requires_grad:
            continue
        beta = site["scale"] / _subsample_factor(site)
        value = site["value"]
        event_dims = len(site["fn"].event_shape)
        batch = value.shape[: value.dim() - event_dims]
        if batch.numel() != normalised.numel() or batch[0] != num_particles:
            raise PairingError(f"IWAE(estimator='dreg'): latent site {name!r} has batch shape {tuple(batch)}; "
                               f"dreg needs one value per particle and data point, {tuple(normalised.shape)}")
        factor = ((1 - beta) + beta * normalised).reshape(batch + (1,) * event_dims)
        value.register_hook(lambda grad, factor=factor: grad * factor)


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
