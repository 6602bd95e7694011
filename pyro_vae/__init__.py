"""pyro_vae: exponential-family VAEs in Pyro, and the error their ELBO makes.

Models live in :mod:`pyro_vae.models`, guides in :mod:`pyro_vae.guides`; both are plain
Pyro callables. This package adds what Pyro lacks: exponential families with their
log-partition functions, named objectives, a guarded training loop, and the measurements of
seeds 000, 002 and 003 (tightness gap, approximation error, consistency distance, three entropies,
seed 003's L̂ and its MLE, latent activity, ...) and the PSIS k̂ of a guide.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pyro_vae")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

from . import data, edf, families, glm, objectives  # noqa: E402
from .activity import active_units, analytic_activity, latent_activity  # noqa: E402
from .consistency import consistency_distance  # noqa: E402
from .entropies import relative_gap, three_entropies  # noqa: E402
from .evaluation import approximation_error, elbo, evaluate, log_likelihood, tightness_gap  # noqa: E402
from .glm import glm_mle, glm_objective  # noqa: E402
from .psis import psis_khat  # noqa: E402
from .training import History, fit, fit_max_likelihood  # noqa: E402

__all__ = [
    "History",
    "active_units",
    "analytic_activity",
    "approximation_error",
    "consistency_distance",
    "data",
    "edf",
    "elbo",
    "evaluate",
    "families",
    "fit",
    "fit_max_likelihood",
    "glm",
    "glm_mle",
    "glm_objective",
    "latent_activity",
    "log_likelihood",
    "objectives",
    "psis_khat",
    "relative_gap",
    "three_entropies",
    "tightness_gap",
]
