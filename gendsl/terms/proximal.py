"""Proximal primitives: penalties handled by an optimizer transformation, not a gradient.

A non-smooth penalty such as ``weight * ||theta||_1`` is best minimised by a proximal
step after the optimizer's gradient step (soft-thresholding gives exact zeros; a
subgradient step never does). A :class:`ProximalPrimitive` is a primitive whose value is
reported in the objective (without gradient) and whose effect is a wrapper around the
penalised player's optax optimizer, installed by the compiler.

For that to be the proximal step of the objective, the penalty must enter its player's
objective linearly: as a summand, possibly scaled by non-negative constants
(``loss + 0.5 * l1(P, w)``). :func:`proximal_terms` finds each such term with its
coefficient and refuses any other position (under ``mean``, ``square``, a product with a
non-constant term, in another player's objective) naming the term at fault.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from gendsl.errors import PrimitiveError
from gendsl.terms.player import Player
from gendsl.terms.primitive import Primitive, PrimitiveCall
from gendsl.terms.show import show_term
from gendsl.terms.term import BinaryOp, Const, Named, Neg, Term, walk

WrapOptimizer = Callable[..., Any]


@dataclasses.dataclass(frozen=True, eq=False)
class ProximalPrimitive(Primitive):
    """A lazy primitive whose first argument is the player it penalises.

    Attributes:
      wrap_optimizer: ``(inner, scale, *args, **kwargs) -> optax.GradientTransformation``:
        the penalised player's optimizer ``inner`` followed by the proximal step of
        ``scale`` times the penalty (``args``/``kwargs`` are the call's arguments,
        the player first). The compiler installs it for the player.
    """

    wrap_optimizer: WrapOptimizer | None = None


def proximal(wrap_optimizer: WrapOptimizer, *, name: str | None = None) -> Callable:
    """Registers a lazy rule (the penalty's reported value) as a proximal primitive.

    Args:
      wrap_optimizer: see :class:`ProximalPrimitive`.
      name: the name shown in programs; defaults to the rule's name.
    Returns:
      A decorator turning ``rule(ctx, player, ...)`` into a :class:`ProximalPrimitive`.
    """
    def register(fn: Callable) -> ProximalPrimitive:
        prim = ProximalPrimitive(name or fn.__name__, fn, lazy=True,
                                 wrap_optimizer=wrap_optimizer)
        for attr in ("__module__", "__qualname__", "__doc__"):
            object.__setattr__(prim, attr, getattr(fn, attr, None))
        object.__setattr__(prim, "__wrapped__", fn)
        return prim
    return register


def is_proximal(term: Term) -> bool:
    """Whether ``term`` applies a :class:`ProximalPrimitive`."""
    return isinstance(term, PrimitiveCall) and isinstance(term.primitive, ProximalPrimitive)


def penalised_player(call: PrimitiveCall) -> Player:
    """The player a proximal term penalises (its first argument)."""
    player = call.args[0] if call.args else None
    if not isinstance(player, Player):
        raise PrimitiveError(f"{show_term(call)}: the first argument must be the player "
                             f"it penalises, got {type(player).__name__}")
    return player


def proximal_terms(objective: Term, owner: Player) -> list[tuple[float, PrimitiveCall]]:
    """Returns the proximal terms of ``owner``'s objective with their coefficients.

    Args:
      objective: the objective term of player ``owner``.
      owner: the player minimising it.
    Returns:
      ``[(coefficient, call), ...]``, one entry per distinct term object; the
      coefficient is the constant factor with which the term enters the objective
      (a term used twice counts twice).
    Raises:
      PrimitiveError: a proximal term penalises another player, enters non-linearly,
        or with a negative coefficient.

    >>> import numpy as np, optax
    >>> from gendsl.terms.player import points
    >>> from gendsl.primitives.l1 import l1
    >>> w = points("w", np.zeros(3), optax.sgd(0.1))
    >>> [(c, show_term(t)) for c, t in proximal_terms(2.0 * l1(w, 0.5) + 1.0, w)]
    [(2.0, 'l1(w, 0.5)')]
    """
    calls = [t for t in walk(objective) if is_proximal(t)]
    out = []
    for call in calls:
        player = penalised_player(call)
        if player is not owner:
            raise PrimitiveError(
                f"{show_term(call)} is in the objective of {owner.name!r} but penalises "
                f"player {player.name!r}: a proximal penalty acts through the optimizer of "
                f"the player it penalises; move it to {player.name!r}'s objective")
        coef = _coefficient(objective, call)
        if coef < 0:
            raise PrimitiveError(
                f"{show_term(call)} enters the objective of {owner.name!r} with coefficient "
                f"{coef}; a proximal penalty must be added with a non-negative weight")
        out.append((coef, call))
    return out


class _NonLinear(Exception):
    def __init__(self, where: Term):
        self.where = where


def _coefficient(root: Term, target: Term) -> float:
    try:
        return _linear(root, target)
    except _NonLinear as e:
        raise PrimitiveError(
            f"{show_term(target)} must enter its player's objective as a summand scaled "
            f"by constants (e.g. loss + 0.1 * {show_term(target)}), but it appears inside "
            f"{show_term(e.where)}") from None


def _contains(t: Term, target: Term) -> bool:
    return any(s is target for s in walk(t))


def _number(t: Term) -> float | None:
    if isinstance(t, Const) and isinstance(t.value, (int, float)) and not isinstance(t.value, bool):
        return float(t.value)
    return None


def _linear(t: Term, target: Term) -> float:
    """The coefficient of ``target`` in ``t``, or _NonLinear where it is not linear."""
    if t is target:
        return 1.0
    if not _contains(t, target):
        return 0.0
    if isinstance(t, Named):
        return _linear(t.term, target)
    if isinstance(t, Neg):
        return -_linear(t.operand, target)
    if isinstance(t, BinaryOp):
        if t.op == "add":
            return _linear(t.left, target) + _linear(t.right, target)
        if t.op == "sub":
            return _linear(t.left, target) - _linear(t.right, target)
        left, right = _number(t.left), _number(t.right)
        if t.op == "mul" and left is not None:
            return left * _linear(t.right, target)
        if t.op == "mul" and right is not None:
            return right * _linear(t.left, target)
        if t.op == "truediv" and right is not None and right != 0:
            return _linear(t.left, target) / right
    raise _NonLinear(t)
