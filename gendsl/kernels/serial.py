"""serial: compose layers; also the residual block built from the branching layers."""

from __future__ import annotations

import dataclasses

from flax import nnx

from gendsl.errors import KernelError
from gendsl.kernels.branching import FanInSum, FanOut, parallel
from gendsl.kernels.identity import Identity
from gendsl.kernels.layer import Layer


@dataclasses.dataclass(frozen=True)
class Serial(Layer):
    """Layers applied in order (``stax.serial``); build with :func:`serial`.

    Attributes:
      layers: the layers, first applied first.
    """

    layers: tuple

    def output_shape(self, in_shape):
        for layer in self.layers:
            in_shape = layer.output_shape(in_shape)
        return in_shape

    def needs_full_input(self, full_out):
        for layer in reversed(self.layers):
            full_out = layer.needs_full_input(full_out)
        return full_out

    def kernel_rule(self, state, full_out):
        needs = []
        for layer in reversed(self.layers):
            needs.append(full_out)
            full_out = layer.needs_full_input(full_out)
        for layer, full in zip(self.layers, reversed(needs)):
            state = layer.kernel_rule(state, full)
        return state

    def init_module(self, in_shape, rngs):
        modules = []
        for layer in self.layers:
            modules.append(layer.init_module(in_shape, rngs))
            in_shape = layer.output_shape(in_shape)
        return SerialModule(modules)


def serial(*layers: Layer) -> Serial:
    """Compose layers: ``serial(Dense(512), Relu(), Dense(1))``.

    Args:
      *layers: layers or networks, applied first to last.

    Returns:
      A :class:`Serial` network (itself a layer).
    """
    for layer in layers:
        if not isinstance(layer, Layer):
            raise KernelError(f"serial(...) got {layer!r}; give layers such as Dense(64), Relu()")
    return Serial(tuple(layers))


def residual(*block: Layer) -> Serial:
    """``x + block(x)``: ``serial(FanOut(2), parallel(Identity(), serial(*block)), FanInSum())``.

    Args:
      *block: the layers of the residual branch.

    Returns:
      The residual network.
    """
    return serial(FanOut(2), parallel(Identity(), serial(*block)), FanInSum())


class SerialModule(nnx.Module):
    """Finite-width :class:`Serial`."""

    def __init__(self, layers):
        self.layers = nnx.List(layers)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
