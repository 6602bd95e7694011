"""The synthetic data sets of pyro_vae.data.synthetic: bad settings are refused before any draw,
and centres keep their dtype."""

import math

import pytest
import torch

from pyro_vae.data import blob_images, gmm_centres, gmm_toy, pca_ring, ppca_data, sparse_bernoulli
from pyro_vae.errors import ConfigError

SEED_MESSAGE = r"seed must be an integer in 0\.\.4294967295"


@pytest.mark.parametrize("build, message", [
    (lambda: gmm_toy(4, sigma=math.inf), "gmm_toy: sigma must be a positive finite number, got inf"),
    (lambda: gmm_toy(4, sigma=math.nan), "gmm_toy: sigma must be a positive finite number, got nan"),
    (lambda: gmm_toy(4, sigma=True), "gmm_toy: sigma must be a positive finite number, got True"),
    (lambda: gmm_toy(4, centres=torch.tensor([[0.0, math.nan], [1.0, 1.0]])),
     r"gmm_toy: centres must be finite, found 1 NaN or inf value\(s\), first at index \(0, 1\)"),
    (lambda: gmm_toy(4, centres=torch.tensor([0.0, 1.0])), r"gmm_toy: centres must have shape \(K, D\), got \(2,\)"),
    (lambda: gmm_toy(4, seed=-1), f"{SEED_MESSAGE}, got -1"),
    (lambda: gmm_toy(4, seed=1.5), f"{SEED_MESSAGE}, got 1.5"),
    (lambda: gmm_centres(math.nan), "gmm_centres: radius must be a positive finite number, got nan"),
    (lambda: gmm_centres(0.0), "gmm_centres: radius must be a positive finite number, got 0.0"),
    (lambda: blob_images(4, noise=math.nan), "blob_images: noise must be a finite number ≥ 0, got nan"),
    (lambda: blob_images(4, noise=-0.1), "blob_images: noise must be a finite number ≥ 0, got -0.1"),
    (lambda: blob_images(4, width=0), "blob_images: width must be a positive finite number, got 0"),
    (lambda: blob_images(4, seed=-1), f"{SEED_MESSAGE}, got -1"),
    (lambda: ppca_data(4, 4, seed=-1), f"{SEED_MESSAGE}, got -1"),
    (lambda: pca_ring(4, 4, seed=2**40), f"{SEED_MESSAGE}, got {2**40}"),
    (lambda: ppca_data(4, 4, sigma=math.inf), "ppca_data: sigma must be a positive finite number, got inf"),
    (lambda: sparse_bernoulli(4, seed=-1), f"{SEED_MESSAGE}, got -1"),
])
def test_bad_settings_are_refused(build, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        build()


def test_noise_free_blobs_are_allowed():
    images = blob_images(3, size=9, width=1.0, noise=0.0, seed=0)
    assert images.shape == (3, 81) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, blob_images(3, size=9, width=1.0, noise=0, seed=0))


def test_gmm_toy_keeps_the_dtype_of_its_centres():
    centres = torch.tensor([[0.0, 0.0], [1.0, 1.0 / 3]], dtype=torch.float64)
    data = gmm_toy(50, seed=3, centres=centres, sigma=0.5)
    assert data.x.dtype == data.centres.dtype == torch.float64 and torch.equal(data.centres, centres)
    g = torch.Generator().manual_seed(3)  # the same draws, by hand
    z = torch.randint(2, (50,), generator=g)
    torch.testing.assert_close(data.z, z)
    torch.testing.assert_close(data.x, centres[z] + 0.5 * torch.randn(50, 2, generator=g, dtype=torch.float64),
                               rtol=0, atol=0)
