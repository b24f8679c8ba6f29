"""Equal-weight isotropic Gaussian mixtures: the toy sources of GAN papers.

Batches are drawn on the host with a numpy generator seeded from ``(seed, index)``
(see :func:`gendsl.datasets.source.batch_rng`), so they are a pure function of the index
and cheap (tens of microseconds for 256 points).

A stratified mixture (``stratified=True``) gives every component the same number of
points in each batch (up to one when the batch size is not a multiple of the number of
modes), as ODE-GAN's reference mixture code does; only the noise and the order are random.
This removes the batch-to-batch jitter of the mode counts, which the slow gradient flow
of ODE-GAN otherwise has to average out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from gendsl.datasets.coverage import mode_coverage
from gendsl.datasets.source import Batch, batch_rng, check_batch_size, check_index, spec_of, stack_batches
from gendsl.errors import DataError


@dataclasses.dataclass(frozen=True, eq=False)
class Mixture:
    """A mixture of equal-weight Gaussians with covariance ``std**2 * I``.

    Build it with :func:`mixture` (or :func:`ring8`, :func:`grid25`, :func:`grid16`);
    the fields are validated and ``centres`` is stored as a read-only float64 copy.
    Batches have one field, ``"x"``: ``(batch_size, dim)`` float32.

    Attributes:
      centres: ``(n_modes, dim)`` float64 read-only array of component means.
      std: per-coordinate standard deviation of every component.
      batch_size: examples per batch.
      seed: seed of the batch stream.
      stratified: every batch holds (nearly) equal counts of every component.
      sample_kind: ``"points2d"`` for 2-D mixtures, else None.
    """

    centres: np.ndarray
    std: float
    batch_size: int = 256
    seed: int = 0
    stratified: bool = False

    def __post_init__(self):
        c = np.array(self.centres, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] == 0 or c.shape[1] == 0:
            raise DataError(f"centres must be a non-empty (n_modes, dim) array, got shape {c.shape}.")
        if not np.all(np.isfinite(c)):
            raise DataError("centres must be finite.")
        std = self.std
        is_number = isinstance(std, (int, float, np.integer, np.floating)) and not isinstance(std, bool)
        if not (is_number and np.isfinite(std) and std > 0):
            raise DataError(f"std must be a positive finite number, got {std!r}.")
        c.setflags(write=False)
        object.__setattr__(self, "centres", c)
        object.__setattr__(self, "std", float(std))
        object.__setattr__(self, "batch_size", check_batch_size(self.batch_size))
        object.__setattr__(self, "seed", check_index(self.seed, "seed"))
        if not isinstance(self.stratified, (bool, np.bool_)):
            raise DataError(f"stratified must be True or False, got {self.stratified!r}.")
        object.__setattr__(self, "stratified", bool(self.stratified))

    @property
    def sample_kind(self) -> str | None:
        """``"points2d"`` when the mixture lives in the plane, else None."""
        return "points2d" if self.centres.shape[1] == 2 else None

    @property
    def n_modes(self) -> int:
        """Number of components."""
        return int(self.centres.shape[0])

    def _key(self) -> tuple:
        return (self.centres.tobytes(), self.centres.shape, self.std, self.batch_size, self.seed,
                self.stratified)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mixture) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Mixture(n_modes={self.n_modes}, dim={self.centres.shape[1]}, std={self.std}, "
            f"batch_size={self.batch_size}, seed={self.seed}"
            + (", stratified=True)" if self.stratified else ")")
        )

    def _draw(self, rng: np.random.Generator, n: int, stratified: bool = False) -> np.ndarray:
        if stratified:
            component = rng.permutation(np.arange(n) % self.n_modes)
        else:
            component = rng.integers(0, self.n_modes, size=n)
        noise = rng.standard_normal((n, self.centres.shape[1]))
        return (self.centres[component] + self.std * noise).astype(np.float32)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """``n`` independent points, a stream separate from every batch (never stratified).

        Args:
          n: number of points.
          seed: non-negative int.

        Returns:
          ``(n, dim)`` float32 array.
        """
        n = check_batch_size(n)
        return self._draw(np.random.default_rng(check_index(seed, "seed")), n)

    def batch(self, index: int) -> Batch:
        """Batch ``index``: ``{"x": (batch_size, dim) float32}``."""
        rng = batch_rng(self.seed, check_index(index))
        return {"x": self._draw(rng, self.batch_size, self.stratified)}

    def batches(self, start: int, count: int) -> Batch:
        """Batches ``start .. start + count - 1`` stacked: ``{"x": (count, batch_size, dim)}``."""
        return stack_batches(self.batch, start, count)

    def element_spec(self) -> dict[str, jax.ShapeDtypeStruct]:
        """``{"x": ShapeDtypeStruct((batch_size, dim), float32)}``."""
        return spec_of({"x": ((self.batch_size, self.centres.shape[1]), np.dtype(np.float32))})

    def with_batch_size(self, n: int) -> Mixture:
        """The same mixture and seed with ``n`` points per batch."""
        return dataclasses.replace(self, batch_size=n)

    def evaluate(self, samples: np.ndarray, threshold: float = 3.0) -> dict[str, float]:
        """Mode metrics of generated ``samples`` against this mixture.

        See :func:`gendsl.metrics.mode_coverage`; returns its dict.
        """
        return mode_coverage(samples, self.centres, self.std, threshold=threshold)


def mixture(
    centres: Sequence[Sequence[float]] | np.ndarray,
    std: float,
    batch_size: int = 256,
    seed: int = 0,
    stratified: bool = False,
) -> Mixture:
    """An equal-weight isotropic Gaussian mixture source.

    Args:
      centres: ``(n_modes, dim)`` component means.
      std: per-coordinate standard deviation (covariance ``std**2 * I``), > 0.
      batch_size: points per batch.
      seed: seed of the batch stream (non-negative int).
      stratified: give every component an equal share of each batch (see the module
        docstring); False draws each point's component independently.

    Returns:
      A :class:`Mixture`.

    >>> src = mixture([[0.0, 0.0], [1.0, 1.0]], std=0.1, batch_size=4)
    >>> src.batch(0)["x"].shape, src.n_modes
    ((4, 2), 2)
    """
    return Mixture(centres, std, batch_size, seed, stratified)


def ring8(batch_size: int = 256, seed: int = 0, stratified: bool = False) -> Mixture:
    """Ring of 8 Gaussians (GA-NTK): radius 0.4 around (0.5, 0.5), covariance 0.002 I.

    >>> ring8().centres.round(2)[:2]
    array([[0.9 , 0.5 ],
           [0.78, 0.78]])
    """
    angles = 2.0 * np.pi * np.arange(8) / 8
    centres = 0.5 + 0.4 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return mixture(centres, std=float(np.sqrt(0.002)), batch_size=batch_size, seed=seed,
                   stratified=stratified)


def grid25(batch_size: int = 256, seed: int = 0, stratified: bool = False) -> Mixture:
    """5x5 grid of 25 Gaussians (GA-NTK) spanning [0.15, 0.85]^2, covariance 0.0005 I.

    >>> float(grid25().centres.min()), float(grid25().centres.max())
    (0.15, 0.85)
    """
    axis = np.linspace(0.15, 0.85, 5)
    centres = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    return mixture(centres, std=float(np.sqrt(0.0005)), batch_size=batch_size, seed=seed,
                   stratified=stratified)


def grid16(batch_size: int = 256, seed: int = 0, stratified: bool = False) -> Mixture:
    """4x4 grid of 16 Gaussians (ODE-GAN): centres {-1.5, -0.5, 0.5, 1.5}^2, std 0.02.

    >>> grid16().n_modes, grid16().std
    (16, 0.02)
    """
    axis = np.array([-1.5, -0.5, 0.5, 1.5])
    centres = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    return mixture(centres, std=0.02, batch_size=batch_size, seed=seed,
                   stratified=stratified)
