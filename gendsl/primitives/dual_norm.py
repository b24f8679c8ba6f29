"""Perturbation norms and their duals, per example.

For ``||delta||_p <= eps`` and a linear function ``theta . delta``, the maximum is
``eps * ||theta||_q`` with ``1/p + 1/q = 1``. The norms here have the minimum-norm
subgradient (zero) where they are not differentiable at 0, so an L1 dual norm does not
push zero coordinates away from zero and a zero gradient gives no NaN.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from gendsl.errors import PrimitiveError


def parse_norm(norm) -> float:
    """Returns the exponent ``p >= 1`` of a perturbation norm: a number or ``"inf"``.

    >>> parse_norm("inf"), parse_norm(2)
    (inf, 2.0)
    """
    try:
        p = float(norm)
    except (TypeError, ValueError):
        p = float("nan")
    if not p >= 1:
        raise PrimitiveError(f"norm must be a number p >= 1 or 'inf' (the l_p ball of the "
                             f"perturbation), got {norm!r}")
    return p


def dual_exponent(p: float) -> float:
    """``q`` with ``1/p + 1/q = 1``.

    >>> dual_exponent(1.0), dual_exponent(2.0), dual_exponent(math.inf)
    (inf, 2.0, 1.0)
    """
    if p == 1:
        return math.inf
    if math.isinf(p):
        return 1.0
    return p / (p - 1.0)


def abs_smooth_at_zero(x: jax.Array) -> jax.Array:
    """``|x|`` whose derivative at 0 is 0 (``jnp.abs`` gives 1 there)."""
    return jnp.sign(x) * x


def per_example_norm(g: jax.Array, q: float) -> jax.Array:
    """The ``l_q`` norm of each example (over every axis but the first).

    >>> per_example_norm(jnp.array([[3.0, -4.0], [0.0, 0.0]]), 2.0).tolist()
    [5.0, 0.0]
    """
    axes = tuple(range(1, jnp.ndim(g)))
    a = abs_smooth_at_zero(g)
    if math.isinf(q):
        return jnp.max(a, axis=axes)
    if q == 1:
        return jnp.sum(a, axis=axes)
    s = jnp.sum(a ** q, axis=axes)
    positive = s > 0
    return jnp.where(positive, jnp.where(positive, s, 1.0) ** (1.0 / q), 0.0)
