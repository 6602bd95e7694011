"""Data: synthetic sets the papers define (built in) and loaders for standard file formats."""

from .synthetic import GMMToy, gmm_centres, gmm_toy

__all__ = ["GMMToy", "gmm_centres", "gmm_toy"]
