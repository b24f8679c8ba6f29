"""Draws from a standard normal prior as a data source.

Programs whose data come from a simulator (SimVAE) feed prior draws ``z ~ N(0, I)`` as
the batch and apply the simulator inside the step (``gd.simulator``): the simulator then
runs on the device, fused with the rest of the step, and the run's data position stays a
single integer like any other source's.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from gendsl.datasets.source import Batch, batch_rng, check_batch_size, check_index, spec_of, stack_batches
from gendsl.errors import DataError


@dataclasses.dataclass(frozen=True)
class StandardNormal:
    """Batches ``{field: (batch_size, *shape)}`` of independent N(0, 1) draws.

    Attributes:
      shape: per-example shape.
      batch_size: examples per batch.
      seed: batch ``i`` is a pure function of ``(seed, i)``.
      field: the batch field's name.
    """

    shape: tuple[int, ...]
    batch_size: int = 256
    seed: int = 0
    field: str = "z"

    def __post_init__(self):
        check_batch_size(self.batch_size)
        if not self.shape or any(int(d) < 1 for d in self.shape):
            raise DataError(f"standard_normal: shape must be positive dims, got {self.shape}")

    def batch(self, index: int) -> Batch:
        """Batch ``index``: float32 standard normal draws."""
        rng = batch_rng(self.seed, check_index(index))
        return {self.field: rng.standard_normal((self.batch_size, *self.shape), np.float32)}

    def batches(self, start: int, count: int) -> Batch:
        """``batch(start) .. batch(start + count - 1)`` stacked."""
        return stack_batches(self.batch, start, count)

    def element_spec(self) -> dict[str, jax.ShapeDtypeStruct]:
        """``{field: ShapeDtypeStruct((batch_size, *shape), float32)}``."""
        return spec_of({self.field: ((self.batch_size, *self.shape), np.dtype(np.float32))})

    def with_batch_size(self, n: int) -> "StandardNormal":
        """The same source with ``n`` draws per batch."""
        return dataclasses.replace(self, batch_size=n)


def standard_normal(shape: int | tuple[int, ...], batch_size: int = 256, seed: int = 0,
                    field: str = "z") -> StandardNormal:
    """Returns a source of standard normal draws (e.g. a simulator's latent prior).

    Args:
      shape: per-example shape (an int for vectors).
      batch_size: draws per batch.
      seed: the source's seed.
      field: the batch field's name.
    Returns:
      A :class:`StandardNormal` source.

    >>> standard_normal(3, batch_size=4).batch(0)["z"].shape
    (4, 3)
    """
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    return StandardNormal(shape, batch_size, seed, field)
