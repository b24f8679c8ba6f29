"""Inner products of inputs (the first layer's covariance), with a symmetric-gram JVP.

For ``x2 = None`` the input covariance is a Gram matrix ``G = x x^T``. Its autodiff
transpose would be two matmuls (``Gbar x + Gbar^T x``); writing the JVP as
``t + t^T`` with ``t = dx x^T`` makes the backward pass a single matmul
``(Gbar + Gbar^T) x``, which matters when the kernel is differentiated w.r.t. its
inputs (the GA-NTK generator step).
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp


def _swap(t: jax.Array) -> jax.Array:
    return jnp.swapaxes(t, -1, -2)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _self_gram(x: jax.Array, spec: str) -> jax.Array:
    return jnp.einsum(spec, x, x)


@_self_gram.defjvp
def _self_gram_jvp(spec, primals, tangents):
    (x,), (dx,) = primals, tangents
    t = jnp.einsum(spec, dx, x)
    return jnp.einsum(spec, x, x), t + _swap(t)


def position_gram(x1: jax.Array, x2: Optional[jax.Array]) -> jax.Array:
    """``sum_f x1[i, ..., f] x2[j, ..., f]`` laid out ``(..., n1, n2)``.

    Args:
      x1: ``(n1, *positions, features)``.
      x2: ``(n2, *positions, features)`` or ``None`` for ``x1``.

    Returns:
      Same-position inner products, positions first.

    >>> import jax.numpy as jnp
    >>> position_gram(jnp.ones((2, 3, 4)), None).shape
    (3, 2, 2)
    """
    pos = "".join("abcdefgh"[k] for k in range(x1.ndim - 2))
    spec = f"i{pos}z,j{pos}z->{pos}ij"
    if x2 is None:
        return _self_gram(x1, spec)
    return jnp.einsum(spec, x1, x2)
