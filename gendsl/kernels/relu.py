"""ReLU and LeakyReLU: the arc-cosine kernels (``stax.ABRelu`` family).

For ``phi(x) = a * min(x, 0) + b * max(x, 0)`` and the angle ``theta`` between the
pre-activations, ``E[phi'(u) phi'(v)] = (a**2 + b**2) / 2 - (a - b)**2 theta / (2 pi)``
and ``E[phi(u) phi(v)] = (a - b)**2 / (2 pi) sqrt(q1 q2 - c**2) + that * c``. Input
gradients stay finite at ``x1 == x2`` (see :func:`arc_cosine`).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from gendsl.errors import KernelError
from gendsl.kernels.elementwise import Pointwise
from gendsl.kernels.safe_math import safe_sqrt, vector_atan2


_NOISE_ULPS = 16  # 1 - cos**2 below this many ulps is rounding noise


def _terms(cov, prod, a, b):
    # At (near-)coinciding inputs q1 q2 - c**2 is a difference of equal numbers, and its
    # square root would turn rounding noise (eps) into sqrt(eps) errors, differently for
    # each summation order (e.g. fused multiply-adds): read such a gap as exactly zero.
    gap = prod - cov * cov
    noise = _NOISE_ULPS * jnp.finfo(gap.dtype).eps * prod
    root = safe_sqrt(jnp.where(gap > noise, gap, 0.0))
    factor = (a - b) ** 2 / (2 * jnp.pi)
    dot_sigma = (a * a + b * b) / 2 - factor * vector_atan2(root, cov)
    return root, factor, dot_sigma


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _arc_cosine_nngp(cov, prod, a, b):
    root, factor, dot_sigma = _terms(cov, prod, a, b)
    return factor * root + dot_sigma * cov


@_arc_cosine_nngp.defjvp
def _arc_cosine_nngp_jvp(a, b, primals, tangents):
    (cov, prod), (d_cov, d_prod) = primals, tangents
    root, factor, dot_sigma = _terms(cov, prod, a, b)
    safe_prod = jnp.where(prod > 0, prod, 1.0)
    out = factor * root + dot_sigma * cov
    return out, dot_sigma * d_cov + (factor * root / (2 * safe_prod)) * d_prod


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _arc_cosine_both(cov, prod, ntk, a, b):
    root, factor, dot_sigma = _terms(cov, prod, a, b)
    return factor * root + dot_sigma * cov, ntk * dot_sigma


@_arc_cosine_both.defjvp
def _arc_cosine_both_jvp(a, b, primals, tangents):
    (cov, prod, ntk), (d_cov, d_prod, d_ntk) = primals, tangents
    root, factor, dot_sigma = _terms(cov, prod, a, b)
    safe_prod = jnp.where(prod > 0, prod, 1.0)
    inv_root = jnp.where(root > 1e-15, 1.0 / jnp.where(root > 1e-15, root, 1.0), 0.0)
    nngp = factor * root + dot_sigma * cov
    d_nngp = dot_sigma * d_cov + (factor * root / (2 * safe_prod)) * d_prod
    slope = ntk * factor * inv_root  # d dot_sigma / d cov, times ntk
    d_ntk_out = dot_sigma * d_ntk + slope * d_cov - (slope * cov / (2 * safe_prod)) * d_prod
    return (nngp, ntk * dot_sigma), (d_nngp, d_ntk_out)


def arc_cosine(cov, prod, ntk, a: float, b: float):
    """Arc-cosine kernel map of ``a * min(x, 0) + b * max(x, 0)``.

    Derivatives are given in closed form (a custom JVP: ``d nngp / d cov = dot_sigma``,
    ``d nngp / d prod = factor * sqrt(prod - cov**2) / (2 prod)``, and the NTK factor's
    derivative set to 0 where ``cov**2 = prod``), which keeps them finite at coinciding
    inputs and makes the backward pass a handful of elementwise products.

    Args:
      cov: input covariances ``c``.
      prod: products of the two variances ``q1 * q2`` (same shape as ``cov``).
      ntk: input NTK or None.
      a, b: negative- and positive-side slopes.

    Returns:
      ``(nngp, ntk)`` after the nonlinearity (``ntk`` None if it was None).
    """
    a, b = float(a), float(b)
    if ntk is None:
        return _arc_cosine_nngp(cov, prod, a, b), None
    return _arc_cosine_both(cov, prod, ntk, a, b)


class ArcCosine(Pointwise):
    """Base of the ReLU family; subclasses give ``slopes = (a, b)``."""

    def pair_fn(self, cov, prod, ntk):
        return arc_cosine(cov, prod, ntk, *self.slopes)

    def diag_fn(self, q):
        a, b = self.slopes
        return (a * a + b * b) / 2 * q


@dataclasses.dataclass(frozen=True)
class Relu(ArcCosine):
    """``max(x, 0)`` (``stax.Relu()``)."""

    @property
    def slopes(self) -> tuple[float, float]:
        """(negative slope, positive slope)."""
        return 0.0, 1.0

    def apply(self, x):
        return jnp.maximum(x, 0.0)


@dataclasses.dataclass(frozen=True)
class LeakyRelu(ArcCosine):
    """``alpha * min(x, 0) + max(x, 0)`` (``stax.LeakyRelu(alpha)``).

    Attributes:
      alpha: slope for negative inputs.
    """

    alpha: float

    def __post_init__(self):
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)):
            raise KernelError(f"LeakyRelu(alpha={self.alpha!r}): alpha must be a number")

    @property
    def slopes(self) -> tuple[float, float]:
        """(negative slope, positive slope)."""
        return float(self.alpha), 1.0

    def apply(self, x):
        return jnp.where(x > 0, x, self.alpha * x)
