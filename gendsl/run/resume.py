"""Resuming a run: the latest usable checkpoint of the same program, or nothing.

The checkpoint is read into the nested view of the stepper's abstract initial state
(``stepper.abstract_state``: ``jax.eval_shape``, nothing is allocated twice, every leaf
with the sharding the step expects), so a checkpoint written on another device layout
is resharded on the way in.

A checkpoint that cannot be read (truncated or garbled files) is reported with a
:class:`CheckpointWarning`, moved aside (never deleted) and the previous one is tried. A
checkpoint of another program (different fingerprint) is refused, naming the parts of
the fingerprint that differ (``fingerprint_parts`` in its metadata), unless the caller
accepts the change: it is then restored only if its arrays fit the new state (same
paths, shapes and dtypes). A checkpoint written in another layout of the train state
(:data:`STATE_LAYOUT`, in every checkpoint's metadata) is refused too: a clear message
instead of a failure deep inside the restore.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

from gendsl.errors import CheckpointError, CheckpointMismatchError
from gendsl.run.checkpoints import CheckpointStore, leaf_specs
from gendsl.run.prng_keys import abstract_keys_to_data


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


def mismatch_message(directory: Path, step: int, saved: str | None, current: str,
                     saved_parts: Any = None, current_parts: Any = None, *,
                     unfit: str | None = None) -> str:
    """The message of a :class:`CheckpointMismatchError`: both fingerprints, what differs
    (from their parts, when both are known) and the ways out; ``unfit`` says why an
    accepted checkpoint cannot be restored into the program's state."""
    head = (f"The checkpoint at step {step} in {directory} was written by another program "
            f"(checkpoint fingerprint {saved!r}, this program's fingerprint {current!r}"
            f"{describe_differences(saved_parts, current_parts)}).")
    ways = ("Use another --run-dir (run_dir=...) for this program, or delete that "
            "directory to start over")
    if unfit is not None:
        return f"{head} The change was allowed, but {unfit}. {ways}."
    return (f"{head} {ways}; if the change is intended, --allow-changes "
            "(fit(..., allow_changes=True)) resumes from the checkpoint when its state "
            "still fits this program.")


def describe_differences(saved_parts: Any, current_parts: Any) -> str:
    """``"; differs: ..."``: the fingerprint parts that differ (text to append to a
    message), or why they are unknown.

    >>> describe_differences({"program text": "a", "optimizer of G": "b"},
    ...                      {"program text": "a", "optimizer of G": "c", "primitive f": "d"})
    '; differs: optimizer of G, primitive f (new)'
    """
    if not isinstance(current_parts, dict):
        return ""
    if not isinstance(saved_parts, dict):
        return "; the checkpoint does not record its fingerprint's parts (an older gendsl)"
    names = [name if name in saved_parts and name in current_parts
             else f"{name} ({'new' if name in current_parts else 'gone'})"
             for name in sorted(set(saved_parts) | set(current_parts))
             if saved_parts.get(name) != current_parts.get(name)]
    return f"; differs: {', '.join(names)}" if names else ""


def restore_latest(
    store: CheckpointStore,
    abstract_tree: Any,
    *,
    fingerprint: str,
    set_aside_to: str | Path,
    fingerprint_parts: dict[str, str] | None = None,
    accept: Callable[[str | None], bool] = lambda saved: False,
) -> tuple[Any, dict[str, Any]] | None:
    """Restores the newest usable checkpoint of ``store``.

    Args:
      store: the run's checkpoints.
      abstract_tree: the nested view of the abstract train state to restore into.
      fingerprint: the program's fingerprint; checkpoints must carry the same.
      set_aside_to: where unreadable checkpoints are moved.
      fingerprint_parts: the program's fingerprint parts, to say what differs.
      accept: ``accept(saved fingerprint)``: whether a checkpoint of another fingerprint
        may be restored (it must then fit ``abstract_tree``).

    Returns:
      ``(tree, metadata)``: the restored nested view and the checkpoint's metadata, or
      ``None`` when there is no usable checkpoint.

    Raises:
      CheckpointError: the newest readable checkpoint has another state layout.
      CheckpointMismatchError: the newest readable checkpoint belongs to another program
        (and is not accepted, or does not fit the state).
    """
    for step in reversed(store.steps()):
        try:
            metadata = store.metadata(step)
        except Exception as error:  # unreadable metadata: a damaged checkpoint
            _set_aside(store, step, error, set_aside_to)
            continue
        check_layout(store.directory, step, metadata)
        saved = metadata.get("fingerprint")
        other = saved != fingerprint
        def message(unfit: str | None = None) -> str:
            return mismatch_message(store.directory, step, saved, fingerprint,
                                    metadata.get("fingerprint_parts"), fingerprint_parts,
                                    unfit=unfit)
        if other and not accept(saved):
            raise CheckpointMismatchError(message())
        if other:
            unfit = _unfit(store, step, abstract_tree)
            if unfit:
                raise CheckpointMismatchError(message(unfit))
        try:
            return store.restore(step, abstract_tree)
        except CheckpointError:
            raise
        except Exception as error:
            if other:  # another program's checkpoint is not set aside as damaged
                raise CheckpointMismatchError(message(
                    "it cannot be restored into this program's state "
                    f"({type(error).__name__}: {str(error)[:300]})")) from error
            _set_aside(store, step, error, set_aside_to)  # unreadable arrays: damaged
    return None


def _unfit(store: CheckpointStore, step: int, abstract_tree: Any) -> str | None:
    """Why checkpoint ``step`` does not have the arrays (paths, shapes, dtypes) of
    ``abstract_tree``, or None when it has (or its array metadata cannot be read: the
    restore then decides)."""
    try:
        saved = store.leaf_specs(step)
    except Exception:
        return None
    wanted = leaf_specs(abstract_keys_to_data(abstract_tree))
    if saved == wanted:
        return None
    paths = sorted(p for p in set(saved) | set(wanted) if saved.get(p) != wanted.get(p))
    old, new = (specs.get(paths[0], "absent") for specs in (saved, wanted))
    return (f"its state does not fit this program's: {'/'.join(paths[0])} is {old} in the "
            f"checkpoint and {new} here ({len(paths)} arrays differ)")


def _set_aside(store: CheckpointStore, step: int, error: Exception, to: str | Path) -> None:
    moved = store.set_aside(step, to)
    warnings.warn(
        f"The checkpoint at step {step} in {store.directory} cannot be read "
        f"({type(error).__name__}: {str(error)[:300]}); it was moved to {moved} and the "
        "previous checkpoint is used instead.",
        CheckpointWarning,
        stacklevel=3,
    )
