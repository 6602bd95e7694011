"""The exponential-dispersion view of the families (seed 003, Definition 1, Tables 1–2)."""

import math
import re

import pytest
import torch

from pyro_vae import families
from pyro_vae.edf import BinomialEDF, GaussianEDF, PoissonEDF
from pyro_vae.errors import ConfigError
from pyro_vae.glm import dispersion_term


def _cases():
    g = torch.Generator().manual_seed(0)
    theta = torch.randn(7, 4, generator=g, dtype=torch.float64)
    return [
        (families.Gaussian(0.7), torch.randn(7, 4, generator=g, dtype=torch.float64), theta),
        (families.Bernoulli(), torch.randint(0, 2, (7, 4), generator=g).double(), theta),
        (families.Binomial(5), torch.randint(0, 6, (7, 4), generator=g).double(), theta),
        (families.Poisson(), torch.randint(0, 9, (7, 4), generator=g).double(), theta),
    ]


@pytest.mark.parametrize("family,x,theta", _cases(), ids=lambda v: getattr(v, "name", ""))
def test_edf_log_prob_equals_pyro(family, x, theta):
    edf = family.edf()
    expected = family.distribution(theta).log_prob(x)
    torch.testing.assert_close(edf.log_prob(x, theta), expected)


@pytest.mark.parametrize("family,x,theta", _cases(), ids=lambda v: getattr(v, "name", ""))
def test_edf_derivatives_and_lemma_1(family, x, theta):
    edf = family.edf()
    t = theta.clone().requires_grad_(True)
    (d1,) = torch.autograd.grad(edf.log_normalizer(t).sum(), t, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), t)
    torch.testing.assert_close(edf.mean(theta), d1.detach())
    torch.testing.assert_close(edf.variance_function(theta), d2)
    pyro_dist = family.distribution(theta).base_dist  # Lemma 1: E = F′, Var = φ F″
    torch.testing.assert_close(edf.mean(theta), pyro_dist.mean)
    torch.testing.assert_close(edf.dispersion * edf.variance_function(theta), pyro_dist.variance.double())


def test_table_2_constants():
    assert families.Bernoulli().edf().at_zero() == pytest.approx((math.log(2), 0.5, 0.25))
    assert families.Gaussian(0.3).edf().at_zero() == pytest.approx((0.0, 0.0, 1.0))
    assert families.Poisson().edf().at_zero() == pytest.approx((1.0, 1.0, 1.0))
    assert families.Binomial(6).edf().at_zero() == pytest.approx((6 * math.log(2), 3.0, 1.5))


@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_table_2_last_column(beta):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 2, (50, 6), generator=g).double()
    d = x.shape[1]
    edf = families.Bernoulli().edf()
    ours = beta * d * math.log(edf.at_zero()[2] / edf.dispersion) + dispersion_term(x, edf)
    table = (1 - beta) * d * math.log(4) - 4 * ((x - 0.5) ** 2).sum(-1).mean()
    torch.testing.assert_close(ours, table)

    xg = torch.randn(50, 6, generator=g, dtype=torch.float64)
    sigma = 0.4
    edf = GaussianEDF(dispersion=sigma**2)
    ours = beta * d * math.log(1 / sigma**2) + dispersion_term(xg, edf)
    assert float(ours) == pytest.approx(d * math.log(2 * math.pi * sigma ** (2 * (1 - beta))), rel=1e-12)


def test_example_1_tanh_is_linearly_canonical():
    theta = torch.linspace(-4, 4, 41)
    torch.testing.assert_close(BinomialEDF(total_count=1).activation(2.0)(theta), 0.5 * torch.tanh(theta) + 0.5)
    torch.testing.assert_close(BinomialEDF(total_count=1).activation()(theta), torch.sigmoid(theta))
    with pytest.raises(ValueError, match="rho"):
        BinomialEDF().activation(0.0)


def test_gaussian_edf_reads_sigma():
    assert families.Gaussian(0.5, learn_sigma=True).edf().dispersion == pytest.approx(0.25)


@pytest.mark.parametrize("family", [families.Categorical(3), families.HeteroscedasticGaussian(),
                                    families.Gaussian(1.0, size=3), families.Multinomial(4)])
def test_families_without_an_edf_view(family):
    with pytest.raises(ConfigError, match="(seed 003|shared sigma)"):
        family.edf()


def test_the_first_positional_argument_is_the_familys_parameter():
    """``name`` is no field: ``GaussianEDF(0.25)`` is φ = 0.25 and ``BinomialEDF(5)`` is n = 5."""
    assert GaussianEDF(0.25).dispersion == 0.25 and GaussianEDF(0.25).name == "gaussian"
    assert PoissonEDF(2.0).dispersion == 2.0
    binomial = BinomialEDF(5)
    assert (binomial.total_count, binomial.dispersion, binomial.name) == (5, 1.0, "binomial")
    assert BinomialEDF(1).name == "bernoulli" == families.Bernoulli().edf().name
    x, theta = torch.tensor([[0.0, 3.0, 5.0]]), torch.tensor([[0.3, -1.0, 2.0]])
    torch.testing.assert_close(binomial.log_prob(x, theta), families.Binomial(5).distribution(theta).log_prob(x))


@pytest.mark.parametrize("build, message", [
    (lambda: GaussianEDF(math.inf), "gaussian: the dispersion φ must be a positive finite number, got inf"),
    (lambda: GaussianEDF(math.nan), "gaussian: the dispersion φ must be a positive finite number, got nan"),
    (lambda: GaussianEDF(True), "gaussian: the dispersion φ must be a positive finite number, got True"),
    (lambda: PoissonEDF("1"), "poisson: the dispersion φ must be a positive finite number, got '1'"),
    (lambda: GaussianEDF(0.5).with_dispersion(-1.0), "the dispersion φ must be a positive finite number, got -1"),
    (lambda: BinomialEDF(0), "binomial: total_count must be a positive int, got 0"),
    (lambda: BinomialEDF(2.5), "binomial: total_count must be a positive int, got 2.5"),
    (lambda: BinomialEDF(True), "binomial: total_count must be a positive int, got True"),
])
def test_bad_edf_parameters_are_refused(build, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build()
