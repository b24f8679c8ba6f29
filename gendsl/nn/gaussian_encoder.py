"""A VAE encoder: an MLP with two heads, the mean and log-variance of q(z|x)."""

from __future__ import annotations

from typing import Sequence

import jax
from flax import nnx

from gendsl.nn.mlp import MLP


class GaussianEncoder(nnx.Module):
    """Maps ``x`` to ``(mean, log_var)`` of a diagonal Gaussian over ``latent`` dims.

    Args:
      din: input features (inputs are flattened after the batch axis).
      hidden: hidden widths of the shared trunk.
      latent: latent dimension.
      rngs: ``nnx.Rngs``.

    >>> import jax.numpy as jnp
    >>> m, v = GaussianEncoder(64, (32,), 4, rngs=nnx.Rngs(0))(jnp.ones((2, 8, 8, 1)))
    >>> m.shape, v.shape
    ((2, 4), (2, 4))
    """

    def __init__(self, din: int, hidden: Sequence[int], latent: int, *, rngs: nnx.Rngs):
        self.trunk = MLP(din, tuple(hidden[:-1]), hidden[-1], rngs=rngs)
        self.mean = nnx.Linear(hidden[-1], latent, rngs=rngs)
        self.log_var = nnx.Linear(hidden[-1], latent, rngs=rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = jax.nn.relu(self.trunk(x))
        return self.mean(h), self.log_var(h)
