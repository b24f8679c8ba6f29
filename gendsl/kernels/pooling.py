"""Average pooling layers: AvgPool (windows) and GlobalAvgPool (whole image).

Both mix positions, so they need covariances between all position pairs of their
input; they are the layers that make a network keep ``(H, W, H', W')`` blocks.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import jax.numpy as jnp
import numpy as np
from jax import lax

from gendsl.errors import KernelError
from gendsl.kernels.conv import _pair
from gendsl.kernels.layer import FunctionModule, Layer, check_single, need_spatial
from gendsl.kernels.spatial import PADDINGS, out_spatial, pads_for, window_sum
from gendsl.kernels.state import require


@dataclasses.dataclass(frozen=True)
class GlobalAvgPool(Layer):
    """Mean over all positions: ``(n, H, W, C) -> (n, C)`` (``stax.GlobalAvgPool()``)."""

    def output_shape(self, in_shape):
        need_spatial(self, in_shape, "pooling")
        return (in_shape[-1],)

    def needs_full_input(self, full_out):
        return True

    def kernel_rule(self, state, full_out):
        check_single(self, state)
        state = require(state, True)
        d = state.spatial_ndim
        mean = lambda a, b: jnp.mean(a, axis=tuple(range(2 * d)))
        return state.map_covariances(mean).replace(spatial_ndim=0, full=False)

    def init_module(self, in_shape, rngs):
        return FunctionModule(self)

    def apply(self, x):
        return jnp.mean(x, axis=(1, 2))


@dataclasses.dataclass(frozen=True)
class AvgPool(Layer):
    """Windowed mean (``stax.AvgPool(window_shape, strides, padding)``).

    Divides by the full window size also at SAME-padded edges (neural-tangents'
    ``normalize_edges=False``).

    Attributes:
      window_shape: ``(wh, ww)``.
      strides: defaults to ``window_shape``.
      padding: ``"VALID"`` (default) or ``"SAME"``.
    """

    window_shape: tuple = (2, 2)
    strides: Optional[tuple] = None
    padding: str = "VALID"

    def __post_init__(self):
        object.__setattr__(self, "window_shape", _pair(self.window_shape, "window_shape", self))
        strides = self.window_shape if self.strides is None else self.strides
        object.__setattr__(self, "strides", _pair(strides, "strides", self))
        if self.padding not in PADDINGS:
            raise KernelError(f"AvgPool(padding={self.padding!r}): use one of {PADDINGS}")

    def output_shape(self, in_shape):
        need_spatial(self, in_shape, "pooling")
        out = out_spatial(in_shape[:2], self.window_shape, self.strides, self.padding)
        if min(out) < 1:
            raise KernelError(f"AvgPool: window {self.window_shape} does not fit input "
                              f"{in_shape[:2]}; use padding='SAME' or a smaller window")
        return out + (in_shape[-1],)

    def needs_full_input(self, full_out):
        return True

    def kernel_rule(self, state, full_out):
        check_single(self, state)
        state = require(state, True)
        size = math.prod(self.window_shape)
        pool = lambda a, b: window_sum(a, self.window_shape, self.strides, self.padding,
                                       copies=2, shared=False) / size ** 2
        return state.map_covariances(pool)

    def init_module(self, in_shape, rngs):
        return FunctionModule(self)

    def apply(self, x):
        window = (1,) + self.window_shape + (1,)
        strides = (1,) + self.strides + (1,)
        pads = [(0, 0)] + pads_for(x.shape[1:3], self.window_shape, self.strides,
                                   self.padding) + [(0, 0)]
        # A concrete zero (not a traced one) makes this reduce_window_sum, which has
        # transpose rules (forward-over-reverse, e.g. the empirical NTK, needs them).
        total = lax.reduce_window(x, np.array(0, x.dtype), lax.add, window, strides, pads)
        return total / math.prod(self.window_shape)
