"""A multi-layer perceptron as a Flax NNX module."""

from __future__ import annotations

from typing import Callable, Sequence

import jax
from flax import nnx


class MLP(nnx.Module):
    """``Linear -> activation`` for each hidden width, then a final ``Linear``.

    Inputs with more than two axes are flattened after the batch axis; the output
    can be reshaped to ``out_shape``.

    Args:
      din: input features (after flattening).
      hidden: widths of the hidden layers, e.g. ``(25, 25)``.
      dout: output features.
      rngs: ``nnx.Rngs`` for the initial parameters.
      activation: the hidden nonlinearity (default ReLU).
      out_shape: optional per-example output shape (e.g. ``(8, 8, 1)``).
      output_activation: applied to the output (e.g. ``jax.nn.sigmoid`` for pixels in
        [0, 1]); default none. Inside the module, so anything that applies the module
        alone (a sampler's generator, ``compiled.module``) sees it too.

    >>> import jax.numpy as jnp
    >>> MLP(2, (16, 16), 1, rngs=nnx.Rngs(0))(jnp.ones((4, 2))).shape
    (4, 1)
    >>> y = MLP(2, (8,), 3, rngs=nnx.Rngs(0), output_activation=jax.nn.sigmoid)(jnp.ones((4, 2)))
    >>> bool(((y > 0) & (y < 1)).all())
    True
    """

    def __init__(self, din: int, hidden: Sequence[int], dout: int, *, rngs: nnx.Rngs,
                 activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
                 out_shape: Sequence[int] | None = None,
                 output_activation: Callable[[jax.Array], jax.Array] | None = None):
        dims = [din, *hidden]
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(dims[:-1], dims[1:])])
        self.out = nnx.Linear(dims[-1], dout, rngs=rngs)
        self.activation = activation
        self.out_shape = tuple(out_shape) if out_shape is not None else None
        self.output_activation = output_activation

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        for layer in self.hidden:
            x = self.activation(layer(x))
        y = self.out(x)
        if self.output_activation is not None:
            y = self.output_activation(y)
        return y if self.out_shape is None else y.reshape(y.shape[0], *self.out_shape)
