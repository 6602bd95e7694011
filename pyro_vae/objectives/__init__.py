"""Objectives by name: each is a ``pyro.infer.ELBO`` usable with ``pyro.infer.SVI``.

========== ======================================= ===========================================
name       objective                               use
========== ======================================= ===========================================
elbo       ``Trace_ELBO``                          reparameterised or score-function latents
meanfield  ``TraceMeanField_ELBO``                 analytic KL where Pyro has one
tracegraph ``TraceGraph_ELBO``                     score-function latents, with baselines
enum       ``TraceEnum_ELBO``, guide enumerated    exact sums over small discrete latents
iwae       :class:`~pyro_vae.objectives.iwae.IWAE` importance-weighted bound, K particles
disarm     :class:`~pyro_vae.objectives.disarm.    DisARM gradients for Bernoulli latents,
           DisARM`                                 K antithetic pairs
========== ======================================= ===========================================

Binary codes (:func:`~pyro_vae.bits.sample_bits`) are one site for every objective but ``enum``,
which samples them bit by bit under :class:`~pyro_vae.bits.split_bits` so Pyro can enumerate.

``beta`` weights the latent terms of model and guide (seed 003's β-VAE) through the
:class:`~pyro_vae.objectives.beta.scale_latents` handler, for every objective. ``jit=True``
compiles every objective but ``disarm`` (:data:`COMPILED`; ``tracegraph`` only for guides without
score-function sites, whose baselines Pyro updates outside a trace).
"""

from __future__ import annotations

import math
import warnings

import pyro
import pyro.infer as infer
import torch
from pyro import poutine
from pyro.infer import ELBO, config_enumerate
from pyro.poutine.util import site_is_subsample

from pyro_vae.bits import split_bits
from pyro_vae.errors import ConfigError
from pyro_vae.validation import check_positive_int, check_positive_number

from .beta import scale_latents
from .disarm import DisARM
from .iwae import ESTIMATORS, IWAE, JitIWAE
from .meanfield import JitMeanField

OBJECTIVES = {
    "elbo": "Trace_ELBO: Monte-Carlo ELBO (reparameterised or score-function gradients)",
    "meanfield": "TraceMeanField_ELBO: analytic KL terms where available",
    "tracegraph": "TraceGraph_ELBO: score-function gradients with baselines",
    "enum": "TraceEnum_ELBO: exact sum over a small discrete latent (guide enumerated)",
    "iwae": "importance-weighted bound with K particles (per-data-point log-mean-exp)",
    "disarm": "DisARM gradients for Bernoulli latents (K antithetic pairs per data point)",
}

__all__ = ["COMPILED", "ESTIMATORS", "OBJECTIVES", "DisARM", "IWAE", "make_objective", "scale_latents",
           "score_function_sites"]


class _Adapted(ELBO):
    """An inner ELBO applied to adapted model and guide: β-weighting, guide enumeration for
    ``enum``, decaying-average baselines for ``tracegraph``. Other attributes (``num_particles``,
    ``max_plate_nesting``, ...) are the inner ELBO's."""

    def __init__(self, inner: ELBO, beta: float, name: str):
        self.inner = inner
        self.beta = beta
        self.name = name

    def __getattr__(self, attr):
        if attr == "inner":  # not yet set: avoid recursion during unpickling
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def _adapt(self, model, guide):
        if self.name == "enum":
            model, guide = split_bits()(model), split_bits()(config_enumerate(guide, "parallel"))
        elif self.name == "tracegraph":
            guide = poutine.infer_config(guide, _baseline)
        if self.beta != 1.0:
            model, guide = scale_latents(self.beta)(model), scale_latents(self.beta)(guide)
        return model, guide

    def loss(self, model, guide, *args, **kwargs):
        return self.inner.loss(*self._adapt(model, guide), *args, **kwargs)

    def loss_and_grads(self, model, guide, *args, **kwargs):
        self._restart_baselines_on_new_size(args)
        return self.inner.loss_and_grads(*self._adapt(model, guide), *args, **kwargs)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        return self.inner.differentiable_loss(*self._adapt(model, guide), *args, **kwargs)

    def _restart_baselines_on_new_size(self, args) -> None:
        """Drop Pyro's decaying-average baselines when the mini-batch size changes (a shorter
        last mini-batch): Pyro would fail on the shape mismatch; the averages restart instead.
        On the first call (e.g. a run resumed from a checkpoint) the size is read off the
        stored averages, whose last dimension is the data plate's. The size is that of the first
        argument, the data; without one there is nothing to restart."""
        if self.name != "tracegraph" or not args or not torch.is_tensor(args[0]) or args[0].dim() == 0:
            return
        size = args[0].shape[0]
        store = pyro.get_param_store()
        previous = self.__dict__.get("_batch_size")
        for name in [n for n in store.keys() if n.startswith(BASELINE_PREFIX)]:
            stored = store[name].shape[-1:] or (size,)
            if (stored[0] if previous is None else previous) != size:
                del store[name]
        self.__dict__["_batch_size"] = size

    def _get_trace(self, model, guide, args, kwargs):  # abstract in ELBO; the inner ELBO traces
        raise NotImplementedError

    def __repr__(self):
        estimator = getattr(self.inner, "estimator", "standard")
        extra = "" if estimator == "standard" else f", estimator={estimator!r}"
        return f"{type(self.inner).__name__}(num_particles={self.num_particles}, beta={self.beta}{extra})"


class _Compiled(_Adapted):
    """:class:`_Adapted` over a compiled ELBO (:data:`COMPILED`), traced once per model, guide
    and data (shape, dtype, device).

    ``pyro.ops.jit`` keys its traces on the number of arguments, and a trace fixes the plate
    sizes, so a shorter last mini-batch gets its own. Before a trace is used, its loss and its
    gradients are compared with the uncompiled objective's on the same random draws (the first
    mini-batch of that shape); a trace that fails there or later, or differs, is dropped: that
    shape runs uncompiled, with a warning. The check cannot see a Python branch on tensor values
    that a later mini-batch would take the other way. ``loss`` is never compiled.
    """

    def __init__(self, make_compiled, make_uncompiled, beta: float, name: str):
        super().__init__(make_uncompiled(), beta, name)
        self._make_compiled = make_compiled
        self._by_shape, self._adapted, self._uncompiled_shapes = {}, {}, set()

    @property
    def compiled(self) -> bool:
        """Whether every data shape seen so far ran compiled."""
        return bool(self._by_shape) and not self._uncompiled_shapes

    def _adapt(self, model, guide):
        # Pyro's traces are keyed on id(model): wrap each pair once, and keep it alive.
        key = (id(model), id(guide))
        if key not in self._adapted:
            self._adapted[key] = (model, guide, super()._adapt(model, guide))
        return self._adapted[key][2]

    def _key(self, model, guide, args):
        # A Pyro Jit* ELBO closes over the model and guide of its first call: one per pair, too.
        return (id(model), id(guide),
                *((tuple(a.shape), a.dtype, str(a.device)) if torch.is_tensor(a) else repr(a) for a in args))

    def _objective_for(self, model, guide, args, kwargs) -> ELBO:
        key = self._key(model, guide, args)
        if key not in self._by_shape:
            compiled, reason = self._checked_trace(model, guide, args, kwargs)
            if reason is None:
                self._by_shape[key] = compiled
            else:
                self._uncompile(key, args, reason)
        return self._by_shape[key]

    def _uncompile(self, key, args, reason: str) -> None:
        shapes = ", ".join(str(tuple(a.shape)) if torch.is_tensor(a) else repr(a) for a in args)
        warnings.warn(f"jit: not compiling {self.name!r} for inputs of shapes {shapes} ({reason}); "
                      "running it uncompiled", RuntimeWarning, stacklevel=3)
        self._uncompiled_shapes.add(key)
        self._by_shape[key] = self.inner

    def _checked_trace(self, model, guide, args, kwargs) -> tuple[ELBO, str | None]:
        """A new compiled objective, and why it must not be used (``None`` if it may)."""
        compiled, adapted = self._make_compiled(), self._adapt(model, guide)
        devices = _cuda_devices(args)
        try:
            sites = score_function_sites(guide, *args, **kwargs) if self.name == "tracegraph" else []
            if sites:
                return compiled, f"the baselines of its score-function sites ({', '.join(sites)}) live outside a trace"
            with torch.random.fork_rng(devices=devices), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.trace, still in 2.x
                with poutine.trace(param_only=True) as params:
                    self.inner.loss(*adapted, *args, **kwargs)
                trained = [site["value"].unconstrained() for site in params.trace.nodes.values()]
                trained = [p for p in trained if p.requires_grad]
                saved = [p.grad for p in trained]
                try:
                    _loss_and_grads(compiled, adapted, args, kwargs, trained)  # traces
                    with torch.random.fork_rng(devices=devices):
                        ours = _loss_and_grads(compiled, adapted, args, kwargs, trained)
                    expected = _loss_and_grads(self.inner, adapted, args, kwargs, trained)  # the same draws
                finally:
                    for p, g in zip(trained, saved):
                        p.grad = g
        except Exception as e:  # noqa: BLE001 -- any failure to trace means: run uncompiled
            return compiled, _first_line(e)
        if not math.isclose(ours[0], expected[0], rel_tol=1e-4, abs_tol=1e-4):
            return compiled, f"the compiled loss {ours[0]:.6g} differs from the uncompiled {expected[0]:.6g}"
        for a, b in zip(ours[1], expected[1]):
            if not torch.allclose(a, b, rtol=1e-3, atol=1e-5 * (1 + b.abs().max().item())):
                return compiled, "the compiled gradients differ from the uncompiled ones"
        return compiled, None

    def loss_and_grads(self, model, guide, *args, **kwargs):
        objective = self._objective_for(model, guide, args, kwargs)
        if objective is self.inner:
            self._restart_baselines_on_new_size(args)
        try:
            return objective.loss_and_grads(*self._adapt(model, guide), *args, **kwargs)
        except RuntimeError as e:  # a trace that passed its check and then failed (TorchScript)
            if objective is self.inner:
                raise
            self._uncompile(self._key(model, guide, args), args, _first_line(e))
            return self.inner.loss_and_grads(*self._adapt(model, guide), *args, **kwargs)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        objective = self._objective_for(model, guide, args, kwargs)
        return objective.differentiable_loss(*self._adapt(model, guide), *args, **kwargs)

    def __repr__(self):
        return super().__repr__()[:-1] + ", jit=True)"


def _loss_and_grads(objective: ELBO, adapted, args, kwargs, params) -> tuple[float, list[torch.Tensor]]:
    """``objective.loss_and_grads`` as a training step takes it, and the gradients it left."""
    for p in params:
        p.grad = None
    loss = objective.loss_and_grads(*adapted, *args, **kwargs)
    return loss, [torch.zeros_like(p) if p.grad is None else p.grad for p in params]


def _cuda_devices(args) -> list[torch.device]:
    """The CUDA device of the arguments, if any, for ``torch.random.fork_rng``."""
    return [a.device for a in args if torch.is_tensor(a) and a.device.type == "cuda"][:1]


def _first_line(e: Exception) -> str:
    """The line of an error that says what went wrong (TorchScript's comes last, Pyro's first)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [""]
    return f"{type(e).__name__}: {lines[-1] if 'TorchScript' in lines[0] else lines[0]}"


def score_function_sites(guide, *args, **kwargs) -> list[str]:
    """The names of the guide's latent sample sites that have no reparameterised sampler
    (one run of the guide on the given arguments, with the random state restored after it)."""
    with torch.random.fork_rng(devices=_cuda_devices(args)), torch.no_grad(), poutine.block():
        trace = poutine.trace(guide).get_trace(*args, **kwargs)
    return [name for name, site in trace.nodes.items() if _is_score_function(site)]


def _is_score_function(site) -> bool:
    """Whether a trace site is a latent sample site without a reparameterised sampler."""
    return (site["type"] == "sample" and not site["is_observed"] and not site_is_subsample(site)
            and not site["fn"].has_rsample)


#: The objectives with a compiled form (``jit=True``), as (compiled, uncompiled) classes.
COMPILED = {
    "elbo": (infer.JitTrace_ELBO, infer.Trace_ELBO),
    "meanfield": (JitMeanField, infer.TraceMeanField_ELBO),
    "tracegraph": (infer.JitTraceGraph_ELBO, infer.TraceGraph_ELBO),
    "enum": (infer.JitTraceEnum_ELBO, infer.TraceEnum_ELBO),
    "iwae": (JitIWAE, IWAE),
}


def make_objective(name: str, num_particles: int = 1, beta: float = 1.0, estimator: str = "standard",
                   jit: bool = False) -> ELBO:
    """The ``pyro.infer.ELBO`` called ``name`` (see the table above).

    :param num_particles: Monte-Carlo particles (K for ``iwae``, pairs for ``disarm``), vectorised.
    :param beta: weight of the latent (KL) terms; 1 is the plain ELBO.
    :param estimator: for ``iwae``, the gradient estimator of reparameterised sites:
        ``standard``, ``stl`` or ``dreg`` (:data:`~pyro_vae.objectives.iwae.ESTIMATORS`).
    :param jit: compile the objective (``elbo``, ``meanfield``, ``enum`` through Pyro's ``Jit*``
        ELBOs, ``tracegraph`` for guides without score-function sites; ``iwae`` with ``standard``
        or ``stl``: :data:`COMPILED`), once per model, guide and data shape; each trace is
        checked once against the uncompiled loss. As for any Pyro
        ``Jit*`` ELBO, the model and guide must have static structure (no Python branches on
        tensor values) and take every tensor as an argument.
    """
    if name not in OBJECTIVES:
        raise ConfigError(f"unknown objective {name!r}; expected one of {', '.join(OBJECTIVES)}")
    if estimator not in ESTIMATORS:
        raise ConfigError(f"unknown estimator {estimator!r}; expected one of {', '.join(ESTIMATORS)}")
    if estimator != "standard" and name != "iwae":
        raise ConfigError(f"estimator={estimator!r} applies to the iwae objective, not {name!r}")
    num_particles = check_positive_int("num_particles", num_particles)
    beta = check_positive_number("beta", beta)
    if not isinstance(jit, bool):
        raise ConfigError(f"jit must be True or False, got {jit!r}")
    common = dict(num_particles=num_particles, max_plate_nesting=1, vectorize_particles=True)
    if jit:
        if name not in COMPILED:
            raise ConfigError(f"jit=True: {name!r} has no compiled form; compiled objectives: {', '.join(COMPILED)}")
        if estimator == "dreg":
            raise ConfigError("jit=True: the dreg estimator reweighs gradients by tensor hooks, which a trace "
                              "does not keep; use estimator='standard' or 'stl', or jit=False")
        compiled, uncompiled = COMPILED[name]
        options = dict(num_particles=num_particles, estimator=estimator) if name == "iwae" else common
        return _Compiled(lambda: compiled(**options, ignore_jit_warnings=True), lambda: uncompiled(**options),
                         float(beta), name)
    if name == "elbo":
        inner = infer.Trace_ELBO(**common)
    elif name == "meanfield":
        inner = infer.TraceMeanField_ELBO(**common)
    elif name == "tracegraph":
        inner = infer.TraceGraph_ELBO(**common)
    elif name == "enum":
        inner = infer.TraceEnum_ELBO(**common)
    elif name == "disarm":
        inner = DisARM(num_particles=num_particles)
    else:
        inner = IWAE(num_particles=num_particles, estimator=estimator)
    return _Adapted(inner, float(beta), name)


def _baseline(site) -> dict:
    """Pyro's decaying-average baseline on every non-reparameterised site of the guide.

    Pyro keeps one running average per position in the batch: per data point when training
    full-batch, an average over data points with shuffled mini-batches.
    """
    if _is_score_function(site) and "baseline" not in site["infer"]:
        return {"baseline": {"use_decaying_avg_baseline": True}}
    return {}


#: The param-store names of TraceGraph_ELBO's decaying-average baselines start so (pyro-ppl 1.9).
BASELINE_PREFIX = "__baseline_avg_downstream_cost_"
