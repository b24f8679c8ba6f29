"""Curves in latent space with pinned end points, held as data (pytrees of arrays).

Every curve is a frozen dataclass registered as a pytree: its end points ``begin`` and
``end`` and its free ``params`` are leaves, so a curve can be jitted, vmapped, stored in a
checkpoint or held by a points player; only ``params`` is optimised. A curve is a map
``c: [0, 1] -> R^d`` with ``c(0) = begin`` and ``c(1) = end``, evaluated by
``curve(t)`` on a vector of times, and :meth:`points` gives the points at which its
energy is measured.

- :class:`DiscreteCurve`: ``n`` nodes, the interior ``n - 2`` free (stochman's
  ``DiscreteCurve``); the curve between nodes is piecewise linear.
- :class:`CubicSpline`: the straight line plus a C^2 cubic spline that vanishes at both
  ends, parameterised by coordinates in the null space of the continuity constraints
  (stochman's ``CubicSpline``).
- :class:`NeuralCurve`: Chen et al.'s neural curve, a small MLP ``phi(t)`` added to the
  straight line as ``c(t) = (1 - t) begin + t end + t (1 - t) phi(t)``.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from gendsl.errors import GeometryError
from gendsl.geometry.metric import check_latent

CURVES = ("discrete", "spline", "neural")
DEFAULT_GRID = 32
"""Points at which a continuous curve's energy is measured unless told otherwise."""


def _line(begin, end, t):
    t = t[:, None]
    return (1 - t) * begin + t * end


def _register(cls, meta=()):
    data = [f.name for f in dataclasses.fields(cls) if f.name not in meta]
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=list(meta))


class _SampledOnAGrid:
    """What the continuous curves share: their energy is measured on a grid of times."""

    def points(self, num: int | None = None):
        """The curve at ``num`` (default :data:`DEFAULT_GRID`) equally spaced times.

        Args:
          num: how many points.
        Returns:
          Shape ``(num, d)``.
        """
        return self(jnp.linspace(0.0, 1.0, DEFAULT_GRID if num is None else num))


@_register
@dataclasses.dataclass(frozen=True)
class DiscreteCurve:
    """A polyline of ``n`` nodes, ends pinned.

    Attributes:
      begin: ``c(0)``, shape ``(d,)``.
      end: ``c(1)``, shape ``(d,)``.
      params: the ``n - 2`` free interior nodes, shape ``(n - 2, d)``.
    """

    begin: jax.Array
    end: jax.Array
    params: jax.Array

    @property
    def num_nodes(self) -> int:
        """The number of nodes, ends included."""
        return self.params.shape[0] + 2

    def nodes(self):
        """All nodes, ends included, shape ``(n, d)``.

        Returns:
          The array of nodes.
        """
        return jnp.concatenate([self.begin[None], self.params, self.end[None]])

    def points(self, num: int | None = None):
        """The points at which the energy is measured: the nodes (``num=None``), or
        ``num`` equally spaced times on the polyline.

        Args:
          num: how many points, or None for the nodes.
        Returns:
          Shape ``(num, d)``.
        """
        return self.nodes() if num is None else self(jnp.linspace(0.0, 1.0, num))

    def __call__(self, t):
        """The polyline at times ``t`` (nodes at ``i / (n - 1)``), shape ``(len(t), d)``."""
        nodes = self.nodes()
        grid = jnp.linspace(0.0, 1.0, nodes.shape[0])
        return jax.vmap(lambda col: jnp.interp(jnp.asarray(t), grid, col), in_axes=1,
                        out_axes=1)(nodes)


@functools.lru_cache(maxsize=None)
def spline_basis(edges: int) -> np.ndarray:
    """The null space of the constraints on a piecewise cubic ``s`` over ``edges`` equal
    pieces of [0, 1] (``s(0) = s(1) = 0``, ``s`` continuous with continuous first and
    second derivatives at the interior knots): ``edges + 1`` orthonormal columns of
    ``4 * edges`` polynomial coefficients (piece ``e`` is ``sum_k a[e, k] t^k``).

    Args:
      edges: the number of cubic pieces (at least 1).
    Returns:
      A ``(4 * edges, edges + 1)`` float64 array.
    """
    rows = []
    first = np.zeros(4 * edges)
    first[0] = 1.0
    last = np.zeros(4 * edges)
    last[-4:] = 1.0
    rows += [first, last]
    for i in range(1, edges):
        t = i / edges
        for fill in ([1.0, t, t * t, t ** 3], [0.0, 1.0, 2 * t, 3 * t * t],
                     [0.0, 0.0, 2.0, 6 * t]):
            row = np.zeros(4 * edges)
            row[4 * (i - 1):4 * i] = fill
            row[4 * i:4 * i + 4] = [-x for x in fill]
            rows.append(row)
    constraints = np.stack(rows)
    _, _, vt = np.linalg.svd(constraints)
    return vt[constraints.shape[0]:].T


@_register
@dataclasses.dataclass(frozen=True)
class CubicSpline(_SampledOnAGrid):
    """The straight line plus a C^2 cubic spline vanishing at both ends.

    Attributes:
      begin: ``c(0)``, shape ``(d,)``.
      end: ``c(1)``, shape ``(d,)``.
      params: coordinates in :func:`spline_basis` (``edges + 1`` rows), shape
        ``(edges + 1, d)``; zeros are the straight line.
    """

    begin: jax.Array
    end: jax.Array
    params: jax.Array

    @property
    def edges(self) -> int:
        """The number of cubic pieces."""
        return self.params.shape[0] - 1

    def __call__(self, t):
        """The curve at times ``t``, shape ``(len(t), d)``."""
        t = jnp.asarray(t, self.params.dtype)
        basis = jnp.asarray(spline_basis(self.edges), self.params.dtype)
        coeffs = (basis @ self.params).reshape(self.edges, 4, -1)
        piece = jnp.clip(jnp.floor(t * self.edges).astype(int), 0, self.edges - 1)
        powers = t[:, None] ** jnp.arange(4)
        return jnp.einsum("tk,tkd->td", powers, coeffs[piece]) + _line(self.begin, self.end, t)


@_register
@dataclasses.dataclass(frozen=True)
class NeuralCurve(_SampledOnAGrid):
    """Chen et al.'s neural curve ``c(t) = (1 - t) begin + t end + t (1 - t) phi(t)``
    with ``phi`` a tanh MLP ``1 -> hidden -> hidden -> d``.

    Attributes:
      begin: ``c(0)``, shape ``(d,)``.
      end: ``c(1)``, shape ``(d,)``.
      params: ``phi``'s weights, a tuple of ``(w, b)`` pairs (the last layer zero, so a
        new curve is the straight line).
    """

    begin: jax.Array
    end: jax.Array
    params: tuple

    def __call__(self, t):
        """The curve at times ``t``, shape ``(len(t), d)``."""
        t = jnp.asarray(t, self.begin.dtype)
        h = t[:, None]
        for i, (w, b) in enumerate(self.params):
            h = h @ w + b
            if i < len(self.params) - 1:
                h = jnp.tanh(h)
        return _line(self.begin, self.end, t) + (t * (1 - t))[:, None] * h


Curve = DiscreteCurve | CubicSpline | NeuralCurve


def _ends(z0, z1):
    z0, z1 = check_latent(z0, "z0"), check_latent(z1, "z1")
    if z0.shape != z1.shape:
        raise GeometryError(f"z0 has shape {z0.shape} and z1 {z1.shape}; a curve joins two "
                            "points of the same latent space")
    dtype = jnp.result_type(z0, z1, jnp.float32)
    return z0.astype(dtype), z1.astype(dtype)


def discrete_curve(z0, z1, nodes: int = 32, interior=None) -> DiscreteCurve:
    """A discretised curve from ``z0`` to ``z1``, initially the straight line.

    Args:
      z0: the start, shape ``(d,)``.
      z1: the end, shape ``(d,)``.
      nodes: the number of nodes, ends included (at least 3).
      interior: optional initial interior nodes, shape ``(nodes - 2, d)``.
    Returns:
      A :class:`DiscreteCurve`.
    Raises:
      GeometryError: if the ends differ in shape, ``nodes < 3`` or ``interior`` has the
        wrong shape.
    """
    z0, z1 = _ends(z0, z1)
    if int(nodes) < 3:
        raise GeometryError(f"nodes={nodes}: a discretised curve needs at least 3 nodes "
                            "(two pinned ends and one free node)")
    if interior is None:
        interior = _line(z0, z1, jnp.linspace(0.0, 1.0, nodes)[1:-1])
    interior = jnp.asarray(interior, z0.dtype)
    if interior.shape != (nodes - 2, z0.shape[0]):
        raise GeometryError(f"interior has shape {interior.shape}; with nodes={nodes} it "
                            f"must be {(nodes - 2, z0.shape[0])}")
    return DiscreteCurve(z0, z1, interior)


def cubic_spline(z0, z1, edges: int = 8) -> CubicSpline:
    """A cubic-spline curve from ``z0`` to ``z1``, initially the straight line.

    Args:
      z0: the start, shape ``(d,)``.
      z1: the end, shape ``(d,)``.
      edges: the number of cubic pieces (at least 1).
    Returns:
      A :class:`CubicSpline`.
    Raises:
      GeometryError: if the ends differ in shape or ``edges < 1``.
    """
    z0, z1 = _ends(z0, z1)
    if int(edges) < 1:
        raise GeometryError(f"edges={edges}: a spline needs at least one piece")
    return CubicSpline(z0, z1, jnp.zeros((edges + 1, z0.shape[0]), z0.dtype))


def neural_curve(z0, z1, key, hidden: int = 16) -> NeuralCurve:
    """Chen et al.'s neural curve from ``z0`` to ``z1``, initially the straight line.

    Args:
      z0: the start, shape ``(d,)``.
      z1: the end, shape ``(d,)``.
      key: a PRNG key for the hidden layers' weights.
      hidden: the width of the two hidden layers.
    Returns:
      A :class:`NeuralCurve`.
    Raises:
      GeometryError: if the ends differ in shape or ``hidden < 1``.
    """
    z0, z1 = _ends(z0, z1)
    if int(hidden) < 1:
        raise GeometryError(f"hidden={hidden}: the neural curve needs a positive width")
    k1, k2 = jax.random.split(key)
    dt = z0.dtype
    params = ((jax.random.normal(k1, (1, hidden), dt) * 2.0, jnp.zeros(hidden, dt)),
              (jax.random.normal(k2, (hidden, hidden), dt) / jnp.sqrt(hidden),
               jnp.zeros(hidden, dt)),
              (jnp.zeros((hidden, z0.shape[0]), dt), jnp.zeros(z0.shape[0], dt)))
    return NeuralCurve(z0, z1, params)


def make_curve(kind, z0, z1, *, nodes: int = 32, key=None):
    """A straight-line curve of the named kind (or ``kind`` itself if it is a curve).

    Args:
      kind: ``"discrete"`` (``nodes`` nodes), ``"spline"`` (``nodes // 4`` pieces, at
        least 1), ``"neural"`` (needs ``key``), or a curve, whose ends are then set to
        ``z0`` and ``z1``.
      z0: the start.
      z1: the end.
      nodes: the discretised curve's node count.
      key: the neural curve's PRNG key.
    Returns:
      A curve.
    Raises:
      GeometryError: for an unknown kind, or ``"neural"`` without a key.
    """
    if isinstance(kind, (DiscreteCurve, CubicSpline, NeuralCurve)):
        z0, z1 = _ends(z0, z1)
        if z0.shape != kind.begin.shape:
            raise GeometryError(f"z0 has shape {z0.shape} but the initial curve joins points "
                                f"of shape {kind.begin.shape}")
        return dataclasses.replace(kind, begin=z0.astype(kind.begin.dtype),
                                   end=z1.astype(kind.begin.dtype))
    if kind == "discrete":
        return discrete_curve(z0, z1, nodes)
    if kind == "spline":
        return cubic_spline(z0, z1, max(1, nodes // 4))
    if kind == "neural":
        if key is None:
            raise GeometryError('curve="neural" needs key=jax.random.key(...) to initialise '
                                "the curve's network")
        return neural_curve(z0, z1, key)
    raise GeometryError(f"curve={kind!r}: expected one of {CURVES} or a curve object "
                        "(DiscreteCurve, CubicSpline, NeuralCurve)")


def velocity(curve, t: float = 0.0):
    """The curve's velocity ``c'(t)`` (forward-mode derivative; one-sided at a node of a
    discretised curve).

    Args:
      curve: a curve.
      t: the time.
    Returns:
      Shape ``(d,)``.
    """
    t = jnp.asarray(t, curve.begin.dtype)
    return jax.jvp(lambda s: curve(s[None])[0], (t,), (jnp.ones_like(t),))[1]
