"""Primitives: objective building blocks with their own lowering rule.

A primitive is a Python function registered with :func:`primitive`. Calling the
decorated function with terms does not run it: it builds a :class:`PrimitiveCall` term.
When the compiler lowers the term it calls the rule:

* by default with every term argument already evaluated to an array (or a pytree), and
  every player argument turned into a pure function of its inputs that closes over the
  player's current parameters, so ``jax.grad`` through it reaches those parameters;
* with ``lazy=True`` the rule gets a lowering context first and the raw terms, for
  primitives that must evaluate a sub-term under changed inputs (inner maximisation,
  for example): ``ctx.eval(term)``, ``ctx.eval(term, {x: x + delta})``,
  ``ctx.apply(player, *values)``, ``ctx.key()``, ``ctx.record(name, value)``.

Other arguments (numbers, strings, kernels, functions) are static: they are part of the
program's text and fingerprint, never traced.

Example, a new primitive defined outside the package::

    @gd.primitive
    def energy_distance(real, fake):
        ...  # arrays in, scalar out

    objective = energy_distance(x, G(z))   # a Term
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

import numpy as np

from gendsl.errors import PrimitiveError
from gendsl.terms.player import Player
from gendsl.terms.term import Term


@dataclasses.dataclass(frozen=True, eq=False)
class Primitive:
    """A registered primitive: a name and a lowering rule.

    Attributes:
      name: the name shown in programs (defaults to the function's name).
      rule: the lowering rule (see the module docstring for its calling convention).
      lazy: whether the rule takes a context and unevaluated terms.
      needs_key: whether the rule takes a ``key=`` keyword (a fresh PRNG key).
      has_aux: whether the rule returns ``(value, {metric name: scalar})``.
    """

    name: str
    rule: Callable[..., Any]
    lazy: bool = False
    needs_key: bool = False
    has_aux: bool = False

    def __call__(self, *args: Any, **kwargs: Any) -> "PrimitiveCall":
        """Builds the term applying this primitive to ``args`` and ``kwargs``."""
        try:
            inspect.signature(self.rule).bind(
                *((None,) if self.lazy else ()), *args, **kwargs,
                **({"key": None} if self.needs_key else {}))
        except TypeError as e:
            raise PrimitiveError(f"{self.name}: {e}") from None
        return PrimitiveCall(self, tuple(args), tuple(sorted(kwargs.items())))

    def __repr__(self) -> str:
        return f"Primitive({self.name!r})"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class PrimitiveCall(Term):
    """A primitive applied to arguments; build it by calling a :class:`Primitive`."""

    primitive: Primitive
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]

    def children(self) -> tuple[Term, ...]:
        return tuple(v for v in (*self.args, *(v for _, v in self.kwargs)) if isinstance(v, Term))

    def players(self) -> tuple[Player, ...]:
        """Returns the players passed directly as arguments."""
        return tuple(v for v in (*self.args, *(v for _, v in self.kwargs))
                     if isinstance(v, Player))

    def render(self, show) -> str:
        parts = [render_static(a, show) for a in self.args]
        parts += [f"{k}={render_static(v, show)}" for k, v in self.kwargs]
        return f"{self.primitive.name}({', '.join(parts)})"


def render_static(value: Any, show: Callable[[Term], str]) -> str:
    """Renders a primitive argument as stable text (no memory addresses).

    >>> render_static(0.5, str)
    '0.5'
    """
    if isinstance(value, Term):
        return show(value)
    if isinstance(value, Player):
        return value.name
    if isinstance(value, (bool, int, float, str, type(None))):
        return repr(value)
    if isinstance(value, (tuple, list)):
        inner = ", ".join(render_static(v, show) for v in value)
        return f"({inner},)" if isinstance(value, tuple) and len(value) == 1 else (
            f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
    if isinstance(value, np.ndarray) or hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"array{tuple(value.shape)}"
    if callable(value) and hasattr(value, "__qualname__"):
        return value.__qualname__
    describe = getattr(value, "describe", None)
    if callable(describe):  # a spec with a short text of its own (kernel layers)
        return describe()
    text = repr(value)
    return type(value).__name__ if " at 0x" in text else text


def primitive(rule: Callable[..., Any] | None = None, *, name: str | None = None,
              lazy: bool = False, needs_key: bool = False,
              has_aux: bool = False) -> Any:
    """Registers a lowering rule as a primitive; usable bare or with options.

    Args:
      rule: the lowering rule. By default it receives evaluated arrays for term
        arguments and pure functions for player arguments; see the module docstring.
      name: the name shown in programs; defaults to ``rule.__name__``.
      lazy: pass a lowering context and raw terms instead of evaluated values.
      needs_key: pass a fresh PRNG key as the keyword argument ``key``.
      has_aux: the rule returns ``(value, metrics)``; scalar metrics are reported as
        ``<player>/<primitive name>/<metric>``.
    Returns:
      A :class:`Primitive`, which builds terms when called.

    >>> import jax.numpy as jnp
    >>> from gendsl.terms.sources import data
    >>> @primitive
    ... def sq_norm(x):
    ...     return jnp.sum(x ** 2, axis=-1)
    >>> sq_norm(data("x"))
    Term(sq_norm(x))
    """
    def register(fn: Callable[..., Any]) -> Primitive:
        prim = Primitive(name or fn.__name__, fn, lazy, needs_key, has_aux)
        for attr in ("__module__", "__qualname__", "__doc__"):  # docs and help() see the rule's
            object.__setattr__(prim, attr, getattr(fn, attr, None))
        object.__setattr__(prim, "__wrapped__", fn)
        return prim
    return register(rule) if rule is not None else register
