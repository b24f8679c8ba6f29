"""Host batches for a chunk of steps: a pure function of the step numbers.

Step ``s`` consumes source batches ``s * batches_per_step`` to
``(s + 1) * batches_per_step - 1``; the data position saved with a checkpoint is
therefore ``step * batches_per_step``, and a resumed run reads exactly the batches an
uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def step_batch(source: Any, step: int, batches_per_step: int = 1) -> dict[str, np.ndarray]:
    """The host batch of one step.

    Args:
      source: a data source with ``batch(index)`` and ``batches(start, count)``.
      step: the step (0-based).
      batches_per_step: source batches per step; above 1 they are stacked on a leading
        axis of that size.

    Returns:
      ``source.batch(step)`` when ``batches_per_step == 1``, else
      ``source.batches(step * batches_per_step, batches_per_step)``.
    """
    if batches_per_step == 1:
        return source.batch(step)
    return source.batches(step * batches_per_step, batches_per_step)


def chunk_batches(
    source: Any, start: int, count: int, batches_per_step: int = 1
) -> dict[str, np.ndarray]:
    """The host batches of ``count`` steps from ``start``, stacked on a leading axis.

    Args:
      source: a data source with ``batches(start, count)``.
      start: the first step.
      count: the number of steps (the leading axis of every field).
      batches_per_step: source batches per step; above 1 each step's batches sit on a
        second axis: every field has shape ``(count, batches_per_step, ...)``.
    """
    stacked = source.batches(start * batches_per_step, count * batches_per_step)
    if batches_per_step == 1:
        return stacked
    return {
        name: np.reshape(value, (count, batches_per_step) + tuple(np.shape(value)[1:]))
        for name, value in stacked.items()
    }
