"""Connecting geodesics: minimising a curve's energy over its free parameters with optax.

``minimize_energy`` is pure and traceable (a ``lax.while_loop`` that stops after
``steps`` updates or once every gradient entry is below ``tol``, as stochman's
``geodesic_minimizing_energy`` does), so it vmaps over pairs of points
(:func:`gendsl.geometry.distances.geodesic_distances`); :func:`geodesic` is its jitted
front door. The default optimizer is L-BFGS with a zoom line search
(``optax.lbfgs``), which reaches machine-precision stationarity in tens of steps on
these smooth problems; any optax transformation works (``optax.adam(1e-2)`` is
stochman's choice).

:func:`geodesic` splits the decoder into its arrays and the rest
(:mod:`gendsl.geometry.partition`) and calls one module-level ``jax.jit`` with the
arrays, the curve, ``steps`` and ``tol`` as arguments: a repeated call with the same
decoder (the same function, or an NNX module of the same structure, whatever its
parameter values), the same curve kind and shapes and the same optimizer object reuses
the compiled program.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from gendsl.errors import GeometryError
from gendsl.geometry.curves import make_curve
from gendsl.geometry.energy import energy, length
from gendsl.geometry.partition import merge_decoder, split_decoder


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Geodesic:
    """The result of an energy minimisation.

    Attributes:
      curve: the optimised curve (same kind as the initial one).
      energy: its energy.
      length: its length in output space (the geodesic distance estimate).
      steps: how many optimizer updates ran.
      grad_max: the largest absolute entry of the energy's gradient at the end.
      straight_energy: the energy of the initial curve.
    """

    curve: object
    energy: jax.Array
    length: jax.Array
    steps: jax.Array
    grad_max: jax.Array
    straight_energy: jax.Array

    def converged(self, tol: float = 1e-4):
        """Whether the final gradient is below ``tol`` in every entry.

        Args:
          tol: the threshold.
        Returns:
          A boolean array.
        """
        return self.grad_max < tol


def default_optimizer():
    """L-BFGS (``optax.lbfgs()``), the default of :func:`geodesic`.

    Returns:
      An optax transformation that takes ``value``, ``grad`` and ``value_fn``.
    """
    return optax.lbfgs()


def check_steps(steps):
    """``steps`` as an int, checked to be a valid number of optimizer updates; a jax
    array (e.g. a traced argument) passes unchecked.

    Args:
      steps: the most optimizer updates.
    Returns:
      ``int(steps)``, or the array.
    Raises:
      GeometryError: if ``steps < 0``.
    """
    if isinstance(steps, jax.Array):
        return steps
    if int(steps) < 0:
        raise GeometryError(f"steps={steps}: the number of optimizer updates must be >= 0")
    return int(steps)


def _stores_value_and_grad(state) -> bool:
    """Whether an optimizer's state holds the value and gradient at the point its last
    update moved to (optax's line searches do: ``optax.value_and_grad_from_state``)."""
    try:
        return (optax.tree.get(state, "value") is not None
                and optax.tree.get(state, "grad") is not None)
    except (KeyError, ValueError):  # several entries of that name: do not guess
        return False


def minimize_energy(g, curve, *, steps: int = 200, optimizer=None, tol: float = 1e-4,
                    num: int | None = None) -> Geodesic:
    """Minimises ``energy(g, curve)`` over ``curve.params`` (the ends stay pinned).

    Pure and traceable: jit it, vmap it over a batch of curves.

    Args:
      g: the decoder, a function of one latent point.
      curve: the initial curve.
      steps: the most optimizer updates (an int, or an integer array such as a traced
        argument, so that a jitted caller does not recompile per value).
      optimizer: an optax transformation (default :func:`default_optimizer`); it is
        given ``value``, ``grad`` and ``value_fn`` as extra arguments.
      tol: stop once every entry of the gradient is below this in absolute value (a
        float or a traced scalar).
      num: how many points to measure a continuous curve's energy at.
    Returns:
      A :class:`Geodesic`.
    Raises:
      GeometryError: if ``steps`` is an int below 0.
    """
    steps = check_steps(steps)
    opt = optax.with_extra_args_support(optimizer or default_optimizer())

    def loss(params):
        return energy(g, dataclasses.replace(curve, params=params), num=num)

    value_and_grad = jax.value_and_grad(loss)

    def gmax(grad):
        return jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in jax.tree.leaves(grad)]))

    start = curve.params
    state0 = opt.init(start)
    stored = _stores_value_and_grad(state0)

    def cond(carry):
        _, _, i, _, grad = carry
        return (i < steps) & (gmax(grad) >= tol)

    def body(carry):
        params, state, i, value, grad = carry
        updates, state = opt.update(grad, state, params, value=value, grad=grad,
                                    value_fn=loss)
        params = optax.apply_updates(params, updates)
        if stored:  # the line search evaluated the new point: reuse its value and grad
            value, grad = optax.tree.get(state, "value"), optax.tree.get(state, "grad")
        else:
            value, grad = value_and_grad(params)
        return params, state, i + 1, value, grad

    value0, grad0 = value_and_grad(start)
    carry = (start, state0, jnp.asarray(0), value0, grad0)
    params, _, i, value, grad = jax.lax.while_loop(cond, body, carry)
    best = dataclasses.replace(curve, params=params)
    return Geodesic(best, value, length(g, best, num=num), i, gmax(grad), value0)


@functools.partial(jax.jit, static_argnames=("static", "optimizer", "num"))
def _solve(static, arrays, curve, steps, tol, *, optimizer, num) -> Geodesic:
    """The jitted solve behind :func:`geodesic`: one compile per decoder structure,
    curve structure, optimizer and ``num``."""
    return minimize_energy(merge_decoder(static, arrays), curve, steps=steps,
                           optimizer=optimizer, tol=tol, num=num)


def geodesic(g, z0, z1, *, curve="discrete", nodes: int = 32, steps: int = 200,
             optimizer=None, tol: float = 1e-4, num: int | None = None,
             key=None) -> Geodesic:
    """The shortest path from ``z0`` to ``z1`` under ``g``'s pull-back metric, found by
    minimising the curve energy from an initial curve (jitted).

    Repeated calls reuse the compiled program when the decoder is the same function or
    an NNX module of the same structure (its parameters are arguments, not constants),
    the initial curves have one kind and shape, and ``optimizer`` is the same object
    (None, or one optax transformation made once). ``steps`` and ``tol`` never
    recompile.

    Args:
      g: the decoder, a function of one latent point (a function or an NNX module).
      z0: the start, shape ``(d,)``.
      z1: the end, shape ``(d,)``.
      curve: ``"discrete"`` (default), ``"spline"``, ``"neural"`` (needs ``key``), or an
        initial curve (e.g. :func:`gendsl.geometry.graph.graph_curve`'s); a straight
        line otherwise.
      nodes: the discretised curve's nodes (``nodes // 4`` pieces for a spline).
      steps: the most optimizer updates.
      optimizer: an optax transformation (default L-BFGS).
      tol: the gradient threshold that stops the optimisation.
      num: how many points to measure a continuous curve's energy at.
      key: the neural curve's PRNG key.
    Returns:
      A :class:`Geodesic`.
    Raises:
      GeometryError: for ends of different shapes, too few nodes, an unknown curve,
        ``steps < 0``, or a decoder with an unhashable non-array part.
    """
    init = make_curve(curve, z0, z1, nodes=nodes, key=key)
    static, arrays = split_decoder(g)
    return _solve(static, arrays, init, check_steps(steps), float(tol), optimizer=optimizer,
                  num=num)
