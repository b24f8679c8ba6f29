"""Graph initialisation: shortest paths on a latent grid weighted by the metric.

Energy minimisation is local: a curve that starts as the straight line across a
low-density gap (where the metric is large) stays across it when going around would be
shorter. Following stochman's ``DiscretizedManifold``, the latent box is covered by a
regular grid whose neighbours (axis-aligned and diagonal) are joined by edges weighted by
the output-space length of the segment, ``|g(a) - g(b)|``; Dijkstra's algorithm
(``scipy.sparse.csgraph``) finds the shortest grid path, which is resampled at constant
metric speed into a :class:`~gendsl.geometry.curves.DiscreteCurve` for
:func:`~gendsl.geometry.geodesic.geodesic` to refine. The decoder is evaluated once per
grid node (vmapped, jitted); paths are host-side graph searches.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from gendsl.errors import GeometryError
from gendsl.geometry.curves import DiscreteCurve, discrete_curve
from gendsl.geometry.metric import check_latent, flat


@dataclasses.dataclass(frozen=True)
class LatentGraph:
    """A latent grid with metric-weighted edges.

    Attributes:
      axes: the grid's coordinates along each latent axis (1-D numpy arrays).
      nodes: every grid point, shape ``(num_nodes, d)`` (C order over ``axes``).
      images: ``g`` at every grid point, shape ``(num_nodes, D)``.
      weights: the sparse ``(num_nodes, num_nodes)`` edge-weight matrix (CSR).
    """

    axes: tuple
    nodes: np.ndarray
    images: np.ndarray
    weights: object

    def nearest(self, z) -> int:
        """The index of the grid node nearest to ``z``.

        Args:
          z: a latent point inside the grid's box.
        Returns:
          The node index.
        Raises:
          GeometryError: if ``z`` has the wrong size or lies outside the box.
        """
        z = np.asarray(z, np.float64)
        if z.shape != (len(self.axes),):
            raise GeometryError(f"a point of shape {z.shape} on a {len(self.axes)}-D grid")
        idx = []
        for i, (a, x) in enumerate(zip(self.axes, z)):
            if not a[0] - 1e-9 <= x <= a[-1] + 1e-9:
                raise GeometryError(
                    f"coordinate {i} of {z.tolist()} is {x}, outside the grid's range "
                    f"[{a[0]}, {a[-1]}]; build latent_graph with bounds that contain it")
            idx.append(int(np.argmin(np.abs(a - x))))
        return int(np.ravel_multi_index(idx, [len(a) for a in self.axes]))

    def shortest_path(self, z0, z1):
        """The shortest grid path from the node nearest ``z0`` to the node nearest ``z1``,
        with its ends replaced by ``z0`` and ``z1``.

        Args:
          z0: the start.
          z1: the end.
        Returns:
          ``(points, length)``: the path's points ``(k, d)`` and its graph length.
        Raises:
          GeometryError: as :meth:`nearest`, or if the nodes are not connected.
        """
        i, j = self.nearest(z0), self.nearest(z1)
        dist, pred = dijkstra(self.weights, directed=False, indices=i,
                              return_predecessors=True)
        if not np.isfinite(dist[j]):
            raise GeometryError("the grid nodes nearest z0 and z1 are not connected; "
                                "the metric has non-finite edge weights")
        path = [j]
        while path[-1] != i:
            path.append(int(pred[path[-1]]))
        inner = self.nodes[path[::-1]][1:-1]
        points = np.concatenate([np.asarray(z0, np.float64)[None], inner,
                                 np.asarray(z1, np.float64)[None]])
        return points, float(dist[j])


def latent_graph(g, bounds, size=32, *, diagonals: bool = True) -> LatentGraph:
    """Builds the metric-weighted grid graph of a latent box.

    Args:
      g: the decoder, a function of one latent point.
      bounds: ``(low, high)`` for every latent axis, e.g. ``[(-3, 3), (-3, 3)]``.
      size: grid points per axis (an int, or one per axis).
      diagonals: also join diagonal neighbours (every offset in ``{-1, 0, 1}^d``).
    Returns:
      A :class:`LatentGraph`.
    Raises:
      GeometryError: if ``bounds`` is malformed or a size is below 2.
    """
    bounds = [tuple(b) for b in bounds]
    if not bounds or any(len(b) != 2 or not b[0] < b[1] for b in bounds):
        raise GeometryError(f"bounds={bounds}: give (low, high) with low < high for every "
                            "latent axis")
    sizes = [size] * len(bounds) if np.isscalar(size) else list(size)
    if len(sizes) != len(bounds) or any(int(s) < 2 for s in sizes):
        raise GeometryError(f"size={size}: give at least 2 grid points per axis, one size "
                            f"or {len(bounds)}")
    axes = tuple(np.linspace(lo, hi, int(s)) for (lo, hi), s in zip(bounds, sizes))
    mesh = np.meshgrid(*axes, indexing="ij")
    nodes = np.stack([m.ravel() for m in mesh], axis=1)
    images = np.asarray(jax.jit(jax.vmap(flat(g)))(nodes.astype(np.float32)), np.float64)
    index = np.arange(nodes.shape[0]).reshape(sizes)
    rows, cols = [], []
    # one offset of each +-pair (its first non-zero entry positive): every edge once
    steps = [o for o in itertools.product((-1, 0, 1), repeat=len(bounds))
             if any(o) and next(x for x in o if x) > 0
             and (diagonals or sum(map(abs, o)) == 1)]
    for off in steps:
        src = index[tuple(slice(max(0, -o), s - max(0, o)) for o, s in zip(off, sizes))]
        dst = index[tuple(slice(max(0, o), s - max(0, -o)) for o, s in zip(off, sizes))]
        rows.append(src.ravel())
        cols.append(dst.ravel())
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    w = np.linalg.norm(images[rows] - images[cols], axis=1) + 1e-12
    n = nodes.shape[0]
    weights = coo_matrix((w, (rows, cols)), shape=(n, n)).tocsr()
    return LatentGraph(axes, nodes, images, weights)


def graph_curve(g, graph: LatentGraph, z0, z1, nodes: int = 32) -> DiscreteCurve:
    """The shortest grid path from ``z0`` to ``z1`` as a discretised curve, resampled at
    constant output-space speed (``nodes`` nodes): the initial curve for
    :func:`~gendsl.geometry.geodesic.geodesic` across low-density gaps.

    Args:
      g: the decoder the graph was built with.
      graph: a :class:`LatentGraph`.
      z0: the start, inside the grid's box.
      z1: the end, inside the grid's box.
      nodes: the curve's node count.
    Returns:
      A :class:`~gendsl.geometry.curves.DiscreteCurve`.
    Raises:
      GeometryError: as :meth:`LatentGraph.shortest_path` and
        :func:`~gendsl.geometry.curves.discrete_curve`.
    """
    z0, z1 = check_latent(z0, "z0"), check_latent(z1, "z1")
    points, _ = graph.shortest_path(z0, z1)
    images = np.asarray(jax.vmap(flat(g))(points.astype(np.asarray(z0).dtype)), np.float64)
    seg = np.linalg.norm(np.diff(images, axis=0), axis=1) + 1e-12
    s = np.concatenate([[0.0], np.cumsum(seg)]) / np.sum(seg)
    t = np.linspace(0.0, 1.0, nodes)[1:-1]
    interior = np.stack([np.interp(t, s, points[:, k]) for k in range(points.shape[1])], 1)
    return discrete_curve(z0, z1, nodes, interior)
