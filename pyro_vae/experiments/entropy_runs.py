"""What E4–E6 (seed 002, Fig. 1–2) share: train a Gaussian VAE by the ELBO while tracking
the three entropies, summarise the relative gap over runs, and draw Fig. 1-style panels."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import numpy as np
from matplotlib.figure import Figure

from pyro_vae import plots
from pyro_vae.entropies import entropy_monitor
from pyro_vae.objectives import OBJECTIVES

from .multirun import quartiles
from .tracking import fit_tracked, track_table

#: The training objective of E4–E6: the ELBO with its KL term in closed form, as seed 002's
#: Listing 1 (App. C.3) computes the bound it trains (``kl_divergence(q_z, p_z)``).
OBJECTIVE = "meanfield"
#: How the results files of E4–E6 name it.
TRAINED_BY = f"{OBJECTIVE} ({OBJECTIVES[OBJECTIVE]}), as in seed 002's Listing 1"


def train_tracked(
    model,
    guide,
    x,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    num_particles: int,
    eval_samples: int,
    evaluate_every: int,
    seed: int,
    extra: Callable[[], dict] | None = None,
    checkpoint: pathlib.Path | None = None,
) -> dict[str, list[float]]:
    """Train by :data:`OBJECTIVE`; at step 0 and every ``evaluate_every`` steps record the sampled
    ELBO on ``x``, the three entropies, their relative gap, and whatever ``extra()`` returns.
    With ``checkpoint``, the fit keeps its state there and resumes from it (:func:`~pyro_vae.fit`).

    Returns columns: ``{"step": [...], "elbo": [...], "three_entropies": [...], ...}``.
    """
    monitor = entropy_monitor(model, guide, x, num_samples=eval_samples)

    def evaluate():
        return {**monitor(), **(extra() if extra else {})}

    return fit_tracked(model, guide, x, evaluate, objective=OBJECTIVE, steps=steps, batch_size=batch_size, lr=lr,
                       num_particles=num_particles, seed=seed, evaluate_every=evaluate_every,
                       checkpoint=checkpoint)


def relative_gaps(track: dict[str, list[float]]) -> np.ndarray:
    """``|F − three entropies| / |F_final|`` at every evaluation (seed 002 Fig. 1, bottom)."""
    elbo = np.asarray(track["elbo"])
    return np.abs(elbo - np.asarray(track["three_entropies"])) / abs(elbo[-1])


def track_rows(track: dict[str, list[float]]) -> list[dict]:
    """A track as table rows, with the relative gap to the final ELBO of :func:`relative_gaps`."""
    return [{**row, "relative_gap_to_final_elbo": float(gap)}
            for row, gap in zip(track_table(track), relative_gaps(track))]


def gap_summary(tracks: list[dict[str, list[float]]], tail: int = 1) -> dict[str, float]:
    """Median and quartiles over runs of the final relative gap: per run, the mean of the
    absolute relative gap over the last ``tail`` evaluations (seed 002 App. C.2 averages the
    fluctuations around the stationary point). Beside it, the medians over runs of the same
    tail means of the residuals ``F1 + H[p(z)]`` and ``F2 + E_q H[p(x|z)]`` (nats per data
    point; see :func:`~pyro_vae.entropies.entropy_monitor`), which say where a gap comes from."""
    final = np.array([relative_gaps(t)[-tail:].mean() for t in tracks])
    median, q25, q75 = quartiles(final[:, None])
    return {
        "final_relative_gap_median": float(median[0]),
        "final_relative_gap_q25": float(q25[0]),
        "final_relative_gap_q75": float(q75[0]),
        "final_relative_gap_per_run": final.tolist(),
        **{f"final_{key}_median": float(np.median([np.mean(t[key][-tail:]) for t in tracks]))
           for key in ("f1_residual", "f2_residual")},
    }


def entropy_figure(path, settings: dict[str, list[dict]], series: dict[str, str], title: str,
                   x_label: str = "SVI step", levels: dict[str, float] | None = None) -> None:
    """Seed 002 Fig. 1 for one experiment: per setting, a top panel with the first run's
    ``series`` (key → label, nats per data point) and its ``levels`` (label → value, dotted
    lines), and a bottom panel with the median and inter-quartile range over runs of the
    relative gap ELBO ↔ three entropies (percent)."""
    fig = Figure(figsize=(4.2 * len(settings), 6.4))
    axes = fig.subplots(2, len(settings), squeeze=False, sharex="col")
    for col, (label, tracks) in enumerate(settings.items()):
        top, bottom = axes[0, col], axes[1, col]
        steps = np.asarray(tracks[0]["step"])
        for key, name in series.items():
            if key in tracks[0]:
                top.plot(steps, tracks[0][key], label=name, lw=1.2)
        for name, value in (levels or {}).items():
            top.axhline(value, ls=":", lw=1.0, color="grey" if "truth" in name else "black", label=name)
        top.set_title(f"{title}: {label}", fontsize=9)
        top.set_ylabel("nats per data point")
        top.legend(fontsize=7)
        gaps = 100 * np.stack([relative_gaps(t) for t in tracks])
        median, q25, q75 = quartiles(gaps)
        bottom.plot(steps, median, color="black", lw=1.2, label=f"median of {len(tracks)} run(s)")
        bottom.fill_between(steps, q25, q75, color="grey", alpha=0.4, label="inter-quartile range")
        bottom.set_yscale("log")
        bottom.set_xlabel(x_label)
        bottom.set_ylabel("|ELBO − three entropies| / |final ELBO| (%)")
        bottom.legend(fontsize=7)
    fig.tight_layout()
    plots.save(fig, path)
