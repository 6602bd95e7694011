"""Non-factorised guides over a categorical latent: the references of seed 000 §4.1."""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch

from pyro_vae.families import Categorical
from pyro_vae.naming import UniquelyNamed
from pyro_vae.networks import mlp
from pyro_vae.validation import check_positive_int

from .amortised import AmortisedGuide


class ExactCategorical(AmortisedGuide):
    """``q_φ(z | x) = softmax(g_φ(x))`` over all K codes: a family that contains every posterior."""

    def __init__(self, input_dim: int, num_classes: int, hidden: Sequence[int] = (64, 64)):
        check_positive_int("ExactCategorical: input_dim", input_dim)
        super().__init__(Categorical(num_classes), mlp(input_dim, num_classes, hidden))


class ExactPosterior(UniquelyNamed):
    """The model's own posterior ``p_θ(z | x)``, computed by enumeration: the tightness gap is 0.

    It has no parameters; with it, ELBO training is maximum-likelihood training.
    """

    def __init__(self, model):
        super().__init__()
        if not getattr(model, "latent_is_discrete", False):
            raise TypeError("ExactPosterior needs a model with a categorical prior over 'z'")
        object.__setattr__(self, "model", model)  # not a submodule: its parameters stay the model's
        self.family = Categorical(model.prior.logits.shape[-1])

    def posterior(self, x: torch.Tensor):
        """``p_θ(z | x) ∝ p(z) p_θ(x | z)`` over all K codes.

        At q = p_θ(z | x) the ELBO is stationary in q, so detaching q keeps the gradient exact.
        """
        prior = self.model.prior
        codes = prior.enumerate_support(expand=False).reshape(-1)
        logits = prior.log_prob(codes) + self.model.likelihood(codes).log_prob(x.unsqueeze(-2))
        return dist.Categorical(logits=logits.detach())  # detach, not no_grad: a jit trace keeps it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        posterior = self.posterior(x)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("z", posterior)
