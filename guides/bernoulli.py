"""Guides over binary latent codes."""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import torch

from pyro_vae.bits import sample_bits
from pyro_vae.errors import ConfigError
from pyro_vae.families import Bernoulli, BinaryCode
from pyro_vae.networks import mlp
from pyro_vae.validation import check_flag, check_positive_int

from .amortised import AmortisedGuide

TEXT_ENCODERS = {
    "e1": "linear on word counts x (seed 000's correction: consistent with a linear decoder)",
    "e2": "two hidden layers of 512 ReLU on term frequencies x / l",
    "e3": "linear on term frequencies x / l",
}


class FactorisedBernoulli(AmortisedGuide):
    """``q_φ(z_b | x) ∝ exp<g_φ(x), z_b>`` over ``bits`` independent bits (seed 000 §4.1).

    The site ``"z"`` holds the code index ``Σ_j z_j 2^(m−1−j)``, so a model with a categorical
    prior over the 2^m codes accepts it, and ``TraceEnum_ELBO`` can sum over it.
    """

    def __init__(self, input_dim: int, bits: int, hidden: Sequence[int] = (64, 64)):
        check_positive_int("FactorisedBernoulli: input_dim", input_dim)
        super().__init__(BinaryCode(bits), mlp(input_dim, bits, hidden))


def term_frequencies(x: torch.Tensor) -> torch.Tensor:
    """``x / l`` per document (rows); an empty document stays all zeros."""
    return x / x.sum(-1, keepdim=True).clamp_min(1)


class BernoulliBits(AmortisedGuide):
    """``q_φ(z | x) = Π_j Bernoulli(z_j; sigmoid(g_φ(t(x))_j))`` over an m-bit code (seed 000 eq. 13).

    The code is the vector site ``"z"``, or one site per bit under
    :class:`~pyro_vae.bits.split_bits` (for ``enum``), like the prior of
    :class:`~pyro_vae.models.TextVAE`. ``predictor(x)`` gives the logits of the bits.

    :param input_dim: the size of x.
    :param bits: m.
    :param hidden: hidden ReLU layers of g; ``()`` is linear.
    :param frequencies: read the term frequencies ``t(x) = x / l`` instead of x.
    """

    def __init__(self, input_dim: int, bits: int, hidden: Sequence[int] = (), frequencies: bool = False):
        check_positive_int("BernoulliBits: input_dim", input_dim)
        check_positive_int("BernoulliBits: bits", bits)
        check_flag("BernoulliBits: frequencies", frequencies)
        super().__init__(Bernoulli(), mlp(input_dim, bits, hidden),
                         term_frequencies if frequencies else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.predictor(x)
        with pyro.plate("data", x.shape[0]):
            return sample_bits("z", logits)


def text_encoder(name: str, vocab_size: int, bits: int, hidden: int | None = None) -> BernoulliBits:
    """Encoder ``e1``, ``e2`` or ``e3`` of seed 000 §4.3 (see :data:`TEXT_ENCODERS`).

    ``hidden`` is the width of e2's two layers, 512 (the paper's) when None; the linear e1 and e3
    refuse it.
    """
    if name not in TEXT_ENCODERS:
        raise ConfigError(f"unknown text encoder {name!r}; expected one of {', '.join(TEXT_ENCODERS)}")
    if hidden is not None and name != "e2":
        raise ConfigError(f"text_encoder: hidden={hidden!r} would be unused: {name} is linear "
                          "(only e2 has hidden layers); leave hidden unset")
    hidden = 512 if hidden is None else hidden
    check_positive_int("hidden", hidden)
    if name == "e1":
        return BernoulliBits(vocab_size, bits)
    if name == "e2":
        return BernoulliBits(vocab_size, bits, hidden=(hidden, hidden), frequencies=True)
    return BernoulliBits(vocab_size, bits, frequencies=True)
