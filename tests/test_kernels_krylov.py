"""The Lanczos NTK-GP fit (gendsl.kernels.krylov): values and gradients against the matrix
exponential and the eigendecomposition, breakdown, the error estimate, and "auto"."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg
from jax.extend.core import jaxprs_in_params

from gendsl import kernels as K
from gendsl.kernels import krylov, predict

NET = K.serial(K.Dense(64, W_std=1.5, b_std=0.1), K.Relu(), K.Dense(1, W_std=1.5, b_std=0.1))


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def random_psd(seed, n):
    a = jax.random.normal(jax.random.key(seed), (n, n + 3))
    return a @ a.T / n


def expm_fit(k, c, y):
    """Brute force: ``y - expm(-c K) y``, differentiated by JAX through the Pade approximant."""
    return y - jax.scipy.linalg.expm(-c * k) @ y


@pytest.mark.parametrize("seed, n, dim", [(0, 12, 12), (2, 40, 24)])
def test_value_and_gradients_equal_autodiff_of_expm(seed, n, dim, x64):
    """Float64, small random PSD K with c * lambda_max of about 10. With ``dim = n`` the
    Krylov space is the whole space, so only rounding separates the two: 1e-10 relative
    (measured: 1e-14). With ``dim = 24 < n = 40`` the truncation error of the
    exponential's action is below 1e-12 at this spread (measured 4e-15)."""
    k = random_psd(seed, n)
    c = jnp.asarray(10.0 / float(jnp.linalg.eigvalsh(k)[-1]))
    y = jax.random.normal(jax.random.key(seed + 10), (n, 2))
    w = jax.random.normal(jax.random.key(seed + 20), (n, 2))
    objective = lambda fit: (lambda k_, c_, y_: jnp.sum(w * fit(k_, c_, y_)))  # noqa: E731
    lanczos = jax.jit(jax.value_and_grad(objective(lambda a, b, v: krylov.krylov_fit(a, b, v, dim)),
                                         argnums=(0, 1, 2)))
    brute = jax.jit(jax.value_and_grad(objective(expm_fit), argnums=(0, 1, 2)))
    (v_l, (gk_l, gc_l, gy_l)), (v_b, (gk_b, gc_b, gy_b)) = lanczos(k, c, y), brute(k, c, y)
    np.testing.assert_allclose(v_l, v_b, rtol=1e-10)
    # K is read as symmetric: the gradient is the symmetric part of the unconstrained one.
    sym = (gk_b + gk_b.T) / 2
    np.testing.assert_allclose(gk_l, sym, rtol=1e-10, atol=1e-10 * float(jnp.abs(sym).max()))
    np.testing.assert_allclose(gc_l, gc_b, rtol=1e-10)
    np.testing.assert_allclose(gy_l, gy_b, rtol=1e-10, atol=1e-12)


def test_exact_breakdown_at_duplicated_points_is_finite_and_exact(x64):
    """Duplicated points make K rank deficient and eigenvalues repeat: the Krylov space
    of y closes after fewer than n steps (beta = 0) and the basis is padded with zeros."""
    x = jax.random.normal(jax.random.key(0), (4, 3))
    x = jnp.concatenate([x, x[:2]])
    k = NET.kernel(x, None, get="ntk")
    y = jax.nn.one_hot(jnp.array([0, 1, 0, 1, 0, 1]), 2)
    w = jax.random.normal(jax.random.key(2), (6, 2))
    loss = lambda method: jax.jit(jax.value_and_grad(  # noqa: E731
        lambda m: jnp.sum(w * K.ntk_gp_predict(m, y, 40.0, lr=0.5, diag_reg=1e-3, method=method,
                                               krylov_dim=6))))
    (v_k, g_k), (v_e, g_e) = loss("krylov")(k), loss("eigh")(k)
    assert bool(jnp.all(jnp.isfinite(g_k)))
    np.testing.assert_allclose(v_k, v_e, rtol=1e-12)
    np.testing.assert_allclose(g_k, g_e, rtol=1e-9, atol=1e-12 * float(jnp.abs(g_e).max()))
    # Identity: the space closes after one step.
    np.testing.assert_allclose(krylov.krylov_fit(jnp.eye(3), jnp.asarray(2.0), jnp.ones((3, 1))),
                               1 - np.exp(-2.0), rtol=1e-14)


def ga_ntk_loss(k, y, t, method, dim=krylov.DIM):
    """The programs' cross-entropy of every point against "real" (column 0)."""
    f = K.ntk_gp_predict(k, y, t, 1e-2, 1e-5, method=method, krylov_dim=dim)
    return optax.softmax_cross_entropy(f, jax.nn.one_hot(jnp.zeros(y.shape[0], int), 2)).mean()


def test_default_dimension_matches_eigh_on_a_ga_ntk_kernel(x64):
    """n = 256 (128 real ring points + 128 uniform fake points), the dense ReLU NTK at
    ga_ntk_mog's grid25 time t = 16 * 65536 (c * lambda of the two largest eigenvalues
    about 1e4 and 8e3, the rest decaying fast): with the default 32 steps the fit is
    within 1e-9 of eigh's and the gradient w.r.t. K within 1e-8 relative (float64;
    measured 2e-13 and 2e-12); with 4 steps both are off (measured 0.15 and 1.0)."""
    rng = np.random.default_rng(0)
    angles = rng.integers(0, 8, 128) * np.pi / 4
    real = np.c_[np.cos(angles), np.sin(angles)] * 2 + 0.02 * rng.normal(size=(128, 2))
    x = jnp.asarray(np.r_[real, rng.uniform(size=(128, 2))])
    k = NET.kernel(x, None, get="ntk")
    y = jax.nn.one_hot(np.r_[np.zeros(128, int), np.ones(128, int)], 2)
    t = 16 * 65536.0
    f_k = K.ntk_gp_predict(k, y, t, 1e-2, 1e-5, method="krylov")
    f_e = K.ntk_gp_predict(k, y, t, 1e-2, 1e-5, method="eigh")
    np.testing.assert_allclose(f_k, f_e, atol=1e-9)
    g_k = jax.jit(jax.grad(lambda m: ga_ntk_loss(m, y, t, "krylov")))(k)
    g_e = jax.jit(jax.grad(lambda m: ga_ntk_loss(m, y, t, "eigh")))(k)
    assert float(jnp.linalg.norm(g_k - g_e) / jnp.linalg.norm(g_e)) < 1e-8
    # Too few steps are visibly worse (so the comparison above can fail).
    f_4 = K.ntk_gp_predict(k, y, t, 1e-2, 1e-5, method="krylov", krylov_dim=4)
    assert float(jnp.abs(f_4 - f_e).max()) > 1e-2


def test_error_estimate_tracks_the_true_error(x64):
    """The estimate is not a bound, but on a random PSD matrix it is within a factor of
    10 of the true relative error at 4 and 10 steps (measured: factors 1.2-4)."""
    n = 40
    k = random_psd(3, n)
    c = jnp.asarray(10.0 / float(jnp.linalg.eigvalsh(k)[-1]))
    y = jax.random.normal(jax.random.key(4), (n, 1))
    exact = y - jnp.asarray(scipy.linalg.expm(-np.asarray(c) * np.asarray(k))) @ y
    for dim in (4, 10):
        err = float(jnp.linalg.norm(krylov.krylov_fit(k, c, y, dim) - exact) / jnp.linalg.norm(y))
        est = float(krylov.error_estimate(k, c, y, dim))
        assert err > 1e-12
        assert err / 10 < est < 10 * err, (dim, err, est)



@pytest.mark.parametrize("n, uses_eigh_of_k", [(predict.KRYLOV_MIN_N - 1, True),
                                               (predict.KRYLOV_MIN_N, False)])
def test_auto_uses_lanczos_from_krylov_min_n_points(n, uses_eigh_of_k):
    """Traced only: below the threshold "auto" holds an n x n eigh, from it on only the
    small eigh of the tridiagonal T."""
    k = jax.ShapeDtypeStruct((n, n), jnp.float32)
    y = jnp.ones((n, 2))
    jaxpr = jax.make_jaxpr(lambda m: K.ntk_gp_predict(m, y, 2 * 65536.0, 1e-2, 1e-5,
                                                      method="auto"))(k)
    shapes = []

    def walk(jpr):
        for eqn in jpr.eqns:
            if eqn.primitive.name == "eigh":
                shapes.append(eqn.invars[0].aval.shape)
            for sub in jaxprs_in_params(eqn.params):
                walk(sub)
    walk(jaxpr.jaxpr)
    assert ((n, n) in shapes) == uses_eigh_of_k
    assert shapes  # eigh of K or of the Ritz matrix T
