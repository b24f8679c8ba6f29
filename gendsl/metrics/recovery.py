"""How well an inverse model recovers simulator parameters (SimVAE's evaluation)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from gendsl.errors import MetricError


def r_squared(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Coefficient of determination per column: ``1 - SS_res / SS_tot``.

    Args:
      estimate: ``(n, k)`` estimates.
      truth: ``(n, k)`` true values.
    Returns:
      ``(k,)`` R^2 values (1 is perfect; 0 is no better than the mean).

    >>> float(r_squared(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [3.0]]))[0])
    1.0
    """
    estimate, truth = np.asarray(estimate, np.float64), np.asarray(truth, np.float64)
    if estimate.shape != truth.shape or estimate.ndim != 2:
        raise MetricError(f"r_squared: estimate {estimate.shape} and truth {truth.shape} "
                          "must both be (n, k)")
    ss_res = np.sum((truth - estimate) ** 2, axis=0)
    ss_tot = np.sum((truth - truth.mean(0)) ** 2, axis=0)
    return 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, np.nan)


def correlation_matrix(latent: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Pearson correlations ``C[i, j]`` between latent dimension ``i`` and parameter ``j``.

    Args:
      latent: ``(n, d)`` latent codes (e.g. encoder means).
      truth: ``(n, k)`` parameters.
    Returns:
      ``(d, k)`` correlations.
    """
    a = np.asarray(latent, np.float64)
    b = np.asarray(truth, np.float64)
    a = (a - a.mean(0)) / a.std(0)
    b = (b - b.mean(0)) / b.std(0)
    return a.T @ b / a.shape[0]


def parameter_recovery(estimate: np.ndarray, truth: np.ndarray, names: Sequence[str],
                       latent: np.ndarray | None = None) -> dict[str, float]:
    """R^2 of each parameter and, given latent codes, their correlation structure.

    Args:
      estimate: ``(n, k)`` parameter estimates.
      truth: ``(n, k)`` true parameters.
      names: the ``k`` parameter names.
      latent: optional ``(n, d)`` latent codes.
    Returns:
      ``{"r2/<name>": ..., "r2_min": ...}`` and, with ``latent``, ``"corr/z<i>/<name>"``
      for every pair and ``"one_to_one"``: the smallest gap, over latent dimensions,
      between the largest and the second largest absolute correlation of that
      dimension, when every parameter is some dimension's largest (else 0.0).
    """
    r2 = r_squared(estimate, truth)
    out = {f"r2/{n}": float(v) for n, v in zip(names, r2)}
    out["r2_min"] = float(np.min(r2))
    if latent is not None:
        c = correlation_matrix(latent, truth)
        for i in range(c.shape[0]):
            for j, n in enumerate(names):
                out[f"corr/z{i}/{n}"] = float(c[i, j])
        a = np.sort(np.abs(c), axis=1)
        distinct = len(set(np.argmax(np.abs(c), axis=1))) == len(names) == c.shape[0]
        out["one_to_one"] = float(np.min(a[:, -1] - a[:, -2])) if distinct else 0.0
    return out
