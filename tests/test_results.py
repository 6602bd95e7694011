"""Tests of pyro_vae.results: the results-file contract of SPEC.md ("Results files")."""

import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from pyro_vae.results import Claim, Results, read_results, versions, write_results

CHECKER = pathlib.Path(os.environ.get("PYRO_VAE_CHECK_RESULTS", "/work/shared/tools/check-results"))


def make_results(**changes) -> Results:
    fields = dict(
        experiment="gmm",
        profile="smoke",
        seed=7,
        settings={"steps": 100, "hidden": [64, 64], "data": {"n": 2000, "sigma": 0.5}},
        metrics={"elbo_before": -3.7412345, "elbo_after": -3.70, "approximation_error": 0.03},
        claims=[
            Claim("ELBO rises during joint training", "-3.74 -> -3.70", "-3.741 -> -3.700", True),
            Claim("log-likelihood falls", "-3.65 -> -3.68", "-3.650 -> -3.640", False),
            Claim("a claim without paper numbers", None, "1.0", True),
        ],
        figures=["decision_maps.png"],
        runtime_s=12.5,
        tables={"history": [{"step": 0, "elbo": -3.74}, {"step": 100, "elbo": -3.70, "log_lik": -3.68}]},
    )
    fields.update(changes)
    return Results(**fields)


def listing(folder: pathlib.Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_round_trip(tmp_path):
    results = make_results()
    write_results(results, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data == results.to_dict()
    assert data["claims"][0] == {
        "claim": "ELBO rises during joint training",
        "paper": "-3.74 -> -3.70",
        "ours": "-3.741 -> -3.700",
        "holds": True,
    }
    assert data["claims"][2]["paper"] is None
    assert read_results(tmp_path) == results


def test_json_is_indented_and_has_the_spec_keys(tmp_path):
    write_results(make_results(), tmp_path)
    text = (tmp_path / "results.json").read_text()
    assert text.startswith('{\n  "experiment": "gmm",')
    keys = ("experiment", "profile", "seed", "settings", "metrics", "claims", "figures", "runtime_s", "versions")
    assert all(k in json.loads(text) for k in keys)


def test_markdown_holds_the_same_content(tmp_path):
    write_results(make_results(), tmp_path)
    md = (tmp_path / "results.md").read_text()
    assert md.startswith("# gmm")
    assert "| claim | paper | ours | holds |" in md
    assert "| ELBO rises during joint training | -3.74 -> -3.70 | -3.741 -> -3.700 | ✓ |" in md
    assert "| log-likelihood falls | -3.65 -> -3.68 | -3.650 -> -3.640 | ✗ |" in md
    assert "| a claim without paper numbers | — | 1.0 | ✓ |" in md
    assert "| elbo_before | -3.741 |" in md  # 4 significant digits
    assert "| data.n | 2000 |" in md  # nested settings, dotted
    assert "| hidden | [64, 64] |" in md
    assert "## history" in md and "| step | elbo | log_lik |" in md and "| 0 | -3.74 | — |" in md
    assert "![decision_maps](decision_maps.png)" in md
    assert "Claims that hold: 2 of 3" in md


def test_markdown_escapes_table_characters(tmp_path):
    claim = Claim("p(x|z) is a GLM", None, "a\nb", True)
    write_results(make_results(claims=[claim]), tmp_path)
    md = (tmp_path / "results.md").read_text()
    assert "| p(x\\|z) is a GLM | — | a<br>b | ✓ |" in md


def test_no_temporary_files_left(tmp_path):
    write_results(make_results(), tmp_path)
    write_results(make_results(seed=8), tmp_path)  # overwrite
    assert listing(tmp_path) == {"results.json", "results.md"}
    assert json.loads((tmp_path / "results.json").read_text())["seed"] == 8


def test_creates_missing_out_dir(tmp_path):
    out = tmp_path / "a" / "b"
    write_results(make_results(), out)
    assert listing(out) == {"results.json", "results.md"}


def test_failure_while_serialising_keeps_previous_files(tmp_path):
    write_results(make_results(), tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in ("results.json", "results.md")}
    with pytest.raises(TypeError, match=r"results\.metrics\.bad"):
        write_results(make_results(metrics={"bad": object()}), tmp_path)
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert listing(tmp_path) == {"results.json", "results.md"}


def test_failure_while_replacing_keeps_previous_file(tmp_path, monkeypatch):
    write_results(make_results(), tmp_path)
    before = (tmp_path / "results.json").read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_results(make_results(seed=99), tmp_path)
    assert (tmp_path / "results.json").read_bytes() == before
    assert listing(tmp_path) == {"results.json", "results.md"}


def test_non_finite_numbers_are_written_as_null(tmp_path):
    metrics = {"nan": math.nan, "inf": math.inf, "neg_inf": -np.inf, "list": [1.0, math.nan]}
    write_results(make_results(metrics=metrics), tmp_path)
    text = (tmp_path / "results.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["metrics"] == {"nan": None, "inf": None, "neg_inf": None, "list": [1.0, None]}
    md = (tmp_path / "results.md").read_text()
    assert "| nan | nan |" in md and "| inf | inf |" in md and "| neg_inf | -inf |" in md


def test_numpy_and_torch_values_become_json_numbers(tmp_path):
    metrics = {
        "np_float": np.float32(0.5),
        "np_int": np.int64(3),
        "np_array": np.array([1.0, 2.0]),
        "tensor": torch.tensor(0.25, requires_grad=True) * 2,
        "tuple": (1, 2),
        "path": pathlib.Path("a/b.png"),
    }
    write_results(make_results(metrics=metrics), tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())["metrics"]
    assert data == {"np_float": 0.5, "np_int": 3, "np_array": [1.0, 2.0], "tensor": 0.5, "tuple": [1, 2], "path": "a/b.png"}


@pytest.mark.parametrize("holds", [1, 0, "yes", None, 1.0])
def test_claim_holds_must_be_a_bool(holds):
    with pytest.raises(TypeError, match="holds must be a bool"):
        Claim("a claim", None, "x", holds)


def test_claim_accepts_a_numpy_bool():
    claim = Claim("a claim", "1", "2", np.float64(2.0) > 1.0)
    assert claim.holds is True


def test_versions():
    v = versions()
    assert set(v) == {"pyro_vae", "pyro", "torch", "numpy", "python"}
    assert v["torch"] == torch.__version__
    assert all(isinstance(s, str) and s for s in v.values())
    assert make_results().versions == v


@pytest.mark.skipif(not CHECKER.is_file(), reason=f"results checker not found at {CHECKER}")
def test_checker_accepts_a_written_folder(tmp_path):
    (tmp_path / "decision_maps.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    write_results(make_results(), tmp_path)
    done = subprocess.run([sys.executable, str(CHECKER), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout and "claims held 2/3" in done.stdout
