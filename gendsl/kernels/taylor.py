"""The NTK-GP fit ``(I - exp(B)) y`` by a truncated Taylor series, for short training times.

For ``B = -c K`` with ``||B|| <= MAX_NORM`` (``c = lr * t / y.size``; GA-NTK's discriminator
at ``t = 100`` has ``||B||`` about 1) the series ``-sum_{k=1..m} B**k y / k!`` reaches the
dtype's precision with ``m`` = 20 (float32) or 30 (float64) matrix-vector products, and
no LAPACK call. Why hand-written: on CPU the alternative, LAPACK's ``syevd`` for a
256 x 256 kernel, costs about as much as the whole kernel evaluation and its gradient
(and much more when its OpenBLAS threads compete with other work), while these products
are a millisecond. The gradient is a custom VJP that needs ``m`` more products and one
matrix product (``B_bar = sum_i u_i w_i^T`` with ``u_i = B**i g`` and ``w_i`` Hankel sums of
the forward's ``B**j y``), instead of the ``m`` rank-``p`` updates autodiff would build.
The series has no eigenvalue gaps in it, so degenerate spectra (duplicated points) are
no special case.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

MAX_NORM = 4.0  # largest ||B|| (bounded by its max absolute row sum) the series is used for


def degree(dtype) -> int:
    """Terms ``m`` such that ``MAX_NORM**(m+1) / (m+1)!`` is below the dtype's resolution."""
    return 30 if jnp.dtype(dtype) == jnp.float64 else 20


def _coefficients(m: int) -> np.ndarray:
    """``a_k = -1 / k!`` for ``k = 1..m`` (``1 - e**x = sum_k a_k x**k``)."""
    return np.array([-1.0 / math.factorial(k) for k in range(1, m + 1)])


def _hankel(m: int) -> np.ndarray:
    """``H[i, j] = a_{i+j+1}`` where ``i + j + 1 <= m``, else 0 (``i, j < m``)."""
    a = _coefficients(m)
    return np.array([[a[i + j] if i + j < m else 0.0 for j in range(m)] for i in range(m)])


def _powers(b: jax.Array, v: jax.Array, count: int) -> jax.Array:
    """``[v, b v, ..., b**(count-1) v]`` stacked on a new leading axis."""
    out = [v]
    for _ in range(count - 1):
        out.append(b @ out[-1])
    return jnp.stack(out)


@jax.custom_vjp
def taylor_fit(b: jax.Array, y: jax.Array) -> jax.Array:
    """``(I - exp(b)) @ y`` for a symmetric ``b`` with ``||b|| <= MAX_NORM``.

    Args:
      b: ``(n, n)`` symmetric matrix (``-c K`` for a kernel ``K``).
      y: ``(n, p)`` targets.

    Returns:
      ``(n, p)``; the gradient w.r.t. ``b`` is symmetrised (``b`` is read as symmetric).

    >>> b = -jnp.diag(jnp.array([0.5, 2.0]))
    >>> bool(jnp.allclose(taylor_fit(b, jnp.ones((2, 1)))[:, 0], 1 - jnp.exp(-jnp.array([0.5, 2.0]))))
    True
    """
    return _taylor_fwd(b, y)[0]


def _taylor_fwd(b, y):
    m = degree(b.dtype)
    v = _powers(b, y, m + 1)
    f = jnp.tensordot(jnp.asarray(_coefficients(m), b.dtype), v[1:], axes=1)
    return f, (b, v[:m])


def _taylor_bwd(residuals, g):
    b, v = residuals
    m = v.shape[0]
    u = _powers(b, g, m + 1)
    y_bar = jnp.tensordot(jnp.asarray(_coefficients(m), b.dtype), u[1:], axes=1)
    w = jnp.tensordot(jnp.asarray(_hankel(m), b.dtype), v, axes=1)  # w_i = sum_j H_ij v_j
    b_bar = jnp.einsum("irp,isp->rs", u[:m], w)
    return 0.5 * (b_bar + b_bar.T), y_bar


taylor_fit.defvjp(_taylor_fwd, _taylor_bwd)
