"""A finite dataset held in memory, served in epochs of deterministic shuffles.

Example ``p`` of the infinite stream (``p = index * batch_size + j``) is example
``perm_e[p % n]`` of epoch ``e = p // n``, where ``perm_e`` is a permutation drawn from
``(seed, e)``. So a batch is a pure function of its index, batches may straddle an epoch
boundary (nothing is dropped), and every example appears exactly once per epoch.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Mapping

import jax
import numpy as np

from gendsl.datasets.source import Batch, batch_rng, check_batch_size, check_count, check_index, spec_of
from gendsl.errors import DataError


@functools.lru_cache(maxsize=16)
def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the ``n`` examples in ``epoch`` for a source seeded with ``seed``.

    Memoised (a pure function of its arguments), read-only.

    >>> sorted(epoch_permutation(0, 3, 5).tolist())
    [0, 1, 2, 3, 4]
    """
    perm = batch_rng(seed, epoch).permutation(n)
    perm.setflags(write=False)
    return perm


@dataclasses.dataclass(frozen=True, eq=False)
class ArraySource:
    """Batches drawn without replacement from in-memory arrays, reshuffled each epoch.

    Build it with :func:`gendsl.datasets.arrays` or :func:`gendsl.datasets.digits`.

    Attributes:
      fields: read-only mapping ``{name: array}``; all share the leading length.
      batch_size: examples per batch.
      seed: seed of the per-epoch shuffles.
      sample_kind: ``"images"``, ``"points2d"`` or None (what field ``"x"`` holds).
      image_shape: ``(H, W)`` or ``(H, W, C)`` of one image when ``sample_kind`` is
        ``"images"`` (also when the images are stored flattened), else None.
      name: a short label used in ``repr``.
      held_out: read-only ``{name: array}`` of examples the source never serves (e.g.
        the digits' test split beside the train split), for what needs unseen real data
        (calibrating a discriminator); None when there are none.
    """

    fields: Mapping[str, np.ndarray] = dataclasses.field(repr=False)
    batch_size: int
    seed: int = 0
    sample_kind: str | None = None
    image_shape: tuple[int, ...] | None = None
    name: str = "arrays"
    held_out: Mapping[str, np.ndarray] | None = dataclasses.field(default=None, repr=False)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {v.dtype}{list(v.shape)}" for k, v in self.fields.items())
        return f"ArraySource({self.name}, {{{shapes}}}, batch_size={self.batch_size}, seed={self.seed})"

    def __len__(self) -> int:
        return int(next(iter(self.fields.values())).shape[0])

    @property
    def steps_per_epoch(self) -> float:
        """Batches per pass over the data (may be fractional)."""
        return len(self) / self.batch_size

    def _take(self, positions: np.ndarray) -> Batch:
        n = len(self)
        epochs, offsets = np.divmod(positions, n)
        rows = np.empty_like(positions)
        for epoch in np.unique(epochs):
            at = epochs == epoch
            rows[at] = epoch_permutation(self.seed, int(epoch), n)[offsets[at]]
        return {name: array[rows] for name, array in self.fields.items()}

    def batch(self, index: int) -> Batch:
        """Batch ``index``: every field, ``batch_size`` rows."""
        start = check_index(index) * self.batch_size
        return self._take(np.arange(start, start + self.batch_size, dtype=np.int64))

    def batch_rows(self, index: int, start: int, stop: int) -> Batch:
        """Rows ``start:stop`` of ``batch(index)``, reading only those rows of the arrays
        (a memory-mapped array reads them from disk)."""
        first = check_index(index) * self.batch_size
        if not 0 <= start <= stop <= self.batch_size:
            raise DataError(f"rows {start}:{stop} are not within a batch of "
                            f"{self.batch_size}; give 0 <= start <= stop <= batch_size.")
        return self._take(np.arange(first + start, first + stop, dtype=np.int64))

    def batches(self, start: int, count: int) -> Batch:
        """Batches ``start .. start + count - 1`` stacked on a new leading axis."""
        count = check_count(count)
        first = check_index(start, "start") * self.batch_size
        flat = self._take(np.arange(first, first + count * self.batch_size, dtype=np.int64))
        return {k: v.reshape((count, self.batch_size) + v.shape[1:]) for k, v in flat.items()}

    def element_spec(self) -> dict[str, jax.ShapeDtypeStruct]:
        """``{field: ShapeDtypeStruct((batch_size, *row_shape), dtype)}``."""
        return spec_of({k: ((self.batch_size,) + v.shape[1:], v.dtype) for k, v in self.fields.items()})

    def with_batch_size(self, n: int) -> ArraySource:
        """The same data and seed with ``n`` examples per batch (``n <= len(self)``)."""
        return dataclasses.replace(self, batch_size=check_batch_size(n, len(self)))


def frozen_fields(fields: Mapping[str, np.ndarray], copy: bool = True) -> Mapping[str, np.ndarray]:
    """A read-only mapping of read-only arrays.

    Args:
      fields: ``{name: array}``.
      copy: copy the arrays first (leave True unless the caller owns them, e.g. just
        loaded them), so that later writes to the caller's arrays cannot change batches.
    """
    out = {}
    for name, array in fields.items():
        array = np.array(array, copy=True) if copy else array
        array.setflags(write=False)
        out[name] = array
    return types.MappingProxyType(out)
