"""Each experiment runs end to end in its smoke profile and writes the SPEC's results files."""

import json
import math
import pathlib
import subprocess
import sys

import pytest

from pyro_vae import experiments

CHECKER = pathlib.Path(__file__).resolve().parents[2] / "shared" / "tools" / "check-results"


@pytest.mark.parametrize("name", list(experiments.EXPERIMENTS))
def test_smoke_profile_writes_the_results_contract(name, tmp_path):
    results, out = experiments.run_experiment(name, "smoke", out=tmp_path / "out", progress=False)
    data = json.loads((out / "results.json").read_text())
    assert data["experiment"] == name and data["profile"] == "smoke"
    assert data["claims"], "an experiment checks at least one claim"
    assert all(isinstance(c["holds"], bool) for c in data["claims"])
    numbers = [v for v in data["metrics"].values() if isinstance(v, (int, float))]
    assert numbers and all(math.isfinite(v) for v in numbers)
    for figure in data["figures"]:
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if CHECKER.is_file():
        done = subprocess.run([sys.executable, str(CHECKER), str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_gmm_smoke_is_reproducible(tmp_path):
    first, _ = experiments.run_experiment("gmm", "smoke", out=tmp_path / "a", progress=False)
    second, _ = experiments.run_experiment("gmm", "smoke", out=tmp_path / "b", progress=False)
    timing = {k for k in first.metrics if k.startswith("seconds_per_step")}
    for key, value in first.metrics.items():
        if key not in timing:
            assert second.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_gap_summary_takes_medians_over_runs_of_tail_means():
    from pyro_vae.experiments.entropy_runs import gap_summary

    def track(gap, f1):  # final ELBO −10: the relative gap is |gap| / 10
        return {"elbo": [-12.0, -10.0, -10.0], "three_entropies": [-11.0, -10.0 - gap, -10.0 + gap],
                "f1_residual": [5.0, f1, f1 + 0.2], "f2_residual": [5.0, -f1, -f1]}

    summary = gap_summary([track(0.1, 0.0), track(0.3, 1.0), track(0.2, 2.0)], tail=2)
    assert summary["final_relative_gap_per_run"] == pytest.approx([0.01, 0.03, 0.02])
    assert summary["final_relative_gap_median"] == pytest.approx(0.02)
    assert summary["final_f1_residual_median"] == pytest.approx(1.1)
    assert summary["final_f2_residual_median"] == pytest.approx(-1.0)


def test_vae3_names_fig2_settings_by_their_role_whatever_their_values():
    vae3 = experiments.get_experiment("vae3")
    config = experiments.make_config(vae3, "smoke", small_batch_size=50, high_lr=0.01)
    assert vae3.settings(config) == {"reference": (200, 0.001), "small_batch": (50, 0.001), "high_lr": (200, 0.01)}
    assert set(vae3.PAPER_BOUNDS) == set(vae3.settings(config))
