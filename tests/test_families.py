"""Tests of the exponential families in ``pyro_vae.families`` and of ``networks.mlp``.

Every identity is checked against an independent computation: Pyro's own log-densities and
means, torch.autograd derivatives of the log-partition, and hand-written bit products.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from pyro_vae.guides import FactorisedBernoulli, SharedTrunkGaussian, text_encoder
from pyro_vae.models import EDFVAE, VAE1, TextVAE
from torch import nn

from pyro_vae.edf import GaussianEDF
from pyro_vae.errors import ConfigError, DataError, PyroVAEError
from pyro_vae.families import (
    Bernoulli,
    BinaryCode,
    Binomial,
    Categorical,
    Gaussian,
    HeteroscedasticGaussian,
    Multinomial,
    Poisson,
    code_bits,
)
from pyro_vae.networks import mlp

F64 = torch.float64
ATOL = 1e-5
RTOL = 1e-5
BATCH = (3, 5)  # two batch dimensions, so that reductions over the wrong axis show up
K = 4  # event size / number of classes
N = 7  # total count of Binomial / Multinomial
M = 3  # bits of BinaryCode


# --------------------------------------------------------------------------------------------
# Family specifications: constructor, predictor shape, valid random data.
# --------------------------------------------------------------------------------------------


def _multinomial_counts(gen: torch.Generator, batch, k: int, n: int) -> torch.Tensor:
    """Random count vectors summing to n: n uniform class draws per row, tallied."""
    draws = torch.randint(0, k, (*batch, n), generator=gen)
    return nn.functional.one_hot(draws, k).sum(-2).to(F64)


SPECS = {
    "gaussian_fixed": dict(
        make=lambda: Gaussian(sigma=0.7),
        eta_shape=BATCH + (K,),
        data=lambda g: 3.0 * torch.randn(*BATCH, K, generator=g, dtype=F64),
    ),
    "gaussian_learned": dict(
        make=lambda: Gaussian(sigma=1.3, learn_sigma=True),
        eta_shape=BATCH + (K,),
        data=lambda g: 3.0 * torch.randn(*BATCH, K, generator=g, dtype=F64),
    ),
    "gaussian_per_coordinate": dict(
        make=lambda: Gaussian(sigma=0.8, learn_sigma=True, size=K),
        eta_shape=BATCH + (K,),
        data=lambda g: 3.0 * torch.randn(*BATCH, K, generator=g, dtype=F64),
    ),
    "gaussian_heteroscedastic": dict(
        make=lambda: HeteroscedasticGaussian("softplus"),
        eta_shape=BATCH + (2 * K,),
        data=lambda g: 3.0 * torch.randn(*BATCH, K, generator=g, dtype=F64),
    ),
    "gaussian_heteroscedastic_log_variance": dict(
        make=lambda: HeteroscedasticGaussian("log_variance"),
        eta_shape=BATCH + (2 * K,),
        data=lambda g: 3.0 * torch.randn(*BATCH, K, generator=g, dtype=F64),
    ),
    "bernoulli": dict(
        make=Bernoulli,
        eta_shape=BATCH + (K,),
        data=lambda g: torch.randint(0, 2, (*BATCH, K), generator=g).to(F64),
    ),
    "binomial": dict(
        make=lambda: Binomial(N),
        eta_shape=BATCH + (K,),
        data=lambda g: torch.randint(0, N + 1, (*BATCH, K), generator=g).to(F64),
    ),
    "poisson": dict(
        make=Poisson,
        eta_shape=BATCH + (K,),
        data=lambda g: torch.randint(0, 15, (*BATCH, K), generator=g).to(F64),
    ),
    "categorical": dict(
        make=lambda: Categorical(K),
        eta_shape=BATCH + (K,),
        data=lambda g: torch.randint(0, K, BATCH, generator=g),
    ),
    "multinomial": dict(
        make=lambda: Multinomial(N),
        eta_shape=BATCH + (K,),
        data=lambda g: _multinomial_counts(g, BATCH, K, N),
    ),
    "binary_code": dict(
        make=lambda: BinaryCode(M),
        eta_shape=BATCH + (M,),
        data=lambda g: torch.randint(0, 2**M, BATCH, generator=g),
    ),
}
ALL = list(SPECS)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _eta(name: str, seed: int = 1) -> torch.Tensor:
    return 1.5 * torch.randn(*SPECS[name]["eta_shape"], generator=_gen(seed), dtype=F64)


def _data(name: str, seed: int = 2) -> torch.Tensor:
    return SPECS[name]["data"](_gen(seed))


def _theta(fam, name: str) -> torch.Tensor:
    """A valid natural parameter: the image of a random predictor."""
    with torch.no_grad():
        return fam.natural_parameter(_eta(name)).to(F64)


def assert_close_f64(actual, expected, atol=ATOL, rtol=RTOL):
    """Same shape, and equal in float64 within the tolerances (torch.testing.assert_close)."""
    actual = torch.as_tensor(actual)
    expected = torch.as_tensor(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    torch.testing.assert_close(actual.to(F64), expected.to(F64), atol=atol, rtol=rtol)


# --------------------------------------------------------------------------------------------
# 1. Exponential-family log-density equals Pyro's.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_prob_matches_pyro(name, seed):
    fam = SPECS[name]["make"]()
    eta, x = _eta(name, seed=10 + seed), _data(name, seed=20 + seed)
    with torch.no_grad():
        ours = fam.log_prob(x, eta)
        pyros = fam.distribution(eta).log_prob(x)
    assert ours.shape == BATCH
    assert torch.isfinite(ours).all()
    assert_close_f64(ours, pyros)


@pytest.mark.parametrize("name", ["binomial", "multinomial"])
def test_log_prob_matches_pyro_at_extreme_counts(name):
    """Counts at 0 and at n, where the base measure C(n, x) / multinomial coefficient is 1."""
    fam = SPECS[name]["make"]()
    eta = _eta(name)[0, :2]
    if name == "binomial":
        x = torch.tensor([[0.0] * K, [float(N)] * K], dtype=F64)
    else:
        x = torch.zeros(2, K, dtype=F64)
        x[0, 0] = N
        x[1, -1] = N
    assert_close_f64(fam.log_prob(x, eta), fam.distribution(eta).log_prob(x))


def test_gaussian_log_prob_is_the_normal_density_by_hand():
    sigma = 0.7
    fam = Gaussian(sigma=sigma)
    eta, x = _eta("gaussian_fixed"), _data("gaussian_fixed")
    by_hand = (-0.5 * ((x - eta) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))).sum(-1)
    assert_close_f64(fam.log_prob(x, eta), by_hand)


def test_gaussian_learned_sigma_gradient_matches_pyro():
    """With a learned σ the EF form and Pyro's Normal agree in value *and* in d/d log σ."""
    fam = Gaussian(sigma=1.3, learn_sigma=True)
    assert [p is fam.log_sigma for p in fam.parameters()] == [True]
    assert list(Gaussian(sigma=1.3).parameters()) == []
    eta, x = _eta("gaussian_learned"), _data("gaussian_learned")
    (g_ours,) = torch.autograd.grad(fam.log_prob(x, eta).sum(), fam.log_sigma)
    (g_pyro,) = torch.autograd.grad(fam.distribution(eta).log_prob(x).sum(), fam.log_sigma)
    assert_close_f64(g_ours, g_pyro, atol=1e-4)
    assert_close_f64(fam.sigma, torch.tensor(1.3))


# --------------------------------------------------------------------------------------------
# 2. mean = ∇A, variance = diag ∇²A.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_mean_is_gradient_of_log_partition(name):
    fam = SPECS[name]["make"]()
    theta = _theta(fam, name).requires_grad_(True)
    (grad,) = torch.autograd.grad(fam.log_partition(theta).sum(), theta)
    assert fam.log_partition(theta).shape == BATCH
    assert_close_f64(fam.mean(theta.detach()), grad)


@pytest.mark.parametrize("name", ALL)
def test_variance_is_diagonal_of_hessian(name):
    fam = SPECS[name]["make"]()
    theta = _theta(fam, name).reshape(-1, SPECS[name]["eta_shape"][-1])
    variance = fam.variance(theta)
    assert variance.shape == theta.shape
    for row, var_row in zip(theta, variance):
        hess = torch.autograd.functional.hessian(lambda t: fam.log_partition(t), row)
        assert_close_f64(var_row, torch.diagonal(hess))


@pytest.mark.parametrize("name", ["categorical", "multinomial"])
def test_softmax_families_full_hessian_is_n_times_diag_p_minus_ppT(name):
    """The diagonal above is the diagonal of n (diag p − p pᵀ); check the whole matrix too."""
    fam = SPECS[name]["make"]()
    n = 1 if name == "categorical" else N
    row = _eta(name)[0, 0]
    p = torch.softmax(row, -1)
    hess = torch.autograd.functional.hessian(lambda t: fam.log_partition(t), row)
    assert_close_f64(hess, n * (torch.diag(p) - torch.outer(p, p)))
    assert_close_f64(fam.variance(row), n * p * (1 - p))


# --------------------------------------------------------------------------------------------
# 3. mean(θ) equals the distribution's mean.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_mean_matches_distribution_mean(name):
    fam = SPECS[name]["make"]()
    eta = _eta(name)
    with torch.no_grad():
        theta = fam.natural_parameter(eta)
        ours = fam.mean(theta)
        d = fam.distribution(eta)
        if name == "categorical":
            # Pyro's Categorical.mean is NaN (no order on classes); E[one-hot(z)] = probs.
            expected = d.probs
        elif name.startswith("gaussian_heteroscedastic"):
            # ν(x) = (x, x²): E = (μ, μ² + σ²).
            expected = torch.cat([d.mean, d.mean**2 + d.variance], -1)
        elif name == "binary_code":
            # A Categorical over codes: E[bits(z)] = Σ_z P(z) bits(z).
            expected = d.probs @ code_bits(M, dtype=F64)
        else:
            expected = d.mean
    assert_close_f64(ours, expected)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5])
def test_gaussian_natural_parameter_and_mean(sigma):
    fam = Gaussian(sigma=sigma)
    eta = _eta("gaussian_fixed")
    theta = fam.natural_parameter(eta)
    assert_close_f64(theta, eta / sigma**2)
    assert_close_f64(fam.mean(theta), eta)
    assert_close_f64(fam.distribution(eta).mean, eta)
    assert_close_f64(fam.distribution(eta).variance, torch.full_like(eta, sigma**2))
    assert_close_f64(fam.variance(theta), torch.full_like(eta, sigma**2))


@pytest.mark.parametrize("name", ["bernoulli", "binomial", "poisson", "multinomial"])
def test_variance_matches_distribution_variance(name):
    fam = SPECS[name]["make"]()
    eta = _eta(name)
    assert_close_f64(fam.variance(fam.natural_parameter(eta)), fam.distribution(eta).variance)


@pytest.mark.parametrize("name", [n for n in ALL if not n.startswith("gaussian")])
def test_natural_parameter_is_the_predictor(name):
    fam = SPECS[name]["make"]()
    eta = _eta(name)
    assert torch.equal(fam.natural_parameter(eta), eta)


# --------------------------------------------------------------------------------------------
# 4. Canonical activations.
# --------------------------------------------------------------------------------------------


CANONICAL = {
    "gaussian_fixed": lambda eta: eta,
    "gaussian_learned": lambda eta: eta,
    "gaussian_per_coordinate": lambda eta: eta,
    "gaussian_heteroscedastic": lambda eta: torch.cat(
        [eta[..., :K], eta[..., :K] ** 2 + nn.functional.softplus(eta[..., K:]) ** 2], -1
    ),
    "gaussian_heteroscedastic_log_variance": lambda eta: torch.cat(
        [eta[..., :K], eta[..., :K] ** 2 + torch.exp(eta[..., K:])], -1
    ),
    "bernoulli": torch.sigmoid,
    "binomial": lambda eta: N * torch.sigmoid(eta),
    "poisson": torch.exp,
    "categorical": lambda eta: torch.softmax(eta, -1),
    "multinomial": lambda eta: N * torch.softmax(eta, -1),
    "binary_code": torch.sigmoid,
}


@pytest.mark.parametrize("name", ALL)
def test_canonical_activation(name):
    fam = SPECS[name]["make"]()
    eta = _eta(name)
    with torch.no_grad():
        assert_close_f64(fam.canonical_activation(eta), CANONICAL[name](eta))


def test_canonical_activation_by_hand_values():
    z = torch.tensor([[0.0, math.log(3.0)]], dtype=F64)
    assert_close_f64(Bernoulli().canonical_activation(z), torch.tensor([[0.5, 0.75]], dtype=F64))
    assert_close_f64(Poisson().canonical_activation(z), torch.tensor([[1.0, 3.0]], dtype=F64))
    assert_close_f64(Categorical(2).canonical_activation(z), torch.tensor([[0.25, 0.75]], dtype=F64))
    assert_close_f64(Gaussian(sigma=3.0).canonical_activation(z), z)


# --------------------------------------------------------------------------------------------
# 5. check_support.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_check_support_accepts_valid_data(name):
    fam = SPECS[name]["make"]()
    x = _data(name)
    assert fam.check_support(x) is None
    if name in ("categorical", "binary_code"):
        assert fam.check_support(x.to(F64)) is None  # float indices are fine too
        assert fam.check_support(x.to(torch.float32)) is None


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_check_support_rejects_non_finite(name, bad):
    fam = SPECS[name]["make"]()
    x = _data(name).to(F64).clone()
    x.view(-1)[4] = bad
    with pytest.raises(DataError, match=r"^train x: 1 non-finite value\(s\) \(NaN or inf\)"):
        fam.check_support(x, where="train x")


def test_check_support_non_finite_reports_count_and_first_index():
    x = torch.zeros(2, 3, dtype=F64)
    x[1, 2] = float("nan")
    x[1, 0] = float("inf")
    with pytest.raises(DataError, match=r"2 non-finite value\(s\).*first at index \(1, 0\)"):
        Gaussian().check_support(x)


@pytest.mark.parametrize("name", ALL)
def test_check_support_rejects_non_tensor(name):
    fam = SPECS[name]["make"]()
    with pytest.raises(DataError, match="expected a torch.Tensor, got list"):
        fam.check_support([[0.0, 1.0]])


@pytest.mark.parametrize("value", [0.5, 2.0, -1.0])
def test_bernoulli_rejects_non_binary(value):
    x = torch.zeros(2, 3, dtype=F64)
    x[1, 2] = value
    with pytest.raises(
        DataError,
        match=rf"^data: 1 value\(s\) outside the support, first {value:g} at index \(1, 2\); "
        r"expected binary values 0 or 1",
    ):
        Bernoulli().check_support(x)


@pytest.mark.parametrize("name", ["poisson", "binomial"])
@pytest.mark.parametrize("value", [-1.0, 1.5, -0.5])
def test_counts_reject_negative_and_non_integer(name, value):
    fam = SPECS[name]["make"]()
    x = torch.ones(3, 2, dtype=F64)
    x[2, 1] = value
    expected = "non-negative integer counts" if name == "poisson" else f"integer counts in 0..{N}"
    pattern = rf"outside the support, first {value:g} at index \(2, 1\); expected {expected}"
    with pytest.raises(DataError, match=pattern):
        fam.check_support(x)


def test_binomial_rejects_counts_above_n():
    x = torch.tensor([[0.0, N], [N + 1.0, 1.0]], dtype=F64)
    with pytest.raises(
        DataError, match=rf"first {N + 1} at index \(1, 0\); expected integer counts in 0..{N}"
    ):
        Binomial(N).check_support(x)
    Binomial(N).check_support(x.clamp(max=N))  # the same data, clipped, is fine


def test_poisson_accepts_large_counts():
    Poisson().check_support(torch.tensor([[0.0, 1e6]], dtype=F64))


@pytest.mark.parametrize(
    "row", [[-1.0, N + 1.0, 0.0, 0.0], [1.5, N - 1.5, 0.0, 0.0]], ids=["negative", "fraction"]
)
def test_multinomial_rejects_negative_and_non_integer(row):
    """Rows that do sum to n but contain a negative or a fractional count."""
    x = torch.tensor([[N, 0.0, 0.0, 0.0], row], dtype=F64)
    assert torch.all(x.sum(-1) == N)
    with pytest.raises(
        DataError, match=rf"first {row[0]:g} at index \(1, 0\); expected non-negative integer"
    ):
        Multinomial(N).check_support(x)


def test_multinomial_rejects_rows_not_summing_to_total_count():
    x = torch.tensor([[N, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, N, 0.0, 0.0]], dtype=F64)
    with pytest.raises(
        DataError,
        match=rf"^data: row 1 sums to 4; expected every row to sum to total_count={N}$",
    ):
        Multinomial(N).check_support(x)


def test_multinomial_single_row_not_summing():
    with pytest.raises(DataError, match=rf"sums to {N + 1}; .*total_count={N}"):
        Multinomial(N).check_support(torch.tensor([N, 1.0, 0.0, 0.0], dtype=F64))


def test_multinomial_row_error_with_two_batch_dims_names_the_bad_sum():
    x = torch.zeros(2, 2, 2, dtype=F64)
    x[..., 0] = N  # every row sums to N ...
    x[1, 0] = torch.tensor([2.0, 2.0])  # ... except row (1, 0), which sums to 4
    with pytest.raises(DataError, match=r"sums to 4;"):
        Multinomial(N).check_support(x)


@pytest.mark.parametrize("name,k", [("categorical", K), ("binary_code", 2**M)])
@pytest.mark.parametrize("value", ["k", -1, 1.5])
def test_class_index_out_of_range(name, k, value):
    fam = SPECS[name]["make"]()
    value = k if value == "k" else value
    z = torch.zeros(2, 3, dtype=F64)
    z[0, 1] = value
    with pytest.raises(
        DataError,
        match=rf"first {value:g} at index \(0, 1\); expected class indices in 0..{k - 1}$",
    ):
        fam.check_support(z)
    if isinstance(value, int):  # the same error for long tensors
        with pytest.raises(DataError, match=rf"class indices in 0..{k - 1}"):
            fam.check_support(z.long())


# --------------------------------------------------------------------------------------------
# 6. BinaryCode: product of independent Bernoulli bits; code statistics.
# --------------------------------------------------------------------------------------------


def _bits_by_hand(code: int, m: int) -> list[int]:
    return [(code >> (m - 1 - j)) & 1 for j in range(m)]


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_binary_code_distribution_is_product_of_bernoullis(m):
    fam = BinaryCode(m)
    theta = 2.0 * torch.randn(4, m, generator=_gen(m), dtype=F64)
    probs = fam.distribution(theta).probs
    assert probs.shape == (4, 2**m)
    assert_close_f64(probs.sum(-1), torch.ones(4, dtype=F64))
    for b in range(theta.shape[0]):
        p = [1.0 / (1.0 + math.exp(-float(t))) for t in theta[b]]
        for code, bits in enumerate(itertools.product([0, 1], repeat=m)):  # MSB first
            assert list(bits) == _bits_by_hand(code, m)
            expected = math.prod(p[j] if bits[j] else 1.0 - p[j] for j in range(m))
            assert probs[b, code].item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_binary_code_sufficient_statistic_is_bits_msb_first():
    fam = BinaryCode(M)
    z = torch.arange(2**M).reshape(2, 4)
    nu = fam.sufficient_statistic(z)
    assert nu.shape == (2, 4, M)
    expected = torch.tensor([[_bits_by_hand(int(c), M) for c in row] for row in z])
    assert torch.equal(nu, expected.to(nu.dtype))
    # explicit values: 1 = 001, 4 = 100, 6 = 110
    assert nu[0, 1].tolist() == [0, 0, 1]
    assert nu[1, 0].tolist() == [1, 0, 0]
    assert nu[1, 2].tolist() == [1, 1, 0]
    # float indices behave like long ones
    assert torch.equal(fam.sufficient_statistic(z.to(F64)), nu)


def test_code_bits_table():
    assert code_bits(1).tolist() == [[0], [1]]
    assert code_bits(2).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    table = code_bits(4, dtype=F64)
    assert table.dtype == F64 and table.shape == (16, 4)
    weights = torch.tensor([8.0, 4.0, 2.0, 1.0], dtype=F64)
    assert torch.equal(table @ weights, torch.arange(16, dtype=F64))


def test_binary_code_num_classes_and_log_prob_by_hand():
    fam = BinaryCode(2)
    assert fam.num_classes == 4
    theta = torch.tensor([0.3, -1.2], dtype=F64)
    # z = 2 = bits (1, 0): log σ(0.3) + log(1 − σ(−1.2))
    expected = math.log(torch.sigmoid(torch.tensor(0.3)).item()) + math.log(
        1 - torch.sigmoid(torch.tensor(-1.2)).item()
    )
    z = torch.tensor(2)
    assert fam.log_prob(z, theta).item() == pytest.approx(expected, rel=1e-6)
    assert fam.distribution(theta).log_prob(z).item() == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------------------------
# 7. Constructors reject bad arguments.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.0, -1.0, float("nan"), float("inf"), "1.0", None, True])
def test_gaussian_rejects_bad_sigma(sigma):
    with pytest.raises(ValueError, match="Gaussian: sigma must be a positive finite number"):
        Gaussian(sigma=sigma)


@pytest.mark.parametrize("flag", ["no", 1, None])
def test_gaussian_learn_sigma_must_be_a_bool(flag):
    """``"no"`` would count as true and learn σ."""
    with pytest.raises(ConfigError, match=f"Gaussian: learn_sigma must be True or False, got {flag!r}"):
        Gaussian(1.0, learn_sigma=flag)


@pytest.mark.parametrize("scale", ["log_variance", "softplus"])
def test_heteroscedastic_gaussian_scale_predictor_inverts_its_scale(scale):
    family = HeteroscedasticGaussian(scale)
    mu, sigma = torch.randn(3, K, dtype=F64), torch.tensor([1e-3, 0.1, 1.0, 30.0], dtype=F64).expand(3, K)
    got_mu, got_sigma = family.split(torch.cat([mu, family.scale_predictor(sigma)], -1))
    assert torch.equal(got_mu, mu)
    assert_close_f64(got_sigma, sigma)


@pytest.mark.parametrize("scale", ["exp", "Softplus", None])
def test_heteroscedastic_gaussian_rejects_an_unknown_scale(scale):
    with pytest.raises(ConfigError, match=r"scale must be one of \('log_variance', 'softplus'\), got"):
        HeteroscedasticGaussian(scale)


@pytest.mark.parametrize("cls", [Binomial, Multinomial])
@pytest.mark.parametrize("n", [0, -3, 1.5, 2.0, True, "5"])
def test_total_count_rejected(cls, n):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: total_count must be a positive int"):
        cls(n)


@pytest.mark.parametrize("bits", [0, 13, -1, 2.0, True])
def test_binary_code_rejects_bad_bits(bits):
    with pytest.raises(ValueError, match=r"BinaryCode: bits must be an int in 1\.\.12"):
        BinaryCode(bits)


@pytest.mark.parametrize("k", [0, 1, 2.0, True])
def test_categorical_rejects_bad_num_classes(k):
    with pytest.raises(ValueError, match="Categorical: num_classes must be an int"):
        Categorical(k)


def test_constructors_accept_boundary_values():
    assert Binomial(1).total_count == 1
    assert Multinomial(1).total_count == 1
    assert BinaryCode(1).num_classes == 2
    assert BinaryCode(12).table.shape == (4096, 12)
    assert Categorical(2).num_classes == 2
    assert Gaussian(sigma=1).sigma.item() == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# 8. networks.mlp
# --------------------------------------------------------------------------------------------


def test_mlp_depth_zero_is_single_linear():
    net = mlp(5, 3)
    assert len(net) == 1
    (lin,) = net
    assert type(lin) is nn.Linear
    assert (lin.in_features, lin.out_features) == (5, 3)
    assert lin.bias is not None
    torch.manual_seed(0)
    x = torch.randn(7, 5)
    assert_close_f64(net(x), x @ lin.weight.T + lin.bias)


def test_mlp_two_hidden_layers():
    net = mlp(10, 2, hidden=(64, 64))
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    shapes = [(m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)]
    assert shapes == [(10, 64), (64, 64), (64, 2)]
    assert net(torch.zeros(3, 10)).shape == (3, 2)


def test_mlp_takes_numpy_sizes_as_ints_and_refuses_a_non_bool_bias():
    net = mlp(np.int64(4), np.int64(2), hidden=(np.int64(3),))
    assert [(m.in_features, m.out_features) for m in net[::2]] == [(4, 3), (3, 2)]
    assert all(type(m.in_features) is int for m in net[::2])
    with pytest.raises(ConfigError, match="mlp: bias must be True or False, got 'no'"):
        mlp(4, 2, bias="no")


def test_mlp_activation_and_bias_options():
    net = mlp(4, 1, hidden=[8], activation=nn.Tanh, bias=False)
    assert [type(m) for m in net] == [nn.Linear, nn.Tanh, nn.Linear]
    assert all(m.bias is None for m in net if isinstance(m, nn.Linear))
    assert net[1] is not mlp(4, 1, hidden=[8], activation=nn.Tanh)[1]  # fresh instances


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(in_features=0, out_features=3), "in_features must be a positive int"),
        (dict(in_features=-2, out_features=3), "in_features must be a positive int"),
        (dict(in_features=2.0, out_features=3), "in_features must be a positive int"),
        (dict(in_features=True, out_features=3), "in_features must be a positive int"),
        (dict(in_features=3, out_features=0), "out_features must be a positive int"),
        (dict(in_features=3, out_features=1.5), "out_features must be a positive int"),
        (dict(in_features=3, out_features=2, hidden=(0,)), "hidden sizes must be positive ints"),
        (dict(in_features=3, out_features=2, hidden=(64, -1)), "hidden sizes"),
        (dict(in_features=3, out_features=2, hidden=(2.5,)), "hidden sizes"),
        (dict(in_features=3, out_features=2, hidden=(True,)), "hidden sizes"),
    ],
)
def test_mlp_rejects_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mlp(**kwargs)


@pytest.mark.parametrize("build", [
    lambda: Gaussian(-1.0),
    lambda: Binomial(0),
    lambda: mlp(2, 3, (0,)),
    lambda: FactorisedBernoulli(2, 0),
    lambda: TextVAE(10, 2, depth=-1),
    lambda: text_encoder("e2", 10, 2, hidden=0),
    lambda: GaussianEDF(dispersion=0.0),
    lambda: EDFVAE(Bernoulli, 10, 2),  # the class, not an instance
    lambda: VAE1(10, 2, hidden=50),  # a width, not a sequence of widths
    lambda: FactorisedBernoulli(2, 2, hidden=64),
    lambda: SharedTrunkGaussian(10, 2, hidden=64),
    lambda: SharedTrunkGaussian(10, 2, hidden=(64, 0)),
])
def test_bad_constructor_arguments_are_user_facing_errors(build):
    """``except PyroVAEError`` catches every mistake a user can make in building a pair."""
    with pytest.raises(PyroVAEError):
        build()


@pytest.mark.parametrize("build", [
    lambda: TextVAE(10, 2, depth=0, hidden=64),  # a linear decoder has no hidden layer
    lambda: text_encoder("e1", 10, 2, hidden=64),
    lambda: text_encoder("e3", 10, 2, hidden=64),
])
def test_a_width_without_a_hidden_layer_is_refused(build):
    with pytest.raises(ConfigError, match="hidden=64 would be unused"):
        build()
