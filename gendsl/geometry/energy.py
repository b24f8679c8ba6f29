"""A curve's energy and length under the pull-back metric, measured in output space.

With points ``c_0 .. c_N`` along a curve (``N`` steps of ``dt = 1 / N``),

    E = N sum_i |g(c_{i+1}) - g(c_i)|^2,          L = sum_i |g(c_{i+1}) - g(c_i)|,

the Riemann sums of ``int |J c'|^2 dt`` and ``int |J c'| dt`` (stochman's
``EmbeddedManifold.curve_energy``/``curve_length``). By Cauchy-Schwarz ``L^2 <= E``,
with equality at constant speed, so minimising ``E`` gives a geodesic parameterised at
constant speed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gendsl.errors import GeometryError
from gendsl.geometry.metric import flat


def curve_points(curve, num: int | None = None):
    """The points at which a curve (or an array of points) is measured.

    Args:
      curve: a curve (:mod:`gendsl.geometry.curves`) or an array of shape ``(N, d)``.
      num: how many points to take on a curve (its default when None).
    Returns:
      Shape ``(N, d)``.
    Raises:
      GeometryError: if an array is not ``(N, d)`` with ``N >= 2``.
    """
    if hasattr(curve, "points"):
        return curve.points(num)
    pts = jnp.asarray(curve)
    if pts.ndim != 2 or pts.shape[0] < 2:
        raise GeometryError(f"curve has shape {pts.shape}; pass a curve object or an array "
                            "of at least 2 points, shape (N, d)")
    return pts


def _differences(outputs):
    out = jnp.reshape(outputs, (outputs.shape[0], -1))
    return out[1:] - out[:-1]


def output_energy(outputs):
    """The energy ``N sum |x_{i+1} - x_i|^2`` of a curve already decoded: its points'
    images ``x_0 .. x_N`` (what :func:`energy` measures after decoding).

    Args:
      outputs: shape ``(N + 1, ...)``; each image is flattened.
    Returns:
      A scalar.
    """
    delta = _differences(outputs)
    return delta.shape[0] * jnp.sum(delta ** 2)


def output_length(outputs):
    """The length ``sum |x_{i+1} - x_i|`` of a curve already decoded (see
    :func:`output_energy`).

    Args:
      outputs: shape ``(N + 1, ...)``; each image is flattened.
    Returns:
      A scalar.
    """
    return jnp.sum(jnp.sqrt(jnp.sum(_differences(outputs) ** 2, axis=-1)))


def energy(g, curve, *, num: int | None = None):
    """The curve's discrete energy ``N sum |g(c_{i+1}) - g(c_i)|^2``.

    Args:
      g: the decoder, a function of one latent point.
      curve: a curve or an ``(N + 1, d)`` array of points.
      num: how many points to measure a continuous curve at.
    Returns:
      A scalar.
    Raises:
      GeometryError: as :func:`curve_points`.
    """
    return output_energy(jax.vmap(flat(g))(curve_points(curve, num)))


def length(g, curve, *, num: int | None = None):
    """The curve's length in output space, ``sum |g(c_{i+1}) - g(c_i)|``.

    Args:
      g: the decoder.
      curve: a curve or an ``(N + 1, d)`` array of points.
      num: how many points to measure a continuous curve at.
    Returns:
      A scalar.
    Raises:
      GeometryError: as :func:`curve_points`.
    """
    return output_length(jax.vmap(flat(g))(curve_points(curve, num)))
