"""Placing host batches on a device mesh for data-parallel steps.

Data parallelism is ``jax.jit`` over arrays with a ``NamedSharding``: the batch axis is
split over the mesh axis ``"data"``, everything else is replicated. The mesh uses
``AxisType.Auto`` (the compiler propagates shardings, as with classic ``jit``) rather
than ``jax.make_mesh``'s default ``Explicit`` axes, under which ordinary programs such as
a kernel matrix ``x @ x.T`` over a sharded batch need sharding annotations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

from gendsl.errors import DataError

DATA_AXIS = "data"


def data_parallel(
    devices: Sequence[jax.Device] | int | None = None, axis_type: AxisType = AxisType.Auto
) -> Mesh:
    """A one-axis mesh named ``"data"`` over ``devices``.

    Args:
      devices: the devices to use (default: all of ``jax.devices()``, every host's),
        or how many of the first ones.
      axis_type: the mesh axis type; ``AxisType.Auto`` by default (see module doc).

    Returns:
      ``jax.sharding.Mesh`` of shape ``{"data": len(devices)}``.

    >>> mesh = data_parallel(jax.devices()[:1])
    >>> mesh.axis_names, mesh.shape["data"]
    (('data',), 1)
    """
    available = jax.devices()
    if isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise DataError(
                f"data_parallel({devices}): there are {len(available)} devices; on CPU set "
                "JAX_NUM_CPU_DEVICES before JAX starts to simulate more."
            )
        devices = available[:devices]
    devices = list(available if devices is None else devices)
    if not devices:
        raise DataError("data_parallel needs at least one device; pass devices=None for all of jax.devices().")
    return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(axis_type,), devices=devices)


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
    """``NamedSharding`` splitting axis ``batch_axis`` over ``"data"``, replicating the rest.

    >>> batch_sharding(data_parallel(jax.devices()[:1]), batch_axis=1).spec
    P(None, 'data')
    """
    return NamedSharding(mesh, PartitionSpec(*([None] * batch_axis), DATA_AXIS))


def _place(array, sharding: NamedSharding):
    if jax.process_count() == 1:
        return jax.device_put(array, sharding)
    # Several hosts: every process holds the same global batch (sources are pure
    # functions of the index) and builds only the shards of its own devices.
    host = np.asarray(array)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh | None, batch_axis: int = 0) -> dict[str, jax.Array]:
    """Move a host batch to devices, split over the mesh's ``"data"`` axis.

    Args:
      batch: ``{field: array}``; every field's ``batch_axis`` is split.
      mesh: a mesh with a ``"data"`` axis (see :func:`data_parallel`), or None for a
        plain ``jax.device_put`` on the default device.
      batch_axis: the axis to split: 0 for ``source.batch(i)``, 1 for the stacked
        ``source.batches(start, count)`` of a fused multi-step scan.

    Returns:
      ``{field: jax.Array}`` with ``NamedSharding(mesh, P(..., "data"))``. With
      several processes, ``batch`` is the global batch (the same on every host).

    >>> out = shard_batch({"x": np.ones((4, 2), np.float32)}, data_parallel(jax.devices()[:1]))
    >>> out["x"].sharding.spec
    P('data',)
    """
    if not isinstance(batch, Mapping):
        raise DataError(f"shard_batch expects a dict of arrays, got {type(batch).__name__}.")
    if mesh is None:
        return {name: jax.device_put(value) for name, value in batch.items()}
    if DATA_AXIS not in mesh.axis_names:
        raise DataError(
            f"the mesh has axes {mesh.axis_names} but no {DATA_AXIS!r} axis to split the batch over; "
            "build it with gendsl.datasets.data_parallel()."
        )
    n_shards = mesh.shape[DATA_AXIS]
    out = {}
    for name, value in batch.items():
        shape = np.shape(value)
        if len(shape) <= batch_axis:
            raise DataError(f"field {name!r} has shape {shape}, with no batch axis {batch_axis} to shard.")
        if shape[batch_axis] % n_shards:
            raise DataError(
                f"field {name!r}: batch size {shape[batch_axis]} (axis {batch_axis}) is not divisible by the "
                f"{n_shards} devices of the mesh's {DATA_AXIS!r} axis; use a batch size that is a multiple of {n_shards}."
            )
        out[name] = _place(value, batch_sharding(mesh, batch_axis))
    return out


def abstract_on(tree, mesh: Mesh | None):
    """``tree``'s ``ShapeDtypeStruct`` leaves, each with a sharding: its own, else
    replicated over ``mesh``, else the first local device (what a checkpoint is
    restored into).

    >>> leaf = abstract_on({"w": jax.ShapeDtypeStruct((2,), np.float32)}, None)["w"]
    >>> leaf.shape, leaf.sharding.device_set == {jax.local_devices()[0]}
    ((2,), True)
    """
    default = (NamedSharding(mesh, PartitionSpec()) if mesh is not None
               else SingleDeviceSharding(jax.local_devices()[0]))

    def place(leaf):
        if getattr(leaf, "sharding", None) is not None:
            return leaf
        return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=default)

    return jax.tree.map(place, tree)
