"""Empirical (finite-width) NTK: jvp/vjp against explicit Jacobians; convergence to the closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gendsl import kernels as K
from gendsl.errors import KernelError


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


class TwoHeads(nnx.Module):
    """An arbitrary NNX module (not from gendsl.kernels) with a 3-unit output."""

    def __init__(self, rngs):
        f64 = dict(param_dtype=jnp.float64, dtype=jnp.float64)
        self.a = nnx.Linear(4, 16, rngs=rngs, **f64)
        self.b = nnx.Linear(16, 3, rngs=rngs, **f64)
        self.scale = nnx.Param(jnp.array(0.7))

    def __call__(self, x):
        return self.b(jnp.tanh(self.a(x) * self.scale[...]))


def jacobian_ntk(model, x1, x2):
    """``mean_k <J1[i, k], J2[j, k]>`` from explicit per-output Jacobians (the reference)."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    f = lambda p, x: nnx.merge(graphdef, unravel(p), rest)(x).reshape(x.shape[0], -1)

    @jax.jit
    def contract(p, a, b):
        j1, j2 = jax.jacrev(f)(p, a), jax.jacrev(f)(p, b)  # (n, k, P)
        return jnp.einsum("ikp,jkp->ij", j1, j2) / j1.shape[1]

    return contract(flat, x1, x2)


def test_empirical_ntk_equals_jacobian_contraction(x64):
    """Any NNX module with several outputs, in column chunks, with and without x2."""
    model = TwoHeads(nnx.Rngs(0))
    x1 = jax.random.normal(jax.random.key(1), (5, 4))
    x2 = jax.random.normal(jax.random.key(2), (3, 4))
    np.testing.assert_allclose(K.empirical_ntk(model, x1, x2, batch_size=4),
                               jacobian_ntk(model, x1, x2), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(K.empirical_ntk(model, x1, batch_size=None),
                               jacobian_ntk(model, x1, x1), rtol=1e-10, atol=1e-12)


def test_empirical_ntk_of_a_kernel_network_module(x64):
    """The finite module of a network with every layer type (forward-over-reverse)."""
    cnn = K.serial(K.Conv(3, (2, 2), padding="SAME", W_std=1.3, b_std=0.2), K.Relu(),
                   K.AvgPool((2, 2)),
                   K.residual(K.Erf(a=1.2, b=0.7, c=0.1), K.Conv(3, (1, 1), b_std=0.1)),
                   K.LeakyRelu(0.1), K.FanOut(2),
                   K.parallel(K.GlobalAvgPool(), K.serial(K.Flatten(), K.Dense(3, W_std=1.1))),
                   K.FanInSum(), K.Identity(), K.Dense(2, W_std=1.2, b_std=0.1))
    model = cnn.module((4, 4, 1), rngs=nnx.Rngs(3))
    assert len(jax.tree.leaves(nnx.state(model, nnx.Param))) == 7  # 2 + 2 conv, 1 + 2 dense
    x1 = jax.random.normal(jax.random.key(4), (3, 4, 4, 1))
    x2 = jax.random.normal(jax.random.key(5), (2, 4, 4, 1))
    np.testing.assert_allclose(K.empirical_ntk(model, x1, x2), jacobian_ntk(model, x1, x2),
                               rtol=1e-10, atol=1e-12)


def test_empirical_ntk_of_an_apply_function(x64):
    params = {"w": jnp.arange(6.0).reshape(3, 2) / 5, "b": jnp.ones(2)}
    apply = lambda p, x: jnp.sin(x @ p["w"]) + p["b"]
    x = jax.random.normal(jax.random.key(0), (4, 3))
    got = K.empirical_ntk(apply, x, params=params)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    j = jax.jacrev(lambda p: apply(unravel(p), x))(flat)
    np.testing.assert_allclose(got, jnp.einsum("ikp,jkp->ij", j, j) / 2, rtol=1e-12)
    with pytest.raises(KernelError, match="params="):
        K.empirical_ntk(apply, x)


def _relative_errors(build, input_shape, x, widths, seeds):
    """Mean over seeds of ||Theta_emp - Theta|| / ||Theta|| at init, per width."""
    closed = build(1).kernel(x, None, get="ntk")  # the closed form does not depend on width
    errors = []
    for w in widths:
        net = build(w)
        errs = [jnp.linalg.norm(K.empirical_ntk(net.module(input_shape, rngs=nnx.Rngs(s)), x,
                                                batch_size=None) - closed)
                for s in seeds]
        errors.append(float(np.mean(errs) / jnp.linalg.norm(closed)))
    return errors


def test_empirical_ntk_approaches_the_closed_form_as_width_grows():
    """Relative error of the empirical NTK at init (mean of seeds) falls with width, as
    ~ 1 / sqrt(width), and is small at the largest width."""
    build = lambda w: K.serial(K.Dense(w, W_std=1.5, b_std=0.1), K.Relu(),
                               K.Dense(w, W_std=1.5, b_std=0.1), K.LeakyRelu(0.1),
                               K.Dense(1, W_std=1.5, b_std=0.1))
    x = jax.random.normal(jax.random.key(0), (6, 5))
    errors = _relative_errors(build, (5,), x, (16, 128, 1024), range(3))
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < errors[0] / 4, errors  # 64x the width: about 8x smaller
    assert errors[2] < 0.1, errors


@pytest.mark.slow
def test_empirical_conv_ntk_approaches_the_closed_form_as_width_grows():
    """The same for a conv network (channels as width), through Flatten: the finite
    Conv / Flatten modules and the kernel rules agree on the parameterization."""
    build = lambda w: K.serial(K.Conv(w, (3, 3), padding="SAME", W_std=1.4, b_std=0.1),
                               K.Relu(), K.Conv(w, (2, 2), (2, 2), W_std=1.4), K.Erf(),
                               K.Flatten(), K.Dense(1, W_std=1.2, b_std=0.1))
    x = jax.random.normal(jax.random.key(0), (6, 5, 5, 2))
    errors = _relative_errors(build, (5, 5, 2), x, (8, 256), range(3))
    assert errors[1] < errors[0] / 3, errors  # 32x the width: about 5.7x smaller
    assert errors[1] < 0.1, errors
