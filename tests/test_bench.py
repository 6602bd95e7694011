"""Tests of ``pyro_vae.bench`` and ``pyro-vae bench``.

The hand-written reference is checked against the library by value and by gradient at the same
parameters; the benchmark itself runs with a couple of steps. No test measures time.
"""

import argparse
import json
import math

import pyro
import pytest
import torch
from pyro import poutine
from pyro_vae.guides import FactorisedBernoulli
from pyro_vae.models import GaussianMixture

from pyro_vae import bench, bench_vae
from pyro_vae.bench import BENCH_OBJECTIVES, HandWrittenE1, bench_gmm, markdown_table
from pyro_vae.cli import build_parser, main
from pyro_vae.data import gmm_centres, gmm_toy
from pyro_vae.errors import ConfigError
from pyro_vae.objectives import make_objective

JIT_FIELDS = {"library_jit_ms", "jit_ratio"}  # the compiled path (jit=True)
VAE_FIELDS = {"regime", "objective", "library_ms", "hand_written_ms", "ratio", "stock", "stock_ms",
              "stock_over_library_jit", "stock_loop_ms", "stock_loop_over_library_jit"}
FIELDS = {"regime", "objective", "library_ms", "hand_written_ms", "ratio", "loss", "loss_difference", "threads",
          *JIT_FIELDS}


@pytest.fixture(scope="module")
def rows():
    return bench_gmm(steps=2, repeats=1, warmup=2)


@pytest.fixture
def pair():
    """An E1 model and guide, the hand-written copy of both, and a batch of data."""
    pyro.set_rng_seed(1)
    centres = gmm_centres(2.2)
    model = GaussianMixture(centres, 0.9)
    guide = FactorisedBernoulli(2, 2, (64, 64))
    x = gmm_toy(300, seed=2, centres=centres, sigma=0.9).x
    return model, guide, HandWrittenE1(model, guide), x


def library_grads(objective, model, guide, x):
    """``(loss, {parameter name without its module prefix: gradient})`` of one library step."""
    with poutine.trace(param_only=True) as capture:
        loss = objective.loss_and_grads(model, guide, x)
    grads = {name.split(".", 1)[1]: site["value"].unconstrained().grad.clone()
             for name, site in capture.trace.nodes.items()}
    return loss, grads


def assert_same_grads(library, hand):
    params = dict(hand.named_parameters())
    assert set(library) == set(params)
    for name, grad in library.items():
        torch.testing.assert_close(params[name].grad, grad, rtol=1e-4, atol=1e-4 * grad.abs().max().item())


# --- the hand-written reference ------------------------------------------------------------


def test_hand_written_copies_the_weights_and_shares_nothing(pair):
    model, guide, hand, _ = pair
    torch.testing.assert_close(hand.decoder.weight, model.decoder.weight.detach(), rtol=0, atol=0)
    for name, value in guide.encoder.state_dict().items():
        torch.testing.assert_close(hand.encoder.state_dict()[name], value, rtol=0, atol=0)
    hand_ptrs = {p.data_ptr() for p in hand.parameters()}
    assert not hand_ptrs & {p.data_ptr() for p in [*model.parameters(), *guide.parameters()]}


def test_hand_written_enum_loss_and_gradient_match_the_library(pair):
    model, guide, hand, x = pair
    loss, grads = library_grads(make_objective("enum"), model, guide, x)
    hand_loss = hand.enum_loss(x)
    hand_loss.backward()
    assert hand_loss.item() == pytest.approx(loss, rel=1e-5)
    assert_same_grads(grads, hand)


def test_hand_written_score_function_matches_trace_elbo_for_the_same_codes(pair):
    model, guide, hand, x = pair
    code = torch.randint(4, (x.shape[0],), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fixed = poutine.trace(guide).get_trace(x)
    fixed.nodes["z"]["value"] = code  # still a latent site: Trace_ELBO uses its score function
    loss, grads = library_grads(make_objective("elbo"), model, poutine.replay(guide, trace=fixed), x)
    hand_loss, surrogate = hand.elbo_losses(x, code)
    surrogate.backward()
    assert hand_loss.item() == pytest.approx(loss, rel=1e-5)
    assert_same_grads(grads, hand)


def test_hand_written_enum_loss_is_an_exact_expectation(pair):
    """Independent of both: q from the guide's own posterior, log p by the model's likelihood."""
    model, guide, hand, x = pair
    with torch.no_grad():
        q = guide.posterior(x)
        codes = torch.arange(4)[:, None].expand(4, x.shape[0])
        log_p = model.likelihood(codes).log_prob(x) + model.prior.log_prob(codes)
        log_q = q.log_prob(codes)
        expected = -(log_q.exp() * (log_p - log_q)).sum()
        assert hand.enum_loss(x).item() == pytest.approx(expected.item(), rel=1e-5)


# --- bench_gmm ----------------------------------------------------------------------------


def test_bench_rows_have_the_expected_fields(rows):
    assert [row["objective"] for row in rows] == list(BENCH_OBJECTIVES) == ["enum", "elbo"]
    for row in rows:
        assert set(row) == FIELDS
        assert row["regime"] == "E1 gmm, batch 1000"
        for key in ("library_ms", "library_jit_ms", "hand_written_ms", "ratio", "jit_ratio"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row[key])
        assert row["ratio"] == pytest.approx(row["library_ms"] / row["hand_written_ms"])
        assert row["jit_ratio"] == pytest.approx(row["library_jit_ms"] / row["hand_written_ms"])
        assert math.isfinite(row["loss"]) and row["threads"] >= 1


def test_bench_enum_loss_equals_the_library_loss(rows):
    enum = rows[0]
    assert enum["loss_difference"] < 1e-4 * abs(enum["loss"])
    assert rows[1]["loss_difference"] is None  # single-sample estimates are not compared


def test_bench_restores_the_thread_count():
    before = torch.get_num_threads()
    bench_gmm(steps=1, repeats=1, warmup=1, threads=1)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("setting", [dict(steps=0), dict(repeats=-1), dict(batch_size=10**6),
                                     dict(threads=0), dict(seed=-1), dict(steps=True)])
def test_bench_rejects_bad_settings(setting):
    with pytest.raises(ConfigError, match="bench: "):
        bench_gmm(**{"steps": 1, "repeats": 1, **setting})


def test_markdown_table_has_a_row_per_objective(rows):
    lines = markdown_table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert all(line.startswith("| ") and line.endswith(" |") for line in [lines[0], *lines[2:]])
    assert "| enum |" in lines[2] and "| elbo |" in lines[3]


# --- pyro-vae bench -----------------------------------------------------------------------


def test_cli_bench_quick_writes_json(tmp_path, capsys):
    out = tmp_path / "sub" / "bench.json"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["steps"] == 5 and record["repeats"] == 1
    assert [row["objective"] for row in record["rows"]] == ["enum", "elbo"]
    assert set(record["rows"][0]) == FIELDS
    assert printed.splitlines()[0].startswith("| regime | objective |")
    assert printed.splitlines()[-1] == f"out: {out}"
    assert [row["objective"] for row in record["vae_rows"]] == [
        "elbo (K=1)", "meanfield (K=1)", "tracegraph (K=1)", "iwae (K=10)",
        "elbo (K=100)", "meanfield (K=100)", "tracegraph (K=100)", "iwae (K=100)"]
    assert all(set(row) == VAE_FIELDS | JIT_FIELDS for row in record["vae_rows"])
    loop = {row["objective"]: row["stock_loop_ms"] for row in record["vae_rows"]}
    assert loop["elbo (K=1)"] is None and loop["iwae (K=10)"] > 0 and loop["iwae (K=100)"] > 0
    assert record["likelihood"]["samples"] == 5000 and record["likelihood"]["points"] == 20
    assert "stock / library, jit" in printed and "particle loop" in printed and "peak memory" in printed


def test_cli_bench_out_that_is_a_folder_exits_2(tmp_path, capsys):
    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pyro-vae: error: --out:") and "is a folder" in err[0]


@pytest.mark.parametrize("name, message", [("old.json", "exists; give a new file name"),
                                           ("a_file/bench.json", "is not a writable folder")])
def test_cli_bench_out_that_cannot_be_written_exits_2_before_timing(tmp_path, capsys, monkeypatch, name, message):
    (tmp_path / "old.json").write_text("kept\n")
    (tmp_path / "a_file").write_text("")
    monkeypatch.setattr(bench, "bench_gmm", lambda **_: pytest.fail("timed before checking --out"))
    assert main(["bench", "--quick", "--out", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pyro-vae: error: --out:") and message in err[0]
    assert (tmp_path / "old.json").read_text() == "kept\n"


def test_cli_bench_bad_likelihood_points_exits_2(capsys):
    assert main(["bench", "--quick", "--likelihood-points", "0"]) == 2
    assert "--likelihood-points must be a positive int" in capsys.readouterr().err


def test_cli_bench_bad_threads_exits_2(capsys):
    assert main(["bench", "--quick", "--threads", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "threads must be a positive int" in err[0]


def test_cli_bench_help_explains_every_option(capsys):
    parser = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["bench"]
    assert main(["bench", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("usage: pyro-vae bench")
    assert " ".join(parser.description.split()) in out
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{action.dest} has no help"
        assert f"{action.option_strings[0]} " in out
        assert " ".join((action.help % vars(action)).split()) in out


# --- the two VAE regimes -------------------------------------------------------------------


@pytest.mark.parametrize("regime", list(bench_vae.REGIMES))
@pytest.mark.parametrize("objective, k", [("elbo", 3), ("meanfield", 3), ("tracegraph", 3), ("iwae", 7)])
def test_hand_written_vae_matches_the_library_in_value_and_gradient(regime, objective, k):
    """Same weights, same draws (one ``rsample`` of shape (K, N, H) on both sides)."""
    pyro.clear_param_store()
    model, guide, x = bench_vae.regime_pair(regime, seed=0)
    x = x[:40]
    hand = bench_vae.HandWrittenVAE(regime, model, guide)
    torch.manual_seed(1)
    library_loss = make_objective(objective, k).loss_and_grads(model, guide, x)
    torch.manual_seed(1)
    hand_loss = hand.loss(x, objective, k)
    hand_loss.backward()
    assert library_loss == pytest.approx(hand_loss.item(), rel=1e-5)
    pairs = list(zip(model.decoder.parameters(), hand.decoder.parameters()))
    pairs += list(zip(guide.encoder.parameters(), hand.encoder.parameters()))
    if regime == "linear":
        pairs += [(guide.family.log_sigma, hand.log_tau), (model.observation.log_sigma, hand.log_sigma)]
    assert len(pairs) == sum(1 for _ in hand.parameters())
    for ours, theirs in pairs:
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-4, atol=1e-4 * theirs.grad.abs().max().item())


def test_likelihood_run_reports_time_and_memory():
    record = bench_vae.likelihood_run(num_points=3, num_samples=30)
    assert record["points"] == 3 and record["samples"] == 30 and record["dim"] == 784
    assert record["seconds"] > 0 and record["peak_rss_gib"] > 0 and math.isfinite(record["mean_log_likelihood"])
