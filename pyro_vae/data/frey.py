"""Frey faces (Roweis): the MATLAB file ``frey_rawface.mat`` whose variable ``ff`` is a uint8
array of shape (560, 1965), one 28 × 20 grey-scale face per column. Seed 003 App. B.2 scales
the values to [0, 1] and splits the 1965 faces 1316 / 649 into training and test rows."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from pyro_vae.errors import ConfigError, DataError
from pyro_vae.validation import check_positive_int, check_seed

FREY_FILE = "frey_rawface.mat"
FREY_ROWS, FREY_COLS = 28, 20
FREY_PIXELS = FREY_ROWS * FREY_COLS  # 560
FREY_TRAIN = 1316  # seed 003 App. B.2: 1316 / 649


def _frey_path(path: Path) -> Path:
    """``path`` itself, or ``path / frey_rawface.mat`` when ``path`` is a folder."""
    if path.is_dir():
        candidate = path / FREY_FILE
        if not candidate.is_file():
            raise DataError(f"{path}: no {FREY_FILE} in this folder, expected the Frey faces MATLAB file")
        return candidate
    if not path.is_file():
        problem = "not a file" if path.exists() else "no such file"
        raise DataError(f"{path}: {problem}, expected the Frey faces MATLAB file ({FREY_FILE})")
    return path


def _read_mat(path: Path) -> dict:
    """The variables of a MATLAB file (v4 to v7.2) as ``scipy.io.loadmat`` reads them."""
    import scipy.io  # only the Frey loader needs scipy

    try:
        return scipy.io.loadmat(path, appendmat=False)
    except NotImplementedError as e:  # scipy reads no v7.3 (HDF5) files
        raise DataError(f"{path}: unsupported MATLAB file ({e}), expected a MATLAB v4–v7.2 file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e}), expected a readable MATLAB file") from None
    except Exception as e:  # loadmat raises anything from IndexError to MatReadError on foreign bytes
        reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise DataError(
            f"{path}: not a MATLAB file ({reason}), expected a .mat file that scipy.io.loadmat reads"
        ) from None


def load_frey(path: str | os.PathLike, variable: str = "ff") -> torch.Tensor:
    """The faces of ``frey_rawface.mat`` as a float32 tensor (N, 560) with values in [0, 1].

    ``path`` is the file or a folder holding ``frey_rawface.mat``. The file's ``variable``
    (560, N) holds one face per column; row i of the result is column i divided by 255, and
    ``row.reshape(28, 20)`` is the image (28 rows of 20 pixels, row-major). Values must be
    raw pixels, whole numbers in 0..255 of any integer or float dtype, and are divided by 255.
    """
    path = _frey_path(Path(path))
    variables = _read_mat(path)
    if variable not in variables:
        present = sorted(k for k in variables if not k.startswith("__"))
        listed = ", ".join(repr(k) for k in present) if present else "none"
        raise DataError(f"{path}: no variable {variable!r} in this MATLAB file, found variables {listed}")
    faces = np.asarray(variables[variable])
    if faces.dtype == bool or not (np.issubdtype(faces.dtype, np.integer)
                                   or np.issubdtype(faces.dtype, np.floating)):
        raise DataError(
            f"{path}: variable {variable!r} must hold real numbers, found dtype {faces.dtype}"
        )
    if faces.ndim != 2 or faces.shape[0] != FREY_PIXELS:
        raise DataError(
            f"{path}: variable {variable!r} must be 2-d ({FREY_PIXELS}, N) with one {FREY_ROWS}×{FREY_COLS} "
            f"face per column, found {faces.ndim}-d of shape {faces.shape}"
        )
    if faces.shape[1] == 0:
        raise DataError(f"{path}: variable {variable!r} holds no faces, found shape {faces.shape}")
    if np.issubdtype(faces.dtype, np.floating) and not np.isfinite(faces).all():
        count = int((~np.isfinite(faces)).sum())
        raise DataError(
            f"{path}: variable {variable!r} has {count} non-finite values, expected pixels in 0..255"
        )
    low, high = faces.min(), faces.max()
    if low < 0 or high > 255:
        raise DataError(
            f"{path}: variable {variable!r} has values in {low}..{high}, expected pixels in 0..255"
        )
    if np.issubdtype(faces.dtype, np.floating) and not (faces == np.round(faces)).all():
        raise DataError(
            f"{path}: variable {variable!r} has non-integer values, expected raw pixels 0..255 "
            "(this loader scales them to [0, 1] itself)"
        )
    rows = np.ascontiguousarray(faces.T, dtype=np.float32)
    return torch.from_numpy(rows) / 255


def frey_split(
    x: torch.Tensor, n_train: int = FREY_TRAIN, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, test)``: the rows of ``x`` in a random order drawn from ``seed``, the first
    ``n_train`` of them for training and the rest for testing (seed 003 App. B.2: 1316 / 649).

    The permutation is drawn on the CPU, so that a seed gives the same split on every device.
    """
    check_positive_int("frey_split: n_train", n_train)
    check_seed(seed)
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        found = "a 0-d tensor" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ConfigError(f"frey_split: x must be a tensor with one face per row, got {found}")
    n = x.shape[0]
    if n_train >= n:
        raise ConfigError(
            f"frey_split: n_train must be less than the number of rows ({n}) to leave a test set, "
            f"got {n_train}"
        )
    g = torch.Generator(device="cpu").manual_seed(seed)
    order = torch.randperm(n, generator=g, device="cpu").to(x.device)
    return x[order[:n_train]], x[order[n_train:]]
