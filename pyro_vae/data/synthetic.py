"""Synthetic data sets defined by the papers, generated on the fly (no files, no network)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pyro_vae.errors import ConfigError


def gmm_centres(radius: float = 2.2) -> torch.Tensor:
    """Ground-truth centres of E1 (our choice: seed 000 gives no numbers), rows = codes 00..11.

    The origin, then three points on a circle of ``radius`` at 90°, 210° and 330°. A point
    inside the triangle of the other three means that no labelling of the four centres is a
    parallelogram: the truth is far from the consistent set (centres affine in the two bits).
    """
    angles = [math.pi / 2 + k * 2 * math.pi / 3 for k in range(3)]
    points = [(0.0, 0.0)] + [(radius * math.cos(a), radius * math.sin(a)) for a in angles]
    return torch.tensor(points)


GMM_SIGMA = 0.9


@dataclass
class GMMToy:
    """Samples ``x`` (n × 2) and codes ``z`` of the E1 mixture, with its parameters."""

    x: torch.Tensor
    z: torch.Tensor
    centres: torch.Tensor
    sigma: float


def gmm_toy(
    n: int,
    seed: int = 0,
    centres=None,
    sigma: float = GMM_SIGMA,
) -> GMMToy:
    """``z ~ U{0..K−1}``, ``x ~ N(centres[z], σ² I)``: the ground truth of seed 000 §4.1.

    ``centres`` (K × D) default to :func:`gmm_centres`; with ``sigma`` = 0.9 the negative
    entropy of this mixture is about −3.62 nats (the paper's, with its own centres: −3.65).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"gmm_toy: n must be a positive int, got {n!r}")
    if not sigma > 0:
        raise ConfigError(f"gmm_toy: sigma must be positive, got {sigma!r}")
    centres = gmm_centres() if centres is None else centres
    # Drawn on the CPU, so that a seed gives the same data on every device.
    centres = torch.as_tensor(centres, dtype=torch.get_default_dtype(), device="cpu")
    g = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randint(centres.shape[0], (n,), generator=g, device="cpu")
    x = centres[z] + sigma * torch.randn(n, centres.shape[1], generator=g, device="cpu")
    return GMMToy(x=x, z=z, centres=centres, sigma=float(sigma))
