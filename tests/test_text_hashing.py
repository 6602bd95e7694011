"""E3 ``text-hashing`` beyond the results contract: its tables agree with its cells, it reads a
bag-of-words file, and it refuses bad settings before any output."""

import dataclasses

import numpy as np
import pytest

from pyro_vae import experiments
from pyro_vae.errors import ConfigError, DataError
from pyro_vae.experiments import text_hashing


def test_tables_and_claims_follow_from_the_cells(tmp_path):
    results, _ = experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "o", progress=False)
    config = text_hashing.PROFILES["smoke"]
    cells = {(r["bits"], r["depth"], r["encoder"]): r for r in results.tables["cells"]}
    assert len(cells) == len(config.bits) * len(config.depths) * len(config.encoders)
    for row in results.tables["orderings"]:
        for split in ("train", "test"):
            values = [cells[row["bits"], row["depth"], e][f"{split}_nelbo"] for e in ("e1", "e2", "e3")]
            assert row[f"{split}: e1 < e2 < e3"] == (values[0] < values[1] < values[2])
    tracks = [t for t in results.tables["tracks"] if (t["bits"], t["depth"], t["encoder"]) == (3, 0, "e1")]
    assert min(t["test_nelbo"] for t in tracks) == cells[3, 0, "e1"]["test_nelbo"]  # the lowest value
    assert all(c.holds == (c.ours.startswith("holds in 1 of 1")) for c in results.claims)


def test_the_ordering_is_e1_e2_e3_whatever_the_order_of_the_encoders_given(tmp_path):
    results, _ = experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "o", progress=False,
                                            encoders=("e3", "e1"))
    cells = {r["encoder"]: r for r in results.tables["cells"]}
    for row in results.tables["orderings"]:
        for split in ("train", "test"):
            assert row[f"{split}: e1 < e2 < e3"] == (cells["e1"][f"{split}_nelbo"] < cells["e3"][f"{split}_nelbo"])


def test_paper_table_is_read_by_bits_depth_encoder():
    assert text_hashing.paper_value("test", 16, 1, "e2") == 422
    assert text_hashing.paper_value("train", 64, 2, "e1") == 134
    assert text_hashing.paper_value("test", 3, 0, "e1") is None
    assert not text_hashing.ordered({"e1": 404, "e2": 422, "e3": 420})  # Table 2, 16 bits, depth 1
    assert text_hashing.ordered({"e1": 409, "e2": 417, "e3": 421})


def test_runs_on_an_ldac_file_with_a_smaller_vocabulary(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(80):
        ids = np.sort(rng.choice(30, size=rng.integers(1, 10), replace=False))
        lines.append(" ".join([str(len(ids))] + [f"{i}:{rng.integers(1, 5)}" for i in ids]))
    (tmp_path / "corpus.dat").write_text("\n".join(lines) + "\n")
    results, _ = experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "o", progress=False,
                                            data=str(tmp_path / "corpus.dat"), vocabulary_size=12)
    assert results.settings["vocabulary"] == 12
    assert (results.settings["train_documents"], results.settings["test_documents"]) == (60, 20)
    with pytest.raises(ConfigError, match="^n_test, topics would be unused: they apply only to the built-in data, "
                                          "which --data '.*corpus.dat' replaces$"):  # n_test: smoke's own value
        experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "p", data=str(tmp_path / "corpus.dat"),
                                   n_test=20, topics=3)
    with pytest.raises(ConfigError, match="--vocabulary-size 50: the corpus .* has only 30 words"):
        experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "p", data=str(tmp_path / "corpus.dat"),
                                   vocabulary_size=50)
    assert not (tmp_path / "p").exists()


def test_n_train_is_refused_for_a_corpus_with_its_own_test_set(tmp_path):
    for split in ("train", "test"):  # 20Newsgroups' matlab format: "document word count", 1-based
        (tmp_path / f"{split}.data").write_text("".join(f"{d} {w} 1\n" for d in range(1, 31) for w in (1, d % 4 + 2)))
        (tmp_path / f"{split}.label").write_text("1\n" * 30)
    (tmp_path / "vocabulary.txt").write_text("".join(f"w{i}\n" for i in range(5)))
    with pytest.raises(ConfigError, match=r"^n_train would be unused: --data .* has its own test set, and all its training documents are used$"):
        experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "o", data=str(tmp_path), n_train=60)
    assert not (tmp_path / "o").exists()
    results, _ = experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "o", progress=False,
                                            data=str(tmp_path))
    assert (results.settings["train_documents"], results.settings["test_documents"]) == (30, 30)


def test_bad_settings_fail_before_any_output(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "a", data=str(tmp_path / "nope.dat"))
    assert not (tmp_path / "a").exists()
    bad = dataclasses.replace(text_hashing.PROFILES["smoke"], encoders=("e1", "e9"))
    with pytest.raises(ConfigError, match=r"unknown encoders 'e9'; known: e1, e2, e3"):
        text_hashing.check_config(bad, frozenset())
    linear_only = dataclasses.replace(text_hashing.PROFILES["smoke"], encoders=("e1", "e3"), hidden=32)
    with pytest.raises(ConfigError, match=r"hidden=32 would be unused.*\('e1', 'e3'\) with depths \(0,\)"):
        text_hashing.check_config(linear_only, {"hidden"})
    text_hashing.check_config(dataclasses.replace(linear_only, depths=(0, 1)), {"hidden"})  # the decoder uses it
    text_hashing.check_config(linear_only, {"encoders"})  # hidden not given: the profile's width, unused
    with pytest.raises(ConfigError, match="hidden=16 would be unused"):  # the profile's own width, given again
        experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "e", encoders=("e1",), hidden=16)
    with pytest.raises(ConfigError, match="^fine_particles would be unused: with fine_epochs=0 no epoch is trained"):
        experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "f", fine_epochs=0, fine_particles=2)
    assert not (tmp_path / "e").exists() and not (tmp_path / "f").exists()
    with pytest.raises(ConfigError, match="^hidden must be a positive int, got 0"):
        experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "d", hidden=0)
    with pytest.raises(ConfigError, match="has no setting --vocabulary-size"):
        experiments.run_experiment("gmm", "smoke", out=tmp_path / "b", vocabulary_size=5)
    with pytest.raises(ConfigError, match="--vocabulary-size 5 applies to a corpus read with --data"):
        experiments.run_experiment("text-hashing", "smoke", out=tmp_path / "c", vocabulary_size=5)
    assert not (tmp_path / "c").exists()
