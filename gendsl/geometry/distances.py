"""Geodesic distance matrices: every pair's connecting geodesic in one compiled,
vmapped program.

The pairs are stacked into a batch of straight-line curves and
:func:`~gendsl.geometry.geodesic.minimize_energy` is vmapped over them inside one
``jax.jit``: one compile for the whole matrix, whatever the number of points (a vmapped
``while_loop`` runs until the slowest pair stops). As in
:func:`~gendsl.geometry.geodesic.geodesic`, the decoder's arrays are arguments of one
module-level jitted function, so a repeated call with the same decoder, curve kind,
optimizer and number of pairs compiles nothing.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gendsl.errors import GeometryError
from gendsl.geometry.curves import make_curve
from gendsl.geometry.geodesic import check_steps, minimize_energy
from gendsl.geometry.partition import merge_decoder, split_decoder


@functools.partial(jax.jit, static_argnames=("static", "kind", "nodes", "optimizer", "num",
                                             "batch_size"))
def _lengths(static, arrays, a, b, template, key, steps, tol, *, kind, nodes, optimizer,
             num, batch_size):
    """Every pair's geodesic length: ``minimize_energy`` vmapped over the pairs (in
    chunks of ``batch_size`` pairs run one after another when given)."""
    g = merge_decoder(static, arrays)

    def one(ends):
        c = make_curve(kind if template is None else template, ends[0], ends[1], nodes=nodes,
                       key=key)
        return minimize_energy(g, c, steps=steps, optimizer=optimizer, tol=tol,
                               num=num).length

    if batch_size is None:
        return jax.vmap(one)((a, b))
    if batch_size == 1:  # a scan of unbatched solves: no vmapped while_loop at all
        return jax.lax.map(one, (a, b))
    return jax.lax.map(one, (a, b), batch_size=batch_size)


def geodesic_distances(g, points, others=None, *, curve="discrete", nodes: int = 32,
                       steps: int = 200, optimizer=None, tol: float = 1e-4,
                       num: int | None = None, key=None, batch_size: int | None = None):
    """The matrix of geodesic distances (lengths of energy-minimising curves).

    Args:
      g: the decoder, a function of one latent point.
      points: ``(n, d)`` latent points.
      others: optional ``(m, d)`` points; the matrix is then ``(n, m)`` over all pairs,
        otherwise ``(n, n)``, symmetric with a zero diagonal, over the ``n (n - 1) / 2``
        pairs ``i < j``.
      curve: ``"discrete"``, ``"spline"`` or ``"neural"`` (one ``key`` for all pairs),
        or an initial curve whose shape every pair's curve takes (its ends replaced).
      nodes: the curve's nodes (``nodes // 4`` spline pieces).
      steps: the most optimizer updates per pair.
      optimizer: an optax transformation (default L-BFGS).
      tol: the gradient threshold that stops a pair's optimisation.
      num: how many points to measure a continuous curve's energy at.
      key: the neural curve's PRNG key.
      batch_size: None (default) vmaps over all pairs at once, so every pair runs as
        many updates (and line-search steps) as the slowest; an int vmaps over chunks
        of that many pairs, run one after another (``jax.lax.map``) inside the same
        compiled program, so each chunk stops with its own slowest pair; 1 solves the
        pairs one after another, unbatched (the fastest on a few CPU cores).
    Returns:
      The distance matrix (a jax array).
    Raises:
      GeometryError: if the point sets are not ``(n, d)`` arrays of one latent size,
        ``steps < 0`` or ``batch_size < 1``.
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
    if batch_size is not None and int(batch_size) < 1:
        raise GeometryError(f"batch_size={batch_size}: pairs per vmapped chunk must be >= 1, "
                            "or None to vmap over all pairs at once")
    static, arrays = split_decoder(g)
    kind, template = (curve, None) if isinstance(curve, str) else (None, curve)
    lengths = _lengths(static, arrays, a, b, template, key, check_steps(steps), float(tol),
                       kind=kind, nodes=int(nodes), optimizer=optimizer, num=num,
                       batch_size=None if batch_size is None else int(batch_size))
    if others is not None:
        return lengths.reshape(points.shape[0], pair_set.shape[0])
    n = points.shape[0]
    out = jnp.zeros((n, n), lengths.dtype).at[i, j].set(lengths)
    return out + out.T
