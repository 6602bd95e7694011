"""Seed 003 App. B.2 synthetic set: shapes, loadings, seeding, moments within a few standard errors."""

import math

import pytest
import torch

from pyro_vae.data import SparseBernoulli, sparse_bernoulli
from pyro_vae.errors import ConfigError

Z = 4.0  # tolerances are Z standard errors: a false alarm has probability below 1e-4 per check


@pytest.fixture(scope="module")
def data() -> SparseBernoulli:
    return sparse_bernoulli(seed=0)


def test_shapes_and_binary_values(data):
    assert data.x.shape == (10_000, 200)
    assert data.scores.shape == (10_000, 2)
    assert data.loadings.shape == (200, 2)
    assert data.probabilities.shape == (10_000, 200)
    assert data.x.dtype == torch.get_default_dtype()
    assert ((data.x == 0) | (data.x == 1)).all()


def test_loadings_pattern(data):
    expected = torch.zeros(200, 2)
    expected[:20, 0] = 1
    expected[20:40, 1] = 1
    assert torch.equal(data.loadings, expected)


def test_probabilities_are_the_sigmoid_of_scores_times_loadings(data):
    assert torch.allclose(data.probabilities, torch.sigmoid(data.scores @ data.loadings.T))
    # Π_ij = σ(a_i1) on columns 1..20, σ(a_i2) on 21..40 and exactly 1/2 beyond
    # (equal up to rounding: a vectorised sigmoid need not round like a scalar one)
    assert torch.allclose(data.probabilities[:, :20], torch.sigmoid(data.scores[:, :1]).expand(-1, 20))
    assert torch.allclose(data.probabilities[:, 20:40], torch.sigmoid(data.scores[:, 1:]).expand(-1, 20))
    assert (data.probabilities[:, 40:] == 0.5).all()


def test_seed_reproducible_and_seeds_differ():
    a, b, c = sparse_bernoulli(n=50, seed=3), sparse_bernoulli(n=50, seed=3), sparse_bernoulli(n=50, seed=4)
    for field in ("x", "scores", "probabilities"):
        assert torch.equal(getattr(a, field), getattr(b, field))
        assert not torch.equal(getattr(a, field), getattr(c, field))


def test_other_sizes_and_float64(float64):
    small = sparse_bernoulli(n=3, data_dim=40, seed=1)
    assert small.x.shape == (3, 40) and small.x.dtype == torch.float64
    assert (small.loadings.sum(0) == 20).all()


@pytest.mark.parametrize("column, variance", [(0, 0.09), (1, 0.25)])
def test_score_variances(data, column, variance):
    a = data.scores[:, column].double()
    n = a.shape[0]
    # the sample variance of n normals has standard error σ² √(2 / (n − 1))
    assert abs(a.var().item() - variance) < Z * variance * math.sqrt(2 / (n - 1))
    assert abs(a.mean().item()) < Z * math.sqrt(variance / n)


def test_unloaded_columns_are_fair_coins(data):
    x = data.x[:, 40:].double()
    assert abs(x.mean().item() - 0.5) < Z * 0.5 / math.sqrt(x.numel())


@pytest.mark.parametrize(
    "columns", [slice(None), slice(0, 20), slice(20, 40)], ids=["all", "block1", "block2"]
)
def test_mean_of_x_is_the_mean_of_pi(data, columns):
    x, p = data.x[:, columns].double(), data.probabilities[:, columns].double()
    se = (p * (1 - p)).sum().sqrt().item() / p.numel()  # given Π, the x_ij are independent Bernoulli
    assert abs(x.mean().item() - p.mean().item()) < Z * se


@pytest.mark.parametrize("block, column", [(slice(0, 20), 0), (slice(20, 40), 1)])
def test_x_follows_its_score(data, block, column):
    """Rows with a positive score have Π > 1/2 on their block: x matches Π there, far from 1/2."""
    rows = data.scores[:, column] > 0
    x, p = data.x[rows][:, block].double(), data.probabilities[rows][:, block].double()
    se = (p * (1 - p)).sum().sqrt().item() / p.numel()
    assert abs(x.mean().item() - p.mean().item()) < Z * se
    assert x.mean().item() - 0.5 > 10 * se


def test_split(data):
    train, test = data.split()
    assert train.shape == (6700, 200) and test.shape == (3300, 200)
    assert torch.equal(torch.cat([train, test]), data.x)
    train, test = data.split(n_train=10)
    assert torch.equal(train, data.x[:10]) and test.shape == (9990, 200)


@pytest.mark.parametrize("n_train, match", [(0, "positive int"), (2.5, "positive int"),
                                            (10_000, r"less than the number of rows \(10000\)")])
def test_split_bad_n_train(data, n_train, match):
    with pytest.raises(ConfigError, match=match):
        data.split(n_train)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(data_dim=39), "data_dim must be at least 40"),
        (dict(data_dim=0), "data_dim must be a positive int"),
        (dict(n=0), "n must be a positive int"),
        (dict(n=10.0), "n must be a positive int"),
    ],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        sparse_bernoulli(**kwargs)
