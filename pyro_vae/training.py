"""``fit``: stochastic variational inference over a data set, with guard rails.

The step is Pyro's ``SVI.step`` written out, so that a non-finite loss or gradient is caught
*before* the optimiser touches the parameters: the run stops with
:class:`~pyro_vae.errors.DivergenceError` and the last good parameters stay in place.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pathlib
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import pyro
import pyro.optim
import torch
from pyro import poutine
from pyro.infer import ELBO
from pyro.optim.clipped_adam import ClippedAdam
from torch import nn
from torch.nn.utils import get_total_norm
from tqdm import tqdm

from . import checkpoint as checkpoints
from . import rng
from .enumeration import check_enumerable, log_marginal
from .errors import ConfigError, DivergenceError
from .families import Family
from .objectives import COMPILED, make_objective, score_function_sites
from .pairing import check_pair, display_name
from .validation import (
    check_data,
    check_device,
    check_dtype,
    check_inputs,
    check_non_negative_number,
    check_positive_int,
    check_positive_number,
    check_seed,
)

#: The fewest steps for which ``fit`` compiles the objective by default.
JIT_MIN_STEPS = 200

#: The learning rate of a named optimizer when ``fit`` is given none.
DEFAULT_LR = 1e-3

#: Optimisers by name: torch optimisers, each run as one instance over every trained parameter.
OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "clipped_adam": ClippedAdam,
    "sgd": torch.optim.SGD,
}


@dataclass
class History:
    """What ``fit`` did: the per-step ELBO estimate and the periodic evaluations.

    ``elbo[i]`` is the objective's value at ``steps[i]`` in nats per data point (the negated
    loss of that mini-batch divided by its size); ``evaluations`` holds ``{"step": s, ...}``
    rows from the ``evaluate`` callback; ``compiled`` says whether every mini-batch shape ran
    compiled (``jit``).
    """

    steps: list[int] = field(default_factory=list)
    elbo: list[float] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)
    runtime_s: float = 0.0
    objective: str = ""
    compiled: bool = False

    @property
    def time_per_step_s(self) -> float:
        return self.runtime_s / max(len(self.steps), 1)


def _compiles_by_default(objective: str, estimator: str, model, guide, steps: int, freeze=()) -> bool:
    """``fit``'s default for ``jit``: a trace is only as correct as the model is static, which
    is known for the library's own code; compiling takes 0.4–2 s, repaid over many steps. Not
    with frozen modules: Pyro's traces fail on parameters frozen after registration. (Nor
    ``tracegraph`` for a guide with score-function sites: :func:`_has_score_function_sites`.)"""
    return (objective in COMPILED and estimator != "dreg" and steps >= JIT_MIN_STEPS and not freeze
            and _library_code(model) and _library_code(guide))


def _has_score_function_sites(guide, rows) -> bool:
    """Whether the guide samples a latent without reparameterisation, whose ``tracegraph``
    baselines Pyro updates outside a trace. A guide that fails on ``rows`` counts as one, so it
    runs uncompiled; :func:`~pyro_vae.pairing.check_pair` then says what is wrong."""
    try:
        return bool(score_function_sites(guide, rows))
    except Exception:  # noqa: BLE001 -- reported by check_pair before any step
        return True


def _library_code(fn) -> bool:
    """Whether ``fn`` is a module built only of the library's classes, torch's layers and the
    library's functions (a guide's ``input_transform``), so that its structure is static."""
    if not isinstance(fn, nn.Module):
        return False
    for module in fn.modules():
        cls = type(module)
        if cls.__module__ == "pyro.nn.module":  # PyroModule[C] made by to_pyro_module_: judge C
            cls = cls.__mro__[1]
        if not cls.__module__.startswith(("pyro_vae.", "torch.nn.")):
            return False
        functions = [v for v in vars(module).values()
                     if callable(v) and not isinstance(v, (nn.Module, type, torch.distributions.Distribution))]
        if not all(getattr(f, "__module__", "").startswith("pyro_vae.") for f in functions):
            return False
    return True


def _frozen_parameters(freeze, model, guide) -> list[nn.Parameter]:
    """The parameters of the modules in ``freeze``, each a part of ``model`` or ``guide`` (checked
    when both are modules; the modules a plain function uses cannot be told)."""
    pair = [fn for fn in (model, guide) if isinstance(fn, nn.Module)]
    frozen = []
    for item in freeze:
        if not isinstance(item, nn.Module):
            raise ConfigError(
                f"freeze: expected modules (e.g. freeze=[model]), got {type(item).__name__}"
            )
        params = list(item.parameters())
        if not params:
            raise ConfigError(f"freeze: {display_name(item)} has no parameters to freeze")
        if len(pair) == 2 and not any(item is part for fn in pair for part in fn.modules()):
            raise ConfigError(f"freeze: {display_name(item)} is neither the model {display_name(model)}, the guide "
                              f"{display_name(guide)}, nor a part of them")
        frozen.extend(params)
    return frozen


def fit(
    model,
    guide,
    x: torch.Tensor,
    objective: str | ELBO = "elbo",
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    optimizer: str | pyro.optim.PyroOptim = "adam",
    num_particles: int = 1,
    beta: float = 1.0,
    estimator: str = "standard",
    jit: bool | None = None,
    seed: int | None = None,
    device: str | torch.device | None = None,
    freeze: Iterable[nn.Module] = (),
    evaluate_every: int | None = None,
    evaluate: Callable[[], dict] | None = None,
    progress: bool | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
) -> History:
    """Train ``model`` and ``guide`` by SVI on the rows of ``x``; return a :class:`History`.

    :param objective: a name from :data:`pyro_vae.objectives.OBJECTIVES` or any Pyro ELBO.
    :param steps: number of SVI steps; or give ``epochs`` (passes over shuffled mini-batches).
    :param batch_size: rows per step; all rows by default.
    :param lr: learning rate of a named ``optimizer`` ("adam", "clipped_adam" or "sgd"), 10⁻³ by
        default; a ``pyro.optim.PyroOptim`` carries its own, so ``lr`` is refused with one.
    :param num_particles: Monte-Carlo particles per step (K for ``iwae``).
    :param beta: weight of the latent terms (β-VAE); only with a named objective.
    :param estimator: the gradient estimator of ``iwae``: ``standard``, ``stl`` or ``dreg``.
    :param jit: compile the objective once per mini-batch shape (every objective but ``disarm``,
        and ``iwae`` not with ``dreg``; see :func:`~pyro_vae.objectives.make_objective`). By default
        (``None``) only where it is known to be correct and to pay: models and guides built only
        of the library's own code, whose structure is static, without ``freeze``, for runs of at
        least :data:`JIT_MIN_STEPS` steps, and ``tracegraph`` only for guides without
        score-function sites.
    :param seed: seeds Pyro, torch and the mini-batch order.
    :param device: moves model, guide and data there ("cpu", "cuda").
    :param freeze: a list of modules, parts of the model or the guide, whose parameters stay
        fixed (seed 000 §4.1 pre-trains the encoder with ``freeze=[model]``).
    :param evaluate_every: call ``evaluate()`` every this many steps (and at the end); the two
        come together;
        its dict is stored in ``History.evaluations`` with the step. Each call draws from a
        stream of its own (:func:`pyro_vae.rng.evaluation_stream`), so as long as ``evaluate``
        changes no parameter, a run takes the same steps with any ``evaluate_every`` or none.
    :param progress: a tqdm bar; by default only when stderr is a terminal.
    :param checkpoint: a file to write the run's state to every ``checkpoint_every`` steps (1000) and
        at the end (:mod:`pyro_vae.checkpoint`). If it exists, the run resumes from it and
        continues exactly as the uninterrupted run would have, given the same model, guide,
        data and settings (``seed`` included; other settings are refused before any step). The
        returned :class:`History` covers the whole run; evaluations come back as JSON values.

    Losses are sums over the mini-batch, so Adam's step does not depend on the batch size;
    ``History.elbo`` reports nats per data point. Pyro's param store is not cleared.
    """
    check_data(model, x)
    if (steps is None) == (epochs is None):
        raise ConfigError("give exactly one of steps= or epochs=")
    steps, epochs, batch_size, evaluate_every, checkpoint_every = (
        check_positive_int(name, value, allow_none=True)
        for name, value in (("steps", steps), ("epochs", epochs), ("batch_size", batch_size),
                            ("evaluate_every", evaluate_every), ("checkpoint_every", checkpoint_every)))
    if batch_size is not None and batch_size > x.shape[0]:
        raise ConfigError(f"batch_size={batch_size} exceeds the {x.shape[0]} data points")
    if seed is not None:
        seed = check_seed(seed)
    if device is not None:
        device = torch.device(check_device(device))
    if (evaluate_every is None) != (evaluate is None):
        raise ConfigError("evaluate_every= and evaluate= go together: evaluate() is called every evaluate_every steps")
    if checkpoint_every is not None and checkpoint is None:
        raise ConfigError("checkpoint_every= needs a checkpoint= file to write to")
    checkpoint_every = checkpoint_every or 1000
    if isinstance(optimizer, pyro.optim.PyroOptim) and lr is not None:
        raise ConfigError(f"lr={lr!r} would be unused: the optimizer is a pyro.optim.PyroOptim, which carries its "
                          "own learning rate")
    lr = check_positive_number("lr", DEFAULT_LR if lr is None else lr)
    num_particles, beta = check_positive_int("num_particles", num_particles), check_positive_number("beta", beta)
    if evaluate is not None and not callable(evaluate):
        raise ConfigError(f"evaluate must be a callable returning a dict of numbers, got {type(evaluate).__name__}")
    if isinstance(freeze, nn.Module):
        raise ConfigError(f"freeze: expected a list of modules, e.g. freeze=[{display_name(freeze)}]")
    freeze = tuple(freeze)  # read twice below: a generator would be empty the second time
    if jit is not None and not isinstance(jit, bool):
        raise ConfigError(f"jit must be True, False or None, got {jit!r}")
    n = x.shape[0]
    batch = min(batch_size or n, n)
    per_epoch = math.ceil(n / batch)
    total = steps if steps is not None else epochs * per_epoch
    jit_by_default = jit is None
    if isinstance(objective, str):
        objective_name = objective
        if jit_by_default:
            jit = _compiles_by_default(objective, estimator, model, guide, total, freeze)
        named = functools.partial(make_objective, objective, num_particles=num_particles, beta=beta,
                                  estimator=estimator)
        elbo = named(jit=jit)
    elif isinstance(objective, ELBO):
        if beta != 1.0 or num_particles != 1 or estimator != "standard" or jit:
            raise ConfigError("beta=, num_particles=, estimator= and jit= apply to named objectives; set them on "
                              "your ELBO")
        objective_name, elbo = type(objective).__name__, objective
    else:
        raise ConfigError(f"objective must be a name or a pyro.infer.ELBO, got {type(objective).__name__}")
    optim = make_optimiser(optimizer, lr)
    frozen_params = _frozen_parameters(freeze, model, guide)
    if checkpoint is not None:
        checkpoint = _checkpoint_path(checkpoint)

    if device is not None:
        x = x.to(device)
        for fn in (model, guide):
            if isinstance(fn, nn.Module):
                fn.to(device)
    check_dtype(x, model, guide)
    if jit and jit_by_default and objective_name == "tracegraph" and _has_score_function_sites(guide, x[:8]):
        jit, elbo = False, named(jit=False)
    saved_state = None
    if checkpoint is not None:
        run_settings = {
            "objective": objective_name, "num_particles": num_particles, "beta": beta, "estimator": estimator,
            "jit": bool(jit), **_optimiser_settings(optimizer, lr), "steps": total, "batch_size": batch,
            "seed": seed, "device": str(x.device), "evaluate_every": evaluate_every,
            "model": _kind(model), "guide": _kind(guide), "frozen": len(frozen_params),
            "data": checkpoints.data_digest(x),
        }
        if checkpoint.exists():
            saved_state = checkpoints.load(checkpoint, run_settings)
    if seed is not None:
        pyro.set_rng_seed(seed)
    check_pair(model, guide, x[: min(len(x), 8)])
    with rng.preserved(x.device):
        sites = score_function_sites(guide, x[: min(len(x), 8)]) if objective_name == "meanfield" else []
    if sites:
        raise ConfigError(f"meanfield (TraceMeanField_ELBO) needs a guide that samples every latent by "
                          f"reparameterisation; {display_name(guide)} samples {sites} without: use elbo, "
                          "tracegraph or enum")
    own_params = checkpoints.parameters_of(model, guide, x[: min(len(x), 8)]) if checkpoint is not None else None

    if progress is None:
        progress = sys.stderr.isatty()

    history = History(objective=objective_name)
    order = torch.arange(n, device=x.device)
    done = 0
    if saved_state is not None:
        order = checkpoints.restore(saved_state, (model, guide), optim, x.device)
        history = History(**json.loads(saved_state["history"]))
        done = saved_state["step"]
    runtime_before, compiled_before = history.runtime_s, history.compiled

    def compiled() -> bool:  # every mini-batch shape ran compiled, before a resume and after it
        now = bool(getattr(elbo, "compiled", False))
        if done == 0:
            return now
        return compiled_before and (now or history.steps[-1] == done)  # no step since the resume

    saved_flags = [p.requires_grad for p in frozen_params]
    for p in frozen_params:
        p.requires_grad_(False)
    start = time.perf_counter()
    try:
        bar = tqdm(range(done + 1, total + 1), initial=done, total=total, disable=not progress,
                   desc=objective_name, leave=False)
        for step in bar:
            k = (step - 1) % per_epoch
            if k == 0 and batch < n:
                order = torch.randperm(n, device=x.device)
            rows = x if batch == n else x[order[k * batch : (k + 1) * batch]]
            loss = _guarded_step(elbo, optim, model, guide, rows, step, history)
            history.steps.append(step)
            history.elbo.append(-loss / rows.shape[0])
            if progress and step % 50 == 0:
                bar.set_postfix(elbo=f"{history.elbo[-1]:.4f}")
            if evaluate_every and (step % evaluate_every == 0 or step == total):
                with rng.evaluation_stream(x.device):
                    values = evaluate()
                if not isinstance(values, Mapping):
                    raise ConfigError(f"evaluate() must return a dict of numbers, returned {type(values).__name__} "
                                      f"at step {step}")
                history.evaluations.append({"step": step, **values})
            if checkpoint is not None and (step % checkpoint_every == 0 or step == total):
                history.runtime_s = runtime_before + time.perf_counter() - start
                history.compiled = compiled()
                checkpoints.save(checkpoint, settings=run_settings, step=step, order=order, modules=(model, guide),
                                 params=own_params, optim=optim, history=history)
    finally:
        for p, flag in zip(frozen_params, saved_flags):
            p.requires_grad_(flag)
        history.runtime_s = runtime_before + time.perf_counter() - start
        history.compiled = compiled()
    return history


def _kind(fn) -> str:
    """What a model or guide is, without its instance's param-store name: its class and the
    :meth:`~pyro_vae.families.Family.structure` of the families in it."""
    kind = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    families = [m.structure() for m in fn.modules() if isinstance(m, Family)] if isinstance(fn, nn.Module) else []
    return f"{kind} ({'; '.join(families)})" if families else kind


def _checkpoint_path(checkpoint) -> pathlib.Path:
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise ConfigError(f"checkpoint must be a file path, got {type(checkpoint).__name__}")
    path = pathlib.Path(checkpoint)
    if path.is_dir():
        raise ConfigError(f"checkpoint: {str(path)!r} is a folder; give a file name such as run.pt")
    existing = next(p for p in path.absolute().parents if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"checkpoint: {str(existing)!r} is not a folder, so {str(path)!r} cannot be written")
    return path


def _optimiser_settings(optimizer, lr: float) -> dict:
    """What a checkpoint records of the optimiser: its name and ``lr``, or a ``PyroOptim``'s
    torch class and arguments (which carry its learning rate; ``lr`` is then unused)."""
    if isinstance(optimizer, str):
        return {"optimizer": optimizer, "lr": lr}
    args = optimizer.pt_optim_args
    return {"optimizer": f"{type(optimizer).__name__}({optimizer.pt_optim_constructor.__name__})",
            "optimizer_args": "a callable" if callable(args) else repr(args), "lr": None}


class SharedOptimiser:
    """One torch optimiser over every trained parameter, called like a ``PyroOptim``.

    Parameters join it as they first appear in a step; those not in a step are left alone, as
    Pyro leaves them; those the param store has replaced by another tensor of the same name
    (tracegraph's decaying-average baselines, every step) are dropped. Pyro's ``PyroOptim``
    keeps one optimiser per parameter; for the 0.7 M parameters of a 784-400-50 VAE one fused
    Adam step takes 0.5 ms against 3.0 ms. Adam's update is elementwise, so the trajectory is
    the same.
    """

    def __init__(self, optimiser_class: type[torch.optim.Optimizer], lr: float):
        self.optimiser_class, self.lr = optimiser_class, lr
        self.optimiser: torch.optim.Optimizer | None = None
        self._known: dict[int, torch.Tensor] = {}
        self._waiting: dict | None = None

    def get_state(self) -> dict:
        """The optimiser's state with its parameters by param-store name (as ``PyroOptim``'s);
        parameters no longer in the store are dropped first."""
        if self.optimiser is None:
            return {"names": [], "optimiser": None}
        store, replaced = pyro.get_param_store(), _replaced_in_store()
        self._forget([p for p in self._known.values() if replaced(p) or store.param_name(p) is None])
        name = store.param_name
        return {"names": [[name(p) for p in group["params"]] for group in self.optimiser.param_groups],
                "optimiser": self.optimiser.state_dict()}

    def set_state(self, state: dict) -> None:
        """Take a :meth:`get_state` back; applied at the next step, when the parameters exist."""
        self._waiting = state if state["names"] else None

    def __call__(self, params: list[torch.Tensor]) -> None:
        if self._waiting is not None:
            self._restore(self._waiting)
            self._waiting = None
        replaced = _replaced_in_store()
        params = [p for p in params if not replaced(p)]  # e.g. baselines, replaced during the step
        if self.optimiser is not None:
            self._forget([p for p in self._known.values() if replaced(p)])
        in_step = {id(p) for p in params}
        new = [p for p in params if id(p) not in self._known]
        if new:
            self._known.update((id(p), p) for p in new)
            if self.optimiser is None:
                self.optimiser = self.optimiser_class(new, lr=self.lr, **_fused(self.optimiser_class, new))
            else:
                self.optimiser.add_param_group({"params": new})
        if self.optimiser is None:  # nothing to train
            return
        for key, p in self._known.items():
            if key not in in_step:
                p.grad = None  # torch skips it; a zero gradient would still move it by momentum
        self.optimiser.step()

    def _forget(self, params: list[torch.Tensor]) -> None:
        if not params:
            return
        removed = {id(p) for p in params}
        for key in removed:
            self.optimiser.state.pop(self._known.pop(key), None)
        for group in self.optimiser.param_groups:
            group["params"] = [p for p in group["params"] if id(p) not in removed]
        self.optimiser.param_groups = [group for group in self.optimiser.param_groups if group["params"]]

    def _restore(self, state: dict) -> None:
        by_name = dict(pyro.get_param_store().named_parameters())
        groups = [[by_name[name] for name in names] for names in state["names"]]
        self._known = {id(p): p for group in groups for p in group}
        self.optimiser = self.optimiser_class(groups[0], lr=self.lr, **_fused(self.optimiser_class, groups[0]))
        for group in groups[1:]:
            self.optimiser.add_param_group({"params": group})
        self.optimiser.load_state_dict(state["optimiser"])


def _replaced_in_store() -> Callable[[torch.Tensor], bool]:
    """A test of whether a tensor has a name in Pyro's param store that now holds another tensor
    (the store replaces tracegraph's baselines every step, or deletes them)."""
    store = pyro.get_param_store()
    current = dict(store.named_parameters())

    def replaced(p: torch.Tensor) -> bool:
        name = store.param_name(p)
        return name is not None and current.get(name) is not p

    return replaced


def _fused(optimiser_class, params) -> dict:
    """torch's single-kernel implementation where it has one for these parameters."""
    if optimiser_class in (torch.optim.Adam, torch.optim.SGD) and all(
        p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64) for p in params
    ):
        return {"fused": True}
    return {}


def make_optimiser(optimizer: str | pyro.optim.PyroOptim, lr: float):
    """A name from :data:`OPTIMIZERS` as a :class:`SharedOptimiser`, or the user's ``PyroOptim``."""
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        return SharedOptimiser(OPTIMIZERS[optimizer], lr)
    if isinstance(optimizer, pyro.optim.PyroOptim):
        return optimizer
    raise ConfigError(f"optimizer must be a name or a pyro.optim.PyroOptim, got {type(optimizer).__name__}")


def _guarded_step(elbo, optim, model, guide, rows, step, history) -> float:
    """One SVI step that refuses to apply non-finite gradients; frozen parameters (those with
    ``requires_grad`` off) are left out of the update."""
    try:
        with poutine.trace(param_only=True) as capture:
            loss = elbo.loss_and_grads(model, guide, rows)
    except ValueError as e:
        # Pyro validates distribution arguments: non-finite network outputs surface here.
        if "found invalid values" not in str(e):
            raise
        raise DivergenceError(
            f"training diverged at step {step}: a distribution received non-finite parameters "
            f"({str(e).strip().splitlines()[0]}); stopped, and the parameters of step {step - 1} "
            "were kept (try a smaller lr or check the data)",
            history,
        ) from e
    params = [site["value"].unconstrained() for site in capture.trace.nodes.values()]
    params = [p for p in params if p.requires_grad]
    bad = None
    if not math.isfinite(loss):
        bad = f"loss is {loss}"
    elif not torch.isfinite(get_total_norm([p.grad for p in params if p.grad is not None])):
        for name, site in capture.trace.nodes.items():
            g = site["value"].unconstrained().grad
            if g is not None and not torch.isfinite(g).all():
                bad = f"gradient of parameter {name!r} is not finite"
                break
    if bad is not None:
        _clear_grads(params)
        raise DivergenceError(
            f"training diverged at step {step}: {bad}; stopped, and the parameters of step "
            f"{step - 1} were kept (try a smaller lr or check the data)",
            history,
        )
    optim(params)
    _clear_grads(site["value"].unconstrained() for site in capture.trace.nodes.values())
    return loss


def _clear_grads(params) -> None:
    """Drop the gradients (torch's ``zero_grad(set_to_none=True)``): the next backward pass
    then takes its gradient buffers as they are, instead of adding them to zeros. A parameter
    that gets no gradient in a later step is therefore not moved by the optimiser's momentum,
    as :class:`SharedOptimiser` also leaves it (Pyro's ``SVI`` zero-fills and moves it)."""
    for p in params:
        p.grad = None


def fit_max_likelihood(model, x: torch.Tensor, max_iter: int = 500, tolerance: float = 1e-9) -> float:
    """Maximise the exact log-likelihood of a model with a discrete latent by L-BFGS.

    The sum over the latent is exact (:func:`~pyro_vae.enumeration.log_marginal`), so this is
    plain maximum likelihood, deterministic and full-batch; returns the final mean
    log-likelihood in nats per data point.
    """
    check_positive_int("max_iter", max_iter)
    check_non_negative_number("tolerance", tolerance)
    check_inputs(model, None, x)
    check_enumerable(model, x, "fit_max_likelihood")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError(f"{display_name(model)} has no trainable parameters")
    opt = torch.optim.LBFGS(
        params, max_iter=max_iter, tolerance_grad=tolerance, tolerance_change=tolerance,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = -log_marginal(model, x).mean()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        value = log_marginal(model, x).mean().item()
    if not math.isfinite(value):
        raise DivergenceError(f"maximum-likelihood fit of {display_name(model)} diverged")
    return value
