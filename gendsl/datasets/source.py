"""The data source protocol: batches as a pure function of the batch index.

A source is an immutable value. ``source.batch(i)`` always returns the same arrays for
the same ``i`` (bit for bit), so a run's data position is a single integer (the step)
and resuming from a checkpoint replays exactly the batches an uninterrupted run would
have seen. The helpers here are shared by every built-in source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import jax
import numpy as np

from gendsl.errors import DataError

Batch = dict[str, np.ndarray]


@runtime_checkable
class Source(Protocol):
    """What the compiler and runner need from a data source.

    Optional attributes a source may also have: ``sample_kind`` (``"points2d"`` or
    ``"images"``), ``image_shape`` (``(H, W)`` or ``(H, W, C)``),
    ``evaluate(samples) -> dict[str, float]`` to score generated samples, and
    ``batch_rows(index, start, stop)``: rows ``start:stop`` of ``batch(index)``, bit for
    bit, read without building the rest (what each process of a multi-process run
    reads; :func:`read_batch_rows` slices ``batch(index)`` for a source without it).
    """

    batch_size: int

    def batch(self, index: int) -> Batch:
        """The batch at position ``index`` (``index >= 0``): field name -> array."""
        ...

    def batches(self, start: int, count: int) -> Batch:
        """``batch(start) .. batch(start + count - 1)`` stacked on a new leading axis."""
        ...

    def element_spec(self) -> dict[str, jax.ShapeDtypeStruct]:
        """Shape and dtype of every field of one batch, without reading data."""
        ...

    def with_batch_size(self, n: int) -> Source:
        """The same source with batches of ``n`` examples."""
        ...


def check_index(index: int, name: str = "index") -> int:
    """Validate a batch index and return it as a Python int.

    Args:
      index: a non-negative integer (Python or numpy).
      name: the argument name used in the error message.

    Returns:
      ``int(index)``.

    >>> check_index(np.int64(3))
    3
    """
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise DataError(f"{name} must be an int, got {type(index).__name__}: pass the batch index as an int.")
    if index < 0:
        raise DataError(f"{name} must be >= 0, got {index}: batch indices count from 0.")
    return int(index)


def check_count(count: int) -> int:
    """Validate the number of batches asked of ``batches`` and return it as an int."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise DataError(f"count must be a positive int, got {count!r}.")
    return int(count)


def check_batch_size(batch_size: int, available: int | None = None) -> int:
    """Validate a batch size, optionally against the number of examples available.

    Args:
      batch_size: a positive integer.
      available: number of examples in the dataset, or None for infinite sources.

    Returns:
      ``int(batch_size)``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise DataError(f"batch_size must be a positive int, got {batch_size!r}.")
    if available is not None and batch_size > available:
        raise DataError(
            f"batch_size={batch_size} is larger than the dataset ({available} examples): "
            f"use batch_size <= {available}."
        )
    return int(batch_size)


def stack_batches(batch: Callable[[int], Batch], start: int, count: int) -> Batch:
    """Stack ``batch(start) .. batch(start + count - 1)`` field by field.

    Args:
      batch: a function from batch index to batch.
      start: first index (>= 0).
      count: number of batches (>= 1).

    Returns:
      ``{field: array of shape (count, *batch_shape)}``.
    """
    start = check_index(start, "start")
    parts = [batch(i) for i in range(start, start + check_count(count))]
    return {name: np.stack([p[name] for p in parts]) for name in parts[0]}


def read_batch_rows(source, index: int, start: int, stop: int) -> Batch:
    """Rows ``start:stop`` of ``source.batch(index)``.

    Uses ``source.batch_rows(index, start, stop)`` when the source has it (array-backed
    sources read only those rows); otherwise builds the whole batch and slices it, which
    is fine for cheap synthetic generators (a mixture draws a batch in microseconds) but
    reads every row of a file-backed source.

    >>> class Count:
    ...     def batch(self, i):
    ...         return {"x": np.arange(4) + 10 * i}
    >>> read_batch_rows(Count(), 1, 2, 4)["x"].tolist()
    [12, 13]
    """
    reader = getattr(source, "batch_rows", None)
    if reader is not None:
        return reader(index, start, stop)
    return {name: value[start:stop] for name, value in source.batch(index).items()}


def spec_of(shapes: Mapping[str, tuple[tuple[int, ...], np.dtype]]) -> dict[str, jax.ShapeDtypeStruct]:
    """``{field: (shape, dtype)}`` -> ``{field: jax.ShapeDtypeStruct}``."""
    return {name: jax.ShapeDtypeStruct(shape, dtype) for name, (shape, dtype) in shapes.items()}


def batch_rng(seed: int, index: int) -> np.random.Generator:
    """The numpy generator of batch ``index`` of a source seeded with ``seed``.

    Built from ``SeedSequence(seed, spawn_key=(index,))``: independent streams per
    index (spawn keys are numpy's mechanism for that; plain entropy lists are not safe,
    ``SeedSequence([0, 0])`` equals ``SeedSequence(0)``), and distinct from the stream of
    ``np.random.default_rng(seed)``.

    >>> a = batch_rng(0, 5).standard_normal(3); b = batch_rng(0, 5).standard_normal(3)
    >>> bool((a == b).all())
    True
    """
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index),)))
