"""Branching combinators: FanOut, parallel, FanInSum (and ``residual`` built from them).

Between ``FanOut`` and ``FanInSum`` the kernel state is a tuple of branch states.
``FanInSum`` adds branch kernels, which is exact when the branches are independent
given the input (each non-identity branch ends in a fresh zero-mean random layer), the
same assumption neural-tangents makes.
"""

from __future__ import annotations

import dataclasses

from flax import nnx

from gendsl.errors import KernelError
from gendsl.kernels.layer import FunctionModule, Layer, is_kernel_state
from gendsl.kernels.state import require


@dataclasses.dataclass(frozen=True)
class FanOut(Layer):
    """Copy the input into ``num`` branches (``stax.FanOut(num)``).

    Attributes:
      num: number of branches.
    """

    num: int

    def __post_init__(self):
        if int(self.num) != self.num or self.num < 1:
            raise KernelError(f"FanOut(num={self.num!r}): give a positive number of branches")

    def output_shape(self, in_shape):
        if isinstance(in_shape, list):
            raise KernelError("FanOut got several branches; merge them with FanInSum() first")
        return [in_shape] * self.num

    def kernel_rule(self, state, full_out):
        if not is_kernel_state(state):
            raise KernelError("FanOut got several branches; merge them with FanInSum() first")
        return (state,) * self.num

    def init_module(self, in_shape, rngs):
        return FunctionModule(self)

    def apply(self, x):
        return (x,) * self.num


@dataclasses.dataclass(frozen=True)
class FanInSum(Layer):
    """Sum the branches (``stax.FanInSum()``); their shapes must agree."""

    def output_shape(self, in_shape):
        if not isinstance(in_shape, list):
            raise KernelError("FanInSum needs several branches (after FanOut / parallel)")
        if any(s != in_shape[0] for s in in_shape):
            raise KernelError(f"FanInSum: branch output shapes differ: {in_shape}; make every "
                              "branch end with the same width")
        return in_shape[0]

    def kernel_rule(self, state, full_out):
        if is_kernel_state(state):
            raise KernelError("FanInSum needs several branches (after FanOut / parallel)")
        states = [require(s, full_out) for s in state]
        add = lambda a, b: None if a is None or b is None else a + b
        total = states[0]
        for s in states[1:]:
            total = total.replace(nngp=total.nngp + s.nngp, ntk=add(total.ntk, s.ntk),
                                  cov1=total.cov1 + s.cov1, cov2=add(total.cov2, s.cov2))
        return total

    def init_module(self, in_shape, rngs):
        return FunctionModule(self)

    def apply(self, xs):
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total


@dataclasses.dataclass(frozen=True)
class Parallel(Layer):
    """Apply ``layers[i]`` to branch ``i`` (``stax.parallel``); build with :func:`parallel`.

    Attributes:
      layers: one layer (or network) per branch.
    """

    layers: tuple

    def _check(self, branches):
        if not isinstance(branches, (list, tuple)) or is_kernel_state(branches) or (
                branches and isinstance(branches[0], int)):
            raise KernelError(f"parallel of {len(self.layers)} layers needs as many branches; "
                              "put FanOut(n) before it")
        if len(branches) != len(self.layers):
            raise KernelError(f"parallel has {len(self.layers)} layers but got "
                              f"{len(branches)} branches; make FanOut(n) match")

    def output_shape(self, in_shape):
        self._check(in_shape)
        return [layer.output_shape(s) for layer, s in zip(self.layers, in_shape)]

    def needs_full_input(self, full_out):
        return any(layer.needs_full_input(full_out) for layer in self.layers)

    def kernel_rule(self, state, full_out):
        self._check(state)
        return tuple(layer.kernel_rule(s, full_out) for layer, s in zip(self.layers, state))

    def init_module(self, in_shape, rngs):
        return ParallelModule([layer.init_module(s, rngs)
                               for layer, s in zip(self.layers, in_shape)])


def parallel(*layers: Layer) -> Parallel:
    """Apply one layer per branch: ``parallel(Identity(), block)``.

    Args:
      *layers: one layer or network per branch.

    Returns:
      A :class:`Parallel` layer.
    """
    for layer in layers:
        if not isinstance(layer, Layer):
            raise KernelError(f"parallel(...) got {layer!r}; give layers such as Dense(64)")
    return Parallel(tuple(layers))


class ParallelModule(nnx.Module):
    """Finite-width :class:`Parallel`."""

    def __init__(self, branches):
        self.branches = nnx.List(branches)

    def __call__(self, xs):
        return tuple(m(x) for m, x in zip(self.branches, xs))
