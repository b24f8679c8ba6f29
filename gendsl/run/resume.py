"""Resuming a run: the latest usable checkpoint of the same program, or nothing.

The checkpoint is read into the nested view of the stepper's abstract initial state
(``stepper.abstract_state``: ``jax.eval_shape``, nothing is allocated twice, every leaf
with the sharding the step expects), so a checkpoint written on another device layout
is resharded on the way in.

A checkpoint that cannot be read (truncated or garbled files) is reported with a
:class:`CheckpointWarning`, moved aside (never deleted) and the previous one is tried. A
checkpoint of another program (different fingerprint) is refused, and so is one written
in another layout of the train state (:data:`STATE_LAYOUT`, in every checkpoint's
metadata): a clear message instead of a failure deep inside the restore.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from gendsl.errors import CheckpointError, CheckpointMismatchError
from gendsl.run.checkpoints import CheckpointStore


STATE_LAYOUT = 2
"""The layout of the train state in the checkpoints this version writes (metadata key
``state_layout``). 2: the nested view ``TrainState.tree()`` as plain dicts (gendsl 0.2).
Checkpoints without the key were written by gendsl 0.1, whose state was a dataclass
(its PRNG key recorded under ``.key``)."""


class CheckpointWarning(UserWarning):
    """A checkpoint could not be read and an older one is used instead."""


def check_layout(directory: Path, step: int, metadata: dict[str, Any]) -> None:
    """Raises CheckpointError when checkpoint ``step`` was written in another layout of
    the train state than :data:`STATE_LAYOUT`."""
    saved = metadata.get("state_layout")
    if saved == STATE_LAYOUT:
        return
    version = metadata.get("gendsl_version", "an unknown version")
    which = ("an older layout of the train state (gendsl 0.1, before state_layout "
             f"{STATE_LAYOUT})" if saved is None or saved < STATE_LAYOUT else
             f"a newer layout of the train state (state_layout {saved})")
    raise CheckpointError(
        f"The checkpoint at step {step} in {directory} was written by gendsl {version} in "
        f"{which}; this gendsl reads state_layout {STATE_LAYOUT}. Finish or resume that "
        "run with the gendsl that wrote it, or start this one in a new run directory.")


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
      CheckpointError: the newest readable checkpoint has another state layout.
      CheckpointMismatchError: the newest readable checkpoint belongs to another program.
    """
    for step in reversed(store.steps()):
        try:
            metadata = store.metadata(step)
        except Exception as error:  # unreadable metadata: a damaged checkpoint
            _set_aside(store, step, error, set_aside_to)
            continue
        check_layout(store.directory, step, metadata)
        saved = metadata.get("fingerprint")
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
