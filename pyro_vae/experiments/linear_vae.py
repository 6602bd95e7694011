"""E4 ``linear-vae``: seed 002 §3.1, Fig. 1(a) and App. C.

pPCA data (eq. 77–78: H = 2, D = 10, W and μ from U(0, 1), σ_gen = 0.1, new for every run);
the linear VAE of eq. 29–32 trained by the ELBO with its KL term in closed form, as in Listing 1
(batch 2000, Adam 1e-3). Tracked: the ELBO, the three entropies (eq. 33), the exact
log-likelihood (eq. 45) on training and held-out data, the ground truth's log-likelihood and the
pPCA maximum (Tipping & Bishop). A second run per seed keeps σ fixed at a suboptimal value, where
seed 002 expects a gap to stay.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import torch

from pyro_vae import guides, models
from pyro_vae.data import ppca_data
from pyro_vae.errors import ConfigError
from pyro_vae.evaluation import log_likelihood
from pyro_vae.ppca import ppca_mle
from pyro_vae.results import Claim, Results

from .checks import check_batch_sizes, check_eval_samples, check_seeds
from .entropy_runs import TRAINED_BY, entropy_figure, gap_summary, relative_gaps, track_rows, train_tracked
from .multirun import run_config_seeds
from .tracking import CHECKPOINTS, checkpoint_file

NAME = "linear-vae"
RESUMABLE = True  # its fits keep checkpoints: pyro-vae run --resume continues an interrupted run
SUMMARY = (
    "seed 002 §3.1/Fig. 1(a): linear VAE on pPCA data; ELBO → three entropies (eq. 33) → "
    "pPCA maximum; a gap stays with σ fixed"
)
TOLERANCE = 0.005  # "within 0.5 %": the acceptance bound of our issue, not a number of the paper


@dataclasses.dataclass(frozen=True)
class Config:
    profile: str = "default"
    seed: int = 0
    runs: int = 4
    workers: int = 0  # 0: one per CPU, at most one per run
    n_train: int = 10_000
    n_test: int = 10_000
    data_dim: int = 10
    latent_dim: int = 2
    sigma_gen: float = 0.1
    sigma_init: float = 0.6931  # softplus(0), the start of seed 002's Listing 1
    fixed_sigma: float = 0.2  # our choice of "a suboptimal value": twice σ_gen
    batch_size: int = 2000
    lr: float = 1e-3
    num_particles: int = 10
    steps: int = 8000
    evaluate_every: int = 400
    eval_samples: int = 20


#: ``paper`` follows App. C.3 (100 samples, 10 runs as in Fig. 1(a)); the paper gives no step
#: count, so the number of steps is ours.
PROFILES = {
    "smoke": Config(profile="smoke", runs=2, workers=1, n_train=400, n_test=400, batch_size=200,
                    steps=20, evaluate_every=10, eval_samples=10),
    "default": Config(),
    "paper": Config(profile="paper", runs=10, num_particles=100, eval_samples=100, steps=20_000,
                    evaluate_every=500),
}


def check_config(config: Config, given: frozenset[str] = frozenset()) -> None:
    """At least two runs (the fixed-σ claim compares its gap with the spread over runs) and
    mini-batches within the data, before any output."""
    if config.runs < 2:
        raise ConfigError(f"--runs {config.runs}: linear-vae needs at least 2 runs; its fixed-σ claim compares "
                          "the gap with the run-to-run standard deviation")
    check_seeds(config, config.runs, "runs")
    check_eval_samples(config)
    check_batch_sizes(config.n_train, batch_size=config.batch_size)


def one_run(config: Config, seed: int, checkpoints: pathlib.Path | None = None) -> dict:
    """One seed: new pPCA data; the linear VAE with σ learned and with σ fixed."""
    data = ppca_data(config.n_train, config.n_test, config.data_dim, config.latent_dim,
                     config.sigma_gen, seed=seed)
    device = torch.get_default_device()  # the run's device (see run_config_seeds)
    x, x_test = data.x_train.to(device), data.x_test.to(device)
    ml = ppca_mle(data.x_train, config.latent_dim)
    out = {
        "ppca_maximum": ml.marginal().log_prob(data.x_train).mean().item(),
        "ground_truth": data.truth.marginal().log_prob(data.x_train).mean().item(),
        "ground_truth_test": data.truth.marginal().log_prob(data.x_test).mean().item(),
    }
    for variant, learn_sigma in (("learned_sigma", True), ("fixed_sigma", False)):
        sigma = config.sigma_init if learn_sigma else config.fixed_sigma
        model = models.LinearVAE(config.data_dim, config.latent_dim, sigma=sigma, learn_sigma=learn_sigma)
        guide = guides.LinearGaussian(config.data_dim, config.latent_dim)

        def exact(model=model):
            return {"log_likelihood": log_likelihood(model, x).value,
                    "log_likelihood_test": log_likelihood(model, x_test).value,
                    "sigma": model.observation.sigma.item()}

        out[variant] = train_tracked(
            model, guide, x, steps=config.steps, batch_size=config.batch_size, lr=config.lr,
            num_particles=config.num_particles, eval_samples=config.eval_samples,
            evaluate_every=config.evaluate_every, seed=seed, extra=exact,
            checkpoint=checkpoint_file(checkpoints, variant, f"seed{seed}"),
        )
    return out


def run(config: Config, out_dir: pathlib.Path, progress: bool = True, device: str = "cpu") -> Results:
    seeds, workers, runs = run_config_seeds(one_run, config, device, progress, desc=NAME,
                                             checkpoints=out_dir / CHECKPOINTS)

    metrics: dict = {"runs": config.runs, "workers": workers}
    for variant in ("learned_sigma", "fixed_sigma"):
        tracks = [r[variant] for r in runs]
        metrics[variant] = {**gap_summary(tracks), **_final_values(runs, variant)}
    learned, fixed = metrics["learned_sigma"], metrics["fixed_sigma"]
    fixed_gaps = np.asarray(fixed["final_gap_nats_per_run"])
    fixed_noise = float(np.std(fixed_gaps, ddof=1)) if config.runs > 1 else float("nan")
    fixed["final_gap_nats_std_over_runs"] = fixed_noise

    claims = [
        Claim("the ELBO converges to the three entropies (eq. 33): median final relative gap "
              f"< {TOLERANCE:.1%}", "→ 0 (Fig. 1a, bottom)",
              f"{learned['final_relative_gap_median']:.3%} (IQR {learned['final_relative_gap_q25']:.3%}"
              f"–{learned['final_relative_gap_q75']:.3%}, {config.runs} runs)",
              learned["final_relative_gap_median"] < TOLERANCE),
        Claim(f"the ELBO converges to the exact log-likelihood (within {TOLERANCE:.1%}, every run)",
              "ELBO hidden under the log-likelihood (Fig. 1a)",
              f"max relative difference {learned['elbo_vs_log_likelihood_max']:.3%}",
              learned["elbo_vs_log_likelihood_max"] < TOLERANCE),
        Claim(f"the exact log-likelihood reaches the pPCA maximum (Cor. A1; within {TOLERANCE:.1%}, "
              "every run)", "equal at convergence (eq. 44)",
              f"max relative difference {learned['log_likelihood_vs_ppca_max']:.3%}",
              learned["log_likelihood_vs_ppca_max"] < TOLERANCE),
        Claim("with σ fixed at a suboptimal value a gap |ELBO − three entropies| stays, larger than its "
              "run-to-run noise (median > 3 × standard deviation over runs)", "finite gap (Fig. 1a, dashed)",
              f"σ = {config.fixed_sigma}: median gap {np.median(fixed_gaps):.3f} nats, std over runs "
              f"{fixed_noise:.3f} nats (learned σ: {np.median(learned['final_gap_nats_per_run']):.3f} nats)",
              bool(np.median(fixed_gaps) > 3 * fixed_noise)),
    ]

    series = {"elbo": "ELBO (sampled)", "three_entropies": "three entropies (eq. 33)",
              "log_likelihood": "log-likelihood (train, exact)",
              "log_likelihood_test": "log-likelihood (held-out, exact)"}
    entropy_figure(out_dir / "fig1a_linear_vae.png",
                   {"σ learned": [r["learned_sigma"] for r in runs],
                    f"σ fixed at {config.fixed_sigma}": [r["fixed_sigma"] for r in runs]},
                   series, "linear VAE, pPCA data",
                   levels={"pPCA maximum (train)": runs[0]["ppca_maximum"],
                           "ground truth (train)": runs[0]["ground_truth"]})
    return Results(
        experiment=NAME, profile=config.profile, seed=config.seed,
        settings={**dataclasses.asdict(config), "seeds": seeds, "objective": TRAINED_BY,
                  "optimizer": "Adam", "device": device,
                  "model": "LinearVAE: x ~ N(W z + μ0, σ² I), z ~ N(0, I)",
                  "guide": "LinearGaussian: N(z; V x + b, diag τ²), τ constant"},
        metrics=metrics, claims=claims, figures=["fig1a_linear_vae.png"],
        tables={"first_run_learned_sigma": track_rows(runs[0]["learned_sigma"]),
                "per_run": _per_run_rows(runs)},
    )


def _final_values(runs: list[dict], variant: str) -> dict:
    last = [{k: v[-1] for k, v in r[variant].items()} for r in runs]
    elbo = np.array([row["elbo"] for row in last])
    ll = np.array([row["log_likelihood"] for row in last])
    ppca = np.array([r["ppca_maximum"] for r in runs])
    def median(values) -> float:
        return float(np.median(values))

    return {
        "final_elbo_median": median(elbo),
        "final_three_entropies_median": median([row["three_entropies"] for row in last]),
        "final_log_likelihood_median": median(ll),
        "final_log_likelihood_test_median": median([row["log_likelihood_test"] for row in last]),
        "final_sigma_median": median([row["sigma"] for row in last]),
        "ppca_maximum_median": median(ppca),
        "ground_truth_median": median([r["ground_truth"] for r in runs]),
        "final_gap_nats_per_run": np.abs(elbo - np.array([row["three_entropies"] for row in last])).tolist(),
        "elbo_vs_log_likelihood_max": float(np.max(np.abs(elbo - ll) / np.abs(ll))),
        "log_likelihood_vs_ppca_max": float(np.max(np.abs(ll - ppca) / np.abs(ppca))),
    }


def _per_run_rows(runs: list[dict]) -> list[dict]:
    rows = []
    for i, r in enumerate(runs):
        for variant in ("learned_sigma", "fixed_sigma"):
            t = r[variant]
            rows.append({"run": i, "variant": variant, "elbo": t["elbo"][-1],
                         "three_entropies": t["three_entropies"][-1],
                         "relative_gap": float(relative_gaps(t)[-1]),
                         "log_likelihood": t["log_likelihood"][-1], "ppca_maximum": r["ppca_maximum"],
                         "ground_truth": r["ground_truth"], "sigma": t["sigma"][-1]})
    return rows
