"""Data: synthetic sets the papers define (built in) and loaders for standard file formats."""

from .frey import frey_split, load_frey
from .idx import idx_file, load_idx_images, load_idx_labels, read_idx
from .synthetic import (
    GMMToy,
    PCAData,
    SparseBernoulli,
    blob_images,
    gmm_centres,
    gmm_toy,
    pca_ring,
    ppca_data,
    sparse_bernoulli,
)

__all__ = [
    "GMMToy", "PCAData", "SparseBernoulli", "blob_images", "gmm_centres", "gmm_toy", "pca_ring",
    "ppca_data", "sparse_bernoulli",
    "idx_file", "load_idx_images", "load_idx_labels", "read_idx",
    "frey_split", "load_frey",
]
