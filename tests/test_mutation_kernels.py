"""Tests that kill the kernels' surviving mutants (docs/mutation.md).

Each names the behaviour it pins; the mutant it was written against is in the comment.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax
from jax.test_util import check_grads

from gendsl import kernels as K
from gendsl.kernels.krylov import krylov_fit
from gendsl.kernels.layer import auto_block_size
from gendsl.kernels.relu import arc_cosine
from gendsl.kernels.safe_math import safe_sqrt
from gendsl.kernels.spatial import patches


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _pairs(key, n=6):
    """Covariances and variance products of n random pairs, |c| < sqrt(q1 q2) strictly."""
    k1, k2, k3 = jax.random.split(jax.random.key(key), 3)
    q1 = jax.random.uniform(k1, (n,), jnp.float64, 0.5, 2.0)
    q2 = jax.random.uniform(k2, (n,), jnp.float64, 0.5, 2.0)
    corr = jax.random.uniform(k3, (n,), jnp.float64, -0.9, 0.9)
    return corr * jnp.sqrt(q1 * q2), q1 * q2


@pytest.mark.parametrize("a, b", [(0.0, 1.0), (0.2, 1.0), (-0.5, 1.5)],
                         ids=["relu", "leaky", "abrelu"])
def test_arc_cosine_derivatives_match_finite_differences(a, b, x64):
    """The closed-form JVPs of the arc-cosine map (NNGP alone, and NNGP with NTK) against
    central differences, forward and reverse mode, away from coinciding inputs."""
    # mutants: relu.py:49 `* d_prod` -> `+ d_prod`; relu.py:67 `2 * safe_prod` -> `2 / ...`
    cov, prod = _pairs(0)
    ntk = jnp.linspace(0.5, 1.5, cov.shape[0])
    check_grads(lambda c, p: arc_cosine(c, p, None, a, b)[0], (cov, prod), order=1,
                modes=("fwd", "rev"), eps=1e-6)
    check_grads(lambda c, p, t: arc_cosine(c, p, t, a, b), (cov, prod, ntk), order=1,
                modes=("fwd", "rev"), eps=1e-6)


@pytest.mark.parametrize("a", [2.0, 0.5])
def test_erf_kernels_scale_with_the_output_scale_squared(a):
    """``a * erf(b x)`` has ``a**2`` times the NNGP and the NTK of ``erf(b x)``."""
    # mutant: erf.py:43 `self.a ** 2` -> `self.a ** 1` in the NTK factor
    x = jax.random.normal(jax.random.key(0), (5, 3))
    one = K.serial(K.Dense(4, W_std=1.3, b_std=0.2), K.Erf(b=0.7)).kernel(x)
    scaled = K.serial(K.Dense(4, W_std=1.3, b_std=0.2), K.Erf(a=a, b=0.7)).kernel(x)
    np.testing.assert_allclose(scaled.nngp, a ** 2 * one.nngp, rtol=1e-5)
    np.testing.assert_allclose(scaled.ntk, a ** 2 * one.ntk, rtol=1e-5)


@pytest.mark.parametrize("spec, shape", [
    (K.Dense(5, W_std=1.4, b_std=0.3), (4, 3)),
    (K.Conv(5, (2, 2), W_std=1.4, b_std=0.3), (2, 4, 4, 3)),
], ids=["dense", "conv"])
def test_finite_module_adds_b_std_times_its_bias_in_the_ntk_parameterization(spec, shape):
    """NTK parameterization: ``y = W_std / sqrt(fan_in) * (x * w) + b_std * b``."""
    # mutant: conv.py:140 `y + spec.b_std * bias` -> `y - ...`
    module = spec.module(shape[1:], rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), shape)
    bias = jnp.asarray(module.bias[...])
    with_bias = module(x)
    module.bias[...] = jnp.zeros_like(bias)
    np.testing.assert_allclose(with_bias - module(x), 0.3 * jnp.broadcast_to(bias, with_bias.shape),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size, window, stride, padding", [
    (7, 2, 2, "VALID"),   # the last row and column fall outside every window
    (8, 3, 3, "VALID"),   # two of them do
    (7, 3, 2, "SAME"),
    (6, 3, 1, "SAME"),
])
def test_patches_equal_xla_conv_patches(size, window, stride, padding):
    """The pad-and-slice patches equal ``lax.conv_general_dilated_patches`` (one channel,
    where both order the features by filter row, then column), including inputs longer
    than the windows reach."""
    # mutant: spatial.py:105 the overhang cut from 0 -> from -1
    x = jax.random.normal(jax.random.key(2), (2, size, size, 1))
    got = patches(x, (window, window), (stride, stride), padding)
    want = lax.conv_general_dilated_patches(x, (window, window), (stride, stride), padding,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_describe_writes_tuple_fields_as_tuples():
    # mutant: layer.py:117 `"(" + ...` -> `"(" - ...`
    assert K.Conv(8, (5, 3), padding="SAME").describe() == \
        "Conv(8, filter_shape=(5, 3), strides=(1, 1), padding='SAME')"
    assert K.AvgPool((2, 1)).describe() == "AvgPool((2, 1), strides=(2, 1))"


POINTWISE = [K.Relu(), K.LeakyRelu(0.2), K.Erf(), K.Erf(a=1.3, b=0.7, c=0.1)]


@pytest.mark.parametrize("layer", POINTWISE, ids=lambda layer: layer.describe())
def test_pointwise_ntk_factor_is_the_nngp_derivative_in_the_covariance(layer, x64):
    """Price's theorem: ``E[phi'(u) phi'(v)] = d E[phi(u) phi(v)] / d cov(u, v)`` at fixed
    variances, so the factor a layer multiplies the NTK by is the derivative of its NNGP
    map; and a point with itself (``diag_fn``) is the pair map at ``cov = q``."""
    # mutants: erf.py:43 `(a**2 * b**2)` -> `(a**2 / b**2)` and the like
    cov, _ = _pairs(1)
    q1 = jnp.abs(cov) * 1.5 + 0.5
    q2 = cov ** 2 / q1 + jax.random.uniform(jax.random.key(3), cov.shape, jnp.float64, 0.1, 1.0)
    prod = layer.var_fn(q1) * layer.var_fn(q2)
    nngp = lambda c: layer.pair_fn(c, prod, None)[0]
    slope = jax.grad(lambda c: jnp.sum(nngp(c)))(cov)
    _, factor = layer.pair_fn(cov, prod, jnp.ones_like(cov))
    np.testing.assert_allclose(factor, slope, rtol=1e-10)
    np.testing.assert_allclose(layer.diag_fn(q1), layer.pair_fn(q1, layer.var_fn(q1) ** 2, None)[0],
                               rtol=1e-10)


def test_safe_sqrt_has_the_derivative_of_sqrt_away_from_0(x64):
    # mutant: safe_math.py:92 `x_dot / denom` -> `x_dot * denom`
    x = jnp.array([1e-6, 0.25, 4.0, 90.0])
    np.testing.assert_allclose(jax.vmap(jax.grad(safe_sqrt))(x), 0.5 / jnp.sqrt(x), rtol=1e-12)


def test_krylov_fit_does_not_depend_on_the_scale_of_its_right_hand_side(x64):
    """``(I - exp(-cK)) y`` is linear in ``y``: columns of norm 1e-3 and 1e3 give the eigh
    result scaled alike."""
    # mutant: krylov.py:89 the start vector normalised only where `norm > 1`
    a = jax.random.normal(jax.random.key(4), (12, 12))
    k = a @ a.T / 12
    y = jax.random.normal(jax.random.key(5), (12, 2))
    lam, u = jnp.linalg.eigh(k)
    fit = jax.jit(lambda rhs: krylov_fit(k, jnp.asarray(0.7), rhs, 12))
    for scale in (1e-3, 1.0, 1e3):
        want = u @ ((1 - jnp.exp(-0.7 * jnp.maximum(lam, 0)))[:, None] * (u.T @ (scale * y)))
        np.testing.assert_allclose(fit(scale * y), want, rtol=1e-8, atol=1e-10 * scale)


@pytest.mark.parametrize("readout, side, rows", [
    (K.GlobalAvgPool(), 8, 16), (K.GlobalAvgPool(), 28, 8), (K.GlobalAvgPool(), 48, 8),
    (K.Flatten(), 28, 32), (None, 8, 16), (None, 28, 8)])
def test_auto_block_size_follows_the_positions_a_block_holds(readout, side, rows):
    """Blocks hold about 2M entries. A pooled readout needs every pair of positions: 16
    rows of an 8 x 8 image's 4096 pairs; at 28 x 28 (614,656 pairs) and 48 x 48 (5.3M,
    more than the budget for one pair of examples) the floor of 8 rows. A flattened
    readout keeps only matching positions (784 at 28 x 28): 32 rows. A network with a
    spatial output (no readout) returns all position pairs, so it is sized by pairs."""
    # mutants: layer.py:88 `max(side.bit_length() - 1, 0)` -> `..., -1)` (a negative
    # shift); layer.py:72 the output's pairs not counted (it once read 32 rows at 28 x 28
    # for a conv network with a spatial output: 32 x 614,656 entries per column)
    head = K.serial(K.Conv(4, (3, 3), padding="SAME"), K.Relu())
    net = head if readout is None else K.serial(head, readout, K.Dense(1))
    assert auto_block_size(net, (side, side, 1)) == rows


def test_eigh_predictions_have_finite_exact_second_derivatives(x64):
    """Second order through the eigendecomposition's closed-form JVP (a Hessian-vector
    product in reverse over reverse mode, as a gradient penalty on a GA-NTK loss takes)
    is finite and equals central differences of the gradient."""
    # mutant: predict.py:77 the unused denominator 1.0 -> 0.0 (0/0 where eigenvalues meet)
    a = jax.random.normal(jax.random.key(6), (6, 6))
    k = a @ a.T / 6
    v = jax.random.normal(jax.random.key(7), (6, 6))
    v = v + v.T
    y = jax.random.normal(jax.random.key(8), (6, 2))
    grad = jax.jit(jax.grad(
        lambda m: jnp.sum(jnp.sin(K.ntk_gp_predict(m, y, t=3.0, method="eigh")))))
    hvp = jax.jit(jax.grad(lambda m: jnp.sum(grad(m) * v)))(k)  # reverse over reverse
    assert bool(jnp.all(jnp.isfinite(hvp)))
    h = 1e-5
    np.testing.assert_allclose(hvp, (grad(k + h * v) - grad(k - h * v)) / (2 * h), atol=1e-8)


def test_eigh_fit_derivative_is_zero_between_two_clipped_eigenvalues(x64):
    """``K``'s negative eigenvalues (round-off of a PSD kernel) are clipped to 0, so a
    change of ``K`` that only mixes two negative eigendirections leaves the fit as it is;
    the JVP agrees with central differences for that and for a generic direction."""
    # mutant: predict.py:79 `where(both_negative, 0.0, ...)` -> `where(both_negative, -1.0, ...)`
    from gendsl.kernels.predict import _eigh_fit
    q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(0), (5, 5), jnp.float64))
    k = q @ jnp.diag(jnp.array([-0.5, -0.2, 0.3, 1.0, 2.0])) @ q.T
    y = jax.random.normal(jax.random.key(1), (5, 2), jnp.float64)
    c = jnp.asarray(0.7)
    mix = jnp.outer(q[:, 0], q[:, 1]) + jnp.outer(q[:, 1], q[:, 0])
    generic = jax.random.normal(jax.random.key(2), (5, 5), jnp.float64)
    for e in (mix, generic + generic.T):
        _, tangent = jax.jvp(lambda m: _eigh_fit(m, c, y), (k,), (e,))
        h = 1e-6
        fd = (_eigh_fit(k + h * e, c, y) - _eigh_fit(k - h * e, c, y)) / (2 * h)
        np.testing.assert_allclose(tangent, fd, atol=1e-8)
    _, tangent = jax.jvp(lambda m: _eigh_fit(m, c, y), (k,), (mix,))
    np.testing.assert_allclose(tangent, 0.0, atol=1e-12)


def test_a_one_by_one_standard_conv_on_one_pixel_is_a_dense_layer(x64):
    """In the standard parameterization the NTK depends on each layer's fan-in: a 1x1
    Conv first layer on 1x1 images of C channels (fan-in C, read from the raw inputs)
    has the kernels of a Dense layer on the C features, and so has what follows it."""
    # mutant: state.py:88 InputState.channels `x1.shape[-1]` -> `x1.shape[-0]` (the batch size)
    x = jax.random.normal(jax.random.key(0), (3, 5), jnp.float64)
    std = dict(W_std=1.3, b_std=0.2, parameterization="standard")
    conv = K.serial(K.Conv(4, (1, 1), **std), K.Relu(), K.Flatten(), K.Dense(1, **std))
    dense = K.serial(K.Dense(4, **std), K.Relu(), K.Dense(1, **std))
    got = conv.kernel(x.reshape(3, 1, 1, 5), get=("nngp", "ntk"))
    want = dense.kernel(x, get=("nngp", "ntk"))
    np.testing.assert_allclose(got.nngp, want.nngp, rtol=1e-12)
    np.testing.assert_allclose(got.ntk, want.ntk, rtol=1e-12)
