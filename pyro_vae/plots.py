"""Figures. Experiments draw on ``matplotlib.figure.Figure`` objects and save them as PNG with
the Agg canvas, so nothing needs a screen and pyplot's global state (and a notebook's inline
backend) is left alone; the drawing functions take any ``Axes``, pyplot's included."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

#: One colour per latent code (00, 01, 10, 11, ...).
CODE_COLOURS = np.array(
    [[0.89, 0.10, 0.11], [0.22, 0.49, 0.72], [0.30, 0.69, 0.29], [1.00, 0.60, 0.00],
     [0.60, 0.31, 0.64], [0.65, 0.34, 0.16], [0.97, 0.51, 0.75], [0.60, 0.60, 0.60]]
)


def grid(extent: float, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """``size × size`` points covering ``[−extent, extent]²``, as rows of a tensor, and the
    ``imshow`` extent."""
    axis = torch.linspace(-extent, extent, size)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], -1), np.array([-extent, extent, -extent, extent])


def code_labels(bits: int) -> list[str]:
    return [format(k, f"0{bits}b") for k in range(2**bits)]


def posterior_map(ax, probs: torch.Tensor, size: int, extent, centres=None, title: str = ""):
    """Colour each point by the posterior mixture of code colours (seed 000 Fig. 2a)."""
    colours = np.clip(probs.detach().cpu().numpy() @ CODE_COLOURS[: probs.shape[-1]], 0.0, 1.0)
    ax.imshow(colours.reshape(size, size, 3), origin="lower", extent=extent)
    _finish(ax, centres, title)


def decision_map(ax, probs: torch.Tensor, size: int, extent, centres=None, title: str = ""):
    """Colour each point by ``argmax_z`` of a posterior (seed 000 Fig. 2b–e)."""
    k = probs.shape[-1]
    labels = probs.argmax(-1).detach().cpu().numpy().reshape(size, size)
    ax.imshow(labels, origin="lower", extent=extent, cmap=ListedColormap(CODE_COLOURS[:k]),
              vmin=-0.5, vmax=k - 0.5, interpolation="nearest")
    _finish(ax, centres, title)


def _finish(ax, centres, title):
    if centres is not None:
        c = centres.detach().cpu().numpy()
        ax.scatter(c[:, 0], c[:, 1], c="black", s=18)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")


def code_legend(fig, bits: int):
    handles = [Rectangle((0, 0), 1, 1, color=CODE_COLOURS[k]) for k in range(2**bits)]
    fig.legend(handles, [f"z = {s}" for s in code_labels(bits)], loc="lower center",
               ncol=2**bits, fontsize=8, frameon=False)


def save(fig: Figure, path) -> None:
    """Write ``fig`` as a PNG (Agg canvas)."""
    fig.savefig(path, dpi=120, bbox_inches="tight")
