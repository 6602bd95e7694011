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
them with zero weights, so they do not change the function until training moves those.
App. B.3 as written (``pass_through=False``) writes the MLE into the μ_z-, log σ_z²- and
x̂-layers of He-initialised networks only; a deep pair's hidden layers then do not carry x or
z, which the paper names as the cause of the "offset at the beginning" (§4.1).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import ConfigError, DataError
from .families import Gaussian
from .glm import GLMSolution, glm_mle
from .validation import check_flag

__all__ = ["he_init", "mle_init"]


def he_init(*modules: nn.Module) -> None:
    """"Bench": every ``nn.Linear`` weight ~ N(0, 2 / fan_in) (He et al. 2015), biases zero."""
    not_modules = [type(m).__name__ for m in modules if not isinstance(m, nn.Module)]
    if not_modules:
        raise ConfigError(f"he_init: expected torch modules (a model, a guide), got {', '.join(not_modules)}")
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


def _check_pair(model, guide, x: torch.Tensor) -> None:
    from pyro_vae.guides import SharedTrunkGaussian
    from pyro_vae.models import EDFVAE

    if not isinstance(model, EDFVAE) or not isinstance(guide, SharedTrunkGaussian):
        raise ConfigError("mle_init: expected an EDFVAE model and a SharedTrunkGaussian guide, got "
                          f"{type(model).__name__} and {type(guide).__name__}")
    if not torch.is_tensor(x) or x.dim() != 2 or x.shape[0] == 0:
        got = f"shape {tuple(x.shape)}" if torch.is_tensor(x) else type(x).__name__
        raise DataError(f"mle_init: x must be a tensor of shape (N, d) with at least one row, got {got}")
    d, k = x.shape[1], model.latent_dim
    sizes = {"the model's data dimension": model.output_layer.out_features,
             "the guide's input dimension": _relu_layers(guide.trunk, "encoder trunk")[0].in_features}
    for what, size in sizes.items():
        if size != d:
            raise ConfigError(f"mle_init: x has {d} columns but {what} is {size}")
    if guide.mean_head.out_features != k:
        raise ConfigError(f"mle_init: the model has {k} latent units but the guide {guide.mean_head.out_features}")
    model.observation.check_support(x, "mle_init: x")


@torch.no_grad()
def mle_init(model, guide, x: torch.Tensor, beta: float = 1.0, pass_through: bool = True) -> GLMSolution:
    """"MLE-B": He initialisation, then the MLE of L̂ on the rows of x written into the pair.

    ``model`` is an :class:`~pyro_vae.models.EDFVAE`, ``guide`` a
    :class:`~pyro_vae.guides.SharedTrunkGaussian`; x holds the training data. A Gaussian
    observation with a learned σ also starts at the σ̂ of eq. 18. With ``pass_through`` (the
    default; x must be non-negative) the pair computes the MLE exactly, as the module says;
    ``pass_through=False`` is App. B.3 as written: the MLE goes into the x̂-layer (reading the
    first κ units of the last decoder layer), the μ_z-head (reading the first d units of the
    last trunk layer) and the bias of the σ-head, everything else keeps its He weights.
    Returns the :class:`~pyro_vae.glm.GLMSolution` used (float64).
    """
    check_flag("mle_init: pass_through", pass_through)
    _check_pair(model, guide, x)
    *decoder_hidden, output = _relu_layers(model.decoder, "decoder")
    trunk = _relu_layers(guide.trunk, "encoder trunk")
    k, d = model.latent_dim, x.shape[1]
    if pass_through:
        if float(x.min()) < 0:
            raise DataError(f"mle_init: the encoder passes x through ReLU layers, which needs x ≥ 0; "
                            f"found a minimum of {float(x.min()):g} (pass_through=False does without)")
        _check_width(decoder_hidden, 2 * k, "decoder", "to carry z⁺ and z⁻")
        _check_width(trunk, d, "encoder trunk", "to carry x")
    else:
        _check_width(decoder_hidden[-1:], k, "decoder", "the x̂-layer reads κ of its units")
        _check_width(trunk[-1:], d, "encoder trunk", "the μ_z-head reads d of its units")
    observation = model.observation
    learned_sigma = isinstance(observation, Gaussian) and observation.learn_sigma
    solution = glm_mle(x.double(), observation.edf(), k, beta, estimate_dispersion=learned_sigma)
    he_init(model, guide)

    output.bias.copy_(solution.bias)
    output.weight.zero_()
    if decoder_hidden and pass_through:
        eye = torch.eye(k)
        _pass_through(decoder_hidden, 2 * k, torch.cat([eye, -eye]))
        output.weight[:, :k], output.weight[:, k:2 * k] = solution.weight, -solution.weight
    else:
        output.weight[:, :k] = solution.weight

    enc_weight, enc_bias, cov = solution.encoder()
    if pass_through:
        _pass_through(trunk, d, torch.eye(d))
        guide.scale_head.weight.zero_()
    guide.mean_head.weight.zero_()
    guide.mean_head.weight[:, :d] = enc_weight
    guide.mean_head.bias.copy_(enc_bias)
    sigma = torch.diagonal(cov).sqrt()
    guide.scale_head.bias.copy_(guide.family.scale_predictor(sigma))
    if learned_sigma:
        observation.log_sigma.fill_(0.5 * math.log(float(solution.edf.dispersion)))
    return solution
