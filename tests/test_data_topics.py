"""The built-in LDA corpus of E3: shapes, lengths, reproducibility, and torch's random state left alone."""

import math

import pytest
import torch

from pyro_vae.data import topic_corpus
from pyro_vae.errors import ConfigError


def test_topic_corpus_is_word_counts_with_varying_lengths():
    corpus = topic_corpus(n_train=300, n_test=100, vocab_size=50, topics=5, median_length=40, seed=1)
    assert corpus.train.shape == (300, 50) and corpus.test.shape == (100, 50) and corpus.vocab_size == 50
    assert torch.equal(corpus.train, corpus.train.round()) and (corpus.train >= 0).all()
    assert torch.allclose(corpus.topics.sum(-1), torch.ones(5))
    lengths = torch.cat([corpus.train, corpus.test]).sum(-1)
    assert lengths.max() > 4 * lengths.min().clamp_min(1)  # an order of magnitude apart
    # the median of a discretised log-normal is about exp(μ) − ½; its standard error at n = 400
    assert abs(lengths.median().item() - 40) < 8


def test_topic_corpus_is_reproducible_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = topic_corpus(n_train=50, n_test=10, vocab_size=20, topics=3, seed=4)
    assert torch.equal(torch.rand(3), expected_next)
    b = topic_corpus(n_train=50, n_test=10, vocab_size=20, topics=3, seed=4)
    c = topic_corpus(n_train=50, n_test=10, vocab_size=20, topics=3, seed=5)
    assert torch.equal(a.train, b.train) and not torch.equal(a.train, c.train)


@pytest.mark.parametrize("name, value", [("vocab_size", 0), ("topic_concentration", -1.0), ("median_length", 0)])
def test_topic_corpus_rejects_bad_settings(name, value):
    with pytest.raises(ValueError, match=name):
        topic_corpus(**{name: value})


@pytest.mark.parametrize("name", ["median_length", "length_spread", "document_concentration"])
def test_topic_corpus_rejects_infinite_settings(name):
    """inf would reach WordCounts' constraints as a raw torch error."""
    with pytest.raises(ConfigError, match=f"^topic_corpus: {name} must be a positive finite number, got inf"):
        topic_corpus(n_train=2, n_test=1, vocab_size=5, topics=2, **{name: math.inf})
