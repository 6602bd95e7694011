"""Tests of the experiment registry (pyro_vae.experiments) and the ``pyro-vae`` command.

The experiments used here are a test double, ``tests/fake_experiment.py``, registered for the
duration of a test, so that these tests do not depend on any real experiment.
"""

import argparse
import importlib.util
import json
import pathlib
import re
import subprocess
import sys

import pytest
import torch

from pyro_vae import experiments
from pyro_vae.cli import build_parser, main
from pyro_vae.errors import ConfigError
from pyro_vae.results import Results

TESTS = pathlib.Path(__file__).parent
REPO = TESTS.parent
CHECKER = pathlib.Path("/work/shared/tools/check-results")


@pytest.fixture
def fake(monkeypatch):
    """Register ``tests/fake_experiment.py`` as the experiment ``fake``; yield its module."""
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setattr(experiments, "EXPERIMENTS", {**experiments.EXPERIMENTS, "fake": "fake_experiment"})
    module = experiments.get_experiment("fake")
    module.LAST_CALL.clear()
    yield module
    module.LAST_CALL.clear()


def one_line_error(capsys) -> str:
    """The stderr of a failed ``main`` call, checked to be one line without a traceback."""
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pyro-vae: error: ")
    return lines[0]


# --- registry ---------------------------------------------------------------------------


def test_gmm_is_registered():
    assert list(experiments.EXPERIMENTS)[0] == "gmm"
    assert experiments.EXPERIMENTS["gmm"] == "pyro_vae.experiments.gmm"


def test_unknown_experiment_lists_the_known_ones(fake):
    known = ", ".join(experiments.EXPERIMENTS)
    assert known.startswith("gmm, ") and known.endswith(", fake")
    with pytest.raises(ConfigError, match=f"unknown experiment 'nope'; known experiments: {known}$"):
        experiments.get_experiment("nope")


def test_make_config_copies_the_profile_and_sets_the_seed(fake):
    config = experiments.make_config(fake, "smoke", seed=5)
    assert config.seed == 5 and config.steps == 1
    assert fake.PROFILES["smoke"].seed == 0  # the profile itself is unchanged
    assert experiments.make_config(fake, "paper") == fake.PROFILES["paper"]
    assert experiments.make_config(fake, "paper") is not fake.PROFILES["paper"]


def test_make_config_rejects_unknown_profile(fake):
    with pytest.raises(ConfigError, match=r"unknown profile 'huge'.*known profiles: smoke, default, paper"):
        experiments.make_config(fake, "huge")


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True, 2**32])
def test_make_config_rejects_bad_seed(fake, seed):
    with pytest.raises(ConfigError, match=r"seed must be an integer in 0\.\.4294967295"):
        experiments.make_config(fake, "smoke", seed=seed)


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_names_are_accepted_or_refused_clearly(device, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if device == "cpu":
        assert experiments.check_device(device) == "cpu"
    else:
        with pytest.raises(ConfigError, match="CUDA is not available"):
            experiments.check_device(device)


def test_device_index_beyond_the_gpus_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert experiments.check_device("cuda:0") == "cuda:0"
    with pytest.raises(ConfigError, match="has 1 CUDA device"):
        experiments.check_device("cuda:1")


@pytest.mark.parametrize("device", ["gpu", "tpu", "cuda:", "CPU", "cuda:x"])
def test_unknown_device_names_are_refused(device):
    with pytest.raises(ConfigError, match="unknown device"):
        experiments.check_device(device)


def test_run_experiment_writes_results_and_fills_runtime(fake, tmp_path):
    results, out = experiments.run_experiment("fake", profile="smoke", out=tmp_path / "o", seed=3)
    assert out == tmp_path / "o"
    assert isinstance(results, Results) and results.seed == 3 and results.profile == "smoke"
    assert results.runtime_s > 0
    data = json.loads((out / "results.json").read_text())
    assert data["seed"] == 3 and data["runtime_s"] == results.runtime_s
    assert sorted(p.name for p in out.iterdir()) == ["figure.png", "results.json", "results.md"]
    assert fake.LAST_CALL["device"] == "cpu" and fake.LAST_CALL["out_dir"] == out
    assert fake.LAST_CALL["progress"] is False  # stderr is not a terminal under pytest


def test_a_seed_makes_the_run_reproducible(fake, tmp_path):
    draws = [experiments.run_experiment("fake", "smoke", tmp_path / str(i), seed=s)[0].metrics["draw"]
             for i, s in enumerate([1, 1, 2])]
    assert draws[0] == draws[1] != draws[2]


def test_default_out_is_a_timestamped_folder_under_runs(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, first = experiments.run_experiment("fake", "smoke")
    _, second = experiments.run_experiment("fake", "smoke")
    assert re.fullmatch(r"runs/fake-\d{8}-\d{6}(-\d+)?", first.as_posix())
    assert first != second and (tmp_path / first / "results.json").is_file()


def test_an_empty_out_folder_is_accepted(fake, tmp_path):
    _, out = experiments.run_experiment("fake", "smoke", out=tmp_path)
    assert (out / "results.md").is_file()


# --- CLI ---------------------------------------------------------------------------------


def test_list_names_every_registered_experiment(fake, capsys, monkeypatch):
    monkeypatch.setattr(experiments, "EXPERIMENTS", {"fake": "fake_experiment", "fake2": "fake_experiment"})
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "PROFILES"]
    names = [line for line in lines[1:] if not line.startswith(" ")]
    assert [line.split()[0] for line in names] == ["fake", "fake2"]
    assert all(line.endswith("smoke, default, paper") for line in names)
    summary = " ".join(line.strip() for line in lines[2:lines.index(names[1])])
    assert summary == " ".join(fake.SUMMARY.split())


def test_list_wraps_the_summaries_to_the_terminal(monkeypatch):
    from pyro_vae.cli import list_table

    assert all(len(line) <= 79 for line in list_table(width=80).splitlines())
    for name in experiments.EXPERIMENTS:
        assert " ".join(experiments.get_experiment(name).SUMMARY.split()) in " ".join(list_table(80).split())


@pytest.mark.skipif(importlib.util.find_spec("pyro_vae.experiments.gmm") is None, reason="gmm not written yet")
def test_list_names_gmm(capsys):
    assert main(["list"]) == 0
    assert any(line.startswith("gmm ") for line in capsys.readouterr().out.splitlines())


def test_run_prints_where_the_results_are(fake, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", "fake", "--profile", "smoke", "--out", str(out), "--seed", "4", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == f"results: {out / 'results.md'}"
    assert lines[-1] == f"out: {out}"
    assert "1 of 2 claims hold" in lines[-3]
    assert json.loads((out / "results.json").read_text())["seed"] == 4
    assert fake.LAST_CALL["progress"] is False


@pytest.mark.skipif(not CHECKER.is_file(), reason=f"results checker not found at {CHECKER}")
def test_checker_accepts_a_run_folder(fake, tmp_path, capsys):
    assert main(["run", "fake", "--profile", "smoke", "--out", str(tmp_path / "o")]) == 0
    done = subprocess.run([sys.executable, str(CHECKER), str(tmp_path / "o")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unknown_experiment_exits_2(fake, capsys):
    assert main(["run", "nope"]) == 2
    line = one_line_error(capsys)
    assert "unknown experiment 'nope'" in line and "gmm" in line and "fake" in line


def test_unknown_profile_exits_2(fake, capsys):
    assert main(["run", "fake", "--profile", "huge"]) == 2
    assert "invalid choice: 'huge'" in one_line_error(capsys)
    assert fake.LAST_CALL == {}


@pytest.mark.parametrize("device, message", [("tpu", "unknown device 'tpu'"), ("cuda", "CUDA is not available")])
def test_bad_device_exits_2_before_training(fake, tmp_path, capsys, monkeypatch, device, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "o"
    assert main(["run", "fake", "--device", device, "--out", str(out)]) == 2
    assert message in one_line_error(capsys)
    assert fake.LAST_CALL == {} and not out.exists()


@pytest.mark.parametrize("seed", ["-3", "99999999999"])
def test_out_of_range_seed_exits_2(fake, capsys, tmp_path, seed):
    assert main(["run", "fake", "--seed", seed, "--out", str(tmp_path / "o")]) == 2
    assert "seed must be an integer in 0..4294967295" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()  # refused before the output folder is made


def test_existing_non_empty_out_exits_2(fake, tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["run", "fake", "--out", str(tmp_path)]) == 2
    assert "exists and is not empty" in one_line_error(capsys)
    assert fake.LAST_CALL == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_out_that_is_a_file_exits_2(fake, tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("mine")
    assert main(["run", "fake", "--out", str(path)]) == 2
    assert "is not a folder" in one_line_error(capsys)
    assert path.read_text() == "mine" and fake.LAST_CALL == {}


def test_missing_command_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in one_line_error(capsys)


def subcommand_parsers() -> dict:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **sub.choices}


@pytest.mark.parametrize("command", ["", "list", "run"])
def test_help_explains_every_option(command, capsys):
    parser = subcommand_parsers()[command]
    assert main([command, "--help"] if command else ["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    assert out.startswith(f"usage: pyro-vae {command}".rstrip())
    assert parser.description and " ".join(parser.description.split()) in out
    options = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    for action in options:
        if isinstance(action, argparse._SubParsersAction):
            continue
        assert action.help, f"{action.dest} has no help"
        name = action.option_strings[0] if action.option_strings else action.metavar
        assert f"{name} " in out
        assert " ".join((action.help % vars(action)).split()) in out


def test_module_entry_point_exits_2_without_traceback(tmp_path):
    # Run outside the source tree: there, ``python -m`` would import the uninstalled sources.
    done = subprocess.run(
        [sys.executable, "-m", "pyro_vae", "run", "nope"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"pyro-vae: error: unknown experiment 'nope'; known experiments: {', '.join(experiments.EXPERIMENTS)}"
    ]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--runs", "3"], "experiment 'fake' has no setting --runs"),
        (["--workers", "2"], "experiment 'fake' has no setting --workers"),
        (["--data", "images.gz"], "experiment 'fake' has no setting --data"),
    ],
)
def test_options_an_experiment_does_not_have_exit_2(fake, capsys, tmp_path, options, message):
    assert main(["run", "fake", "--out", str(tmp_path / "o"), *options]) == 2
    assert message in one_line_error(capsys)
    assert fake.LAST_CALL == {} and not (tmp_path / "o").exists()


def test_zero_runs_exit_2(capsys, tmp_path):
    assert main(["run", "linear-vae", "--runs", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--runs must be a positive int, got 0" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_unreadable_data_exits_2_before_training(capsys, tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x01\x02\x08\x03")
    assert main(["run", "vae1", "--data", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not an IDX file" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_resume_of_an_experiment_without_checkpoints_exits_2(capsys, tmp_path):
    assert main(["run", "gmm", "--resume", "--out", str(tmp_path)]) == 2
    assert "'gmm' keeps no checkpoints, so it cannot --resume" in one_line_error(capsys)


def test_an_interrupted_run_says_how_to_resume(capsys, tmp_path, monkeypatch):
    out = tmp_path / "out"

    def interrupted(name, out, **options):
        (pathlib.Path(out) / experiments.CHECKPOINTS).mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments, "run_experiment", interrupted)
    assert main(["run", "vae3", "--runs", "3", "--out", str(out)]) == 130
    assert f"continue with the same options and --out {out} --resume" in capsys.readouterr().err


def test_make_config_keeps_what_zero_and_ints_mean():
    vae3 = experiments.get_experiment("vae3")
    assert experiments.make_config(vae3, "smoke", workers=0).workers == 0  # one per CPU
    lr = experiments.make_config(vae3, "smoke", lr=1).lr
    assert lr == 1.0 and isinstance(lr, float)  # an int for a float loses nothing
    assert experiments.make_config(experiments.get_experiment("vae1"), "smoke", hidden=(8, 8)).hidden == (8, 8)
    assert experiments.make_config(experiments.get_experiment("mle-init"), "smoke", burn_in=0).burn_in == 0.0
    assert experiments.make_config(experiments.get_experiment("gmm"), "smoke", rbm_restarts=0).rbm_restarts == 0
    vae1 = experiments.get_experiment("vae1")
    tail = experiments.make_config(vae1, "smoke", epochs=5, evaluate_every_epochs=2, tail_evaluations=3)
    vae1.check_config(tail, frozenset())  # evaluations at epochs 2, 4 and 5 (the end)
    text = experiments.make_config(experiments.get_experiment("text-hashing"), "smoke", depths=(0, 1), fine_epochs=0)
    assert (text.depths, text.fine_epochs) == ((0, 1), 0)
    with pytest.raises(ConfigError, match="^epochs must be a positive int"):
        experiments.make_config(experiments.get_experiment("text-hashing"), "smoke", epochs=0)


@pytest.mark.parametrize("name, overrides, match", [
    ("gmm", {"objective": "disarm"}, r"objective 'disarm' cannot train gmm: its code is one categorical site .*usable: enum, elbo, tracegraph, iwae"),
    ("gmm", {"batch_size": 401}, "batch_size=401 exceeds the 400 training data points"),
    ("linear-vae", {"runs": 1}, "linear-vae needs at least 2 runs"),
    ("vae1", {"tail_evaluations": 4}, "tail_evaluations=4 averages the last evaluations, but epochs=3 .* gives 3"),
    ("vae3", {"small_batch_size": 500}, "small_batch_size=500 exceeds the 400 training data points"),
    ("vae3", {"high_lr": 0.001}, r"Fig. 2's settings must differ: .* high_lr=0.001 vs lr=0.001"),
    ("vae3", {"small_batch_size": 200}, r"Fig. 2's settings must differ: small_batch_size=200 vs batch_size=200"),
    ("mle-init", {"burn_in": 1.0}, r"burn_in must be a fraction of the steps in \[0, 1\), got 1.0"),
    ("mle-init", {"architectures": ("affine", "deep")}, r"unknown architectures 'deep'; known: affine, relu-net"),
    ("latent-activity", {"architectures": ("bogus",)}, r"unknown architectures 'bogus'"),
    ("text-hashing", {"batch_size": 61}, "batch_size=61 exceeds the 60 training data points"),
    ("vae3", {"seed": 2**32 - 1}, "seed 4294967295 with 2 runs uses the seeds up to 4294967296, beyond the largest "
                                  "seed 4294967295; give a seed of at most 4294967294"),
    ("mle-init", {"seed": 2**32 - 1}, r"with 2 \(architecture, κ\) pairs uses the seeds up to 4294967296"),
    *[(name, {"eval_samples": 1}, "^eval_samples=1: an evaluation needs at least 2 samples for its Monte-Carlo "
                                  "standard error$") for name in ("mle-init", "linear-vae", "vae1", "vae3")],
])
def test_settings_that_cannot_work_are_refused_before_any_output(tmp_path, name, overrides, match):
    with pytest.raises(ConfigError, match=match):
        experiments.run_experiment(name, "smoke", out=tmp_path / "out", **overrides)
    assert not (tmp_path / "out").exists()


def test_workers_on_a_gpu_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="--workers 2 applies to runs on the CPU; on cuda the fits run one after"):
        experiments.run_experiment("vae3", "smoke", out=tmp_path / "out", device="cuda", workers=2)
    assert not (tmp_path / "out").exists()
