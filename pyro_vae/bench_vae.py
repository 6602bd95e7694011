"""The two regimes of SPEC "Performance": library objectives vs hand-written PyTorch vs stock Pyro.

* ``bernoulli``: a 784-400-50 Bernoulli VAE (:class:`~pyro_vae.models.EDFVAE` with one hidden
  layer of 400, :class:`~pyro_vae.guides.SharedTrunkGaussian`), batch 128; ``elbo``,
  ``meanfield`` and ``tracegraph`` with 1 particle, ``iwae`` with K = 10;
* ``linear``: the linear Gaussian VAE of seed 002 (:class:`~pyro_vae.models.LinearVAE`,
  :class:`~pyro_vae.guides.LinearGaussian`), D = 10, H = 2, batch 2000; each objective with
  100 particles.

These are the library's objectives for a Gaussian latent; ``enum`` and ``disarm`` are for
discrete ones (E1's row in :mod:`pyro_vae.bench` times ``enum``).

Per objective four steps are timed, each from the same weights on the same mini-batches:
the library's (:func:`~pyro_vae.objectives.make_objective` in the step of
:func:`~pyro_vae.fit`), uncompiled and with ``jit=True``, the same estimator hand-written in PyTorch (:class:`HandWrittenVAE`,
one fused ``torch.optim.Adam``, as the library uses), and Pyro's own objective for it (:data:`STOCK`; for
``iwae`` ``RenyiELBO(alpha=0)``, Pyro's only importance-weighted bound) in ``pyro.infer.SVI`` with vectorised
particles.
For ``iwae`` a fifth path is ``RenyiELBO(alpha=0, num_particles=K)`` as constructed by default,
which runs the model and guide once per particle in a Python loop.
:func:`likelihood_run` times the importance-sampled log-likelihood with K = 5000 and reports the
peak memory of the process. No test measures time.
"""

from __future__ import annotations

import math
import resource
import time

import pyro
import pyro.optim
import torch
import torch.nn.functional as F
from torch import nn

from .bench import _library_step_fn, _ratios, _timed_paths
from .errors import ConfigError
from .families import Bernoulli

REGIMES = {
    "bernoulli": {"description": "784-400-50 Bernoulli VAE, batch 128", "batch_size": 128,
                  "particles": {"elbo": 1, "meanfield": 1, "tracegraph": 1, "iwae": 10}},
    "linear": {"description": "linear Gaussian VAE D=10 H=2, batch 2000", "batch_size": 2000,
               "particles": {"elbo": 100, "meanfield": 100, "tracegraph": 100, "iwae": 100}},
}
#: Pyro's own objective for each library objective.
STOCK = {"elbo": "Trace_ELBO", "meanfield": "TraceMeanField_ELBO", "tracegraph": "TraceGraph_ELBO",
         "iwae": "RenyiELBO(alpha=0)"}
LR = 1e-4


def regime_pair(regime: str, seed: int = 0):
    """``(model, guide, x)`` of a regime: fresh weights from ``seed`` and 8 mini-batches of data."""
    from .guides import LinearGaussian, SharedTrunkGaussian
    from .models import EDFVAE, LinearVAE

    if regime not in REGIMES:
        raise ConfigError(f"bench: unknown regime {regime!r}; known: {', '.join(REGIMES)}")
    pyro.set_rng_seed(seed)
    n = 8 * REGIMES[regime]["batch_size"]
    if regime == "bernoulli":
        model = EDFVAE(Bernoulli(), 784, 50, hidden=(400,))
        guide = SharedTrunkGaussian(784, 50, hidden=(400,))
        x = (torch.rand(n, 784) < 0.2).to(torch.get_default_dtype())
    else:
        model, guide = LinearVAE(10, 2), LinearGaussian(10, 2)
        x = torch.randn(n, 10) @ torch.randn(10, 10) * 0.3 + torch.rand(10)
    return model, guide, x


def _copy(module: nn.Module) -> nn.Module:
    """A plain ``torch.nn`` copy of an MLP (``Linear``/``ReLU`` layers, nested ``Sequential``s)."""
    if isinstance(module, nn.Linear):
        layer = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
        layer.load_state_dict({k: v.detach().clone() for k, v in module.state_dict().items()})
        return layer
    if isinstance(module, nn.ReLU):
        return nn.ReLU()
    if isinstance(module, nn.Sequential):
        return nn.Sequential(*(_copy(m) for m in module))
    if hasattr(module, "networks"):  # networks.Concatenate: the μ and ρ heads
        return nn.ModuleList([_copy(m) for m in module.networks])
    raise TypeError(f"HandWrittenVAE: cannot copy a {type(module).__name__}")


class HandWrittenVAE(nn.Module):
    """A regime's model and guide in plain PyTorch, from a copy of their weights.

    ``bernoulli``: ``q = N(μ(x), exp(ρ(x)))`` (ρ = log σ²; ``softplus(ρ)²`` for a guide with
    ``scale="softplus"``) from a shared ReLU trunk, ``p(z) = N(0, I)``,
    ``p(x | z) = Bernoulli(logits = f(z))``. ``linear``: ``q = N(V x + b, diag τ²)``,
    ``p(x | z) = N(W z + μ₀, σ² I)``.
    """

    def __init__(self, regime: str, model, guide):
        super().__init__()
        self.regime = regime
        self.decoder = _copy(model.decoder)
        self.encoder = _copy(guide.encoder)
        self.log_variance = regime == "bernoulli" and guide.family.scale == "log_variance"
        if regime == "linear":
            self.log_tau = nn.Parameter(guide.family.log_sigma.detach().clone())
            self.log_sigma = nn.Parameter(model.observation.log_sigma.detach().clone())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and standard deviation of ``q(z | x)``."""
        if self.regime == "bernoulli":
            trunk, relu, heads = self.encoder
            h = relu(trunk(x))
            rho = heads[1](h)
            return heads[0](h), torch.exp(0.5 * rho) if self.log_variance else F.softplus(rho)
        return self.encoder(x), self.log_tau.exp().expand(x.shape[0], -1)

    def log_lik(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` for every draw of z, shape (K, N)."""
        out = self.decoder(z)
        if self.regime == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction="none").sum(-1)
        return torch.distributions.Normal(out, self.log_sigma.exp()).log_prob(x).sum(-1)

    def loss(self, x: torch.Tensor, objective: str, k: int) -> torch.Tensor:
        """The negative bound summed over the rows: the ELBO (mean over K reparameterised draws;
        with the KL to ``N(0, I)`` in closed form for ``meanfield``) or the IWAE bound."""
        mean, scale = self.encode(x)
        z = mean + scale * torch.randn((k,) + mean.shape, dtype=x.dtype)
        if objective == "meanfield":
            kl = (0.5 * (scale**2 + mean**2 - 1) - scale.log()).sum(-1)
            return -(self.log_lik(x, z).mean(0) - kl).sum()
        log_q = torch.distributions.Normal(mean, scale).log_prob(z).sum(-1)
        log_prior = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_w = log_prior + self.log_lik(x, z) - log_q
        if objective == "iwae":
            return -(torch.logsumexp(log_w, 0) - math.log(k)).sum()
        return -log_w.mean(0).sum()

    def step_fn(self, objective: str, k: int, lr: float = LR):
        optim = torch.optim.Adam(self.parameters(), lr=lr, fused=True)

        def step(rows):
            optim.zero_grad()
            loss = self.loss(rows, objective, k)
            loss.backward()
            optim.step()
            return loss.item()

        return step


def _stock_step(model, guide, objective: str, k: int, vectorise: bool = True):
    options = dict(num_particles=k, vectorize_particles=vectorise, max_plate_nesting=1)
    loss = (pyro.infer.RenyiELBO(alpha=0, **options) if objective == "iwae"
            else getattr(pyro.infer, STOCK[objective])(**options))
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": LR}), loss)
    return svi.step


def bench_regimes(steps: int, repeats: int, warmup: int = 5, seed: int = 0) -> list[dict]:
    """One row per regime and objective: ``library_ms``, ``library_jit_ms``, ``hand_written_ms``,
    ``stock_ms`` (median ms per step), ``ratio`` and ``jit_ratio`` (library / hand-written),
    ``stock_over_library_jit``; for ``iwae`` also ``stock_loop_ms`` and ``stock_loop_over_library_jit``
    (Pyro's default particle loop; ``None`` for ``elbo``)."""
    rows = []
    for regime, spec in REGIMES.items():
        for objective, k in spec["particles"].items():
            paths = {}
            names = ("library", "library_jit", "hand_written", "stock") + (("stock_loop",) if objective == "iwae" else ())
            for path in names:  # each from the same weights
                pyro.clear_param_store()
                model, guide, x = regime_pair(regime, seed)
                if path.startswith("library"):
                    paths[path] = _library_step_fn(model, guide, objective, LR, k, jit=path == "library_jit")
                elif path.startswith("stock"):
                    paths[path] = _stock_step(model, guide, objective, k, vectorise=path == "stock")
                else:
                    paths[path] = HandWrittenVAE(regime, model, guide).step_fn(objective, k)
            ms = _timed_paths(paths, list(x.split(spec["batch_size"])), steps, repeats, warmup)
            loop = ms.get("stock_loop")
            rows.append({
                "regime": spec["description"], "objective": f"{objective} (K={k})", **_ratios(ms),
                "stock": f"{STOCK[objective]} (K={k})", "stock_ms": ms["stock"],
                "stock_over_library_jit": ms["stock"] / ms["library_jit"],
                "stock_loop_ms": loop, "stock_loop_over_library_jit": loop and loop / ms["library_jit"],
            })
    pyro.clear_param_store()
    return rows


def likelihood_run(num_points: int = 10_000, num_samples: int = 5000, seed: int = 0) -> dict:
    """Time the importance-sampled ``log p(x)`` of the ``bernoulli`` regime's VAE with K =
    ``num_samples`` on ``num_points`` rows of 784 dimensions, and the peak resident memory of
    this process afterwards (GiB; Linux reports it in KiB)."""
    from .evaluation import log_likelihood_per_point

    model, guide, _ = regime_pair("bernoulli", seed)
    x = (torch.rand(num_points, 784, generator=torch.Generator().manual_seed(seed)) < 0.2).to(torch.get_default_dtype())
    start = time.perf_counter()
    value = log_likelihood_per_point(model, x, guide=guide, num_samples=num_samples, exact=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"points": num_points, "dim": 784, "samples": num_samples, "seconds": seconds,
            "mean_log_likelihood": value.mean().item(), "peak_rss_gib": peak}
