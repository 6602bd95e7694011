"""What E7 and E8 (seed 003 §4, App. B) share: the two architectures and the data.

Architectures (App. B.1), a model/guide pair each:

* "affine" (canonical): encoder ``x → 2000 → d → (μ_z, σ_z)``, decoder ``z → x̂`` affine;
* "relu-net" (deep): encoder ``x → 2000 → 1000 → (μ_z, σ_z)``, decoder ``z → 1000 → 2000 → x̂``.

Data (App. B.2): the sparse Bernoulli set built in (``n_synthetic`` rows, the first
``n_train`` for training: 6700 / 3300); ``--data`` a Frey faces ``.mat`` file or a folder holding
one (1316 / 649), an MNIST-format IDX folder (the first ``n_images`` training images; the test
images as the test set: 60 000 / 10 000 for MNIST) or one IDX image file (its first ``n_images``,
the first ``n_train`` for training). Pixels are in [0, 1]; for a Bernoulli decoder they are
binarised at 0.5 (the seed trains Bernoulli decoders on grey values, which lie outside that
family's support).
"""

from __future__ import annotations

import pathlib

import torch

from pyro_vae import guides, models
from pyro_vae.data import frey_split, idx_file, load_frey, load_idx_images, sparse_bernoulli
from pyro_vae.data.frey import FREY_TRAIN
from pyro_vae.errors import ConfigError
from pyro_vae.families import Bernoulli, Family, Gaussian

from .image_data import first_images

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


#: The size settings of :func:`load_data`'s sources, and those that each kind of source reads.
SIZE_SETTINGS = ("n_synthetic", "data_dim", "n_train", "n_images")
DATA_SETTINGS = {
    "the synthetic set": ("n_synthetic", "data_dim", "n_train"),
    "Frey faces": (),
    "an IDX folder": ("n_images",),
    "an IDX image file": ("n_images", "n_train"),
}


def data_source(config) -> str:
    """The kind of source ``config.data`` names, a key of :data:`DATA_SETTINGS`."""
    path = pathlib.Path(config.data)
    if not config.data:
        return "the synthetic set"
    if path.suffix == ".mat" or (path.is_dir() and (path / "frey_rawface.mat").exists()):
        return "Frey faces"
    return "an IDX folder" if path.is_dir() else "an IDX image file"


def sizes_not_read(config) -> tuple[tuple[str, ...], str]:
    """The size settings that the source of ``config.data`` does not read, and why, in words."""
    source = data_source(config)
    reads = DATA_SETTINGS[source]
    if source == "Frey faces":
        why = f"--data {config.data!r} holds Frey faces, split {FREY_TRAIN} / the rest as in App. B.2"
    else:
        where = "without --data the data are" if not config.data else f"--data {config.data!r} is"
        test = " (its test images are the test set)" if source == "an IDX folder" else ""
        why = f"{where} {source}{test}; of the size settings it reads only {', '.join(reads)}"
    return tuple(name for name in SIZE_SETTINGS if name not in reads), why


def _split(x: torch.Tensor, n_train: int, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape[0] <= n_train:
        raise ConfigError(f"{source} holds {x.shape[0]} rows; the profile trains on n_train={n_train} "
                          "and tests on the rest")
    return x[:n_train], x[n_train:]


def load_data(config, binary: bool) -> tuple[str, torch.Tensor, torch.Tensor]:
    """``(description, train, test)`` for ``config.data`` ("" = the sparse Bernoulli set)."""
    path, source = pathlib.Path(config.data), data_source(config)
    if source == "the synthetic set":
        x = sparse_bernoulli(config.n_synthetic, config.data_dim, seed=config.seed).x
        train, test = _split(x, config.n_train, source)
        description = f"synthetic sparse Bernoulli (App. B.2), d={config.data_dim}"
    elif source == "Frey faces":
        train, test = frey_split(load_frey(path), seed=config.seed)
        description = f"Frey faces ({config.data})"
    elif source == "an IDX folder":
        train = first_images(config.data, config.n_images, "n_images")
        test = load_idx_images(idx_file(path, "test", "images"))
        description = f"IDX images ({path}), training and test files"
    else:
        x = first_images(config.data, config.n_images, "n_images")
        train, test = _split(x, config.n_train, f"--data {config.data!r}")
        description = f"IDX images ({path})"
    dtype = torch.get_default_dtype()
    train, test = train.to(dtype), test.to(dtype)
    if binary and config.data:
        train, test = (train > 0.5).to(dtype), (test > 0.5).to(dtype)
        description += ", binarised at 0.5"
    return f"{description}; {train.shape[0]} train / {test.shape[0]} test rows", train, test


def observation_family(name: str) -> Family:
    """The observation family by name: Bernoulli, or Gaussian with a learned σ."""
    if name == "bernoulli":
        return Bernoulli()
    if name == "gaussian":
        return Gaussian(1.0, learn_sigma=True)
    raise ConfigError(f"unknown observation family {name!r}; known: bernoulli, gaussian")
