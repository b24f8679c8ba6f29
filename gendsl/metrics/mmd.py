"""Unbiased MMD^2 and the Kernel Inception Distance (KID) on arbitrary features.

KID (Binkowski et al., 2018) is the unbiased MMD^2 with the cubic polynomial kernel
``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets, as computed by
torch-fidelity. Written here in float64 numpy (a few matrix products) because no JAX
library provides it and torch-fidelity would pull in PyTorch; float64 because the
estimate is a small difference of large kernel sums.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gendsl.errors import MetricError

Kernel = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Up to this many rows per set, KID computes each full kernel matrix once (at most
# 3 x 32 MiB in float64) and slices it per subset instead of recomputing products.
PRECOMPUTE_MAX_ROWS = 2048


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """``(x @ y.T / d + coef0) ** degree``, the KID kernel for ``degree=3``.

    Args:
      x: ``(n, d)`` features.
      y: ``(m, d)`` features.

    Returns:
      ``(n, m)`` kernel matrix.

    >>> polynomial_kernel(np.ones((1, 2)), np.ones((1, 2)))
    array([[8.]])
    """
    return (x @ y.T / x.shape[1] + coef0) ** degree


def _features(name: str, feats, d: int | None = None) -> np.ndarray:
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise MetricError(f"{name} must be an (n, d) feature array with n >= 2, got shape {f.shape}.")
    if d is not None and f.shape[1] != d:
        raise MetricError(f"{name} has {f.shape[1]} features but the other set has {d}; use the same feature extractor.")
    if not np.all(np.isfinite(f)):
        raise MetricError(f"{name} contains non-finite values.")
    return f


def mmd2_unbiased(x, y, kernel: Kernel = polynomial_kernel) -> float:
    """Unbiased estimate of MMD^2 between the distributions of ``x`` and ``y``.

    ``mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j)``
    (Gretton et al. 2012, eq. 3; sets may differ in size). Can be slightly negative.

    Args:
      x: ``(n, d)`` features, ``n >= 2``.
      y: ``(m, d)`` features, ``m >= 2``.
      kernel: ``kernel(a, b) -> (len(a), len(b))`` matrix; the cubic polynomial by default.

    Returns:
      The estimate, a float.

    >>> a = np.random.default_rng(0).normal(size=(200, 4))
    >>> abs(mmd2_unbiased(a[:100], a[100:])) < 0.1 < mmd2_unbiased(a[:100], a[100:] + 1.0)
    True
    """
    x = _features("x", x)
    y = _features("y", y, x.shape[1])
    return _mmd2_from_kernels(kernel(x, x), kernel(y, y), kernel(x, y))


def _mmd2_from_kernels(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    n, m = kxx.shape[0], kyy.shape[0]
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def kid(feats_a, feats_b, subsets: int = 100, subset_size: int | None = None, seed: int = 0) -> dict[str, float]:
    """Kernel Inception Distance between two feature sets (torch-fidelity's protocol).

    For each of ``subsets`` rounds, draws ``subset_size`` rows of each set without
    replacement and computes :func:`mmd2_unbiased` with the cubic polynomial kernel.

    Args:
      feats_a: ``(n, d)`` features (e.g. of generated samples).
      feats_b: ``(m, d)`` features (e.g. of real data).
      subsets: number of random subsets.
      subset_size: rows per subset; default ``min(1000, n, m)``; at most ``min(n, m)``.
      seed: seed of the subset draws.

    Returns:
      ``{"kid_mean": float, "kid_std": float}`` (std over subsets, ``ddof=0``).

    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(300, 8))
    >>> same = kid(rng.normal(size=(300, 8)), real, subsets=10, subset_size=100)
    >>> shifted = kid(rng.normal(size=(300, 8)) + 1.0, real, subsets=10, subset_size=100)
    >>> abs(same["kid_mean"]) < 0.1 < 1.0 < shifted["kid_mean"]
    True
    """
    a = _features("feats_a", feats_a)
    b = _features("feats_b", feats_b, a.shape[1])
    largest = min(a.shape[0], b.shape[0])
    if subset_size is None:
        subset_size = min(1000, largest)
    if not 2 <= subset_size <= largest:
        raise MetricError(
            f"subset_size={subset_size} must be between 2 and the smaller set's size ({largest}); "
            "pass a smaller subset_size or more samples."
        )
    if subsets < 1:
        raise MetricError(f"subsets must be >= 1, got {subsets}.")
    rng = np.random.default_rng(seed)
    draws = [
        (rng.choice(a.shape[0], subset_size, replace=False), rng.choice(b.shape[0], subset_size, replace=False))
        for _ in range(subsets)
    ]
    if max(a.shape[0], b.shape[0]) <= PRECOMPUTE_MAX_ROWS:
        # Small sets: one kernel matrix per pair of sets, sliced per subset.
        kaa, kbb, kab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
        values = [_mmd2_from_kernels(kaa[np.ix_(i, i)], kbb[np.ix_(j, j)], kab[np.ix_(i, j)]) for i, j in draws]
    else:
        values = [mmd2_unbiased(a[i], b[j]) for i, j in draws]
    values = np.array(values)
    return {"kid_mean": float(values.mean()), "kid_std": float(values.std())}
