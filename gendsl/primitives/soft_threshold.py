"""Soft-thresholding, the proximal operator of the L1 norm, as an optax transformation.

``proximal_l1(inner, weight)`` runs the optimizer ``inner`` and then replaces every
selected parameter ``p`` of the result by ``sign(p) * max(|p| - lr * weight, 0)``. With
``inner = optax.sgd(lr)`` this is the proximal gradient method (ISTA) for
``loss + weight * ||theta||_1``; coordinates whose gradient stays below ``weight`` in
magnitude become exactly zero. With an adaptive optimizer (Adam, ...) the threshold
still uses the scalar learning rate: a common heuristic, not an exact proximal method.

The step size ``lr`` is given, or read from the optimizer state when ``inner`` was built
with ``optax.inject_hyperparams`` (then a learning-rate schedule is followed step by
step). Written here because optax has no proximal wrapper for an arbitrary optimizer.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from gendsl.errors import PrimitiveError

_INJECTED = (optax.InjectHyperparamsState, optax.InjectStatefulHyperparamsState)


def soft_threshold(x: jax.Array, threshold: Any) -> jax.Array:
    """``sign(x) * max(|x| - threshold, 0)``, elementwise.

    >>> soft_threshold(jnp.array([-2.0, 0.5, 3.0]), 1.0).tolist()
    [-1.0, 0.0, 2.0]
    """
    return jnp.sign(x) * jnp.maximum(jnp.abs(x) - threshold, 0.0)


def selected(path: Any, only: str | None) -> bool:
    """Whether a parameter at ``path`` (a pytree key path) is penalised: all of them
    when ``only`` is None, else those whose path text contains ``only``."""
    return only is None or only in jax.tree_util.keystr(path)


def l1_norm(params: Any, only: str | None = None) -> jax.Array:
    """Sum of ``|p|`` over the selected parameters (see :func:`selected`).

    >>> float(l1_norm({"a": jnp.array([1.0, -2.0]), "b": jnp.array(3.0)}, only="a"))
    3.0
    """
    leaves = [jnp.sum(jnp.abs(p)) for path, p in jax.tree_util.tree_flatten_with_path(params)[0]
              if selected(path, only)]
    return sum(leaves, jnp.zeros(()))


def injected_learning_rate(state: Any) -> jax.Array | None:
    """The ``learning_rate`` of the one ``optax.inject_hyperparams`` state inside an
    optimizer state (the rate used by the latest update), or None if there is none.

    Raises:
      PrimitiveError: several injected learning rates (which one is meant is unclear).
    """
    found = [n.hyperparams["learning_rate"] for n in jax.tree.leaves(
        state, is_leaf=lambda n: isinstance(n, _INJECTED))
        if isinstance(n, _INJECTED) and "learning_rate" in n.hyperparams]
    if len(found) > 1:
        raise PrimitiveError(
            f"the optimizer state holds {len(found)} injected learning rates; pass the "
            "proximal step size explicitly (lr=...)")
    return found[0] if found else None


def proximal_l1(inner: optax.GradientTransformation, weight: float, *, lr: float | None = None,
                only: str | None = None, owner: str = "the player"
                ) -> optax.GradientTransformationExtraArgs:
    """``inner``'s step followed by soft-thresholding at ``lr * weight``.

    Args:
      inner: the optimizer (any optax transformation).
      weight: the L1 weight (``>= 0``).
      lr: the step size of the proximal step; None reads the learning rate injected
        with ``optax.inject_hyperparams`` from ``inner``'s state.
      only: penalise only parameters whose path contains this text (e.g. ``"kernel"``).
      owner: the player's name, for error messages.
    Returns:
      An optax transformation with the same state as ``inner``; its ``update`` needs
      ``params``.

    >>> tx = proximal_l1(optax.sgd(0.5), 1.0, lr=0.5)
    >>> p = jnp.array([2.0, 0.2, -1.0]); s = tx.init(p)
    >>> u, s = tx.update(jnp.array([1.0, 0.0, 0.0]), s, p)
    >>> optax.apply_updates(p, u).tolist()   # sgd: [1.5, 0.2, -1.0]; threshold 0.5
    [1.0, 0.0, -0.5]
    """
    def init(params):
        state = inner.init(params)
        if lr is None and injected_learning_rate(state) is None:
            raise PrimitiveError(
                f"the L1 penalty of {owner!r} needs the optimizer's step size: pass "
                "lr=... to gd.losses.l1, or build the optimizer with optax.inject_hyperparams, "
                "e.g. optax.inject_hyperparams(optax.sgd)(learning_rate=0.1) (a Python float "
                "or a schedule: optax leaves numpy scalars uninjected)")
        return state

    def update(updates, state, params=None, **extra):
        if params is None:
            raise PrimitiveError(f"the L1 proximal step of {owner!r} needs the parameters")
        updates, state = optax.with_extra_args_support(inner).update(
            updates, state, params, **extra)
        step = lr if lr is not None else injected_learning_rate(state)
        new = optax.apply_updates(params, updates)
        new = jax.tree_util.tree_map_with_path(
            lambda path, p: soft_threshold(p, step * weight) if selected(path, only) else p, new)
        # new - params: params + (new - params) is exactly 0 where new is 0
        return jax.tree.map(lambda n, p: n - p, new, params), state

    return optax.GradientTransformationExtraArgs(init, update)
