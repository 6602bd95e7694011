"""Data: synthetic sets the papers define (built in) and loaders for standard file formats."""

from .bow import (
    Corpus,
    load_20newsgroups,
    load_ldac,
    load_text_corpus,
    load_uci_bow,
    most_frequent_words,
    split_documents,
)
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
from .topics import TopicCorpus, topic_corpus

__all__ = [
    "GMMToy", "PCAData", "SparseBernoulli", "blob_images", "gmm_centres", "gmm_toy", "pca_ring",
    "ppca_data", "sparse_bernoulli",
    "idx_file", "load_idx_images", "load_idx_labels", "read_idx",
    "frey_split", "load_frey",
    "Corpus", "load_20newsgroups", "load_ldac", "load_text_corpus", "load_uci_bow", "most_frequent_words",
    "split_documents",
    "TopicCorpus", "topic_corpus",
]
