"""The generic amortised guide of seed 000, Assumption 1 (eq. 4b)."""

from __future__ import annotations

from collections.abc import Callable

import pyro
import torch
from pyro.nn.module import to_pyro_module_
from torch import nn

from pyro_vae.families import Family
from pyro_vae.naming import UniquelyNamed


class AmortisedGuide(UniquelyNamed):
    """``q_φ(z | x) = h′(z) exp(<ψ(z), g_φ(t(x))> − B)``: a latent family, an encoder g, an input map t.

    :param family: the latent :class:`~pyro_vae.families.Family` (its statistic is ψ).
    :param encoder: an ``nn.Module`` mapping ``t(x)`` to the family's predictor.
    :param input_transform: ``t``; identity by default (seed 000 §3.1 uses counts or x / l).
    """

    def __init__(
        self,
        family: Family,
        encoder: nn.Module,
        input_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__()
        if not isinstance(family, Family):
            raise TypeError(f"family must be a pyro_vae Family, got {type(family).__name__}")
        to_pyro_module_(family)
        self.family = family
        to_pyro_module_(encoder)
        self.encoder = encoder
        self.input_transform = input_transform

    def predictor(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder output g_φ(t(x))."""
        t = x if self.input_transform is None else self.input_transform(x)
        return self.encoder(t)

    def posterior(self, x: torch.Tensor):
        """``q_φ(z | x)`` as a Pyro distribution (batch shape ``len(x)``)."""
        return self.family.distribution(self.predictor(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("z", self.posterior(x))
