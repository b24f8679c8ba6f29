"""A decoder split into its arrays and the rest, so that jitted solvers take the arrays
as arguments and key their compile cache on the rest.

A decoder is flattened as a pytree: a plain function is one non-array leaf, an NNX
module (a pytree in Flax NNX) has its parameters as array leaves, a
``jax.tree_util.Partial`` its bound arrays. The array leaves become jit arguments; the
tree structure and the other leaves form a hashable :class:`Static` key, passed as a
static argument. Two calls with the same function, or with modules of one structure,
then share one compiled program, and new parameter values are never baked in as
constants.

    >>> import jax, jax.numpy as jnp
    >>> static, arrays = split_decoder(jax.tree_util.Partial(jnp.multiply, jnp.ones(2)))
    >>> len(arrays), merge_decoder(static, arrays)(jnp.arange(2.0)).tolist()
    (1, [0.0, 1.0])
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from gendsl.errors import GeometryError


@dataclasses.dataclass(frozen=True)
class Static:
    """The non-array part of a decoder: a hashable jit cache key.

    Attributes:
      treedef: the decoder's pytree structure.
      leaves: its leaves, with None in place of each array leaf.
    """

    treedef: object
    leaves: tuple


def _is_array(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def split_decoder(g):
    """Splits a decoder into its static part and its array leaves.

    Args:
      g: a function, an NNX module, or any pytree that is callable once rebuilt.
    Returns:
      ``(static, arrays)``: a :class:`Static` and the list of array leaves (None where a
      leaf is not an array).
    Raises:
      GeometryError: if a non-array part of the decoder cannot be hashed.
    """
    leaves, treedef = jax.tree.flatten(g)
    arrays = [x if _is_array(x) else None for x in leaves]
    static = Static(treedef, tuple(None if _is_array(x) else x for x in leaves))
    try:
        hash(static)
    except TypeError as e:
        raise GeometryError(f"the decoder {g!r} holds an unhashable non-array part ({e}); "
                            "pass a plain function, an NNX module, or a pytree whose "
                            "non-array leaves are hashable") from None
    return static, arrays


def merge_decoder(static: Static, arrays):
    """Rebuilds the decoder :func:`split_decoder` split (inside a trace or outside).

    Args:
      static: the static part.
      arrays: the array leaves (or their tracers).
    Returns:
      The decoder.
    """
    leaves = [a if s is None else s for s, a in zip(static.leaves, arrays)]
    return jax.tree.unflatten(static.treedef, leaves)
