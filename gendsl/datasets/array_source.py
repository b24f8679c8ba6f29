"""A finite dataset, in memory or memory-mapped, served in epochs of deterministic
shuffles.

Example ``p`` of the infinite stream (``p = index * batch_size + j``) is example
``perm_e[p % n]`` of epoch ``e = p // n``, where ``perm_e`` is a permutation drawn from
``(seed, e)``. So a batch is a pure function of its index, batches may straddle an epoch
boundary (nothing is dropped), and every example appears exactly once per epoch.

A batch reads only its rows (:func:`read_rows`), so a field may be a memory-mapped
``.npy`` file larger than memory (``np.load(path, mmap_mode="r")``): its rows are cast to
the served dtype and checked for non-finite values as they are read, never the whole
array at once.
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


def served_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a field of ``dtype`` is served in: float64 as float32 and 64-bit integers
    as int32 (JAX's defaults), anything else unchanged.

    >>> served_dtype(np.dtype("float64")), served_dtype(np.dtype("uint8"))
    (dtype('float32'), dtype('uint8'))
    """
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return np.dtype(np.float32)
    if dtype.kind in "iu" and dtype.itemsize == 8:
        return np.dtype(np.int32)
    return dtype


def read_rows(name: str, array: np.ndarray, rows: np.ndarray, *,
              check_finite: bool = False) -> np.ndarray:
    """Rows ``rows`` of field ``name``, in :func:`served_dtype`: the one read of a field.

    Only those rows are read: ``array[rows]`` of a memory-mapped array touches only the
    pages that hold them, and the cast applies to the rows alone.

    Args:
      name: the field's name (for messages).
      array: the field, ``(n, ...)``; an ``np.memmap`` is fine.
      rows: integer row indices in ``[0, n)``, any order, repeats allowed.
      check_finite: refuse float rows with NaN or infinite values (for arrays too
        large to check when they were opened).

    Returns:
      A new in-memory array of shape ``(len(rows), ...)``.

    Raises:
      DataError: a 64-bit integer row is outside the int32 range, or ``check_finite``
        and some rows hold NaN or infinite values (the message names them).

    >>> read_rows("x", np.arange(10.0).reshape(5, 2), np.array([4, 0]))
    array([[8., 9.],
           [0., 1.]], dtype=float32)
    """
    out = np.asarray(array[rows])
    dtype = served_dtype(out.dtype)
    if dtype.kind in "iu" and dtype != out.dtype and out.size and (
            out.min() < np.iinfo(np.int32).min or out.max() > np.iinfo(np.int32).max):
        raise DataError(f"field {name!r} holds 64-bit integers outside the int32 range; JAX works in int32 by default.")
    if check_finite and out.dtype.kind == "f":
        bad = ~np.isfinite(out.reshape(out.shape[0], -1)).all(axis=1)
        if bad.any():
            shown = sorted({int(r) for r in np.asarray(rows)[bad]})
            raise DataError(
                f"field {name!r} has NaN or infinite values in row{'s' * (len(shown) > 1)} "
                f"{', '.join(map(str, shown[:5]))}{', ...' if len(shown) > 5 else ''} of "
                f"{array.shape[0]}, read by this batch; remove or fix those rows, or pass "
                "allow_nonfinite=True to arrays(...) to train on them anyway.")
    return out.astype(dtype, copy=False)


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
      check_rows: check float rows for NaN or infinite values as batches read them
        (:func:`read_rows`); set for memory-mapped fields, which are not checked whole.
    """

    fields: Mapping[str, np.ndarray] = dataclasses.field(repr=False)
    batch_size: int
    seed: int = 0
    sample_kind: str | None = None
    image_shape: tuple[int, ...] | None = None
    name: str = "arrays"
    held_out: Mapping[str, np.ndarray] | None = dataclasses.field(default=None, repr=False)
    check_rows: bool = False

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {served_dtype(v.dtype)}{list(v.shape)}" for k, v in self.fields.items())
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
        return {name: read_rows(name, array, rows, check_finite=self.check_rows)
                for name, array in self.fields.items()}

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
        return spec_of({k: ((self.batch_size,) + v.shape[1:], served_dtype(v.dtype))
                        for k, v in self.fields.items()})

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
