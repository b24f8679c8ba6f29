"""Placing batches on devices: one device here, eight simulated CPU devices in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from gendsl.datasets import data_parallel, ring8, shard_batch
from gendsl.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def test_no_mesh_is_a_plain_device_put():
    batch = ring8(batch_size=6).batch(0)
    out = shard_batch(batch, None)
    assert isinstance(out["x"], jax.Array)
    np.testing.assert_array_equal(np.asarray(out["x"]), batch["x"])


def test_mesh_without_data_axis_is_refused():
    mesh = jax.make_mesh((1,), ("model",))
    with pytest.raises(DataError, match="no 'data' axis"):
        shard_batch({"x": np.zeros((2, 2))}, mesh)


def test_missing_batch_axis_is_refused():
    with pytest.raises(DataError, match="field 'x' has shape \\(\\)"):
        shard_batch({"x": np.float32(1.0)}, data_parallel())


MULTI_DEVICE = textwrap.dedent(
    """
    import jax, numpy as np
    from jax.sharding import PartitionSpec as P
    import gendsl.sharding as S
    from gendsl.datasets import data_parallel, digits, shard_batch
    from gendsl.errors import DataError

    assert jax.device_count() == 8
    mesh = data_parallel()
    assert mesh.shape["data"] == 8 and mesh.axis_names == ("data",)
    src = digits(batch_size=16, seed=0)
    host = src.batch(3)
    out = shard_batch(host, mesh)
    for name in ("x", "y"):
        assert out[name].sharding.spec == P("data"), out[name].sharding
        assert len(out[name].addressable_shards) == 8
        assert out[name].addressable_shards[0].data.shape[0] == 2
        np.testing.assert_array_equal(np.asarray(out[name]), host[name])
    # A jitted reduction over the sharded batch equals the host value.
    total = jax.jit(lambda b: b["x"].sum())(out)
    np.testing.assert_allclose(float(total), host["x"].sum(), rtol=1e-5)

    stacked = src.batches(0, 3)
    out = shard_batch(stacked, mesh, batch_axis=1)
    assert out["x"].sharding.spec == P(None, "data")
    assert out["x"].addressable_shards[0].data.shape == (3, 2, 8, 8, 1)
    np.testing.assert_array_equal(np.asarray(out["x"]), stacked["x"])

    half = data_parallel(jax.devices()[:4])
    assert half.shape["data"] == 4 and data_parallel(4).devices.tolist() == half.devices.tolist()
    try:
        data_parallel(9)
    except DataError as err:
        assert "there are 8 devices" in str(err), err
    else:
        raise AssertionError("expected a DataError")
    assert shard_batch(src.with_batch_size(4).batch(0), half)["x"].addressable_shards[0].data.shape[0] == 1

    try:
        shard_batch(src.with_batch_size(12).batch(0), mesh)
    except DataError as err:
        assert "field 'x'" in str(err) and "not divisible by the 8 devices" in str(err), err
    else:
        raise AssertionError("expected a DataError")

    # The several-process path builds each device's shard from the global batch.
    sharding = S.batch_sharding(mesh)
    real_process_count = jax.process_count
    jax.process_count = lambda: 2
    try:
        placed = S._place(host["x"], sharding)
    finally:
        jax.process_count = real_process_count
    assert placed.sharding == sharding
    np.testing.assert_array_equal(np.asarray(placed), host["x"])
    print("OK")
    """
)


def test_eight_devices_in_a_subprocess():
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "8", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", MULTI_DEVICE], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]
