"""Device meshes for data parallelism.

gendsl shards with ``jax.jit`` and ``NamedSharding`` over a ``jax.sharding.Mesh`` whose
batch axis is named ``data``: the batch is split across devices, parameters are
replicated, and XLA inserts the gradient all-reduce.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from jax.sharding import Mesh

from gendsl.errors import GendslError


def data_parallel(devices: Sequence[jax.Device] | int | None = None) -> Mesh:
    """Returns a one-axis mesh named ``data`` over ``devices``.

    Args:
      devices: the devices (default: all of ``jax.devices()``), or how many of the
        first ones to use.
    Returns:
      A ``jax.sharding.Mesh`` with axis ``("data",)``.

    >>> data_parallel(1).axis_names
    ('data',)
    """
    available = jax.devices()
    if devices is None:
        devices = available
    elif isinstance(devices, int):
        if not 1 <= devices <= len(available):
            raise GendslError(
                f"data_parallel({devices}): there are {len(available)} devices; on CPU set "
                "JAX_NUM_CPU_DEVICES before JAX starts to simulate more")
        devices = available[:devices]
    return Mesh(np.asarray(list(devices)), ("data",))
