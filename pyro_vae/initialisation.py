"""Initialisers for seed 003's model/guide pairs (App. B.3): "Bench" and "MLE-B".

``he_init`` is the benchmark: every linear layer drawn as He et al. (2015) propose for ReLU
networks, biases zero. ``mle_init`` ("MLE-B") starts from it and places the closed-form
maximiser of L̂ (eq. 15–20) in the network, so that the pair *computes* the MLE at step 0:

* decoder: ``ϑ(z) = Ŵ z + b̂``. An affine decoder takes Ŵ, b̂ directly. A deeper ReLU decoder
  carries ``(z⁺, z⁻) = (ReLU(z), ReLU(−z))`` through its first 2κ units of every hidden layer
  and its output layer reads ``Ŵ z⁺ − Ŵ z⁻``;
* encoder: ``μ_z(x) = A x + a`` (eq. 20) and σ_z = the square root of diag Σ̂_z (eq. 19). The
  first d units of every trunk layer pass x through (ReLU(x) = x for the non-negative data
  of App. B.2); the heads read those units.

The units outside these paths keep their He weights; the output layer and the heads read
them with zero weights, so they do not change the function until training moves those. The paper instead writes
the MLE into the μ_z-, log σ_z²- and x̂-layers of He-initialised networks (zeros where the
layers are wider than needed); its hidden layers then do not carry x or z, which is the
"offset at the beginning" it reports (§4.1).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import ConfigError, DataError
from .families import Gaussian
from .glm import GLMSolution, glm_mle

__all__ = ["he_init", "mle_init"]


def he_init(*modules: nn.Module) -> None:
    """"Bench": every ``nn.Linear`` weight ~ N(0, 2 / fan_in) (He et al. 2015), biases zero."""
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)


def _relu_layers(network: nn.Sequential, where: str) -> list[nn.Linear]:
    """The linear layers of ``Linear → (ReLU → Linear)*``; anything else is refused."""
    layers = list(network)
    ok = all(isinstance(m, nn.Linear) if i % 2 == 0 else isinstance(m, nn.ReLU) for i, m in enumerate(layers))
    if not ok or len(layers) % 2 == 0:
        raise ConfigError(f"mle_init: the {where} must be Linear → (ReLU → Linear)*, got {network}")
    return layers[::2]


def _pass_through(hidden: list[nn.Linear], width: int, first_rows: torch.Tensor) -> None:
    """Units ``0..width−1`` of every layer carry the first layer's ``first_rows @ input``."""
    for i, layer in enumerate(hidden):
        layer.bias[:width] = 0
        layer.weight[:width] = 0
        if i == 0:
            layer.weight[:width] = first_rows
        else:
            layer.weight[:width, :width] = torch.eye(width)


def _check_width(layers: list[nn.Linear], width: int, where: str, why: str) -> None:
    narrow = [layer.out_features for layer in layers if layer.out_features < width]
    if narrow:
        raise ConfigError(f"mle_init: every hidden layer of the {where} needs ≥ {width} units ({why}), "
                          f"found {narrow}")


@torch.no_grad()
def mle_init(model, guide, x: torch.Tensor, beta: float = 1.0) -> GLMSolution:
    """"MLE-B": He initialisation, then the MLE of L̂ on the rows of x written into the pair.

    ``model`` is an :class:`~pyro_vae.models.EDFVAE`, ``guide`` a
    :class:`~pyro_vae.guides.SharedTrunkGaussian`; x holds the training data (non-negative).
    A Gaussian observation with a learned σ also starts at the σ̂ of eq. 18. Returns the
    :class:`~pyro_vae.glm.GLMSolution` used.
    """
    observation = model.observation
    learned_sigma = isinstance(observation, Gaussian) and observation.learn_sigma
    if float(x.min()) < 0:
        raise DataError(f"mle_init: the encoder passes x through ReLU layers, which needs x ≥ 0; "
                        f"found a minimum of {float(x.min()):g}")
    solution = glm_mle(x, observation.edf(), model.latent_dim, beta, estimate_dispersion=learned_sigma)
    *decoder_hidden, output = _relu_layers(model.decoder, "decoder")
    trunk = _relu_layers(guide.trunk, "encoder trunk")
    k, d = model.latent_dim, x.shape[1]
    _check_width(decoder_hidden, 2 * k, "decoder", "to carry z⁺ and z⁻")
    _check_width(trunk, d, "encoder trunk", "to carry x")
    he_init(model, guide)

    weight, bias = solution.weight.to(output.weight.dtype), solution.bias.to(output.bias.dtype)
    output.bias.copy_(bias)
    output.weight.zero_()
    if decoder_hidden:
        eye = torch.eye(k)
        _pass_through(decoder_hidden, 2 * k, torch.cat([eye, -eye]))
        output.weight[:, :k], output.weight[:, k:2 * k] = weight, -weight
    else:
        output.weight.copy_(weight)

    enc_weight, enc_bias, cov = solution.encoder()
    _pass_through(trunk, d, torch.eye(d))
    guide.mean_head.weight.zero_()
    guide.mean_head.weight[:, :d] = enc_weight
    guide.mean_head.bias.copy_(enc_bias)
    guide.scale_head.weight.zero_()
    sigma = torch.diagonal(cov).sqrt()
    guide.scale_head.bias.copy_(sigma + torch.log(-torch.expm1(-sigma)))  # softplus⁻¹(σ)
    if learned_sigma:
        observation.log_sigma.fill_(0.5 * math.log(float(solution.edf.dispersion)))
    return solution
