"""The Text VAE of seed 000 §3.1 and its encoders e1/e2/e3, against brute-force sums over codes
written with ``torch.distributions`` (no Pyro), and the consistency check of §3.1."""

from __future__ import annotations

import itertools
import math

import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import Predictive

import pyro_vae as pv
from pyro_vae import guides, models
from pyro_vae.bits import split_bits
from pyro_vae.documents import DocumentLength
from pyro_vae.errors import ConfigError, PairingError

VOCAB, BITS = 9, 3
CODES = torch.tensor(list(itertools.product([0.0, 1.0], repeat=BITS)))


@pytest.fixture
def pair():
    pyro.clear_param_store()
    torch.manual_seed(0)
    model = models.TextVAE(VOCAB, BITS, depth=1, hidden=7)
    guide = guides.text_encoder("e2", VOCAB, BITS, hidden=5)
    x = torch.poisson(torch.rand(6, VOCAB) * 3)
    x[1] = 0  # an empty document
    return model, guide, x


def log_joint_by_hand(model, x, code):
    """``log p(l) + log p(z) + log Multinomial(x | l, softmax f(z))`` with torch distributions."""
    logits = model.decoder(code)
    out = []
    for doc in x:
        n = int(doc.sum())
        words = torch.distributions.Multinomial(n, logits=logits).log_prob(doc) if n else torch.tensor(0.0)
        out.append(model.length_model().log_prob(doc.sum()) + BITS * math.log(0.5) + words)
    return torch.stack(out)


def log_q_by_hand(guide, x, code):
    logits = guide.predictor(x)
    return (code * F.logsigmoid(logits) + (1 - code) * F.logsigmoid(-logits)).sum(-1)


def test_model_trace_is_the_hand_written_joint(pair):
    model, guide, x = pair
    trace = poutine.trace(model).get_trace(x)
    assert [n for n, s in trace.nodes.items() if s["type"] == "sample"][1:] == ["length", "z", "x"]
    assert trace.nodes["z"]["fn"].event_shape == (BITS,)
    z = trace.nodes["z"]["value"]
    by_hand = torch.stack([log_joint_by_hand(model, x[i : i + 1], z[i])[0] for i in range(len(x))])
    assert torch.allclose(trace.log_prob_sum(), by_hand.sum(), atol=1e-4)


def test_predictive_draws_documents_of_the_sampled_lengths(pair):
    """Under ``poutine.uncondition`` the length site draws new lengths, and every predicted
    document has the length drawn for it, not the length of the input document."""
    model, _, x = pair
    pyro.set_rng_seed(0)
    out = Predictive(poutine.uncondition(model), num_samples=4)(x)
    assert out["x"].shape == (4, 6, VOCAB) and out["length"].shape == (4, 6)
    assert torch.equal(out["x"].sum(-1), out["length"])
    assert not torch.equal(out["length"], x.sum(-1).expand(4, 6))  # new lengths, not the input's


def test_conditioned_length_is_the_documents_length(pair):
    """Observed, the length site holds x.sum(-1) and the joint is the hand-written one."""
    model, _, x = pair
    trace = poutine.trace(model).get_trace(x)
    assert torch.equal(trace.nodes["length"]["value"], x.sum(-1))
    z = trace.nodes["z"]["value"]
    by_hand = torch.stack([log_joint_by_hand(model, x[i : i + 1], z[i])[0] for i in range(len(x))])
    torch.testing.assert_close(trace.log_prob_sum(), by_hand.sum())


def test_split_bits_samples_one_site_per_bit(pair):
    model, guide, x = pair
    with split_bits():
        trace = poutine.trace(guide).get_trace(x)
    assert [n for n, s in trace.nodes.items() if s["type"] == "sample"][1:] == ["z_0", "z_1", "z_2"]
    assert trace.nodes["z_1"]["fn"].event_shape == ()


def test_exact_likelihood_and_elbo_are_brute_force_sums_over_codes(pair):
    model, guide, x = pair
    joint = torch.stack([log_joint_by_hand(model, x, c) for c in CODES])  # (codes, docs)
    log_q = torch.stack([log_q_by_hand(guide, x, c) for c in CODES])
    with torch.no_grad():
        ev = pv.evaluate(model, guide, x)
        assert ev["log_likelihood"] == pytest.approx(torch.logsumexp(joint, 0).mean().item(), abs=1e-4)
        assert ev["elbo"] == pytest.approx((log_q.exp() * (joint - log_q)).sum(0).mean().item(), abs=1e-4)
    assert ev["elbo_se"] == 0.0 and ev["tightness_gap"] > 0


def test_enum_objective_is_the_exact_elbo(pair):
    model, guide, x = pair
    exact = pv.evaluate(model, guide, x)["elbo"] * len(x)
    assert pv.objectives.make_objective("enum").loss(model, guide, x) == pytest.approx(-exact, rel=1e-5)


def test_many_bits_are_not_enumerated():
    torch.manual_seed(0)
    model, guide = models.TextVAE(VOCAB, 13), guides.text_encoder("e1", VOCAB, 13)
    x = torch.poisson(torch.rand(4, VOCAB) * 3)
    assert pv.evaluate(model, guide, x, num_samples=20)["elbo_se"] > 0  # Monte-Carlo, not 2^13 codes


def test_e1_reads_counts_e2_e3_read_frequencies():
    torch.manual_seed(0)
    x = torch.poisson(torch.rand(4, VOCAB) * 3) + 1
    e1, e2, e3 = guides.text_encoder("e1", VOCAB, BITS), guides.text_encoder("e2", VOCAB, BITS, hidden=5), \
        guides.text_encoder("e3", VOCAB, BITS)
    linear = e1.encoder[0]
    assert torch.allclose(e1.predictor(x), x @ linear.weight.T + linear.bias)
    for freq in (e2, e3):
        assert torch.allclose(freq.predictor(3 * x), freq.predictor(x), atol=1e-6)  # length-blind
    assert not torch.allclose(e1.predictor(3 * x), e1.predictor(x))
    assert len(e2.encoder) == 5 and len(e3.encoder) == 1  # 2 hidden ReLU layers vs linear
    assert torch.isfinite(e3.predictor(torch.zeros(1, VOCAB))).all()  # an empty document


@pytest.mark.parametrize("build, message", [
    (lambda: guides.BernoulliBits(VOCAB, BITS, frequencies="no"), "BernoulliBits: frequencies must be True or False, "
                                                                  "got 'no'"),
    (lambda: guides.BernoulliBits(0, BITS), "BernoulliBits: input_dim must be a positive int, got 0"),
    (lambda: models.TextVAE(VOCAB, 0), "TextVAE: bits must be a positive int, got 0"),
    (lambda: models.consistent_text_vae(VOCAB, BITS, seed=1.5), r"seed must be an integer in 0\.\.4294967295, got 1.5"),
    (lambda: models.consistent_text_vae(VOCAB, BITS, seed=-1), r"seed must be an integer in 0\.\.4294967295, got -1"),
    (lambda: models.consistent_text_vae(VOCAB, BITS, strength=True), "strength must be a finite number, got True"),
])
def test_bad_text_arguments_are_refused(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_unknown_encoder_and_mismatched_bits_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown text encoder 'e4'; expected one of e1, e2, e3"):
        guides.text_encoder("e4", VOCAB, BITS)
    x = torch.poisson(torch.rand(4, VOCAB) * 3)
    with pytest.raises(PairingError, match="site 'z' does not match"):
        pv.fit(models.TextVAE(VOCAB, BITS), guides.text_encoder("e1", VOCAB, BITS + 1), x, steps=1)


@pytest.mark.parametrize("bad, message", [(-1.0, "non-negative integer"), (0.5, "non-negative integer"),
                                          (float("nan"), "non-finite")])
def test_bad_counts_are_refused_before_training(bad, message):
    x = torch.poisson(torch.rand(4, VOCAB) * 3)
    x[2, 1] = bad
    with pytest.raises(pv.errors.DataError, match=message):
        pv.fit(models.TextVAE(VOCAB, BITS), guides.text_encoder("e1", VOCAB, BITS), x, steps=1)


def test_generate_draws_documents_of_the_model():
    torch.manual_seed(0)
    model = models.TextVAE(VOCAB, BITS, length=DocumentLength(torch.tensor(2.0), torch.tensor(0.5)))
    x, z = model.generate(500)
    assert x.shape == (500, VOCAB) and z.shape == (500, BITS)
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    assert abs(z.mean().item() - 0.5) < 4 * 0.5 / math.sqrt(z.numel())


# --------------------------------------------------------------------------------------------
# Consistency (seed 000 §3.1): with a linear decoder, e1 can hold the exact posterior; e3 cannot.
# --------------------------------------------------------------------------------------------

LENGTH = DocumentLength(torch.tensor(3.0), torch.tensor(0.8))  # lengths from 1 to a few hundred


def test_consistent_model_has_a_factorised_posterior_linear_in_counts():
    torch.manual_seed(0)
    model = models.consistent_text_vae(20, 4, strength=1.3, length=LENGTH)
    x, _ = model.generate(50)
    guide = guides.text_encoder("e1", 20, 4)
    weight = torch.zeros(4, 20)
    for j in range(4):
        weight[j, 2 * j], weight[j, 2 * j + 1] = 1.3, -1.3
    with torch.no_grad():
        guide.encoder[0].weight.copy_(weight)
        guide.encoder[0].bias.zero_()
    gap = pv.evaluate(model, guide, x)["tightness_gap"]
    assert abs(gap) < 1e-5  # q = p(z | x) exactly (float32 round-off)


def test_training_drives_e1_to_a_tight_bound_and_leaves_e3_loose():
    """Joint ELBO training (exact gradients by enumeration) on data from a consistent model."""
    pyro.set_rng_seed(0)
    x, _ = models.consistent_text_vae(20, 4, length=LENGTH).generate(300)
    gaps = {}
    for name in ("e1", "e3"):
        pyro.clear_param_store()
        pyro.set_rng_seed(1)
        model = models.consistent_text_vae(20, 4, length=LENGTH)
        guide = guides.text_encoder(name, 20, 4)
        pv.fit(model, guide, x, objective="enum", steps=400, lr=0.05)
        ev = pv.evaluate(model, guide, x)
        gaps[name] = (ev["tightness_gap"], ev["tightness_gap_se"])
    print("tightness gap (nats per document) e1 %.4f ± %.4f, e3 %.4f ± %.4f" % (*gaps["e1"], *gaps["e3"]))
    assert gaps["e1"][0] < 0.01
    assert gaps["e3"][0] - 4 * gaps["e3"][1] > 0.03


@pytest.mark.parametrize("objective", ["tracegraph", "disarm", "iwae", "enum"])
def test_every_binary_objective_trains_with_a_shorter_last_mini_batch(objective):
    pyro.clear_param_store()
    torch.manual_seed(0)
    x = torch.poisson(torch.rand(7, VOCAB) * 3)
    model, guide = models.TextVAE(VOCAB, BITS), guides.text_encoder("e1", VOCAB, BITS)
    history = pv.fit(model, guide, x, objective, epochs=3, batch_size=3, num_particles=2, seed=0)
    assert len(history.steps) == 9 and all(math.isfinite(v) for v in history.elbo)


def test_consistency_distance_of_text_decoders():
    """The consistent model lies in Θ_Φ of the bit encoders; a random linear decoder does not,
    because its log-partition l A(f(z)) is not affine in the bits."""
    torch.manual_seed(0)
    x, _ = models.consistent_text_vae(20, 4, length=LENGTH).generate(80)
    e1 = guides.text_encoder("e1", 20, 4)
    consistent = pv.consistency_distance(models.consistent_text_vae(20, 4, length=LENGTH), e1, x)
    generic = pv.consistency_distance(models.TextVAE(20, 4, length=LENGTH), e1, x)
    assert consistent["relative"] < 1e-5 and generic["relative"] > 1e-3
