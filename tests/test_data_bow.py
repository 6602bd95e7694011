"""Bag-of-words loaders: round trips through hand-written writers for 20Newsgroups, UCI and LDA-C,
the Corpus methods, the dispatcher's truncation by the training ranking, and every error case."""

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from pyro_vae.data.bow import (
    Corpus,
    load_20newsgroups,
    load_ldac,
    load_text_corpus,
    load_uci_bow,
    most_frequent_words,
    split_documents,
)
from pyro_vae.errors import ConfigError, DataError

# ------------------------------------------------------------------------------------ writers


def random_counts(seed: int = 0, documents: int = 7, words: int = 12) -> np.ndarray:
    """A (documents, words) count matrix with document 2 empty and word 5 never used, every other
    document and word used at least once."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 5, size=(documents, words)) * (rng.random((documents, words)) < 0.5)
    for d in range(documents):
        counts[d, (d * 5) % words if (d * 5) % words != 5 else 0] += 1
    for w in range(words):
        counts[(w * 3) % documents if (w * 3) % documents != 2 else 0, w] += 1
    counts[2, :] = 0
    counts[:, 5] = 0
    return counts.astype(np.int64)


def words_for(n: int) -> list[str]:
    return [f"word{i}_{chr(97 + i % 26)}" for i in range(n)]


def write(path: Path, text: str, gz: bool = False) -> Path:
    """Writes ``text`` to ``path``, gzipped when ``gz``."""
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(text.encode())
    return path


def triple_lines(counts: np.ndarray) -> list[str]:
    """``doc word count`` lines, 1-based, in row-major order of the nonzero entries."""
    docs, words = np.nonzero(counts)
    return [f"{d + 1} {w + 1} {counts[d, w]}" for d, w in zip(docs, words)]


def write_vocab(path: Path, words: list[str]) -> Path:
    return write(path, "".join(w + "\n" for w in words))


def write_20ng(folder: Path, split: str, counts: np.ndarray, labels: np.ndarray, words: list[str]) -> Path:
    """``{split}.data``, ``{split}.label`` (1-based labels) and ``vocabulary.txt`` in ``folder``."""
    folder.mkdir(exist_ok=True)
    write(folder / f"{split}.data", "".join(line + "\n" for line in triple_lines(counts)))
    write(folder / f"{split}.label", "".join(f"{label + 1}\n" for label in labels))
    write_vocab(folder / "vocabulary.txt", words)
    return folder


def write_uci(path: Path, counts: np.ndarray, gz: bool = False) -> Path:
    lines = triple_lines(counts)
    header = [str(counts.shape[0]), str(counts.shape[1]), str(len(lines))]
    return write(path, "".join(line + "\n" for line in header + lines), gz=gz)


def ldac_lines(counts: np.ndarray) -> list[str]:
    lines = []
    for row in counts:
        ids = np.flatnonzero(row)
        lines.append(" ".join([str(len(ids))] + [f"{i}:{row[i]}" for i in ids]))
    return lines


def write_ldac(path: Path, counts: np.ndarray) -> Path:
    return write(path, "".join(line + "\n" for line in ldac_lines(counts)))


def as_tensor(counts: np.ndarray) -> torch.Tensor:
    return torch.tensor(counts, dtype=torch.float32)


def check_sparse_invariants(corpus: Corpus):
    for array in (corpus.doc_ids, corpus.word_ids, corpus.counts):
        assert array.dtype == np.int64 and array.ndim == 1
    assert (corpus.counts > 0).all()
    keys = corpus.doc_ids * corpus.vocabulary_size + corpus.word_ids
    assert len(np.unique(keys)) == len(keys)


# -------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_20newsgroups_round_trip(tmp_path, seed):
    train, test = random_counts(seed), random_counts(seed + 10, documents=5)
    words = words_for(12)
    train_labels, test_labels = np.array([0, 3, 1, 1, 2, 0, 19]), np.array([4, 4, 0, 2, 1])
    write_20ng(tmp_path, "train", train, train_labels, words)
    write_20ng(tmp_path, "test", test, test_labels, words)
    for split, counts, labels in [("train", train, train_labels), ("test", test, test_labels)]:
        corpus = load_20newsgroups(tmp_path, split)
        check_sparse_invariants(corpus)
        assert corpus.num_documents == counts.shape[0]
        assert corpus.vocabulary == tuple(words) and corpus.vocabulary_size == 12
        assert torch.equal(corpus.dense(), as_tensor(counts))
        assert corpus.labels.dtype == np.int64
        np.testing.assert_array_equal(corpus.labels, labels)  # 0-based: the file's labels minus 1
        assert f"{split}.data" in corpus.source and "vocabulary.txt" in corpus.source
    assert load_20newsgroups(str(tmp_path)).num_documents == 7  # str path, default split "train"


def test_20newsgroups_documents_without_lines_are_empty(tmp_path):
    counts = random_counts()
    write_20ng(tmp_path, "train", counts[:4], np.zeros(4, dtype=int), words_for(12))
    write(tmp_path / "train.label", "1\n1\n1\n1\n2\n2\n")  # six documents, the last two without lines
    corpus = load_20newsgroups(tmp_path)
    assert corpus.num_documents == 6
    assert corpus.lengths()[4:].tolist() == [0, 0]
    assert torch.equal(corpus.dense()[:4], as_tensor(counts[:4]))
    assert corpus.labels.tolist() == [0, 0, 0, 0, 1, 1]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("with_vocab", [False, True])
def test_uci_round_trip(tmp_path, gz, with_vocab):
    counts = random_counts()
    path = write_uci(tmp_path / ("docword.test.txt.gz" if gz else "docword.test.txt"), counts, gz=gz)
    vocab = write_vocab(tmp_path / "vocab.test.txt", words_for(12)) if with_vocab else None
    corpus = load_uci_bow(path, vocab)
    check_sparse_invariants(corpus)
    assert torch.equal(corpus.dense(), as_tensor(counts))
    assert corpus.num_documents == 7 and corpus.labels is None
    expected = tuple(words_for(12)) if with_vocab else tuple(f"w{i}" for i in range(12))
    assert corpus.vocabulary == expected


def test_uci_gzip_detected_by_magic_bytes_not_name(tmp_path):
    counts = random_counts(3)
    path = write_uci(tmp_path / "docword.plain-name.txt", counts, gz=True)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert torch.equal(load_uci_bow(path).dense(), as_tensor(counts))


def test_uci_trailing_documents_and_words_without_counts(tmp_path):
    counts = np.zeros((9, 15), dtype=np.int64)
    counts[:7, :12] = random_counts()
    path = write_uci(tmp_path / "docword.pad.txt", counts)
    corpus = load_uci_bow(path)
    assert corpus.num_documents == 9 and corpus.vocabulary_size == 15
    assert torch.equal(corpus.dense(), as_tensor(counts))


@pytest.mark.parametrize("how", ["vocab", "vocabulary_size", "inferred"])
def test_ldac_round_trip(tmp_path, how):
    counts = random_counts()
    path = write_ldac(tmp_path / "corpus.dat", counts)
    assert ldac_lines(counts)[2] == "0"  # the empty document
    if how == "vocab":
        corpus = load_ldac(path, vocab=write_vocab(tmp_path / "vocab.txt", words_for(12)))
        assert corpus.vocabulary == tuple(words_for(12))
    elif how == "vocabulary_size":
        corpus = load_ldac(path, vocabulary_size=12)
        assert corpus.vocabulary == tuple(f"w{i}" for i in range(12))
    else:
        corpus = load_ldac(path)
        assert corpus.vocabulary_size == 12  # word 11 is used, so max id + 1 = 12
    check_sparse_invariants(corpus)
    assert corpus.num_documents == 7 and corpus.labels is None
    assert torch.equal(corpus.dense(), as_tensor(counts))


def test_ldac_inferred_vocabulary_ends_at_the_largest_id(tmp_path):
    counts = random_counts()
    counts[:, 9:] = 0
    path = write_ldac(tmp_path / "corpus.dat", counts)
    assert load_ldac(path).vocabulary_size == 9
    assert load_ldac(path, vocabulary_size=30).vocabulary_size == 30
    wide = np.zeros((7, 30), dtype=np.int64)
    wide[:, :12] = counts
    assert torch.equal(load_ldac(path, vocabulary_size=30).dense(), as_tensor(wide))


def test_crlf_no_final_newline_tabs_and_trailing_blank_lines(tmp_path):
    uci = write(tmp_path / "docword.crlf.txt", "2\r\n3\r\n2\r\n1\t2  5\r\n 2 3 1")
    assert load_uci_bow(uci).dense().tolist() == [[0, 5, 0], [0, 0, 1]]
    ldac = write(tmp_path / "c.dat", "1 0:2\r\n0\r\n2\t1:1  2:4\n\n\n  \n")
    corpus = load_ldac(ldac)
    assert corpus.num_documents == 3
    assert corpus.dense().tolist() == [[2, 0, 0], [0, 0, 0], [0, 1, 4]]
    vocab = write(tmp_path / "vocab.crlf.txt", "\ufeffalpha\r\n  beta \r\ngamma\r\n\r\n")
    assert load_uci_bow(uci, vocab).vocabulary == ("alpha", "beta", "gamma")


def test_large_files_take_the_vectorised_path(tmp_path):
    """200 000 lines in each triple format and in LDA-C; values and an error on the last line."""
    rng = np.random.default_rng(0)
    n, documents, words = 200_000, 5000, 3000
    keys = np.sort(rng.choice(documents * words, size=n, replace=False))
    doc, word = keys // words, keys % words
    count = rng.integers(1, 50, size=n)
    body = "\n".join(f"{d + 1} {w + 1} {c}" for d, w, c in zip(doc, word, count))
    path = write(tmp_path / "docword.big.txt", f"{documents}\n{words}\n{n}\n{body}\n")
    corpus = load_uci_bow(path)
    np.testing.assert_array_equal(corpus.doc_ids, doc)
    np.testing.assert_array_equal(corpus.word_ids, word)
    np.testing.assert_array_equal(corpus.counts, count)
    np.testing.assert_array_equal(corpus.lengths(), np.bincount(doc, weights=count, minlength=documents))

    write(path, f"{documents}\n{words}\n{n}\n{body}\n1 1 x\n")
    with pytest.raises(DataError, match=rf"docword\.big\.txt, line {n + 4}: non-integer token 'x'"):
        load_uci_bow(path)

    starts = np.searchsorted(doc, np.arange(documents))
    ends = np.searchsorted(doc, np.arange(documents), side="right")
    lines = [
        " ".join([str(e - s)] + [f"{w}:{c}" for w, c in zip(word[s:e], count[s:e])])
        for s, e in zip(starts, ends)
    ]
    ldac = write(tmp_path / "big.dat", "\n".join(lines) + "\n")
    corpus = load_ldac(ldac, vocabulary_size=words)
    np.testing.assert_array_equal(corpus.doc_ids, doc)
    np.testing.assert_array_equal(corpus.word_ids, word)
    np.testing.assert_array_equal(corpus.counts, count)
    lines[-1] += " 7:0"
    write(ldac, "\n".join(lines) + "\n")
    message = rf"big\.dat, line {documents}: N = \d+ but the line has \d+ id:count"
    with pytest.raises(DataError, match=message):
        load_ldac(ldac)


# ---------------------------------------------------------------------------- Corpus methods


def small_corpus(seed: int = 0, labels: bool = True) -> tuple[Corpus, np.ndarray]:
    counts = random_counts(seed)
    docs, words = np.nonzero(counts)
    corpus = Corpus(
        doc_ids=docs.astype(np.int64), word_ids=words.astype(np.int64), counts=counts[docs, words],
        num_documents=7, vocabulary=tuple(words_for(12)),
        labels=np.arange(7, dtype=np.int64) % 3 if labels else None, source="memory",
    )
    return corpus, counts


def test_lengths_word_totals_dense():
    corpus, counts = small_corpus()
    assert corpus.lengths().dtype == np.int64 and corpus.word_totals().dtype == np.int64
    np.testing.assert_array_equal(corpus.lengths(), counts.sum(1))
    np.testing.assert_array_equal(corpus.word_totals(), counts.sum(0))
    assert corpus.lengths()[2] == 0 and corpus.word_totals()[5] == 0
    assert corpus.dense().dtype == torch.float32
    assert torch.equal(corpus.dense(torch.int64), torch.tensor(counts))
    assert torch.equal(corpus.dense(torch.float64), torch.tensor(counts, dtype=torch.float64))
    assert "7 documents, 12 words" in repr(corpus)


def test_dense_rejects_a_non_dtype():
    corpus, _ = small_corpus()
    with pytest.raises(ConfigError, match="dtype must be a torch.dtype"):
        corpus.dense("float32")


def brute_force_top(counts: np.ndarray, k: int) -> list[int]:
    totals = counts.sum(0)
    return sorted(range(len(totals)), key=lambda w: (-totals[w], w))[:k]


@pytest.mark.parametrize("seed", range(6))
def test_most_frequent_words_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 3, size=(5, 40))  # small counts: many tied totals
    docs, words = np.nonzero(counts)
    corpus = Corpus(docs.astype(np.int64), words.astype(np.int64), counts[docs, words].astype(np.int64),
                    5, tuple(words_for(40)))
    totals = counts.sum(0)
    assert len(np.unique(totals)) < len(totals)  # the case really has ties
    for k in (1, 7, 23, 40):
        top = most_frequent_words(corpus, k)
        assert top.dtype == np.int64
        assert top.tolist() == brute_force_top(counts, k)
        ranked = np.lexsort((np.arange(40), -totals))[:k]  # numpy reference: total desc, then id asc
        np.testing.assert_array_equal(top, ranked)


def test_most_frequent_words_tie_rule_explicitly():
    counts = np.array([[2, 3, 0, 3, 1], [1, 0, 0, 0, 1]])
    docs, words = np.nonzero(counts)
    corpus = Corpus(docs, words, counts[docs, words], 2, tuple("abcde"))
    # totals 3, 3, 0, 3, 2: the three 3s in id order, then 2, then the unused word
    assert most_frequent_words(corpus, 5).tolist() == [0, 1, 3, 4, 2]


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "3", None, 13])
def test_most_frequent_words_bad_k(k):
    corpus, _ = small_corpus()
    with pytest.raises(ConfigError, match=r"most_frequent_words: k must be"):
        most_frequent_words(corpus, k)


@pytest.mark.parametrize(
    "indices",
    [[3, 0, 11, 5], np.array([7]), torch.tensor([1, 2, 3]), list(range(12))[::-1], (4, 9)],
    ids=["list", "array", "tensor", "all-reversed", "tuple"],
)
def test_restrict_keeps_columns_exactly(indices):
    corpus, counts = small_corpus()
    restricted = corpus.restrict(indices)
    idx = np.asarray(indices.tolist() if isinstance(indices, torch.Tensor) else indices)
    check_sparse_invariants(restricted)
    assert torch.equal(restricted.dense(), corpus.dense()[:, idx])
    assert restricted.vocabulary == tuple(corpus.vocabulary[i] for i in idx)
    assert restricted.num_documents == 7  # documents that became empty are kept
    np.testing.assert_array_equal(restricted.lengths(), counts[:, idx].sum(1))
    np.testing.assert_array_equal(restricted.labels, corpus.labels)


def test_restrict_keeps_documents_that_become_empty():
    corpus, counts = small_corpus()
    restricted = corpus.restrict([5])  # the word nobody uses
    assert restricted.num_documents == 7 and len(restricted.counts) == 0
    assert restricted.lengths().tolist() == [0] * 7
    assert restricted.dense().shape == (7, 1)


@pytest.mark.parametrize(
    "indices, message",
    [
        ([], "must be a non-empty 1-d"),
        ([[1, 2]], r"must be a non-empty 1-d .*shape \(1, 2\)"),
        ([0, 12], r"holds word id 12, outside 0\.\.11 \(vocabulary size 12\)"),
        ([-1, 2], r"holds word id -1, outside 0\.\.11"),
        ([1, 4, 1], "lists word id 1 2 times, expected distinct word ids"),
        ([1.0, 2.0], "integer word ids"),
        (np.ones(12, dtype=bool), "not a mask"),
    ],
)
def test_restrict_bad_arguments(indices, message):
    corpus, _ = small_corpus()
    with pytest.raises(ConfigError, match="Corpus.restrict: word_indices .*" + message):
        corpus.restrict(indices)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"doc_ids": [0, 1]}, "doc_ids must be a 1-d int64 numpy array"),
        ({"counts": np.array([1, 2], dtype=np.int32)}, "counts must be a 1-d int64"),
        ({"word_ids": np.array([0], dtype=np.int64)}, "must have one length"),
        ({"doc_ids": np.array([0, 3], dtype=np.int64)}, r"doc_ids must lie in 0\.\.2"),
        ({"word_ids": np.array([0, 4], dtype=np.int64)}, r"word_ids must lie in 0\.\.3"),
        ({"counts": np.array([1, 0], dtype=np.int64)}, "counts must be positive"),
        ({"num_documents": -1}, "num_documents must be a non-negative int"),
        ({"num_documents": 3.0}, "num_documents must be a non-negative int"),
        ({"vocabulary": ["a", "b", "c", "d"]}, "vocabulary must be a tuple of str"),
        ({"labels": np.zeros(2, dtype=np.int64)}, r"labels must be None or an int64 array of shape \(3,\)"),
        ({"source": None}, "source must be a str"),
    ],
)
def test_corpus_validates_its_fields(change, message):
    fields = dict(doc_ids=np.array([0, 2], dtype=np.int64), word_ids=np.array([1, 3], dtype=np.int64),
                  counts=np.array([1, 5], dtype=np.int64), num_documents=3, vocabulary=tuple("abcd"))
    Corpus(**fields)  # valid as it stands
    with pytest.raises(ConfigError, match="Corpus: .*" + message):
        Corpus(**{**fields, **change})


# ---------------------------------------------------------------------------------- dispatch


def test_load_text_corpus_truncates_both_splits_by_the_training_ranking(tmp_path):
    words = words_for(6)
    train = np.array([[9, 1, 5, 0, 2, 1], [1, 0, 4, 0, 1, 0], [0, 0, 0, 0, 0, 3]])
    test = np.array([[0, 8, 0, 7, 0, 0], [0, 9, 1, 6, 0, 0]])  # test's own top words: 1 and 3
    write_20ng(tmp_path, "train", train, np.array([0, 1, 0]), words)
    write_20ng(tmp_path, "test", test, np.array([1, 1]), words)
    train_top = [0, 2, 5]  # training totals 10, 1, 9, 0, 3, 4
    assert brute_force_top(test, 3) != train_top

    got_train, got_test = load_text_corpus(tmp_path, vocabulary_size=3)
    assert got_train.vocabulary == got_test.vocabulary == tuple(words[i] for i in train_top)
    assert torch.equal(got_train.dense(), as_tensor(train[:, train_top]))
    assert torch.equal(got_test.dense(), as_tensor(test[:, train_top]))
    assert got_test.lengths().tolist() == [0, 1]  # the first test document became empty and is kept
    np.testing.assert_array_equal(got_test.labels, [1, 1])

    full_train, full_test = load_text_corpus(tmp_path, vocabulary_size=None)
    assert full_train.vocabulary_size == 6 and torch.equal(full_test.dense(), as_tensor(test))
    assert load_text_corpus(tmp_path, vocabulary_size=6)[0].vocabulary == tuple(words)
    assert load_text_corpus(tmp_path)[0].vocabulary_size == 6  # default 10000 > 6: nothing cut


def test_a_single_file_is_split_at_n_train_before_its_vocabulary_is_ranked(tmp_path):
    train = np.array([[9, 1, 5, 0, 2, 1], [1, 0, 4, 0, 1, 0], [0, 0, 0, 0, 0, 3]])
    test = np.array([[0, 8, 0, 7, 0, 0], [0, 9, 1, 6, 0, 0]])  # the whole file's top 3: 1, 0, 3
    path = write_ldac(tmp_path / "corpus.dat", np.concatenate([train, test]))
    got_train, got_test = load_text_corpus(path, vocabulary_size=3, n_train=3)
    train_top = [0, 2, 5]  # training totals 10, 1, 9, 0, 3, 4
    assert brute_force_top(np.concatenate([train, test]), 3) != train_top
    assert torch.equal(got_train.dense(), as_tensor(train[:, train_top]))
    assert torch.equal(got_test.dense(), as_tensor(test[:, train_top]))
    assert got_test.source.endswith("(documents 4–5)") and got_train.source.endswith("(documents 1–3)")
    with pytest.raises(ConfigError, match="holds 5 documents; n_train=5 are for training and the rest for testing"):
        load_text_corpus(path, n_train=5)
    write_20ng(tmp_path / "ng", "train", train, np.array([0, 1, 0]), words_for(6))
    write_20ng(tmp_path / "ng", "test", test, np.array([1, 1]), words_for(6))
    with pytest.raises(ConfigError, match="n_train=2 would be unused: .* has its own test split"):
        load_text_corpus(tmp_path / "ng", n_train=2)


def test_split_documents_keeps_labels_and_empty_documents():
    corpus = Corpus(np.array([0, 0, 2, 3]), np.array([1, 2, 0, 1]), np.array([1, 4, 2, 5]), 5, ("a", "b", "c"),
                    np.array([4, 3, 2, 1, 0]), "c.txt")
    first, rest = split_documents(corpus, 2)
    assert torch.equal(first.dense(), corpus.dense()[:2]) and torch.equal(rest.dense(), corpus.dense()[2:])
    np.testing.assert_array_equal(rest.labels, [2, 1, 0])
    assert (first.num_documents, rest.num_documents, rest.vocabulary) == (2, 3, ("a", "b", "c"))


def test_load_text_corpus_20newsgroups_without_test(tmp_path):
    write_20ng(tmp_path, "train", random_counts(), np.zeros(7, dtype=int), words_for(12))
    train, test = load_text_corpus(tmp_path, vocabulary_size=4)
    assert test is None and train.vocabulary_size == 4


@pytest.mark.parametrize("gz", [False, True])
def test_load_text_corpus_uci_finds_its_vocab(tmp_path, gz):
    counts = random_counts()
    path = write_uci(tmp_path / f"docword.kos.txt{'.gz' if gz else ''}", counts, gz=gz)
    write_vocab(tmp_path / "vocab.kos.txt", words_for(12))
    train, test = load_text_corpus(path, vocabulary_size=None)
    assert test is None and train.vocabulary == tuple(words_for(12))
    assert torch.equal(train.dense(), as_tensor(counts))
    top = brute_force_top(counts, 5)
    train, _ = load_text_corpus(path, vocabulary_size=5)
    assert train.vocabulary == tuple(words_for(12)[i] for i in top)
    assert torch.equal(train.dense(), as_tensor(counts[:, top]))


def test_load_text_corpus_uci_without_vocab(tmp_path):
    path = write_uci(tmp_path / "counts.txt", random_counts())
    train, _ = load_text_corpus(path, vocabulary_size=None)
    assert train.vocabulary == tuple(f"w{i}" for i in range(12))


def test_load_text_corpus_ldac_uses_vocab_txt_beside_it(tmp_path):
    counts = random_counts()
    path = write_ldac(tmp_path / "ap.dat", counts)
    train, test = load_text_corpus(path, vocabulary_size=None)
    assert test is None and train.vocabulary == tuple(f"w{i}" for i in range(12))
    write_vocab(tmp_path / "vocab.txt", words_for(12))
    train, _ = load_text_corpus(path, vocabulary_size=None)
    assert train.vocabulary == tuple(words_for(12))
    assert torch.equal(train.dense(), as_tensor(counts))


def test_load_text_corpus_reads_a_gzipped_ldac_file(tmp_path):
    counts = random_counts()
    path = write(tmp_path / "ap.dat.gz", "".join(line + "\n" for line in ldac_lines(counts)), gz=True)
    train, test = load_text_corpus(path, vocabulary_size=None)
    assert test is None and torch.equal(train.dense(), as_tensor(counts))


def test_load_text_corpus_ldac_starting_with_empty_documents(tmp_path):
    path = write(tmp_path / "c.dat", "0\n0\n0\n2 1:1 3:2\n")
    train, _ = load_text_corpus(path, vocabulary_size=None)
    assert train.num_documents == 4 and train.lengths().tolist() == [0, 0, 0, 3]


@pytest.mark.parametrize(
    "content, message",
    [
        ("hello world\n", r"unrecognised corpus format, first line 'hello world'"),
        ("1 2 3\n", r"first line '1 2 3' \(for 20Newsgroups, give the folder holding train\.data"),
        ("\n   \n", "empty file"),
        ("", "empty file"),
    ],
)
def test_load_text_corpus_unknown_format(tmp_path, content, message):
    path = write(tmp_path / "mystery.txt", content)
    with pytest.raises(DataError, match=r"mystery\.txt: .*" + message + ".*20Newsgroups.*UCI.*LDA-C"):
        load_text_corpus(path)


def test_load_text_corpus_missing_path_and_folder_without_train(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: no such file or folder, expected a 20Newsgroups"):
        load_text_corpus(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: folder without train\.data"):
        load_text_corpus(tmp_path / "empty")


@pytest.mark.parametrize("size", [0, -5, 2.5, True, "100"])
def test_load_text_corpus_bad_vocabulary_size(tmp_path, size):
    with pytest.raises(ConfigError, match="load_text_corpus: vocabulary_size must be a positive int"):
        load_text_corpus(tmp_path, vocabulary_size=size)


# ------------------------------------------------------------------------- 20Newsgroups errors


@pytest.fixture
def ng(tmp_path) -> Path:
    """A valid 20Newsgroups folder: 7 documents, 12 words, labels 1..3 in the files."""
    return write_20ng(tmp_path / "20news", "train", random_counts(), np.arange(7) % 3, words_for(12))


def set_line(path: Path, number: int, text: str) -> None:
    """Replaces line ``number`` (1-based) of ``path``, or appends it when ``number`` is one past the end."""
    lines = path.read_text().splitlines()
    if number == len(lines) + 1:
        lines.append(text)
    else:
        lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_20newsgroups_missing_files(tmp_path, ng):
    with pytest.raises(DataError, match=r"nothing: no such folder, expected a folder holding .*train\.data"):
        load_20newsgroups(tmp_path / "nothing")
    with pytest.raises(DataError, match=r"train\.data: not a folder"):
        load_20newsgroups(ng / "train.data")
    with pytest.raises(DataError, match=r"20news: no test\.data in this folder, expected .*test\.label"):
        load_20newsgroups(ng, "test")
    for name in ["vocabulary.txt", "train.label", "train.data"]:
        (ng / name).unlink()
        with pytest.raises(DataError, match=rf"20news: no {re.escape(name)} in this folder"):
            load_20newsgroups(ng)


@pytest.mark.parametrize("name", ["train.data", "train.label", "vocabulary.txt"])
@pytest.mark.parametrize("content", ["", "\n \n"])
def test_20newsgroups_empty_files(ng, name, content):
    write(ng / name, content)
    with pytest.raises(DataError, match=rf"{re.escape(name)}: empty file"):
        load_20newsgroups(ng)


def test_20newsgroups_bad_split(ng):
    with pytest.raises(ConfigError, match="split must be 'train' or 'test', got 'valid'"):
        load_20newsgroups(ng, "valid")


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 2", r"2 fields in '1 2', expected three integers `docIdx wordIdx count`"),
        ("1 2 3 4", "4 fields in '1 2 3 4'"),
        ("1 x 3", r"non-integer token 'x' in '1 x 3'"),
        ("1 2 3.5", r"non-integer token '3\.5'"),
        ("1 2 +3", r"non-integer token '\+3'"),
        ("1 2 3-", r"non-integer token '3-'"),
        ("1 2 --3", r"non-integer token '--3'"),
        ("1,2,3", r"non-integer token '1,2,3'"),
        ("1 2 3:4", r"non-integer token '3:4'"),
        ("1 2\x0c3", r"non-integer token '2\\x0c3'"),
        ("1 2 é", r"non-integer token 'é'"),
        ("1 2 1234567890123456789", "integer '1234567890123456789' has more than 18 digits"),
        ("", "blank line, expected three integers"),
        ("1 2 -3", r"count -3 in '1 2 -3', counts must be positive integers"),
        ("1 2 0", r"count 0 in '1 2 0', counts must be positive integers"),
        ("1 0 3", r"word id 0 in '1 0 3' is outside 1\.\.12 \(1-based ids; .*vocabulary\.txt has 12 words\)"),
        ("1 13 3", r"word id 13 in '1 13 3' is outside 1\.\.12 .*vocabulary\.txt has 12 words"),
        ("0 2 3", r"document id 0 in '0 2 3' is outside 1\.\.7"),
        ("8 2 3", r"document id 8 in '8 2 3' is outside 1\.\.7 \(1-based ids; .*train\.label has 7 lines"),
    ],
)
def test_20newsgroups_bad_data_lines(ng, text, message):
    set_line(ng / "train.data", 3, text)
    with pytest.raises(DataError, match=r"train\.data, line 3: " + message):
        load_20newsgroups(ng)


def test_20newsgroups_error_on_an_appended_line(ng):
    path = ng / "train.data"
    number = len(path.read_text().splitlines()) + 1
    set_line(path, number, "99 1 1")
    with pytest.raises(DataError, match=rf"train\.data, line {number}: document id 99"):
        load_20newsgroups(ng)


def test_20newsgroups_blank_line_in_the_middle_but_not_at_the_end(ng):
    path = ng / "train.data"
    write(path, path.read_text() + "\n\n  \n")  # blank lines at the end are fine
    assert load_20newsgroups(ng).num_documents == 7
    lines = path.read_text().splitlines()
    write(path, "\n".join(lines[:4] + ["   "] + lines[4:]) + "\n")
    with pytest.raises(DataError, match=r"train\.data, line 5: blank line, expected three integers"):
        load_20newsgroups(ng)


def test_20newsgroups_duplicate_pair_names_both_lines(ng):
    path = ng / "train.data"
    lines = path.read_text().splitlines()
    doc, word, _ = lines[1].split()
    set_line(path, len(lines) + 1, f"{doc} {word} 9")
    with pytest.raises(
        DataError,
        match=rf"train\.data, lines 2 and {len(lines) + 1}: document {doc} word {word} appears twice",
    ):
        load_20newsgroups(ng)


@pytest.mark.parametrize(
    "text, message",
    [
        ("0", "label 0, labels must be positive integers"),
        ("-2", "label -2, labels must be positive integers"),
        ("a", r"non-integer token 'a' in 'a', expected one integer, the document's 1-based class label"),
        ("1.0", r"non-integer token '1\.0'"),
        ("1 2", r"2 fields in '1 2', expected one integer"),
    ],
)
def test_20newsgroups_bad_labels(ng, text, message):
    set_line(ng / "train.label", 4, text)
    with pytest.raises(DataError, match=r"train\.label, line 4: " + message):
        load_20newsgroups(ng)


def test_20newsgroups_vocabulary_blank_line_and_bad_utf8(ng):
    path = ng / "vocabulary.txt"
    set_line(path, 3, "  ")
    with pytest.raises(DataError, match=r"vocabulary\.txt, line 3: blank line, expected one word per line"):
        load_20newsgroups(ng)
    path.write_bytes(b"alpha\nbeta\ngam\xffma\n")
    with pytest.raises(DataError, match=r"vocabulary\.txt, line 3: invalid UTF-8 \(byte 0xff\)"):
        load_20newsgroups(ng)


def test_20newsgroups_vocabulary_too_short_for_the_ids(ng):
    write_vocab(ng / "vocabulary.txt", words_for(11))  # word 12 is used
    message = r"train\.data, line \d+: word id 12 .* outside 1\.\.11 .*vocabulary\.txt has 11 words"
    with pytest.raises(DataError, match=message):
        load_20newsgroups(ng)


# ---------------------------------------------------------------------------------- UCI errors


@pytest.fixture
def uci(tmp_path) -> Path:
    return write_uci(tmp_path / "docword.t.txt", random_counts())


def test_uci_missing_and_empty(tmp_path):
    with pytest.raises(DataError, match=r"docword\.none\.txt: no such file, expected a UCI docword file"):
        load_uci_bow(tmp_path / "docword.none.txt")
    with pytest.raises(DataError, match=r"docword\.e\.txt: empty file, expected a UCI docword file"):
        load_uci_bow(write(tmp_path / "docword.e.txt", ""))
    with pytest.raises(DataError, match=r"docword\.gz\.txt: empty file"):
        load_uci_bow(write(tmp_path / "docword.gz.txt", "", gz=True))
    with pytest.raises(DataError, match=r"vocab\.none\.txt: no such file, expected a vocabulary file"):
        load_uci_bow(write_uci(tmp_path / "docword.t.txt", random_counts()), tmp_path / "vocab.none.txt")


def test_uci_corrupt_gzip(tmp_path):
    good = gzip.compress(b"1\n1\n1\n1 1 1\n")
    for name, payload in [("garbage", b"\x1f\x8bnot deflate"), ("cut", good[: len(good) // 2])]:
        path = tmp_path / f"docword.{name}.txt.gz"
        path.write_bytes(payload)
        with pytest.raises(DataError, match=rf"docword\.{name}\.txt\.gz: corrupt gzip stream"):
            load_uci_bow(path)


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("7\n12\n", None, "only 2 lines, expected a header of three lines D, W, NNZ"),
        ("7\n", None, "only 1 line, expected a header"),
        ("7 12 3\n", 1, "3 fields in '7 12 3', expected one integer, the number of documents D"),
        ("7\nW\n0\n", 2, "non-integer token 'W' in 'W', expected one integer, the vocabulary size W"),
        ("7\n12\n1 1\n", 3, "2 fields in '1 1', expected one integer, the number of nonzero counts NNZ"),
        ("0\n12\n0\n", 1, "D = 0, expected a positive number of documents"),
        ("7\n0\n0\n", 2, "W = 0, expected a positive vocabulary size"),
        ("7\n12\n-1\n", 3, "NNZ = -1, expected a non-negative number of counts"),
        ("7\n12\n2\n1 1 1\n", None,
         "1 line `docID wordID count` after the header, but header line 3 says NNZ = 2"),
        ("7\n12\n1\n1 1 1\n2 2 2\n", None, "2 lines `docID wordID count` .* header line 3 says NNZ = 1"),
        ("7\n12\n2\n1 1 1\n2 2\n", 5, "2 fields in '2 2', expected three integers `docID wordID count`"),
        ("7\n12\n1\n8 1 1\n", 4,
         r"document id 8 in '8 1 1' is outside 1\.\.7 \(1-based ids; header line 1 says D = 7\)"),
        ("7\n12\n1\n1 13 1\n", 4,
         r"word id 13 in '1 13 1' is outside 1\.\.12 \(1-based ids; header line 2 says W = 12\)"),
        ("7\n12\n1\n1 0 1\n", 4, r"word id 0 .* outside 1\.\.12"),
        ("7\n12\n1\n1 1 0\n", 4, "count 0 in '1 1 0', counts must be positive integers"),
        ("7\n12\n1\n1 1 -4\n", 4, "count -4 in '1 1 -4', counts must be positive integers"),
        ("7\n12\n3\n1 1 1\n\n2 2 2\n", 5, "blank line, expected three integers `docID wordID count`"),
        ("7\n12\n3\n1 1 1\n2 2 2\n1 1 5\n", None, "lines 4 and 6: document 1 word 1 appears twice"),
    ],
)
def test_uci_bad_files(tmp_path, text, line, message):
    path = write(tmp_path / "docword.bad.txt", text)
    where = rf"docword\.bad\.txt, line {line}: " if line else r"docword\.bad\.txt[:,] "
    with pytest.raises(DataError, match=where + message):
        load_uci_bow(path)


def test_uci_vocab_length_must_be_w(tmp_path, uci):
    vocab = write_vocab(tmp_path / "vocab.t.txt", words_for(11))
    message = r"vocab\.t\.txt: 11 words, but header line 2 of .*docword\.t\.txt says W = 12"
    with pytest.raises(DataError, match=message):
        load_uci_bow(uci, vocab)


def test_uci_word_id_error_names_the_vocab_file(tmp_path):
    path = write(tmp_path / "docword.v.txt", "2\n3\n1\n1 4 1\n")
    vocab = write_vocab(tmp_path / "vocab.v.txt", ["a", "b", "c"])
    message = r"docword\.v\.txt, line 4: word id 4 .* outside 1\.\.3 .*W = 3, the words of .*vocab\.v\.txt"
    with pytest.raises(DataError, match=message):
        load_uci_bow(path, vocab)


# -------------------------------------------------------------------------------- LDA-C errors


@pytest.mark.parametrize(
    "text, message",
    [
        ("2 1:3", r"N = 2 but the line has 1 id:count pairs \('2 1:3'\), expected N to be the number"),
        ("0 1:3", "N = 0 but the line has 1 id:count pairs"),
        ("1 1:3 2:1", "N = 1 but the line has 2"),
        ("-1", "N = -1 but the line has 0"),
        ("1 1:", r"token '1:' in '1 1:' is not an integer pair `id:count`"),
        ("1 :3", r"token ':3' .* is not an integer pair"),
        ("1 1:2:3", r"token '1:2:3' .* is not an integer pair"),
        ("1 1 : 3", r"token '1' in '1 1 : 3' is not an integer pair"),
        ("1 1:x", r"token '1:x' .* is not an integer pair"),
        ("1 1:2.0", r"token '1:2\.0'"),
        ("2 1:2 3", r"token '3' in '2 1:2 3' is not an integer pair"),
        ("1:2 3:4", r"first token '1:2' .* is not an integer, expected the number of pairs N"),
        ("x 1:2", r"first token 'x'"),
        ("1 1:-2", r"count -2 for word id 1 in '1 1:-2', counts must be positive integers"),
        ("1 1:0", "count 0 for word id 1 in '1 1:0', counts must be positive integers"),
        ("1 -1:2", "word id -1 is negative, expected 0-based word ids"),
        ("1 12:2", r"word id 12 is outside 0\.\.11 \(0-based ids; .*vocab\.txt has 12 words\)"),
        ("2 4:1 4:2", r"word id 4 appears twice \(pairs 4:1 and 4:2 in '2 4:1 4:2'\), expected distinct ids"),
        ("1 1:12345678901234567890", "integer '12345678901234567890' has more than 18 digits"),
        ("", r"blank line, expected `N id:count id:count \.\.\.` \(the line `0` for an empty document\)"),
    ],
)
def test_ldac_bad_lines(tmp_path, text, message):
    path = write_ldac(tmp_path / "bad.dat", random_counts())
    set_line(path, 4, text)
    vocab = write_vocab(tmp_path / "vocab.txt", words_for(12))
    with pytest.raises(DataError, match=r"bad\.dat, line 4: " + message):
        load_ldac(path, vocab)


def test_ldac_id_outside_vocabulary_size(tmp_path):
    path = write(tmp_path / "c.dat", "1 0:1\n1 5:1\n")
    message = r"c\.dat, line 2: word id 5 is outside 0\.\.4 \(0-based ids; vocabulary_size is 5\)"
    with pytest.raises(DataError, match=message):
        load_ldac(path, vocabulary_size=5)


def test_ldac_missing_empty_and_all_empty(tmp_path):
    with pytest.raises(DataError, match=r"none\.dat: no such file, expected an LDA-C file"):
        load_ldac(tmp_path / "none.dat")
    with pytest.raises(DataError, match=r"e\.dat: empty file, expected an LDA-C file"):
        load_ldac(write(tmp_path / "e.dat", ""))
    path = write(tmp_path / "zeros.dat", "0\n0\n")
    with pytest.raises(DataError, match=r"zeros\.dat: every document is empty and no vocabulary was given"):
        load_ldac(path)
    corpus = load_ldac(path, vocabulary_size=3)
    assert corpus.num_documents == 2 and corpus.dense().tolist() == [[0, 0, 0], [0, 0, 0]]


def test_ldac_vocabulary_size_arguments(tmp_path):
    path = write_ldac(tmp_path / "c.dat", random_counts())
    vocab = write_vocab(tmp_path / "vocab.txt", words_for(12))
    assert load_ldac(path, vocab, vocabulary_size=12).vocabulary == tuple(words_for(12))
    message = r"vocabulary_size=13 disagrees with .*vocab\.txt, which has 12 words"
    with pytest.raises(ConfigError, match=message):
        load_ldac(path, vocab, vocabulary_size=13)
    for bad in [0, -1, 2.0, True]:
        with pytest.raises(ConfigError, match="load_ldac: vocabulary_size must be a positive int"):
            load_ldac(path, vocabulary_size=bad)


def test_load_text_corpus_ldac_errors_come_from_the_loader(tmp_path):
    path = write(tmp_path / "c.dat", "2 1:x 3:1\n")
    with pytest.raises(DataError, match=r"c\.dat, line 1: token '1:x' in '2 1:x 3:1' is not an integer pair"):
        load_text_corpus(path)


def test_load_text_corpus_test_data_without_test_label(tmp_path):
    write_20ng(tmp_path, "train", random_counts(), np.zeros(7, dtype=int), words_for(12))
    write(tmp_path / "test.data", "1 1 1\n")
    with pytest.raises(DataError, match=r"no test\.label in this folder"):
        load_text_corpus(tmp_path)


# ------------------------------------------------------------ fast path and messages agree

GARBAGE = list("0123456789") * 2 + list(" -:\t.+x") + ["\x0c", "é"]


@pytest.mark.parametrize("fmt", ["uci", "ldac"])
def test_any_bad_line_is_reported_on_its_line_with_a_reason(tmp_path, fmt):
    """Random lines put in the middle of a valid file: every rejection names that line (or, for a
    repeated pair or a wrong NNZ, the lines involved) and says what is wrong, never just 'malformed'."""
    rng = np.random.default_rng(7)
    path = tmp_path / "f.txt"
    accepted = 0
    for _ in range(400):
        line = "".join(rng.choice(GARBAGE, size=rng.integers(0, 12)))
        if fmt == "uci":
            write(path, "\n".join(["9", "40", "4", "1 1 1", line, "2 2 2", "3 3 3"]) + "\n")
            load, where = load_uci_bow, r"f\.txt(, line 5: |, lines \d+ and 5: |: .*NNZ = 4)"
        else:
            write(path, "\n".join(["1 1:1", "2 3:1 4:2", line, "0", "1 5:5"]) + "\n")
            load, where = (lambda p: load_ldac(p, vocabulary_size=40)), r"f\.txt, line 3: "
        try:
            load(path)
            accepted += 1
        except DataError as e:
            assert re.match(".*" + where, str(e)), str(e)
            assert "malformed line" not in str(e)
    assert accepted < 400
