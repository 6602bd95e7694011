"""Images named by ``--data``: MNIST-format IDX files, shared by E5, E7 and E8."""

from __future__ import annotations

import pathlib

import torch

from pyro_vae.data import idx_file, load_idx_images
from pyro_vae.errors import ConfigError


def image_file(data: str) -> pathlib.Path:
    """The IDX image file that ``--data`` names: the file itself, or a folder's training images."""
    path = pathlib.Path(data)
    if path.is_dir():
        return idx_file(path, "train", "images")
    if not path.exists():
        raise ConfigError(f"--data {data!r}: no such file or folder; expected an IDX image file or a "
                          "folder with train-images-idx3-ubyte[.gz]")
    return path


def first_images(data: str, n: int, setting: str) -> torch.Tensor:
    """The first ``n`` images of :func:`image_file` in the default dtype; a :class:`ConfigError`
    naming the profile's ``setting`` when the file holds fewer."""
    images = load_idx_images(image_file(data), limit=n)
    if images.shape[0] < n:
        raise ConfigError(f"--data {data!r} holds {images.shape[0]} images; the profile uses {setting}={n}")
    return images.to(torch.get_default_dtype())
