"""Closed-form NTK-GP training dynamics: ``neural_tangents.predict.gradient_descent_mse``.

Continuous gradient descent on ``0.5 * ||f - y||**2 / y.size``-normalised MSE from
``f0 = 0`` gives the train-set predictions ``f_t = (I - exp(-lr * t * K_reg / y.size)) y``
with ``K_reg = K + diag_reg * mean(diag K) * I`` (``diag_reg`` absolute if asked), and
negative eigenvalues of ``K_reg`` clipped to 0, as in neural-tangents.

Methods:

* ``"eigh"`` (default) differentiates through the eigendecomposition with the
  Daleckii-Krein formula (divided differences of the spectral function) in a custom
  JVP: JAX's own ``eigh`` derivative divides by eigenvalue gaps and is not finite when
  eigenvalues coincide (e.g. duplicated points), whereas the matrix function is smooth.
* ``"expm"``: ``jax.scipy.linalg.expm`` (Pade approximation), differentiated by JAX; no
  clipping of negative eigenvalues.
* ``"krylov"``: ``krylov_dim`` Lanczos steps per column of ``y``
  (:mod:`gendsl.kernels.krylov`), ``O(n**2 k)`` instead of ``O(n**3)``, with a custom VJP
  (Daleckii-Krein on the Ritz pairs); negative Ritz values clipped to 0.
* ``"auto"``: the truncated Taylor series of :mod:`gendsl.kernels.taylor` when
  ``lr * t * ||K_reg||_inf / y.size <= 4`` (short training, e.g. GA-NTK at t = 100:
  matrix-vector products only, no LAPACK), else ``"krylov"`` from ``KRYLOV_MIN_N`` points
  on and ``"eigh"`` below. The Taylor choice is made at run time (``lax.cond``), the
  size rule at trace time. All give the same values to the dtype's precision for a
  positive semi-definite ``K_reg`` (``"krylov"``: at the programs' times, see
  docs/kernels.md for the measured errors and when to raise ``krylov_dim``).

``KRYLOV_MIN_N``: measured value+gradient of the prediction alone (float32, one BLAS
thread, 2-core machine at load 40, interleaved), Lanczos over ``eigh`` was 0.4-0.5 at
n = 128-256, 0.27 at 512 and 0.11 at 1024; the small-n timings are a few milliseconds
and noise-dominated, and there the kernel dominates the step anyway, so ``"auto"``
switches where the gain is clear and leaves small problems (and their results) as they
were.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gendsl.errors import KernelError
from gendsl.kernels.krylov import DIM, krylov_fit
from gendsl.kernels.taylor import MAX_NORM, taylor_fit

METHODS = ("eigh", "expm", "krylov", "auto")
KRYLOV_MIN_N = 1024  # "auto" uses Lanczos (not eigh) for long times from this many points on


def _phi(x):
    """``(1 - exp(-x)) / x`` for ``x >= 0`` (1 at 0)."""
    zero = x == 0
    return jnp.where(zero, 1.0, -jnp.expm1(-x) / jnp.where(zero, 1.0, x))


@jax.custom_jvp
def _eigh_fit(k: jax.Array, c: jax.Array, y: jax.Array) -> jax.Array:
    """``(I - exp(-c * max(K, 0))) @ y`` for symmetric ``K`` via ``eigh``."""
    evals, evecs = jnp.linalg.eigh(k)
    g = -jnp.expm1(-c * jnp.maximum(evals, 0.0))
    return evecs @ (g[:, None] * (evecs.T @ y))


@_eigh_fit.defjvp
def _eigh_fit_jvp(primals, tangents):
    k, c, y = primals
    dk, dc, dy = tangents
    evals, evecs = jnp.linalg.eigh(k)
    pos = jnp.maximum(evals, 0.0)
    decay = jnp.exp(-c * pos)
    g = 1.0 - decay
    vy = evecs.T @ y
    out = evecs @ (g[:, None] * vy)
    # Divided differences G_ij = (g(l_i) - g(l_j)) / (l_i - l_j), g'(l_i) on the diagonal.
    li, lj = pos[:, None], pos[None, :]
    stable = c * jnp.exp(-c * jnp.minimum(li, lj)) * _phi(c * jnp.abs(li - lj))
    gap = evals[:, None] - evals[None, :]
    same = gap == 0
    clip_ratio = jnp.where(same, 1.0, (li - lj) / jnp.where(same, 1.0, gap))
    both_negative = (evals[:, None] < 0) & (evals[None, :] < 0)
    divided = jnp.where(both_negative, 0.0, stable * clip_ratio)
    dk_sym = 0.5 * (dk + dk.T)
    inner = divided * (evecs.T @ dk_sym @ evecs)
    d_out = evecs @ (inner @ vy + (pos * decay * dc)[:, None] * vy + g[:, None] * (evecs.T @ dy))
    return out, d_out


def _expm_fit(k, c, y):
    return y - jax.scipy.linalg.expm(-c * k) @ y


def _auto_fits(k_reg, cs, y2, krylov_dim):
    """Fits for every scale in ``cs``: Taylor series if ``max(cs) * ||k_reg||_inf`` is
    small enough (decided once for all ``cs``, at run time), else Lanczos from
    ``KRYLOV_MIN_N`` points on and the eigendecomposition below (static, by shape)."""
    bound = jnp.max(cs) * jnp.max(jnp.sum(jnp.abs(k_reg), axis=1))
    if k_reg.shape[0] >= KRYLOV_MIN_N:
        long = lambda: jax.vmap(lambda c: krylov_fit(k_reg, c, y2, krylov_dim))(cs)
    else:
        long = lambda: jax.vmap(lambda c: _eigh_fit(k_reg, c, y2))(cs)
    return jax.lax.cond(bound <= MAX_NORM,
                        lambda: jax.vmap(lambda c: taylor_fit(-c * k_reg, y2))(cs), long)


def ntk_gp_predict(K: jax.Array, y: jax.Array, t, lr: float = 1.0, diag_reg: float = 0.0, *,
                   diag_reg_absolute_scale: bool = False, method: str = "eigh",
                   krylov_dim: int = DIM) -> jax.Array:
    """Train-set predictions of an NTK-GP after gradient-descent time ``t`` from ``f0 = 0``.

    Args:
      K: ``(n, n)`` symmetric kernel (the NTK) on the training points.
      y: ``(n,)`` or ``(n, k)`` targets.
      t: training time, a scalar or an array of times.
      lr: learning rate (time is ``lr * t``).
      diag_reg: diagonal regulariser, relative to ``mean(diag K)`` unless
        ``diag_reg_absolute_scale``.
      diag_reg_absolute_scale: add ``diag_reg * I`` as is.
      method: ``"eigh"`` (default), ``"expm"`` (matrix exponential), ``"krylov"``
        (Lanczos, :mod:`gendsl.kernels.krylov`) or ``"auto"`` (Taylor series for short
        training times, else ``"krylov"`` from ``KRYLOV_MIN_N`` points on and ``"eigh"``
        below; see the module doc).
      krylov_dim: Krylov dimension of ``"krylov"`` (and of ``"auto"`` when it uses it).

    Returns:
      ``t.shape + y.shape`` predictions ``(I - exp(-lr t K_reg / y.size)) y``.

    >>> import jax.numpy as jnp
    >>> f = ntk_gp_predict(jnp.eye(2), jnp.ones((2, 1)), t=2.0, lr=1.0)
    >>> bool(jnp.allclose(f, 1 - jnp.exp(-1.0)))
    True
    """
    if method not in METHODS:
        raise KernelError(f"ntk_gp_predict(method={method!r}): use one of {METHODS}")
    K, y = jnp.asarray(K), jnp.asarray(y)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise KernelError(f"ntk_gp_predict: K must be a square (n, n) matrix, got {K.shape}")
    if y.ndim not in (1, 2) or y.shape[0] != K.shape[0]:
        raise KernelError(f"ntk_gp_predict: y must be (n,) or (n, k) with n = {K.shape[0]} "
                          f"matching K, got {y.shape}")
    dtype = jnp.result_type(K.dtype, y.dtype, jnp.float32)
    K, y = K.astype(dtype), y.astype(dtype)
    n = K.shape[0]
    reg = diag_reg if diag_reg_absolute_scale else diag_reg * jnp.trace(K) / n
    K_reg = K + reg * jnp.eye(n, dtype=dtype)
    t = jnp.asarray(t, dtype)
    scale = lr / y.size
    y2 = y.reshape(n, -1)
    cs = scale * t.reshape(-1)
    if method == "auto":
        f = _auto_fits(K_reg, cs, y2, krylov_dim)
    elif method == "krylov":
        f = jax.vmap(lambda c: krylov_fit(K_reg, c, y2, krylov_dim))(cs)
    else:
        fit = _eigh_fit if method == "eigh" else _expm_fit
        f = jax.vmap(lambda c: fit(K_reg, c, y2))(cs)
    return f.reshape(t.shape + y.shape)
