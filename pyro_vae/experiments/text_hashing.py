"""E3 ``text-hashing``: seed 000 §4.3, App. B.2 and Table 2.

The Text VAE of §3.1 (:class:`~pyro_vae.models.TextVAE`: a multinomial decoder with the
document length modelled apart, a uniform prior over m bits) with the encoders e1 (linear on
counts), e2 (two hidden ReLU layers on term frequencies) and e3 (linear on term frequencies),
trained by DisARM (the paper used ARM, of which DisARM is the improved form) with Adam:
``epochs`` epochs with one antithetic pair per document, then ``fine_epochs`` with
``fine_particles`` pairs. Train and test NELBO (nats per document, Monte-Carlo with
``eval_samples`` codes) are evaluated every ``evaluate_every`` epochs, counted from the start of
each phase, and at the end of each; as in the paper, the lowest values over training are reported. Each cell of the grid bits × depth × encoder runs in
its own worker process.

The length model p(l) is the discretised log-normal fitted to the training lengths, the same
for every cell, and its term is part of the NELBO; the paper does not say whether its NELBO
includes −log p(l), so the mean of that term is reported too. For codes of at most 12 bits,
each trained model's relative distance from the consistent set of the bit encoders
(:func:`~pyro_vae.consistency.consistency_distance`, seed 000 Prop. A.1) on the test documents
is reported beside its NELBO: 0 for a linear decoder whose log-partition is affine in the bits.

Data: the built-in LDA corpus (:func:`~pyro_vae.data.topic_corpus`), or ``--data`` a
20Newsgroups "matlab" folder (train and test), a UCI ``docword`` file or an LDA-C file, cut to
the ``vocabulary_size`` most frequent training words; a corpus without test files is split into
its first ``n_train`` documents for training and the rest for testing.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import pathlib

import numpy as np
import torch
from matplotlib.figure import Figure

from pyro_vae import guides, models, plots
from pyro_vae.bits import MAX_ENUMERATED_BITS
from pyro_vae.consistency import consistency_distance
from pyro_vae.data import load_text_corpus, topic_corpus
from pyro_vae.data.bow import has_test_split
from pyro_vae.documents import DocumentLength
from pyro_vae.errors import ConfigError
from pyro_vae.evaluation import elbo_per_point
from pyro_vae.families import Multinomial
from pyro_vae.results import Claim, Results

from .checks import check_batch_sizes, check_data_source, check_known, check_seeds, check_unused
from .multirun import run_on_device
from .tracking import fit_tracked

NAME = "text-hashing"
SUMMARY = ("seed 000 §4.3, Table 2: Text VAE with binary codes, encoders e1/e2/e3 × decoder depth × bits, "
           "train and test NELBO")
ENCODERS = tuple(guides.TEXT_ENCODERS)

#: Table 2 of seed 000: NELBO (nats per document) on 20Newsgroups, [bits][depth] = (e1, e2, e3).
PAPER_TRAIN = {
    8: {0: (419, 429, 439), 1: (321, 390, 415), 2: (325, 370, 421)},
    16: {0: (382, 398, 419), 1: (201, 329, 407), 2: (164, 269, 413)},
    32: {0: (337, 358, 412), 1: (165, 189, 403), 2: (132, 159, 411)},
    64: {0: (296, 324, 407), 1: (171, 189, 398), 2: (134, 149, 409)},
}
PAPER_TEST = {
    8: {0: (423, 429, 435), 1: (413, 421, 424), 2: (418, 423, 427)},
    16: {0: (409, 417, 421), 1: (404, 422, 420), 2: (410, 416, 422)},
    32: {0: (396, 413, 416), 1: (399, 413, 418), 2: (406, 416, 421)},
    64: {0: (392, 411, 414), 1: (398, 413, 417), 2: (406, 417, 422)},
}


@dataclasses.dataclass(frozen=True)
class Config:
    profile: str = "default"
    seed: int = 0
    workers: int = 0  # 0: one per CPU
    data: str = ""  # a 20Newsgroups folder, a UCI docword file, an LDA-C file; "" = the built-in corpus
    vocabulary_size: int = 10_000  # --data: keep the most frequent training words
    n_train: int = 2000  # built-in corpus (and --data without test files): training documents
    n_test: int = 500  # built-in corpus: test documents
    corpus_vocab: int = 1000  # built-in corpus: words
    topics: int = 20  # built-in corpus: LDA topics
    bits: tuple[int, ...] = (8, 32)
    depths: tuple[int, ...] = (0, 1)
    encoders: tuple[str, ...] = ENCODERS
    hidden: int = 512
    epochs: int = 100  # one DisARM pair per document
    fine_epochs: int = 20  # then fine_particles pairs
    fine_particles: int = 10
    batch_size: int = 100
    lr: float = 1e-3
    evaluate_every: int = 10  # epochs, counted from the start of each phase
    eval_samples: int = 10


ZERO_ALLOWED = ("fine_epochs", "depths")  # no fine-tuning epochs; depth 0 is the linear decoder

PROFILES = {
    "smoke": Config(profile="smoke", workers=1, n_train=60, n_test=20, corpus_vocab=40, topics=4, bits=(3,),
                    depths=(0,), hidden=16, epochs=2, fine_epochs=1, fine_particles=2, batch_size=20,
                    evaluate_every=1, eval_samples=2),
    "default": Config(),
    "paper": Config(profile="paper", n_train=11_269, n_test=7_505, corpus_vocab=10_000, topics=50,
                    bits=(8, 16, 32, 64), depths=(0, 1, 2), epochs=1000, fine_epochs=500, evaluate_every=50),
}


def load_corpus(config: Config) -> tuple[str, torch.Tensor, torch.Tensor]:
    """``(description, train, test)`` word counts, rows = documents."""
    if not config.data:
        corpus = topic_corpus(config.n_train, config.n_test, config.corpus_vocab, config.topics, seed=config.seed)
        return (f"built-in LDA corpus: {config.topics} topics, {config.corpus_vocab} words",
                corpus.train, corpus.test)
    n_train = None if has_test_split(config.data) else config.n_train
    train, test = load_text_corpus(config.data, config.vocabulary_size, n_train)
    return f"{train.source} and {test.source}, {train.vocabulary_size} words", train.dense(), test.dense()


def check_config(config: Config, given: frozenset[str] = frozenset()) -> None:
    """Encoders known, every setting the user ``given`` used, the corpus readable and its batches
    within it, before any output or training (``make_config`` checked the types and signs)."""
    check_known("encoders", config.encoders, ENCODERS)
    check_data_source(config, given, built_in_only=("n_test", "corpus_vocab", "topics"))
    check_seeds(config, len(config.bits) * len(config.depths) * len(config.encoders), "cells")
    if "hidden" in given and max(config.depths) == 0 and "e2" not in config.encoders:
        raise ConfigError(f"hidden={config.hidden} would be unused: it sizes the hidden layers of e2 and of decoders "
                          f"with depth >= 1, and encoders {config.encoders} with depths {config.depths} have none")
    if not config.fine_epochs:
        check_unused(given, ("fine_particles",), "with fine_epochs=0 no epoch is trained with several particles")
    # vocabulary_size is data-only; this message says where the built-in corpus's size is set
    if not config.data and "vocabulary_size" in given:
        raise ConfigError(f"--vocabulary-size {config.vocabulary_size} applies to a corpus read with --data; the "
                          f"built-in corpus has {config.corpus_vocab} words (its setting corpus_vocab)")
    if config.data and has_test_split(config.data):
        check_unused(given, ("n_train",), f"--data {config.data!r} has its own test set, and all its training "
                                          "documents are used")
    _, train, _ = load_corpus(config)
    Multinomial().check_support(train, "training documents")
    check_batch_sizes(train.shape[0], batch_size=config.batch_size)
    if config.data and "vocabulary_size" in given and train.shape[1] < config.vocabulary_size:
        raise ConfigError(f"--vocabulary-size {config.vocabulary_size}: the corpus {config.data!r} has only "
                          f"{train.shape[1]} words; give at most that many")


def nelbo(model, guide, x: torch.Tensor, samples: int, chunk: int = 250) -> float:
    """Negative ELBO in nats per document, Monte-Carlo with ``samples`` codes per document."""
    with torch.no_grad():
        parts = [elbo_per_point(model, guide, x[i: i + chunk], samples, exact=False)[0]
                 for i in range(0, x.shape[0], chunk)]
    return -torch.cat(parts).mean().item()


def train_cell(config: Config, cell: tuple[int, int, str]) -> dict:
    """Train one (bits, depth, encoder) Text VAE; its NELBO track and lowest values."""
    bits, depth, encoder = cell
    _, train, test = load_corpus(config)
    device = torch.get_default_device()
    train, test = train.to(device), test.to(device)
    length = DocumentLength.fit(train.sum(-1).cpu())
    model = models.TextVAE(train.shape[1], bits, depth, config.hidden if depth else None, length=length)
    guide = guides.text_encoder(encoder, train.shape[1], bits, config.hidden if encoder == "e2" else None)
    per_epoch = -(-train.shape[0] // config.batch_size)

    def evaluate():
        return {"train_nelbo": nelbo(model, guide, train, config.eval_samples),
                "test_nelbo": nelbo(model, guide, test, config.eval_samples)}

    common = dict(batch_size=config.batch_size, lr=config.lr, evaluate_every=config.evaluate_every * per_epoch)
    track = fit_tracked(model, guide, train, evaluate, objective="disarm", epochs=config.epochs, **common)
    if config.fine_epochs:
        fine = fit_tracked(model, guide, train, evaluate, objective="disarm", epochs=config.fine_epochs,
                           num_particles=config.fine_particles, **common)
        offset = config.epochs * per_epoch
        for key, values in fine.items():
            track[key] += [v + offset for v in values[1:]] if key == "step" else values[1:]
    with torch.no_grad():
        log_length = model.length_model().log_prob(test.sum(-1)).mean().item()
    distance = consistency_distance(model, guide, test)["relative"] if bits <= MAX_ENUMERATED_BITS else None
    return {"track": track, "train_nelbo": min(track["train_nelbo"]), "test_nelbo": min(track["test_nelbo"]),
            "test_length_nats": -log_length, "steps_per_epoch": per_epoch, "consistency_distance": distance}


def ordered(values: dict[str, float]) -> bool:
    """Whether e1 < e2 < e3 (those present, in this order whatever the order of ``values``), strictly."""
    present = [values[e] for e in ENCODERS if e in values]
    return all(a < b for a, b in zip(present[:-1], present[1:]))


def paper_value(split: str, bits: int, depth: int, encoder: str) -> int | None:
    table = PAPER_TRAIN if split == "train" else PAPER_TEST
    if bits not in table or depth not in table[bits]:
        return None
    return table[bits][depth][ENCODERS.index(encoder)]


def run(config: Config, out_dir: pathlib.Path, progress: bool = True, device: str = "cpu") -> Results:
    description, train, test = load_corpus(config)
    cells = list(itertools.product(config.bits, config.depths, config.encoders))
    seeds = [config.seed + i for i in range(len(cells))]
    workers, found = run_on_device(functools.partial(train_cell, config), cells, seeds, config.workers, device,
                                   progress, desc=NAME)
    results = dict(zip(cells, found))

    rows, orderings = [], []
    for bits, depth, encoder in cells:
        r = results[bits, depth, encoder]
        rows.append({"bits": bits, "depth": depth, "encoder": encoder,
                     "train_nelbo": r["train_nelbo"], "paper_train": paper_value("train", bits, depth, encoder),
                     "test_nelbo": r["test_nelbo"], "paper_test": paper_value("test", bits, depth, encoder),
                     "consistency_distance": r["consistency_distance"]})
    for bits, depth in itertools.product(config.bits, config.depths):
        row = {"bits": bits, "depth": depth}
        for split in ("train", "test"):
            ours = {e: results[bits, depth, e][f"{split}_nelbo"] for e in config.encoders}
            row[f"{split}: e1 < e2 < e3"] = ordered(ours)
            paper = {e: paper_value(split, bits, depth, e) for e in config.encoders}
            row[f"{split}: paper"] = ordered(paper) if None not in paper.values() else None
        orderings.append(row)

    claims = []
    for split in ("train", "test"):
        paper_rows = [r[f"{split}: paper"] for r in orderings if r[f"{split}: paper"] is not None]
        claims.append(Claim(
            f"{split} NELBO: e1 < e2 < e3 in every setting (bits × depth)",
            f"Table 2, same settings: holds in {sum(paper_rows)} of {len(paper_rows)}" if paper_rows else None,
            f"holds in {sum(r[f'{split}: e1 < e2 < e3'] for r in orderings)} of {len(orderings)}: "
            + "; ".join(f"{r['bits']} bits d={r['depth']}: "
                        + " / ".join(f"{e} {results[r['bits'], r['depth'], e][f'{split}_nelbo']:.1f}"
                                     for e in ENCODERS if e in config.encoders) for r in orderings),
            all(r[f"{split}: e1 < e2 < e3"] for r in orderings)))
    if {"e1", "e3"} <= set(config.encoders):
        wins = [results[b, d, "e1"]["test_nelbo"] < results[b, d, "e3"]["test_nelbo"]
                for b, d in itertools.product(config.bits, config.depths)]
        paper_wins = [row[0] < row[2] for by_depth in PAPER_TEST.values() for row in by_depth.values()]
        claims.append(Claim(
            "test NELBO: the encoder on counts (e1) beats the same linear encoder on frequencies (e3) in every "
            "setting (the correction of §3.1)",
            f"Table 2: holds in {sum(paper_wins)} of {len(paper_wins)} settings",
            f"holds in {sum(wins)} of {len(wins)}", all(wins)))

    figure(out_dir / "nelbo_curves.png", config, results)
    length_nats = float(np.mean([r["test_length_nats"] for r in found]))
    return Results(
        experiment=NAME, profile=config.profile, seed=config.seed,
        settings={**dataclasses.asdict(config), "data_used": description, "train_documents": train.shape[0],
                  "test_documents": test.shape[0], "vocabulary": train.shape[1], "seeds": seeds, "device": device,
                  "objective": "DisARM (Dong, Mnih & Tucker 2020)", "optimizer": "Adam",
                  "nelbo": "lowest over the evaluations, Monte-Carlo, nats per document, −log p(l) included"},
        metrics={"workers": workers, "test_length_term_nats": length_nats,
                 "mean_test_length": test.sum(-1).mean().item()},
        claims=claims, figures=["nelbo_curves.png"],
        tables={"cells": rows, "table2_train": table2(config, results, "train"), "table2_test": table2(config, results, "test"),
                "orderings": orderings,
                "tracks": [{"bits": b, "depth": d, "encoder": e, **{k: v[i] for k, v in results[b, d, e]["track"].items()}}
                           for (b, d, e) in cells for i in range(len(results[b, d, e]["track"]["step"]))]},
    )


def table2(config: Config, results: dict, split: str) -> list[dict]:
    """Table 2's layout: one row per bit length, a column per depth and encoder, "ours (paper)"."""
    rows = []
    for bits in config.bits:
        row: dict = {"bits": bits}
        for depth, encoder in itertools.product(config.depths, config.encoders):
            paper = paper_value(split, bits, depth, encoder)
            ours = f"{results[bits, depth, encoder][f'{split}_nelbo']:.1f}"
            row[f"d={depth} {encoder}"] = ours if paper is None else f"{ours} ({paper})"
        rows.append(row)
    return rows


def figure(path, config: Config, results: dict) -> None:
    """Test NELBO over training per bits (rows) and depth (columns), one line per encoder."""
    fig = Figure(figsize=(3.6 * len(config.depths), 2.8 * len(config.bits)))
    axes = fig.subplots(len(config.bits), len(config.depths), squeeze=False)
    for (i, bits), (j, depth) in itertools.product(enumerate(config.bits), enumerate(config.depths)):
        ax = axes[i, j]
        for encoder in config.encoders:
            r = results[bits, depth, encoder]
            epochs = np.asarray(r["track"]["step"]) / r["steps_per_epoch"]
            ax.plot(epochs, r["track"]["test_nelbo"], label=f"{encoder} test")
            ax.plot(epochs, r["track"]["train_nelbo"], ls=":", lw=0.8, color=ax.lines[-1].get_color())
        ax.set_title(f"{bits} bits, decoder depth {depth}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("NELBO (nats per document)")
    axes[0, 0].legend(fontsize=7, title="dotted: train", title_fontsize=7)
    fig.tight_layout()
    plots.save(fig, path)
