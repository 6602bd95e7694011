"""Data: synthetic sets the papers define (built in) and loaders for standard file formats."""

from .idx import idx_file, load_idx_images, load_idx_labels, read_idx
from .synthetic import GMMToy, PCAData, blob_images, gmm_centres, gmm_toy, pca_ring, ppca_data

__all__ = [
    "GMMToy", "PCAData", "blob_images", "gmm_centres", "gmm_toy", "pca_ring", "ppca_data",
    "idx_file", "load_idx_images", "load_idx_labels", "read_idx",
]
