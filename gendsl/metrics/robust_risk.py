"""Adversarial risk of linear models: empirical, exact under a Gaussian design, minimal.

For a linear model and squared loss, the worst perturbation within ``||delta||_p <= eps``
has the closed form ``(|y - x . theta| + eps ||theta||_q)^2`` (``1/p + 1/q = 1``). When
``x ~ N(0, I)`` and ``y = x . theta0 + sigma e``, the residual ``y - x . theta`` is
``N(0, s^2)`` with ``s^2 = ||theta - theta0||^2 + sigma^2``, so the population risk is

    R(theta) = s^2 + 2 sqrt(2 / pi) c s + c^2,    c = eps ||theta||_q,

a convex function of ``theta``; :func:`minimal_adversarial_risk` minimises it numerically
(scipy) to give the risk of the best robust linear model, the limit that adversarial
training approaches as the sample grows.
"""

from __future__ import annotations

import math

import numpy as np

from gendsl.errors import MetricError
from gendsl.primitives.dual_norm import dual_exponent, parse_norm


def _dual_norm(theta: np.ndarray, p: float) -> float:
    return float(np.linalg.norm(np.ravel(theta), ord=dual_exponent(p)))


def linear_adversarial_risk(x, y, theta, eps: float, norm) -> float:
    """Empirical adversarial risk ``mean (|y - x . theta| + eps ||theta||_q)^2``.

    >>> linear_adversarial_risk(np.eye(2), np.zeros(2), np.array([1.0, -1.0]), 0.5, "inf")
    4.0
    """
    x, y, theta = (np.asarray(a, np.float64) for a in (x, y, theta))
    if x.ndim != 2 or y.shape != (x.shape[0],) or theta.shape != (x.shape[1],):
        raise MetricError(f"linear_adversarial_risk: need x (n, d), y (n,), theta (d,); got "
                          f"{x.shape}, {y.shape}, {theta.shape}")
    c = eps * _dual_norm(theta, parse_norm(norm))
    return float(np.mean((np.abs(y - x @ theta) + c) ** 2))


def gaussian_adversarial_risk(theta, truth, eps: float, norm) -> float:
    """Exact population adversarial risk of ``theta`` under ``truth``
    (:class:`~gendsl.datasets.regression.LinearTruth`, Gaussian design).

    >>> from gendsl.datasets.regression import linear_truth
    >>> t = linear_truth(2, theta=[1.0, 0.0], noise=0.0)
    >>> gaussian_adversarial_risk([1.0, 0.0], t, 0.0, 2)   # perfect fit, no attack
    0.0
    """
    theta = np.asarray(theta, np.float64).reshape(-1)
    if theta.shape != truth.theta.shape:
        raise MetricError(f"gaussian_adversarial_risk: theta has shape {theta.shape}, the truth "
                          f"{truth.theta.shape}")
    s = math.sqrt(float(np.sum((theta - truth.theta) ** 2)) + truth.noise ** 2)
    c = eps * _dual_norm(theta, parse_norm(norm))
    return s * s + 2.0 * math.sqrt(2.0 / math.pi) * c * s + c * c


def adversarial_minimizer(truth, eps: float, norm) -> np.ndarray:
    """The linear model of least population adversarial risk (Gaussian design), by
    numerical minimisation of the convex :func:`gaussian_adversarial_risk` (Powell's
    method, then a Nelder-Mead polish).

    The minimiser vanishes off the support of ``truth.theta`` (zeroing such a coordinate
    lowers both ``||theta - theta0||`` and ``||theta||_q``), so only the support is
    searched: fast for sparse truths, meant for supports of up to a few tens.
    """
    from scipy.optimize import minimize

    support = truth.support
    theta = np.zeros(truth.dim)
    if len(support) == 0:
        return theta

    def risk(v):
        full = np.zeros(truth.dim)
        full[support] = v
        return gaussian_adversarial_risk(full, truth, eps, norm)

    best = None
    for shrink in (1.0, 0.5, 0.0):
        start = shrink * np.asarray(truth.theta)[support]
        r = minimize(risk, start, method="Powell", options={"xtol": 1e-10, "ftol": 1e-14,
                                                            "maxfev": 200_000})
        r = minimize(risk, r.x, method="Nelder-Mead",
                     options={"xatol": 1e-10, "fatol": 1e-14, "maxfev": 200_000})
        if best is None or r.fun < best.fun:
            best = r
    theta[support] = best.x
    return theta


def minimal_adversarial_risk(truth, eps: float, norm) -> float:
    """``min_theta`` of the population adversarial risk of linear models (see
    :func:`adversarial_minimizer`)."""
    return gaussian_adversarial_risk(adversarial_minimizer(truth, eps, norm), truth, eps, norm)
