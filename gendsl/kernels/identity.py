"""Identity and Flatten: layers that reshape but do not mix."""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp

from gendsl.kernels.layer import FunctionModule, Layer, check_single
from gendsl.kernels.state import require


@dataclasses.dataclass(frozen=True)
class Identity(Layer):
    """``x -> x`` (``stax.Identity()``); the skip branch of a residual block."""

    def output_shape(self, in_shape):
        check_single(self, in_shape)
        return in_shape

    def kernel_rule(self, state, full_out):
        check_single(self, state)
        return state

    def init_module(self, in_shape, rngs):
        return FunctionModule(self)

    def apply(self, x):
        return x


@dataclasses.dataclass(frozen=True)
class Flatten(Layer):
    """``(n, H, W, C) -> (n, H * W * C)`` (``stax.Flatten()``).

    The readout ``Dense`` after a flatten averages same-position covariances only, so
    this layer asks the layers before it for the ``(H, W, n1, n2)`` same-position map
    (cost ``O(n1 n2 P)``), never for ``P x P`` blocks.
    """

    def output_shape(self, in_shape):
        check_single(self, in_shape)
        return (math.prod(in_shape),)

    def needs_full_input(self, full_out):
        return False

    def kernel_rule(self, state, full_out):
        check_single(self, state)
        state = require(state, False)
        d = state.spatial_ndim
        if d == 0:
            return state
        mean = lambda a, b: jnp.mean(a, axis=tuple(range(d)))
        positions = math.prod(state.nngp.shape[:d])
        return state.map_covariances(mean).replace(
            spatial_ndim=0, full=False, channels=state.channels * positions)

    def init_module(self, in_shape, rngs):
        return FunctionModule(self)

    def apply(self, x):
        return x.reshape(x.shape[0], -1)
