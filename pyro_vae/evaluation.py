"""Measurements of a trained model/guide pair (seed 000 §2).

* ELBO ``L_B(θ, φ)``: exact by enumeration when the guide's latent is discrete, otherwise
  Monte-Carlo with its standard error;
* log-likelihood ``L(θ)``: exact by enumeration when the model's latent is discrete, closed
  form when the model has a ``marginal()`` distribution (the linear Gaussian decoder), otherwise
  importance-sampled with the guide as proposal (K samples, in chunks);
* tightness gap ``L(θ) − L_B(θ, φ) = E_{p_d} KL(q_φ(z|x) ‖ p_θ(z|x))``;
* approximation error ``L(θ_ref) − L(θ)`` against a reference decoder (eq. 2).

All values are averages over the rows of ``x``, in nats per data point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .enumeration import (
    NOT_ENUMERABLE,
    check_enumerable,
    exact_elbo,
    latent_is_enumerable,
    latent_support_size,
    log_marginal,
)
from .errors import ConfigError, PyroVAEError
from .objectives.iwae import log_importance_weights
from .pairing import display_name
from .validation import check_guide, check_inputs, probe


@dataclass(frozen=True)
class Estimate:
    """A mean over data points, with a standard error.

    For :func:`elbo`, ``se`` is the Monte-Carlo error of the value as the ELBO on these ``x``
    (0 when exact). For the log-likelihood, the tightness gap and the approximation error,
    ``se`` is the standard error of the mean over the data points (paired where it is a
    difference): the error of the value as an expectation under p_d, which also covers the
    Monte-Carlo noise of sampled per-point values.
    """

    value: float
    se: float
    exact: bool

    def __float__(self):
        return self.value

    def __format__(self, spec: str) -> str:
        """``f"{estimate:.3f}"`` formats the value, as for a float; ``f"{estimate}"`` shows all."""
        return format(self.value, spec) if spec else str(self)


def _has_marginal(model) -> bool:
    """Whether the model gives ``log p(x)`` in closed form (``model.marginal()``)."""
    return callable(getattr(model, "marginal", None))


def _likelihood_is_exact(model, x) -> bool:
    return _has_marginal(model) or latent_is_enumerable(model, x)


def _check_exact(exact) -> None:
    if exact is not None and not isinstance(exact, bool):
        raise ConfigError(f"exact must be True, False or None (decide from the latent), got {exact!r}")


def check_elbo_inputs(model, guide, x, num_samples: int, exact: bool | None, standard_error: bool = True) -> None:
    """What :func:`elbo` needs, checked before any estimate and without drawing from the random
    number generators: a guide that fits the model and the data (``check_inputs``), an
    enumerable latent for ``exact=True``, and two particles for the standard error of a
    Monte-Carlo value."""
    _check_exact(exact)
    if guide is None:
        raise ConfigError("the ELBO needs a guide: elbo(model, guide, x)")
    check_inputs(model, guide, x, num_samples=num_samples)
    if exact:
        check_enumerable(guide, x, "exact=True")
    if standard_error and num_samples < 2:
        with probe(x.device):
            sampled = exact is False or not latent_is_enumerable(guide, x)
        if sampled:
            raise ConfigError(f"num_samples={num_samples}: a Monte-Carlo ELBO needs at least 2 particles for "
                              "its standard error")


def check_likelihood_inputs(model, guide, x, exact: bool | None, role: str = "model", **counts) -> None:
    """What :func:`log_likelihood` needs, checked before any estimate and without drawing from
    the random number generators: the model scores the data (``check_inputs``), its latent
    can be summed when ``exact=True``, and where the likelihood is importance-sampled a
    ``guide`` that fits it. ``role`` names the model in the message (``"reference"``: its
    guide is the argument ``reference_guide``)."""
    try:
        _check_exact(exact)
        check_inputs(model, None, x, **counts)
        if exact and not _has_marginal(model):
            check_enumerable(model, x, "exact=True")
        with probe(x.device):
            sampled = exact is False or (exact is None and not _likelihood_is_exact(model, x))
        if sampled and guide is None:
            why = ("exact=False samples log p(x)" if exact is False else
                   f"its latent cannot be summed exactly ({NOT_ENUMERABLE}), so log p(x) is sampled")
            argument = "reference_guide=" if role == "reference" else "guide="
            raise ConfigError(f"model {display_name(model)}: {why}; give {argument}, the importance proposal")
        if sampled:
            check_guide(model, guide, x)
    except PyroVAEError as e:
        if role == "model":
            raise
        e.args = (f"{role}: {e}", *e.args[1:])
        raise


def _mean_and_se(per_point: torch.Tensor) -> tuple[float, float]:
    n = per_point.numel()
    se = per_point.std().item() / math.sqrt(n) if n > 1 else float("nan")
    return per_point.mean().item(), se


def elbo_per_point(model, guide, x, num_samples: int = 100, exact: bool | None = None):
    """Per-data-point ELBO; for Monte-Carlo also the per-point particle variance of the mean
    (NaN for a single particle).

    Exact by enumeration of the guide's latent (``exact=None`` decides from the latent). An
    exact sum runs in blocks of rows that keep a ``codes × rows × dim(x)`` tensor within
    ``MAX_CHUNK_ELEMENTS``, a Monte-Carlo one in blocks of ``MAX_SAMPLED_ELEMENTS``.
    """
    check_elbo_inputs(model, guide, x, num_samples, exact, standard_error=False)
    return _elbo_values(model, guide, x, num_samples, exact)


def _elbo_values(model, guide, x, num_samples: int, exact: bool | None):
    if exact is None:
        exact = latent_is_enumerable(guide, x)
    with torch.no_grad():
        if exact:
            rows = _rows_to_enumerate(guide, x)
            return torch.cat([exact_elbo(model, guide, x[i: i + rows]) for i in range(0, x.shape[0], rows)]), None
        rows = rows_per_block(x, num_samples, MAX_SAMPLED_ELEMENTS)
        log_w = torch.cat([log_importance_weights(model, guide, (x[i: i + rows],), {}, num_samples).log_w
                           for i in range(0, x.shape[0], rows)], -1)
        if num_samples == 1:
            return log_w[0], torch.full_like(log_w[0], math.nan)
        return log_w.mean(0), log_w.var(0) / num_samples


def elbo(model, guide, x, num_samples: int = 100, exact: bool | None = None) -> Estimate:
    """``L_B = mean_x E_q[log p(x, z) − log q(z | x)]`` (seed 000 eq. 1b).

    The standard error of a Monte-Carlo value combines the spread over data points with the
    particle noise; it is the error of this number as an estimate of the ELBO on ``x``.
    """
    check_elbo_inputs(model, guide, x, num_samples, exact)
    return elbo_estimate(*_elbo_values(model, guide, x, num_samples, exact))


def elbo_estimate(per_point: torch.Tensor, particle_var: torch.Tensor | None) -> Estimate:
    """The mean ELBO of per-point values; ``particle_var`` (the Monte-Carlo variance of each
    point's value) gives its standard error, ``None`` means the values are exact."""
    if particle_var is None:
        return Estimate(per_point.mean().item(), 0.0, True)
    se = math.sqrt(particle_var.sum().item()) / per_point.numel()
    return Estimate(per_point.mean().item(), se, False)


def log_likelihood_per_point(
    model, x, *, guide=None, num_samples: int = 1000, chunk_size: int = 100, exact: bool | None = None
) -> torch.Tensor:
    """``log p_θ(x)`` per data point: exact (``model.marginal()`` or enumeration), or
    importance-sampled with ``guide``.

    The importance-sampled value ``log (1/K) Σ_k p(x, z_k)/q(z_k|x)`` is computed in chunks of
    ``chunk_size`` particles and of as many data points as keep a ``particles × points × dim(x)``
    tensor within ``MAX_CHUNK_ELEMENTS``, so memory stays bounded for any K and any number of
    points (K = 5000 on 10 000 MNIST-sized points included), on CPU and CUDA alike.
    """
    check_likelihood_inputs(model, guide, x, exact, num_samples=num_samples, chunk_size=chunk_size)
    return _log_likelihood_values(model, x, guide, num_samples, chunk_size, exact)


def _log_likelihood_values(model, x, guide, num_samples: int, chunk_size: int, exact: bool | None):
    if exact is None:
        exact = _likelihood_is_exact(model, x)
    with torch.no_grad():
        if exact and _has_marginal(model):
            return model.marginal().log_prob(x)
        if exact:
            rows = _rows_to_enumerate(model, x)
            return torch.cat([log_marginal(model, x[i: i + rows]) for i in range(0, x.shape[0], rows)])
        rows = rows_per_block(x, min(chunk_size, num_samples))
        return torch.cat([_importance_sampled(model, guide, x[i: i + rows], num_samples, chunk_size)
                          for i in range(0, x.shape[0], rows)])


MAX_CHUNK_ELEMENTS = 2**24  # 64 MiB of float32 per particles × points × dim(x) tensor
# A Monte-Carlo ELBO's block (2 GiB of float32): blocks draw other random numbers than one
# call, and this is large enough that the evaluations of every experiment profile stay one
# call, as before blocking (E7's paper profile on 60 000 MNIST images: 60 000 × 10 × 784).
MAX_SAMPLED_ELEMENTS = 2**29


def rows_per_block(x: torch.Tensor, particles: int, limit: int = MAX_CHUNK_ELEMENTS) -> int:
    """How many rows of ``x`` keep a ``particles × rows × dim(x)`` tensor within ``limit`` elements."""
    return max(1, limit // (particles * x[0].numel()))


def _rows_to_enumerate(fn, x: torch.Tensor) -> int:
    """:func:`rows_per_block` for a sum over every value of the latent of ``fn``."""
    with probe(x.device):
        return rows_per_block(x, latent_support_size(fn, x))


def _importance_sampled(model, guide, x, num_samples: int, chunk_size: int) -> torch.Tensor:
    """``log (1/K) Σ_k w_k`` per row of ``x``, K = ``num_samples`` drawn ``chunk_size`` at a time."""
    total = None
    for start in range(0, num_samples, chunk_size):
        k = min(chunk_size, num_samples - start)
        chunk = torch.logsumexp(log_importance_weights(model, guide, (x,), {}, k).log_w, 0)
        total = chunk if total is None else torch.logaddexp(total, chunk)
    return total - math.log(num_samples)


def log_likelihood(
    model, x, *, guide=None, num_samples: int = 1000, chunk_size: int = 100, exact: bool | None = None
) -> Estimate:
    """``L(θ) = mean_x log p_θ(x)``; the standard error is that of the mean over data points."""
    check_likelihood_inputs(model, guide, x, exact, num_samples=num_samples, chunk_size=chunk_size)
    if exact is None:
        exact = _likelihood_is_exact(model, x)
    per_point = _log_likelihood_values(model, x, guide, num_samples, chunk_size, exact)
    value, se = _mean_and_se(per_point)
    return Estimate(value, se, exact)


def tightness_gap(model, guide, x, num_samples: int = 100, likelihood_samples: int = 1000) -> Estimate:
    """``L(θ) − L_B(θ, φ) = mean_x KL(q_φ(z|x) ‖ p_θ(z|x))`` (seed 000 §2), paired per point:
    the ELBO from ``num_samples`` particles, the log-likelihood (where it is not exact) from
    ``likelihood_samples`` importance samples."""
    check_elbo_inputs(model, guide, x, num_samples, None, standard_error=False)
    check_likelihood_inputs(model, guide, x, None, likelihood_samples=likelihood_samples)
    ll = _log_likelihood_values(model, x, guide, likelihood_samples, 100, None)
    lb, particle_var = _elbo_values(model, guide, x, num_samples, None)
    value, se = _mean_and_se(ll - lb)
    return Estimate(value, se, particle_var is None and _likelihood_is_exact(model, x))


def approximation_error(model, reference, x, *, guide=None, reference_guide=None) -> Estimate:
    """``L(θ_ref) − L(θ)`` (seed 000 eq. 2): the likelihood ``model`` lost against ``reference``.

    With the maximum-likelihood model as reference this is the approximation error of θ.
    The difference is paired per data point, so its standard error is small.
    """
    check_likelihood_inputs(model, guide, x, None)
    check_likelihood_inputs(reference, reference_guide, x, None, role="reference")
    ref = _log_likelihood_values(reference, x, reference_guide, 1000, 100, None)
    own = _log_likelihood_values(model, x, guide, 1000, 100, None)
    value, se = _mean_and_se(ref - own)
    with probe(x.device):
        reference_exact = _likelihood_is_exact(reference, x)
    return Estimate(value, se, _likelihood_is_exact(model, x) and reference_exact)


def evaluate(model, guide, x, reference=None, num_samples: int = 100,
             likelihood_samples: int = 1000, reference_guide=None) -> dict[str, float]:
    """ELBO, log-likelihood, tightness gap and (with ``reference``) approximation error on ``x``.

    Per-point values are computed once, so ``elbo + tightness_gap == log_likelihood``. The ELBO
    takes ``num_samples`` particles; a log-likelihood that is not exact (see
    :func:`log_likelihood_per_point`) takes ``likelihood_samples`` importance samples from
    ``guide``, the reference's from ``reference_guide`` (by default ``guide``).

    Returns a flat dict of floats: ``elbo``, ``elbo_se``, ``log_likelihood``,
    ``log_likelihood_se``, ``tightness_gap``, ``tightness_gap_se`` and, with a reference,
    ``approximation_error`` and ``approximation_error_se``.
    """
    if reference is None and reference_guide is not None:
        raise ConfigError("reference_guide= would be unused: it is the importance proposal of a reference=")
    reference_guide = guide if reference_guide is None else reference_guide
    check_elbo_inputs(model, guide, x, num_samples, None)
    check_likelihood_inputs(model, guide, x, None, likelihood_samples=likelihood_samples)
    if reference is not None:
        check_likelihood_inputs(reference, reference_guide, x, None, role="reference")
    out: dict[str, float] = {}
    lb_points, particle_var = _elbo_values(model, guide, x, num_samples, None)
    ll = _log_likelihood_values(model, x, guide, likelihood_samples, 100, None)
    lb = elbo_estimate(lb_points, particle_var)
    out["elbo"], out["elbo_se"] = lb.value, lb.se
    out["log_likelihood"], out["log_likelihood_se"] = _mean_and_se(ll)
    out["tightness_gap"], out["tightness_gap_se"] = _mean_and_se(ll - lb_points)
    if reference is not None:
        ref = _log_likelihood_values(reference, x, reference_guide, likelihood_samples, 100, None)
        out["approximation_error"], out["approximation_error_se"] = _mean_and_se(ref - ll)
    return out
