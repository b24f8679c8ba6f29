"""Terms: the immutable expressions objectives are built from.

A :class:`Term` describes a computation without running it. Terms compose with Python
arithmetic (``+ - * / ** @``, unary ``-``), indexing (``t[0]`` picks an output of a
player that returns a tuple) and the functions of :mod:`gendsl.terms.ops`. Nothing is
evaluated until the compiler lowers a program inside ``jax.jit``, so a term costs
nothing per step.

Terms are frozen dataclasses compared by identity: reusing one Python object (``fake =
G(z)`` used in two objectives) means "the same value", and the lowering evaluates it
once per objective evaluation.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import numpy as np

_BINARY_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "pow": "**", "matmul": "@"}
_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "truediv": 2, "matmul": 2, "neg": 3, "pow": 4}


class Term:
    """Base class of every term. Subclasses are frozen dataclasses with ``eq=False``."""

    def children(self) -> tuple["Term", ...]:
        """Returns the direct sub-terms of this term (used by traversals)."""
        return ()

    def render(self, show: "Any") -> str:
        """Returns this term as math-like text; ``show`` renders sub-terms."""
        raise NotImplementedError

    precedence: int = 10  # atoms bind tightest

    # -- arithmetic ------------------------------------------------------------------
    def __add__(self, other): return BinaryOp("add", self, as_term(other))
    def __radd__(self, other): return BinaryOp("add", as_term(other), self)
    def __sub__(self, other): return BinaryOp("sub", self, as_term(other))
    def __rsub__(self, other): return BinaryOp("sub", as_term(other), self)
    def __mul__(self, other): return BinaryOp("mul", self, as_term(other))
    def __rmul__(self, other): return BinaryOp("mul", as_term(other), self)
    def __truediv__(self, other): return BinaryOp("truediv", self, as_term(other))
    def __rtruediv__(self, other): return BinaryOp("truediv", as_term(other), self)
    def __pow__(self, other): return BinaryOp("pow", self, as_term(other))
    def __rpow__(self, other): return BinaryOp("pow", as_term(other), self)
    def __matmul__(self, other): return BinaryOp("matmul", self, as_term(other))
    def __rmatmul__(self, other): return BinaryOp("matmul", as_term(other), self)
    def __neg__(self): return Neg(self)
    def __pos__(self): return self

    def __getitem__(self, index) -> "Index":
        return Index(self, index)

    def __bool__(self):
        raise TypeError(
            "a gendsl Term has no truth value: it is a description of a computation. "
            "Use jnp.where inside a primitive for data-dependent choices.")

    def __repr__(self) -> str:
        return f"Term({show_term(self)})"


def show_term(term: Term) -> str:
    """Returns the one-line text of a term (named sub-terms appear by name).

    Args:
      term: any term.
    Returns:
      Math-like text, stable across processes.

    >>> from gendsl.terms.sources import data
    >>> show_term(2.0 * data("x") + 1.0)
    '2.0 * x + 1.0'
    """
    return term.render(show_term)


def as_term(value: Any) -> Term:
    """Returns ``value`` as a term: terms pass through, numbers and arrays become
    :class:`Const`.

    An object that stands for something else in a program (a player) converts itself
    through the hook ``type(value).__gendsl_term__(value)``, which returns a term or
    raises a :class:`gendsl.errors.GendslError` saying how to use it.

    Args:
      value: a term, a number, an array, or an object with the hook.
    Returns:
      A :class:`Term`.

    >>> as_term(2.0)
    Term(2.0)
    """
    if isinstance(value, Term):
        return value
    hook = getattr(type(value), "__gendsl_term__", None)
    if hook is not None:
        return hook(value)
    return Const(value)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Const(Term):
    """A constant number or array."""

    value: Any

    def render(self, show) -> str:
        v = self.value
        if isinstance(v, (bool, int, float)):
            return repr(v)
        a = np.asarray(v)
        if a.ndim == 0:
            return repr(a.item())
        return f"array{tuple(a.shape)}"

    @property
    def precedence(self) -> int:  # negative literals need parentheses under * and **
        v = self.value
        return 3 if isinstance(v, (int, float)) and v < 0 else 10


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class BinaryOp(Term):
    """``left op right`` for one of ``add sub mul truediv pow matmul``."""

    op: str
    left: Term
    right: Term

    def children(self): return (self.left, self.right)

    @property
    def precedence(self) -> int: return _PRECEDENCE[self.op]

    def render(self, show) -> str:
        p = self.precedence
        left, right = show(self.left), show(self.right)
        # left-assoc operators: parenthesise the right operand at equal precedence;
        # ** is right-assoc: parenthesise the left operand at equal precedence.
        if self.left.precedence < p or (self.op == "pow" and self.left.precedence == p):
            left = f"({left})"
        if self.right.precedence < p or (self.op != "pow" and self.right.precedence == p
                                         and self.op in ("sub", "truediv", "matmul")):
            right = f"({right})"
        sym = _BINARY_SYMBOLS[self.op]
        return f"{left}{sym}{right}" if self.op == "pow" else f"{left} {sym} {right}"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Neg(Term):
    """``-operand``."""

    operand: Term
    precedence = 3

    def children(self): return (self.operand,)

    def render(self, show) -> str:
        s = show(self.operand)
        return f"-({s})" if self.operand.precedence <= 3 else f"-{s}"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Index(Term):
    """``operand[index]``: one output of a term whose value is a tuple or an array."""

    operand: Term
    index: Any

    def children(self): return (self.operand,)

    def render(self, show) -> str:
        s = show(self.operand)
        if self.operand.precedence < 10:
            s = f"({s})"
        return f"{s}[{_render_index(self.index)}]"


def _render_index(index) -> str:
    if isinstance(index, tuple):
        return ", ".join(_render_index(i) for i in index)
    if isinstance(index, slice):
        parts = ["" if v is None else str(v) for v in (index.start, index.stop, index.step)]
        return ":".join(parts[:2] if index.step is None else parts)
    if index is Ellipsis:
        return "..."
    return repr(index)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Named(Term):
    """A named sub-term: rendered by name, and reported as a metric when scalar."""

    name: str
    term: Term

    def children(self): return (self.term,)

    def render(self, show) -> str:
        return self.name


def walk(term: Term) -> Iterator[Term]:
    """Yields ``term`` and all its sub-terms, each object once, parents first.

    >>> from gendsl.terms.term import Const
    >>> t = Const(1.0) + Const(2.0)
    >>> len(list(walk(t)))
    3
    """
    seen: set[int] = set()
    stack = [term]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        yield t
        stack.extend(reversed(t.children()))
