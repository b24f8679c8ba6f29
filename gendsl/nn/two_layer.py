"""A wide two-layer network in the NTK parameterisation, for lazy-training studies.

    f(x) = (1 / sqrt(m)) sum_r a_r sigma(w_r . x / sqrt(d))

with ``w_r ~ N(0, I_d)``, ``a_r ~ N(0, 1)`` (or random signs) and width ``m``. In this
parameterisation the weights move by O(1/sqrt(m)) during training, so a wide network
trains in the lazy regime: close to its linearisation around the initial weights (the
neural tangent kernel regime). Either layer can be frozen: a frozen first layer gives
random features (a model linear in its parameters), a frozen second layer the setting
of Du et al. (2019). ``symmetric=True`` pairs every hidden unit with a copy whose output
weight has the opposite sign, so the network is zero at initialisation (up to rounding) (the
usual way to remove the random initial function in lazy training, Chizat et al. 2019).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx


class Frozen(nnx.Variable):
    """A weight that is part of the model but not trained (not an ``nnx.Param``, so the
    compiler carries it without differentiating or updating it)."""


class TwoLayerNTK(nnx.Module):
    """``f(x) = a . sigma(W x / sqrt(d)) / sqrt(m)``, one output per example.

    Args:
      din: input features (inputs are flattened after the batch axis).
      width: hidden width ``m`` (even when ``symmetric``).
      rngs: ``nnx.Rngs`` for the initial weights.
      activation: ``sigma`` (default ReLU).
      train_first: train ``W`` (else it is :class:`Frozen`).
      train_second: train ``a`` (else it is :class:`Frozen`).
      second_init: ``"normal"`` (``a_r ~ N(0, 1)``) or ``"sign"`` (``a_r = +-1``).
      symmetric: pair the units so that ``f = 0`` at initialisation.
    Returns (when called on ``x`` of shape ``(n, din)``): shape ``(n,)``.

    >>> net = TwoLayerNTK(3, 64, rngs=nnx.Rngs(0))
    >>> float(jnp.max(jnp.abs(net(jnp.ones((2, 3)))))) < 1e-6   # symmetric: zero at init
    True
    """

    def __init__(self, din: int, width: int, *, rngs: nnx.Rngs,
                 activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
                 train_first: bool = True, train_second: bool = True,
                 second_init: str = "normal", symmetric: bool = True):
        if symmetric and width % 2:
            raise ValueError(f"TwoLayerNTK: symmetric=True pairs hidden units, so width must "
                             f"be even, got {width}")
        if second_init not in ("normal", "sign"):
            raise ValueError(f"TwoLayerNTK: second_init must be 'normal' or 'sign', got {second_init!r}")
        half = width // 2 if symmetric else width
        w = jax.random.normal(rngs.params(), (half, din))
        a = jax.random.normal(rngs.params(), (half,))
        if second_init == "sign":
            a = jnp.sign(a) + (a == 0)
        if symmetric:
            w, a = jnp.concatenate([w, w]), jnp.concatenate([a, -a])
        self.first = (nnx.Param if train_first else Frozen)(w)
        self.second = (nnx.Param if train_second else Frozen)(a)
        self.activation = activation
        self.din, self.width = din, width

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        h = self.activation(x @ self.first[...].T / jnp.sqrt(self.din))
        return h @ self.second[...] / jnp.sqrt(self.width)
