"""The NTK-GP fit ``(I - exp(-c K)) y`` by Lanczos, in ``O(n**2 k)`` instead of ``O(n**3)``.

For a symmetric ``K`` the ``k``-step Lanczos process started at ``y`` gives an orthonormal
basis ``V`` (``n x k``) of the Krylov space ``span{y, K y, ..., K**(k-1) y}`` and the
tridiagonal ``T = V^T K V``; then ``exp(-c K) y ~ ||y|| V exp(-c T) e_1``, which needs
``k`` products with ``K`` and the ``eigh`` of a ``k x k`` matrix. As elsewhere in
:mod:`gendsl.kernels.predict`, negative (Ritz) eigenvalues are clipped to 0. The basis
is fully reorthogonalised (twice, classical Gram-Schmidt) at every step, which costs
``O(n k**2)``, small next to the ``O(n**2 k)`` of the products since ``k << n``.

Accuracy. For ``K`` positive semi-definite with ``c * lambda_max(K) = 4 rho`` the error
is at most ``10 exp(-k**2 / (5 rho)) ||y||`` for ``sqrt(4 rho) <= k <= 2 rho`` (Hochbruck
& Lubich, SIAM J. Numer. Anal. 34, 1997, Thm. 2). That a-priori bound is very
pessimistic for NTKs: their spectrum is one outlier (the mean mode, ``c * lambda_max``
about 600 for GA-NTK's CNN at ``t = 2 * 65536``) that Lanczos captures in a step or
two, and a bulk with ``c * lambda`` of order 1-30. :func:`error_estimate` is the usual
a-posteriori estimate ``||y|| beta_k |e_k^T exp(-c T) e_1|`` (the next term of the
Krylov expansion); :data:`DIM` was chosen from measurements of the true error, see
docs/kernels.md.

Gradient (custom VJP). With ``g`` the output cotangent and ``phi(x) = 1 - exp(-c x)``
the fit ``f = phi(K) y``, the Daleckii-Krein formula gives
``K_bar = sum_ij phi[l_i, l_j] (P_i g)(P_j y)^T`` over the spectral projectors of ``K``,
with ``phi[., .]`` the divided differences (the adjoint of an exponential action is
again an exponential action, here in the Krylov space of ``g``). Both sides are
replaced by their Ritz pairs: a second Lanczos run from ``g`` gives ``Z_g = V_g Q_g``,
and the forward's ``Z_y = V_y Q_y`` is kept, so
``K_bar = ||g|| ||y|| Z_g (a b^T * phi[theta_g, theta_y]) Z_y^T`` with ``a``, ``b`` the
first rows of ``Q_g``, ``Q_y``: ``k`` more products with ``K`` and one rank-``k``
product, ``O(n**2 k)`` (the block-triangular ``expm([[A, E], [0, A]])`` route would need
the dense ``n x n`` exponential). ``y_bar = phi(K) g`` and ``c_bar = <g, K exp(-c K) y>``
come from the same two runs. The divided differences are written without gaps in the
denominator, so coinciding eigenvalues are no special case.

Why hand-written: ``jax.scipy`` has ``expm`` and ``expm_frechet`` (dense, ``O(n**3)``) but
no ``expm_multiply``. matfree (pnkraemer/matfree) offers Lanczos matrix-function products
in JAX and differentiates them by the adjoint of the Lanczos recursion; it would be a new
dependency for about a hundred lines, its gradient is of the discretised iteration rather
than of ``phi(K) y``, and it does not clip negative Ritz values as the ``"eigh"`` path of
this package does.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

DIM = 32  # default Krylov dimension k; see docs/kernels.md for the measured errors


def divided_differences(li: jax.Array, lj: jax.Array, c: jax.Array) -> jax.Array:
    """``phi[l_i, l_j]`` for ``phi(l) = 1 - exp(-c max(l, 0))``, ``phi'`` where equal.

    Args:
      li, lj: broadcastable eigenvalue arrays.
      c: the scale ``c``.

    Returns:
      The divided differences, finite for equal or nearly equal arguments.
    """
    pi, pj = jnp.maximum(li, 0.0), jnp.maximum(lj, 0.0)
    x = c * jnp.abs(pi - pj)
    zero = x == 0
    ratio = jnp.where(zero, 1.0, -jnp.expm1(-x) / jnp.where(zero, 1.0, x))  # (1 - e**-x) / x
    stable = c * jnp.exp(-c * jnp.minimum(pi, pj)) * ratio
    gap = li - lj
    same = gap == 0
    clip_ratio = jnp.where(same, 1.0, (pi - pj) / jnp.where(same, 1.0, gap))
    return jnp.where((li < 0) & (lj < 0), 0.0, stable * clip_ratio)


def lanczos(k: jax.Array, v: jax.Array, dim: int):
    """``dim`` steps of Lanczos with full reorthogonalisation, started at ``v``.

    Args:
      k: ``(n, n)`` symmetric matrix.
      v: ``(n,)`` start vector (any norm; 0 gives an all-zero basis).
      dim: Krylov dimension (static).

    Returns:
      ``(basis, alpha, beta, norm)``: ``basis`` is ``(dim, n)`` with orthonormal rows (rows
      after an exact breakdown are 0), ``alpha`` the diagonal and ``beta`` the off-diagonal
      of ``T`` (``beta[-1]`` couples the next, unused vector), ``norm = ||v||``.
    """
    n = k.shape[0]
    norm = jnp.linalg.norm(v)
    v0 = jnp.where(norm > 0, v / jnp.where(norm > 0, norm, 1.0), 0.0)
    scale = jnp.max(jnp.sum(jnp.abs(k), axis=1))
    tiny = jnp.finfo(k.dtype).eps ** 2 * scale
    basis = jnp.zeros((dim + 1, n), k.dtype).at[0].set(v0)

    def step(j, carry):
        basis, alpha, beta = carry
        w = k @ basis[j]
        a = basis[j] @ w
        for _ in range(2):  # twice is enough (Giraud et al. 2005)
            w = w - basis.T @ (basis @ w)
        b = jnp.linalg.norm(w)
        ok = b > tiny
        basis = basis.at[j + 1].set(jnp.where(ok, w / jnp.where(ok, b, 1.0), 0.0))
        return basis, alpha.at[j].set(a), beta.at[j].set(jnp.where(ok, b, 0.0))

    zeros = jnp.zeros((dim,), k.dtype)
    basis, alpha, beta = jax.lax.fori_loop(0, dim, step, (basis, zeros, zeros))
    return basis[:dim], alpha, beta, norm


def _ritz(alpha, beta):
    """Eigenvalues and eigenvectors of the tridiagonal ``T``."""
    t = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
    return jnp.linalg.eigh(t)


def _decay(theta, c):
    return jnp.exp(-c * jnp.maximum(theta, 0.0))


def _fit_one(k, c, y, dim):
    """Fit of one column and its Krylov data (``Z = V^T Q``, Ritz values, ``||y|| Q[0]``)."""
    basis, alpha, beta, norm = lanczos(k, y, dim)
    theta, q = _ritz(alpha, beta)
    z = basis.T @ q                       # (n, dim) Ritz vectors
    b = norm * q[0]                       # components of y on them
    return y - z @ (_decay(theta, c) * b), (z, theta, b)


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def krylov_fit(k: jax.Array, c: jax.Array, y: jax.Array, dim: int = DIM) -> jax.Array:
    """``(I - exp(-c max(K, 0))) @ y`` for a symmetric ``K``, by ``dim`` Lanczos steps per column.

    Args:
      k: ``(n, n)`` symmetric matrix.
      c: scalar scale (``lr * t / y.size``).
      y: ``(n, p)`` right-hand sides (one Lanczos run per column).
      dim: Krylov dimension (static; ``min(dim, n)`` steps are taken).

    Returns:
      ``(n, p)``; the gradient w.r.t. ``k`` is symmetric (``k`` is read as symmetric).

    >>> k = jnp.diag(jnp.array([0.5, 2.0, 3.0]))
    >>> f = krylov_fit(k, jnp.array(1.0), jnp.ones((3, 1)))
    >>> bool(jnp.allclose(f[:, 0], 1 - jnp.exp(-jnp.diag(k)), atol=1e-6))
    True
    """
    return _krylov_fwd(k, c, y, dim)[0]


def _krylov_fwd(k, c, y, dim):
    dim = min(dim, k.shape[0])
    f, (z, theta, b) = jax.vmap(lambda col: _fit_one(k, c, col, dim), out_axes=(1, 0))(y.T)
    return f, (k, c, z, theta, b)


def _krylov_bwd(dim, residuals, g):
    k, c, z_y, theta_y, b_y = residuals          # z_y: (p, n, d), theta_y, b_y: (p, d)
    dim = z_y.shape[-1]
    y_bar, (z_g, theta_g, a_g) = jax.vmap(lambda col: _fit_one(k, c, col, dim),
                                          out_axes=(1, 0))(g.T)
    # K_bar = sum_p Z_g (a b^T * phi[theta_g, theta_y]) Z_y^T, a rank-(p * dim) product,
    # symmetrised (K is read as symmetric): (L Z^T + Z L^T) / 2 = [L, Z] [Z, L]^T / 2, one
    # product, so that no n x n temporaries (K_bar, its transpose, their sum) are built.
    dd = divided_differences(theta_g[:, :, None], theta_y[:, None, :], c)
    inner = a_g[:, :, None] * b_y[:, None, :] * dd                      # (p, d, d)
    left = jnp.einsum("pna,pab->pnb", z_g, inner)
    k_bar = jnp.einsum("pnb,pmb->nm", 0.5 * jnp.concatenate([left, z_y], axis=-1),
                       jnp.concatenate([z_y, left], axis=-1))
    # c_bar = <g, K exp(-c K) y> on the Ritz pairs of y.
    ky = jnp.einsum("pnb,pb->np", z_y, jnp.maximum(theta_y, 0.0) * _decay(theta_y, c) * b_y)
    c_bar = jnp.sum(g * ky)
    return k_bar, c_bar, y_bar


krylov_fit.defvjp(_krylov_fwd, _krylov_bwd)


def error_estimate(k: jax.Array, c: jax.Array, y: jax.Array, dim: int = DIM) -> jax.Array:
    """A-posteriori error estimate of :func:`krylov_fit`, relative to ``||y||``.

    ``beta_k |e_k^T exp(-c T) e_1|``, the size of the first neglected term of the Krylov
    expansion (Saad, SIAM J. Numer. Anal. 29, 1992), maximised over the columns of ``y``.

    Args:
      k, c, y, dim: as for :func:`krylov_fit`.

    Returns:
      Scalar estimate of ``max_p ||f_p - f_p^exact|| / ||y_p||``.
    """
    dim = min(dim, k.shape[0])

    def one(col):
        _, alpha, beta, _ = lanczos(k, col, dim)
        theta, q = _ritz(alpha, beta)
        return beta[-1] * jnp.abs(q[-1] @ (_decay(theta, c) * q[0]))
    return jnp.max(jax.vmap(one)(y.T))
