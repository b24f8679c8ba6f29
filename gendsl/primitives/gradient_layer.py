"""The gradient layer (Nitanda & Suzuki, AISTATS 2018): move samples up D's logit.

``gd.gradient_layer(D, x, eta)`` is the map ``x -> x + eta * grad_x d(x)``, where ``d`` is
the discriminator's logit (``D``'s output). It is the paper's functional-gradient step
for the **KL variant**: the objective is ``KL(p_g || p_data)``, whose first variation at
``p_g`` is ``log(p_g / p_data)``; with the optimal discriminator of the non-saturating
GAN, ``D*(x) = sigmoid(d*(x))`` with ``d*(x) = log(p_data(x) / p_g(x))``, so the
functional gradient of the objective with respect to the sample map is
``-grad_x d*(x)`` and one descent step of size ``eta`` is this layer. A trained ``D``
stands in for ``D*`` (see docs/gradient_layer.md for the derivation and the
departures).

* ``D`` is a player; its parameters are under ``stop_gradient``: nothing that goes
  through the layer trains ``D``. The layer stays differentiable in ``x`` (its Jacobian
  is ``I + eta * Hessian d``), so a generator under it can still be trained through it.
* The gradient is taken of ``sum_i d(x_i)``: for a per-sample network (no batch
  statistics: no ``BatchNorm`` in training mode) that is every sample's own gradient
  ``grad d(x_i)``, at the cost of one backward pass.
* ``steps=T`` applies the layer ``T`` times with the same ``D``: ``T`` Euler steps of
  the gradient flow ``dx/dt = grad d(x)`` up to time ``T * eta``.

>>> import numpy as np, optax
>>> from gendsl.terms.player import points
>>> X = points("X", np.zeros((4, 2)), optax.sgd(1.0))
>>> D = points("D", np.zeros(2), optax.sgd(1.0))
>>> gradient_layer(D, X(), 0.1, steps=2)
Term(gradient_layer(D, X(), eta=0.1, steps=2))
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp

from gendsl.errors import PrimitiveError
from gendsl.terms.player import Player
from gendsl.terms.primitive import primitive
from gendsl.terms.term import as_term


def gradient_layer(D: Player, x: Any, eta: float, *, steps: int = 1):
    """The samples ``x`` moved ``steps`` times by ``x + eta * grad_x D(x)``.

    Args:
      D: the discriminator, a player whose output is a logit per sample (shape ``(n,)``
        or ``(n, 1)``); its parameters get no gradient through the layer.
      x: the samples, a term with a leading batch axis (``G(z)``, ``X()``).
      eta: the step size, a finite number (``> 0`` moves towards the data; ``0`` is the
        identity).
      steps: how many times the layer is applied (an int ``>= 1``).
    Returns:
      A term with the shape of ``x``.
    Raises:
      PrimitiveError: ``D`` is not a player, or ``eta`` / ``steps`` are malformed.
    """
    if not isinstance(D, Player):
        raise PrimitiveError(f"gradient_layer(D, x, eta): D must be a player (the "
                             f"discriminator), got {type(D).__name__}")
    check_step(eta, steps, "gradient_layer")
    return _gradient_layer(D, as_term(x), eta=float(eta), steps=int(steps))


def check_step(eta: Any, steps: Any, where: str) -> None:
    """Raises PrimitiveError unless ``eta`` is a finite number and ``steps`` an int >= 1."""
    if isinstance(eta, bool) or not isinstance(eta, numbers.Real) or not math.isfinite(eta):
        raise PrimitiveError(f"{where}: eta must be a finite number (the step size, e.g. "
                             f"0.05), got {eta!r}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise PrimitiveError(f"{where}: steps must be an int >= 1, got {steps!r}")


def ascend(logit: Callable[[jax.Array], jax.Array], x: jax.Array, eta: float,
           steps: int = 1) -> jax.Array:
    """``steps`` gradient-layer steps ``x + eta * grad (sum d)(x)`` for a logit function.

    Args:
      logit: ``x -> d(x)``, one logit per sample.
      x: the samples ``(n, ...)``.
      eta: the step size.
      steps: how many steps.
    Returns:
      The moved samples, same shape as ``x``.
    """
    grad = jax.grad(lambda v: jnp.sum(logit(v)))
    for _ in range(steps):
        x = x + eta * grad(x)
    return x


@primitive(lazy=True, name="gradient_layer")
def _gradient_layer(ctx, D, x, eta, steps):
    """Lowering of :func:`gradient_layer`: D applied with stop-gradient parameters."""
    if D.name not in ctx.params:
        raise PrimitiveError(f"gradient_layer: player {D.name!r} is not part of this "
                             "program; list it in frozen=[...] or give it an objective")
    inner = copy.copy(ctx)  # a view whose D parameters carry no gradient
    inner.params = {**ctx.params, D.name: jax.lax.stop_gradient(ctx.params[D.name])}
    value = ctx.eval(x)
    logit = lambda v: _logits(inner.apply(D, v), D.name, jnp.shape(value)[0])
    return ascend(logit, value, eta, steps)


def _logits(out: Any, name: str, n: int) -> jax.Array:
    if jnp.size(out) != n:
        raise PrimitiveError(
            f"gradient_layer: discriminator {name!r} returned shape {jnp.shape(out)} on {n} "
            "samples; it must return one logit per sample, shape (n,) or (n, 1)")
    return out
