"""Exponential families for decoders and encoders (seed 000, Assumption 1).

A family describes ``p(x | η) = h(x) exp(<ν(x), θ(η)> − A(θ(η)))`` where η is what a network
outputs (the *predictor*) and ``θ = natural_parameter(η)``. For every family except the
Gaussian the predictor is the natural parameter itself; for the Gaussian the predictor is the
mean and ``θ = η / σ²``, an affine change that keeps a GLM a GLM.

All families are vector-valued: the last dimension of ``x`` is the event dimension and
``distribution(η)`` returns a Pyro distribution with ``event_dim = 1``.

Each family offers, in the papers' terms:

* ``distribution(η)``               the Pyro distribution (used at ``pyro.sample`` sites)
* ``sufficient_statistic(x)``       ν(x) (seed 000 eq. 4a)
* ``log_base_measure(x)``           log h(x)
* ``natural_parameter(η)``          θ
* ``log_partition(θ)``              A(θ), summed over the event dimension
* ``mean(θ)``, ``variance(θ)``      F′(θ) = ∇A and F″(θ) (element-wise, seed 003 Table 1)
* ``canonical_activation(η)``       the mean as a function of the predictor (seed 003 Example 1)
* ``check_support(x)``              raises :class:`~pyro_vae.errors.DataError` for bad data
* ``edf()``                         the exponential-dispersion view of seed 003 (Gaussian with a
                                    shared σ, Bernoulli, Binomial, Poisson): :mod:`pyro_vae.edf`

``BinaryCode`` and ``Categorical`` also serve as *latent* families of a guide: a code
``z ∈ {0, …, 2^m − 1}`` with statistic ψ(z) = its m bits is exactly the factorised Bernoulli
encoder ``q(z_b | x) ∝ exp<g(x), z_b>`` of seed 000 §4.1, written as one categorical site so
that ``TraceEnum_ELBO`` can sum over it.
"""

from __future__ import annotations

import math
import numbers

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from . import edf as _edf
from .bits import MAX_ENUMERATED_BITS
from .errors import ConfigError, DataError
from .validation import check_counts, check_finite, check_flag, check_positive_number, check_values

__all__ = [
    "Family",
    "Gaussian",
    "HeteroscedasticGaussian",
    "Bernoulli",
    "Binomial",
    "Poisson",
    "Categorical",
    "Multinomial",
    "BinaryCode",
    "code_bits",
]


class Family(nn.Module):
    """Base class: an exponential family over vectors, ``event_dim = 1``.

    Families are ``nn.Module`` so that a learned dispersion (the Gaussian's σ) moves with
    ``.to(device)`` and appears among the parameters of the model that owns it.
    """

    name = "family"

    def distribution(self, eta: torch.Tensor) -> dist.TorchDistribution:
        """``p(x | η)`` for the predictor η a network outputs, as a Pyro distribution with
        ``event_dim = 1`` (for ``pyro.sample`` sites)."""
        raise NotImplementedError

    def natural_parameter(self, eta: torch.Tensor) -> torch.Tensor:
        """θ(η): the predictor itself, except for the Gaussian (θ = η / σ²)."""
        return eta

    def sufficient_statistic(self, x: torch.Tensor) -> torch.Tensor:
        """ν(x) of seed 000 eq. 4a: x by default; (x, x²) for the heteroscedastic Gaussian, one-hot
        or bits for the categorical and binary-code latents."""
        return x

    def log_base_measure(self, x: torch.Tensor) -> torch.Tensor:
        """log h(x), summed over the event dimension."""
        raise NotImplementedError

    def log_partition(self, theta: torch.Tensor) -> torch.Tensor:
        """A(θ), summed over the event dimension."""
        raise NotImplementedError

    def mean(self, theta: torch.Tensor) -> torch.Tensor:
        """E[ν(x)] = ∇A(θ), element-wise (F′ of seed 003 Table 1)."""
        raise NotImplementedError

    def variance(self, theta: torch.Tensor) -> torch.Tensor:
        """Var[ν(x)] per coordinate, the diagonal of ∇²A(θ) (F″ of seed 003 Table 1)."""
        raise NotImplementedError

    def canonical_activation(self, eta: torch.Tensor) -> torch.Tensor:
        """The mean as a function of the predictor, ``mean(natural_parameter(η))`` (seed 003 Example 1)."""
        return self.mean(self.natural_parameter(eta))

    def log_prob(self, x: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        """``log h(x) + <ν(x), θ> − A(θ)``: the exponential-family form of eq. (4a)."""
        theta = self.natural_parameter(eta)
        nu = self.sufficient_statistic(x)
        return self.log_base_measure(x) + (nu * theta).sum(-1) - self.log_partition(theta)

    def check_support(self, x: torch.Tensor, where: str = "data") -> None:
        """Raise :class:`DataError` unless ``x`` is finite and inside this family's support."""
        check_finite(x, where)

    def edf(self) -> _edf.EDF:
        """This family as an exponential dispersion family (seed 003, Table 1)."""
        raise ConfigError(
            f"{type(self).__name__} has no exponential-dispersion view in seed 003; "
            "expected Gaussian (one shared sigma), Bernoulli, Binomial or Poisson"
        )

    def extra_repr(self) -> str:
        return self.name

    def structure(self) -> str:
        """This family's settings apart from the values in its state (a learned σ, say): what a
        checkpoint's fingerprint compares (:func:`pyro_vae.fit`)."""
        return self.extra_repr()


class Gaussian(Family):
    """Gaussian ``N(x | η, σ² I)`` with a fixed or a learned σ, shared or one per coordinate.

    With fixed σ: ν(x) = x, θ = η / σ², A(θ) = σ² θ² / 2, h(x) = N(x | 0, σ² I).
    With ``learn_sigma=True`` σ is learned (seed 002's VAE-1: one shared σ; its linear VAE's
    encoder: one τ_h per latent coordinate, ``size=H``); the x² coefficient −1/(2σ²) is the
    same for every predictor and stays in the base measure of each evaluation.

    :param sigma: the (initial) standard deviation.
    :param learn_sigma: make σ a parameter.
    :param size: one σ per coordinate of an event of this size; one shared σ by default.
    """

    name = "gaussian"

    def __init__(self, sigma: float = 1.0, learn_sigma: bool = False, size: int | None = None):
        super().__init__()
        check_positive_number("Gaussian: sigma", sigma)
        check_flag("Gaussian: learn_sigma", learn_sigma)
        if size is not None and (isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1):
            raise ConfigError(f"Gaussian: size must be a positive int or None, got {size!r}")
        log_sigma = torch.full(() if size is None else (size,), math.log(sigma))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)
        self.learn_sigma = learn_sigma
        self.size = size

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp()

    def distribution(self, eta):
        scale = self.sigma.expand_as(eta)
        if self.size is not None:
            # One σ per coordinate: torch's elementwise kernels crawl over a short row repeated
            # by zero strides once Pyro's plates expand it (log: 8× slower), so give it rows.
            scale = scale.contiguous()
        return dist.Normal(eta, scale).to_event(1)

    def natural_parameter(self, eta):
        return eta / self.sigma**2

    def log_base_measure(self, x):
        s2 = self.sigma**2
        return (-0.5 * x**2 / s2 - 0.5 * torch.log(2 * math.pi * s2)).sum(-1)

    def log_partition(self, theta):
        return (0.5 * self.sigma**2 * theta**2).sum(-1)

    def mean(self, theta):
        return self.sigma**2 * theta

    def variance(self, theta):
        return (self.sigma**2).expand_as(theta)

    def edf(self):
        """ϑ = μ, φ = σ² (its current value, detached)."""
        if self.size is not None:
            raise ConfigError("Gaussian.edf(): seed 003's EDF view needs one shared sigma, "
                              f"this family has one per coordinate (size={self.size})")
        return _edf.GaussianEDF(dispersion=float(torch.exp(2 * self.log_sigma.detach().double())))

    def extra_repr(self):
        kind = "learned" if self.learn_sigma else "fixed"
        if self.size is None:
            return f"sigma={self.sigma.item():.4g} ({kind})"
        return f"size={self.size}, sigma=({kind}, one per coordinate)"

    def structure(self):
        kind = "learned" if self.learn_sigma else "fixed"
        return f"sigma {kind}" if self.size is None else f"size={self.size}, sigma {kind}"


class HeteroscedasticGaussian(Family):
    """Gaussian ``N(x | μ, diag σ²)`` whose predictor carries both μ and σ.

    The predictor is ``η = [μ, ρ]`` (twice the event size): the decoder of seed 002's VAE-3
    (eq. 35–38, σ_d(z) from its own network) and the encoder of eq. 4–7 (τ_h(x) from its own
    network), and the σ head of seed 003's encoders (App. B.1). ``scale`` says how ρ gives σ:

    * ``"log_variance"`` (the default): ρ = log σ², as seed 003's heads. Multiplying every
      variance by a constant is a shift of the bias of the layer that outputs ρ, so it is a
      direction in the parameters, as seed 002's proofs need (eq. 67–72, and the rescaling of z
      behind eq. 24);
    * ``"softplus"``: σ = softplus(ρ), for which that rescaling is only approximately a
      parameter direction.

    As an exponential family: ν(x) = (x, x²), θ = (μ/σ², −1/(2σ²)),
    A(θ) = Σ −θ₁²/(4θ₂) − ½ log(−2θ₂), h(x) = (2π)^(−D/2).
    """

    name = "heteroscedastic_gaussian"
    SCALES = ("log_variance", "softplus")

    def __init__(self, scale: str = "log_variance"):
        super().__init__()
        if scale not in self.SCALES:
            raise ConfigError(f"HeteroscedasticGaussian: scale must be one of {self.SCALES}, got {scale!r}")
        self.scale = scale

    def split(self, eta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, σ)`` from the predictor ``[μ, ρ]``."""
        # Halves of the last dimension are strided views, on which torch's CPU softplus and the
        # log-density's elementwise kernels run several times slower (6.7× for softplus on
        # 10×2000×10 values, measured): copying them to contiguous tensors is cheaper.
        mu, rho = (half.contiguous() for half in eta.chunk(2, dim=-1))
        return mu, (torch.exp(0.5 * rho) if self.scale == "log_variance" else F.softplus(rho))

    def scale_predictor(self, sigma: torch.Tensor) -> torch.Tensor:
        """The ρ that gives σ: log σ², or softplus⁻¹(σ)."""
        if self.scale == "log_variance":
            return 2 * torch.log(sigma)
        return sigma + torch.log(-torch.expm1(-sigma))

    def distribution(self, eta):
        mu, sigma = self.split(eta)
        return dist.Normal(mu, sigma).to_event(1)

    def natural_parameter(self, eta):
        mu, sigma = self.split(eta)
        s2 = sigma**2
        return torch.cat([mu / s2, -0.5 / s2], -1)

    def sufficient_statistic(self, x):
        return torch.cat([x, x**2], -1)

    def log_base_measure(self, x):
        return torch.full(x.shape[:-1], -0.5 * x.shape[-1] * math.log(2 * math.pi),
                          dtype=x.dtype, device=x.device)

    def log_partition(self, theta):
        t1, t2 = theta.chunk(2, dim=-1)
        return (-(t1**2) / (4 * t2) - 0.5 * torch.log(-2 * t2)).sum(-1)

    def mean(self, theta):
        t1, t2 = theta.chunk(2, dim=-1)
        mu, s2 = -t1 / (2 * t2), -0.5 / t2
        return torch.cat([mu, mu**2 + s2], -1)

    def variance(self, theta):
        t1, t2 = theta.chunk(2, dim=-1)
        mu, s2 = -t1 / (2 * t2), -0.5 / t2
        return torch.cat([s2, 4 * mu**2 * s2 + 2 * s2**2], -1)

    def extra_repr(self):
        return f"scale={self.scale!r}"


class Bernoulli(Family):
    """Bernoulli with logits θ: ν(x) = x, A(θ) = softplus(θ), h = 1, F′ = sigmoid."""

    name = "bernoulli"

    def distribution(self, eta):
        return dist.Bernoulli(logits=eta).to_event(1)

    def log_base_measure(self, x):
        return torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)

    def log_partition(self, theta):
        return F.softplus(theta).sum(-1)

    def mean(self, theta):
        return torch.sigmoid(theta)

    def variance(self, theta):
        p = torch.sigmoid(theta)
        return p * (1 - p)

    def check_support(self, x, where="data"):
        check_finite(x, where)
        check_values(x, (x == 0) | (x == 1), where, "binary values 0 or 1")

    def edf(self):
        return _edf.BinomialEDF(total_count=1)


class Binomial(Family):
    """Binomial(n) with logits θ: ν(x) = x, A(θ) = n softplus(θ), h(x) = C(n, x)."""

    name = "binomial"

    def __init__(self, total_count: int):
        super().__init__()
        if isinstance(total_count, bool) or not isinstance(total_count, int) or total_count < 1:
            raise ConfigError(f"Binomial: total_count must be a positive int, got {total_count!r}")
        self.total_count = total_count

    def distribution(self, eta):
        return dist.Binomial(total_count=self.total_count, logits=eta).to_event(1)

    def log_base_measure(self, x):
        n = torch.as_tensor(float(self.total_count), dtype=x.dtype)
        return (torch.lgamma(n + 1) - torch.lgamma(x + 1) - torch.lgamma(n - x + 1)).sum(-1)

    def log_partition(self, theta):
        return (self.total_count * F.softplus(theta)).sum(-1)

    def mean(self, theta):
        return self.total_count * torch.sigmoid(theta)

    def variance(self, theta):
        p = torch.sigmoid(theta)
        return self.total_count * p * (1 - p)

    def check_support(self, x, where="data"):
        check_counts(x, where, upper=self.total_count)

    def edf(self):
        return _edf.BinomialEDF(total_count=self.total_count)

    def extra_repr(self):
        return f"total_count={self.total_count}"


class Poisson(Family):
    """Poisson with log-rate θ: ν(x) = x, A(θ) = exp(θ), h(x) = 1 / x!."""

    name = "poisson"

    def distribution(self, eta):
        return dist.Poisson(eta.exp()).to_event(1)

    def log_base_measure(self, x):
        return -torch.lgamma(x + 1).sum(-1)

    def log_partition(self, theta):
        return theta.exp().sum(-1)

    def mean(self, theta):
        return theta.exp()

    def variance(self, theta):
        return theta.exp()

    def check_support(self, x, where="data"):
        check_counts(x, where)

    def edf(self):
        return _edf.PoissonEDF()


class Categorical(Family):
    """Categorical over K classes with logits θ; ν(z) = one-hot(z), A(θ) = logsumexp(θ).

    Values are class indices (a float or long tensor of shape ``batch``); the predictor has
    shape ``batch + (K,)``. As a latent family this is the *exact* (non-factorised) guide.
    """

    name = "categorical"

    def __init__(self, num_classes: int):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"Categorical: num_classes must be an int ≥ 2, got {num_classes!r}")
        self.num_classes = num_classes

    def distribution(self, eta):
        return dist.Categorical(logits=eta)

    def sufficient_statistic(self, z):
        return F.one_hot(z.long(), self.num_classes).to(torch.get_default_dtype())

    def log_base_measure(self, z):
        return torch.zeros(z.shape, dtype=torch.get_default_dtype(), device=z.device)

    def log_partition(self, theta):
        return torch.logsumexp(theta, -1)

    def mean(self, theta):
        return torch.softmax(theta, -1)

    def variance(self, theta):
        p = torch.softmax(theta, -1)
        return p * (1 - p)

    def check_support(self, z, where="data"):
        if not torch.is_tensor(z):
            raise DataError(f"{where}: expected a torch.Tensor, got {type(z).__name__}")
        zf = z.double()
        check_finite(zf, where)
        ok = (zf >= 0) & (zf < self.num_classes) & (zf == zf.round())
        check_values(zf, ok, where, f"class indices in 0..{self.num_classes - 1}")

    def extra_repr(self):
        return f"num_classes={self.num_classes}"


class Multinomial(Family):
    """Multinomial with logits θ over K categories: word counts of documents.

    With a fixed ``total_count`` n every row sums to n: ν(x) = x, A(θ) = n logsumexp(θ),
    h(x) = n! / ∏ x_k!. With ``total_count=None`` each row is a document with its own length
    ``l = Σ_k x_k`` (seed 000 eq. 12): h(x | l) = l! / ∏ x_k!, and :meth:`log_partition` is the
    per-word A(θ) = logsumexp(θ), which :meth:`log_prob` multiplies by l; the distribution of
    such rows is :class:`pyro_vae.documents.WordCounts`, which needs the lengths.
    """

    name = "multinomial"

    def __init__(self, total_count: int | None = None):
        super().__init__()
        if total_count is not None and (
            isinstance(total_count, bool) or not isinstance(total_count, int) or total_count < 1
        ):
            raise ConfigError(
                f"Multinomial: total_count must be a positive int or None, got {total_count!r}"
            )
        self.total_count = total_count

    def _counts(self, x):
        return x.sum(-1) if self.total_count is None else torch.as_tensor(float(self.total_count), dtype=x.dtype)

    def distribution(self, eta):
        if self.total_count is None:
            raise ConfigError("Multinomial(total_count=None): rows have their own lengths; "
                              "use pyro_vae.documents.WordCounts(logits, length)")
        return dist.Multinomial(total_count=self.total_count, logits=eta)

    def log_base_measure(self, x):
        return torch.lgamma(self._counts(x) + 1) - torch.lgamma(x + 1).sum(-1)

    def log_partition(self, theta):
        if self.total_count is None:
            return torch.logsumexp(theta, -1)
        return self.total_count * torch.logsumexp(theta, -1)

    def log_prob(self, x, eta):
        if self.total_count is None:
            theta = self.natural_parameter(eta)
            return self.log_base_measure(x) + (x * theta).sum(-1) - x.sum(-1) * self.log_partition(theta)
        return super().log_prob(x, eta)

    def mean(self, theta):
        """Expected counts; per word (the probabilities) when ``total_count`` is None."""
        return (self.total_count or 1) * torch.softmax(theta, -1)

    def variance(self, theta):
        p = torch.softmax(theta, -1)
        return (self.total_count or 1) * p * (1 - p)

    def check_support(self, x, where="data"):
        check_counts(x, where)
        if self.total_count is None:
            return
        rows = x.sum(-1)
        bad = rows != self.total_count
        if bad.any():
            idx = tuple(int(i) for i in bad.nonzero()[0])
            row = idx[0] if len(idx) == 1 else idx
            raise DataError(
                f"{where}: row {row} sums to {rows[idx].item():g}; "
                f"expected every row to sum to total_count={self.total_count}"
            )

    def extra_repr(self):
        return "documents of any length" if self.total_count is None else f"total_count={self.total_count}"


def code_bits(bits: int, dtype=None, device=None) -> torch.Tensor:
    """The ``2^bits × bits`` table of binary codes, most significant bit first."""
    codes = torch.arange(2**bits, device=device)
    shifts = torch.arange(bits - 1, -1, -1, device=device)
    return ((codes[:, None] >> shifts) & 1).to(dtype or torch.get_default_dtype())


class BinaryCode(Family):
    """Factorised Bernoulli over m bits, written over the 2^m codes (seed 000 §4.1).

    ``q(z | x) = exp(<ψ(z), θ> − B(θ))`` with ψ(z) = the bits of code z, θ ∈ R^m the bit
    logits and B(θ) = Σ_j softplus(θ_j). ``distribution(θ)`` is the equivalent
    ``Categorical`` over codes, so the site is enumerable; it is meant for m ≤ 12.
    """

    name = "binary_code"

    def __init__(self, bits: int):
        super().__init__()
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_ENUMERATED_BITS:
            raise ConfigError(f"BinaryCode: bits must be an int in 1..{MAX_ENUMERATED_BITS}, got {bits!r}")
        self.bits = bits
        self.register_buffer("table", code_bits(bits), persistent=False)

    @property
    def num_classes(self) -> int:
        return 2**self.bits

    def distribution(self, eta):
        logits = eta @ self.table.to(eta.dtype).T - self.log_partition(eta)[..., None]
        return dist.Categorical(logits=logits)

    def sufficient_statistic(self, z):
        return self.table[z.long()]

    def log_base_measure(self, z):
        return torch.zeros(z.shape, dtype=self.table.dtype, device=z.device)

    def log_partition(self, theta):
        return F.softplus(theta).sum(-1)

    def mean(self, theta):
        return torch.sigmoid(theta)

    def variance(self, theta):
        p = torch.sigmoid(theta)
        return p * (1 - p)

    def check_support(self, z, where="data"):
        Categorical.check_support(self, z, where)  # same support: indices 0..2^m − 1

    def extra_repr(self):
        return f"bits={self.bits}"
