"""The L1 penalty ``weight * ||theta||_1`` of a player, minimised by soft-thresholding.

``gd.losses.l1(P, weight)`` is a proximal term: its value ``weight * sum |p|`` is part of the
objective (reported, without gradient), and the compiler follows ``P``'s optimizer
step with the soft-thresholding step of :func:`~gendsl.primitives.soft_threshold.proximal_l1`
at ``lr * coefficient * weight``, where ``coefficient`` is the constant the term is
scaled by in the objective. Several L1 terms of one player add up exactly (two
soft-thresholds compose into one with the summed threshold).

The proximal step happens where a solver applies the player's optimizer:
``gd.minimize``, ``gd.simultaneous``, ``gd.alternating`` and ODE solvers with
``use_optimizers=True``; plain ODE integration has no optimizer step and is refused.
"""

from __future__ import annotations

import math
import numbers

import jax

from gendsl.errors import PrimitiveError
from gendsl.primitives.soft_threshold import l1_norm, proximal_l1
from gendsl.terms.player import Player
from gendsl.terms.proximal import proximal


def _real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _wrap(inner, scale, player, weight, lr=None, only=None):
    return proximal_l1(inner, scale * weight, lr=lr, only=only, owner=player.name)


@proximal(_wrap, name="l1")
def _l1(ctx, player, weight, lr=None, only=None):
    """``weight * ||params||_1`` of ``player`` (no gradient: the proximal step minimises it)."""
    return jax.lax.stop_gradient(weight * l1_norm(ctx.params[player.name], only))


def l1(player: Player, weight: float, *, lr: float | None = None, only: str | None = None):
    """The L1 penalty ``weight * ||theta||_1`` of ``player``, with exact zeros.

    Add it to the player's own objective (``loss + gd.losses.l1(P, 0.01)``). The compiler
    then follows each optimizer step of ``P`` by ``p <- sign(p) max(|p| - lr * weight, 0)``.

    Args:
      player: the penalised player (its objective must contain this term).
      weight: the L1 weight, ``>= 0``.
      lr: the proximal step size (the optimizer's learning rate); None reads it from
        an optimizer built with ``optax.inject_hyperparams``.
      only: penalise only parameters whose path contains this text (e.g. ``"kernel"``
        of an ``nnx.Linear``, to leave its bias free); None penalises all.
    Returns:
      A term whose value is ``weight * ||theta||_1`` (without gradient).

    >>> import numpy as np, optax
    >>> from gendsl.terms.player import points
    >>> w = points("w", np.zeros(3), optax.sgd(0.1))
    >>> l1(w, 0.5, lr=0.1)
    Term(l1(w, 0.5, lr=0.1))
    """
    if not isinstance(player, Player):
        raise PrimitiveError(f"gd.losses.l1(player, weight): player must be a gendsl player, got "
                             f"{type(player).__name__}")
    if not (_real(weight) and math.isfinite(weight) and weight >= 0):
        raise PrimitiveError(f"gd.losses.l1({player.name}, weight): weight must be a finite number "
                             f">= 0, got {weight!r}")
    if lr is not None and not (_real(lr) and math.isfinite(lr) and lr > 0):
        raise PrimitiveError(f"gd.losses.l1({player.name}, ...): lr must be a positive number, got {lr!r}")
    if only is not None and not isinstance(only, str):
        raise PrimitiveError(f"gd.losses.l1({player.name}, ...): only must be text (part of a "
                             f"parameter path, e.g. 'kernel'), got {only!r}")
    kwargs = {k: v for k, v in (("lr", None if lr is None else float(lr)), ("only", only))
              if v is not None}
    return _l1(player, float(weight), **kwargs)
