"""The sampler of the gradient layer's generator form: a base generator followed by a
stack of gradient layers, each with a frozen snapshot of the discriminator.

``gd.gradient_stack(S, z, eta)`` for a store ``S = gd.snapshots("S", of=D, base=G, ...)``
is ``GL_c o ... o GL_1 (G_base(z))`` with ``GL_i(x) = x + eta grad_x d_i(x)``, ``d_i``
the logit of the ``i``-th snapshot of ``D`` (oldest first) and ``c`` the number of
snapshots in use (Nitanda & Suzuki, AISTATS 2018, where every D update adds a layer).
Before the store has taken its base (the first step of ``gd.push_snapshots``) the base
is ``G``'s current parameters. The output carries no gradient to any player: it is a
sample, what the discriminator is trained against and what the generator distils.
The stack is scanned over its capacity with a conditional per slot, so the compiled
sampler has a fixed size whatever the count.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gendsl.errors import PrimitiveError
from gendsl.primitives.gradient_layer import ascend, check_step
from gendsl.terms.primitive import primitive
from gendsl.terms.snapshots import Snapshots
from gendsl.terms.term import as_term


def gradient_stack(S: Snapshots, z: Any, eta: float):
    """The samples of ``S``'s base generator at ``z`` pushed through ``S``'s layers.

    Args:
      S: a ``gd.snapshots`` store.
      z: the generator's input term (``gd.latent(...)``).
      eta: every layer's step size (a finite number).
    Returns:
      A term: the samples, without gradient to any player.
    Raises:
      PrimitiveError: ``S`` is not a snapshots store or ``eta`` is malformed.
    """
    if not isinstance(S, Snapshots):
        raise PrimitiveError(f"gradient_stack(S, z, eta): S must be a gd.snapshots store, "
                             f"got {type(S).__name__}")
    check_step(eta, 1, "gradient_stack")
    return _gradient_stack(S, S.of, S.base, as_term(z), eta=float(eta))


@primitive(lazy=True, name="gradient_stack")
def _gradient_stack(ctx, S, D, G, z, eta):
    """Lowering of :func:`gradient_stack`."""
    store = jax.lax.stop_gradient(ctx.params[S.name])
    g_now = jax.lax.stop_gradient(ctx.params[G.name])
    started = store["started"] > 0
    g_params = jax.tree.map(lambda b, g: jnp.where(started, b, g), store["base"], g_now)
    x = G.call(ctx.statics[G.name], g_params, ctx.state_of(G.name), (ctx.eval(z),), None,
               train=ctx.train)
    d_static, d_rest = ctx.statics[D.name], ctx.state_of(D.name)

    def layer(x, item):
        i, d_params = item
        logit = lambda v: D.call(d_static, d_params, d_rest, (v,), None, train=ctx.train)
        moved = jax.lax.cond(i < store["count"], lambda v: ascend(logit, v, eta),
                             lambda v: v, x)
        return moved, None

    capacity = jax.tree.leaves(store["layers"])[0].shape[0]
    first = jax.tree.map(lambda a: a[0], store["layers"])
    out = jax.eval_shape(lambda v: D.call(d_static, first, d_rest, (v,), None, train=ctx.train), x)
    if out.size != jnp.shape(x)[0]:
        raise PrimitiveError(f"gradient_stack: discriminator {D.name!r} must return one "
                             "logit per sample, shape (n,) or (n, 1)")
    x, _ = jax.lax.scan(layer, x, (jnp.arange(capacity), store["layers"]))
    return x
