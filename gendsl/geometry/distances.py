"""Geodesic distance matrices: every pair's connecting geodesic in one compiled,
vmapped program.

The pairs are stacked into a batch of straight-line curves and
:func:`~gendsl.geometry.geodesic.minimize_energy` is vmapped over them inside one
``jax.jit``: one compile for the whole matrix, whatever the number of points (a vmapped
``while_loop`` runs until the slowest pair stops).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gendsl.errors import GeometryError
from gendsl.geometry.curves import make_curve
from gendsl.geometry.geodesic import minimize_energy


def geodesic_distances(g, points, others=None, *, curve: str = "discrete", nodes: int = 32,
                       steps: int = 200, optimizer=None, tol: float = 1e-4,
                       num: int | None = None, key=None):
    """The matrix of geodesic distances (lengths of energy-minimising curves).

    Args:
      g: the decoder, a function of one latent point.
      points: ``(n, d)`` latent points.
      others: optional ``(m, d)`` points; the matrix is then ``(n, m)`` over all pairs,
        otherwise ``(n, n)``, symmetric with a zero diagonal, over the ``n (n - 1) / 2``
        pairs ``i < j``.
      curve: ``"discrete"``, ``"spline"`` or ``"neural"`` (one ``key`` for all pairs).
      nodes: the curve's nodes (``nodes // 4`` spline pieces).
      steps: the most optimizer updates per pair.
      optimizer: an optax transformation (default L-BFGS).
      tol: the gradient threshold that stops a pair's optimisation.
      num: how many points to measure a continuous curve's energy at.
      key: the neural curve's PRNG key.
    Returns:
      The distance matrix (a jax array).
    Raises:
      GeometryError: if the point sets are not ``(n, d)`` arrays of one latent size.
    """
    points = jnp.asarray(points)
    pair_set = points if others is None else jnp.asarray(others)
    if points.ndim != 2 or pair_set.ndim != 2 or points.shape[1] != pair_set.shape[1]:
        raise GeometryError(f"points has shape {points.shape} and others "
                            f"{pair_set.shape}; both must be (n, d) arrays of one latent "
                            "size d")
    if others is None:
        i, j = np.triu_indices(points.shape[0], k=1)
    else:
        i, j = (a.ravel() for a in np.meshgrid(np.arange(points.shape[0]),
                                               np.arange(pair_set.shape[0]), indexing="ij"))
    a, b = points[i], pair_set[j]

    def one(z0, z1):
        c = make_curve(curve, z0, z1, nodes=nodes, key=key)
        return minimize_energy(g, c, steps=steps, optimizer=optimizer, tol=tol,
                               num=num).length

    lengths = jax.jit(jax.vmap(one))(a, b)
    if others is not None:
        return lengths.reshape(points.shape[0], pair_set.shape[0])
    n = points.shape[0]
    out = jnp.zeros((n, n), lengths.dtype).at[i, j].set(lengths)
    return out + out.T
