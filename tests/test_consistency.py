"""Tests of ``pyro_vae.consistency``: the distance of a decoder from the consistent set
(seed 000 Thm 1, Prop. A.1).

A Gaussian mixture ``N(x | μ(z), σ² I)`` over 2-bit codes with a uniform prior has a factorised
posterior exactly when the centres are affine in the bits, ``μ(b1, b2) = a + b1 w1 + b2 w2``, *and*
``|μ(z)|²`` is affine in the bits too, i.e. w1 ⊥ w2 (a rectangle); a non-rectangular
parallelogram leaves the constant interaction ``−(w1·w2)/σ² b1 b2`` in ``log p(z | x)``. A
Gaussian RBM (whose prior absorbs that term) is consistent. The residual is checked against an
independent weighted least-squares regression on the full design
``r(x) + Σ_kl W_kl ν_e,k(x) ψ_l(z)`` with ν_e = (ν, 1).
"""

from __future__ import annotations

import math

import pytest
import torch
from pyro_vae.guides import FactorisedBernoulli
from pyro_vae.models import GaussianMixture, GaussianRBM

from pyro_vae.consistency import consistency_distance, glm_residual
from pyro_vae.data import gmm_toy
from pyro_vae.errors import ConfigError, PairingError
from pyro_vae.families import code_bits

SIGMA = 0.8


pytestmark = pytest.mark.usefixtures("float64")


@pytest.fixture
def x():
    return gmm_toy(n=60, seed=0).x


def parallelogram(a, w1, w2):
    """Centres of the codes 00, 01, 10, 11 (bits most significant first)."""
    a, w1, w2 = (torch.tensor(v) for v in (a, w1, w2))
    return torch.stack([a, a + w2, a + w1, a + w1 + w2])


def guide():
    return FactorisedBernoulli(input_dim=2, bits=2, hidden=(4,))


def wls_residual(table, nu, psi, w_x, w_z):
    """Residual of the weighted least-squares fit of ``table[x, z]`` by
    ``r(x) + Σ_kl W_kl ν_e,k(x) ψ_l(z)``, ν_e = (ν, 1), solved directly on the full design."""
    n, k = table.shape
    nu_e = torch.cat([nu, torch.ones(n, 1)], 1)
    rows = torch.eye(n)[:, None, :].expand(n, k, n)
    inter = (nu_e[:, None, :, None] * psi[None, :, None, :]).reshape(n, k, -1)
    design = torch.cat([rows, inter], -1).reshape(n * k, -1)
    sqrt_w = (w_x[:, None] * w_z[None, :]).sqrt().reshape(-1, 1)
    coef = torch.linalg.lstsq(sqrt_w * design, sqrt_w * table.reshape(-1, 1), driver="gelsd").solution
    return table - (design @ coef).reshape(n, k)


def weighted_norm(matrix, w_x, w_z):
    return math.sqrt((w_x[:, None] * w_z[None, :] * matrix**2).sum().item())


# --------------------------------------------------------------------------------------------
# consistency_distance on models.
# --------------------------------------------------------------------------------------------


def test_rectangle_mixture_is_consistent(x):
    centres = parallelogram((0.3, -1.0), (1.5, 0.4), (-0.4, 1.5))  # w1 · w2 = 0
    model = GaussianMixture(centres, SIGMA)
    out = consistency_distance(model, guide(), x)
    assert out["distance"] < 1e-6
    assert out["relative"] < 1e-6


def test_rectangle_is_consistent_in_float32_too():
    torch.set_default_dtype(torch.float32)  # the fixture restores the default
    x = gmm_toy(n=60, seed=0).x
    centres = parallelogram((0.3, -1.0), (1.5, 0.4), (-0.4, 1.5)).float()
    out = consistency_distance(GaussianMixture(centres, SIGMA), guide(), x)
    assert out["relative"] < 1e-5


def test_skew_parallelogram_with_uniform_prior_is_not_consistent(x):
    """log p(z|x) keeps −(w1·w2)/σ² b1 b2 for every x; under uniform weights the part of b1 b2
    outside span{1, b1, b2} has RMS 1/4, so the distance is |w1·w2| / (4 σ²)."""
    w1, w2 = (1.5, 0.4), (-0.2, 2.1)
    centres = parallelogram((0.3, -1.0), w1, w2)
    out = consistency_distance(GaussianMixture(centres, SIGMA), guide(), x)
    dot = w1[0] * w2[0] + w1[1] * w2[1]
    assert out["distance"] == pytest.approx(abs(dot) / (4 * SIGMA**2), rel=1e-9)


def test_gaussian_rbm_is_consistent(x):
    rbm = GaussianRBM(data_dim=2, bits=2, sigma=SIGMA)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        rbm.offset.copy_(torch.randn(2, generator=g))
        rbm.weight.copy_(2 * torch.randn(2, 2, generator=g))
        rbm.bias.copy_(torch.randn(2, generator=g))
    assert rbm.prior.probs.std() > 0.01  # a non-uniform p(z): the weights matter
    out = consistency_distance(rbm, guide(), x)
    assert out["distance"] < 1e-6


def test_non_parallelogram_is_not_consistent(x):
    data = gmm_toy(n=60, seed=0)  # E1's ring, chosen far from affine in the bits
    model = GaussianMixture(data.centres, data.sigma)
    out = consistency_distance(model, guide(), x)
    assert out["distance"] > 0.1
    assert 0.05 < out["relative"] <= 1.0


def test_distance_matches_independent_least_squares(x):
    data = gmm_toy(n=60, seed=0)
    model = GaussianMixture(data.centres, data.sigma)
    centres, s2 = data.centres, data.sigma**2
    table = (
        -0.5 * ((x[:, None, :] - centres[None]) ** 2).sum(-1) / s2
        - math.log(2 * math.pi * s2)
        + math.log(1 / 4)
    )  # log N(x | θ_z, σ² I) + log p(z), D = 2
    w_x, w_z = torch.full((len(x),), 1 / len(x)), torch.full((4,), 1 / 4)
    residual = wls_residual(table, x, code_bits(2), w_x, w_z)
    expected = weighted_norm(residual, w_x, w_z)
    assert consistency_distance(model, guide(), x)["distance"] == pytest.approx(expected, rel=1e-9)


def test_distance_is_invariant_to_shifting_centres_and_data_together(x):
    data = gmm_toy(n=60, seed=0)
    shift = torch.tensor([2.5, -1.7])
    base = consistency_distance(GaussianMixture(data.centres, data.sigma), guide(), x)
    moved = consistency_distance(GaussianMixture(data.centres + shift, data.sigma), guide(), x + shift)
    assert base["distance"] > 0.1
    assert moved["distance"] == pytest.approx(base["distance"], rel=1e-9)
    assert moved["relative"] == pytest.approx(base["relative"], rel=1e-9)


# --------------------------------------------------------------------------------------------
# glm_residual on constructed tables.
# --------------------------------------------------------------------------------------------


def _setting(seed=0, n=12, dim_nu=2, bits=2):
    g = torch.Generator().manual_seed(seed)
    nu = torch.randn(n, dim_nu, generator=g)
    psi = code_bits(bits)
    w_x = torch.rand(n, generator=g) + 0.2
    w_z = torch.rand(2**bits, generator=g) + 0.2
    return g, nu, psi, w_x / w_x.sum(), w_z / w_z.sum()


def _glm_table(g, nu, psi):
    """A harmonium's table: ``r(x) + <b, ψ(z)> + ν(x) W ψ(z)ᵀ`` (seed 000 eq. 7)."""
    r = torch.randn(nu.shape[0], generator=g)
    b = torch.randn(psi.shape[1], generator=g)
    w = torch.randn(nu.shape[1], psi.shape[1], generator=g)
    return r[:, None] + (psi @ b)[None, :] + nu @ w @ psi.T


def test_an_arbitrary_function_of_z_is_not_consistent():
    """A per-z term that is not affine in ψ(z) (here: only code 11 shifted) stays as residual."""
    g, nu, psi, w_x, w_z = _setting(seed=4)
    table = _glm_table(g, nu, psi)
    table[:, 3] += 1.0
    assert glm_residual(table, nu, psi, w_x, w_z).abs().max() > 0.1


def _orthogonal_part(v, basis, weights):
    """``v`` minus its weighted projection on the span of 1 and ``basis`` (Gram–Schmidt by lstsq)."""
    design = torch.cat([torch.ones(len(v), 1), basis], 1)
    sw = weights.sqrt()[:, None]
    coef = torch.linalg.lstsq(sw * design, sw * v[:, None]).solution
    return v - (design @ coef)[:, 0]


def test_glm_table_has_zero_residual():
    g, nu, psi, w_x, w_z = _setting()
    table = _glm_table(g, nu, psi)
    residual = glm_residual(table, nu, psi, w_x, w_z)
    assert residual.abs().max() < 1e-10


def test_interaction_outside_the_span_is_the_residual():
    g, nu, psi, w_x, w_z = _setting(seed=1, bits=3)  # 8 codes, 3 bits: room outside the span
    u = _orthogonal_part(torch.randn(len(nu), generator=g), nu, w_x)
    v = _orthogonal_part(torch.randn(len(psi), generator=g), psi, w_z)
    strength = 0.7
    interaction = strength * u[:, None] * v[None, :]
    residual = glm_residual(_glm_table(g, nu, psi) + interaction, nu, psi, w_x, w_z)
    torch.testing.assert_close(residual, interaction, rtol=1e-9, atol=1e-10)
    norm_u = math.sqrt((w_x * u**2).sum().item())
    norm_v = math.sqrt((w_z * v**2).sum().item())
    assert weighted_norm(residual, w_x, w_z) == pytest.approx(strength * norm_u * norm_v, rel=1e-9)


def test_residual_of_a_generic_table_is_the_least_squares_residual():
    g, nu, psi, w_x, w_z = _setting(seed=2, bits=3)
    table = _glm_table(g, nu, psi) + torch.randn(len(nu), len(psi), generator=g)
    residual = glm_residual(table, nu, psi, w_x, w_z)
    expected = wls_residual(table, nu, psi, w_x, w_z)
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(residual, expected, rtol=1e-8, atol=1e-9)


def test_consistency_distance_refuses_a_guide_that_does_not_fit_the_model(x):
    """3 bits for 4 codes: the table of the model's 4 codes would be read with an 8-code ψ."""
    model = GaussianMixture(parallelogram([0.0, 0.0], [1.0, 0.0], [0.0, 1.0]), SIGMA)
    with pytest.raises(PairingError, match="does not match"):
        consistency_distance(model, FactorisedBernoulli(input_dim=2, bits=3, hidden=(4,)), x)
    with pytest.raises(PairingError, match="another width"):
        consistency_distance(model, FactorisedBernoulli(input_dim=1, bits=2, hidden=(4,)), x[:, :1])


def test_consistency_distance_needs_an_enumerable_model_and_an_exponential_family_guide(x):
    from pyro_vae.guides import LinearGaussian
    from pyro_vae.models import LinearVAE

    with pytest.raises(ConfigError, match="consistency_distance sums over the latent of .*cannot be enumerated"):
        consistency_distance(LinearVAE(2, 1), LinearGaussian(2, 1), x)
    model = GaussianMixture(parallelogram([0.0, 0.0], [1.0, 0.0], [0.0, 1.0]), SIGMA)
    encoder = guide()

    def plain(x):
        return encoder(x)

    with pytest.raises(ConfigError, match="guide plain has no 'family'"):
        consistency_distance(model, plain, x)
