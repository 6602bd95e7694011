"""IDX loader: round trips through a hand-written writer, every error case, the real Fashion-MNIST."""

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from pyro_vae.data.idx import idx_file, load_idx_images, load_idx_labels, read_idx
from pyro_vae.errors import ConfigError, DataError

TYPE_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``: magic, sizes, then the data big-endian."""
    kind = array.dtype.str[1:]
    header = struct.pack(">BBBB", 0, 0, TYPE_CODES[kind], array.ndim)
    sizes = struct.pack(f">{array.ndim}I", *array.shape)
    return header + sizes + array.astype(">" + kind).tobytes()


def write(path: Path, payload: bytes, gz: bool = False) -> Path:
    """Writes ``payload`` to ``path``, gzipped when ``gz``."""
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(payload)
    return path


def random_images(n: int = 5, rows: int = 4, cols: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(n, rows, cols), dtype=np.uint8)


@pytest.mark.parametrize(
    "name, gz", [("images-idx3-ubyte", False), ("images-idx3-ubyte.gz", True), ("gzipped-no-suffix", True)]
)
def test_images_round_trip(tmp_path, name, gz):
    pixels = random_images()
    path = write(tmp_path / name, idx_bytes(pixels), gz=gz)
    images = load_idx_images(path)
    assert images.dtype == torch.float32
    assert images.shape == (5, 12)
    assert torch.equal(images, torch.tensor(pixels.reshape(5, 12), dtype=torch.float32) / 255)
    assert images.min() >= 0 and images.max() <= 1


def test_labels_round_trip(tmp_path):
    labels = np.array([0, 9, 3, 255, 1], dtype=np.uint8)
    path = write(tmp_path / "labels.gz", idx_bytes(labels), gz=True)
    loaded = load_idx_labels(path)
    assert loaded.dtype == torch.int64
    assert loaded.tolist() == [0, 9, 3, 255, 1]


@pytest.mark.parametrize(
    "values",
    [
        np.array([[1, -2, 258], [-32768, 32767, 0]], dtype=np.int16),
        np.array([1.5, -2.25e-3, 3.0e38, 0.0], dtype=np.float32),
        np.array([[-1, 2**31 - 1]], dtype=np.int32),
        np.array([np.pi, -1e-300], dtype=np.float64),
        np.array([-128, 127, -1], dtype=np.int8),
    ],
    ids=lambda v: v.dtype.name,
)
def test_read_idx_exact_values_in_native_order(tmp_path, values):
    array = read_idx(write(tmp_path / "data", idx_bytes(values)))
    assert array.dtype == values.dtype and array.dtype.isnative
    assert array.shape == values.shape
    np.testing.assert_array_equal(array, values)


def test_limit_keeps_the_first_images(tmp_path):
    pixels = random_images()
    path = write(tmp_path / "images", idx_bytes(pixels))
    assert torch.equal(load_idx_images(path, limit=2), load_idx_images(path)[:2])
    assert load_idx_images(path, limit=100).shape == (5, 12)


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "3"])
def test_limit_must_be_a_positive_int(tmp_path, limit):
    path = write(tmp_path / "images", idx_bytes(random_images()))
    with pytest.raises(ConfigError, match="limit must be a positive int"):
        load_idx_images(path, limit=limit)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_file_finds_standard_names(tmp_path, gz):
    suffix = ".gz" if gz else ""
    for prefix in ["train", "t10k"]:
        for stem in ["images-idx3", "labels-idx1"]:
            (tmp_path / f"{prefix}-{stem}-ubyte{suffix}").touch()
    assert idx_file(tmp_path, "train", "images") == tmp_path / f"train-images-idx3-ubyte{suffix}"
    assert idx_file(tmp_path, "train", "labels") == tmp_path / f"train-labels-idx1-ubyte{suffix}"
    assert idx_file(str(tmp_path), "test", "images") == tmp_path / f"t10k-images-idx3-ubyte{suffix}"
    assert idx_file(tmp_path, "test", "labels") == tmp_path / f"t10k-labels-idx1-ubyte{suffix}"


def test_idx_file_errors(tmp_path):
    looked_for = "looked for t10k-labels-idx1-ubyte and t10k-labels-idx1-ubyte.gz"
    with pytest.raises(DataError, match=re.escape(str(tmp_path)) + ".*" + looked_for):
        idx_file(tmp_path, "test", "labels")
    with pytest.raises(ConfigError, match="split must be 'train' or 'test'"):
        idx_file(tmp_path, "valid", "labels")
    with pytest.raises(ConfigError, match="kind must be 'images' or 'labels'"):
        idx_file(tmp_path, "train", "pixels")


def header(code: int, *sizes: int) -> bytes:
    return struct.pack(f">BBBB{len(sizes)}I", 0, 0, code, len(sizes), *sizes)


VALID_GZ = gzip.compress(header(0x08, 4) + bytes(4))

BAD_FILES = {
    "empty": (b"", "empty file"),
    "short-header": (b"\0\0\x08", r"header too short \(3 bytes\), expected at least 4"),
    "short-sizes": (header(0x08, 2, 3)[:9], r"header too short \(9 bytes\), expected 12 bytes for 2 dim"),
    "not-idx": (b"PK\x03\x04" + bytes(8), r"not an IDX file \(first two bytes 50 4b, expected 00 00\)"),
    "type-code": (header(0x07, 2) + bytes(2), "unknown IDX type code 0x07, expected one of 0x08"),
    "truncated": (header(0x0B, 2, 5) + bytes(17), "truncated.*needs 20 data bytes, found 17"),
    "trailing": (header(0x08, 2, 5) + bytes(13), "3 trailing bytes.*needs exactly 10 data bytes, found 13"),
    "gzip-garbage": (b"\x1f\x8b" + b"not deflate data", "corrupt gzip stream"),
    "gzip-cut": (VALID_GZ[: len(VALID_GZ) // 2], "corrupt gzip stream"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_raise_data_error_naming_the_file(tmp_path, name):
    payload, message = BAD_FILES[name]
    path = write(tmp_path / f"{name}.idx", payload)
    with pytest.raises(DataError, match=re.escape(path.name) + ".*" + message):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope-idx3-ubyte\.gz: no such file"):
        load_idx_images(tmp_path / "nope-idx3-ubyte.gz")


@pytest.mark.parametrize(
    "values, message",
    [
        (np.zeros(6, dtype=np.uint8), r"must be 3-d \(N, rows, cols\), found 1-d"),
        (np.zeros((2, 2, 2), dtype=np.int16), "must be uint8.*found int16"),
    ],
)
def test_images_must_be_3d_uint8(tmp_path, values, message):
    path = write(tmp_path / "wrong-images", idx_bytes(values))
    with pytest.raises(DataError, match="wrong-images.*" + message):
        load_idx_images(path)


@pytest.mark.parametrize(
    "values, message",
    [
        (np.zeros((2, 3), dtype=np.uint8), r"must be 1-d \(N,\), found 2-d"),
        (np.zeros(3, dtype=np.float32), "must be integers.*found float32"),
    ],
)
def test_labels_must_be_1d_integers(tmp_path, values, message):
    path = write(tmp_path / "wrong-labels", idx_bytes(values))
    with pytest.raises(DataError, match="wrong-labels.*" + message):
        load_idx_labels(path)


@pytest.mark.skipif(not FASHION.is_dir(), reason=f"{FASHION} missing (Debian package dataset-fashion-mnist)")
def test_real_fashion_mnist():
    train = load_idx_images(idx_file(FASHION, "train", "images"))
    test = load_idx_images(idx_file(FASHION, "test", "images"))
    train_labels = load_idx_labels(idx_file(FASHION, "train", "labels"))
    test_labels = load_idx_labels(idx_file(FASHION, "test", "labels"))
    assert train.shape == (60000, 784) and test.shape == (10000, 784)
    assert train.dtype == torch.float32
    assert train.min() >= 0 and train.max() <= 1 and train.max() == 1
    assert train_labels.shape == (60000,) and test_labels.shape == (10000,)
    assert torch.bincount(train_labels).tolist() == [6000] * 10
    assert test_labels.min() == 0 and test_labels.max() == 9
