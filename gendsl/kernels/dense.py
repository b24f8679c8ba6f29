"""Dense: a fully connected layer on the last (channel) axis, as ``stax.Dense``."""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
from flax import nnx

from gendsl.errors import KernelError
from gendsl.kernels.layer import Layer, check_single
from gendsl.kernels.state import KernelState, require

PARAMETERIZATIONS = ("ntk", "standard")


def check_affine_args(layer, out: int, W_std: float, b_std, parameterization: str) -> None:
    """Validate the arguments shared by Dense and Conv."""
    if int(out) != out or out < 1:
        raise KernelError(f"{layer.name}(out={out!r}): the output width must be a positive int")
    if parameterization not in PARAMETERIZATIONS:
        raise KernelError(f"{layer.name}(parameterization={parameterization!r}): use one of "
                          f"{PARAMETERIZATIONS}")
    if W_std < 0 or (b_std is not None and b_std < 0):
        raise KernelError(f"{layer.name}: W_std={W_std} and b_std={b_std} must be >= 0")


def affine_rule(state: KernelState, *, W_std: float, b_std: Optional[float], parameterization: str,
                fan_in: int, sum_nngp, sum_ntk, out: int) -> KernelState:
    """Kernel of ``W x + b`` given the (filter-averaged) input covariances.

    Args:
      state: the input kernel state (only used for its layout and covariances).
      W_std, b_std, parameterization: as in neural-tangents.
      fan_in: the finite layer's fan-in (``standard`` parameterization only).
      sum_nngp: ``a -> the weight-shared average of a`` (identity for Dense, the filter
        average for Conv), applied to nngp and covariances.
      sum_ntk: the same map, applied to the NTK.
      out: the output width.

    Returns:
      The output kernel state.
    """
    w2 = W_std ** 2
    b2 = 0.0 if b_std is None else b_std ** 2

    def affine(a):
        return w2 * sum_nngp(a) + b2

    nngp_avg = sum_nngp(state.nngp)
    nngp = w2 * nngp_avg + b2
    ntk = None
    if state.ntk is not None:
        if parameterization == "ntk":
            ntk = nngp + w2 * sum_ntk(state.ntk)
        else:
            ntk = fan_in * nngp_avg + w2 * sum_ntk(state.ntk)
            if b_std is not None:
                ntk = ntk + 1.0
    return state.replace(nngp=nngp, ntk=ntk, cov1=affine(state.cov1),
                         cov2=None if state.cov2 is None else affine(state.cov2), channels=out)


@dataclasses.dataclass(frozen=True)
class Dense(Layer):
    """Fully connected layer on the channel axis: ``stax.Dense(out, W_std, b_std)``.

    NTK parameterization: ``y = W_std / sqrt(fan_in) * x @ W + b_std * b`` with ``W, b ~
    N(0, 1)``. Standard: ``y = x @ W + b`` with ``W ~ N(0, W_std**2 / fan_in)``,
    ``b ~ N(0, b_std**2)``. ``b_std=None`` means no bias.

    Attributes:
      out: output width.
      W_std: weight standard deviation.
      b_std: bias standard deviation, or None for no bias.
      parameterization: ``"ntk"`` (default) or ``"standard"``.
    """

    out: int
    W_std: float = 1.0
    b_std: Optional[float] = None
    parameterization: str = "ntk"

    def __post_init__(self):
        check_affine_args(self, self.out, self.W_std, self.b_std, self.parameterization)

    def output_shape(self, in_shape):
        check_single(self, in_shape)
        return tuple(in_shape[:-1]) + (self.out,)

    def kernel_rule(self, state, full_out):
        check_single(self, state)
        state = require(state, full_out)
        same = lambda a: a
        return affine_rule(state, W_std=self.W_std, b_std=self.b_std,
                           parameterization=self.parameterization, fan_in=state.channels,
                           sum_nngp=same, sum_ntk=same, out=self.out)

    def init_module(self, in_shape, rngs):
        return DenseModule(self, in_shape[-1], rngs)


class DenseModule(nnx.Module):
    """Finite-width :class:`Dense`."""

    def __init__(self, spec: Dense, in_features: int, rngs: nnx.Rngs):
        self.spec = spec
        self.in_features = in_features
        w = jax.random.normal(rngs.params(), (in_features, spec.out))
        b = None if spec.b_std is None else jax.random.normal(rngs.params(), (spec.out,))
        if spec.parameterization == "standard":
            w = w * (spec.W_std / in_features ** 0.5)
            b = None if b is None else b * spec.b_std
        self.kernel = nnx.Param(w)
        self.bias = None if b is None else nnx.Param(b)

    def __call__(self, x):
        y = x @ self.kernel[...]
        spec = self.spec
        if spec.parameterization == "ntk":
            y = y * (spec.W_std / self.in_features ** 0.5)
            if self.bias is not None:
                y = y + spec.b_std * self.bias[...]
        elif self.bias is not None:
            y = y + self.bias[...]
        return y
