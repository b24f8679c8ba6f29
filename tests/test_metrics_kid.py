"""MMD^2 and KID against brute-force loops and scikit-learn's polynomial kernel."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics.pairwise import polynomial_kernel as sk_polynomial_kernel

from gendsl.errors import MetricError
from gendsl.metrics import kid, mmd2_unbiased, polynomial_kernel


def _k(x, y):
    return (float(np.dot(x, y)) / len(x) + 1.0) ** 3


def _mmd2_loops(x, y):
    n, m = len(x), len(y)
    xx = sum(_k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(_k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(_k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_kernel_matches_scikit_learn():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5)), rng.normal(size=(4, 5))
    expected = sk_polynomial_kernel(x, y, degree=3, gamma=1 / 5, coef0=1)
    np.testing.assert_allclose(polynomial_kernel(x, y), expected, rtol=1e-12)


@pytest.mark.parametrize("n, m", [(7, 5), (2, 2), (9, 9)])
def test_mmd2_matches_double_loop(n, m):
    rng = np.random.default_rng(n * 10 + m)
    x, y = rng.normal(size=(n, 3)), rng.normal(size=(m, 3)) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_loops(x, y), rel=1e-10, abs=1e-12)


def test_mmd2_is_symmetric_and_permutation_invariant():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(15, 4))
    assert mmd2_unbiased(x, y) == pytest.approx(mmd2_unbiased(y, x), rel=1e-12)
    assert mmd2_unbiased(x[::-1], y[rng.permutation(15)]) == pytest.approx(mmd2_unbiased(x, y), rel=1e-12)


def test_kid_matches_loops_on_the_same_subsets():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(12, 3)), rng.normal(size=(10, 3)) * 1.5
    draws = np.random.default_rng(7)
    values = []
    for _ in range(4):
        ia = draws.choice(12, 6, replace=False)
        ib = draws.choice(10, 6, replace=False)
        values.append(_mmd2_loops(a[ia], b[ib]))
    result = kid(a, b, subsets=4, subset_size=6, seed=7)
    assert result["kid_mean"] == pytest.approx(np.mean(values), rel=1e-10)
    assert result["kid_std"] == pytest.approx(np.std(values), rel=1e-8)


def test_kid_with_whole_sets_is_mmd2():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
    result = kid(a, b, subsets=3, subset_size=8)
    assert result["kid_mean"] == pytest.approx(mmd2_unbiased(a, b), rel=1e-10)
    assert result["kid_std"] == pytest.approx(0.0, abs=1e-12)


def test_kid_is_seeded_and_separates_distributions():
    rng = np.random.default_rng(4)
    a, b, far = rng.normal(size=(400, 6)), rng.normal(size=(400, 6)), rng.normal(size=(400, 6)) * 2
    assert kid(a, b, subsets=5, subset_size=100, seed=1) == kid(a, b, subsets=5, subset_size=100, seed=1)
    near, apart = kid(a, b, subsets=20, subset_size=200), kid(a, far, subsets=20, subset_size=200)
    assert abs(near["kid_mean"]) < 3 * near["kid_std"] + 1e-3
    assert apart["kid_mean"] > 10 * (abs(near["kid_mean"]) + near["kid_std"])


@pytest.mark.parametrize(
    "a, b, kwargs, match",
    [
        (np.zeros((5, 2)), np.zeros((5, 3)), {}, "feats_b has 3 features but the other set has 2"),
        (np.zeros((5, 2)), np.zeros((4, 2)), {"subset_size": 5}, "subset_size=5 must be between 2"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"subsets": 0}, "subsets"),
        (np.zeros(5), np.zeros((5, 2)), {}, r"feats_a must be an \(n, d\)"),
        (np.full((5, 2), np.nan), np.zeros((5, 2)), {}, "non-finite"),
    ],
)
def test_kid_errors(a, b, kwargs, match):
    with pytest.raises(MetricError, match=match):
        kid(a, b, **kwargs)


def test_kid_precomputed_and_per_subset_kernels_agree(monkeypatch):
    import gendsl.metrics.mmd as mmd

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(60, 4)), rng.normal(size=(40, 4)) + 0.3
    precomputed = kid(a, b, subsets=6, subset_size=30, seed=2)
    monkeypatch.setattr(mmd, "PRECOMPUTE_MAX_ROWS", 0)
    per_subset = kid(a, b, subsets=6, subset_size=30, seed=2)
    assert per_subset["kid_mean"] == pytest.approx(precomputed["kid_mean"], rel=1e-10)
    assert per_subset["kid_std"] == pytest.approx(precomputed["kid_std"], rel=1e-8)
