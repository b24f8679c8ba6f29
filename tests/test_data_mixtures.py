"""Gaussian mixture sources: determinism, shapes, geometry and statistics."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from gendsl.datasets import Mixture, Source, grid16, grid25, mixture, ring8
from gendsl.errors import DataError, GendslError


@pytest.mark.parametrize("make", [ring8, grid25, grid16])
def test_batches_are_a_pure_function_of_the_index(make):
    a, b = make(batch_size=64, seed=3), make(batch_size=64, seed=3)
    np.testing.assert_array_equal(a.batch(7)["x"], b.batch(7)["x"])
    assert a.batch(7)["x"].tobytes() == b.batch(7)["x"].tobytes()
    assert not np.array_equal(a.batch(7)["x"], a.batch(8)["x"])
    assert not np.array_equal(a.batch(7)["x"], make(batch_size=64, seed=4).batch(7)["x"])


def test_batch_order_does_not_matter():
    src = ring8(batch_size=32)
    later_first = [src.batch(i)["x"] for i in (5, 2, 9)]
    np.testing.assert_array_equal(later_first[1], ring8(batch_size=32).batch(2)["x"])


def test_batches_stack_consecutive_batches():
    src = grid25(batch_size=16, seed=1)
    stacked = src.batches(4, 3)["x"]
    assert stacked.shape == (3, 16, 2)
    for k in range(3):
        np.testing.assert_array_equal(stacked[k], src.batch(4 + k)["x"])


def test_element_spec_matches_batch():
    src = ring8(batch_size=10)
    spec = src.element_spec()
    batch = src.batch(0)
    assert set(spec) == set(batch) == {"x"}
    assert spec["x"] == jax.ShapeDtypeStruct((10, 2), np.float32)
    assert batch["x"].shape == spec["x"].shape and batch["x"].dtype == spec["x"].dtype


def test_with_batch_size_returns_a_new_source():
    src = ring8(batch_size=10, seed=2)
    big = src.with_batch_size(40)
    assert big.batch(0)["x"].shape == (40, 2)
    assert src.batch_size == 10
    assert big == ring8(batch_size=40, seed=2)
    with pytest.raises(DataError, match="batch_size"):
        src.with_batch_size(0)


def test_protocol_and_value_semantics():
    src = ring8()
    assert isinstance(src, Source)
    assert src.sample_kind == "points2d"
    assert src == ring8() and hash(src) == hash(ring8())
    assert src != ring8(seed=1) and src != grid25()
    with pytest.raises(AttributeError):
        src.std = 1.0  # frozen
    with pytest.raises(ValueError):
        src.centres[0, 0] = 3.0  # read-only
    assert "n_modes=8" in repr(src)


def test_ring8_geometry():
    c = ring8().centres
    radii = np.linalg.norm(c - 0.5, axis=1)
    np.testing.assert_allclose(radii, 0.4, atol=1e-12)
    angles = np.sort(np.mod(np.arctan2(c[:, 1] - 0.5, c[:, 0] - 0.5), 2 * np.pi))
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-12)
    assert ring8().std == pytest.approx(np.sqrt(0.002))


def test_grid_geometry():
    g25 = grid25()
    levels = np.linspace(0.15, 0.85, 5)
    assert {tuple(p) for p in g25.centres.round(12)} == {(round(a, 12), round(b, 12)) for a in levels for b in levels}
    assert g25.std == pytest.approx(np.sqrt(0.0005))
    g16 = grid16()
    levels = (-1.5, -0.5, 0.5, 1.5)
    assert {tuple(p) for p in g16.centres} == {(a, b) for a in levels for b in levels}
    assert g16.std == 0.02


@pytest.mark.parametrize("make", [ring8, grid25, grid16])
def test_statistics_match_the_mixture(make):
    src = make(batch_size=20_000, seed=0)
    x = src.batch(0)["x"].astype(np.float64)
    nearest = np.argmin(((x[:, None] - src.centres[None]) ** 2).sum(-1), axis=1)
    residual = x - src.centres[nearest]
    # Per-coordinate std of the component noise, within sampling error.
    np.testing.assert_allclose(residual.std(axis=0), src.std, rtol=0.03)
    np.testing.assert_allclose(residual.mean(axis=0), 0.0, atol=4 * src.std / np.sqrt(len(x)))
    # Equal weights: chi-square goodness of fit of the mode counts (p ~ 1e-6 cut).
    counts = np.bincount(nearest, minlength=src.n_modes)
    expected = len(x) / src.n_modes
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < src.n_modes + 8 * np.sqrt(2 * src.n_modes)


@pytest.mark.parametrize("make", [ring8, grid25, grid16])
def test_evaluate_scores_true_samples_as_perfect(make):
    src = make()
    r = src.evaluate(src.sample(10_000, seed=1))
    assert r["modes_covered"] == r["n_modes"] == src.n_modes
    # P(|noise| <= 3 std) for a 2-D isotropic Gaussian is 1 - exp(-9/2).
    assert r["high_quality_fraction"] == pytest.approx(1 - np.exp(-4.5), abs=0.005)
    assert 0 <= r["kl_from_uniform"] < 0.01


def test_evaluate_sees_collapse():
    src = grid16()
    collapsed = np.repeat(src.centres[:1], 1000, axis=0)
    r = src.evaluate(collapsed)
    assert r["modes_covered"] == 1
    assert r["kl_from_uniform"] == pytest.approx(np.log(16))


def test_sample_is_seeded_and_separate_from_batches():
    src = ring8(batch_size=100)
    np.testing.assert_array_equal(src.sample(100, seed=0), src.sample(100, seed=0))
    assert not np.array_equal(src.sample(100, seed=0), src.sample(100, seed=1))
    assert not np.array_equal(src.sample(100, seed=0), src.batch(0)["x"])
    assert src.sample(5, seed=0).dtype == np.float32


@pytest.mark.parametrize("batch_size", [512, 100])
def test_stratified_batches_hold_equal_counts_of_every_mode(batch_size):
    src = grid16(batch_size=batch_size, stratified=True)
    for index in range(3):
        x = src.batch(index)["x"]
        nearest = np.argmin(((x[:, None, :] - src.centres[None]) ** 2).sum(-1), axis=1)
        counts = np.bincount(nearest, minlength=16)
        assert counts.max() - counts.min() <= (0 if batch_size % 16 == 0 else 1), counts
        assert counts.sum() == batch_size
    np.testing.assert_array_equal(src.batch(1)["x"], grid16(batch_size, stratified=True).batch(1)["x"])
    # the order is shuffled and the noise is random: not a tiled copy of the centres
    assert not np.array_equal(nearest[:16], np.arange(16))
    assert np.std(x - src.centres[nearest]) == pytest.approx(0.02, rel=0.15)
    assert src != grid16(batch_size=batch_size) and "stratified=True" in repr(src)


def test_general_mixture_in_three_dimensions():
    src = mixture(np.eye(3), std=0.01, batch_size=8)
    assert isinstance(src, Mixture) and src.sample_kind is None
    assert src.batch(0)["x"].shape == (8, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(centres=[], std=0.1), "centres"),
        (dict(centres=[1.0, 2.0], std=0.1), "centres"),
        (dict(centres=[[0.0, np.nan]], std=0.1), "finite"),
        (dict(centres=[[0.0, 0.0]], std=0.0), "std"),
        (dict(centres=[[0.0, 0.0]], std=0.1, batch_size=0), "batch_size"),
        (dict(centres=[[0.0, 0.0]], std=0.1, seed=-1), "seed"),
        (dict(centres=[[0.0, 0.0]], std=0.1, stratified="yes"), "stratified"),
    ],
)
def test_bad_arguments_raise_data_errors(kwargs, match):
    with pytest.raises(DataError, match=match):
        mixture(**kwargs)


def test_bad_indices_raise_data_errors():
    src = ring8()
    with pytest.raises(DataError, match="index must be >= 0"):
        src.batch(-1)
    with pytest.raises(DataError, match="index must be an int"):
        src.batch(1.0)
    with pytest.raises(DataError, match="count"):
        src.batches(0, 0)
    assert issubclass(DataError, GendslError)


def test_direct_construction_and_replace_are_validated():
    import dataclasses

    src = Mixture([[0, 0], [1, 1]], 0.1)
    assert src == mixture([[0.0, 0.0], [1.0, 1.0]], std=0.1)
    assert src.centres.dtype == np.float64 and not src.centres.flags.writeable
    with pytest.raises(DataError, match="std"):
        dataclasses.replace(src, std=-1.0)
    with pytest.raises(DataError, match="std"):
        Mixture([[0, 0]], True)
