"""Gradient penalties on the discriminator's input gradient.

* R1 (Mescheder et al., 2018): ``E_x ||grad_x D(x)||^2`` on real data; the usual
  objective term is ``gamma / 2 * r1(D, x)``.
* WGAN-GP (Gulrajani et al., 2017): ``E (||grad D(x_hat)|| - 1)^2`` at random
  interpolates ``x_hat`` of real and fake samples; the usual weight is 10.

Both sum the discriminator's outputs before differentiating, which gives every
example's own input gradient because examples do not interact in D.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gendsl.errors import ShapeMismatchError
from gendsl.terms.primitive import primitive


def _input_grad(D, x):
    return jax.grad(lambda v: jnp.sum(D(v)))(x)


def _per_example_sq_norm(g):
    return jnp.sum(jnp.square(g), axis=tuple(range(1, g.ndim)))


@primitive
def r1(D, x):
    """R1 penalty ``E ||grad_x D(x)||^2`` of player ``D`` at data ``x``."""
    return jnp.mean(_per_example_sq_norm(_input_grad(D, x)))


@primitive(needs_key=True)
def gradient_penalty(D, real, fake, key):
    """WGAN-GP penalty ``E (||grad D(x_hat)|| - 1)^2``, ``x_hat`` between real and fake."""
    if jnp.shape(real) != jnp.shape(fake):
        raise ShapeMismatchError(
            f"gradient_penalty: real samples have shape {jnp.shape(real)} but fake ones "
            f"{jnp.shape(fake)}; interpolation needs equal shapes (same batch size too)")
    eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    x_hat = eps * real + (1.0 - eps) * jax.lax.stop_gradient(fake)
    norm = jnp.sqrt(_per_example_sq_norm(_input_grad(D, x_hat)) + 1e-12)
    return jnp.mean(jnp.square(norm - 1.0))
