"""Models with a Gaussian observation family."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import nn

from pyro_vae.families import Gaussian

from .vae import ExponentialFamilyVAE


class GaussianMixture(ExponentialFamilyVAE):
    """``p(z) = 1/K``, ``p_θ(x | z) = N(x | θ z_onehot, σ² I)``: the toy of seed 000 §4.1.

    :param centres: a ``K × D`` tensor, the initial centres θ (one row per code z).
    :param sigma: the observation noise σ, fixed unless ``learn_sigma``.
    """

    def __init__(self, centres: torch.Tensor, sigma: float, learn_sigma: bool = False):
        centres = torch.as_tensor(centres, dtype=torch.get_default_dtype())
        if centres.dim() != 2 or centres.shape[0] < 2:
            raise ValueError(f"centres must be a K × D tensor with K ≥ 2, got shape {tuple(centres.shape)}")
        if not torch.isfinite(centres).all():
            raise ValueError("centres must be finite")
        k, d = centres.shape
        decoder = nn.Linear(k, d, bias=False)
        with torch.no_grad():
            decoder.weight.copy_(centres.T)
        prior = dist.Categorical(logits=torch.zeros(k))
        super().__init__(prior, decoder, Gaussian(float(sigma), learn_sigma=learn_sigma))

    @property
    def centres(self) -> torch.Tensor:
        """The current centres θ, one row per code."""
        return self.decoder.weight.T.detach()
