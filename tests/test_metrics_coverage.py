"""mode_coverage on hand-built samples with exact expected values, and a loop reference."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from gendsl.errors import MetricError
from gendsl.metrics import mode_coverage

SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
STD = 0.1  # quality radius 0.3 with the default threshold


def _around(centre_counts, jitter=0.05):
    """``count`` samples at each centre, offset by at most ``jitter`` (well inside 3 std)."""
    rng = np.random.default_rng(0)
    parts = [SQUARE[k] + rng.uniform(-jitter, jitter, size=(count, 2)) for k, count in enumerate(centre_counts)]
    return np.concatenate(parts)


def _kl(counts):
    p = np.asarray(counts, float) / sum(counts)
    return float(sum(q * np.log(q * len(counts)) for q in p if q > 0))


def test_all_modes_balanced():
    r = mode_coverage(_around([10, 10, 10, 10]), SQUARE, STD)
    assert r == {"modes_covered": 4, "n_modes": 4, "high_quality_fraction": 1.0, "kl_from_uniform": 0.0}


def test_one_mode_missing():
    r = mode_coverage(_around([10, 10, 10, 0]), SQUARE, STD)
    assert r["modes_covered"] == 3 and r["high_quality_fraction"] == 1.0
    assert r["kl_from_uniform"] == pytest.approx(np.log(4 / 3), abs=1e-12)


def test_collapsed_to_one_mode():
    r = mode_coverage(_around([0, 40, 0, 0]), SQUARE, STD)
    assert r["modes_covered"] == 1
    assert r["kl_from_uniform"] == pytest.approx(np.log(4), abs=1e-12)


def test_no_high_quality_samples():
    far = np.full((25, 2), 0.5)  # 0.707 from every centre, outside the 0.3 radius
    r = mode_coverage(far, SQUARE, STD)
    assert r == {"modes_covered": 0, "n_modes": 4, "high_quality_fraction": 0.0, "kl_from_uniform": float(np.log(4))}


def test_low_quality_samples_count_only_in_the_fraction():
    samples = np.concatenate([_around([10, 10, 10, 0]), np.full((10, 2), 0.5)])
    r = mode_coverage(samples, SQUARE, STD)
    assert r["high_quality_fraction"] == 0.75
    assert r["modes_covered"] == 3
    assert r["kl_from_uniform"] == pytest.approx(np.log(4 / 3), abs=1e-12)


def test_quarter_of_fair_share_rule():
    # 100 high-quality samples over 4 modes: fair share 25, a mode needs >= 6.25.
    r = mode_coverage(_around([40, 40, 14, 6]), SQUARE, STD)
    assert r["modes_covered"] == 3
    assert r["kl_from_uniform"] == pytest.approx(_kl([40, 40, 14, 6]), abs=1e-12)
    # 80 samples: a mode needs >= 5, and exactly 5 counts (inclusive).
    assert mode_coverage(_around([35, 35, 5, 5]), SQUARE, STD)["modes_covered"] == 4
    assert mode_coverage(_around([36, 35, 5, 4]), SQUARE, STD)["modes_covered"] == 3


def test_quality_radius_is_inclusive():
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    on_edge = mode_coverage([[0.5, 0.0]], centres, std=0.25, threshold=2.0)
    beyond = mode_coverage([[0.5 + 1e-9, 0.0]], centres, std=0.25, threshold=2.0)
    assert on_edge["high_quality_fraction"] == 1.0 and beyond["high_quality_fraction"] == 0.0
    assert mode_coverage([[0.7, 0.0]], centres, std=0.25, threshold=3.0)["high_quality_fraction"] == 1.0


def test_non_finite_samples_are_low_quality():
    samples = np.concatenate([_around([5, 5, 5, 5]), [[np.nan, 0.0], [np.inf, 1.0]]])
    r = mode_coverage(samples, SQUARE, STD)
    assert r["high_quality_fraction"] == pytest.approx(20 / 22)
    assert r["modes_covered"] == 4


def _loop_reference(samples, centres, std, threshold):
    counts = [0] * len(centres)
    for x in samples:
        d = [float(np.sqrt(sum((a - b) ** 2 for a, b in zip(x, c)))) for c in centres]
        k = int(np.argmin(d))
        if d[k] <= threshold * std:
            counts[k] += 1
    n_hq = sum(counts)
    covered = sum(c >= 0.25 * n_hq / len(centres) for c in counts)
    return covered, n_hq / len(samples), _kl(counts)


def test_matches_a_loop_reference_on_random_samples():
    rng = np.random.default_rng(3)
    centres = rng.uniform(-2, 2, size=(9, 2))
    weights = rng.dirichlet(np.ones(9) * 0.5)
    samples = centres[rng.choice(9, size=600, p=weights)] + 0.08 * rng.standard_normal((600, 2))
    covered, fraction, kl = _loop_reference(samples, centres, 0.05, 3.0)
    r = mode_coverage(jnp.asarray(samples), centres, 0.05)  # jax input accepted
    assert r["modes_covered"] == covered
    assert r["high_quality_fraction"] == pytest.approx(fraction, abs=2e-3)  # float32 round trip
    assert r["kl_from_uniform"] == pytest.approx(kl, abs=2e-2)
    exact = mode_coverage(samples, centres, 0.05)
    assert exact["high_quality_fraction"] == fraction
    assert exact["kl_from_uniform"] == pytest.approx(kl, abs=1e-12)


@pytest.mark.parametrize(
    "samples, centres, std, match",
    [
        (np.zeros((5, 3)), SQUARE, 0.1, r"samples must be a non-empty \(n, 2\) array"),
        (np.zeros((0, 2)), SQUARE, 0.1, "samples"),
        (np.zeros((5, 2)), np.zeros((0, 2)), 0.1, "centres"),
        (np.zeros((5, 2)), SQUARE, 0.0, "std"),
    ],
)
def test_bad_inputs(samples, centres, std, match):
    with pytest.raises(MetricError, match=match):
        mode_coverage(samples, centres, std)
