"""The energy of a batch of discretised curves under a frozen decoder player, as a
primitive: the objective of a geodesic stage (:mod:`gendsl.geometry.stage`).

A stage cannot know trained end points when it is built, so its curves are held as
OFFSETS from the straight line: node ``i`` of curve ``p`` is

    c_i = (1 - t_i) begin_p + t_i end_p + delta_{p, i},      t_i = i / (n - 1),

with ``delta`` the parameters of a points player, shape ``(P, n - 2, d)``, zeros at
first (the straight lines). Every node of every curve is decoded in ONE batched
application of the decoder, and each curve's energy is :func:`energy.output_energy`
of its decoded nodes, the same sum as :func:`gendsl.geometry.energy.energy`.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from gendsl.compiler.lowering import LoweringContext
from gendsl.errors import GeometryError
from gendsl.geometry.curves import DiscreteCurve, _line
from gendsl.geometry.energy import output_energy, output_length
from gendsl.terms.primitive import primitive


def offset_curves(begin, end, offsets) -> DiscreteCurve:
    """The discretised curves ``straight line + offsets``, as one :class:`DiscreteCurve`
    whose leaves carry a leading axis of curves (``jax.vmap`` the curve functions over
    it, or take :func:`unstack`).

    Args:
      begin: the start points, shape ``(P, d)``.
      end: the end points, shape ``(P, d)``.
      offsets: the interior nodes' offsets from the straight lines, ``(P, n - 2, d)``.
    Returns:
      A batched :class:`DiscreteCurve` (``params`` of shape ``(P, n - 2, d)``).
    """
    offsets = jnp.asarray(offsets)
    begin = jnp.asarray(begin, offsets.dtype)
    end = jnp.asarray(end, offsets.dtype)
    t = jnp.linspace(0.0, 1.0, offsets.shape[-2] + 2, dtype=offsets.dtype)[1:-1]
    return jax.vmap(lambda a, b, o: DiscreteCurve(a, b, _line(a, b, t) + o))(
        begin, end, offsets)


def unstack(curves: DiscreteCurve) -> tuple[DiscreteCurve, ...]:
    """The curves of a batched :class:`DiscreteCurve`, one each.

    Args:
      curves: a curve whose leaves have a leading axis of curves.
    Returns:
      A tuple of curves.
    """
    return tuple(jax.tree.map(lambda leaf, i=i: leaf[i], curves)
                 for i in range(curves.begin.shape[0]))


def measured(out: Any, output: Callable | None, count: int):
    """The decoder's batched output as the points a curve's energy measures:
    ``output(out)`` when given (e.g. a stochastic decoder's ``(mean, std)``
    concatenated), flattened to ``(count, D)``.

    Args:
      out: the decoder's output for ``count`` latent points.
      output: None, or a function of the batched output returning an array.
      count: the number of points decoded.
    Returns:
      Shape ``(count, D)``.
    Raises:
      GeometryError: a tuple output without ``output``, or a leading axis other than
        ``count``.
    """
    if output is not None:
        out = output(out)
    if isinstance(out, (tuple, list, dict)):
        raise GeometryError(
            f"the decoder returns a {type(out).__name__}, not an array; pass output= (a "
            "function of the batched output), e.g. for (mean, std) "
            "output=lambda o: jnp.concatenate([o[0], o[1]], axis=-1)")
    if jnp.ndim(out) < 1 or jnp.shape(out)[0] != count:
        raise GeometryError(f"the decoder returned shape {jnp.shape(out)} for {count} latent "
                            f"points; its output must have a leading axis of {count}")
    return jnp.reshape(out, (count, -1))


@primitive(lazy=True, has_aux=True)
def curve_energy(ctx, decoder, offsets, begin, end, output=None):
    """Summed energy of the curves ``straight line + offsets`` from ``begin`` to ``end``
    under the frozen ``decoder`` (run in eval mode, as is every end-point term); reports
    the mean ``energy`` and mean ``length`` per curve as metrics."""
    frozen = LoweringContext(ctx.statics, ctx.params, ctx.rest, ctx.batch,
                             jax.random.key(0), train=False)
    delta = ctx.eval(offsets)
    curves = offset_curves(frozen.eval(begin), frozen.eval(end), delta)
    nodes = jax.vmap(DiscreteCurve.nodes)(curves)             # (P, n, d)
    p, n, d = nodes.shape
    out = measured(frozen.apply(decoder, nodes.reshape(p * n, d)), output, p * n)
    out = out.reshape(p, n, -1)
    energies = jax.vmap(output_energy)(out)
    lengths = jax.vmap(output_length)(out)
    return jnp.sum(energies), {"energy": jnp.mean(energies), "length": jnp.mean(lengths)}
