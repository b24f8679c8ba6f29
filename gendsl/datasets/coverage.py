"""Mode coverage of samples from a Gaussian mixture (the GAN mode-collapse metrics).

It lives with the mixtures because it is how a mixture evaluates itself
(:meth:`gendsl.datasets.Mixture.evaluate`); :mod:`gendsl.metrics` re-exports it as
``gd.metrics.mode_coverage``.

Written by hand in vectorised numpy: the computation is a nearest-centre assignment and
a histogram, with no library that defines it in this exact form (the definitions follow
the GA-NTK / unrolled-GAN evaluation protocol).
"""

from __future__ import annotations

import numpy as np

from gendsl.errors import MetricError


def mode_coverage(samples, centres, std: float, threshold: float = 3.0) -> dict[str, float]:
    """Mode coverage, sample quality and mode balance of generated samples.

    A sample is *high quality* when its Euclidean distance to the nearest centre is
    at most ``threshold * std``. A mode is *covered* when it holds at least a quarter of
    its fair share of the high-quality samples: ``count >= 0.25 * n_hq / n_modes``.
    ``kl_from_uniform`` is ``KL(p || uniform)`` where ``p`` is the histogram of nearest
    modes over the high-quality samples (0 when perfectly balanced, ``log(n_modes)``
    when all in one mode).

    When no sample is high quality: ``modes_covered = 0``,
    ``high_quality_fraction = 0`` and ``kl_from_uniform = log(n_modes)`` (scored as the
    worst case, full collapse).

    Args:
      samples: ``(n, dim)`` array (numpy or jax), typically 10,000 samples.
      centres: ``(n_modes, dim)`` mode centres.
      std: the mixture's per-coordinate standard deviation (> 0).
      threshold: quality radius in units of ``std``.

    Returns:
      ``{"modes_covered": int, "n_modes": int, "high_quality_fraction": float,
      "kl_from_uniform": float}``.

    >>> r = mode_coverage([[0.0, 0.0], [0.01, 0.0], [5.0, 5.0]], [[0, 0], [1, 1]], std=0.1)
    >>> r["modes_covered"], r["n_modes"], round(r["high_quality_fraction"], 3)
    (1, 2, 0.667)
    """
    x = np.asarray(samples, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] == 0:
        raise MetricError(f"centres must be a non-empty (n_modes, dim) array, got shape {c.shape}.")
    if x.ndim != 2 or x.shape[1] != c.shape[1] or x.shape[0] == 0:
        raise MetricError(
            f"samples must be a non-empty (n, {c.shape[1]}) array to match centres, got shape {x.shape}: "
            "flatten or reshape the generated samples."
        )
    if not std > 0:
        raise MetricError(f"std must be positive, got {std!r}.")
    n_modes = c.shape[0]
    finite = np.isfinite(x).all(axis=1)
    x = np.where(finite[:, None], x, 0.0)  # non-finite rows are masked out below
    # ||x - c||^2 without the (n, k, dim) intermediate.
    sq = (x**2).sum(1)[:, None] - 2.0 * x @ c.T + (c**2).sum(1)[None, :]
    nearest = sq.argmin(axis=1)
    dist = np.linalg.norm(x - c[nearest], axis=1)  # exact, no cancellation at the boundary
    high_quality = finite & (dist <= threshold * std)
    n_hq = int(high_quality.sum())
    if n_hq == 0:
        return {
            "modes_covered": 0,
            "n_modes": n_modes,
            "high_quality_fraction": 0.0,
            "kl_from_uniform": float(np.log(n_modes)),
        }
    counts = np.bincount(nearest[high_quality], minlength=n_modes)
    p = counts / n_hq
    nz = p > 0
    kl = float(np.sum(p[nz] * np.log(p[nz] * n_modes)))
    return {
        "modes_covered": int(np.sum(counts >= 0.25 * n_hq / n_modes)),
        "n_modes": n_modes,
        "high_quality_fraction": n_hq / x.shape[0],
        "kl_from_uniform": max(kl, 0.0),
    }
