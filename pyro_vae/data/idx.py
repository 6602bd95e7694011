"""IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST), plain or gzipped: two zero bytes, a type code
(0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of
dimensions, that many big-endian uint32 sizes, then the data, big-endian and row-major."""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import torch

from pyro_vae.errors import ConfigError, DataError

from .files import read_bytes

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
SPLIT_PREFIXES = {"train": "train", "test": "t10k"}
KIND_STEMS = {"images": "images-idx3", "labels": "labels-idx1"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Any IDX file as an array of the file's shape and dtype, in native byte order."""
    path = Path(path)
    data = read_bytes(path, "an IDX file (plain or .gz)")
    if not data:
        raise DataError(f"{path}: empty file, expected an IDX header of at least 4 bytes")
    if len(data) < 4:
        raise DataError(f"{path}: header too short ({len(data)} bytes), expected at least 4 bytes")
    if data[:2] != b"\0\0":
        raise DataError(f"{path}: not an IDX file (first two bytes {data[:2].hex(' ')}, expected 00 00)")
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X}, expected one of {known}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(
            f"{path}: header too short ({len(data)} bytes), expected {header_len} bytes for {ndim} dimensions"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = np.dtype(IDX_TYPES[code])
    expected, found = math.prod(shape) * dtype.itemsize, len(data) - header_len
    if found < expected:
        raise DataError(
            f"{path}: truncated, shape {shape} of {dtype.name} needs {expected} data bytes, found {found}"
        )
    if found > expected:
        raise DataError(
            f"{path}: {found - expected} trailing bytes, shape {shape} of {dtype.name} needs exactly "
            f"{expected} data bytes, found {found}"
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header_len)
    return array.reshape(shape).astype(dtype.newbyteorder("="))


def load_idx_images(path: str | os.PathLike, *, limit: int | None = None) -> torch.Tensor:
    """A uint8 image file (N, rows, cols) as a float32 tensor (N, rows·cols) with values in [0, 1].

    ``limit`` keeps the first ``limit`` images.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"load_idx_images: limit must be a positive int or None, got {limit!r}")
    images = read_idx(path)
    if images.ndim != 3:
        raise DataError(
            f"{path}: an image file must be 3-d (N, rows, cols), "
            f"found {images.ndim}-d of shape {images.shape}"
        )
    if images.dtype != np.uint8:
        raise DataError(f"{path}: image pixels must be uint8 (type code 0x08), found {images.dtype}")
    images = images[:limit]
    flat = torch.from_numpy(images).reshape(images.shape[0], images.shape[1] * images.shape[2])
    return flat.to(torch.float32) / 255


def load_idx_labels(path: str | os.PathLike) -> torch.Tensor:
    """A 1-d integer label file (uint8 in the standard sets) as an int64 tensor."""
    labels = read_idx(path)
    if labels.ndim != 1:
        raise DataError(
            f"{path}: a label file must be 1-d (N,), found {labels.ndim}-d of shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: labels must be integers (type code 0x08), found {labels.dtype}")
    return torch.from_numpy(labels).to(torch.int64)


def idx_file(folder: str | os.PathLike, split: str, kind: str) -> Path:
    """The standard file ``{train|t10k}-{images-idx3|labels-idx1}-ubyte[.gz]`` inside ``folder``.

    ``split`` is "train" or "test", ``kind`` "images" or "labels"; the plain file wins over the .gz.
    """
    if split not in SPLIT_PREFIXES:
        raise ConfigError(f"idx_file: split must be 'train' or 'test', got {split!r}")
    if kind not in KIND_STEMS:
        raise ConfigError(f"idx_file: kind must be 'images' or 'labels', got {kind!r}")
    name = f"{SPLIT_PREFIXES[split]}-{KIND_STEMS[kind]}-ubyte"
    candidates = [Path(folder) / name, Path(folder) / f"{name}.gz"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{folder}: no {split} {kind} IDX file, looked for {' and '.join(c.name for c in candidates)}"
    )
