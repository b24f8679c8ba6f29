"""Closed-form NTK-GP training dynamics: values, regularisation, and gradients w.r.t. K."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from gendsl import kernels as K
from gendsl.errors import KernelError
from gendsl.kernels import taylor

NET = K.serial(K.Dense(64, W_std=1.5, b_std=0.1), K.Relu(), K.Dense(1, W_std=1.5, b_std=0.1))


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def points_with_duplicates(dtype=jnp.float64):
    """Six points, two of them repeated: K has repeated rows (degenerate eigenvalues)."""
    x = jax.random.normal(jax.random.key(0), (4, 3), dtype)
    return jnp.concatenate([x, x[:2]])


def reference(k, y, t, lr, diag_reg):
    """``(I - expm(-lr t K_reg / y.size)) y`` with SciPy's matrix exponential."""
    k = np.asarray(k) + diag_reg * np.trace(k) / k.shape[0] * np.eye(k.shape[0])
    return np.stack([y - scipy.linalg.expm(-lr * s * k / y.size) @ y for s in np.atleast_1d(t)])


@pytest.mark.parametrize("method, t", [
    ("eigh", [0.0, 3.0, 50.0, 2e4]), ("expm", [0.0, 3.0, 50.0, 2e4]),
    ("auto", [0.0, 3.0, 50.0, 2e4]),  # long times: the eigendecomposition
    ("auto", [0.0, 0.3, 1.0, 1.5]),  # ||lr t K / y.size|| <= 4: the Taylor series
    ("krylov", [0.0, 3.0, 50.0, 2e4])])  # n = 7 <= krylov_dim: exact up to rounding
def test_predictions_equal_the_matrix_exponential_formula(method, t, x64):
    x = jax.random.normal(jax.random.key(1), (7, 3))
    k = NET.kernel(x, None, get="ntk")
    y = jax.nn.one_hot(jnp.arange(7) % 2, 2)
    t = np.array(t)
    f = K.ntk_gp_predict(k, y, t, lr=0.1, diag_reg=1e-3, method=method)
    assert f.shape == (4, 7, 2)
    np.testing.assert_allclose(f, reference(k, np.asarray(y), t, 0.1, 1e-3), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f[0], 0.0, atol=1e-12)  # f0 = 0
    if t[-1] > 1e3:
        np.testing.assert_allclose(f[-1], y, atol=1e-6)  # long training fits the targets


@pytest.mark.parametrize("dtype, rtol", [(jnp.float32, 2e-5), (jnp.float64, 1e-12)])
def test_taylor_series_values_and_gradients_equal_the_eigendecomposition(dtype, rtol, x64):
    """At the series' limit (||B||_inf = 4, B = -c K), with degenerate eigenvalues."""
    x = points_with_duplicates(dtype)
    k = NET.kernel(x, None, get="ntk")
    y = jax.nn.one_hot(jnp.array([0, 1, 0, 1, 0, 1]), 2, dtype=dtype)
    w = jax.random.normal(jax.random.key(2), (6, 2), dtype)
    c = taylor.MAX_NORM / float(jnp.max(jnp.sum(jnp.abs(k), axis=1)))
    series = jax.jit(jax.value_and_grad(lambda m: jnp.sum(w * taylor.taylor_fit(-c * m, y))))
    eigh = jax.jit(jax.value_and_grad(
        lambda m: jnp.sum(w * K.ntk_gp_predict(m, y, c * y.size, method="eigh"))))
    (v_series, g_series), (v_eigh, g_eigh) = series(k), eigh(k)
    assert v_series.dtype == dtype
    np.testing.assert_allclose(v_series, v_eigh, rtol=rtol)
    assert g_series.dtype == dtype
    np.testing.assert_allclose(g_series, g_eigh, rtol=rtol,
                               atol=rtol * float(jnp.abs(g_eigh).max()))
    # Linear in y with a symmetric operator: d/dy <w, p(B) y> = p(B) w.
    g_y = jax.jit(jax.grad(lambda v: jnp.sum(w * taylor.taylor_fit(-c * k, v))))(y)
    np.testing.assert_allclose(g_y, jax.jit(taylor.taylor_fit)(-c * k, w), rtol=rtol, atol=1e-30)


def test_diag_reg_is_relative_to_the_mean_diagonal_unless_absolute(x64):
    d = jnp.array([1.0, 2.0, 6.0])
    y = jnp.array([1.0, -2.0, 0.5])
    mean = 3.0
    rel = K.ntk_gp_predict(jnp.diag(d), y, t=2.0, lr=3.0, diag_reg=0.1)
    absolute = K.ntk_gp_predict(jnp.diag(d), y, t=2.0, lr=3.0, diag_reg=0.1,
                                diag_reg_absolute_scale=True)
    # c = lr * t / y.size = 2
    np.testing.assert_allclose(rel, (1 - jnp.exp(-2.0 * (d + 0.1 * mean))) * y, rtol=1e-12)
    np.testing.assert_allclose(absolute, (1 - jnp.exp(-2.0 * (d + 0.1))) * y, rtol=1e-12)


def test_gradients_wrt_k_are_finite_and_exact_at_degenerate_eigenvalues(x64):
    x = points_with_duplicates()
    k = NET.kernel(x, None, get="ntk")
    gaps = np.diff(np.linalg.eigvalsh(np.asarray(k)))
    assert gaps.min() < 1e-10  # duplicated points: a repeated (zero) eigenvalue
    y = jax.nn.one_hot(jnp.array([0, 1, 0, 1, 0, 1]), 2)
    w = jax.random.normal(jax.random.key(2), (6, 2))

    def objective(method):
        # diag_reg > 0 keeps the repeated eigenvalue away from the clip at 0 (a kink).
        return lambda m: jnp.sum(w * K.ntk_gp_predict(m, y, 40.0, lr=0.5, diag_reg=1e-3,
                                                      method=method))

    g_eigh = jax.jit(jax.grad(objective("eigh")))(k)
    g_expm = jax.jit(jax.grad(objective("expm")))(k)
    assert bool(jnp.all(jnp.isfinite(g_eigh)))
    # eigh reads a symmetric K (as jnp.linalg.eigh does), so its gradient is the
    # symmetric part of the unconstrained one that autodiff through expm gives.
    np.testing.assert_allclose(g_eigh, (g_expm + g_expm.T) / 2, rtol=1e-7, atol=1e-10)
    # ... and equal to a central finite difference along a symmetric direction.
    e = jax.random.normal(jax.random.key(3), k.shape)
    e = e + e.T
    h = 1e-5
    value = jax.jit(objective("eigh"))
    fd = (value(k + h * e) - value(k - h * e)) / (2 * h)
    np.testing.assert_allclose(jnp.sum(g_eigh * e), fd, rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_input_gradients_through_kernel_and_predictions_are_finite(dtype, x64):
    x = points_with_duplicates(dtype)
    y = jax.nn.one_hot(jnp.array([0, 1, 0, 1, 0, 1]), 2, dtype=dtype)
    loss = lambda a: jnp.sum(K.ntk_gp_predict(NET.kernel(a, None, get="ntk"), y, 100.0,
                                              lr=1e-2, diag_reg=1e-5) ** 2)
    g = jax.jit(jax.grad(loss))(x)
    assert g.dtype == dtype and bool(jnp.all(jnp.isfinite(g)))
    assert float(jnp.abs(g).max()) > 0


@pytest.mark.parametrize("call, message", [
    (lambda: K.ntk_gp_predict(jnp.eye(3), jnp.ones(3), 1.0, method="lanczos"), "method"),
    (lambda: K.ntk_gp_predict(jnp.ones((3, 2)), jnp.ones(3), 1.0), "square"),
    (lambda: K.ntk_gp_predict(jnp.eye(3), jnp.ones(4), 1.0), "y must be"),
])
def test_bad_arguments_raise_kernel_errors(call, message):
    with pytest.raises(KernelError, match=message):
        call()
