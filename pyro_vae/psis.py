"""PSIS k̂: how well a guide serves as importance proposal for the posterior, per data point.

The importance weights ``w_k = p(x, z_k) / q(z_k | x)``, ``z_k ~ q``, of one data point have a
right tail; Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao and Gabry 2024)
fits a generalised Pareto distribution to the largest of them, and its shape k̂ says how heavy
the tail is: the weights have finite variance for k < ½, and above k̂ ≈ 0.7 importance-sampled
estimates (the log-likelihood of :func:`~pyro_vae.evaluation.log_likelihood`) are unreliable
however many samples are drawn. A guide that is too narrow for the posterior gives a large k̂.

The fit is ArviZ's. ``pip install arviz`` on Python 3.11 gives the 0.x line, where
``arviz.psislw(log_weights)`` takes the log-weights with the samples on the last axis; ArviZ 1.x
(Python ≥ 3.12) moved it to ``arviz_stats.base.array_stats.psislw``, which takes them negated
(the log-likelihood convention of leave-one-out cross-validation). :func:`khat` hides the
difference.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .enumeration import latent_is_enumerable
from .errors import ConfigError
from .evaluation import rows_per_block
from .objectives.iwae import log_importance_weights
from .validation import check_inputs, check_positive_int

#: ArviZ fits the generalised Pareto distribution to the largest ceil(K/5) of K weights (for
#: K ≤ 225) and needs more than 4 of them; with fewer samples it returns k̂ = inf for every point.
MIN_SAMPLES = 21


def _arviz_psislw():
    """``log_weights (..., K) -> (smoothed log-weights, k̂ (...))`` from whichever ArviZ is installed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # ArviZ 0.x announces its 1.0 refactor on import
        import arviz
    if hasattr(arviz, "psislw"):
        return lambda log_w: arviz.psislw(log_w)
    from arviz_stats.base import array_stats

    return lambda log_w: array_stats.psislw(-log_w, axis=-1)


def khat(log_weights: torch.Tensor) -> torch.Tensor:
    """The Pareto shape k̂ of importance weights, one per column: ``log_weights`` has the K
    samples on its first axis (shape ``(K, N)``, as Pyro's particle plates put them), k̂ has
    shape ``(N,)``. Computed in float64 by ArviZ's ``psislw``. A column of equal weights (the
    guide is the exact posterior; equal up to 64 rounding errors of the input's dtype) has no
    tail to fit: its k̂ is −inf, where ArviZ says +inf."""
    if log_weights.dim() < 1 or log_weights.shape[0] < MIN_SAMPLES:
        raise ConfigError(f"khat needs at least {MIN_SAMPLES} samples on the first axis (ArviZ fits the Pareto "
                          f"tail to the largest fifth of them, and needs 5), got shape {tuple(log_weights.shape)}")
    if not torch.isfinite(log_weights).all():
        raise ConfigError("khat: the log-weights contain NaN or ±inf")
    values = np.moveaxis(log_weights.detach().double().cpu().numpy(), 0, -1)
    _, k = _arviz_psislw()(values)
    rounding = 64 * torch.finfo(log_weights.dtype).eps * max(1.0, float(np.abs(values).max()))
    k = np.where(np.ptp(values, axis=-1) <= rounding, -np.inf, np.asarray(k, dtype=np.float64))
    return torch.as_tensor(k).reshape(log_weights.shape[1:])


def psis_khat(model, guide, x: torch.Tensor, num_samples: int = 1000, chunk_size: int = 100) -> torch.Tensor:
    """k̂ of ``guide`` as importance proposal for ``model``'s posterior, per row of ``x``.

    ``num_samples`` draws per row, made ``chunk_size`` particles at a time and for as many rows
    as keep a ``particles × rows × dim(x)`` tensor within ``evaluation.MAX_CHUNK_ELEMENTS``, so memory stays
    bounded; the ``(num_samples, rows)`` log-weights of a row block are kept for the fit.
    Returns a float64 CPU tensor of shape ``(len(x),)``.
    """
    check_positive_int("psis_khat: num_samples", num_samples)
    check_positive_int("psis_khat: chunk_size", chunk_size)
    if num_samples < MIN_SAMPLES:
        raise ConfigError(f"psis_khat: num_samples must be at least {MIN_SAMPLES} for a Pareto fit (ArviZ fits "
                          f"the tail to the largest fifth of the weights, and needs 5), got {num_samples}")
    check_inputs(model, guide, x)
    if latent_is_enumerable(guide, x):
        raise ConfigError("psis_khat: the guide's latent is discrete with few values, so the weights take only "
                          "a few values and have no tail to fit; the log-likelihood of such a model is exact "
                          "(pyro_vae.log_likelihood sums over the latent)")
    rows = rows_per_block(x, min(chunk_size, num_samples))
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], rows):
            block = x[i: i + rows]
            log_w = torch.cat([
                log_importance_weights(model, guide, (block,), {}, min(chunk_size, num_samples - start)).log_w
                for start in range(0, num_samples, chunk_size)
            ])
            out.append(khat(log_w))
    return torch.cat(out)
