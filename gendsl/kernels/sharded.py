"""Kernel rows computed on each device's shard of ``x1`` (``jax.shard_map`` over a Mesh).

Each device holds ``n1 / d`` rows of ``x1`` and all of ``x2`` and computes its block
``K(x1_shard, x2)`` with no communication; the result comes back sharded by rows over
the mesh axis (``"data"`` by default), ready for a row-sharded consumer or a gather.
"""

from __future__ import annotations

from typing import Callable, Optional, Union

import jax
import jax.numpy as jnp
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from gendsl.errors import KernelError
from gendsl.kernels.layer import Layer


def place(x: jax.Array, sharding: NamedSharding) -> jax.Array:
    """``x`` with ``sharding``: ``jax.reshard`` on a mesh of Explicit axes, a sharding
    constraint on Auto ones (``jax.reshard`` refuses Auto axes, the kind
    :func:`gendsl.data_parallel` builds)."""
    if all(t == AxisType.Explicit for t in sharding.mesh.axis_types):
        return jax.reshard(x, sharding)
    return jax.lax.with_sharding_constraint(x, sharding)


def sharded_kernel(kernel_fn: Union[Layer, Callable], x1: jax.Array,
                   x2: Optional[jax.Array] = None, *, mesh: Mesh, axis: str = "data",
                   get: str = "ntk") -> jax.Array:
    """``kernel_fn(x1, x2)`` with the rows of ``x1`` sharded over ``mesh[axis]``.

    Args:
      kernel_fn: a network (its ``kernel(a, b, get)`` is used) or a function
        ``(x1_block, x2) -> (n1_block, n2)`` array.
      x1: ``(n1, ...)`` rows; padded internally to a multiple of the axis size.
      x2: ``(n2, ...)`` columns, or ``None`` for ``x1``.
      mesh: a ``jax.sharding.Mesh`` with an axis named ``axis``.
      axis: the mesh axis to shard rows over.
      get: which kernel a network returns (``"ntk"`` or ``"nngp"``).

    Returns:
      The ``(n1, n2)`` kernel.
    """
    if axis not in mesh.shape:
        raise KernelError(f"sharded_kernel: mesh axes {tuple(mesh.shape)} have no {axis!r}; "
                          "build the mesh with jax.make_mesh((n,), ('data',))")
    if isinstance(kernel_fn, Layer):
        network = kernel_fn
        kernel_fn = lambda a, b: network.kernel(a, b, get=get)
    x1 = jnp.asarray(x1)
    x2 = x1 if x2 is None else jnp.asarray(x2)
    n1, devices = x1.shape[0], mesh.shape[axis]
    pad = (-n1) % devices
    if pad:
        x1 = jnp.concatenate([x1, jnp.repeat(x1[:1], pad, axis=0)])
    x1 = place(x1, NamedSharding(mesh, P(axis)))
    x2 = place(x2, NamedSharding(mesh, P()))
    rows = jax.shard_map(kernel_fn, mesh=mesh, in_specs=(P(axis), P()), out_specs=P(axis))
    return rows(x1, x2)[:n1]
