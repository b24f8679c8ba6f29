"""Synthetic linear regression with a Gaussian design: the setting of adversarially
robust regression studies (Xing, Song & Cheng, 2021).

``x ~ N(0, I_d)``, ``y = x . theta0 + noise * e`` with ``e ~ N(0, 1)``. A
:class:`LinearTruth` holds ``theta0`` and the noise level and draws data sets;
:func:`linear_regression` turns one draw into a source (full-batch by default). Because
the design is Gaussian, the population adversarial risk of a linear model has a closed
form (:mod:`gendsl.metrics.robust_risk`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gendsl.datasets.array_source import ArraySource, frozen_fields
from gendsl.datasets.source import batch_rng, check_batch_size, check_index
from gendsl.errors import DataError


@dataclasses.dataclass(frozen=True, eq=False)
class LinearTruth:
    """The data-generating model ``y = x . theta + noise * e``, ``x ~ N(0, I)``.

    Build it with :func:`linear_truth`.

    Attributes:
      theta: ``(d,)`` float64 read-only true parameter.
      noise: standard deviation of the additive Gaussian noise.
    """

    theta: np.ndarray
    noise: float

    @property
    def dim(self) -> int:
        """The input dimension ``d``."""
        return int(self.theta.shape[0])

    @property
    def support(self) -> np.ndarray:
        """Indices of the non-zero coordinates of ``theta``."""
        return np.flatnonzero(self.theta)

    def sample(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """``n`` examples ``{"x": (n, d), "y": (n,)}`` (float32), a pure function of
        ``(n, seed)``.

        >>> t = linear_truth(3, support=1, seed=0)
        >>> a, b = t.sample(4, seed=1), t.sample(4, seed=1)
        >>> a["x"].shape, a["y"].shape, bool((a["y"] == b["y"]).all())
        ((4, 3), (4,), True)
        """
        rng = batch_rng(seed, 0)
        x = rng.standard_normal((int(n), self.dim))
        y = x @ self.theta + self.noise * rng.standard_normal(int(n))
        return {"x": x.astype(np.float32), "y": y.astype(np.float32)}


def linear_truth(d: int, *, support: int | None = None, scale: float = 1.0,
                 noise: float = 0.5, theta: Any = None, seed: int = 0) -> LinearTruth:
    """A true linear model: ``theta`` given, or drawn from ``seed``.

    Args:
      d: input dimension.
      support: number of non-zero coordinates (at random positions, values
        ``+-scale`` with random signs); None: every coordinate ``N(0, scale^2)``.
      scale: magnitude of the coefficients.
      noise: noise standard deviation (``>= 0``).
      theta: an explicit ``(d,)`` parameter (then ``support``/``scale`` are unused).
      seed: seed of the draw of ``theta``.
    Returns:
      A :class:`LinearTruth`.
    """
    if theta is None:
        if not (isinstance(d, (int, np.integer)) and d >= 1):
            raise DataError(f"linear_truth: d must be a positive int, got {d!r}")
        rng = np.random.default_rng(np.random.SeedSequence(check_index(seed, "seed"),
                                                           spawn_key=(0x7E7A,)))
        if support is None:
            theta = scale * rng.standard_normal(d)
        else:
            if not (isinstance(support, (int, np.integer)) and 0 <= support <= d):
                raise DataError(f"linear_truth: support must be an int in [0, d={d}], got {support!r}")
            theta = np.zeros(d)
            where = rng.choice(d, size=int(support), replace=False)
            theta[where] = scale * rng.choice([-1.0, 1.0], size=int(support))
    theta = np.array(theta, dtype=np.float64).reshape(-1)
    if theta.shape[0] != d:
        raise DataError(f"linear_truth: theta has {theta.shape[0]} coordinates but d={d}")
    if not (np.isfinite(theta).all() and np.isfinite(noise) and noise >= 0):
        raise DataError(f"linear_truth: theta must be finite and noise >= 0, got noise={noise!r}")
    theta.setflags(write=False)
    return LinearTruth(theta, float(noise))


@dataclasses.dataclass(frozen=True, eq=False)
class RegressionSource(ArraySource):
    """An :class:`~gendsl.datasets.ArraySource` of ``{"x", "y"}`` drawn from a
    :class:`LinearTruth`, which it keeps as ``truth``; plots show the responses ``y``."""

    truth: LinearTruth | None = None
    sample_field: str = "y"


def linear_regression(n: int, truth: LinearTruth, *, batch_size: int | None = None,
                      seed: int = 0) -> RegressionSource:
    """A training set of ``n`` examples of ``truth`` as a source.

    Args:
      n: number of training examples.
      truth: the data-generating model (:func:`linear_truth`).
      batch_size: examples per batch; None: all ``n`` (full-batch training; batches
        then differ only in their order).
      seed: seed of the draw of the examples and of the epoch shuffles.
    Returns:
      A :class:`RegressionSource` with fields ``x`` ``(batch, d)`` and ``y`` ``(batch,)``.

    >>> src = linear_regression(100, linear_truth(5, seed=0), batch_size=10)
    >>> {k: v.shape for k, v in src.batch(0).items()}
    {'x': (10, 5), 'y': (10,)}
    """
    if not isinstance(truth, LinearTruth):
        raise DataError(f"linear_regression: truth must be a LinearTruth (gd.datasets.linear_truth), "
                        f"got {type(truth).__name__}")
    n = check_batch_size(n)
    batch_size = n if batch_size is None else check_batch_size(batch_size, n)
    fields = frozen_fields(truth.sample(n, seed), copy=False)
    return RegressionSource(fields, batch_size, seed, name=f"linear_regression(d={truth.dim})",
                            truth=truth)
