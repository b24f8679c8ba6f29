"""Typed PRNG keys in and out of checkpoints.

A train state holds typed keys (``jax.random.key``). We store their raw key data
(``jax.random.key_data``, plain ``uint32`` arrays) and the name of each key's PRNG
implementation, and wrap the data back with ``jax.random.wrap_key_data`` on restore.
Doing this ourselves rather than relying on a checkpoint library's own key support keeps
checkpoints readable by any array reader and independent of the Orbax version.
"""

from __future__ import annotations

from typing import Any

import jax

from gendsl.errors import CheckpointError


def is_key(leaf: Any) -> bool:
    """Whether ``leaf`` (an array or a ``jax.ShapeDtypeStruct``) is a typed PRNG key.

    >>> import jax
    >>> is_key(jax.random.key(0)), is_key(jax.numpy.zeros(2))
    (True, False)
    """
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def keys_to_data(tree: Any) -> tuple[Any, dict[str, str]]:
    """Replaces every typed key in ``tree`` by its key data.

    Args:
      tree: a pytree of arrays, some of which may be typed PRNG keys.

    Returns:
      ``(tree, impls)``: the tree with keys replaced by ``uint32`` key data, and
      ``{key path: PRNG implementation name}`` for every replaced leaf.

    >>> import jax
    >>> data, impls = keys_to_data({"k": jax.random.key(0)})
    >>> data["k"].dtype, impls
    (dtype('uint32'), {"['k']": 'threefry2x32'})
    """
    impls: dict[str, str] = {}

    def convert(path, leaf):
        if not is_key(leaf):
            return leaf
        impls[jax.tree_util.keystr(path)] = str(jax.random.key_impl(leaf))
        return jax.random.key_data(leaf)

    return jax.tree_util.tree_map_with_path(convert, tree), impls


def abstract_keys_to_data(abstract: Any) -> Any:
    """The abstract (``ShapeDtypeStruct``) tree of ``keys_to_data(tree)[0]``.

    Key leaves become ``uint32`` structs with the key's sharding; other leaves are kept.
    """

    def convert(leaf):
        if not is_key(leaf):
            return leaf
        data = jax.eval_shape(jax.random.key_data, leaf)
        sharding = getattr(leaf, "sharding", None)
        return jax.ShapeDtypeStruct(data.shape, data.dtype, sharding=sharding)

    return jax.tree.map(convert, abstract)


def data_to_keys(tree: Any, abstract: Any, impls: dict[str, str]) -> Any:
    """Wraps the key data in ``tree`` back into typed keys where ``abstract`` has keys.

    Args:
      tree: a restored tree (key leaves hold raw key data).
      abstract: the abstract tree the state must have (typed key leaves included).
      impls: ``{key path: PRNG implementation name}`` saved with the checkpoint.

    Returns:
      ``tree`` with typed keys at the key leaves of ``abstract``.

    Raises:
      CheckpointError: a key was saved with another PRNG implementation, or not at all.
    """

    def convert(path, leaf, expected):
        if not is_key(expected):
            return leaf
        name = jax.tree_util.keystr(path)
        if name not in impls:
            raise CheckpointError(
                f"The checkpoint has no PRNG key at {name} but the program's state does; "
                "the checkpoint was written by another program: use another run directory."
            )
        key = jax.random.wrap_key_data(leaf, impl=impls[name])
        if key.dtype != expected.dtype:
            raise CheckpointError(
                f"The PRNG key at {name} was saved as {key.dtype} but the program uses "
                f"{expected.dtype}; use the same jax_default_prng_impl as the saved run."
            )
        return key

    return jax.tree_util.tree_map_with_path(convert, tree, abstract)
