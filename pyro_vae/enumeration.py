"""Exact sums over discrete latent sites by Pyro's parallel enumeration.

Binary codes are enumerated bit by bit (:class:`~pyro_vae.bits.split_bits`).
"""

from __future__ import annotations

import math

import torch
from pyro import poutine
from pyro.infer import config_enumerate
from pyro.poutine.util import site_is_subsample

from .bits import MAX_ENUMERATED_BITS, split_bits
from .errors import ConfigError
from .pairing import display_name, latent_sites
from .validation import probe


def _enumerated_trace(fn, *args, first_available_dim: int = -2, **kwargs):
    enumerated = poutine.enum(config_enumerate(fn, "parallel"), first_available_dim=first_available_dim)
    with poutine.block(), split_bits():
        trace = poutine.trace(enumerated).get_trace(*args, **kwargs)
    trace.compute_log_prob()
    return trace


def _density_sites(trace) -> list[dict]:
    return [s for s in trace.nodes.values() if s["type"] == "sample" and not site_is_subsample(s)]


def _sum_log_probs(sites, shape: torch.Size) -> torch.Tensor:
    """The sites' ``log_prob``s summed and broadcast to ``shape`` (enumerated dims + (n,)),
    as a table of shape ``(K, n)``."""
    return sum(s["log_prob"] for s in sites).expand(shape).reshape(-1, shape[-1])


def _table(trace) -> torch.Tensor:
    sites = _density_sites(trace)
    return _sum_log_probs(sites, torch.broadcast_shapes(*(s["log_prob"].shape for s in sites)))


def log_joint_table(model, x: torch.Tensor) -> torch.Tensor:
    """``log p_θ(x, z)`` for every value of the model's latent ``"z"``: shape ``(K, len(x))``.

    Row k belongs to the k-th value of the latent's enumerated support. For a binary code
    sampled bit by bit, bit j is the j-th binary digit of k counted from the *least*
    significant (bit 0 varies fastest): the reverse of :func:`~pyro_vae.families.code_bits`.
    """
    return latent_table(model, x)[0]


def latent_table(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every value of the model's latent sites, with ``log p_θ(x, z)`` and ``log p(z)``.

    Returns ``log p_θ(x, z)`` of shape ``(K, len(x))`` (rows as in :func:`log_joint_table`), the
    prior ``log p(z)`` of shape ``(K,)`` and the latent values of the rows: shape ``(K,)`` for a
    single site (e.g. a code index), ``(K, sites)`` for several (e.g. the bits of a code).
    """
    sites = _density_sites(_enumerated_trace(model, x))
    latent = [s for s in sites if not s["is_observed"]]
    full = torch.broadcast_shapes(*(s["log_prob"].shape for s in sites))  # enumerated dims + (n,)
    values = [s["value"].expand(full[:-1] + (1,)).reshape(-1) for s in latent]
    return (_sum_log_probs(sites, full), _sum_log_probs(latent, full)[:, 0],
            values[0] if len(values) == 1 else torch.stack(values, -1))


def log_marginal(model, x: torch.Tensor) -> torch.Tensor:
    """Exact ``log p_θ(x) = log Σ_z p(z) p_θ(x | z)`` per data point (shape ``len(x)``)."""
    return torch.logsumexp(log_joint_table(model, x), 0)


def exact_elbo(model, guide, x: torch.Tensor) -> torch.Tensor:
    """Exact ``E_q[log p(x, z) − log q(z | x)]`` per data point, summing over q's support."""
    guide_trace = _enumerated_trace(guide, x)
    log_q = _table(guide_trace)
    replayed = poutine.replay(model, trace=guide_trace)
    with poutine.block(), split_bits():
        model_trace = poutine.trace(replayed).get_trace(x)
    model_trace.compute_log_prob()
    log_p = _table(model_trace)
    return (log_q.exp() * (log_p - log_q)).sum(0)


def latent_support_size(fn, x) -> int | None:
    """How many joint values the latent sites of ``fn`` take (binary codes count bit by bit),
    or ``None`` when one of them is continuous. Runs ``fn`` once on a row, drawing from the
    random number generators."""
    with poutine.block(), torch.no_grad(), split_bits():
        trace = poutine.trace(fn).get_trace(x[:1])
    latents = list(latent_sites(trace).values())
    if not latents or not all(s["fn"].has_enumerate_support for s in latents):
        return None
    return math.prod(s["fn"].enumerate_support(expand=False).shape[0] for s in latents)


def latent_is_enumerable(fn, x) -> bool:
    """Whether every latent site is discrete and their joint support has at most
    ``2 ** MAX_ENUMERATED_BITS`` values (binary codes count bit by bit)."""
    size = latent_support_size(fn, x)
    return size is not None and size <= 2**MAX_ENUMERATED_BITS


NOT_ENUMERABLE = f"continuous, or more than 2**{MAX_ENUMERATED_BITS} values"


def check_enumerable(fn, x, what: str) -> None:
    """Raise :class:`ConfigError` unless the latent of ``fn`` can be summed exactly (without
    drawing from the random number generators)."""
    with probe(x.device):
        enumerable = latent_is_enumerable(fn, x)
    if not enumerable:
        raise ConfigError(f"{what} sums over the latent of {display_name(fn)}, which cannot be enumerated "
                          f"({NOT_ENUMERABLE})")
