"""A synthetic bag-of-words corpus from a topic model: the built-in data of E3.

Latent Dirichlet allocation (Blei, Ng & Jordan 2003) with document lengths from the
discretised log-normal of :class:`~pyro_vae.documents.DocumentLength`, so that lengths vary
over an order of magnitude as in real corpora (seed 000 §3.1 argues that an encoder should
see them):

* topics ``φ_t ~ Dirichlet(η 1_V)``, t = 1..T;
* per document: proportions ``θ_d ~ Dirichlet(α 1_T)``, length ``l_d ~ p(l)``, and word
  counts ``x_d ~ Multinomial(l_d, θ_dᵀ φ)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pyro_vae.documents import DocumentLength, WordCounts
from pyro_vae.validation import check_positive_int, check_positive_number, check_seed


@dataclass
class TopicCorpus:
    """Word counts of training and test documents, with the topics that generated them."""

    train: torch.Tensor
    test: torch.Tensor
    topics: torch.Tensor  # (T, V) word probabilities per topic
    length: DocumentLength

    @property
    def vocab_size(self) -> int:
        return self.topics.shape[1]


def topic_corpus(n_train: int = 4000, n_test: int = 1000, vocab_size: int = 1000, topics: int = 20,
                 topic_concentration: float = 0.05, document_concentration: float = 0.2,
                 median_length: float = 80.0, length_spread: float = 0.7, seed: int = 0) -> TopicCorpus:
    """Documents of an LDA topic model, as float tensors of word counts (rows = documents), on
    the CPU; the same ``seed`` gives the same corpus everywhere and leaves torch's random state as
    it was.

    :param topic_concentration: η, small for topics concentrated on few words.
    :param document_concentration: α, small for documents about few topics.
    :param median_length: ``exp(μ)`` of the log-normal length model; ``length_spread`` is s.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("vocab_size", vocab_size),
                        ("topics", topics)):
        check_positive_int(name, value)
    for name, value in (("topic_concentration", topic_concentration),
                        ("document_concentration", document_concentration),
                        ("median_length", median_length), ("length_spread", length_spread)):
        check_positive_number(f"topic_corpus: {name}", value)
    check_seed(seed)
    length = DocumentLength(torch.log(torch.tensor(float(median_length))), torch.tensor(float(length_spread)))
    # drawn on the CPU from the CPU generator alone: the same corpus on every device
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.default_generator.manual_seed(seed)
        phi = torch.distributions.Dirichlet(torch.full((topics, vocab_size), float(topic_concentration))).sample()
        n = n_train + n_test
        theta = torch.distributions.Dirichlet(torch.full((n, topics), float(document_concentration))).sample()
        words = (theta @ phi).clamp_min(1e-30)
        counts = WordCounts(words.log(), length.sample((n,))).sample()
    return TopicCorpus(counts[:n_train], counts[n_train:], phi, length)
