"""E8 ``latent-activity``: seed 003 §4.2, Fig. 2 (Gaussian) and Fig. 3 (Bernoulli).

For each observation family and each β: the analytic activities ``A_{z_j}`` of eq. 21 (from
the MLE of L̂ on the training data, no training), and the empirical activities
``Cov_x(E_q[z_j])`` of the "affine" and the "relu-net" pairs of App. B.1 after training the
β-VAE objective from He initialisation; a unit is active when A > 0.01. κ = 40. Beside the
counts, the trained β-objective and L̂ at the MLE: for the affine Gaussian decoder L̂ is the
objective's maximum (Cor. 1), so a trained value below it says training has not converged;
and the dispersion φ (1 for Bernoulli, σ² for Gaussian) that eq. 21 uses beside the trained one:
eq. 21 prunes eigenvalues below βφ, so a trained σ² far above σ̂² prunes more.

Images: ``--data`` MNIST-format IDX images (the paper uses MNIST), or the built-in
:func:`~pyro_vae.data.blob_images` (``image_size`` × ``image_size``). The Gaussian decoder
learns σ (the analytic side uses σ̂ of eq. 18, maximised with the number of active units);
the Bernoulli decoder sees the images binarised at 0.5.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import pathlib

import numpy as np
import torch
from matplotlib.figure import Figure

from pyro_vae import plots
from pyro_vae.activity import ACTIVE_THRESHOLD, active_units, latent_activity
from pyro_vae.data import blob_images
from pyro_vae.errors import ConfigError
from pyro_vae.glm import glm_mle
from pyro_vae.initialisation import he_init
from pyro_vae.results import Claim, Results
from pyro_vae.training import fit

from .checks import check_batch_sizes, check_data_source, check_known, check_seeds
from .glm_runs import ARCHITECTURES, build_pair, observation_family
from .image_data import first_images, image_file
from .multirun import run_on_device
from .tracking import CHECKPOINTS, checkpoint_file

NAME = "latent-activity"
RESUMABLE = True  # its fits keep checkpoints: pyro-vae run --resume continues an interrupted run
SUMMARY = ("seed 003 §4.2, Fig. 2–3: active latent units per β, analytic (eq. 21) vs trained affine and "
           "ReLU-Net β-VAEs, Gaussian and Bernoulli decoders, κ = 40")
RELU_NET_SLACK = 2  # our reading of "approximately" for the ReLU-Net (§4.2): within ±2 units


@dataclasses.dataclass(frozen=True)
class Config:
    profile: str = "default"
    seed: int = 0
    workers: int = 0  # 0: one per CPU
    data: str = ""  # IDX images, or "" for the built-in blob images
    families: tuple[str, ...] = ("gaussian", "bernoulli")
    betas: tuple[float, ...] = (0.5, 2.0, 8.0)
    architectures: tuple[str, ...] = ("affine", "relu-net")
    latent_dim: int = 40
    n_train: int = 5000
    image_size: int = 14
    steps: int = 2000
    batch_size: int = 100
    lr: float = 1e-3


PROFILES = {
    "smoke": Config(profile="smoke", workers=1, betas=(1.0, 8.0), latent_dim=4, n_train=300, image_size=8,
                    steps=4),
    "default": Config(),
    "paper": Config(profile="paper", betas=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0), n_train=60_000,
                    image_size=28, steps=25_000),
}


def load_images(config: Config, family: str) -> tuple[str, torch.Tensor]:
    """``(description, images)``: pixels in [0, 1], binarised at 0.5 for a Bernoulli decoder."""
    if config.data:
        x = first_images(config.data, config.n_train, "n_train")
        description = f"IDX images ({image_file(config.data)}), first {x.shape[0]}"
    else:
        x = blob_images(config.n_train, size=config.image_size, width=config.image_size / 9, seed=config.seed)
        description = f"built-in blob_images, {config.n_train} of {config.image_size}×{config.image_size}"
    if family == "bernoulli":
        return description + ", binarised at 0.5", (x > 0.5).to(x.dtype)
    return description, x


def check_config(config: Config, given: frozenset[str] = frozenset()) -> None:
    """Families and architectures known, the data readable, κ below d, no built-in setting
    ``given`` with ``--data``: before any output or training (``make_config`` checked that β
    is positive)."""
    check_known("architectures", config.architectures, ARCHITECTURES)
    check_data_source(config, given, built_in_only=("image_size",))
    check_seeds(config, len(config.families) * len(config.betas) * len(config.architectures), "setups")
    for family in config.families:
        observation_family(family)
        _, x = load_images(config, family)
        check_batch_sizes(x.shape[0], batch_size=config.batch_size)
        if config.latent_dim >= x.shape[1]:
            raise ConfigError(f"latent_dim={config.latent_dim} must be below the data dimension {x.shape[1]}")


def prediction(config: Config, images: torch.Tensor, family: str, beta: float) -> dict:
    """Eq. 21 and L̂ (eq. 14) at the MLE on the training images; a Gaussian's σ² is estimated
    too (eq. 18), as the trained Gaussian decoder learns σ."""
    x = images.double()
    solution = glm_mle(x, observation_family(family).edf(), config.latent_dim, beta,
                       estimate_dispersion=family == "gaussian")
    return {"activity": solution.activity.tolist(), "l_hat": float(solution.objective(x)),
            "dispersion": float(solution.edf.dispersion)}


def train_one(config: Config, setup: tuple[str, float, str], checkpoints: pathlib.Path | None = None) -> dict:
    """Train one (family, β, architecture) pair from He initialisation: its activities and its
    β-objective (nats per data point, the mean over the last tenth of the steps) and its
    dispersion φ (σ² for a Gaussian). The fit keeps its checkpoint in the folder ``checkpoints``
    if given."""
    family, beta, architecture = setup
    _, x = load_images(config, family)
    x = x.to(torch.get_default_device())
    model, guide = build_pair(architecture, observation_family(family), x.shape[1], config.latent_dim)
    he_init(model, guide)
    history = fit(model, guide, x, "elbo", steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                  beta=beta, progress=False,
                  checkpoint=checkpoint_file(checkpoints, family, f"beta{beta!r}", architecture))
    tail = history.elbo[-max(1, config.steps // 10):]
    return {"activity": latent_activity(guide, x).tolist(), "objective": sum(tail) / len(tail),
            "dispersion": float(model.observation.edf().dispersion)}


def run(config: Config, out_dir: pathlib.Path, progress: bool = True, device: str = "cpu") -> Results:
    data = {f: load_images(config, f) for f in config.families}
    descriptions = {f: description for f, (description, _) in data.items()}
    predicted = {(f, b): prediction(config, data[f][1], f, b)
                 for f, b in itertools.product(config.families, config.betas)}
    analytic = {key: p["activity"] for key, p in predicted.items()}
    setups = list(itertools.product(config.families, config.betas, config.architectures))
    seeds = [config.seed + i for i in range(len(setups))]
    task = functools.partial(train_one, config, checkpoints=out_dir / CHECKPOINTS)
    workers, found = run_on_device(task, setups, seeds, config.workers, device, progress, desc=NAME)
    fits = dict(zip(setups, found))
    trained = {setup: r["activity"] for setup, r in fits.items()}

    rows = []
    for family, beta in itertools.product(config.families, config.betas):
        row = {"family": family, "beta": beta, "analytic": active_units(torch.tensor(analytic[family, beta]))}
        for architecture in config.architectures:
            row[architecture] = active_units(torch.tensor(trained[family, beta, architecture]))
        row["l_hat_at_mle"] = predicted[family, beta]["l_hat"]
        row["dispersion_at_mle"] = predicted[family, beta]["dispersion"]  # the σ̂² that eq. 21 uses
        for architecture in config.architectures:
            row[f"objective_{architecture}"] = fits[family, beta, architecture]["objective"]
            row[f"dispersion_{architecture}"] = fits[family, beta, architecture]["dispersion"]
        rows.append(row)
    claims = []
    if "affine" in config.architectures:
        claims.append(Claim(
            "affine decoder: the number of active units after training equals eq. 21's prediction for every "
            "family and β",
            "the analytic and the affine rows look alike (Fig. 2, Fig. 3)",
            "; ".join(f"{r['family']} β={r['beta']:g}: {r['affine']} vs {r['analytic']}" for r in rows),
            all(r["affine"] == r["analytic"] for r in rows)))
    if "relu-net" in config.architectures:
        claims.append(Claim(
            f"ReLU-Net decoder: the number of active units is within ±{RELU_NET_SLACK} of eq. 21's prediction "
            "for every family and β",
            "behaves slightly differently, but approximately as predicted (§4.2)",
            "; ".join(f"{r['family']} β={r['beta']:g}: {r['relu-net']} vs {r['analytic']}" for r in rows),
            all(abs(r["relu-net"] - r["analytic"]) <= RELU_NET_SLACK for r in rows)))
    by_beta = {f: [r["analytic"] for r in sorted(rows, key=lambda r: r["beta"]) if r["family"] == f]
               for f in config.families}
    claims.append(Claim(
        "the predicted number of active units does not increase with β (auto-pruning, §3.4; a consistency "
        "check of eq. 17–18, which it follows from)",
        "the bigger β the less latent dimensions remain non-zero",
        "; ".join(f"{f}, β ascending: {counts}" for f, counts in by_beta.items()),
        all(np.all(np.diff(counts) <= 0) for counts in by_beta.values())))

    figure(out_dir / "fig2_latent_activity.png", config, analytic, trained)
    activities = [{"family": f, "beta": b, "source": "analytic", "activities": v} for (f, b), v in analytic.items()]
    activities += [{"family": f, "beta": b, "source": a, "activities": v} for (f, b, a), v in trained.items()]
    return Results(
        experiment=NAME, profile=config.profile, seed=config.seed,
        settings={**dataclasses.asdict(config), "data_used": descriptions,
                  "sigma": "Gaussian: learned; eq. 21 uses σ̂² of eq. 18", "seeds": seeds, "device": device,
                  "threshold": ACTIVE_THRESHOLD, "initialisation": "He (Bench)", "objective": "Trace_ELBO, β-weighted",
                  "optimizer": "Adam"},
        metrics={"workers": workers, "active_units": rows},
        claims=claims, figures=["fig2_latent_activity.png"],
        tables={"active_units": rows, "activities": activities},
    )


def figure(path, config: Config, analytic: dict, trained: dict) -> None:
    """Seed 003 Fig. 2/3: per family (rows) and β (columns), the activities of the κ units,
    sorted, analytic and after training, on a log scale with the 0.01 threshold."""
    families, betas = config.families, config.betas
    fig = Figure(figsize=(3.0 * len(betas), 2.8 * len(families)))
    axes = fig.subplots(len(families), len(betas), squeeze=False, sharey=True)
    floor = 1e-5
    for (i, family), (j, beta) in itertools.product(enumerate(families), enumerate(betas)):
        ax = axes[i, j]
        series = {"analytic (eq. 21)": analytic[family, beta],
                  **{a: trained[family, beta, a] for a in config.architectures}}
        for (label, values), marker in zip(series.items(), "os^"):
            ordered = np.maximum(np.sort(values)[::-1], floor)
            ax.plot(np.arange(1, len(ordered) + 1), ordered, marker=marker, ms=3, lw=0.8, label=label)
        ax.axhline(ACTIVE_THRESHOLD, color="black", ls=":", lw=0.8, label="A = 0.01")
        ax.set_yscale("log")
        ax.set_title(f"{family}, β = {beta:g}", fontsize=9)
        ax.set_xlabel("latent unit (sorted by activity)")
        if j == 0:
            ax.set_ylabel(f"activity Cov_x(E_q[z]) (0 drawn at {floor:g})")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    plots.save(fig, path)
