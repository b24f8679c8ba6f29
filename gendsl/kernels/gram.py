"""Inner products of inputs (the first layer's covariance), with a symmetric-gram JVP.

For ``x2 = None`` the input covariance is a Gram matrix ``G = x x^T``. Its autodiff
transpose would be two matmuls (``Gbar x + Gbar^T x``); writing the JVP as
``t + t^T`` with ``t = dx x^T`` makes the backward pass a single matmul
``(Gbar + Gbar^T) x``, which matters when the kernel is differentiated w.r.t. its
inputs (the GA-NTK generator step). The value of a dense layer's Gram matrix is built
from its halves' products (:func:`_symmetric_gram`), skipping the mirrored blocks.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp


def _swap(t: jax.Array) -> jax.Array:
    return jnp.swapaxes(t, -1, -2)


_LEAF = 128


def _symmetric_gram(x: jax.Array) -> jax.Array:
    """``x @ x.T`` from ``x_a x_a^T``, ``x_a x_b^T`` and ``x_b x_b^T`` of its halves, down to
    128 rows: about 10/16 of the multiply-adds at n = 512, in large products."""
    n = x.shape[0]
    if n <= _LEAF:
        return x @ x.T
    h = n // 2
    a, b = x[:h], x[h:]
    ab = a @ b.T
    return jnp.block([[_symmetric_gram(a), ab], [ab.T, _symmetric_gram(b)]])


def _gram_value(x: jax.Array, spec: str) -> jax.Array:
    return _symmetric_gram(x) if x.ndim == 2 else jnp.einsum(spec, x, x)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _self_gram(x: jax.Array, spec: str) -> jax.Array:
    return _gram_value(x, spec)


@_self_gram.defjvp
def _self_gram_jvp(spec, primals, tangents):
    (x,), (dx,) = primals, tangents
    t = jnp.einsum(spec, dx, x)
    return _gram_value(x, spec), t + _swap(t)


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
