"""Decoder and encoder networks: plain ``torch.nn`` multilayer perceptrons.

Depth is the number of hidden layers; depth 0 is a single affine map, the GLM case that
spans the consistent set of seed 000 Thm 1 when its input is the encoder statistic ψ(z).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import nn

from .errors import ConfigError
from .validation import check_flag, check_positive_int


def check_hidden(hidden, where: str) -> None:
    """Raise :class:`ConfigError` unless ``hidden`` is a sequence of positive layer widths."""
    if not isinstance(hidden, Sequence):
        raise ConfigError(f"{where}: hidden must be a sequence of layer widths, e.g. (64, 64) or (64,), "
                          f"got {hidden!r}")
    if any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1 for h in hidden):
        raise ConfigError(f"{where}: hidden sizes must be positive ints, got {tuple(hidden)!r}")


def mlp(
    in_features: int,
    out_features: int,
    hidden: Sequence[int] = (),
    activation: type[nn.Module] = nn.ReLU,
    bias: bool = True,
) -> nn.Sequential:
    """``Linear → (activation → Linear) × len(hidden)``; ``hidden=()`` is the affine map."""
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        check_positive_int(f"mlp: {name}", value)
    check_hidden(hidden, "mlp")
    check_flag("mlp: bias", bias)
    sizes = [int(size) for size in (in_features, *hidden, out_features)]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(activation())
        layers.append(nn.Linear(a, b, bias=bias))
    return nn.Sequential(*layers)


class UnitColumnLinear(nn.Linear):
    """``W̃ z + b`` with every column of W̃ scaled to unit length (seed 002 eq. 17–18).

    The first layer of VAE-2's decoder: the scale of each latent coordinate then lives in the
    prior variances α_h² alone.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        weight = self.weight / self.weight.norm(dim=0, keepdim=True)
        return nn.functional.linear(z, weight, self.bias)


class Concatenate(nn.Module):
    """Networks side by side on the same input, outputs concatenated on the last dimension.

    Seed 002 gives the decoder of VAE-3 two networks, one for μ(z) and one for σ(z)
    (eq. 37–38), and its encoders two, one for ν(x) and one for τ(x) (eq. 6–7).
    """

    def __init__(self, *networks: nn.Module):
        super().__init__()
        self.networks = nn.ModuleList(networks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([net(x) for net in self.networks], -1)
