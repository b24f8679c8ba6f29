"""A small checkpoint store over Orbax: the only module of gendsl that imports orbax.

A :class:`CheckpointStore` keeps numbered checkpoints of a train state, each with a JSON
metadata dictionary, in one directory (an Orbax ``CheckpointManager`` with two items,
``state`` and ``metadata``). Saves are asynchronous (Orbax copies the arrays to host
memory before ``save`` returns, so the caller may donate the state right after); each
checkpoint is written to a temporary directory and renamed when complete, so a process
killed mid-save leaves the previous checkpoints intact.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from gendsl.run.prng_keys import abstract_keys_to_data, data_to_keys, keys_to_data

_KEY_IMPLS = "prng_key_impls"


class CheckpointStore:
    """Numbered checkpoints of a pytree state plus JSON metadata, in one directory.

    Args:
      directory: where the checkpoints live (created if missing).
      keep: how many of the most recent checkpoints to keep.
      async_save: write checkpoints in a background thread (``wait`` joins it).
      read_only: only read: the directory is neither created nor cleaned up (temporary
        directories of unfinished saves are left alone) and ``save`` is refused.

    >>> import tempfile, jax.numpy as jnp
    >>> with CheckpointStore(tempfile.mkdtemp(), async_save=False) as store:
    ...     store.save(7, {"w": jnp.ones(2)}, {"note": "hi"})
    ...     state, meta = store.restore(7, {"w": jax.ShapeDtypeStruct((2,), jnp.float32)})
    >>> store.steps(), state["w"].tolist(), meta["note"]
    ([7], [1.0, 1.0], 'hi')
    """

    def __init__(self, directory: str | Path, *, keep: int = 3, async_save: bool = True,
                 read_only: bool = False):
        self._directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=None if read_only else keep,
            save_interval_steps=0 if read_only else 1,
            create=not read_only,
            enable_async_checkpointing=async_save and not read_only,
            cleanup_tmp_directories=not read_only,
            read_only=read_only,
            save_root_metadata=not read_only,
        )
        with _without_read_only_notice() if read_only else contextlib.nullcontext():
            self._manager = ocp.CheckpointManager(
                self._directory, options=options, item_names=("state", "metadata")
            )

    @property
    def directory(self) -> Path:
        """The directory holding the checkpoints."""
        return self._directory

    def steps(self) -> list[int]:
        """The steps of all complete checkpoints, ascending."""
        return sorted(self._manager.all_steps())

    def latest(self) -> int | None:
        """The step of the most recent complete checkpoint, or ``None`` if there is none."""
        return self._manager.latest_step()

    def save(self, step: int, state: Any, metadata: dict[str, Any]) -> None:
        """Starts saving ``state`` and ``metadata`` as checkpoint ``step``.

        Args:
          step: the checkpoint number (the train step it was taken at).
          state: a pytree of arrays; typed PRNG keys are stored as key data.
          metadata: a JSON-serializable dictionary stored beside the state.
        """
        data, impls = keys_to_data(state)
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(data),
                metadata=ocp.args.JsonSave({**metadata, _KEY_IMPLS: impls}),
            ),
            force=True,
        )

    def metadata(self, step: int) -> dict[str, Any]:
        """The metadata dictionary of checkpoint ``step`` (reads no arrays)."""
        restored = self._manager.restore(
            step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore())
        )
        return {k: v for k, v in restored.metadata.items() if k != _KEY_IMPLS}

    def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict[str, Any]]:
        """Reads checkpoint ``step`` into the structure, dtypes and shardings of a template.

        Args:
          step: which checkpoint.
          abstract_state: a pytree of ``jax.ShapeDtypeStruct`` (e.g. from
            ``jax.eval_shape``); leaves with a ``sharding`` are placed accordingly, which
            reshards a checkpoint written on another device layout.

        Returns:
          ``(state, metadata)``.
        """
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_keys_to_data(abstract_state)),
                metadata=ocp.args.JsonRestore(),
            ),
        )
        metadata = dict(restored.metadata)
        impls = metadata.pop(_KEY_IMPLS, {})
        return data_to_keys(restored.state, abstract_state, impls), metadata

    def leaf_specs(self, step: int) -> dict[tuple[str, ...], tuple[tuple[int, ...], str]]:
        """The arrays of checkpoint ``step`` as :func:`leaf_specs` (reads no arrays)."""
        path = self._directory / str(step) / "state"
        return leaf_specs(ocp.StandardCheckpointHandler().metadata(path).tree)

    def set_aside(self, step: int, destination: str | Path) -> Path:
        """Moves checkpoint ``step`` out of the store (e.g. an unreadable one) and returns
        its new path: ``destination/<step>``, or ``destination/<step>.<n>`` when earlier
        ones of that step were set aside already. Nothing is deleted or replaced."""
        self.wait()
        target = Path(destination) / str(step)
        n = 0
        while target.exists():
            n += 1
            target = Path(destination) / f"{step}.{n}"
        if jax.process_index() == 0:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self._directory / str(step)), str(target))
        self._manager.reload()
        return target

    def wait(self) -> None:
        """Blocks until every started save has been written."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Waits for pending saves and releases the store."""
        self._manager.close()

    def __enter__(self) -> "CheckpointStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@contextlib.contextmanager
def _without_read_only_notice():
    """Drops Orbax's warning that a read-only store's directory is read only (asked for)."""
    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Given directory is read only")

    logger = logging.getLogger("absl")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def leaf_specs(tree: Any) -> dict[tuple[str, ...], tuple[tuple[int, ...], str]]:
    """``{path: (shape, dtype name)}`` of the leaves of ``tree`` (arrays, abstract arrays
    or checkpoint metadata), with each path as a tuple of plain names, so that a named
    tuple's field ``.mu`` and a dict's ``["mu"]`` compare equal.

    >>> import jax.numpy as jnp
    >>> leaf_specs({"w": jnp.zeros((2, 3)), "s": [jnp.int32(0)]})
    {('s', '0'): ((), 'int32'), ('w',): ((2, 3), 'float32')}
    """
    def name(entry: Any) -> str:
        for attr in ("key", "idx", "name"):
            if hasattr(entry, attr):
                return str(getattr(entry, attr))
        return str(entry)

    return {tuple(name(e) for e in path): (tuple(leaf.shape), str(leaf.dtype))
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}
