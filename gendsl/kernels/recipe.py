"""Build networks from neural-tangents recipe strings: ``[["Dense", {"out": 512}], ["Relu"]]``.

The recipe vocabulary is neural-tangents' layer names and keyword arguments (as in the
reference fixture), plus ``["Residual", {"block": [...]}]`` for ``x + block(x)``.
"""

from __future__ import annotations

import json
from typing import Sequence, Union

from gendsl.errors import KernelError
from gendsl.kernels.branching import FanInSum, FanOut
from gendsl.kernels.conv import Conv
from gendsl.kernels.dense import Dense
from gendsl.kernels.erf import Erf
from gendsl.kernels.identity import Flatten, Identity
from gendsl.kernels.layer import Layer
from gendsl.kernels.pooling import AvgPool, GlobalAvgPool
from gendsl.kernels.relu import LeakyRelu, Relu
from gendsl.kernels.serial import residual, serial

_LAYERS = {
    "Dense": Dense, "Conv": Conv, "Relu": Relu, "LeakyRelu": LeakyRelu, "Erf": Erf,
    "Identity": Identity, "Flatten": Flatten, "GlobalAvgPool": GlobalAvgPool,
    "AvgPool": AvgPool, "FanOut": FanOut, "FanInSum": FanInSum,
}


def _layer(spec) -> Layer:
    if isinstance(spec, str):
        spec = [spec]
    if not isinstance(spec, (list, tuple)) or not spec or not isinstance(spec[0], str):
        raise KernelError(f"recipe entry {spec!r}: write [layer_name, {{kwargs}}]")
    name, kwargs = spec[0], dict(spec[1]) if len(spec) > 1 else {}
    if name == "Residual":
        if set(kwargs) != {"block"}:
            raise KernelError(f"recipe Residual takes only 'block', got {sorted(kwargs)}")
        return residual(*[_layer(s) for s in kwargs["block"]])
    if name not in _LAYERS:
        raise KernelError(f"recipe layer {name!r} is unknown; known: "
                          f"{sorted(_LAYERS) + ['Residual']}")
    try:
        return _LAYERS[name](**kwargs)
    except TypeError as e:
        raise KernelError(f"recipe layer {name} got bad arguments {kwargs}: {e}") from None


def from_recipe(recipe: Union[str, Sequence]) -> Layer:
    """A network from a neural-tangents recipe (JSON text or the parsed list).

    Args:
      recipe: ``[[layer_name, {kwargs}], ...]``, e.g. the ``CASE/recipe`` strings of
        ``nt_reference.npz``.

    Returns:
      The :func:`serial` network.

    >>> net = from_recipe('[["Dense", {"out": 8, "W_std": 1.5}], ["Relu"], ["Dense", {"out": 1}]]')
    >>> [layer.name for layer in net.layers]
    ['Dense', 'Relu', 'Dense']
    """
    if isinstance(recipe, (str, bytes)):
        try:
            recipe = json.loads(recipe)
        except json.JSONDecodeError as e:
            raise KernelError(f"from_recipe: not valid JSON ({e})") from None
    if not isinstance(recipe, (list, tuple)):
        raise KernelError(f"from_recipe: expected a list of layers, got {type(recipe).__name__}")
    return serial(*[_layer(s) for s in recipe])
