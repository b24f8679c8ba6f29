"""Square root and arctangent whose derivatives stay finite where the exact ones blow up.

The arc-cosine (ReLU) and arcsine (erf) kernels evaluate ``sqrt(var1 * var2 - cov**2)``
and the angle ``atan2(sqrt(...), cov)``. At coinciding inputs (``x1 == x2``, every
diagonal entry of ``kernel(x)``) the square root's argument is zero and its exact
derivative is infinite, although the kernel itself is continuous there (the NNGP is even
differentiable). These custom JVPs return the subgradient 0 at the singular point, as
neural-tangents does, so ``jax.grad`` through a kernel is finite everywhere.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_TINY = 1e-30
_TAN_PI_8 = 0.41421356237309504880
_ATAN_P64 = (-8.750608600031904122785e-1, -1.615753718733365076637e1,
             -7.500855792314704667340e1, -1.228866684490136173410e2,
             -6.485021904942025371773e1)
_ATAN_Q64 = (1.0, 2.485846490142306297962e1, 1.650270098316988542046e2,
             4.328810604912902668951e2, 4.853903996359136964868e2,
             1.945506571482613964425e2)
_ATAN_P32 = (8.05374449538e-2, -1.38776856032e-1, 1.99777106478e-1, -3.33329491539e-1)


def _horner(z, coefficients):
    out = jnp.full_like(z, coefficients[0])
    for c in coefficients[1:]:
        out = out * z + c
    return out


def _atan_reduced(z):
    """``atan(z)`` for ``|z| <= tan(pi / 8)`` (Cephes)."""
    zz = z * z
    if z.dtype == jnp.float64:
        return z + z * zz * _horner(zz, _ATAN_P64) / _horner(zz, _ATAN_Q64)
    return z + z * zz * _horner(zz, _ATAN_P32)


def vector_atan2(y: jax.Array, x: jax.Array) -> jax.Array:
    """``atan2(y, x)`` from vectorisable operations; ``pi / 2`` at the origin.

    Args:
      y: numerator.
      x: denominator.

    Returns:
      The angle in ``[-pi, pi]``, accurate to a few ulps of the dtype.

    >>> import numpy as np
    >>> y, x = jnp.array([1.0, 1.0, -2.0, 0.0]), jnp.array([1.0, -3.0, 0.5, 0.0])
    >>> bool(jnp.allclose(vector_atan2(y, x), np.array([np.pi / 4, np.arctan2(1, -3), np.arctan2(-2, 0.5), np.pi / 2])))
    True
    """
    ay, ax = jnp.abs(y), jnp.abs(x)
    lo, hi = jnp.minimum(ay, ax), jnp.maximum(ay, ax)
    far = lo > _TAN_PI_8 * hi  # reduce atan(a) = pi/4 + atan((a - 1) / (a + 1))
    num = jnp.where(far, lo - hi, lo)
    den = jnp.where(far, lo + hi, hi)
    origin = hi == 0
    base = _atan_reduced(num / jnp.where(origin, 1.0, den)) + jnp.where(far, jnp.pi / 4, 0.0)
    angle = jnp.where(ay > ax, jnp.pi / 2 - base, base)
    angle = jnp.where(x < 0, jnp.pi - angle, angle)
    angle = jnp.where(y < 0, -angle, angle)
    return jnp.where(origin, jnp.pi / 2, angle).astype(base.dtype)


@jax.custom_jvp
def safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(max(x, 0))`` with derivative 0 wherever ``x <= 1e-30``.

    Args:
      x: any real array (negative entries are rounding noise and read as 0).

    Returns:
      The elementwise square root of ``max(x, 0)``.

    >>> float(jax.grad(safe_sqrt)(0.0))
    0.0
    """
    return jnp.sqrt(jnp.maximum(x, 0.0))


@safe_sqrt.defjvp
def _safe_sqrt_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    out = safe_sqrt(x)
    ok = x > _TINY
    denom = jnp.where(ok, 2.0 * out, 1.0)
    return out, jnp.where(ok, x_dot / denom, jnp.zeros_like(x_dot))


@jax.custom_jvp
def safe_atan2(y: jax.Array, x: jax.Array) -> jax.Array:
    """``atan2(y, x)`` (``pi / 2`` at the origin) with a derivative that is 0 there.

    Args:
      y: numerator (for kernels: ``sqrt(var1 * var2 - cov**2) >= 0``).
      x: denominator (for kernels: the covariance).

    Returns:
      The angle in ``[-pi, pi]``.
    """
    return vector_atan2(y, x)


@safe_atan2.defjvp
def _safe_atan2_jvp(primals, tangents):
    (y, x), (y_dot, x_dot) = primals, tangents
    denom = jnp.maximum(x * x + y * y, _TINY)
    return safe_atan2(y, x), (y_dot * x - x_dot * y) / denom
