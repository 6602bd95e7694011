"""Synthetic data sets defined by the papers, generated on the fly (no files, no network)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pyro_vae.errors import ConfigError

#: Ground truth of E1 (our choice: seed 000 gives no numbers). Rows are the codes
#: 00, 01, 10, 11 (bits most significant first). Around the ring the codes run
#: 00 → 01 → 10 → 11, so two neighbouring pairs (01|10 and 11|00) differ in both bits:
#: the centres are far from affine in the bits, i.e. the truth is not in the consistent set.
GMM_CENTRES = ((-1.3, -1.2), (-1.2, 1.4), (1.4, 1.0), (1.2, -1.3))
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
    centres=GMM_CENTRES,
    sigma: float = GMM_SIGMA,
) -> GMMToy:
    """``z ~ U{0..K−1}``, ``x ~ N(centres[z], σ² I)``: the ground truth of seed 000 §4.1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"gmm_toy: n must be a positive int, got {n!r}")
    if not sigma > 0:
        raise ConfigError(f"gmm_toy: sigma must be positive, got {sigma!r}")
    centres = torch.as_tensor(centres, dtype=torch.get_default_dtype())
    g = torch.Generator().manual_seed(seed)
    z = torch.randint(centres.shape[0], (n,), generator=g)
    x = centres[z] + sigma * torch.randn(n, centres.shape[1], generator=g)
    return GMMToy(x=x, z=z, centres=centres, sigma=float(sigma))
