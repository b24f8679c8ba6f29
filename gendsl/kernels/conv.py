"""Conv: a 2-D convolution over NHWC inputs with weight sharing, as ``stax.Conv``."""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from gendsl.errors import KernelError
from gendsl.kernels.dense import affine_rule, check_affine_args
from gendsl.kernels.gram import position_gram
from gendsl.kernels.layer import Layer, check_single, need_spatial
from gendsl.kernels.spatial import PADDINGS, out_spatial, pads_for, patches, window_sum
from gendsl.kernels.state import InputState, KernelState, require


def _pair(value, name, layer) -> tuple[int, ...]:
    t = tuple(int(v) for v in value)
    if len(t) != 2 or min(t) < 1:
        raise KernelError(f"{layer.name}({name}={value!r}): give two positive ints (height, width)")
    return t


@dataclasses.dataclass(frozen=True)
class Conv(Layer):
    """2-D convolution, NHWC inputs, HWIO filters: ``stax.Conv(out, filter_shape, ...)``.

    In infinite width the output covariance at positions ``(o, o')`` is
    ``W_std**2 * mean over filter offsets a of cov(x[s o + a], x[s o' + a]) + b_std**2``
    (zero padding counts as zeros; the mean divides by the full filter size).

    Attributes:
      out: output channels.
      filter_shape: ``(fh, fw)``.
      strides: ``(sh, sw)``, default ``(1, 1)``.
      padding: ``"SAME"`` or ``"VALID"`` (neural-tangents' default).
      W_std, b_std, parameterization: as in :class:`Dense`.
    """

    out: int
    filter_shape: tuple = (3, 3)
    strides: Optional[tuple] = None
    padding: str = "VALID"
    W_std: float = 1.0
    b_std: Optional[float] = None
    parameterization: str = "ntk"

    def __post_init__(self):
        check_affine_args(self, self.out, self.W_std, self.b_std, self.parameterization)
        object.__setattr__(self, "filter_shape", _pair(self.filter_shape, "filter_shape", self))
        strides = (1, 1) if self.strides is None else self.strides
        object.__setattr__(self, "strides", _pair(strides, "strides", self))
        if self.padding not in PADDINGS:
            raise KernelError(f"Conv(padding={self.padding!r}): use one of {PADDINGS}")

    @property
    def filter_size(self) -> int:
        """Number of filter offsets."""
        return math.prod(self.filter_shape)

    def output_shape(self, in_shape):
        need_spatial(self, in_shape, "a convolution")
        out = out_spatial(in_shape[:2], self.filter_shape, self.strides, self.padding)
        if min(out) < 1:
            raise KernelError(f"Conv: filter {self.filter_shape} does not fit input {in_shape[:2]} "
                              "with VALID padding; use padding='SAME' or a smaller filter")
        return out + (self.out,)

    def kernel_rule(self, state, full_out):
        check_single(self, state)
        if isinstance(state, InputState):
            return self._rule_from_inputs(state, full_out)
        state = require(state, full_out)
        copies = 2 if state.full else 1

        def filter_mean(a):
            return window_sum(a, self.filter_shape, self.strides, self.padding, copies,
                              shared=True) / self.filter_size

        return affine_rule(state, W_std=self.W_std, b_std=self.b_std,
                           parameterization=self.parameterization,
                           fan_in=state.channels * self.filter_size,
                           sum_nngp=filter_mean, sum_ntk=filter_mean, out=self.out)

    def _rule_from_inputs(self, inputs: InputState, full: bool) -> KernelState:
        """First layer: contract the input patches directly (one batched matmul)."""
        p1 = patches(inputs.x1, self.filter_shape, self.strides, self.padding)
        p2 = p1 if inputs.x2 is None else patches(inputs.x2, self.filter_shape, self.strides,
                                                  self.padding)
        features = p1.shape[-1]
        if full:
            cross = lambda a, b: jnp.einsum("iabf,jcdf->abcdij", a, b) / features
            self_cov = lambda a: jnp.einsum("iabf,icdf->abcdi", a, a) / features
        else:
            cross = lambda a, b: position_gram(a, None if b is a else b) / features
            self_cov = lambda a: jnp.einsum("iabf,iabf->abi", a, a) / features
        averaged = KernelState(
            nngp=cross(p1, p2), ntk=None, cov1=self_cov(p1),
            cov2=None if inputs.x2 is None else self_cov(p2),
            spatial_ndim=2, full=full, channels=inputs.channels)
        zero_ntk = averaged.replace(ntk=jnp.zeros(()) if inputs.track_ntk else None)
        same = lambda a: a
        return affine_rule(zero_ntk, W_std=self.W_std, b_std=self.b_std,
                           parameterization=self.parameterization,
                           fan_in=inputs.channels * self.filter_size,
                           sum_nngp=same, sum_ntk=same, out=self.out)

    def init_module(self, in_shape, rngs):
        return ConvModule(self, in_shape[-1], rngs)


class ConvModule(nnx.Module):
    """Finite-width :class:`Conv` (HWIO filters)."""

    def __init__(self, spec: Conv, in_channels: int, rngs: nnx.Rngs):
        self.spec = spec
        self.fan_in = in_channels * spec.filter_size
        w = jax.random.normal(rngs.params(), spec.filter_shape + (in_channels, spec.out))
        b = None if spec.b_std is None else jax.random.normal(rngs.params(), (spec.out,))
        if spec.parameterization == "standard":
            w = w * (spec.W_std / self.fan_in ** 0.5)
            b = None if b is None else b * spec.b_std
        self.kernel = nnx.Param(w)
        self.bias = None if b is None else nnx.Param(b)

    def __call__(self, x):
        spec = self.spec
        y = lax.conv_general_dilated(
            x, self.kernel[...], spec.strides,
            pads_for(x.shape[1:3], spec.filter_shape, spec.strides, spec.padding),
            dimension_numbers=("NHWC", "HWIO", "NHWC"))
        if spec.parameterization == "ntk":
            y = y * (spec.W_std / self.fan_in ** 0.5)
            if self.bias is not None:
                y = y + spec.b_std * self.bias[...]
        elif self.bias is not None:
            y = y + self.bias[...]
        return y
