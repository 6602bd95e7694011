"""Generative models ``p(z) p_θ(x | z)`` as Pyro models, one module per observation family.

Every model is a :class:`~pyro.nn.PyroModule` called as ``model(x)``: it samples the latent
site ``"z"`` and observes ``"x"`` inside ``pyro.plate("data", len(x))``.
"""

from .edf import EDFVAE
from .gaussian import VAE1, VAE2, VAE3, GaussianMixture, GaussianRBM, GaussianVAE, LinearVAE
from .text import TextVAE, consistent_text_vae
from .vae import ExponentialFamilyVAE

__all__ = [
    "EDFVAE", "ExponentialFamilyVAE", "GaussianMixture", "GaussianRBM", "GaussianVAE", "LinearVAE", "TextVAE", "VAE1",
    "VAE2", "VAE3", "consistent_text_vae",
]
