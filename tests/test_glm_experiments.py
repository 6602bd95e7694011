"""E7 ``mle-init`` and E8 ``latent-activity`` beyond the results contract: what their smoke
runs must show whatever the training did, and their data and settings checks."""

import struct

import numpy as np
import pytest
import scipy.io
import torch

from pyro_vae import experiments
from pyro_vae.errors import ConfigError, DataError
from pyro_vae.experiments import glm_runs, latent_activity, mle_init


@pytest.fixture(scope="module")
def mle_init_smoke(tmp_path_factory):
    results, _ = experiments.run_experiment("mle-init", "smoke", out=tmp_path_factory.mktemp("e7") / "o",
                                            progress=False)
    return results


def test_mle_b_starts_inside_corollary_1_band(mle_init_smoke):
    """At step 0 MLE-B's pair computes the MLE and its encoder, so its sampled ELBO lies in
    [L̂, L̂ + Cor. 1's bound] (eq. 13); Bench starts far below L̂, and App. B.3's MLE-B, whose
    decoder holds the MLE behind He-initialised layers, far above Bench but below L̂."""
    rows = {(r["architecture"], r["initialisation"]): r for r in mle_init_smoke.tables["runs"]}
    assert {i for _, i in rows} == set(mle_init.INITIALISATIONS)
    for (architecture, init), row in rows.items():
        if init == "MLE-B":
            assert row["l_hat_train"] - 0.01 <= row["train_elbo_step0"] <= row["cor1_band_upper_train"] + 0.01
        elif init == "Bench":
            assert row["train_elbo_step0"] < row["l_hat_train"] - 10
        else:  # its He-initialised trunk does not compute the MLE encoder
            assert rows[architecture, "Bench"]["train_elbo_step0"] + 10 < row["train_elbo_step0"] < row["l_hat_train"] - 1


def test_affine_pairs_split_the_dip_below_l_hat(mle_init_smoke):
    """An affine pair's own L̂ (eq. 14 for its decoder, eq. 11 with its encoder) never exceeds the
    MLE's L̂ and lies below its ELBO at every evaluation (Cor. 1); at step 0 MLE-B's pair holds
    the MLE, so both equal L̂(θ̂) (App. B.3's only the decoder's); the three parts of the split add
    up to the deepest dip."""
    for row in mle_init_smoke.tables["runs"]:
        split = [row[k] for k in ("l_hat_of_decoder_minus_l_hat_at_dip",
                                  "l_hat_of_pair_minus_l_hat_of_decoder_at_dip", "elbo_minus_l_hat_of_pair_at_dip")]
        if row["architecture"] != "affine":
            assert split == [None] * 3 and row["min_margin_above_l_hat_of_pair"] is None
            continue
        assert sum(split) == pytest.approx(row["min_elbo_minus_l_hat_after_burn_in"], abs=1e-9)
        assert row["min_margin_above_l_hat_of_pair"] >= 0
        track = mle_init_smoke.tables[f"track affine κ=2 {row['initialisation']}"]
        for t in track:
            assert t["train_l_hat_of_pair"] <= t["train_l_hat_of_decoder"] + 1e-9 <= row["l_hat_train"] + 2e-9
        start = track[0]
        if row["initialisation"] == "Bench":
            assert start["train_l_hat_of_pair"] < start["train_l_hat_of_decoder"] < row["l_hat_train"] - 1
        else:  # both MLE-B variants write the MLE into the decoder; only ours computes its encoder
            assert start["train_l_hat_of_decoder"] == pytest.approx(row["l_hat_train"], abs=1e-4)
            ours = row["initialisation"] == "MLE-B"
            assert (start["train_l_hat_of_pair"] == pytest.approx(row["l_hat_train"], abs=1e-4)) == ours


def test_latent_activity_reports_eq_21_counts(tmp_path):
    from pyro_vae.activity import active_units, analytic_activity

    results, _ = experiments.run_experiment("latent-activity", "smoke", out=tmp_path / "o", progress=False)
    config = latent_activity.PROFILES["smoke"]
    for row in results.tables["active_units"]:
        _, x = latent_activity.load_images(config, row["family"])
        edf = glm_runs.observation_family(row["family"]).edf()
        gaussian = row["family"] == "gaussian"  # its σ is learned: σ̂² from eq. 18
        predicted = analytic_activity(x.double(), edf, config.latent_dim, row["beta"], estimate_dispersion=gaussian)
        assert row["analytic"] == active_units(predicted)
        trained = [row[f"dispersion_{a}"] for a in config.architectures]
        if gaussian:  # σ̂² = Σ_{j>q} λ_j / (d − β q) for some q ≤ κ active units (eq. 18 at q = κ)
            lam = np.sort(np.linalg.eigvalsh(np.cov(x.double().numpy().T, bias=True)))[::-1]
            d, beta = x.shape[1], row["beta"]
            candidates = [lam[q:].sum() / (d - beta * q) for q in range(config.latent_dim + 1) if d > beta * q]
            assert np.isclose(candidates, row["dispersion_at_mle"], rtol=1e-6).any()
            assert all(0 < s != 1 for s in trained)  # learned, not σ's start
        else:
            assert row["dispersion_at_mle"] == 1 and trained == [1, 1]


@pytest.mark.parametrize("burn_in, steps, step", [(0.1, 3000, 300), (0.3, 10, 3), (0.05, 10, 1), (0.59, 10, 6),
                                                  (0.0, 10, 0)])
def test_the_burn_in_ends_at_the_first_step_not_before_its_fraction(burn_in, steps, step):
    """Not rounded down: with burn_in=0.05 of 10 steps step 0 lies inside the burn-in."""
    config = experiments.make_config(mle_init, "smoke", burn_in=burn_in, steps=steps)
    assert mle_init.burn_in_step(config) == step


def test_over_fitting_is_the_fall_of_the_test_elbo_from_its_best(mle_init_smoke):
    assert mle_init.decline_from_best({"test_elbo": [-150.0, -100.0, -110.0]}) == pytest.approx(0.1)
    assert mle_init.decline_from_best({"test_elbo": [-150.0, -120.0, -100.0]}) == 0
    for init in mle_init.INITIALISATIONS:
        claim = next(c for c in mle_init_smoke.claims if c.claim.startswith(f"{init}: no net over-fits"))
        rows = [r for r in mle_init_smoke.tables["runs"] if r["initialisation"] == init]
        for row in rows:
            track = mle_init_smoke.tables[f"track {row['architecture']} κ={row['latent_dim']} {init}"]
            best = max(t["test_elbo"] for t in track)
            assert row["test_decline_from_best"] == pytest.approx((best - track[-1]["test_elbo"]) / abs(best))
        assert claim.holds == all(r["test_decline_from_best"] < mle_init.TOLERANCE for r in rows)


def test_frey_data_for_mle_init(tmp_path):
    faces = np.random.default_rng(0).integers(0, 256, size=(560, 1965)).astype(np.uint8)
    scipy.io.savemat(tmp_path / "frey_rawface.mat", {"ff": faces})
    config = experiments.make_config(mle_init, "smoke", data=str(tmp_path))
    description, train, test = glm_runs.load_data(config, binary=True)
    assert (train.shape, test.shape) == ((1316, 560), (649, 560))
    assert set(torch.unique(train).tolist()) <= {0.0, 1.0} and "binarised" in description
    with pytest.raises(ConfigError, match=r"^n_synthetic, data_dim, n_train, n_images would be unused: --data .* "
                                          r"holds Frey faces, split 1316 / the rest as in App. B.2$"):
        experiments.run_experiment("mle-init", "smoke", out=tmp_path / "o", data=str(tmp_path), n_synthetic=50,
                                   data_dim=30, n_train=1000, n_images=1965)
    assert not (tmp_path / "o").exists()


def write_idx_images(path, n: int, seed: int = 0) -> str:
    """``n`` random 8×8 uint8 images as an IDX file (magic 0x0803, sizes big-endian)."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, 8, 8)).astype(np.uint8)
    path.write_bytes(struct.pack(">BBBB3I", 0, 0, 0x08, 3, n, 8, 8) + images.tobytes())
    return str(path)


@pytest.mark.parametrize("source, given, unused", [
    ("", {"n_images": 300}, "n_images would be unused: without --data the data are the synthetic set; of the size "
                            "settings it reads only n_synthetic, data_dim, n_train"),
    ("folder", {"n_train": 200, "n_images": 300},
     "n_train would be unused: --data '.*images' is an IDX folder \\(its test images are the test set\\); of the size "
     "settings it reads only n_images"),
    ("file", {"data_dim": 200, "n_images": 300}, "data_dim would be unused: --data '.*images' is an IDX image file; "
                                                 "of the size settings it reads only n_images, n_train"),
])
def test_mle_init_refuses_a_size_its_data_source_does_not_read(tmp_path, source, given, unused):
    """Even at the profile's own value (smoke's n_train and data_dim are 200); a size the source
    reads (n_images of a folder or file) is not named."""
    if source == "folder":
        (tmp_path / "images").mkdir()
        write_idx_images(tmp_path / "images" / "train-images-idx3-ubyte", 300)
        write_idx_images(tmp_path / "images" / "t10k-images-idx3-ubyte", 50, seed=1)
        given = {**given, "data": str(tmp_path / "images")}
    elif source == "file":
        given = {**given, "data": write_idx_images(tmp_path / "images", 300)}
    with pytest.raises(ConfigError, match="^" + unused + "$"):
        experiments.run_experiment("mle-init", "smoke", out=tmp_path / "o", **given)
    assert not (tmp_path / "o").exists()


def test_an_unreadable_data_source_is_named_before_unused_sizes(tmp_path):
    with pytest.raises(DataError, match="no train images IDX file"):
        experiments.run_experiment("mle-init", "smoke", out=tmp_path / "o", data=str(tmp_path), n_train=200)
    with pytest.raises(ConfigError, match="no such file"):
        experiments.run_experiment("mle-init", "smoke", out=tmp_path / "o", data=str(tmp_path / "nope"), data_dim=9)
    assert not (tmp_path / "o").exists()


def test_latent_activity_keeps_close_betas_apart(tmp_path):
    """β = 1 and β = 1.0000001 print alike with 6 digits; their fits keep separate checkpoints."""
    results, _ = experiments.run_experiment("latent-activity", "smoke", out=tmp_path / "o", progress=False,
                                            betas=(1.0, 1.0000001), families=("gaussian",))
    assert sorted(row["beta"] for row in results.tables["active_units"]) == [1.0, 1.0000001]


def test_latent_activity_refuses_image_size_with_data_even_at_the_profile_value(tmp_path):
    data = write_idx_images(tmp_path / "images", 300)
    with pytest.raises(ConfigError, match=f"^image_size would be unused: it applies only to the built-in data, "
                                          f"which --data '{data}' replaces$"):
        experiments.run_experiment("latent-activity", "smoke", out=tmp_path / "o", data=data, image_size=8)
    assert not (tmp_path / "o").exists()


def test_settings_are_checked_before_training(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        experiments.run_experiment("mle-init", "smoke", out=tmp_path / "a", data=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="no such file"):
        experiments.run_experiment("latent-activity", "smoke", out=tmp_path / "b", data=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="κ may be at most 500"):  # the ReLU-Net decoder carries ±z in 1000 units
        experiments.run_experiment("mle-init", "smoke", out=tmp_path / "c", data_dim=600, latent_dims=(501,))
    assert not any((tmp_path / name).exists() for name in "abc")
    with pytest.raises(ConfigError, match="unknown architecture"):
        glm_runs.build_pair("resnet", glm_runs.observation_family("bernoulli"), 4, 2)
    with pytest.raises(ConfigError, match="unknown observation family"):
        glm_runs.observation_family("gamma")
