"""Guides over binary latent codes."""

from __future__ import annotations

from collections.abc import Sequence

from pyro_vae.families import BinaryCode
from pyro_vae.networks import mlp

from .amortised import AmortisedGuide


class FactorisedBernoulli(AmortisedGuide):
    """``q_φ(z_b | x) ∝ exp<g_φ(x), z_b>`` over ``bits`` independent bits (seed 000 §4.1).

    The site ``"z"`` holds the code index ``Σ_j z_j 2^(m−1−j)``, so a model with a categorical
    prior over the 2^m codes accepts it, and ``TraceEnum_ELBO`` can sum over it.
    """

    def __init__(self, input_dim: int, bits: int, hidden: Sequence[int] = (64, 64)):
        super().__init__(BinaryCode(bits), mlp(input_dim, bits, hidden))
