"""What E7 and E8 (seed 003 §4, App. B) share: the two architectures and the data.

Architectures (App. B.1), a model/guide pair each:

* "affine" (canonical): encoder ``x → 2000 → d → (μ_z, σ_z)``, decoder ``z → x̂`` affine;
* "relu-net" (deep): encoder ``x → 2000 → 1000 → (μ_z, σ_z)``, decoder ``z → 1000 → 2000 → x̂``.

Data (App. B.2): the sparse Bernoulli set built in (6700 / 3300); ``--data`` a Frey faces
``.mat`` file or folder (1316 / 649), or MNIST-format IDX images (the first ``n_images``, split
like the synthetic set). Pixels are in [0, 1]; for a Bernoulli decoder they are binarised at
0.5 (the seed trains Bernoulli decoders on grey values, which lie outside that family's
support).
"""

from __future__ import annotations

import pathlib

import torch

from pyro_vae import guides, models
from pyro_vae.data import frey_split, load_frey, load_idx_images, sparse_bernoulli
from pyro_vae.errors import ConfigError
from pyro_vae.families import Bernoulli, Family

from .vae1 import image_file

#: name → (decoder hidden layers, encoder hidden layers as a function of d)
ARCHITECTURES = {
    "affine": ((), lambda d: (2000, d)),
    "relu-net": ((1000, 2000), lambda d: (2000, 1000)),
}


def build_pair(architecture: str, observation: Family, data_dim: int, latent_dim: int):
    """``(model, guide)`` of App. B.1's ``architecture`` for the observation family."""
    if architecture not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    decoder_hidden, encoder_hidden = ARCHITECTURES[architecture]
    model = models.EDFVAE(observation, data_dim, latent_dim, decoder_hidden)
    guide = guides.SharedTrunkGaussian(data_dim, latent_dim, encoder_hidden(data_dim))
    return model, guide


def _is_frey(path: pathlib.Path) -> bool:
    return path.suffix == ".mat" or (path.is_dir() and (path / "frey_rawface.mat").exists())


def load_data(config, binary: bool) -> tuple[str, torch.Tensor, torch.Tensor]:
    """``(description, train, test)`` for ``config.data`` ("" = the sparse Bernoulli set)."""
    dtype = torch.get_default_dtype()
    if not config.data:
        data = sparse_bernoulli(config.n_synthetic, config.data_dim, seed=config.seed)
        train, test = data.split(config.n_train)
        description = f"synthetic sparse Bernoulli (App. B.2), N={config.n_synthetic}, d={config.data_dim}"
    elif _is_frey(pathlib.Path(config.data)):
        train, test = frey_split(load_frey(config.data), seed=config.seed)
        description = f"Frey faces ({config.data})"
    else:
        images = load_idx_images(image_file(config.data), limit=config.n_images)
        if images.shape[0] <= config.n_train:
            raise ConfigError(f"--data {config.data!r} holds {images.shape[0]} images; the profile trains on "
                              f"n_train={config.n_train} and tests on the rest")
        train, test = images[: config.n_train], images[config.n_train:]
        description = f"IDX images ({image_file(config.data)}), first {images.shape[0]}"
    train, test = train.to(dtype), test.to(dtype)
    if binary and config.data:
        train, test = (train > 0.5).to(dtype), (test > 0.5).to(dtype)
        description += ", binarised at 0.5"
    return description, train, test


def observation_family(name: str) -> Family:
    """The observation family by name: Bernoulli, or Gaussian with a learned σ."""
    from pyro_vae.families import Gaussian

    if name == "bernoulli":
        return Bernoulli()
    if name == "gaussian":
        return Gaussian(1.0, learn_sigma=True)
    raise ConfigError(f"unknown observation family {name!r}; known: bernoulli, gaussian")
