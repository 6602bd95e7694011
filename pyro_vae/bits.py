"""Binary latent codes ``z ∈ {0, 1}^m``: one vector site, or one site per bit when enumerated.

A code is sampled as the single site ``"z"`` with ``Bernoulli(logits).to_event(1)``: that is
the form score-function estimators need for 64 bits (one site costs far less than 64). Pyro
cannot enumerate a ``.to_event(1)`` Bernoulli, so under the :class:`split_bits` handler the
same program samples one site per bit, ``"z_0"`` … ``"z_{m-1}"``, which ``TraceEnum_ELBO``
enumerates in parallel. Model and guide both call :func:`sample_bits`, so one pair serves
both forms; the ``enum`` objective and the exact measurements apply the handler themselves.

A ``pyro.plate`` over the bits would declare them independent in the *model*, which a decoder
that reads all bits contradicts; separate sites make no such claim.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.poutine.messenger import Messenger
from pyro.poutine.runtime import _PYRO_STACK

MAX_ENUMERATED_BITS = 12


class split_bits(Messenger):
    """Inside this handler :func:`sample_bits` samples one Bernoulli site per bit.

    It changes no message; the program asks for it (as a program asks ``poutine.enum``
    through ``config_enumerate``). Use it around both model and guide::

        with split_bits():
            trace = poutine.trace(config_enumerate(guide)).get_trace(x)
    """


def bits_are_split() -> bool:
    """Whether a :class:`split_bits` handler is active."""
    return any(isinstance(frame, split_bits) for frame in _PYRO_STACK)


def bit_site(name: str, j: int) -> str:
    """The name of bit ``j`` of the code site ``name`` under :class:`split_bits`."""
    return f"{name}_{j}"


def sample_bits(name: str, logits: torch.Tensor) -> torch.Tensor:
    """Sample a code with independent bits ``z_j ~ Bernoulli(sigmoid(logits_j))``.

    Returns the bits as a float tensor whose last dimension has size m. Outside
    :class:`split_bits` this is one site ``name`` with event shape ``(m,)``; inside, the bits
    are the sites ``name_0`` … ``name_{m-1}`` and the result broadcasts their values (an
    enumerated bit carries its own dimension on the left).
    """
    if not bits_are_split():
        return pyro.sample(name, dist.Bernoulli(logits=logits).to_event(1))
    bits = [pyro.sample(bit_site(name, j), dist.Bernoulli(logits=logits[..., j]))
            for j in range(logits.shape[-1])]
    return torch.stack(torch.broadcast_tensors(*bits), -1)
