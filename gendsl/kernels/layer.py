"""The base of every layer spec: the closed-form ``kernel`` and the finite ``module``.

A layer is an immutable spec (a frozen dataclass) that knows four small things:

* ``output_shape(in_shape)``: its output shape without the batch axis (and validates);
* ``needs_full_input(full_out)``: whether it needs covariances between *all* position
  pairs of its input, given whether its consumer needs them of its output;
* ``kernel_rule(state, full_out)``: a pure function from input to output kernel state;
* ``init_module(in_shape, rngs)``: the finite-width Flax NNX module it stands for.

From these, :meth:`Layer.kernel` and :meth:`Layer.module` work on any layer or network.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Optional, Sequence, Union

import jax
import jax.numpy as jnp
from flax import nnx

from gendsl.errors import KernelError
from gendsl.kernels.state import InputState, KernelState, require
from gendsl.kernels.tiling import blockwise

Shape = tuple[int, ...]
Get = Union[str, Sequence[str]]
_KNOWN_GETS = ("nngp", "ntk")


@functools.lru_cache(maxsize=None)
def _kernels_tuple(fields: tuple[str, ...]):
    return collections.namedtuple("Kernels", fields)


def _normalize_get(get: Get) -> tuple[str, ...]:
    names = (get,) if isinstance(get, str) else tuple(get)
    bad = [g for g in names if g not in _KNOWN_GETS]
    if bad or not names:
        raise KernelError(f"kernel(get={get!r}): each entry must be one of {_KNOWN_GETS}, "
                          f"e.g. get='ntk' or get=('nngp', 'ntk')")
    return names


def _to_output_layout(arr: jax.Array, state: KernelState) -> jax.Array:
    """Move batch axes first; full spatial pairs interleaved as neural-tangents: (n1, n2, H, H', W, W')."""
    d = state.spatial_ndim
    if d == 0:
        return arr
    if not state.full:
        return jnp.moveaxis(arr, (-2, -1), (0, 1))
    order = [2 * d, 2 * d + 1] + [a for k in range(d) for a in (k, d + k)]
    return jnp.transpose(arr, order)


_BLOCK_ELEMENTS = 1 << 21  # per-block size of the largest per-pair intermediate


def _positions(layer: "Layer", in_shape) -> int:
    """Largest number of spatial positions (pairs, where kept) of any intermediate."""
    shapes = [in_shape]
    layers = getattr(layer, "layers", None)
    if layers is None:
        shapes.append(layer.output_shape(in_shape))
    else:
        for sub in layers:
            in_shape = sub.output_shape(in_shape)
            shapes.append(in_shape)
    out = shapes[-1]  # a spatial output is the covariance of all its position pairs
    full = layer.needs_full_input(not isinstance(out, list) and len(out) > 1)
    sizes = [1]
    for s in shapes:
        for shape in (s if isinstance(s, list) else [s]):
            p = 1
            for d in shape[:-1]:
                p *= d
            sizes.append(p * p if full else p)
    return max(sizes)


def auto_block_size(layer: "Layer", in_shape) -> int:
    """Rows per block so that a block's biggest intermediate holds about 2M entries
    (dense networks: 1024 rows; their Gram matrix skips mirrored blocks by itself)."""
    per_pair = _positions(layer, in_shape)
    side = int((_BLOCK_ELEMENTS / per_pair) ** 0.5)
    return max(8, 1 << max(side.bit_length() - 1, 0))


@functools.partial(jax.jit, static_argnums=(0, 3, 4, 5))
def _evaluate(layer: "Layer", x1, x2, names: tuple[str, ...], block_size: int, full_out: bool):
    """The kernels ``names`` of ``layer`` as a dict, compiled once per network and shape.

    Jitted so that eager calls run as one XLA program (the rules are many small ops);
    inside a caller's ``jit`` this simply inlines.
    """

    def unblocked(a, b):
        state = InputState(a, b, track_ntk="ntk" in names)
        state = require(layer.kernel_rule(state, full_out), full_out)
        # Only what was asked leaves a block (the NNGP is computed for the NTK anyway,
        # but tiles of it are not assembled when only the NTK is wanted).
        return {name: _to_output_layout(getattr(state, name), state) for name in names}

    if block_size:
        return blockwise(unblocked, x1, x2, block_size)
    return unblocked(x1, x2)


def _describe_value(value) -> str:
    if isinstance(value, Layer):
        return value.describe()
    if isinstance(value, (tuple, list)):
        if value and all(isinstance(v, Layer) for v in value):
            return ", ".join(v.describe() for v in value)
        return "(" + ", ".join(_describe_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value)


class Layer:
    """Mixin giving every layer spec ``kernel`` and ``module``; subclasses are frozen dataclasses."""

    # -- what each layer implements -------------------------------------------------
    def output_shape(self, in_shape):
        """Output shape (no batch axis) for an input of shape ``in_shape``; raises KernelError."""
        return in_shape

    def needs_full_input(self, full_out: bool) -> bool:
        """Whether all position pairs of the input are needed (default: as of the output)."""
        return full_out

    def kernel_rule(self, state, full_out: bool):
        """Map the input kernel state to the output kernel state."""
        raise NotImplementedError

    def init_module(self, in_shape, rngs: nnx.Rngs) -> nnx.Module:
        """The finite-width NNX module for inputs of shape ``in_shape`` (no batch axis)."""
        raise NotImplementedError

    # -- what every layer gets ------------------------------------------------------
    @property
    def name(self) -> str:
        """The layer's name in neural-tangents' vocabulary."""
        return type(self).__name__

    def describe(self) -> str:
        """Short text for :func:`gendsl.show`: fields left at their defaults are omitted,
        floats have 4 significant digits, sub-layers are written inline. (Fingerprints
        hash the full ``repr``, so two specs that print alike still differ there.)

        >>> from gendsl.kernels import Dense, Relu, serial
        >>> serial(Dense(64, W_std=2 ** 0.5), Relu(), Dense(1)).describe()
        'Serial(Dense(64, W_std=1.414), Relu(), Dense(1))'
        """
        parts = []
        for i, f in enumerate(dataclasses.fields(self)):
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            text = _describe_value(value)
            parts.append(text if i == 0 else f"{f.name}={text}")
        return f"{self.name}({', '.join(parts)})"

    def kernel(self, x1: jax.Array, x2: Optional[jax.Array] = None, get: Get = ("nngp", "ntk"),
               *, block_size: Optional[int] = None):
        """Infinite-width NNGP / NTK between two batches, in neural-tangents' conventions.

        Args:
          x1: ``(n1, features)`` or ``(n1, H, W, C)`` inputs.
          x2: inputs of the same trailing shape, or ``None`` for ``kernel(x1, x1)``.
          get: ``"nngp"``, ``"ntk"`` (returns one array) or a tuple of them (returns a
            namedtuple with those fields, in that order).
          block_size: rows of ``x1`` per block (see :mod:`gendsl.kernels.tiling`);
            ``None`` picks one from the network's spatial size, ``0`` disables blocking.

        Returns:
          ``(n1, n2)`` arrays for networks with a non-spatial output; for a spatial
          output, the covariance of all position pairs ``(n1, n2, H, H', W, W')``.

        >>> import jax.numpy as jnp
        >>> from gendsl import kernels as K
        >>> net = K.serial(K.Dense(512, W_std=1.5, b_std=0.05), K.Relu(), K.Dense(1, W_std=1.5))
        >>> k = net.kernel(jnp.ones((3, 4)), get=("nngp", "ntk"))
        >>> k.nngp.shape, k.ntk.shape
        ((3, 3), (3, 3))
        """
        names = _normalize_get(get)
        x1 = jnp.asarray(x1)
        if x1.ndim not in (2, 4):
            raise KernelError(f"{self.name}.kernel: x1 must be (n, features) or (n, H, W, C), "
                              f"got shape {x1.shape}")
        if x2 is not None:
            x2 = jnp.asarray(x2)
            if x2.shape[1:] != x1.shape[1:]:
                raise KernelError(f"{self.name}.kernel: x2 has per-example shape {x2.shape[1:]} "
                                  f"but x1 has {x1.shape[1:]}; they must agree")
        out_shape = self.output_shape(tuple(x1.shape[1:]))
        if isinstance(out_shape, list):
            raise KernelError(f"{self.name}.kernel: the network ends with {len(out_shape)} "
                              "branches; merge them with FanInSum()")
        if block_size is None:
            block_size = auto_block_size(self, tuple(x1.shape[1:]))
        if block_size >= max(x1.shape[0], 0 if x2 is None else x2.shape[0]):
            block_size = 0  # one block (and one compiled program for every such size)
        values = _evaluate(self, x1, x2, names, int(block_size), len(out_shape) > 1)
        if isinstance(get, str):
            return values[get]
        return _kernels_tuple(names)(*(values[n] for n in names))

    def module(self, input_shape: Sequence[int], *, rngs: nnx.Rngs) -> nnx.Module:
        """The finite-width Flax NNX module of this network, with the same parameterization.

        Args:
          input_shape: one example's shape (no batch axis), e.g. ``(784,)`` or ``(28, 28, 1)``.
          rngs: NNX random streams; parameters are drawn from ``rngs.params()``.

        Returns:
          An ``nnx.Module`` mapping ``(n, *input_shape)`` to the network's outputs.

        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from gendsl import kernels as K
        >>> m = K.serial(K.Dense(8), K.Relu(), K.Dense(1)).module((3,), rngs=nnx.Rngs(0))
        >>> m(jnp.ones((5, 3))).shape
        (5, 1)
        """
        in_shape = tuple(int(s) for s in input_shape)
        self.output_shape(in_shape)  # validates the whole network first
        return _build_module(self, in_shape, rngs)


@nnx.jit(static_argnums=(0, 1))
def _build_module(layer: Layer, in_shape: Shape, rngs: nnx.Rngs) -> nnx.Module:
    """``layer.init_module`` as one compiled program (eagerly, every parameter draw of a
    new shape would compile on its own)."""
    return layer.init_module(in_shape, rngs)


def check_single(layer: Layer, state_or_shape):
    """Raise KernelError if a single-input layer is handed several branches."""
    if isinstance(state_or_shape, (list, tuple)) and state_or_shape and not isinstance(
            state_or_shape[0], int):
        raise KernelError(f"{layer.name} got {len(state_or_shape)} branches; merge them with "
                          "FanInSum() first, or apply per branch with parallel(...)")


def need_spatial(layer: Layer, in_shape: Shape, what: str) -> None:
    """Raise KernelError unless ``in_shape`` is ``(H, W, C)``."""
    check_single(layer, in_shape)
    if len(in_shape) != 3:
        raise KernelError(f"{layer.name} needs NHWC image inputs (H, W, C) for {what}, got "
                          f"per-example shape {in_shape}; put it before Flatten / "
                          "GlobalAvgPool, or feed images")


class FunctionModule(nnx.Module):
    """A parameter-free layer's finite module: calls ``spec.apply(x)``."""

    def __init__(self, spec):
        self.spec = spec

    def __call__(self, x):
        return self.spec.apply(x)


def is_kernel_state(state) -> bool:
    """Whether ``state`` is one branch (not a tuple of branches)."""
    return isinstance(state, (KernelState, InputState))
