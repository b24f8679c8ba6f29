"""Elementary term functions: reductions, pointwise maths and gradient control.

Each is a :func:`~gendsl.terms.primitive.primitive` over ``jax.numpy``, so programs
print them by name (``mean(...)``) and new ones are added the same way.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gendsl.errors import ProgramError
from gendsl.terms.primitive import primitive
from gendsl.terms.term import Named, Term, as_term


@primitive
def mean(x, axis=None):
    """Mean of a term (over all axes by default), e.g. ``gd.mean(D(x))``."""
    return jnp.mean(x, axis=axis)


@primitive(name="sum")
def sum_(x, axis=None):
    """Sum of a term (over all axes by default)."""
    return jnp.sum(x, axis=axis)


@primitive
def stop_gradient(x):
    """The term's value with no gradient flowing back through it."""
    return jax.lax.stop_gradient(x)


@primitive
def log(x):
    """Natural logarithm."""
    return jnp.log(x)


@primitive
def exp(x):
    """Exponential."""
    return jnp.exp(x)


@primitive
def sqrt(x):
    """Square root."""
    return jnp.sqrt(x)


@primitive
def square(x):
    """Elementwise square."""
    return jnp.square(x)


@primitive(name="abs")
def abs_(x):
    """Elementwise absolute value."""
    return jnp.abs(x)


@primitive
def softplus(x):
    """``log(1 + exp(x))``, computed stably."""
    return jax.nn.softplus(x)


@primitive
def sigmoid(x):
    """Logistic sigmoid."""
    return jax.nn.sigmoid(x)


@primitive
def sq_norm(x):
    """Per-example squared Euclidean norm: sums every axis but the first."""
    return jnp.sum(jnp.square(x), axis=tuple(range(1, jnp.ndim(x))))


def named(name: str, term) -> Named:
    """Gives a sub-term a name: it prints by name and, when scalar, is reported as a
    metric ``<player>/<name>`` each step.

    Args:
      name: an identifier.
      term: the sub-term (or a number).
    Returns:
      A :class:`~gendsl.terms.term.Named` term.

    >>> from gendsl.terms.sources import data
    >>> named("real_mean", mean(data("x")))
    Term(real_mean)
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ProgramError(f"named(name, term): name must be an identifier, got {name!r}")
    return Named(name, as_term(term))


__all__ = ["mean", "sum_", "stop_gradient", "log", "exp", "sqrt", "square", "abs_",
           "softplus", "sigmoid", "sq_norm", "named", "Term"]
