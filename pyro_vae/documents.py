"""Distributions of documents as bags of words (seed 000 §3.1, eq. 12).

A document is a vector of word counts ``x ∈ N^K`` with length ``l = Σ_k x_k``. Seed 000 models
the length apart from the topic, ``p(x, l | z) = p(l) h(x | l) exp(f(z)ᵀx − l A(f(z)))``:

* :class:`WordCounts` is ``h(x | l) exp(ηᵀx − l A(η))``, a multinomial whose total count is
  each document's own length, with ``h(x | l) = l! / Π_k x_k!`` and ``A(η) = log Σ_k exp η_k``;
* :class:`DocumentLength` is ``p(l)``, a log-normal (the seed's suggestion) discretised onto
  the non-negative integers: ``P(l) = P(l ≤ T < l + 1)`` for ``log T ~ N(μ, s²)``.
"""

from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution, constraints
from torch.distributions.utils import broadcast_all

from .errors import DataError


class WordCounts(TorchDistribution):
    """Word counts of documents of given lengths: ``Multinomial(l, softmax(logits))`` per document.

    Unlike ``torch.distributions.Multinomial`` the total count may differ between documents.

    :param logits: unnormalised log word probabilities η, shape ``batch + (K,)``.
    :param length: document lengths l, broadcastable to ``batch``.
    """

    arg_constraints = {"logits": constraints.real_vector, "length": constraints.nonnegative_integer}
    support = constraints.independent(constraints.nonnegative_integer, 1)

    def __init__(self, logits: torch.Tensor, length: torch.Tensor, validate_args=None):
        length = torch.as_tensor(length, dtype=logits.dtype, device=logits.device)
        batch_shape = torch.broadcast_shapes(logits.shape[:-1], length.shape)
        self.logits = logits
        self.length = length
        super().__init__(batch_shape, logits.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        logits = self.logits.expand(batch_shape + self.event_shape)
        return WordCounts(logits, self.length.expand(batch_shape), validate_args=False)

    @property
    def mean(self):
        return self.length[..., None] * torch.softmax(self.logits, -1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
            if not (value.sum(-1) == self.length).all():
                raise ValueError("WordCounts: the counts of a document must sum to its length")
        length = value.sum(-1)
        log_h = torch.lgamma(length + 1) - torch.lgamma(value + 1).sum(-1)
        log_p = torch.log_softmax(self.logits, -1)
        # a word with probability 0 that does not occur contributes 0, not 0 · (−inf)
        log_p = torch.where((value == 0) & torch.isinf(log_p), 0.0, log_p)
        # one row of logits per code and many documents: einsum keeps (codes, docs, words) unformed
        return log_h + torch.einsum("...k,...k->...", value, log_p)

    def sample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape) + self.batch_shape
        logits = self.logits.expand(shape + self.event_shape).reshape(-1, self.event_shape[0])
        length = self.length.expand(shape).reshape(-1).long()
        longest = int(length.max()) if length.numel() else 0
        counts = torch.zeros_like(logits)
        if longest > 0:
            with torch.no_grad():
                words = torch.distributions.Categorical(logits=logits).sample((longest,)).T
                used = torch.arange(longest, device=logits.device) < length[:, None]
                counts.scatter_add_(1, words, used.to(counts.dtype))
        return counts.reshape(shape + self.event_shape)


def _log_diff_ndtr(upper: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """``log(Φ(upper) − Φ(lower))`` for ``lower < upper``, accurate in both tails."""
    flip = lower > 0  # in the upper tail, Φ(u) − Φ(l) = Φ(−l) − Φ(−u)
    big = torch.where(flip, -lower, upper)
    small = torch.where(flip, -upper, lower)
    log_big, log_small = torch.special.log_ndtr(big), torch.special.log_ndtr(small)
    return log_big + torch.log(-torch.expm1(log_small - log_big))


class DocumentLength(TorchDistribution):
    """``P(l) = Φ((log(l+1) − μ)/s) − Φ((log l − μ)/s)`` on ``l = 0, 1, 2, …``: a discretised
    log-normal, the document-length model ``p(l)`` of seed 000 eq. 12.

    :meth:`fit` gives the maximum-likelihood ``(μ, s)`` for observed lengths.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.nonnegative_integer

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return DocumentLength(self.loc.expand(batch_shape), self.scale.expand(batch_shape), validate_args=False)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        positive = value > 0
        safe = torch.where(positive, value, 1.0)  # keeps log 0 = −inf out of the gradient
        lower = (torch.log(safe) - self.loc) / self.scale
        upper = lower + torch.log1p(1 / safe) / self.scale  # log(l + 1) without cancellation
        at_zero = torch.special.log_ndtr((-self.loc) / self.scale)  # P(0) = Φ((log 1 − μ)/s)
        return torch.where(positive, _log_diff_ndtr(upper, lower), at_zero)

    def sample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            normal = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
            return torch.floor(torch.exp(self.loc + self.scale * normal))

    @classmethod
    def fit(cls, lengths: torch.Tensor, max_iter: int = 100) -> DocumentLength:
        """The maximum-likelihood discretised log-normal for observed ``lengths``, one per document
        (a 1-D tensor, e.g. ``counts.sum(-1)``), by L-BFGS."""
        lengths = torch.as_tensor(lengths, dtype=torch.float64)
        if lengths.dim() != 1:
            raise DataError(f"DocumentLength.fit: expected one length per document (a 1-D tensor, e.g. "
                            f"counts.sum(-1) of a documents × words matrix), got shape {tuple(lengths.shape)}")
        if lengths.numel() < 2:
            raise DataError(f"DocumentLength.fit: need at least 2 lengths, got {lengths.numel()}")
        bad = (lengths < 0) | (lengths != lengths.round()) | ~torch.isfinite(lengths)
        if bad.any():
            i = int(bad.nonzero()[0])
            raise DataError(f"DocumentLength.fit: length {i} is {lengths[i].item():g}; "
                            "expected non-negative integers")
        centre = torch.log(lengths + 0.5)
        loc = centre.mean().clone().requires_grad_(True)
        log_scale = torch.log(centre.std().clamp_min(0.05)).clone().requires_grad_(True)
        opt = torch.optim.LBFGS([loc, log_scale], max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = -cls(loc, log_scale.exp()).log_prob(lengths).mean()
            loss.backward()
            return loss

        opt.step(closure)
        loc_hat, scale_hat = loc.item(), math.exp(log_scale.item())
        return cls(torch.tensor(loc_hat), torch.tensor(scale_hat))
