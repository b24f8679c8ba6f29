"""Empirical (finite-width) NTK of any Flax NNX module or apply function, via jvp/vjp.

``Theta(x1, x2)[i, j] = mean_k <d f_k(x1_i) / d params, d f_k(x2_j) / d params>``. Each
column ``j`` is one vector-Jacobian product on ``x2`` (a parameter-shaped tangent)
followed by one Jacobian-vector product on ``x1``; columns are mapped in chunks of
``batch_size`` with ``jax.lax.map``, so memory is ``O(batch_size * n_params)`` and the
full Jacobian is never materialised. (neural-tangents' ``empirical_ntk_fn`` offers the
same contraction for stax / Flax linen functions; it does not run on current JAX.)
"""

from __future__ import annotations

import functools
from typing import Callable, Optional, Union

import jax
import jax.numpy as jnp
from flax import nnx

from gendsl.errors import KernelError


def _ntk_columns(apply, params, x1, x2, batch_size):
    out2, vjp2 = jax.vjp(lambda p: apply(p, x2), params)
    n2 = out2.shape[0]
    width = out2.size // n2
    n1 = x1.shape[0]

    def column(index):
        cotangent = jax.nn.one_hot(index, n2 * width, dtype=out2.dtype).reshape(out2.shape)
        (tangent,) = vjp2(cotangent)
        _, jv = jax.jvp(lambda p: apply(p, x1), (params,), (tangent,))
        return jv.reshape(n1, width)[:, index % width]

    columns = jax.lax.map(column, jnp.arange(n2 * width), batch_size=batch_size)
    return columns.reshape(n2, width, n1).mean(axis=1).T


@functools.partial(jax.jit, static_argnums=(0, 5))
def _module_ntk(graphdef, params, rest, x1, x2, batch_size):
    apply = lambda p, x: nnx.merge(graphdef, p, rest)(x)
    return _ntk_columns(apply, params, x1, x2, batch_size)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _function_ntk(apply, params, x1, x2, batch_size):
    return _ntk_columns(apply, params, x1, x2, batch_size)


def empirical_ntk(model: Union[nnx.Module, Callable], x1: jax.Array,
                  x2: Optional[jax.Array] = None, *, params=None,
                  batch_size: Optional[int] = 16) -> jax.Array:
    """Finite-width NTK, averaged over output units (neural-tangents' ``trace_axes=(-1,)``).

    Args:
      model: an ``nnx.Module`` (its ``nnx.Param`` variables are the parameters), or
        ``apply_fn(params, x)`` together with ``params``.
      x1: ``(n1, ...)`` inputs.
      x2: ``(n2, ...)`` inputs, or ``None`` for ``x1``.
      params: the parameters pytree when ``model`` is an apply function.
      batch_size: kernel columns computed at once (``None``: all at once).

    Returns:
      ``(n1, n2)`` array.

    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> lin = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    >>> x = jnp.eye(3)
    >>> bool(jnp.allclose(empirical_ntk(lin, x), x @ x.T + 1.0))
    True
    """
    x1 = jnp.asarray(x1)
    x2 = x1 if x2 is None else jnp.asarray(x2)
    if isinstance(model, nnx.Module):
        if params is not None:
            raise KernelError("empirical_ntk: params are taken from the NNX module; "
                              "do not pass params= with a module")
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        return _module_ntk(graphdef, params, rest, x1, x2, batch_size)
    if not callable(model):
        raise KernelError(f"empirical_ntk: expected an nnx.Module or apply_fn(params, x), "
                          f"got {type(model).__name__}")
    if params is None:
        raise KernelError("empirical_ntk: with an apply function, pass params=")
    return _function_ntk(model, params, x1, x2, batch_size)
