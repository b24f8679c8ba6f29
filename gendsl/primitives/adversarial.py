"""Adversarial risk: the loss under the worst perturbation of an input in an l_p ball.

``gd.losses.adversarial(loss, eps, norm)`` is the per-example term
``max_{||delta||_p <= eps} loss(x + delta)`` (Xing, Song & Cheng, AISTATS 2021), where
``x`` is a data field of the batch (``wrt``, ``"x"`` by default). Take its mean for the
adversarial risk: ``gd.mean(gd.losses.adversarial(gd.square(y - f(x)), 0.1, "inf"))``.

It is lowered one of two ways:

* ``method="closed_form"``, for a loss ``square(r)``, ``r ** 2`` or ``abs(r)`` of a
  residual ``r`` affine in ``x`` (a linear model, see
  :mod:`~gendsl.primitives.affine_terms`): ``r(x + delta) = r(x) + grad r . delta``, so

      max_{||delta||_p <= eps} r(x + delta)^2 = (|r(x)| + eps ||grad_x r||_q)^2,

  with ``1/p + 1/q = 1`` (for ``y - x . theta``: ``(|y - x . theta| + eps ||theta||_q)^2``).
  ``grad_x r`` is computed by autodiff, so any affine model works, biases included.
* ``method="pgd"``: ``steps`` steps of projected gradient ascent on ``delta`` (``p`` in
  {2, inf}; step size ``2.5 eps / steps`` unless given; from zero, or from a random point
  of the ball with ``random_start=True``), then the loss at ``x + delta`` with ``delta``
  held constant, so the players' gradient is that of the loss at the found perturbation
  (Danskin's theorem). For networks; a lower bound of the exact maximum.

``method="auto"`` (default) picks the closed form when it applies, else PGD; the chosen
method is part of the program's text.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp

from gendsl.errors import PrimitiveError
from gendsl.primitives.affine_terms import is_affine_in, reads, squared_or_absolute
from gendsl.primitives.dual_norm import abs_smooth_at_zero, dual_exponent, parse_norm, per_example_norm
from gendsl.primitives.pgd import pgd_maximize, random_start as draw_start
from gendsl.terms.primitive import primitive
from gendsl.terms.show import show_term
from gendsl.terms.sources import Data
from gendsl.terms.term import Term, as_term, walk

_METHODS = ("auto", "closed_form", "pgd")


def adversarial(loss: Any, eps: float, norm: Any = 2, *, wrt: Any = None, method: str = "auto",
                steps: int = 10, step_size: float | None = None, random_start: bool = False):
    """The loss at the worst perturbation of input ``wrt`` within ``||delta||_p <= eps``.

    Args:
      loss: a per-example loss term, e.g. ``gd.square(y - f(x))``.
      eps: the perturbation radius (``>= 0``).
      norm: ``p`` of the ball: a number ``>= 1`` or ``"inf"`` (PGD: 2 or inf).
      wrt: the perturbed data field (name or ``gd.data`` term); default ``"x"``, or
        the only field ``loss`` reads.
      method: ``"auto"``, ``"closed_form"`` (linear models) or ``"pgd"``.
      steps: PGD steps.
      step_size: PGD step size; default ``2.5 * eps / steps``.
      random_start: start PGD at a uniform point of the ball instead of zero.
    Returns:
      A term with the shape of ``loss`` (one worst-case loss per example).

    >>> import numpy as np, optax
    >>> from gendsl.terms.player import points
    >>> from gendsl.terms.sources import data
    >>> from gendsl.terms.ops import square
    >>> w = points("w", np.zeros(3), optax.sgd(0.1))
    >>> adversarial(square(data("y") - data("x") @ w()), 0.1, "inf")
    Term(adversarial(square(y - x @ w()), eps=0.1, method='closed_form', norm=inf, wrt='x'))
    """
    loss = as_term(loss)
    if not (isinstance(eps, numbers.Real) and not isinstance(eps, bool)
            and math.isfinite(eps) and eps >= 0):
        raise PrimitiveError(f"adversarial(loss, eps, norm): eps must be a finite number >= 0, "
                             f"got {eps!r}")
    p = parse_norm(norm)
    p = int(p) if p.is_integer() else p   # shown as norm=2, norm=inf
    field = _perturbed_field(loss, wrt)
    if method not in _METHODS:
        raise PrimitiveError(f"adversarial: method must be one of {_METHODS}, got {method!r}")
    closed = _closed_form_residual(loss, field)
    if method == "auto":
        method = "closed_form" if closed is not None else "pgd"
    if method == "closed_form":
        if closed is None:
            raise PrimitiveError(
                f"adversarial({show_term(loss)}): the closed form needs a loss square(r), "
                f"r ** 2 or abs(r) with r affine in {field!r} (a linear model: nnx.Linear, "
                "a module with is_affine = True, or x @ w()); use method='pgd' for networks")
        return _adversarial(loss, eps=float(eps), norm=p, wrt=field, method=method)
    if p not in (2.0, math.inf):
        raise PrimitiveError(f"adversarial({show_term(loss)}): PGD supports norm 2 or 'inf', "
                             f"got {norm!r}; other norms have the closed form for linear models")
    if not (isinstance(steps, numbers.Integral) and not isinstance(steps, bool) and steps >= 1):
        raise PrimitiveError(f"adversarial: steps must be an int >= 1, got {steps!r}")
    alpha = 2.5 * float(eps) / steps if step_size is None else float(step_size)
    if not alpha >= 0:
        raise PrimitiveError(f"adversarial: step_size must be >= 0, got {step_size!r}")
    return _adversarial(loss, eps=float(eps), norm=p, wrt=field, method=method, steps=int(steps),
                        step_size=alpha, random_start=bool(random_start))


def _perturbed_field(loss: Term, wrt: Any) -> str:
    fields = sorted({t.field for t in walk(loss) if isinstance(t, Data)})
    if isinstance(wrt, Data):
        wrt = wrt.field
    if wrt is None:
        if "x" in fields:
            return "x"
        if len(fields) == 1:
            return fields[0]
        raise PrimitiveError(f"adversarial({show_term(loss)}): which input is perturbed? The "
                             f"loss reads {fields}; pass wrt=<field>")
    if not isinstance(wrt, str) or wrt not in fields:
        raise PrimitiveError(f"adversarial({show_term(loss)}): wrt={wrt!r} is not a data field "
                             f"the loss reads ({fields})")
    return wrt


def _closed_form_residual(loss: Term, field: str) -> tuple[str, Term] | None:
    found = squared_or_absolute(loss)
    if found is None or not reads(found[1], field) or not is_affine_in(found[1], field):
        return None
    return found


def _isolated(ctx, *, detach: bool):
    """A view of ``ctx`` whose metrics go nowhere (evaluations inside jax.grad or a loop
    must not leak tracers into the objective's metrics), optionally without gradient
    to the players' parameters. ``ctx.eval(term, substitutions)`` builds its child
    context from the public ``params`` and ``records``, so a shallow copy with those
    two replaced is such a view."""
    inner = copy.copy(ctx)
    inner.records = {}
    if detach:
        inner.params = jax.lax.stop_gradient(ctx.params)
    return inner


@primitive(lazy=True, name="adversarial")
def _adversarial(ctx, loss, eps, norm, wrt, method, steps=None, step_size=None,
                 random_start=False):
    """Lowering of :func:`adversarial` (see the module docstring)."""
    inputs = [t for t in walk(loss) if isinstance(t, Data) and t.field == wrt]
    x = ctx.eval(inputs[0])
    at = lambda c, term, v: c.eval(term, {t: v for t in inputs})
    if method == "closed_form":
        kind, r_term = squared_or_absolute(loss)
        r = ctx.eval(r_term)
        n = jnp.shape(x)[0]
        if jnp.ndim(r) == 0 or jnp.size(r) != jnp.shape(r)[0] or jnp.shape(r)[0] != n:
            raise PrimitiveError(
                f"adversarial({show_term(loss)}): the closed form needs one residual per "
                f"example, shape ({n},) or ({n}, 1), but {show_term(r_term)} has shape "
                f"{jnp.shape(r)}; check that the model's output and the target broadcast "
                "to one value per example")
        inner = _isolated(ctx, detach=False)
        g = jax.grad(lambda v: jnp.sum(at(inner, r_term, v)))(x)
        worst = abs_smooth_at_zero(r) + eps * jnp.reshape(
            per_example_norm(g, dual_exponent(norm)), jnp.shape(r))
        return worst ** 2 if kind == "square" else worst
    inner = _isolated(ctx, detach=True)
    start = (draw_start(ctx.key(), jnp.shape(x), jnp.result_type(x), eps, norm)
             if random_start else jnp.zeros_like(x))
    delta = pgd_maximize(lambda d: jnp.sum(at(inner, loss, x + d)), start, eps, norm,
                         steps, step_size)
    return at(ctx, loss, x + jax.lax.stop_gradient(delta))
