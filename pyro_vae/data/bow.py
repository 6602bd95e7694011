"""Bag-of-words text corpora in three standard formats, read from local files into a sparse ``Corpus``.

- 20Newsgroups "matlab" release (20news-bydate-matlab, also called "processed"): a folder with
  ``{split}.data`` (lines ``docIdx wordIdx count``, 1-based), ``{split}.label`` (one 1-based class
  per line, one line per document) and ``vocabulary.txt`` (one word per line, line number = word id).
- UCI "Bag of Words" (docword.<name>.txt[.gz] and vocab.<name>.txt): three header lines D, W, NNZ,
  then NNZ lines ``docID wordID count`` (1-based).
- LDA-C (Blei's lda-c): one document per line, ``N id:count id:count ...`` with 0-based word ids,
  N the number of pairs; an empty document is the line ``0``.

Rules shared by every reader, so that nothing is coerced or dropped without a word:

- any file may be gzip-compressed; this is detected by its magic bytes, not its name;
- ids in the result are 0-based: the 1-based ids and 20Newsgroups labels of the files minus 1;
- counts must be positive integers: a count of 0 (or below) is an error, not an entry to skip;
- a (document, word) pair may appear once; a repeated pair is an error naming both lines;
- tokens are ASCII integers separated by spaces or tabs, lines end in LF or CRLF; a blank line is
  an error, except blank lines at the very end of a file, which hold nothing;
- vocabulary files are UTF-8; each line, stripped of surrounding whitespace, is one word; a blank
  line is an error (except at the end); repeated words are kept as they are, under distinct ids.

The integer files are parsed with numpy without a Python loop over the lines: bytes are classified
through a lookup table, tokens and their line numbers found with vectorised operations, and the
values read by ``np.fromstring`` once every byte is known to belong to a well-formed integer. Only
when something is wrong is the first offending line looked at in Python, to say what is wrong.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pyro_vae.errors import ConfigError, DataError
from pyro_vae.validation import check_positive_int

from .files import GZIP_MAGIC, read_bytes

NG_SPLITS = ("train", "test")
NG_VOCABULARY = "vocabulary.txt"
LDAC_VOCABULARY = "vocab.txt"  # load_text_corpus: the vocabulary of an LDA-C file is vocab.txt beside it
UCI_DOCWORD = re.compile(r"docword\.(.+)\.txt(?:\.gz)?")
MAX_DIGITS = 18  # every integer of at most 18 digits fits in int64

FORMATS = (
    "a 20Newsgroups matlab folder (train.data, train.label, vocabulary.txt), "
    "a UCI docword file (header lines D, W, NNZ, then lines `docID wordID count`, plain or gzipped) "
    "or an LDA-C file (lines `N id:count id:count ...`)"
)

# byte classes of the integer files
_OTHER, _SPACE, _NEWLINE, _DIGIT, _MINUS, _COLON = range(6)
_CLASSES = np.full(256, _OTHER, dtype=np.uint8)
_CLASSES[[ord(" "), ord("\t"), ord("\r")]] = _SPACE
_CLASSES[ord("\n")] = _NEWLINE
_CLASSES[ord("0"): ord("9") + 1] = _DIGIT
_CLASSES[ord("-")] = _MINUS
_CLASSES[ord(":")] = _COLON

_SEPARATORS = re.compile(r"[ \t\r]+")
_INTEGER = re.compile(r"-?[0-9]+")
_PAIR = re.compile(r"-?[0-9]+:-?[0-9]+")

TRIPLE_20NG = "three integers `docIdx wordIdx count`"
TRIPLE_UCI = "three integers `docID wordID count`"
UCI_HEADER = (
    "one integer, the number of documents D",
    "one integer, the vocabulary size W",
    "one integer, the number of nonzero counts NNZ",
)
LDAC_LINE = "`N id:count id:count ...` (the line `0` for an empty document)"


@dataclass(frozen=True, eq=False, repr=False)
class Corpus:
    """A bag-of-words corpus held sparsely: document d has counts[i] of word word_ids[i] where
    doc_ids[i] == d.

    ``doc_ids``, ``word_ids`` and ``counts`` are int64 arrays of one shape (nnz,): ids 0-based, counts
    positive. ``vocabulary`` names the words (``"w0"``, ``"w1"``, ... when a format has no vocabulary
    file); ``labels`` holds one 0-based class per document, or is None. ``source`` names the files read.
    Documents without an entry are empty (length 0). The loaders never repeat a (document, word) pair;
    were one repeated, its counts would add up in ``dense``, ``lengths`` and ``word_totals`` alike.
    """

    doc_ids: np.ndarray
    word_ids: np.ndarray
    counts: np.ndarray
    num_documents: int
    vocabulary: tuple[str, ...]
    labels: np.ndarray | None = None
    source: str = ""

    def __post_init__(self):
        for name in ("doc_ids", "word_ids", "counts"):
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.dtype != np.int64 or array.ndim != 1:
                raise ConfigError(f"Corpus: {name} must be a 1-d int64 numpy array, got {_describe(array)}")
        if not len(self.doc_ids) == len(self.word_ids) == len(self.counts):
            raise ConfigError(
                f"Corpus: doc_ids, word_ids and counts must have one length, got "
                f"{len(self.doc_ids)}, {len(self.word_ids)} and {len(self.counts)}"
            )
        num_documents = self.num_documents
        if isinstance(num_documents, bool) or not isinstance(num_documents, int) or num_documents < 0:
            raise ConfigError(f"Corpus: num_documents must be a non-negative int, got {num_documents!r}")
        if not isinstance(self.vocabulary, tuple) or not all(isinstance(w, str) for w in self.vocabulary):
            raise ConfigError(
                f"Corpus: vocabulary must be a tuple of str, got {type(self.vocabulary).__name__}"
            )
        if not isinstance(self.source, str):
            raise ConfigError(f"Corpus: source must be a str, got {type(self.source).__name__}")
        for name, array, size in (("doc_ids", self.doc_ids, self.num_documents),
                                  ("word_ids", self.word_ids, self.vocabulary_size)):
            if len(array) and (array.min() < 0 or array.max() >= size):
                raise ConfigError(
                    f"Corpus: {name} must lie in 0..{size - 1}, found {array.min()}..{array.max()}"
                )
        if len(self.counts) and self.counts.min() < 1:
            raise ConfigError(f"Corpus: counts must be positive, found {self.counts.min()}")
        labels = self.labels
        if labels is not None and not (
            isinstance(labels, np.ndarray) and labels.dtype == np.int64 and labels.shape == (num_documents,)
        ):
            raise ConfigError(
                f"Corpus: labels must be None or an int64 array of shape ({num_documents},), "
                f"got {_describe(labels)}"
            )

    def __repr__(self) -> str:
        labelled = "labelled" if self.labels is not None else "unlabelled"
        return (
            f"Corpus({self.num_documents} documents, {self.vocabulary_size} words, {len(self.counts)} "
            f"nonzero counts, {labelled}, source={self.source!r})"
        )

    @property
    def vocabulary_size(self) -> int:
        """The number of words of the vocabulary, used or not."""
        return len(self.vocabulary)

    def lengths(self) -> np.ndarray:
        """Words per document (the sum of its counts), int64 of shape (num_documents,); 0 when empty."""
        lengths = np.zeros(self.num_documents, dtype=np.int64)
        np.add.at(lengths, self.doc_ids, self.counts)
        return lengths

    def word_totals(self) -> np.ndarray:
        """The total count of each word over the corpus, int64 of shape (vocabulary_size,)."""
        totals = np.zeros(self.vocabulary_size, dtype=np.int64)
        np.add.at(totals, self.word_ids, self.counts)
        return totals

    def dense(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The counts as a dense (num_documents, vocabulary_size) tensor of ``dtype``."""
        if not isinstance(dtype, torch.dtype):
            raise ConfigError(f"Corpus.dense: dtype must be a torch.dtype, got {dtype!r}")
        out = torch.zeros((self.num_documents, self.vocabulary_size), dtype=dtype)
        index = (torch.tensor(self.doc_ids), torch.tensor(self.word_ids))
        out.index_put_(index, torch.tensor(self.counts).to(dtype), accumulate=True)
        return out

    def restrict(self, word_indices: Sequence[int] | np.ndarray | torch.Tensor) -> Corpus:
        """The corpus over the words ``word_indices`` only, in this order: word ``word_indices[j]``
        becomes word j and the vocabulary is reordered likewise. The counts of the other words are
        left out; documents that become empty are kept (length 0), as are the labels."""
        if isinstance(word_indices, torch.Tensor):
            word_indices = word_indices.detach().cpu().numpy()
        indices = np.asarray(word_indices)
        if indices.ndim != 1 or indices.size == 0:
            raise ConfigError(
                f"Corpus.restrict: word_indices must be a non-empty 1-d sequence of word ids, "
                f"got shape {indices.shape}"
            )
        if indices.dtype == bool or not np.issubdtype(indices.dtype, np.integer):
            raise ConfigError(
                f"Corpus.restrict: word_indices must hold integer word ids (not a mask), "
                f"got dtype {indices.dtype}"
            )
        indices = indices.astype(np.int64)
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= self.vocabulary_size:
            bad, size = (low if low < 0 else high), self.vocabulary_size
            raise ConfigError(
                f"Corpus.restrict: word_indices holds word id {bad}, outside 0..{size - 1} "
                f"(vocabulary size {size})"
            )
        unique, seen = np.unique(indices, return_counts=True)
        if (seen > 1).any():
            repeated, times = unique[seen > 1][0], seen[seen > 1][0]
            raise ConfigError(
                f"Corpus.restrict: word_indices lists word id {repeated} {times} times, "
                "expected distinct word ids"
            )
        new_id = np.full(self.vocabulary_size, -1, dtype=np.int64)
        new_id[indices] = np.arange(len(indices), dtype=np.int64)
        mapped = new_id[self.word_ids]
        keep = mapped >= 0
        return Corpus(
            doc_ids=self.doc_ids[keep],
            word_ids=mapped[keep],
            counts=self.counts[keep],
            num_documents=self.num_documents,
            vocabulary=tuple(self.vocabulary[i] for i in indices.tolist()),
            labels=None if self.labels is None else self.labels.copy(),
            source=self.source,
        )


def _describe(value) -> str:
    """A short description of an argument for a message: dtype and shape of an array, else its type."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


def most_frequent_words(corpus: Corpus, k: int) -> np.ndarray:
    """Indices (int64) of the k words with the largest total count, most frequent first; ties broken
    by the smaller word id. ConfigError if k is not a positive int or k > vocabulary size."""
    if not isinstance(corpus, Corpus):
        raise ConfigError(f"most_frequent_words: corpus must be a Corpus, got {type(corpus).__name__}")
    check_positive_int("most_frequent_words: k", k)
    if k > corpus.vocabulary_size:
        raise ConfigError(
            f"most_frequent_words: k must be at most the vocabulary size {corpus.vocabulary_size}, got {k}"
        )
    order = np.argsort(-corpus.word_totals(), kind="stable")  # stable: equal totals keep id order
    return order[:k].astype(np.int64)


# ---------------------------------------------------------------------------------------------- files


def _read_bytes(path: Path, expected: str) -> bytes:
    """The file's content (see :func:`~pyro_vae.data.files.read_bytes`); never empty."""
    raw = read_bytes(path, expected)
    if not raw or raw.isspace():
        what = "empty file" if not raw else "empty file (only whitespace)"
        raise DataError(f"{path}: {what}, expected {expected}")
    return raw


def _quote(text: str, limit: int = 60) -> str:
    """``text`` quoted for a one-line message, cut to ``limit`` characters."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _read_vocabulary(path: Path) -> tuple[str, ...]:
    """The words of a vocabulary file, one per line (UTF-8, surrounding whitespace stripped)."""
    data = _read_bytes(path, "a vocabulary file with one word per line")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # a byte order mark is no part of a word
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: invalid UTF-8 (byte 0x{data[e.start]:02x}), "
            "expected a UTF-8 vocabulary file"
        ) from None
    words = [w.strip() for w in text.rstrip().split("\n")]
    blank = [i for i, w in enumerate(words) if not w]
    if blank:
        raise DataError(f"{path}, line {blank[0] + 1}: blank line, expected one word per line")
    return tuple(words)


class _IntegerFile:
    """An integer text file tokenised with numpy: token offsets, the line of each token, tokens per
    line, and the lines that hold a byte no well-formed integer token may hold.

    With ``colons``, ``:`` separates tokens too (LDA-C's ``id:count``) and must stand between two
    tokens; ``preceded`` and ``followed`` then tell which tokens touch a colon.
    """

    def __init__(self, path: Path, data: bytes, colons: bool = False):
        self.path, self.data, self.colons = path, data, colons
        b = np.frombuffer(data, dtype=np.uint8)
        classes = _CLASSES[b]
        self.newlines = np.flatnonzero(b == ord("\n"))
        number = (classes == _DIGIT) | (classes == _MINUS)
        edges = np.diff(number.view(np.int8), prepend=np.int8(0), append=np.int8(0))
        self.starts = np.flatnonzero(edges == 1)
        self.ends = np.flatnonzero(edges == -1)
        self.token_lines = np.searchsorted(self.newlines, self.starts)

        foreign = classes == _OTHER
        if not colons:
            foreign |= classes == _COLON
        bad = [np.flatnonzero(foreign)]  # byte offsets; turned into line indices below
        minus = np.flatnonzero(classes == _MINUS)  # only as a token's first byte, before a digit
        after = np.minimum(minus + 1, len(b) - 1)
        bad.append(minus[(edges[minus] != 1) | (minus + 1 >= len(b)) | (classes[after] != _DIGIT)])
        digits = self.ends - self.starts - (b[self.starts] == ord("-"))
        bad.append(self.starts[digits > MAX_DIGITS])
        if colons:
            colon = np.flatnonzero(classes == _COLON)  # only between two tokens, touching both
            before, after = np.maximum(colon - 1, 0), np.minimum(colon + 1, len(b) - 1)
            bad.append(colon[(colon == 0) | (colon + 1 >= len(b)) | ~number[before] | ~number[after]])
            self.preceded = (self.starts > 0) & (b[np.maximum(self.starts - 1, 0)] == ord(":"))
            self.followed = (self.ends < len(b)) & (b[np.minimum(self.ends, len(b) - 1)] == ord(":"))
        self.bad_lines = np.searchsorted(self.newlines, np.concatenate(bad))
        last = max(int(self.token_lines.max(initial=-1)), int(self.bad_lines.max(initial=-1)))
        self.num_lines = last + 1  # blank lines at the end of the file hold nothing and are left out
        self.tokens_per_line = np.bincount(self.token_lines, minlength=self.num_lines)

    def line(self, index: int) -> str:
        """The text of line ``index`` (0-based), without its line end."""
        start = int(self.newlines[index - 1]) + 1 if index > 0 else 0
        end = int(self.newlines[index]) if index < len(self.newlines) else len(self.data)
        return self.data[start:end].decode("utf-8", errors="replace")

    def values(self) -> np.ndarray:
        """Every token as int64, in file order; only once the tokens are known to be well formed."""
        if not len(self.starts):
            return np.zeros(0, dtype=np.int64)
        text = self.data.replace(b":", b" ") if self.colons else self.data
        values = np.fromstring(text, dtype=np.int64, sep=" ")
        if len(values) != len(self.starts):  # cannot happen for bytes that passed the checks above
            raise DataError(
                f"{self.path}: read {len(values)} integers where {len(self.starts)} tokens were found, "
                "expected whitespace-separated integers"
            )
        return values

    def fail(self, index: int, message: str) -> DataError:
        """A DataError about line ``index`` (0-based): file, 1-based line number, then ``message``."""
        return DataError(f"{self.path}, line {index + 1}: {message}")

    def first_bad_line(self, *line_indices: np.ndarray) -> int | None:
        """The smallest line index among the lines with bad bytes and the given ``line_indices``."""
        candidates = [self.bad_lines, *line_indices]
        found = [int(c.min()) for c in candidates if len(c)]
        return min(found) if found else None


def _describe_integer_line(text: str, fields: int, expected: str) -> str:
    """What is wrong with a line that should hold ``fields`` integers (``expected`` describes them)."""
    tokens = _SEPARATORS.split(text.strip(" \t\r")) if text.strip(" \t\r") else []
    if not tokens:
        return f"blank line, expected {expected}"
    for token in tokens:
        if not _INTEGER.fullmatch(token):
            return f"non-integer token {_quote(token, 20)} in {_quote(text)}, expected {expected}"
    if len(tokens) != fields:
        plural = "field" if len(tokens) == 1 else "fields"
        return f"{len(tokens)} {plural} in {_quote(text)}, expected {expected}"
    for token in tokens:
        if len(token.lstrip("-")) > MAX_DIGITS:
            return f"integer {_quote(token, 30)} has more than {MAX_DIGITS} digits, expected {expected}"
    return f"malformed line {_quote(text)}, expected {expected}"


def _describe_ldac_line(text: str) -> str:
    """What is wrong with a line that should read ``N id:count id:count ...``."""
    tokens = _SEPARATORS.split(text.strip(" \t\r")) if text.strip(" \t\r") else []
    if not tokens:
        return f"blank line, expected {LDAC_LINE}"
    if not _INTEGER.fullmatch(tokens[0]):
        return (
            f"first token {_quote(tokens[0], 20)} in {_quote(text)} is not an integer, "
            f"expected the number of pairs N, as in {LDAC_LINE}"
        )
    for token in tokens[1:]:
        if not _PAIR.fullmatch(token):
            return (
                f"token {_quote(token, 20)} in {_quote(text)} is not an integer pair `id:count`, "
                f"expected {LDAC_LINE}"
            )
    for token in re.split(r"[ \t\r:]+", text.strip(" \t\r")):
        if len(token.lstrip("-")) > MAX_DIGITS:
            return f"integer {_quote(token, 30)} has more than {MAX_DIGITS} digits, expected {LDAC_LINE}"
    return f"malformed line {_quote(text)}, expected {LDAC_LINE}"


def _fields_checked(file: _IntegerFile, fields: int | np.ndarray,
                    expected: str | Sequence[str]) -> np.ndarray:
    """The tokens of ``file`` as one flat int64 array, once line i is known to hold ``fields`` (or
    ``fields[i]``) well-formed integers; ``expected`` (or ``expected[i]``) describes line i."""
    wanted = np.full(file.num_lines, fields) if np.ndim(fields) == 0 else np.asarray(fields)
    first = file.first_bad_line(np.flatnonzero(file.tokens_per_line != wanted))
    if first is not None:
        description = expected if isinstance(expected, str) else expected[first]
        raise file.fail(first, _describe_integer_line(file.line(first), int(wanted[first]), description))
    return file.values()


def _first(mask: np.ndarray) -> int | None:
    """The index of the first True of ``mask``, or None."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _first_repeat(keys: np.ndarray) -> tuple[int, int] | None:
    """``(i, j)``, i < j, with keys[i] == keys[j] and j the earliest position whose key came before;
    None when the keys are distinct."""
    if len(keys) < 2 or (np.diff(keys) > 0).all():  # strictly increasing: no sort needed
        return None
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    repeats = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not len(repeats):
        return None
    j = int(order[repeats + 1].min())
    i = int(order[np.searchsorted(ordered, keys[j])])
    return i, j


def _check_triples(file: _IntegerFile, first_line: int, doc: np.ndarray, word: np.ndarray,
                   count: np.ndarray, num_documents: int, documents_from: str, vocabulary_size: int,
                   vocabulary_from: str) -> None:
    """Counts positive, 1-based ids within their ranges, no (document, word) pair twice; entry i is on
    line ``first_line + i`` (0-based)."""
    checks = (
        (count, count < 1, lambda v, q: f"count {v} in {q}, counts must be positive integers"),
        (word, (word < 1) | (word > vocabulary_size),
         lambda v, q: f"word id {v} in {q} is outside 1..{vocabulary_size} (1-based ids; {vocabulary_from})"),
        (doc, (doc < 1) | (doc > num_documents),
         lambda v, q: f"document id {v} in {q} is outside 1..{num_documents} (1-based ids; {documents_from})"),
    )
    for values, wrong, message in checks:
        bad = _first(wrong)
        if bad is not None:
            line = first_line + bad
            raise file.fail(line, message(values[bad], _quote(file.line(line))))
    repeat = _first_repeat((doc - 1) * vocabulary_size + (word - 1))
    if repeat is not None:
        i, j = repeat
        raise DataError(
            f"{file.path}, lines {first_line + i + 1} and {first_line + j + 1}: document {doc[j]} word "
            f"{word[j]} appears twice ({_quote(file.line(first_line + i))} and "
            f"{_quote(file.line(first_line + j))}), expected each (document, word) pair once"
        )


def _word_names(size: int) -> tuple[str, ...]:
    return tuple(f"w{i}" for i in range(size))


# -------------------------------------------------------------------------------------------- formats


def load_20newsgroups(folder: str | os.PathLike, split: str = "train") -> Corpus:
    """The 20Newsgroups 'matlab' format (the 20news-bydate-matlab / 'processed' release).

    ``folder`` holds ``{split}.data`` with lines ``docIdx wordIdx count`` (all 1-based integers),
    ``{split}.label`` with one 1-based class label per line (one line per document), and
    ``vocabulary.txt`` with one word per line (line number = word id). ``split`` is "train" or "test".
    num_documents is the number of label lines; every docIdx must be in 1..num_documents and every
    wordIdx in 1..len(vocabulary). The corpus's ids and labels are 0-based (the files' numbers minus
    1); documents without a line in ``{split}.data`` are empty.
    """
    if split not in NG_SPLITS:
        raise ConfigError(f"load_20newsgroups: split must be 'train' or 'test', got {split!r}")
    folder = Path(folder)
    names = (f"{split}.data", f"{split}.label", NG_VOCABULARY)
    expected = f"the 20Newsgroups matlab files {', '.join(names[:2])} and {names[2]}"
    if not folder.is_dir():
        problem = "not a folder" if folder.exists() else "no such folder"
        raise DataError(f"{folder}: {problem}, expected a folder holding {expected}")
    data_path, label_path, vocabulary_path = (folder / name for name in names)
    for path in (data_path, label_path, vocabulary_path):
        if not path.is_file():
            raise DataError(f"{folder}: no {path.name} in this folder, expected {expected}")

    vocabulary = _read_vocabulary(vocabulary_path)
    label_file = _IntegerFile(label_path, _read_bytes(label_path, "one 1-based class label per line"))
    labels = _fields_checked(label_file, 1, "one integer, the document's 1-based class label")
    bad = _first(labels < 1)
    if bad is not None:
        raise label_file.fail(
            bad, f"label {labels[bad]}, labels must be positive integers (1-based class numbers)"
        )
    data_file = _IntegerFile(data_path, _read_bytes(data_path, f"lines {TRIPLE_20NG}"))
    values = _fields_checked(data_file, 3, TRIPLE_20NG)
    doc, word, count = values.reshape(-1, 3).T
    _check_triples(
        data_file, 0, doc, word, count,
        num_documents=len(labels),
        documents_from=f"{label_path} has {len(labels)} lines, one per document",
        vocabulary_size=len(vocabulary),
        vocabulary_from=f"{vocabulary_path} has {len(vocabulary)} words",
    )
    return Corpus(
        doc_ids=doc - 1, word_ids=word - 1, counts=count.copy(), num_documents=len(labels),
        vocabulary=vocabulary, labels=labels - 1,
        source=f"{data_path}, {label_path}, {vocabulary_path}",
    )


def load_uci_bow(docword: str | os.PathLike, vocab: str | os.PathLike | None = None) -> Corpus:
    """UCI 'Bag of Words' format.

    ``docword`` (docword.<name>.txt, plain or gzip-compressed, told apart by its magic bytes) has three
    header lines D, W, NNZ, then NNZ lines ``docID wordID count`` (1-based). ``vocab``
    (vocab.<name>.txt) has one word per line, W lines; without it the vocabulary is w0..w{W-1}. The
    number of lines after the header must equal NNZ and the ids must be within D and W. The corpus
    has D documents (those without a line are empty) and 0-based ids.
    """
    path = Path(docword)
    what = "a UCI docword file: lines D, W, NNZ, then NNZ lines `docID wordID count`"
    file = _IntegerFile(path, _read_bytes(path, what))
    lines = file.num_lines
    fields = np.full(lines, 3)
    fields[:3] = 1
    values = _fields_checked(file, fields, UCI_HEADER + (TRIPLE_UCI,) * max(lines - 3, 0))
    if lines < 3:
        plural = "line" if lines == 1 else "lines"
        raise DataError(f"{path}: only {lines} {plural}, expected a header of three lines D, W, NNZ")
    num_documents, vocabulary_size, nnz = (int(v) for v in values[:3])
    for line, (name, value, low, meaning) in enumerate((
        ("D", num_documents, 1, "a positive number of documents"),
        ("W", vocabulary_size, 1, "a positive vocabulary size"),
        ("NNZ", nnz, 0, "a non-negative number of counts"),
    )):
        if value < low:
            raise file.fail(line, f"{name} = {value}, expected {meaning}")
    if lines - 3 != nnz:
        found = f"{lines - 3} line{'' if lines - 3 == 1 else 's'} `docID wordID count`"
        raise DataError(
            f"{path}: {found} after the header, but header line 3 says NNZ = {nnz}, "
            "expected exactly NNZ such lines"
        )
    if vocab is not None:
        vocab_path = Path(vocab)
        vocabulary = _read_vocabulary(vocab_path)
        if len(vocabulary) != vocabulary_size:
            raise DataError(
                f"{vocab_path}: {len(vocabulary)} words, but header line 2 of {path} says W = "
                f"{vocabulary_size}, expected one word per line, W lines"
            )
        vocabulary_from = f"header line 2 says W = {vocabulary_size}, the words of {vocab_path}"
    else:
        vocabulary = _word_names(vocabulary_size)
        vocabulary_from = f"header line 2 says W = {vocabulary_size}"
    doc, word, count = values[3:].reshape(-1, 3).T
    _check_triples(
        file, 3, doc, word, count,
        num_documents=num_documents, documents_from=f"header line 1 says D = {num_documents}",
        vocabulary_size=vocabulary_size, vocabulary_from=vocabulary_from,
    )
    return Corpus(
        doc_ids=doc - 1, word_ids=word - 1, counts=count.copy(), num_documents=num_documents,
        vocabulary=vocabulary, source=str(path) if vocab is None else f"{path}, {vocab}",
    )


def load_ldac(path: str | os.PathLike, vocab: str | os.PathLike | None = None,
              vocabulary_size: int | None = None) -> Corpus:
    """LDA-C format (Blei's lda-c).

    One document per line, ``N id:count id:count ...`` with 0-based word ids and N the number of
    distinct terms on the line; an empty document is the line ``0``. The vocabulary size is the
    length of the ``vocab`` file when given, else ``vocabulary_size`` when given, else the largest id
    + 1 (the words are then w0, w1, ...). Giving both ``vocab`` and a ``vocabulary_size`` other than
    its length is a ConfigError; with neither, a file whose documents are all empty is a DataError.
    """
    check_positive_int("load_ldac: vocabulary_size", vocabulary_size, allow_none=True)
    path = Path(path)
    file = _IntegerFile(path, _read_bytes(path, f"an LDA-C file, one document per line {LDAC_LINE}"),
                        colons=True)
    # token k of a line: k = 0 is N, odd k an id (followed by ':'), even k > 0 a count (preceded by ':')
    first_token = np.searchsorted(file.token_lines, np.arange(file.num_lines))
    k = np.arange(len(file.starts)) - first_token[file.token_lines]
    is_id, is_count = (k % 2 == 1), (k > 0) & (k % 2 == 0)
    well_placed = np.where(k == 0, ~file.preceded & ~file.followed,
                           np.where(is_id, file.followed & ~file.preceded, file.preceded & ~file.followed))
    even = np.flatnonzero(file.tokens_per_line % 2 == 0)  # N and pairs make an odd number of tokens
    first = file.first_bad_line(file.token_lines[~well_placed], even)
    if first is not None:
        raise file.fail(first, _describe_ldac_line(file.line(first)))
    values = file.values()

    pairs = (file.tokens_per_line - 1) // 2
    claimed = values[first_token]
    bad = _first(claimed != pairs)
    if bad is not None:
        raise file.fail(
            bad, f"N = {claimed[bad]} but the line has {pairs[bad]} id:count pairs "
            f"({_quote(file.line(bad))}), expected N to be the number of pairs"
        )
    doc, word, count = file.token_lines[is_id].astype(np.int64), values[is_id], values[is_count]
    bad = _first(count < 1)
    if bad is not None:
        line = int(doc[bad])
        raise file.fail(
            line, f"count {count[bad]} for word id {word[bad]} in {_quote(file.line(line))}, "
            "counts must be positive integers"
        )
    bad = _first(word < 0)
    if bad is not None:
        raise file.fail(int(doc[bad]), f"word id {word[bad]} is negative, expected 0-based word ids")

    if vocab is not None:
        vocab_path = Path(vocab)
        vocabulary = _read_vocabulary(vocab_path)
        if vocabulary_size is not None and vocabulary_size != len(vocabulary):
            raise ConfigError(
                f"load_ldac: vocabulary_size={vocabulary_size} disagrees with {vocab_path}, which has "
                f"{len(vocabulary)} words; give one or make them agree"
            )
        vocabulary_from = f"{vocab_path} has {len(vocabulary)} words"
    elif vocabulary_size is not None:
        vocabulary = _word_names(vocabulary_size)
        vocabulary_from = f"vocabulary_size is {vocabulary_size}"
    else:
        if not len(word):
            raise DataError(
                f"{path}: every document is empty and no vocabulary was given, "
                "expected a vocab file or a vocabulary_size"
            )
        vocabulary = _word_names(int(word.max()) + 1)
        vocabulary_from = ""
    size = len(vocabulary)
    bad = _first(word >= size)
    if bad is not None:
        raise file.fail(
            int(doc[bad]), f"word id {word[bad]} is outside 0..{size - 1} (0-based ids; {vocabulary_from})"
        )
    repeat = _first_repeat(doc * size + word)
    if repeat is not None:
        i, j = repeat
        line = int(doc[j])
        raise file.fail(
            line, f"word id {word[j]} appears twice (pairs {word[i]}:{count[i]} and {word[j]}:{count[j]} "
            f"in {_quote(file.line(line))}), expected distinct ids within a document"
        )
    return Corpus(
        doc_ids=doc, word_ids=word, counts=count, num_documents=file.num_lines, vocabulary=vocabulary,
        source=str(path) if vocab is None else f"{path}, {vocab}",
    )


# ------------------------------------------------------------------------------------------- dispatch


def _first_nonblank_line(path: Path) -> bytes:
    """The first non-blank line of a plain or gzipped file (its first 4 MiB at most), or b"" for a
    blank file."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == GZIP_MAGIC
    with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
        head = f.read(1 << 16)
        while b"\n" not in head.lstrip() and len(head) < 1 << 22:
            more = f.read(1 << 16)
            if not more:
                break
            head += more
    return head.lstrip().split(b"\n", 1)[0].strip()


def _sniff(path: Path) -> str:
    """"uci" or "ldac": which format the file ``path`` is in, from its first bytes."""
    try:
        line = _first_nonblank_line(path)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e}), expected {FORMATS}") from None
    tokens = line.split()
    if len(tokens) == 1 and tokens[0].isdigit() and int(tokens[0]) > 0:
        return "uci"  # the header's D; a single 0 is an empty LDA-C document
    if tokens and tokens[0].isdigit() and (len(tokens) == 1 or b":" in tokens[1]):
        return "ldac"  # an empty document `0`, or `N id:count ...`
    if not tokens:
        raise DataError(f"{path}: empty file, expected {FORMATS}")
    hint = ""
    if len(tokens) == 3 and all(t.isdigit() for t in tokens):
        hint = " (for 20Newsgroups, give the folder holding train.data, not the file)"
    shown = _quote(line.decode("utf-8", errors="replace"))
    raise DataError(f"{path}: unrecognised corpus format, first line {shown}{hint}; expected {FORMATS}")


def has_test_split(path: str | os.PathLike) -> bool:
    """Whether :func:`load_text_corpus` finds a test corpus at ``path``: a 20Newsgroups folder
    holding ``test.data``."""
    path = Path(path)
    return path.is_dir() and (path / "test.data").exists()


def split_documents(corpus: Corpus, n: int) -> tuple[Corpus, Corpus]:
    """The first ``n`` documents of ``corpus`` and the rest, as two corpora over its vocabulary."""
    check_positive_int("split_documents: n", n)
    if n >= corpus.num_documents:
        raise ConfigError(f"{corpus.source}: {corpus.num_documents} documents; the first n={n} leave none for the "
                          "second part")
    first = corpus.doc_ids < n
    parts = []
    for rows, start, stop in ((first, 0, n), (~first, n, corpus.num_documents)):
        labels = None if corpus.labels is None else corpus.labels[start:stop]
        parts.append(Corpus(corpus.doc_ids[rows] - start, corpus.word_ids[rows], corpus.counts[rows], stop - start,
                            corpus.vocabulary, labels, f"{corpus.source} (documents {start + 1}–{stop})"))
    return parts[0], parts[1]


def load_text_corpus(path: str | os.PathLike, vocabulary_size: int | None = 10000, n_train: int | None = None
                     ) -> tuple[Corpus, Corpus | None]:
    """``(train, test)`` from any of the three formats, the vocabulary cut to the ``vocabulary_size``
    most frequent training words (the common preprocessing of seed 000 App. B.2).

    A corpus without a test split is split when ``n_train`` is given: its first ``n_train``
    documents are the training corpus, the rest the test corpus (:func:`split_documents`), before
    the vocabulary is chosen. ``n_train`` with a corpus that has its own test split is a ConfigError.

    The format is told by these rules:

    - a folder holding ``train.data`` is 20Newsgroups: ``(train, test)`` from ``load_20newsgroups``,
      test None when ``test.data`` is absent (a ``test.data`` without ``test.label`` is an error);
    - a file (plain or gzipped) is told by its first non-blank line: a single integer ≥ 1 (the header's D) is UCI; the single integer ``0`` (an empty document), or
      an integer followed by a token holding ``:`` (``N id:count ...``), is LDA-C;
    - UCI: the vocabulary is ``vocab.<name>.txt`` beside ``docword.<name>.txt[.gz]`` when that file
      exists, else w0, w1, ...; LDA-C: the vocabulary is ``vocab.txt`` in the same folder when it
      exists (as in Blei's AP release, ``ap.dat`` beside ``vocab.txt``), else w0 ... up to the
      largest id seen. These files have no test split: test is None unless ``n_train`` is given;
    - anything else is a DataError naming the path and the three formats expected.

    When ``vocabulary_size`` is not None and smaller than the vocabulary, both corpora are restricted
    to ``most_frequent_words(train, vocabulary_size)``, ranked on the training corpus only.
    """
    check_positive_int("load_text_corpus: vocabulary_size", vocabulary_size, allow_none=True)
    check_positive_int("load_text_corpus: n_train", n_train, allow_none=True)
    path = Path(path)
    if n_train is not None and has_test_split(path):
        raise ConfigError(f"load_text_corpus: n_train={n_train} would be unused: {path} has its own test split")
    if path.is_dir():
        if not (path / "train.data").is_file():
            raise DataError(f"{path}: folder without train.data, expected {FORMATS}")
        train = load_20newsgroups(path, "train")
        test = load_20newsgroups(path, "test") if has_test_split(path) else None
    elif path.is_file():
        if _sniff(path) == "uci":
            match = UCI_DOCWORD.fullmatch(path.name)
            vocab = path.parent / f"vocab.{match[1]}.txt" if match else None
            train = load_uci_bow(path, vocab if vocab is not None and vocab.is_file() else None)
        else:
            vocab = path.parent / LDAC_VOCABULARY
            train = load_ldac(path, vocab if vocab.is_file() else None)
        test = None
    else:
        raise DataError(f"{path}: no such file or folder, expected {FORMATS}")
    if n_train is not None:
        if n_train >= train.num_documents:
            raise ConfigError(f"{path} holds {train.num_documents} documents; n_train={n_train} are for training "
                              "and the rest for testing, so give fewer")
        train, test = split_documents(train, n_train)
    if vocabulary_size is not None and vocabulary_size < train.vocabulary_size:
        keep = most_frequent_words(train, vocabulary_size)
        train = train.restrict(keep)
        test = test.restrict(keep) if test is not None else None
    return train, test
