"""β-weighting of the latent terms, as a Pyro effect handler (seed 003's β-VAE)."""

from __future__ import annotations

from pyro.poutine.messenger import Messenger


class scale_latents(Messenger):
    """Multiply the log-density of every *latent* sample site by β.

    Applied to both model and guide, the ELBO becomes ``E_q[log p(x|z)] − β KL(q(z|x) ‖ p(z))``.
    Observed sites keep their scale; this is ``poutine.scale`` restricted to latent sites.
    """

    def __init__(self, beta: float):
        super().__init__()
        self.beta = beta

    def _process_message(self, msg):
        if msg["type"] == "sample" and not msg["is_observed"]:
            msg["scale"] = self.beta * msg["scale"]
