"""CheckpointStore behaviour that mutation testing (tools/mutation.py) found untested by
the fast tests: the default of three kept checkpoints, array specs read back from disk,
and setting a checkpoint aside into a folder that does not exist yet."""

import logging

import jax.numpy as jnp

from gendsl.run import CheckpointStore
from gendsl.run.checkpoints import leaf_specs


def test_three_checkpoints_are_kept_by_default(tmp_path):
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        for step in (1, 2, 3, 4, 5):
            store.save(step, {"w": jnp.zeros(1)}, {})
        assert store.steps() == [3, 4, 5]


def test_leaf_specs_of_a_checkpoint_are_those_of_the_saved_state(tmp_path):
    state = {"w": jnp.zeros((2, 3)), "opt": [jnp.int32(0), jnp.ones(4, jnp.bfloat16)]}
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        store.save(7, state, {})
        assert store.leaf_specs(7) == leaf_specs(state) == {
            ("w",): ((2, 3), "float32"), ("opt", "0"): ((), "int32"),
            ("opt", "1"): ((4,), "bfloat16")}


def test_set_aside_creates_missing_folders(tmp_path):
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        store.save(9, {"w": jnp.zeros(1)}, {})
        moved = store.set_aside(9, tmp_path / "runs" / "old" / "aside")
        assert moved == tmp_path / "runs" / "old" / "aside" / "9" and moved.is_dir()
        assert store.steps() == []


def test_a_read_only_store_opens_without_orbax_read_only_warning(tmp_path, caplog):
    """Opening a store read-only is asked for: Orbax's "Given directory is read only"
    notice is dropped (it is kept for a writable store, where it would mean something)."""
    # mutant: checkpoints.py:57 the notice filtered for writable stores instead
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        store.save(1, {"w": jnp.zeros(1)}, {})
    with caplog.at_level(logging.DEBUG):
        with CheckpointStore(tmp_path / "ckpt", read_only=True) as store:
            assert store.steps() == [1]
    assert not [r for r in caplog.records if "read only" in r.getMessage()]


def test_a_step_older_than_the_latest_is_saved_too(tmp_path):
    """Saving is forced: a run that went back to an earlier checkpoint saves its steps
    again even though a later one exists (Orbax would otherwise skip them)."""
    # mutant: checkpoints.py:90 `force=True` -> `force=False`
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        store.save(5, {"w": jnp.zeros(1)}, {})
        store.save(3, {"w": jnp.ones(1)}, {"at": 3})
        assert store.steps() == [3, 5] and store.metadata(3) == {"at": 3}
