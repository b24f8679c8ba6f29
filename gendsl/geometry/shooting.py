"""Shooting geodesics: the exponential map, by integrating the geodesic ODE with the
project's Butcher tableaux.

A curve ``c`` is a geodesic of the pull-back metric when its image ``g(c)`` has no
acceleration along the tangent space: ``J^T d^2/dt^2 g(c) = 0``. Since
``d^2/dt^2 g(c) = J c'' + D^2 g(c)[c', c']``, that is

    c'' = -M(c)^{-1} J(c)^T D^2 g(c)[c', c'],                         (embedded form)

where ``D^2 g[v, v]`` is a second directional derivative (two nested JVPs) and
``J^T (.)`` one VJP: no Christoffel symbols are formed. For a metric given only as a
function ``M(z)`` the same equation in Christoffel form is

    c'' = -M^{-1} (dM[c'] c' - 1/2 grad_z (c'^T M(z) c'))              (metric form)

(stochman's ``Manifold.geodesic_system``, with both derivatives by autodiff instead of a
Python loop). The first-order system ``(c, c')`` is integrated with an explicit
Runge-Kutta :class:`~gendsl.solvers.tableau.ButcherTableau` in a ``lax.scan``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from gendsl.errors import GeometryError
from gendsl.geometry.curves import DiscreteCurve, velocity
from gendsl.geometry.geodesic import geodesic
from gendsl.geometry.metric import check_latent, flat, jacobian
from gendsl.solvers.tableau import RK4, ButcherTableau


def geodesic_acceleration(g, z, v):
    """``c''`` of the geodesic through ``z`` with velocity ``v`` (embedded form).

    Args:
      g: the decoder, a function of one latent point.
      z: the point, shape ``(d,)``.
      v: the velocity, shape ``(d,)``.
    Returns:
      The acceleration, shape ``(d,)``.
    Raises:
      GeometryError: if ``z`` is not a vector.
    """
    z = check_latent(z)
    f = flat(g)
    second = jax.jvp(lambda y: jax.jvp(f, (y,), (v,))[1], (z,), (v,))[1]
    j = jacobian(g, z)
    return -jnp.linalg.solve(j.T @ j, j.T @ second)


def metric_acceleration(metric, z, v):
    """``c''`` of the geodesic through ``z`` with velocity ``v`` for a metric given as a
    function ``metric(z) -> (d, d)`` (Christoffel form).

    Args:
      metric: a function of one latent point returning the SPD metric there.
      z: the point, shape ``(d,)``.
      v: the velocity, shape ``(d,)``.
    Returns:
      The acceleration, shape ``(d,)``.
    Raises:
      GeometryError: if ``z`` is not a vector.
    """
    z = check_latent(z)
    m, dm = jax.jvp(metric, (z,), (v,))
    grad_quad = jax.grad(lambda y: v @ metric(y) @ v)(z)
    return -jnp.linalg.solve(m, dm @ v - grad_quad / 2)


def rk_step(f, y, h, tableau: ButcherTableau):
    """One explicit Runge-Kutta step of ``y' = f(y)`` (``y`` a pytree).

    Args:
      f: the autonomous vector field.
      y: the state.
      h: the step size.
      tableau: the method.
    Returns:
      ``y + h sum_i b_i k_i``.
    """
    ks = []
    for row in tableau.a:
        yi = y
        for a, k in zip(row, ks):
            if a:
                yi = jax.tree.map(lambda s, kk, a=a: s + h * a * kk, yi, k)
        ks.append(f(yi))
    step = y
    for b, k in zip(tableau.b, ks):
        if b:
            step = jax.tree.map(lambda s, kk, b=b: s + h * b * kk, step, k)
    return step


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ShotGeodesic:
    """A shot geodesic sampled at ``steps + 1`` equally spaced times.

    Attributes:
      times: shape ``(steps + 1,)``, from 0 to ``t1``.
      points: ``c(t)``, shape ``(steps + 1, d)``.
      velocities: ``c'(t)``, shape ``(steps + 1, d)``.
    """

    times: jax.Array
    points: jax.Array
    velocities: jax.Array


def shoot(g, z0, v0, *, t1: float = 1.0, steps: int = 64, tableau: ButcherTableau = RK4,
          metric=None) -> ShotGeodesic:
    """Integrates the geodesic ODE from ``z0`` with initial velocity ``v0``.

    Args:
      g: the decoder (ignored when ``metric`` is given; may then be None).
      z0: the start, shape ``(d,)``.
      v0: the initial velocity, shape ``(d,)``.
      t1: the final time.
      steps: the number of integrator steps.
      tableau: the Runge-Kutta method (``gd.EULER``, ``gd.HEUN``, ``gd.RK4`` or any
        ``gd.tableau``).
      metric: optionally a metric function ``z -> (d, d)`` to shoot on instead of
        ``g``'s pull-back (Christoffel form).
    Returns:
      A :class:`ShotGeodesic`.
    Raises:
      GeometryError: if ``z0`` and ``v0`` differ in shape or ``steps < 1``.
    """
    z0 = check_latent(z0, "z0")
    v0 = jnp.asarray(v0, z0.dtype)
    if v0.shape != z0.shape:
        raise GeometryError(f"v0 has shape {v0.shape} but z0 {z0.shape}; the initial "
                            "velocity is a tangent vector at z0")
    if int(steps) < 1:
        raise GeometryError(f"steps={steps}: shooting needs at least one integrator step")
    if metric is None:
        def field(y):
            return y[1], geodesic_acceleration(g, y[0], y[1])
    else:
        def field(y):
            return y[1], metric_acceleration(metric, y[0], y[1])
    h = t1 / steps

    def body(y, _):
        y = rk_step(field, y, h, tableau)
        return y, y

    _, (zs, vs) = jax.lax.scan(body, (z0, v0), None, length=steps)
    return ShotGeodesic(jnp.linspace(0.0, t1, steps + 1, dtype=z0.dtype),
                        jnp.concatenate([z0[None], zs]), jnp.concatenate([v0[None], vs]))


def exp_map(g, z0, v0, **kwargs):
    """The exponential map ``Exp_{z0}(v0)``: where the geodesic shot from ``z0`` with
    velocity ``v0`` is at time 1.

    Args:
      g: the decoder.
      z0: the base point.
      v0: the tangent vector.
      **kwargs: ``steps``, ``tableau``, ``metric`` as in :func:`shoot`.
    Returns:
      The end point, shape ``(d,)``.
    Raises:
      GeometryError: as :func:`shoot`.
    """
    return shoot(g, z0, v0, t1=1.0, **kwargs).points[-1]


def log_map(g, z0, z1, **kwargs):
    """The logarithm map ``Log_{z0}(z1)``: the initial velocity of the connecting
    geodesic on ``[0, 1]`` (its norm under ``M(z0)`` is the geodesic distance), read off
    an energy-minimising curve (stochman's ``logmap``; on a discretised curve by the
    second-order one-sided difference ``(n - 1)(4 c_1 - 3 c_0 - c_2) / 2``).

    Args:
      g: the decoder.
      z0: the base point.
      z1: the end point.
      **kwargs: passed to :func:`gendsl.geometry.geodesic.geodesic`.
    Returns:
      The tangent vector, shape ``(d,)``.
    Raises:
      GeometryError: as :func:`gendsl.geometry.geodesic.geodesic`.
    """
    curve = geodesic(g, z0, z1, **kwargs).curve
    if isinstance(curve, DiscreteCurve):
        c = curve.nodes()
        return (c.shape[0] - 1) * (4 * c[1] - 3 * c[0] - c[2]) / 2
    return velocity(curve, 0.0)
