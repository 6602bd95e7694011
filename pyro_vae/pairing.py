"""Does a guide fit a model? Checked on a small batch before any training step."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample
from torch import nn

from .errors import PairingError


def display_name(fn) -> str:
    """A readable name for a model or guide: its param-store name, else its type or function name."""
    return getattr(fn, "_pyro_name", None) or getattr(fn, "__name__", None) or type(fn).__name__


def latent_sites(trace) -> dict:
    """The latent sample sites of a trace, by name (not observed, not a plate's subsample)."""
    return {
        name: site
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and not site["is_observed"] and not site_is_subsample(site)
    }


def _describe(site) -> str:
    fn = site["fn"]
    return (
        f"{type(fn).__name__} with support {fn.support}, batch shape {tuple(fn.batch_shape)}, "
        f"event shape {tuple(fn.event_shape)}"
    )


def check_model(model, x: torch.Tensor) -> None:
    """Raise :class:`PairingError` unless ``model`` runs on ``x`` and scores it as it is: the
    value at each observed site has the distribution's own shape, so that no data are
    broadcast against a model built for rows of another width.

    Runs the model once on ``x`` (use a few rows), drawing its latents from the prior.
    """
    _check_callable(model=model)
    try:
        with poutine.block(), torch.no_grad():
            model_trace = poutine.trace(model).get_trace(x)
    except Exception as e:
        raise PairingError(f"model {display_name(model)} failed on rows of shape {_row_shape(x)}: "
                           f"{_first_line(e)}") from e
    if not _observed_sites(model_trace, factors=True):
        raise PairingError(f"model {display_name(model)} observes no site: it must score the data, "
                           "e.g. pyro.sample('x', likelihood, obs=x) or pyro.factor; was a guide given as model?")
    _check_observed_shapes(model_trace, display_name(model))


def _check_callable(**fns) -> None:
    for role, fn in fns.items():
        if not callable(fn):
            raise PairingError(f"the {role} must be a Pyro {role}, a callable such as a PyroModule or a function "
                               f"{role}(x), got {type(fn).__name__}")


def _check_observed_shapes(model_trace, m: str) -> None:
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample" or not site["is_observed"] or isinstance(site["fn"], dist.Unit):
            continue
        fn, value = site["fn"], site["value"]
        expected, got = tuple(fn.batch_shape + fn.event_shape), tuple(value.shape)
        if got == expected:
            continue
        k = len(fn.event_shape)
        if k and got[-k:] != expected[-k:]:
            what = f"rows of shape {expected[-k:]}, but the data have rows of shape {got[-k:]}"
        else:
            what = f"values of shape {expected}, but is given values of shape {got} on the first rows of the data"
        raise PairingError(f"model {m} scores {what} at its observed site {name!r}. Was the model built for data "
                           "of another width?")


def check_pair(model, guide, x: torch.Tensor) -> None:
    """Raise :class:`PairingError` unless ``guide`` samples exactly the model's latent sites,
    each with the same support, batch shape and event shape, the model can score them, and
    it scores the data as they are (:func:`check_model`).

    Runs model and guide once on ``x`` (use a few rows); nothing is learned.
    """
    _check_callable(model=model, guide=guide)
    m, g = display_name(model), display_name(guide)
    try:
        with poutine.block(), torch.no_grad():
            guide_trace = poutine.trace(guide).get_trace(x)
    except Exception as e:  # the guide cannot even read the data: say which and why
        raise PairingError(
            f"guide {g} (paired with model {m}) failed on rows of shape {_row_shape(x)}: "
            f"{_first_line(e)}{_input_width_hint(guide, e, x)}"
        ) from e
    try:
        with poutine.block(), torch.no_grad():
            model_trace = poutine.trace(model).get_trace(x)
    except Exception as e:
        raise PairingError(
            f"model {m} (paired with guide {g}) failed on rows of shape {_row_shape(x)}: "
            f"{_first_line(e)}"
        ) from e

    observed_in_model = _observed_sites(model_trace, factors=True)
    observed_in_guide = _observed_sites(guide_trace, factors=False)
    if observed_in_guide:
        swapped = "; were model and guide swapped? fit(model, guide, x, ...)" if not observed_in_model else ""
        raise PairingError(f"guide {g} observes {observed_in_guide}, but a guide samples only latent sites "
                           f"(paired with model {m}){swapped}")
    if not observed_in_model:
        raise PairingError(f"model {m} observes no site: it must score the data, "
                           "e.g. pyro.sample('x', likelihood, obs=x) or pyro.factor")
    in_model, in_guide = latent_sites(model_trace), latent_sites(guide_trace)
    missing = sorted(set(in_model) - set(in_guide))
    extra = sorted(set(in_guide) - set(in_model))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"latent site(s) {missing} of model {m} are not sampled by guide {g}")
        if extra:
            parts.append(f"guide {g} samples {extra}, which model {m} does not have")
        raise PairingError("; ".join(parts))
    for name, ms in in_model.items():
        gs = in_guide[name]
        same = (
            str(ms["fn"].support) == str(gs["fn"].support)
            and ms["fn"].batch_shape == gs["fn"].batch_shape
            and ms["fn"].event_shape == gs["fn"].event_shape
        )
        if not same:
            raise PairingError(
                f"site {name!r} does not match: model {m} has {_describe(ms)}; "
                f"guide {g} has {_describe(gs)}"
            )
    try:
        with poutine.block(), torch.no_grad():
            replayed = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x)
            replayed.log_prob_sum()
    except Exception as e:
        raise PairingError(f"model {m} cannot score rows of shape {_row_shape(x)} with the values guide {g} "
                           f"samples: {_first_line(e)}") from e
    _check_observed_shapes(replayed, m)


def _row_shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape[1:])


def _input_width_hint(guide, error: Exception, x: torch.Tensor) -> str:
    """For a matrix-shape error on rows of data, the width that the first linear layer of the
    guide's ``encoder`` reads (an :class:`~pyro_vae.guides.AmortisedGuide`'s; other guides get none)."""
    encoder = getattr(guide, "encoder", None)
    if x.dim() != 2 or "mat1 and mat2" not in str(error) or not isinstance(encoder, nn.Module):
        return ""
    first = next((m for m in encoder.modules() if isinstance(m, nn.Linear)), None)
    if first is None or isinstance(first, nn.LazyLinear) or first.in_features == x.shape[-1]:
        return ""
    return f" (its encoder's first linear layer expects {first.in_features} inputs per row, the data have {x.shape[-1]})"


def _observed_sites(trace, factors: bool) -> list[str]:
    """The observed sample sites of a trace; ``pyro.factor``'s (a ``Unit`` distribution, which a
    guide may hold, e.g. for a Jacobian) only with ``factors``."""
    return sorted(name for name, site in trace.nodes.items()
                  if site["type"] == "sample" and site["is_observed"] and not site_is_subsample(site)
                  and (factors or not isinstance(site["fn"], dist.Unit)))


def _first_line(error: Exception) -> str:
    """The message of ``error`` without the trace-shape table Pyro appends; Pyro's "Error while
    computing log_prob_sum at site 'x':" keeps the line after it, which says why."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    introduces = lines[0].startswith("Error while computing") and len(lines) > 1
    return f"{lines[0]} {lines[1]}" if introduces else lines[0]
