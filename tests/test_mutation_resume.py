"""Resume behaviour that mutation testing (tools/mutation.py) found untested by the fast
tests: where a damaged checkpoint's warning points, a key-layout error that must not be
taken for a damaged checkpoint, and which array an accepted but unfit checkpoint names."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gendsl.errors import CheckpointError, CheckpointMismatchError
from gendsl.run import CheckpointStore
from gendsl.run.resume import STATE_LAYOUT, CheckpointWarning, restore_latest

META = {"fingerprint": "f", "state_layout": STATE_LAYOUT}


def test_a_damaged_checkpoint_is_set_aside_with_a_warning_pointing_at_the_caller(tmp_path):
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        for step in (1, 2):
            store.save(step, {"w": jnp.full(2, float(step))}, META)
        for f in (tmp_path / "ckpt" / "2" / "metadata").iterdir():
            f.write_text("{not json")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tree, meta = restore_latest(store, {"w": jax.ShapeDtypeStruct((2,), jnp.float32)},
                                        fingerprint="f", set_aside_to=tmp_path / "aside")
    assert np.asarray(tree["w"]).tolist() == [1.0, 1.0]
    [warning] = [w for w in caught if issubclass(w.category, CheckpointWarning)]
    assert warning.filename == __file__          # the caller's line, not resume.py's
    assert (tmp_path / "aside" / "2").is_dir()


def test_a_missing_prng_key_is_an_error_not_a_damaged_checkpoint(tmp_path):
    abstract = {"k": jax.eval_shape(lambda: jax.random.key(0))}
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        store.save(5, {"k": jnp.zeros(2, jnp.uint32)}, META)   # raw data, not a key
        with pytest.raises(CheckpointError, match="no PRNG key"):
            restore_latest(store, abstract, fingerprint="f", set_aside_to=tmp_path / "aside")
        assert store.steps() == [5] and not (tmp_path / "aside").exists()


def test_an_accepted_checkpoint_names_the_one_array_that_does_not_fit(tmp_path):
    """... or, when several differ, the first in path order."""
    # mutant: resume.py:166 `paths[0]` -> `paths[-1]` (the same when one array differs)
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        store.save(3, {"a": jnp.ones(2), "w": jnp.ones((2, 2))}, {**META, "fingerprint": "old"})
        unfit = {"a": jax.ShapeDtypeStruct((2,), jnp.float32),
                 "w": jax.ShapeDtypeStruct((3, 2), jnp.float32)}
        both = {**unfit, "a": jax.ShapeDtypeStruct((4,), jnp.float32)}
        for tree, message in (
                (unfit, r"w is \(\(2, 2\), 'float32'\) in the checkpoint and "
                        r"\(\(3, 2\), 'float32'\) here \(1 arrays differ\)"),
                (both, r"a is \(\(2,\), 'float32'\) in the checkpoint and "
                       r"\(\(4,\), 'float32'\) here \(2 arrays differ\)")):
            with pytest.raises(CheckpointMismatchError, match=message):
                restore_latest(store, tree, fingerprint="new", accept=lambda saved: True,
                               set_aside_to=tmp_path / "aside")
        fits = {**unfit, "w": jax.ShapeDtypeStruct((2, 2), jnp.float32)}
        tree, meta = restore_latest(store, fits, fingerprint="new", accept=lambda saved: True,
                                    set_aside_to=tmp_path / "aside")
    assert meta["fingerprint"] == "old" and float(np.asarray(tree["w"]).sum()) == 4.0


ABSTRACT = {"w": jax.ShapeDtypeStruct((2,), jnp.float32)}


def _two_checkpoints(store, fingerprint="f"):
    for step in (1, 2):
        store.save(step, {"w": jnp.full(2, float(step))}, {**META, "fingerprint": fingerprint})


def test_by_default_a_checkpoint_of_another_program_is_refused(tmp_path):
    # mutant: resume.py:100 `accept=lambda saved: False` -> `True`
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        _two_checkpoints(store, fingerprint="old")
        with pytest.raises(CheckpointMismatchError, match="written by another program"):
            restore_latest(store, ABSTRACT, fingerprint="new", set_aside_to=tmp_path / "aside")
        assert store.steps() == [1, 2]


def test_unreadable_arrays_of_this_programs_checkpoint_are_set_aside(tmp_path):
    """Readable metadata, damaged arrays: the checkpoint is set aside and the previous one
    restored."""
    # mutants: resume.py:145 `except Exception` narrowed; resume.py:146 `if other` negated
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        _two_checkpoints(store)
        arrays = [p for p in (tmp_path / "ckpt" / "2" / "state").rglob("*") if p.is_file()]
        assert arrays
        for path in arrays:
            path.write_bytes(b"\x00" * 7)
        with pytest.warns(CheckpointWarning, match="step 2 .* cannot be read"):
            tree, _ = restore_latest(store, ABSTRACT, fingerprint="f",
                                     set_aside_to=tmp_path / "aside")
        assert np.asarray(tree["w"]).tolist() == [1.0, 1.0] and store.steps() == [1]
    assert (tmp_path / "aside" / "2").is_dir()


def _failing_restore(*args, **kwargs):
    raise RuntimeError("x" * 1000)


def test_a_restore_error_is_quoted_to_300_characters(tmp_path, monkeypatch):
    """An accepted checkpoint of another program that cannot be restored is refused (not
    set aside); one of this program is set aside with a warning. Both messages quote the
    first 300 characters of the error, no more."""
    # mutants: resume.py `str(error)[:300]` -> `[:299]` / `[:301]`, in both messages
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        _two_checkpoints(store, fingerprint="old")
        monkeypatch.setattr(store, "restore", _failing_restore)
        with pytest.raises(CheckpointMismatchError) as refused:
            restore_latest(store, ABSTRACT, fingerprint="new", accept=lambda saved: True,
                           set_aside_to=tmp_path / "aside")
        assert store.steps() == [1, 2]
        with pytest.warns(CheckpointWarning) as caught:
            assert restore_latest(store, ABSTRACT, fingerprint="old",
                                  set_aside_to=tmp_path / "aside") is None
    for text in (str(refused.value), str(caught[0].message)):
        assert f"RuntimeError: {'x' * 300})" in text and "x" * 301 not in text

