"""The Text VAE of seed 000 §3.1: documents as word counts, a binary code as latent."""

from __future__ import annotations

import math
import numbers

import pyro
import torch
from pyro.nn import PyroParam
from torch.distributions import constraints

from pyro_vae.bits import sample_bits
from pyro_vae.documents import DocumentLength, WordCounts
from pyro_vae.errors import ConfigError
from pyro_vae.families import Multinomial
from pyro_vae.naming import UniquelyNamed
from pyro_vae.networks import mlp
from pyro_vae.validation import check_positive_int, check_seed


class TextVAE(UniquelyNamed):
    """``z ~ Bernoulli(½)^m``, ``l ~ p(l)``, ``x | z, l ~ h(x | l) exp(f(z)ᵀx − l A(f(z)))`` (eq. 12).

    The decoder f is ``Linear → (ReLU → Linear) × depth`` with ``hidden`` units, followed by the
    log-softmax of :class:`~pyro_vae.documents.WordCounts` (App. B.2); ``depth=0`` is the linear
    decoder, the GLM case of Thm 1. The length model ``p(l)`` is a discretised log-normal whose
    parameters are learned with the rest (its gradient does not involve z), or fixed when
    ``length`` is given, e.g. ``DocumentLength.fit(x.sum(-1))``.

    The code is the site ``"z"`` (:func:`~pyro_vae.bits.sample_bits`), one site per bit under
    :class:`~pyro_vae.bits.split_bits`; the length is the observed site ``"length"``, the words
    the observed site ``"x"``, whose total count is the value of ``"length"`` (so that under
    ``poutine.uncondition`` each predicted document has the length drawn for it).

    :param vocab_size: K, the number of words.
    :param bits: m, the number of latent bits.
    :param depth: number of hidden ReLU layers of the decoder (0, 1, 2 in Table 2).
    :param hidden: units per hidden layer; 512 (the paper's) when None. Only a decoder with
        ``depth > 0`` has hidden layers, so ``depth=0`` with a width is refused.
    :param length: a fixed :class:`~pyro_vae.documents.DocumentLength`; learned when None.
    """

    def __init__(self, vocab_size: int, bits: int, depth: int = 0, hidden: int | None = None,
                 length: DocumentLength | None = None):
        super().__init__()
        check_positive_int("TextVAE: vocab_size", vocab_size)
        check_positive_int("TextVAE: bits", bits)
        if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 0:
            raise ConfigError(f"TextVAE: depth must be a non-negative int, got {depth!r}")
        if hidden is not None and depth == 0:
            raise ConfigError(f"TextVAE: hidden={hidden!r} would be unused: depth=0 is the linear decoder, "
                              "which has no hidden layer; leave hidden unset or give depth >= 1")
        hidden = 512 if hidden is None else hidden
        check_positive_int("TextVAE: hidden", hidden)
        if length is not None and not isinstance(length, DocumentLength):
            raise TypeError(f"length must be a DocumentLength or None, got {type(length).__name__}")
        self.vocab_size, self.bits, self.depth = vocab_size, bits, depth
        self.decoder = mlp(bits, vocab_size, (hidden,) * depth)
        self.observation = Multinomial()
        if length is None:
            self.length_loc = PyroParam(torch.tensor(4.0))
            self.length_scale = PyroParam(torch.tensor(1.0), constraint=constraints.positive)
        else:
            dtype = torch.get_default_dtype()
            self.register_buffer("length_loc", length.loc.detach().to(dtype).clone())
            self.register_buffer("length_scale", length.scale.detach().to(dtype).clone())
        self.register_buffer("prior_logits", torch.zeros(bits))

    def length_model(self) -> DocumentLength:
        """``p(l)``."""
        return DocumentLength(self.length_loc, self.length_scale)

    def likelihood(self, z: torch.Tensor, length: torch.Tensor) -> WordCounts:
        """``p_θ(x | z, l)``: word counts with logits f(z)."""
        return WordCounts(self.decoder(z), length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with pyro.plate("data", x.shape[0]):
            # the site's value: x's lengths when observed, new lengths under poutine.uncondition
            length = pyro.sample("length", self.length_model(), obs=x.sum(-1))
            z = sample_bits("z", self.prior_logits)
            pyro.sample("x", self.likelihood(z, length), obs=x)
        return z

    @torch.no_grad()
    def generate(self, num_documents: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample ``num_documents`` documents from the model: their word counts and codes."""
        check_positive_int("num_documents", num_documents)
        z = torch.bernoulli(torch.sigmoid(self.prior_logits).expand(num_documents, self.bits))
        length = self.length_model().sample((num_documents,))
        return self.likelihood(z, length).sample(), z


def consistent_text_vae(vocab_size: int, bits: int, strength: float = 1.0,
                        length: DocumentLength | None = None, seed: int = 0) -> TextVAE:
    """A linear-decoder Text VAE whose exact posterior is a factorised Bernoulli linear in the counts.

    With a uniform prior, ``log p(z | x, l) = xᵀ f(z) − l A(f(z)) + const``; it is linear in z,
    so the model lies in the consistent set of the encoder e1 (seed 000 §3.1, eq. 14), when
    ``A(f(z))`` does not depend on z. Here bit j owns the word pair (2j, 2j+1) with logits
    ``c_j + s z_j`` and ``c_j + s (1 − z_j)``, whose exponentials sum to the same value for
    both values of z_j; the other words have fixed logits. Then
    ``p(z_j = 1 | x) = sigmoid(s (x_{2j} − x_{2j+1}))`` with s = ``strength``. The pair offsets
    ``c_j`` and the other logits are drawn with ``seed``.
    """
    check_positive_int("consistent_text_vae: vocab_size", vocab_size)
    check_positive_int("consistent_text_vae: bits", bits)
    check_seed(seed)
    if isinstance(strength, bool) or not (isinstance(strength, numbers.Real) and math.isfinite(strength)):
        raise ConfigError(f"consistent_text_vae: strength must be a finite number, got {strength!r}")
    if vocab_size < 2 * bits:
        raise ConfigError(f"consistent_text_vae: vocab_size must be at least 2 * bits = {2 * bits}, "
                         f"got {vocab_size}")
    model = TextVAE(vocab_size, bits, depth=0, length=length)
    g = torch.Generator().manual_seed(seed)
    weight = torch.zeros(vocab_size, bits)
    bias = torch.randn(vocab_size, generator=g)
    for j in range(bits):
        weight[2 * j, j], weight[2 * j + 1, j] = strength, -strength
        bias[2 * j + 1] = bias[2 * j] + strength
    with torch.no_grad():
        model.decoder[0].weight.copy_(weight)
        model.decoder[0].bias.copy_(bias)
    return model
