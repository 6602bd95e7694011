"""Frey faces loader: round trips through scipy.io.savemat, the folder form, every error case, the split."""

import re

import numpy as np
import pytest
import scipy.io
import torch

from pyro_vae.data import frey_split, load_frey
from pyro_vae.errors import ConfigError, DataError


def faces(n: int = 7, dtype=np.uint8) -> np.ndarray:
    """A (560, n) array of pixels in 0..255, one face per column, each column distinct."""
    return np.random.default_rng(0).integers(0, 256, size=(560, n)).astype(dtype)


def write_mat(path, **variables):
    scipy.io.savemat(path, variables)
    return path


def test_round_trip(tmp_path):
    ff = faces()
    x = load_frey(write_mat(tmp_path / "frey_rawface.mat", ff=ff))
    assert x.dtype == torch.float32
    assert x.shape == (7, 560)
    assert x.min() >= 0 and x.max() <= 1
    assert torch.equal(x, torch.tensor(ff.T, dtype=torch.float32) / 255)


def test_row_i_is_column_i_over_255(tmp_path):
    ff = np.zeros((560, 3), dtype=np.uint8)
    ff[:, 1] = 255  # only the second face is white
    ff[7, 2] = 51  # and the third has one pixel at 0.2
    x = load_frey(write_mat(tmp_path / "f.mat", ff=ff))
    assert torch.equal(x[0], torch.zeros(560))
    assert torch.equal(x[1], torch.ones(560))
    assert x[2, 7] == pytest.approx(0.2) and x[2].count_nonzero() == 1
    for i in range(3):
        assert torch.equal(x[i], torch.from_numpy(ff[:, i]).float() / 255)


def test_float_pixels_and_other_variable_name(tmp_path):
    ff = faces(dtype=np.float64)
    x = load_frey(write_mat(tmp_path / "f.mat", faces=ff), variable="faces")
    assert torch.equal(x, torch.tensor(ff.T / 255, dtype=torch.float32))


def test_folder_path(tmp_path):
    ff = faces(4)
    write_mat(tmp_path / "frey_rawface.mat", ff=ff)
    assert torch.equal(load_frey(tmp_path), load_frey(tmp_path / "frey_rawface.mat"))
    assert load_frey(str(tmp_path)).shape == (4, 560)


def test_missing_file(tmp_path):
    path = tmp_path / "nothing.mat"
    with pytest.raises(DataError, match=re.escape(str(path)) + ": no such file"):
        load_frey(path)


def test_folder_without_the_file(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path)) + ": no frey_rawface.mat in this folder"):
        load_frey(tmp_path)


@pytest.mark.parametrize(
    "payload", [b"", b"hello, this is no MATLAB file", bytes(range(256)) * 4], ids=["empty", "text", "bytes"]
)
def test_not_a_mat_file(tmp_path, payload):
    path = tmp_path / "frey_rawface.mat"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": not a MATLAB file"):
        load_frey(path)


def test_missing_variable_lists_the_present_ones(tmp_path):
    path = write_mat(tmp_path / "f.mat", faces=faces(), labels=np.arange(3))
    with pytest.raises(
        DataError, match=re.escape(str(path)) + r": no variable 'ff' .*found variables 'faces', 'labels'"
    ):
        load_frey(path)


@pytest.mark.parametrize(
    "array, found",
    [
        (np.zeros((1965, 560), dtype=np.uint8), "2-d of shape (1965, 560)"),
        (np.zeros((28, 20, 3), dtype=np.uint8), "3-d of shape (28, 20, 3)"),
        (np.zeros(560, dtype=np.uint8), "2-d of shape (1, 560)"),  # savemat stores 1-d as a row
    ],
    ids=["transposed", "3-d", "1-d"],
)
def test_wrong_shape(tmp_path, array, found):
    path = write_mat(tmp_path / "f.mat", ff=array)
    with pytest.raises(DataError, match=re.escape(f"{path}: variable 'ff' must be 2-d (560, N)") + ".*"
                       + re.escape(f"found {found}")):
        load_frey(path)


def test_no_faces(tmp_path):
    path = write_mat(tmp_path / "f.mat", ff=np.zeros((560, 0), dtype=np.uint8))
    with pytest.raises(DataError, match=re.escape(str(path)) + ": variable 'ff' holds no faces"):
        load_frey(path)


def test_not_numbers(tmp_path):
    path = write_mat(tmp_path / "f.mat", ff=np.array(["ab", "cd"]))
    with pytest.raises(DataError, match=re.escape(str(path)) + ": variable 'ff' must hold real numbers"):
        load_frey(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(tmp_path, bad):
    ff = faces(dtype=np.float64)
    ff[3, 2] = bad
    path = write_mat(tmp_path / "f.mat", ff=ff)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": variable 'ff' has 1 non-finite values"):
        load_frey(path)


@pytest.mark.parametrize("bad, dtype", [(256, np.int16), (-1, np.int16), (300.0, np.float64)])
def test_out_of_range(tmp_path, bad, dtype):
    ff = faces(dtype=dtype)
    ff[0, 0] = bad
    path = write_mat(tmp_path / "f.mat", ff=ff)
    message = re.escape(str(path)) + r": variable 'ff' has values in .*expected pixels in 0\.\.255"
    with pytest.raises(DataError, match=message):
        load_frey(path)


def test_split_sizes_partition_and_seed():
    x = torch.arange(1965.0)[:, None].expand(1965, 3)
    train, test = frey_split(x)
    assert train.shape == (1316, 3) and test.shape == (649, 3)
    rows = torch.cat([train[:, 0], test[:, 0]])
    assert torch.equal(rows.sort().values, torch.arange(1965.0))  # a partition of the rows
    assert not torch.equal(train[:, 0], torch.arange(1316.0))  # shuffled, not the first rows
    again, _ = frey_split(x, seed=0)
    other, _ = frey_split(x, seed=1)
    assert torch.equal(train, again)
    assert not torch.equal(train, other)


def test_split_custom_n_train():
    train, test = frey_split(torch.zeros(10, 560), n_train=7, seed=3)
    assert train.shape == (7, 560) and test.shape == (3, 560)


@pytest.mark.parametrize(
    "n_train, match",
    [(0, "positive int"), (1.5, "positive int"), (True, "positive int"),
     (10, r"less than the number of rows \(10\)"), (11, "less than the number of rows")],
)
def test_split_bad_n_train(n_train, match):
    with pytest.raises(ConfigError, match=match):
        frey_split(torch.zeros(10, 560), n_train=n_train)


def test_already_scaled_floats_are_refused(tmp_path):
    path = write_mat(tmp_path / "f.mat", ff=faces(dtype=np.float64) / 255)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": variable 'ff' has non-integer values"):
        load_frey(path)
