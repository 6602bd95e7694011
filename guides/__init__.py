"""Amortised guides ``q_φ(z | x)`` as Pyro guides, one module per latent family.

Every guide is a :class:`~pyro.nn.PyroModule` called as ``guide(x)`` with the model's
signature; it samples the latent site ``"z"`` inside ``pyro.plate("data", len(x))``. Any guide
whose latent family and shape match a model's prior can be swapped in.
"""

from .amortised import AmortisedGuide
from .bernoulli import TEXT_ENCODERS, BernoulliBits, FactorisedBernoulli, term_frequencies, text_encoder
from .categorical import ExactCategorical, ExactPosterior
from .gaussian import DiagonalGaussian, LinearGaussian, SharedTrunkGaussian

__all__ = [
    "AmortisedGuide", "BernoulliBits", "DiagonalGaussian", "ExactCategorical", "ExactPosterior", "FactorisedBernoulli",
    "LinearGaussian", "SharedTrunkGaussian", "TEXT_ENCODERS", "term_frequencies", "text_encoder",
]
