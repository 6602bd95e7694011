"""The plumbing shared by objectives written as a value and a surrogate."""

from __future__ import annotations

import torch
from pyro.infer import ELBO
from pyro.util import warn_if_nan


class SurrogateELBO(ELBO):
    """An ELBO whose ``_surrogate(model, guide, args, kwargs)`` returns ``(bound, surrogate)``:
    the estimate of the bound (summed over data points) and a scalar whose gradient is the
    estimator's. ``loss``, ``loss_and_grads`` and ``differentiable_loss`` mean what they mean
    in Pyro's own ELBOs."""

    def _surrogate(self, model, guide, args, kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def loss(self, model, guide, *args, **kwargs):
        with torch.no_grad():
            bound, _ = self._surrogate(model, guide, args, kwargs)
        return _checked(-bound.item())

    def differentiable_loss(self, model, guide, *args, **kwargs):
        return -self._surrogate(model, guide, args, kwargs)[1]

    def loss_and_grads(self, model, guide, *args, **kwargs):
        bound, surrogate = self._surrogate(model, guide, args, kwargs)
        (-surrogate).backward(retain_graph=self.retain_graph)
        return _checked(-bound.item())

    def _get_trace(self, model, guide, args, kwargs):  # abstract in ELBO; the surrogate traces
        raise NotImplementedError


def _checked(loss: float) -> float:
    warn_if_nan(loss, "loss")
    return loss
