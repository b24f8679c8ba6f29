"""Which steps each call of a compiled program runs: chunks aligned to absolute steps.

A fused program runs ``steps_per_call`` steps per call. Chunks are aligned to absolute
step numbers, never to where a run happened to start: a chunk ends at the next multiple
of ``steps_per_call``, or earlier at the next checkpoint, evaluation or final step. Every
place a run can stop and resume is therefore a chunk boundary of the uninterrupted run
too, so a resumed run executes exactly the same chunks (and the same floating point
operations) as one that never stopped.
"""

from __future__ import annotations


def _next_multiple(step: int, every: int | None) -> int | None:
    if not every:
        return None
    return (step // every + 1) * every


def chunk_end(
    step: int,
    *,
    total: int,
    steps_per_call: int,
    checkpoint_every: int | None = None,
    eval_every: int | None = None,
) -> int:
    """The step at which the chunk starting at ``step`` ends (exclusive).

    Args:
      step: the first step of the chunk (steps done so far).
      total: the last step of the run.
      steps_per_call: steps fused into one call.
      checkpoint_every: checkpoint period (``None`` or 0: no periodic checkpoints).
      eval_every: evaluation period (``None`` or 0: no periodic evaluation).

    Returns:
      ``min(next multiple of steps_per_call, next checkpoint, next evaluation, total)``.

    >>> [chunk_end(s, total=10, steps_per_call=4, checkpoint_every=5) for s in (0, 4, 5, 8)]
    [4, 5, 8, 10]
    """
    candidates = [
        total,
        _next_multiple(step, steps_per_call),
        _next_multiple(step, checkpoint_every),
        _next_multiple(step, eval_every),
    ]
    return min(c for c in candidates if c is not None)


def crosses_multiple(start: int, end: int, every: int | None) -> bool:
    """Whether some multiple of ``every`` lies in ``(start, end]``.

    >>> crosses_multiple(3, 6, 5), crosses_multiple(5, 9, 5), crosses_multiple(0, 3, None)
    (True, False, False)
    """
    return bool(every) and end // every > start // every
