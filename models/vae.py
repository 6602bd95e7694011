"""The exponential-family VAE model of seed 000, Assumption 1 (eq. 4a)."""

from __future__ import annotations

import copy

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn.module import to_pyro_module_
from torch import nn

from pyro_vae.errors import ConfigError
from pyro_vae.families import Family
from pyro_vae.naming import UniquelyNamed


class ExponentialFamilyVAE(UniquelyNamed):
    """``z ~ prior``, ``x ~ h(x) exp(<ν(x), θ(f(z))> − A)`` with ``f`` the decoder network.

    :param prior: a Pyro distribution with empty batch shape, e.g. a uniform
        ``Categorical`` over codes or ``Normal(0, 1).expand([H]).to_event(1)``.
    :param decoder: an ``nn.Module`` mapping the latent features to the family's predictor η.
    :param observation: the observation :class:`~pyro_vae.families.Family`.

    The decoder reads ``one_hot(z)`` for a categorical prior and ``z`` otherwise.
    """

    def __init__(self, prior: dist.Distribution, decoder: nn.Module, observation: Family):
        super().__init__()
        if not isinstance(prior, dist.Distribution):
            raise TypeError(f"prior must be a pyro Distribution, got {type(prior).__name__}")
        if prior.batch_shape != torch.Size():
            raise ConfigError(f"prior must have an empty batch shape, got {tuple(prior.batch_shape)}")
        if not isinstance(observation, Family):
            raise TypeError(f"observation must be a pyro_vae Family, got {type(observation).__name__}")
        self._prior = prior
        to_pyro_module_(decoder)
        self.decoder = decoder
        to_pyro_module_(observation)
        self.observation = observation

    def _apply(self, fn, *args, **kwargs):
        # ``.to(device)``, ``.double()``: move the prior's tensors along with the parameters.
        super()._apply(fn, *args, **kwargs)
        self._prior = _map_tensors(self._prior, fn)
        return self

    @property
    def prior(self) -> dist.Distribution:
        """``p(z)``."""
        return self._prior

    @property
    def latent_is_discrete(self) -> bool:
        return isinstance(self.prior, dist.Categorical)

    def latent_features(self, z: torch.Tensor) -> torch.Tensor:
        if self.latent_is_discrete:
            return F.one_hot(z.long(), self.prior.logits.shape[-1]).to(self.prior.logits.dtype)
        return z

    def predictor(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder output η = f_θ(z) for latent values z."""
        return self.decoder(self.latent_features(z))

    def likelihood(self, z: torch.Tensor) -> dist.Distribution:
        """``p_θ(x | z)`` as a Pyro distribution."""
        return self.observation.distribution(self.predictor(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", self.prior)
            pyro.sample("x", self.likelihood(z), obs=x)
        return z


def _map_tensors(d: dist.Distribution, fn) -> dist.Distribution:
    """A shallow copy of distribution ``d`` with ``fn`` applied to every tensor it holds."""
    new = copy.copy(d)
    for key, value in vars(d).items():
        if torch.is_tensor(value):
            setattr(new, key, fn(value))
        elif isinstance(value, dist.Distribution):
            setattr(new, key, _map_tensors(value, fn))
    return new
