"""Projected gradient ascent over an l_2 or l_inf ball of per-example perturbations.

``pgd_maximize`` is the inner loop of adversarial training (Madry et al., 2018): ``k``
steps ``delta <- Proj(delta + alpha * s(grad))`` with ``s`` the sign (l_inf) or the
per-example normalised gradient (l_2). A pure function of arrays, in ``lax.fori_loop``.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from gendsl.primitives.dual_norm import per_example_norm


def _per_example(v: jax.Array, like: jax.Array) -> jax.Array:
    return jnp.reshape(v, (-1,) + (1,) * (jnp.ndim(like) - 1))


def project(delta: jax.Array, eps: float, p: float) -> jax.Array:
    """Projects each example of ``delta`` onto the ``l_p`` ball of radius ``eps``
    (``p`` is 2 or inf).

    >>> project(jnp.array([[3.0, 4.0]]), 1.0, 2.0).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    if math.isinf(p):
        return jnp.clip(delta, -eps, eps)
    norm = per_example_norm(delta, 2.0)
    scale = jnp.minimum(1.0, eps / jnp.where(norm > 0, norm, 1.0))
    return delta * _per_example(scale, delta)


def ascent_direction(g: jax.Array, p: float) -> jax.Array:
    """The steepest-ascent direction of unit ``l_p`` norm per example (p in {2, inf})."""
    if math.isinf(p):
        return jnp.sign(g)
    norm = per_example_norm(g, 2.0)
    return g / _per_example(jnp.where(norm > 0, norm, 1.0), g)


def random_start(key: jax.Array, shape, dtype, eps: float, p: float) -> jax.Array:
    """A uniform draw from the l_inf box, or from the l_2 ball (per example)."""
    if math.isinf(p):
        return jax.random.uniform(key, shape, dtype, -eps, eps)
    k1, k2 = jax.random.split(key)
    d = math.prod(shape[1:])
    u = jax.random.normal(k1, shape, dtype)
    r = eps * jax.random.uniform(k2, (shape[0],), dtype) ** (1.0 / d)
    u = u / _per_example(per_example_norm(u, 2.0), u)
    return u * _per_example(r, u)


def pgd_maximize(objective: Callable[[jax.Array], jax.Array], init: jax.Array, eps: float,
                 p: float, steps: int, step_size: float) -> jax.Array:
    """Approximately maximises ``objective(delta)`` over per-example ``||delta||_p <= eps``.

    Args:
      objective: ``delta -> scalar``, a sum of per-example terms (each example's
        gradient then depends on its own perturbation only).
      init: the starting perturbation (zeros, or :func:`random_start`).
      eps: the radius.
      p: 2 or inf.
      steps: number of ascent steps.
      step_size: ``alpha``.
    Returns:
      The perturbation after ``steps`` projected ascent steps.

    >>> f = lambda d: jnp.sum(d @ jnp.array([1.0, -2.0]))
    >>> pgd_maximize(f, jnp.zeros((1, 2)), 0.5, math.inf, 3, 0.25).tolist()
    [[0.5, -0.5]]
    """
    grad = jax.grad(objective)

    def body(_, delta):
        return project(delta + step_size * ascent_direction(grad(delta), p), eps, p)

    return jax.lax.fori_loop(0, steps, body, init)
