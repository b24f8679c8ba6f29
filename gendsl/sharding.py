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


def local_rows(mesh: Mesh, rows: int) -> tuple[int, int]:
    """The rows of a global batch of ``rows`` rows that this process's devices hold,
    split over ``"data"`` (all of them with one process).

    Args:
      mesh: a mesh with a ``"data"`` axis.
      rows: the global batch size (a multiple of the ``"data"`` axis size).
    Returns:
      ``(start, stop)``: this process builds rows ``start:stop`` of every global batch.
    Raises:
      DataError: ``rows`` is not divisible by the axis, or this process's rows are not
        one contiguous range (a mesh whose device order interleaves the processes).

    >>> local_rows(data_parallel(jax.devices()[:1]), 8)
    (0, 8)
    """
    n_shards = mesh.shape[DATA_AXIS]
    if rows % n_shards:
        raise DataError(f"batch size {rows} is not divisible by the {n_shards} devices of the "
                        f"mesh's {DATA_AXIS!r} axis; use a multiple of {n_shards}.")
    indices = batch_sharding(mesh).addressable_devices_indices_map((rows,)).values()
    spans = sorted({(i[0].start or 0, rows if i[0].stop is None else i[0].stop) for i in indices})
    start, stop = spans[0][0], spans[-1][1]
    if sum(b - a for a, b in spans) != stop - start:
        raise DataError(
            f"this process's devices hold rows {spans} of the batch, not one contiguous "
            "range; build the mesh with gendsl.datasets.data_parallel() over jax.devices() "
            "(each process's devices next to each other).")
    return start, stop


def _place(array, sharding: NamedSharding, global_shape: tuple[int, ...] | None = None):
    if jax.process_count() == 1:
        return jax.device_put(array, sharding)
    # Several processes: ``array`` is this process's rows of the global batch (or the
    # whole global batch when global_shape is its own shape); each process places the
    # shards of its own devices.
    host = np.asarray(array)
    return jax.make_array_from_process_local_data(sharding, host, global_shape or host.shape)


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh | None, batch_axis: int = 0,
                global_rows: int | None = None) -> dict[str, jax.Array]:
    """Move a host batch to devices, split over the mesh's ``"data"`` axis.

    Args:
      batch: ``{field: array}``; every field's ``batch_axis`` is split.
      mesh: a mesh with a ``"data"`` axis (see :func:`data_parallel`), or None for a
        plain ``jax.device_put`` on the default device.
      batch_axis: the axis to split: 0 for ``source.batch(i)``, 1 for the stacked
        ``source.batches(start, count)`` of a fused multi-step scan.
      global_rows: None when ``batch`` is the whole global batch (the same on every
        process); else the global batch size, and ``batch`` holds only this process's
        rows of it (:func:`local_rows`), as each process of a multi-process run builds.

    Returns:
      ``{field: jax.Array}`` with ``NamedSharding(mesh, P(..., "data"))``, of the global
      shape.

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
        shape = tuple(np.shape(value))
        if len(shape) <= batch_axis:
            raise DataError(f"field {name!r} has shape {shape}, with no batch axis {batch_axis} to shard.")
        rows = shape[batch_axis] if global_rows is None else global_rows
        if rows % n_shards:
            raise DataError(
                f"field {name!r}: batch size {rows} (axis {batch_axis}) is not divisible by the "
                f"{n_shards} devices of the mesh's {DATA_AXIS!r} axis; use a batch size that is a multiple of {n_shards}."
            )
        if global_rows is None:
            out[name] = _place(value, batch_sharding(mesh, batch_axis))
            continue
        start, stop = local_rows(mesh, global_rows)
        if shape[batch_axis] != stop - start:
            raise DataError(
                f"field {name!r} has {shape[batch_axis]} rows on axis {batch_axis}, but this "
                f"process holds rows {start}:{stop} of the global batch of {global_rows}; "
                "build it with gendsl.sharding.local_rows(mesh, global_rows).")
        global_shape = shape[:batch_axis] + (global_rows,) + shape[batch_axis + 1:]
        out[name] = _place(value, batch_sharding(mesh, batch_axis), global_shape)
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
