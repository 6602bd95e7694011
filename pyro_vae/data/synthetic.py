"""Synthetic data sets defined by the papers, generated on the fly (no files, no network)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pyro_vae.errors import ConfigError
from pyro_vae.ppca import LinearGaussian
from pyro_vae.validation import (
    as_float_tensor,
    check_non_negative_number,
    check_positive_int,
    check_positive_number,
    check_seed,
)


def gmm_centres(radius: float = 2.2) -> torch.Tensor:
    """Ground-truth centres of E1 (our choice: seed 000 gives no numbers), rows = codes 00..11.

    The origin, then three points on a circle of ``radius`` at 90°, 210° and 330°. A point
    inside the triangle of the other three means that no labelling of the four centres is a
    parallelogram: the truth is far from the consistent set (centres affine in the two bits).
    """
    check_positive_number("gmm_centres: radius", radius)
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

    ``centres`` (K × D) default to :func:`gmm_centres`; the data take their floating-point
    dtype. With ``sigma`` = 0.9 the negative entropy of this mixture is about −3.62 nats (the
    paper's, with its own centres: −3.65).
    """
    check_positive_int("gmm_toy: n", n)
    check_positive_number("gmm_toy: sigma", sigma)
    check_seed(seed)
    # Drawn on the CPU, so that a seed gives the same data on every device.
    centres = as_float_tensor("gmm_toy: centres", gmm_centres() if centres is None else centres, ("K", "D")).cpu()
    g = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randint(centres.shape[0], (n,), generator=g, device="cpu")
    x = centres[z] + sigma * torch.randn(n, centres.shape[1], generator=g, dtype=centres.dtype, device="cpu")
    return GMMToy(x=x, z=z, centres=centres, sigma=float(sigma))


@dataclass
class PCAData:
    """Training and held-out rows of a seed 002 App. C data set, with its generating parameters.

    ``truth`` is the generating linear Gaussian model ``(W_gen, μ_gen, σ_gen)``: for pPCA data
    its log-likelihood is the ground truth of Fig. 1(a); for PCA-ring data it is the model
    *before* the ring map of eq. 81 (no likelihood of the ring data is known).
    """

    x_train: torch.Tensor
    x_test: torch.Tensor
    truth: LinearGaussian


def ppca_data(
    n_train: int = 10_000,
    n_test: int = 10_000,
    data_dim: int = 10,
    latent_dim: int = 2,
    sigma: float = 0.1,
    seed: int = 0,
) -> PCAData:
    """pPCA data (seed 002 App. C, eq. 77–78): ``z ~ N(0, I)``, ``x ~ N(W z + μ, σ² I)`` with
    every entry of W (D × H) and μ drawn from U(0, 1) for each seed."""
    truth, x = _linear_gaussian_rows(n_train, n_test, data_dim, latent_dim, sigma, seed, "ppca_data")
    x = x + truth.offset
    return PCAData(x[:n_train], x[n_train:], truth)


def pca_ring(
    n_train: int = 10_000,
    n_test: int = 10_000,
    data_dim: int = 10,
    latent_dim: int = 2,
    sigma: float = 0.1,
    seed: int = 0,
) -> PCAData:
    """PCA-ring data (seed 002 App. C, eq. 79–81): ``x ~ N(W z, σ² I)`` as for pPCA but without
    μ, then ``x′ = μ + x / 10 + x / |x|``, which puts the data near a ring in R^D."""
    truth, x = _linear_gaussian_rows(n_train, n_test, data_dim, latent_dim, sigma, seed, "pca_ring")
    x = truth.offset + x / 10 + x / x.norm(dim=-1, keepdim=True)
    return PCAData(x[:n_train], x[n_train:], truth)


def _linear_gaussian_rows(n_train, n_test, data_dim, latent_dim, sigma, seed, where):
    """``(W, μ, σ)`` with W, μ ~ U(0, 1) and ``n_train + n_test`` rows of ``W z + σ ε`` (no μ
    yet), drawn on the CPU."""
    for name, value in (("n_train", n_train), ("n_test", n_test), ("data_dim", data_dim),
                        ("latent_dim", latent_dim)):
        check_positive_int(f"{where}: {name}", value)
    check_positive_number(f"{where}: sigma", sigma)
    check_seed(seed)
    n = n_train + n_test
    dtype = torch.get_default_dtype()
    g = torch.Generator(device="cpu").manual_seed(seed)
    cpu = dict(generator=g, dtype=dtype, device="cpu")  # the same data for a seed on every device
    weight = torch.rand(data_dim, latent_dim, **cpu)
    offset = torch.rand(data_dim, **cpu)
    z = torch.randn(n, latent_dim, **cpu)
    x = z @ weight.T + sigma * torch.randn(n, data_dim, **cpu)
    return LinearGaussian(weight, offset, torch.tensor(float(sigma), dtype=dtype, device="cpu")), x


def blob_images(n: int = 10_000, size: int = 28, width: float = 3.0, noise: float = 0.05,
                seed: int = 0) -> torch.Tensor:
    """Synthetic ``size × size`` images in [0, 1] on a two-dimensional nonlinear manifold: one
    Gaussian blob of ``width`` pixels whose centre is ``sigmoid(z)`` across the image,
    ``z ~ N(0, I₂)``, plus pixel noise of standard deviation ``noise``, clipped to [0, 1].

    The built-in stand-in for MNIST-like images when no IDX file is given (E5 ``vae1``).
    Rows are flattened images (n × size²).
    """
    for name, value in (("n", n), ("size", size)):
        check_positive_int(f"blob_images: {name}", value)
    check_positive_number("blob_images: width", width)
    check_non_negative_number("blob_images: noise", noise)
    check_seed(seed)
    g = torch.Generator(device="cpu").manual_seed(seed)
    dtype = torch.get_default_dtype()
    margin = 2 * width
    cpu = dict(dtype=dtype, device="cpu")  # the same images for a seed on every device
    centres = margin + (size - 1 - 2 * margin) * torch.sigmoid(torch.randn(n, 2, generator=g, **cpu))
    axis = torch.arange(size, **cpu)
    rows = torch.exp(-0.5 * ((axis - centres[:, :1]) / width) ** 2)  # n × size
    cols = torch.exp(-0.5 * ((axis - centres[:, 1:]) / width) ** 2)
    images = rows[:, :, None] * cols[:, None, :] + noise * torch.randn(n, size, size, generator=g, **cpu)
    return images.clamp(0.0, 1.0).reshape(n, size * size)


SPARSE_SCORE_VARIANCES = (0.09, 0.25)  # seed 003 App. B.2: a₁ ~ N(0, 0.09), a₂ ~ N(0, 0.25)
SPARSE_BLOCK = 20  # loadings: b_{j,1} = 1 for j = 1..20, b_{j,2} = 1 for j = 21..40
SPARSE_TRAIN = 6700  # seed 003 App. B.2: 6700 / 3300


@dataclass
class SparseBernoulli:
    """Binary data ``x`` (N × d) of seed 003 App. B.2 with its generating quantities: the
    scores A (N × 2), the sparse loadings B (d × 2) and the probabilities Π = σ(A Bᵀ) (N × d)."""

    x: torch.Tensor
    scores: torch.Tensor
    loadings: torch.Tensor
    probabilities: torch.Tensor

    def split(self, n_train: int = SPARSE_TRAIN) -> tuple[torch.Tensor, torch.Tensor]:
        """``(train, test)``: the first ``n_train`` rows of ``x`` and the rest (rows are i.i.d.)."""
        check_positive_int("SparseBernoulli.split: n_train", n_train)
        n = self.x.shape[0]
        if n_train >= n:
            raise ConfigError(
                f"SparseBernoulli.split: n_train must be less than the number of rows ({n}) "
                f"to leave a test set, got {n_train}"
            )
        return self.x[:n_train], self.x[n_train:]


def sparse_bernoulli(n: int = 10_000, data_dim: int = 200, seed: int = 0) -> SparseBernoulli:
    """The synthetic set of seed 003 App. B.2 (after Lee et al. 2010): scores
    ``a₁ ~ N(0, 0.09)``, ``a₂ ~ N(0, 0.25)`` (variances), loadings B zero except
    ``b_{j,1} = 1`` for j = 1..20 and ``b_{j,2} = 1`` for j = 21..40, ``Ξ = A Bᵀ``,
    ``Π = σ(Ξ)`` and independent ``x_ij ~ Bern(Π_ij)``. Columns 41..d have Π = 1/2.
    """
    for name, value in (("n", n), ("data_dim", data_dim)):
        check_positive_int(f"sparse_bernoulli: {name}", value)
    check_seed(seed)
    if data_dim < 2 * SPARSE_BLOCK:
        raise ConfigError(
            f"sparse_bernoulli: data_dim must be at least {2 * SPARSE_BLOCK} (two blocks of "
            f"{SPARSE_BLOCK} loadings), got {data_dim}"
        )
    g = torch.Generator(device="cpu").manual_seed(seed)
    cpu = dict(dtype=torch.get_default_dtype(), device="cpu")  # the same data for a seed on every device
    scale = torch.tensor(SPARSE_SCORE_VARIANCES, **cpu).sqrt()
    scores = scale * torch.randn(n, 2, generator=g, **cpu)
    loadings = torch.zeros(data_dim, 2, **cpu)
    loadings[:SPARSE_BLOCK, 0] = 1
    loadings[SPARSE_BLOCK:2 * SPARSE_BLOCK, 1] = 1
    probabilities = torch.sigmoid(scores @ loadings.T)
    x = torch.bernoulli(probabilities, generator=g)
    return SparseBernoulli(x=x, scores=scores, loadings=loadings, probabilities=probabilities)
