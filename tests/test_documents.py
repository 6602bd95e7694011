"""Document distributions (seed 000 eq. 12) against torch's Multinomial, scipy's log-normal and sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from pyro_vae.documents import DocumentLength, WordCounts
from pyro_vae.errors import ConfigError, DataError
from pyro_vae.families import Multinomial

pytestmark = pytest.mark.usefixtures("float64")


def documents(n=6, vocab=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, vocab, generator=g)
    x = torch.poisson(torch.rand(n, vocab, generator=g) * 4)
    x[0] = 0  # an empty document
    return logits, x


def test_word_counts_log_prob_is_a_multinomial_per_document():
    logits, x = documents()
    ours = WordCounts(logits, x.sum(-1)).log_prob(x)
    for i in range(len(x)):
        reference = torch.distributions.Multinomial(int(x[i].sum()), logits=logits[i]).log_prob(x[i])
        assert ours[i].item() == pytest.approx(reference.item(), abs=1e-12)
    assert ours[0].item() == 0.0  # an empty document has probability 1


def test_word_counts_broadcast_one_logit_row_over_documents():
    logits, x = documents()
    shared = WordCounts(logits[:1], x.sum(-1)).log_prob(x)
    each = WordCounts(logits[:1].expand_as(logits), x.sum(-1)).log_prob(x)
    assert torch.equal(shared, each)
    assert WordCounts(logits[:1], x.sum(-1)).batch_shape == (6,)


def test_word_counts_validation_rejects_counts_that_do_not_sum_to_the_length():
    logits, x = documents()
    with pytest.raises(ValueError, match="must sum to its length"):
        WordCounts(logits, x.sum(-1) + 1, validate_args=True).log_prob(x)


def test_word_counts_samples_have_the_lengths_and_the_mean():
    torch.manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]])
    length = torch.tensor([7.0, 30.0])
    d = WordCounts(logits, length)
    samples = d.sample((4000,))
    assert samples.shape == (4000, 2, 3)
    assert torch.equal(samples.sum(-1), length.expand(4000, 2))
    assert (samples == samples.round()).all() and (samples >= 0).all()
    se = samples.std(0) / math.sqrt(4000)
    assert ((samples.mean(0) - d.mean).abs() < 4 * se).all()
    assert torch.equal(d.expand((3, 2)).sample().sum(-1), length.expand(3, 2))


def test_document_length_is_the_log_normal_mass_of_each_unit_interval():
    d = DocumentLength(torch.tensor(3.5), torch.tensor(0.8))
    lengths = torch.tensor([0.0, 1, 2, 10, 33, 200, 5000, 10**6])
    ref = scipy.stats.lognorm(s=0.8, scale=math.exp(3.5))
    # upper tail through the survival function, so the reference is accurate there too
    expected = np.log(ref.sf(lengths.numpy()) - ref.sf(lengths.numpy() + 1))
    np.testing.assert_allclose(d.log_prob(lengths).numpy(), expected, rtol=1e-9)
    total = d.log_prob(torch.arange(0.0, 200_000)).exp().sum().item()
    assert total == pytest.approx(ref.cdf(200_000), abs=1e-12)


def test_document_length_samples_follow_the_mass_function():
    torch.manual_seed(1)
    d = DocumentLength(torch.tensor(1.0), torch.tensor(0.6))
    samples = d.sample((20000,))
    for value in range(0, 8):
        p = d.log_prob(torch.tensor(float(value))).exp().item()
        freq = (samples == value).double().mean().item()
        assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / 20000) + 1e-4


def test_document_length_fit_recovers_the_parameters():
    torch.manual_seed(2)
    truth = DocumentLength(torch.tensor(4.0), torch.tensor(0.7))
    lengths = truth.sample((20000,))
    fitted = DocumentLength.fit(lengths)
    # the MLE of a log-normal's location and scale have standard errors s/√n and s/√(2n)
    assert abs(fitted.loc.item() - 4.0) < 4 * 0.7 / math.sqrt(20000)
    assert abs(fitted.scale.item() - 0.7) < 4 * 0.7 / math.sqrt(2 * 20000)
    better = fitted.log_prob(lengths).mean()
    for loc, scale in ((4.02, 0.7), (4.0, 0.72), (3.98, 0.69)):
        assert DocumentLength(torch.tensor(loc), torch.tensor(scale)).log_prob(lengths).mean() < better


@pytest.mark.parametrize("bad, message", [
    ([3.0, -1.0, 2.0], "length 1 is -1"),
    ([3.0, 2.5], "length 1 is 2.5"),
    ([4.0], "at least 2 lengths"),
    ([[3.0, 0.0], [1.0, 2.0]], r"one length per document .* got shape \(2, 2\)"),  # counts, not their sums
])
def test_document_length_fit_rejects_bad_lengths(bad, message):
    with pytest.raises(DataError, match=message):
        DocumentLength.fit(torch.tensor(bad))


def test_multinomial_of_any_length_is_the_family_form_of_word_counts():
    logits, x = documents()
    family = Multinomial()
    assert torch.allclose(family.log_prob(x, logits), WordCounts(logits, x.sum(-1)).log_prob(x), atol=1e-12)
    family.check_support(x)  # rows of different lengths are fine
    with pytest.raises(ConfigError, match="WordCounts"):
        family.distribution(logits)


@pytest.mark.parametrize("value, expected", [(-1.0, "non-negative integer"), (0.5, "non-negative integer")])
def test_multinomial_of_any_length_rejects_non_counts(value, expected):
    _, x = documents()
    x[2, 3] = value
    with pytest.raises(DataError, match=expected):
        Multinomial().check_support(x, where="corpus")


def test_document_length_gradient_is_finite_at_length_zero():
    loc = torch.tensor(2.0, requires_grad=True)
    scale = torch.tensor(0.9, requires_grad=True)
    value = DocumentLength(loc, scale).log_prob(torch.tensor([0.0, 4.0]))
    value.sum().backward()
    # d/dμ log Φ((−μ)/s) at l = 0, by central differences in float64
    def at_zero(m, s):
        return torch.special.log_ndtr(torch.tensor(-m / s, dtype=torch.float64)).item()
    h = 1e-6
    d_loc_zero = (at_zero(2 + h, 0.9) - at_zero(2 - h, 0.9)) / (2 * h)
    loc2 = torch.tensor(2.0, requires_grad=True)
    DocumentLength(loc2, torch.tensor(0.9)).log_prob(torch.tensor(4.0)).backward()
    assert torch.isfinite(loc.grad) and torch.isfinite(scale.grad)
    assert loc.grad.item() == pytest.approx(d_loc_zero + loc2.grad.item(), rel=1e-6)


def test_document_length_fit_accepts_empty_documents():
    torch.manual_seed(3)
    lengths = DocumentLength(torch.tensor(0.5), torch.tensor(1.0)).sample((5000,))
    assert (lengths == 0).sum() > 100  # P(0) = Φ(−0.5) ≈ 0.31
    fitted = DocumentLength.fit(lengths)
    assert abs(fitted.loc.item() - 0.5) < 0.1 and abs(fitted.scale.item() - 1.0) < 0.1


def test_word_counts_with_an_impossible_word_that_does_not_occur():
    logits = torch.tensor([[0.0, -math.inf, 1.0]])
    x = torch.tensor([[2.0, 0.0, 1.0]])
    reference = torch.distributions.Multinomial(3, logits=logits).log_prob(x)
    assert WordCounts(logits, x.sum(-1)).log_prob(x).item() == pytest.approx(reference.item(), abs=1e-12)
