"""Which terms are affine in a data field: the linear-model case of adversarial risk.

A term is affine in field ``x`` when it is built from ``x`` by sums, differences,
negation, indexing, scaling by (and matrix products with) terms that do not read ``x``,
``mean``/``sum``, and players whose module is affine in its input (``nnx.Linear``, or a
module with a true ``is_affine`` attribute). Then ``r(x + delta) = r(x) + grad r . delta``
exactly, and worst-case perturbations have a closed form.
"""

from __future__ import annotations

from typing import Any

from flax import nnx

from gendsl.terms import ops
from gendsl.terms.player import Apply, Player, Points
from gendsl.terms.primitive import PrimitiveCall
from gendsl.terms.sources import Data
from gendsl.terms.term import BinaryOp, Const, Index, Named, Neg, Term, walk

_LINEAR_PRIMITIVES = (ops.mean, ops.sum_)


def reads(term: Term, field: str) -> bool:
    """Whether ``term`` reads the data field ``field``."""
    return any(isinstance(t, Data) and t.field == field for t in walk(term))


def is_affine_module(player: Player) -> bool:
    """Whether ``player``'s module is affine in its input: an ``nnx.Linear`` or a module
    declaring ``is_affine = True`` (factories are built abstractly to find out)."""
    if isinstance(player, Points):
        return False
    module: Any = player.module
    if not isinstance(module, nnx.Module):
        module = nnx.eval_shape(lambda: player.module(nnx.Rngs(0)))
    return isinstance(module, nnx.Linear) or getattr(module, "is_affine", False) is True


def is_affine_in(term: Term, field: str) -> bool:
    """Whether ``term`` is an affine function of the data field ``field``.

    >>> from gendsl.terms.sources import data
    >>> x, y = data("x"), data("y")
    >>> is_affine_in(y - 2.0 * x, "x"), is_affine_in(y - x * x, "x")
    (True, False)
    """
    if not reads(term, field):
        return True
    if isinstance(term, Data):
        return True
    if isinstance(term, (Neg, Index, Named)):
        return is_affine_in(term.children()[0], field)
    if isinstance(term, BinaryOp):
        left, right = term.left, term.right
        if term.op in ("add", "sub"):
            return is_affine_in(left, field) and is_affine_in(right, field)
        if term.op in ("mul", "matmul"):
            return ((not reads(left, field) and is_affine_in(right, field))
                    or (not reads(right, field) and is_affine_in(left, field)))
        if term.op == "truediv":
            return not reads(right, field) and is_affine_in(left, field)
        return False
    if isinstance(term, Apply):
        return (term.method is None and is_affine_module(term.player)
                and all(is_affine_in(a, field) for a in term.args))
    if isinstance(term, PrimitiveCall) and term.primitive in _LINEAR_PRIMITIVES:
        return all(is_affine_in(a, field) for a in term.children())
    return False


def squared_or_absolute(loss: Term) -> tuple[str, Term] | None:
    """``("square", r)`` for ``square(r)`` or ``r ** 2``, ``("abs", r)`` for ``abs(r)``,
    else None."""
    while isinstance(loss, Named):
        loss = loss.term
    if isinstance(loss, PrimitiveCall) and len(loss.args) == 1 and not loss.kwargs:
        if loss.primitive is ops.square:
            return "square", loss.args[0]
        if loss.primitive is ops.abs_:
            return "abs", loss.args[0]
    if (isinstance(loss, BinaryOp) and loss.op == "pow" and isinstance(loss.right, Const)
            and not isinstance(loss.right.value, bool) and loss.right.value == 2):
        return "square", loss.left
    return None
