"""CheckpointStore: round trips of whole train states, retention, set-aside, resharding."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from run_fakes import FakeCompiled, FakeSource, assert_trees_bitwise_equal, host_tree

from gendsl.run import CheckpointStore
from gendsl.run.prng_keys import keys_to_data

ROOT = Path(__file__).resolve().parents[1]


def _state(seed=0):
    compiled = FakeCompiled()
    state = compiled.init(jax.random.key(seed), None)
    for i in range(3):
        state, _ = compiled.step(state, FakeSource().batch(i))
    return state


def _restore(store, step):
    """Checkpoint ``step`` of ``store`` as a train state of the fake program."""
    abstract = FakeCompiled().abstract_state(jax.random.key(0), FakeSource().batch(0))
    tree, meta = store.restore(step, abstract.tree())
    return abstract.from_tree(tree), meta


def test_round_trip_of_a_train_state(tmp_path):
    state = _state()
    expected = host_tree(state)
    with CheckpointStore(tmp_path) as store:
        store.save(3, state.tree(), {"fingerprint": "abc", "data_position": 3})
        store.wait()
        restored, meta = _restore(store, 3)
        assert store.metadata(3) == meta == {"fingerprint": "abc", "data_position": 3}
    assert jax.dtypes.issubdtype(restored.key.dtype, jax.dtypes.prng_key)
    assert_trees_bitwise_equal(restored, expected)
    # the restored key continues the same random stream
    assert (np.asarray(jax.random.normal(restored.key, (3,)))
            == np.asarray(jax.random.normal(state.key, (3,)))).all()


def test_async_save_is_safe_against_donation(tmp_path):
    compiled = FakeCompiled()
    state = _state()
    before = host_tree(state)
    with CheckpointStore(tmp_path) as store:
        store.save(3, state.tree(), {})
        for i in range(3, 6):  # donates and overwrites the saved state's buffers
            state, _ = compiled.step(state, FakeSource().batch(i))
        store.wait()
        restored, _ = _restore(store, 3)
    assert_trees_bitwise_equal(restored, before)
    assert not np.array_equal(host_tree(state.params)["G"]["w"], before.params["G"]["w"])


def test_other_key_implementations_round_trip(tmp_path):
    tree = {"k": jax.random.key(3, impl="rbg"), "x": jnp.arange(3.0)}
    data, impls = keys_to_data(tree)
    assert impls == {"['k']": "rbg"} and data["k"].shape == (4,)
    with CheckpointStore(tmp_path, async_save=False) as store:
        store.save(1, tree, {})
        restored, _ = store.restore(1, jax.eval_shape(lambda: tree))
    assert restored["k"].dtype == tree["k"].dtype
    assert_trees_bitwise_equal(restored, tree)


def test_keeps_the_last_three_and_sets_aside(tmp_path):
    with CheckpointStore(tmp_path / "ckpt", keep=3) as store:
        for step in (10, 20, 30, 40):
            store.save(step, {"w": jnp.full(2, float(step))}, {"step": step})
        store.wait()
        assert store.steps() == [20, 30, 40] and store.latest() == 40
        moved = store.set_aside(40, tmp_path / "aside")
        assert moved == tmp_path / "aside" / "40" and moved.is_dir()
        assert store.steps() == [20, 30] and store.latest() == 30
        restored, meta = store.restore(30, {"w": jax.ShapeDtypeStruct((2,), jnp.float32)})
    assert restored["w"].tolist() == [30.0, 30.0] and meta == {"step": 30}


def test_a_second_damaged_checkpoint_of_one_step_is_kept_beside_the_first(tmp_path):
    aside = tmp_path / "aside"
    with CheckpointStore(tmp_path / "ckpt", async_save=False) as store:
        for value in (1.0, 2.0):
            store.save(40, {"w": jnp.full(2, value)}, {})
            store.set_aside(40, aside)
    assert sorted(p.name for p in aside.iterdir()) == ["40", "40.1"]   # none replaced
    assert all((aside / name / "state").is_dir() for name in ("40", "40.1"))


@pytest.mark.slow
def test_restore_reshards_onto_a_mesh(tmp_path):
    """A checkpoint written on one device restores replicated / split over 8 devices."""
    state = _state()
    with CheckpointStore(tmp_path / "ckpt") as store:
        store.save(3, state.tree(), {})
    np.save(tmp_path / "w.npy", np.asarray(state.params["G"]["w"]))
    script = textwrap.dedent(f"""
        import jax, numpy as np
        from jax.sharding import NamedSharding, PartitionSpec as P
        from run_fakes import FakeCompiled, FakeSource
        from gendsl.run import CheckpointStore
        assert jax.device_count() == 8
        mesh = jax.make_mesh((8,), ("data",))
        compiled = FakeCompiled(mesh=mesh)
        abstract = compiled.abstract_state(jax.random.key(0), FakeSource().batch(0)).tree()
        with CheckpointStore({str(tmp_path / "ckpt")!r}) as store:
            state, _ = store.restore(3, abstract)
        w = state["params"]["G"]["w"]
        assert w.sharding == NamedSharding(mesh, P()), w.sharding
        assert len(w.addressable_shards) == 8
        np.testing.assert_array_equal(np.asarray(w), np.load({str(tmp_path / "w.npy")!r}))
        split = jax.tree.map(lambda a: a, abstract)
        split["params"]["G"]["w"] = jax.ShapeDtypeStruct((2, 2), w.dtype,
            sharding=NamedSharding(jax.make_mesh((2,), ("data",), devices=jax.devices()[:2]),
                                   P("data")))
        with CheckpointStore({str(tmp_path / "ckpt")!r}) as store:
            state, _ = store.restore(3, split)
        assert state["params"]["G"]["w"].addressable_shards[0].data.shape == (1, 2)
        np.testing.assert_array_equal(np.asarray(state["params"]["G"]["w"]),
                                      np.load({str(tmp_path / "w.npy")!r}))
        print("ok")
    """)
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "8",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
