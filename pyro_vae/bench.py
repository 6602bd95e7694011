"""``pyro-vae bench``: the time of one SVI step through the library vs the same step hand-written.

SPEC "Performance": *ratio = time per SVI step / the same computation hand-written in plain
PyTorch, same networks, same estimator*. The regime here is E1 (seed 000 §4.1) at its default
settings: a 4-component Gaussian mixture in R², the factorised 2-bit encoder with hidden layers
(64, 64), mini-batches of 1000 rows, Adam with lr 1e-3, model and guide trained jointly.

* the **library** step is the step of :func:`~pyro_vae.fit` (``_guarded_step``: Pyro's
  ``SVI.step`` written out, with its finiteness checks) on
  :class:`~pyro_vae.models.GaussianMixture` and :class:`~pyro_vae.guides.FactorisedBernoulli`,
  with :func:`~pyro_vae.objectives.make_objective` and fit's Adam (one fused torch Adam), once
  uncompiled and once with ``jit=True``;
* the **hand-written** step is :class:`HandWrittenE1`: the same networks as plain ``torch.nn``
  modules starting from a copy of the same weights, the loss written out in torch, and
  one fused ``torch.optim.Adam``, the optimiser the library uses.

All paths see the same mini-batches of the same data. Each is warmed up, then timed with
``time.perf_counter`` over ``steps`` steps; the paths take turns, ``repeats`` times, and the
median time per step of each is reported. No test measures time: the tests check only that the
library and the hand-written paths compute the same loss.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable

import pyro
import torch
import torch.nn.functional as F
from torch import nn

from . import results
from .errors import ConfigError
from .families import code_bits
from .objectives import make_objective
from .training import History, _guarded_step, make_optimiser

__all__ = ["BENCH_OBJECTIVES", "HandWrittenE1", "available_cpus", "bench_gmm", "markdown_table"]

#: The objectives timed, with what the hand-written step computes for each.
BENCH_OBJECTIVES = {
    "enum": "exact ELBO, summed over the 4 codes",
    "elbo": "Trace_ELBO: 1 particle, score-function gradient for the code, no baseline",
}

#: The columns both benchmark tables share: what was timed, and the library beside hand-written.
_TIMING_COLUMNS = (
    ("regime", "regime"),
    ("objective", "objective"),
    ("library_ms", "library (ms/step)"),
    ("library_jit_ms", "library, jit (ms/step)"),
    ("hand_written_ms", "hand-written (ms/step)"),
    ("ratio", "ratio"),
    ("jit_ratio", "ratio, jit"),
)
_COLUMNS = (*_TIMING_COLUMNS, ("loss_difference", "|loss difference| (nats)"))


class HandWrittenE1(nn.Module):
    """E1's model and factorised guide in plain PyTorch: the reference the library is timed against.

    ``p(z) = 1/K``, ``p(x | z) = N(x | decoder(onehot z), σ² I)``, and
    ``q(z | x) = Π_j Bernoulli(b_j(z) | sigmoid(encoder(x)_j))`` with ``b(z)`` the bits of
    code z, most significant first. The networks are plain ``nn.Linear`` / ``nn.ReLU``
    stacks with a copy of the weights of ``model`` and ``guide``; nothing is shared with them.
    """

    def __init__(self, model, guide):
        super().__init__()
        k, d = model.centres.shape
        self.num_codes, self.sigma = k, float(model.sigma)
        self.decoder = nn.Linear(k, d, bias=False)
        layers = []
        for layer in guide.encoder:
            if isinstance(layer, nn.Linear):
                layers.append(nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None))
            elif isinstance(layer, nn.ReLU):
                layers.append(nn.ReLU())
            else:
                raise TypeError(f"HandWrittenE1: unexpected encoder layer {type(layer).__name__}")
        self.encoder = nn.Sequential(*layers)
        with torch.no_grad():
            self.decoder.load_state_dict({k: v.detach().clone() for k, v in model.decoder.state_dict().items()})
            self.encoder.load_state_dict({k: v.detach().clone() for k, v in guide.encoder.state_dict().items()})
        bits = guide.family.bits
        self.register_buffer("bits", code_bits(bits))  # (K, m), most significant bit first
        self.register_buffer("place_values", 2 ** torch.arange(bits - 1, -1, -1))

    def log_lik(self, x: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
        """``log N(x | means, σ² I)``, summed over the coordinates of x."""
        s = self.sigma
        return (-0.5 * ((x - means) / s) ** 2).sum(-1) - x.shape[-1] * (math.log(s) + 0.5 * math.log(2 * math.pi))

    def log_q_bits(self, logits: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """``log Π_j q(b_j)`` with ``q(b_j = 1) = sigmoid(logits_j)``."""
        return (bits * F.logsigmoid(logits) + (1 - bits) * F.logsigmoid(-logits)).sum(-1)

    def enum_loss(self, x: torch.Tensor) -> torch.Tensor:
        """``−Σ_n Σ_z q(z | x_n) [log p(x_n, z) − log q(z | x_n)]``: the exact negative ELBO."""
        means = self.decoder(torch.eye(self.num_codes, dtype=x.dtype, device=x.device))  # (K, D)
        log_p = self.log_lik(x[:, None, :], means) - math.log(self.num_codes)  # (N, K)
        log_q = self.log_q_bits(self.encoder(x)[:, None, :], self.bits)  # (N, K)
        return -(log_q.exp() * (log_p - log_q)).sum()

    def elbo_losses(self, x: torch.Tensor, code: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One code per row drawn from q (or the given ``code``); returns ``(loss, surrogate)``
        as Trace_ELBO builds them.

        ``loss = −Σ_n [log p(x_n, z_n) − log q(z_n | x_n)]``; the surrogate's gradient is the
        score-function estimator without baseline,
        ``−Σ_n [∇ log p(x_n, z_n) + ∇ log q(z_n | x_n) · (log p − log q)(x_n, z_n)]``
        (the pathwise ``−∇ log q`` term has expectation zero and Trace_ELBO leaves it out).
        """
        logits = self.encoder(x)
        with torch.no_grad():
            if code is None:
                bits = torch.bernoulli(torch.sigmoid(logits))
                code = (bits * self.place_values).sum(-1).long()
            else:
                bits = self.bits[code]
        means = self.decoder(F.one_hot(code, self.num_codes).to(x.dtype))
        log_p = self.log_lik(x, means) - math.log(self.num_codes)
        log_q = self.log_q_bits(logits, bits)
        log_r = (log_p - log_q).detach()
        return -log_r.sum(), -(log_p.sum() + (log_q * log_r).sum())

    def step_fn(self, objective: str, lr: float) -> Callable[[torch.Tensor], float]:
        """A training step ``rows -> loss`` with one fused ``torch.optim.Adam`` over all the parameters."""
        optim = torch.optim.Adam(self.parameters(), lr=lr, fused=True)

        def step(rows: torch.Tensor) -> float:
            optim.zero_grad()
            if objective == "enum":
                loss = surrogate = self.enum_loss(rows)
            else:
                loss, surrogate = self.elbo_losses(rows)
            surrogate.backward()
            optim.step()
            return loss.item()

        return step


def _library_step_fn(model, guide, objective: str, lr: float, num_particles: int = 1, jit: bool = False
                     ) -> Callable[[torch.Tensor], float]:
    """A training step ``rows -> loss`` exactly as :func:`~pyro_vae.fit` takes it."""
    elbo = make_objective(objective, num_particles, jit=jit)
    optim = make_optimiser("adam", lr)
    history = History(objective=objective)
    counter = iter(range(1, 2**62))

    def step(rows: torch.Tensor) -> float:
        return _guarded_step(elbo, optim, model, guide, rows, next(counter), history)

    return step


def _timed_paths(paths: dict, batches, steps: int, repeats: int, warmup: int) -> dict[str, float]:
    """Median milliseconds per step of each path; the paths take turns, ``repeats`` times."""
    for step in paths.values():
        for i in range(warmup):
            step(batches[i % len(batches)])
    seconds = {path: [] for path in paths}
    for _ in range(repeats):
        for path, step in paths.items():
            seconds[path].append(_time_per_step(step, batches, steps))
    return {path: 1e3 * statistics.median(values) for path, values in seconds.items()}


def _ratios(ms: dict[str, float]) -> dict:
    """The library's times (uncompiled and ``jit=True``) beside the hand-written step's."""
    return {"library_ms": ms["library"], "library_jit_ms": ms["library_jit"], "hand_written_ms": ms["hand_written"],
            "ratio": ms["library"] / ms["hand_written"], "jit_ratio": ms["library_jit"] / ms["hand_written"]}


def _time_per_step(step, batches, steps: int) -> float:
    """Seconds per call of ``step``, over ``steps`` calls cycling through ``batches``."""
    start = time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    return (time.perf_counter() - start) / steps


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"bench: {name} must be a positive int, got {value!r}")


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def bench_gmm(
    steps: int,
    repeats: int,
    batch_size: int = 1000,
    seed: int = 0,
    warmup: int = 10,
    threads: int | None = None,
) -> list[dict]:
    """Time per SVI step of E1 (seed 000 §4.1), library vs hand-written PyTorch; one row per objective.

    :param steps: steps per timed repetition.
    :param repeats: timed repetitions of each path; the median is reported.
    :param batch_size: rows per step (E1's default: 1000, of 10000).
    :param seed: seeds the data, the initial weights and the sampled codes.
    :param warmup: untimed steps of each path before the first repetition.
    :param threads: ``torch.set_num_threads`` during the run, restored after it; by default
        the CPUs this process may use. On a machine busy with other work, fewer threads than
        CPUs avoid timing the contention between threads instead of the step.

    Each row: ``regime``, ``objective``, ``library_ms``, ``library_jit_ms`` (``jit=True``) and
    ``hand_written_ms`` (median time per step in milliseconds), ``ratio`` and ``jit_ratio``
    (library / hand-written), ``loss`` (the library's loss
    of the first batch at the initial parameters, nats summed over the batch), and
    ``loss_difference``, the absolute difference between that loss and the hand-written one
    at the same parameters (``enum`` only: the ``elbo`` losses are single-sample estimates, so
    they are ``None`` there), and ``threads``. Pyro's param store is not cleared.
    """
    # E1's settings come from its experiment's default Config (imported here, not at module
    # level: the library proper does not depend on the experiments).
    from .data import gmm_centres, gmm_toy
    from .experiments.gmm import Config
    from .guides import FactorisedBernoulli
    from .models import GaussianMixture

    threads = available_cpus() if threads is None else threads
    for name, value in (("steps", steps), ("repeats", repeats), ("batch_size", batch_size),
                        ("warmup", warmup), ("threads", threads)):
        _check_positive_int(name, value)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"bench: seed must be a non-negative int, got {seed!r}")
    config = Config()
    if batch_size > config.n_train:
        raise ConfigError(f"bench: batch_size must be at most the {config.n_train} training rows, got {batch_size}")

    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        centres = gmm_centres(config.radius)
        x = gmm_toy(config.n_train, seed=seed, centres=centres, sigma=config.sigma).x
        order = torch.randperm(config.n_train, generator=torch.Generator().manual_seed(seed))
        batches = [x[order[i : i + batch_size]] for i in range(0, config.n_train - batch_size + 1, batch_size)]
        rows = []
        for objective in BENCH_OBJECTIVES:
            pyro.set_rng_seed(seed)
            model = GaussianMixture(centres, config.sigma)
            guide = FactorisedBernoulli(centres.shape[1], 2, config.hidden)
            paths = {"library": _library_step_fn(model, guide, objective, config.lr),
                     "library_jit": _library_step_fn(model, guide, objective, config.lr, jit=True),
                     "hand_written": HandWrittenE1(model, guide).step_fn(objective, config.lr)}
            # The library's and the hand-written first steps start from the same parameters.
            first = {path: step(batches[0]) for path, step in paths.items() if path != "library_jit"}
            ms = _timed_paths(paths, batches, steps, repeats, warmup)
            rows.append({
                "regime": f"E1 gmm, batch {batch_size}",
                "objective": objective,
                **_ratios(ms),
                "loss": first["library"],
                "loss_difference": abs(first["library"] - first["hand_written"]) if objective == "enum" else None,
                "threads": threads,
            })
    finally:
        torch.set_num_threads(saved_threads)
    return rows


VAE_COLUMNS = (
    *_TIMING_COLUMNS,
    ("stock", "stock Pyro"),
    ("stock_ms", "stock, vectorised particles (ms/step)"),
    ("stock_over_library_jit", "stock / library, jit"),
    ("stock_loop_ms", "stock, particle loop (Pyro's default; ms/step)"),
    ("stock_loop_over_library_jit", "particle loop / library, jit"),
)


def markdown_table(rows: list[dict], columns=_COLUMNS) -> str:
    """The rows of :func:`bench_gmm` (or, with :data:`VAE_COLUMNS`, of
    :func:`~pyro_vae.bench_vae.bench_regimes`) as a Markdown table."""
    header = [title for _, title in columns]
    return "\n".join(results.markdown_table(header, [[row.get(key) for key, _ in columns] for row in rows]))
