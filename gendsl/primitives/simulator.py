"""Simulators as terms: a pure JAX function of parameters, applied inside the step.

``sim = gd.simulator(render)`` turns a per-example function ``render(theta) -> x`` (or
``render(theta, key) -> x`` with ``stochastic=True``) into a primitive: ``sim(z)`` is a
term, vmapped over the batch, differentiable, fused into the jitted step. A simulator
that is not written in JAX can be used through :func:`host_simulator`, which calls it
on the host with ``jax.pure_callback``: slower (a device-host round trip per step, one
Python call per example, no gradients), but it works unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from gendsl.errors import PrimitiveError
from gendsl.terms.primitive import Primitive, primitive


def simulator(fn: Callable[..., Any], *, name: str | None = None,
              stochastic: bool = False) -> Primitive:
    """Returns a primitive applying the JAX simulator ``fn`` to every example.

    Args:
      fn: ``fn(theta) -> x`` for one example (``fn(theta, key) -> x`` if stochastic);
        a pure JAX function.
      name: the name shown in programs (default ``fn.__name__``).
      stochastic: pass each example its own PRNG key.
    Returns:
      A :class:`~gendsl.terms.primitive.Primitive`: ``sim(theta_term)`` is a term of
      shape ``(batch, *x_shape)``.

    >>> import jax.numpy as jnp
    >>> sq = simulator(lambda t: t ** 2, name="square_sim")
    >>> sq.rule(jnp.arange(3.0)[:, None]).ravel().tolist()
    [0.0, 1.0, 4.0]
    """
    label = name or getattr(fn, "__name__", "simulator")
    if stochastic:
        def rule(theta, key):
            return jax.vmap(fn)(theta, jax.random.split(key, theta.shape[0]))
        return primitive(rule, name=label, needs_key=True)

    def rule(theta):
        return jax.vmap(fn)(theta)
    return primitive(rule, name=label)


def host_simulator(fn: Callable[[np.ndarray], np.ndarray], out_shape: tuple[int, ...],
                   *, dtype: Any = np.float32, name: str | None = None) -> Primitive:
    """Returns a primitive calling a non-JAX simulator on the host, example by example.

    Args:
      fn: ``fn(theta: np.ndarray) -> np.ndarray`` for one example, any Python code.
      out_shape: the per-example output shape.
      dtype: the output dtype.
      name: the name shown in programs.
    Returns:
      A :class:`~gendsl.terms.primitive.Primitive` (no gradient flows through it).
    """
    label = name or getattr(fn, "__name__", "host_simulator")

    def batched(theta):
        out = np.stack([np.asarray(fn(np.asarray(t)), dtype) for t in theta])
        if out.shape[1:] != tuple(out_shape):
            raise PrimitiveError(f"{label}: the simulator returned shape {out.shape[1:]}, "
                                 f"declared out_shape={tuple(out_shape)}")
        return out

    def rule(theta):
        result = jax.ShapeDtypeStruct((theta.shape[0], *out_shape), dtype)
        return jax.pure_callback(batched, result, jax.lax.stop_gradient(theta),
                                 vmap_method="sequential")
    return primitive(rule, name=label)
