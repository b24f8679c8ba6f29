"""Resuming a run: the latest usable checkpoint of the same program, or nothing.

The checkpoint is read into the nested view of the stepper's abstract initial state
(``stepper.abstract_state``: ``jax.eval_shape``, nothing is allocated twice, every leaf
with the sharding the step expects), so a checkpoint written on another device layout
is resharded on the way in.

A checkpoint that cannot be read (truncated or garbled files) is reported with a
:class:`CheckpointWarning`, moved aside (never deleted) and the previous one is tried. A
checkpoint of another program (different fingerprint) is refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


from gendsl.errors import CheckpointError, CheckpointMismatchError
from gendsl.run.checkpoints import CheckpointStore


class CheckpointWarning(UserWarning):
    """A checkpoint could not be read and an older one is used instead."""


def mismatch_message(directory: Path, step: int, saved: str | None, current: str) -> str:
    """The message of a :class:`CheckpointMismatchError`."""
    return (
        f"The checkpoint at step {step} in {directory} was written by another program "
        f"(checkpoint fingerprint {saved!r}, this program's fingerprint {current!r}). "
        "Use another --run-dir (run_dir=...) for this program, or delete that directory "
        "to start over."
    )


def restore_latest(
    store: CheckpointStore,
    abstract_tree: Any,
    *,
    fingerprint: str,
    set_aside_to: str | Path,
) -> tuple[Any, dict[str, Any]] | None:
    """Restores the newest usable checkpoint of ``store``.

    Args:
      store: the run's checkpoints.
      abstract_tree: the nested view of the abstract train state to restore into.
      fingerprint: the program's fingerprint; checkpoints must carry the same.
      set_aside_to: where unreadable checkpoints are moved.

    Returns:
      ``(tree, metadata)``: the restored nested view and the checkpoint's metadata, or
      ``None`` when there is no usable checkpoint.

    Raises:
      CheckpointMismatchError: the newest readable checkpoint belongs to another program.
    """
    for step in reversed(store.steps()):
        try:
            saved = store.metadata(step).get("fingerprint")
        except Exception as error:  # unreadable metadata: a damaged checkpoint
            _set_aside(store, step, error, set_aside_to)
            continue
        if saved != fingerprint:
            raise CheckpointMismatchError(
                mismatch_message(store.directory, step, saved, fingerprint)
            )
        try:
            return store.restore(step, abstract_tree)
        except CheckpointError:
            raise
        except Exception as error:  # unreadable arrays: a damaged checkpoint
            _set_aside(store, step, error, set_aside_to)
    return None


def _set_aside(store: CheckpointStore, step: int, error: Exception, to: str | Path) -> None:
    moved = store.set_aside(step, to)
    warnings.warn(
        f"The checkpoint at step {step} in {store.directory} cannot be read "
        f"({type(error).__name__}: {str(error)[:300]}); it was moved to {moved} and the "
        "previous checkpoint is used instead.",
        CheckpointWarning,
        stacklevel=3,
    )
