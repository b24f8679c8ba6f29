"""Host batches for a chunk of steps: a pure function of the step numbers.

Step ``s`` consumes source batches ``s * batches_per_step`` to
``(s + 1) * batches_per_step - 1``; the data position saved with a checkpoint is
therefore ``step * batches_per_step``, and a resumed run reads exactly the batches an
uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gendsl.datasets.source import read_batch_rows

Rows = tuple[int, int] | None  # (start, stop) of each global batch, or None for all


def step_batch(source: Any, step: int, batches_per_step: int = 1,
               rows: Rows = None) -> dict[str, np.ndarray]:
    """The host batch of one step.

    Args:
      source: a data source with ``batch(index)`` and ``batches(start, count)``.
      step: the step (0-based).
      batches_per_step: source batches per step; above 1 they are stacked on a leading
        axis of that size.
      rows: ``(start, stop)``: only these rows of each batch (this process's share of a
        multi-process run, see :func:`gendsl.sharding.local_rows`); None for all.

    Returns:
      ``source.batch(step)`` when ``batches_per_step == 1``, else
      ``source.batches(step * batches_per_step, batches_per_step)`` (restricted to
      ``rows``).
    """
    if rows is not None:
        return _rows_of(source, step * batches_per_step, batches_per_step, rows,
                        stacked=batches_per_step > 1)
    if batches_per_step == 1:
        return source.batch(step)
    return source.batches(step * batches_per_step, batches_per_step)


def _rows_of(source: Any, first: int, count: int, rows: tuple[int, int],
             stacked: bool) -> dict[str, np.ndarray]:
    """Rows ``rows`` of batches ``first .. first + count - 1``, stacked on a leading
    axis if ``stacked`` (else ``count`` is 1 and the batch is returned as is)."""
    start, stop = rows
    parts = [read_batch_rows(source, i, start, stop) for i in range(first, first + count)]
    if not stacked:
        return parts[0]
    return {name: np.stack([p[name] for p in parts]) for name in parts[0]}


def chunk_batches(
    source: Any, start: int, count: int, batches_per_step: int = 1, rows: Rows = None
) -> dict[str, np.ndarray]:
    """The host batches of ``count`` steps from ``start``, stacked on a leading axis.

    Args:
      source: a data source with ``batches(start, count)``.
      start: the first step.
      count: the number of steps (the leading axis of every field).
      batches_per_step: source batches per step; above 1 each step's batches sit on a
        second axis: every field has shape ``(count, batches_per_step, ...)``.
      rows: ``(start, stop)``: only these rows of each batch (see :func:`step_batch`).
        A source with ``batch_rows`` reads only them; for one without, whole batches
        are built (vectorised, by ``batches``) and sliced.
    """
    first = start * batches_per_step
    if rows is not None and hasattr(source, "batch_rows"):
        stacked = _rows_of(source, first, count * batches_per_step, rows, stacked=True)
    else:
        stacked = source.batches(first, count * batches_per_step)
        if rows is not None:
            stacked = {k: v[:, rows[0]:rows[1]] for k, v in stacked.items()}
    if batches_per_step == 1:
        return stacked
    return {
        name: np.reshape(value, (count, batches_per_step) + tuple(np.shape(value)[1:]))
        for name, value in stacked.items()
    }
