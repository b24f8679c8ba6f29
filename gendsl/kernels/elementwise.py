"""Shared kernel rule of pointwise nonlinearities (ReLU family, erf).

A pointwise ``phi`` maps each pair of jointly Gaussian pre-activations ``(u, v)`` with
``var(u) = q1, var(v) = q2, cov(u, v) = c`` to ``E[phi(u) phi(v)]`` (the new NNGP) and
multiplies the NTK by ``E[phi'(u) phi'(v)]``. A rule is given as
``pair_fn(c, q1 * q2, ntk) -> (nngp, ntk)`` plus a cheaper ``diag_fn(q)`` for a point
with itself.
"""

from __future__ import annotations

import jax.numpy as jnp

from gendsl.kernels.layer import Layer, check_single
from gendsl.kernels.state import KernelState, position_diagonal, require


def _outer(v1, v2, state: KernelState):
    """``v1[p, i] * v2[p', j]`` laid out like ``nngp`` (same positions in diagonal mode)."""
    d = state.spatial_ndim
    if state.full:
        ones = (1,) * d
        a = v1.reshape(v1.shape[:d] + ones + v1.shape[d:] + (1,))
        b = v2.reshape(ones + v2.shape[:d] + (1,) + v2.shape[d:])
        return a * b
    return v1[..., :, None] * v2[..., None, :]


def _self_outer(v, state: KernelState):
    """``v[p, i] * v[p', i]`` laid out like ``cov1`` in full mode."""
    d = state.spatial_ndim
    ones = (1,) * d
    return v.reshape(v.shape[:d] + ones + v.shape[d:]) * v.reshape(ones + v.shape)


def _exact_batch_diagonal(nngp, cov1):
    """``nngp`` with its batch diagonal ``[..., i, i]`` replaced by ``cov1[..., i]``.

    For the kernel of a batch with itself the two are equal in exact arithmetic but are
    summed in different orders. At ``c = sqrt(q1 q2)`` the arc-cosine kernel has a
    square-root singularity (``sqrt(q1 q2 - c**2)``) that turns rounding noise of
    relative size ``eps`` into errors of ``sqrt(eps)`` (about ``3e-4`` in float32), so
    the diagonal is taken from the self-covariances, where the angle is exactly 0.
    """
    n = nngp.shape[-1]
    eye = jnp.eye(n, dtype=bool)
    return jnp.where(eye, cov1[..., :, None], nngp)


def pointwise_rule(state: KernelState, pair_fn, diag_fn, var_fn=lambda q: q) -> KernelState:
    """Apply a pointwise nonlinearity's kernel map to a (materialised) state.

    Args:
      state: input kernel state.
      pair_fn: ``(cov, prod, ntk or None) -> (nngp, ntk or None)``, where ``prod`` is
        ``var_fn(q1) * var_fn(q2)``.
      diag_fn: ``q -> E[phi(u)**2]`` for ``var(u) = q``.
      var_fn: transform of the variances before taking products (erf uses ``1 + 2q``).

    Returns:
      The output state.
    """
    d = state.spatial_ndim
    var1 = position_diagonal(state.cov1, d, 1) if state.full else state.cov1
    var2 = var1 if state.cov2 is None else (
        position_diagonal(state.cov2, d, 1) if state.full else state.cov2)
    w1, w2 = var_fn(var1), var_fn(var2)
    cov = state.nngp if state.cov2 is not None else _exact_batch_diagonal(state.nngp, state.cov1)
    nngp, ntk = pair_fn(cov, _outer(w1, w2, state), state.ntk)
    if state.full:
        cov1, _ = pair_fn(state.cov1, _self_outer(w1, state), None)
        cov2 = None if state.cov2 is None else pair_fn(state.cov2, _self_outer(w2, state), None)[0]
    else:
        cov1 = diag_fn(state.cov1)
        cov2 = None if state.cov2 is None else diag_fn(state.cov2)
    return state.replace(nngp=nngp, ntk=ntk, cov1=cov1, cov2=cov2)


class Pointwise(Layer):
    """Base of pointwise nonlinearities: subclasses define ``pair_fn``, ``diag_fn``, ``apply``."""

    def var_fn(self, q):
        """Transform of variances entering the products (identity by default)."""
        return q

    def output_shape(self, in_shape):
        check_single(self, in_shape)
        return in_shape

    def kernel_rule(self, state, full_out):
        check_single(self, state)
        return pointwise_rule(require(state, full_out), self.pair_fn, self.diag_fn, self.var_fn)

    def init_module(self, in_shape, rngs):
        from gendsl.kernels.layer import FunctionModule
        return FunctionModule(self)
