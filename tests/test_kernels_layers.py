"""Layer specs: API, finite modules, spatial modes, blockwise evaluation, errors, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from gendsl import kernels as K
from gendsl.errors import KernelError
from gendsl.kernels.safe_math import vector_atan2


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def images(key, n, shape=(6, 6, 2)):
    return jax.random.normal(jax.random.key(key), (n,) + shape)


CNN = K.serial(K.Conv(8, (3, 3), (2, 2), "SAME", W_std=1.3, b_std=0.2), K.Relu(),
               K.Conv(8, (2, 2), padding="VALID", W_std=1.2, b_std=0.1), K.LeakyRelu(0.1),
               K.Flatten(), K.Dense(1, W_std=1.5))
POOL = K.serial(K.Conv(8, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), K.Relu(),
                K.AvgPool((2, 2), padding="SAME", strides=(2, 2)),
                K.residual(K.Erf(a=1.2, b=0.7, c=0.1), K.Conv(8, (1, 1), W_std=1.0, b_std=0.05)),
                K.GlobalAvgPool(), K.Dense(1, W_std=1.3, b_std=0.1))


def test_get_returns_array_or_namedtuple_in_order():
    x, y = jnp.ones((3, 4)), jnp.zeros((2, 4))
    net = K.serial(K.Dense(16, W_std=1.5, b_std=0.1), K.Relu(), K.Dense(1))
    pair = net.kernel(x, y, get=("ntk", "nngp"))
    assert pair._fields == ("ntk", "nngp") and pair.ntk.shape == (3, 2)
    both = net.kernel(x, y)
    assert both._fields == ("nngp", "ntk")
    np.testing.assert_array_equal(net.kernel(x, y, get="nngp"), both.nngp)
    np.testing.assert_array_equal(pair.ntk, both.ntk)


def test_specs_are_immutable_and_hashable():
    layer = K.Conv(4, [3, 3], padding="SAME")
    assert layer.filter_shape == (3, 3) and layer.strides == (1, 1)
    with pytest.raises(Exception):
        layer.out = 5
    assert hash(CNN) == hash(K.serial(*CNN.layers))


def test_kernel_is_symmetric_and_psd_and_x2_none_equals_x2_x1():
    x = images(0, 4)
    k = POOL.kernel(x, get=("nngp", "ntk"))
    k2 = POOL.kernel(x, x, get=("nngp", "ntk"))
    for a, b in zip(k, k2):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(a, a.T, rtol=1e-5)
        assert np.linalg.eigvalsh(np.asarray(a, np.float64)).min() > -1e-4


def test_avgpool_over_the_whole_image_is_global_avg_pool(x64):
    x = images(1, 4)
    body = [K.Conv(4, (3, 3), padding="SAME", b_std=0.1), K.Relu()]
    pooled = K.serial(*body, K.AvgPool((6, 6)), K.Flatten(), K.Dense(1)).kernel(x)
    gap = K.serial(*body, K.GlobalAvgPool(), K.Dense(1)).kernel(x)
    np.testing.assert_allclose(pooled.ntk, gap.ntk, rtol=1e-12)
    np.testing.assert_allclose(pooled.nngp, gap.nngp, rtol=1e-12)


def _largest_intermediate(fn, *args) -> int:
    """Entries of the largest array anywhere in ``fn``'s jaxpr (sub-jaxprs included)."""
    sizes = [0]

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            sizes.extend(int(np.prod(v.aval.shape)) for v in eqn.outvars)
            for value in eqn.params.values():
                for sub in value if isinstance(value, (tuple, list)) else (value,):
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        walk(inner)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return max(sizes)


def test_flatten_readout_never_builds_position_pair_blocks_and_gap_does():
    """A Flatten readout needs same-position covariances only: O(n^2 P) per layer. A
    GlobalAvgPool readout needs all position pairs, (n^2 P^2), and so do its inputs."""
    body = [K.Conv(4, (3, 3), padding="SAME", b_std=0.1), K.Relu(),
            K.Conv(4, (3, 3), padding="SAME"), K.Relu()]
    flat = K.serial(*body, K.Flatten(), K.Dense(1))
    gap = K.serial(*body, K.GlobalAvgPool(), K.Dense(1))
    assert flat.needs_full_input(False) is False and gap.needs_full_input(False) is True
    n, positions = 3, 12 * 12
    x = images(0, n, (12, 12, 1))
    pairs = n * n * positions * positions  # 186624
    # (P, n, n) maps, padded by the SAME convolutions, and the (n, P, 9) input patches
    limit = 2 * max(n * n * positions, n * positions * 9)  # 7776
    for get in ("nngp", "ntk"):
        flat_fn = lambda a: flat.kernel(a, get=get, block_size=0)
        gap_fn = lambda a: gap.kernel(a, get=get, block_size=0)
        assert _largest_intermediate(flat_fn, x) <= limit
        assert _largest_intermediate(jax.grad(lambda a: flat_fn(a).sum()), x) <= limit
        assert _largest_intermediate(gap_fn, x) >= pairs


def test_spatial_output_is_the_all_pairs_covariance_in_neural_tangents_layout(x64):
    x, y = images(2, 3, (5, 4, 2)), images(3, 2, (5, 4, 2))
    net = K.serial(K.Conv(4, (3, 3), padding="SAME", b_std=0.1), K.Relu(), K.Conv(4, (2, 2)))
    k = net.kernel(x, y, "nngp")
    assert k.shape == (3, 2, 4, 4, 3, 3)  # (n1, n2, H, H', W, W')
    same_position = jnp.einsum("ijaabb->ijab", k)
    flat = K.serial(*net.layers, K.Flatten()).kernel(x, y, "nngp")
    np.testing.assert_allclose(same_position.mean(axis=(2, 3)), flat, rtol=1e-12)
    tiled = net.kernel(x, None, "nngp", block_size=2)
    np.testing.assert_allclose(tiled, net.kernel(x, None, "nngp", block_size=0), rtol=1e-12)


@pytest.mark.parametrize("net", [CNN, POOL], ids=["cnn", "pool"])
def test_blockwise_equals_one_block(net, x64):
    """Blocks of 3 rows over 5 (uneven, padded): symmetric tiles (x2=None) and row blocks."""
    x, y = images(4, 5), images(5, 3)
    for x2 in (None, y):
        one = net.kernel(x, x2, block_size=0)
        got = net.kernel(x, x2, block_size=3)
        np.testing.assert_allclose(got.ntk, one.ntk, rtol=1e-12)
        np.testing.assert_allclose(got.nngp, one.nngp, rtol=1e-12)


def assert_gradient_matches_finite_differences(fn, x, key=0, h=1e-6):
    """``grad <w, fn(x)>`` against a central difference along a random direction."""
    w = jax.random.normal(jax.random.key(key), jax.eval_shape(fn, x).shape, x.dtype)
    value = jax.jit(lambda a: jnp.sum(w * fn(a)))
    grad = jax.jit(jax.grad(lambda a: jnp.sum(w * fn(a))))(x)
    v = jax.random.normal(jax.random.key(key + 1), x.shape, x.dtype)
    fd = (value(x + h * v) - value(x - h * v)) / (2 * h)
    np.testing.assert_allclose(jnp.sum(grad * v), fd, rtol=1e-6)


@pytest.mark.slow
def test_input_gradients_against_finite_differences(x64):
    """Reverse mode through symmetric tiles (rematerialised) and through all-pairs layers."""
    x, y = images(6, 5), images(7, 3)
    assert_gradient_matches_finite_differences(
        lambda a: CNN.kernel(a, None, "ntk", block_size=2), x)
    assert_gradient_matches_finite_differences(
        lambda a: POOL.kernel(a, y, "ntk", block_size=0), x)


FC = K.serial(K.Dense(8, b_std=0.1), K.LeakyRelu(0.2), K.Dense(8), K.Relu(), K.Dense(1))


@pytest.mark.parametrize("net, dtype", [(CNN, jnp.float32), (POOL, jnp.float32),
                                        (FC, jnp.float32), (FC, jnp.float64)],
                         ids=["cnn-f32", "pool-f32", "fc-f32", "fc-f64"])
def test_input_gradients_are_finite_at_coinciding_points(net, dtype, x64):
    shape = (5,) if isinstance(net.layers[0], K.Dense) else (6, 6, 2)
    x = jax.random.normal(jax.random.key(8), (3,) + shape, dtype)
    x = jnp.concatenate([x, x[:1]])  # a duplicated point: x1 == x2 off the diagonal too

    def total(a):  # a non-finite gradient of any term would make the sum's non-finite
        return (net.kernel(a, get="ntk").sum()  # symmetric tiles, exact diagonal
                + net.kernel(a, a, get="ntk").sum()  # x1 is x2, as two arguments
                + net.kernel(a, x, get=("nngp", "ntk")).nngp.sum())  # only x1 moves

    g = jax.jit(jax.grad(total))(x)
    assert g.dtype == dtype and bool(jnp.all(jnp.isfinite(g)))
    assert float(jnp.abs(g).max()) > 0


def test_nngp_gradient_at_coinciding_points_is_the_smooth_one(x64):
    """The ReLU NNGP is differentiable at x1 == x2; its gradient must be the limit."""
    net = K.serial(K.Dense(8), K.Relu(), K.Dense(1))
    x2 = jnp.array([[0.3, -1.2, 0.7]])
    at = jax.grad(lambda a: net.kernel(a, x2, "nngp").sum())(x2)
    near = jax.grad(lambda a: net.kernel(a, x2, "nngp").sum())(x2 + 1e-7 * jnp.array([[1.0, 2.0, -1.0]]))
    np.testing.assert_allclose(at, near, rtol=1e-5)


def test_vector_atan2_matches_arctan2(x64):
    rng = np.random.default_rng(0)
    y = rng.normal(size=20000) * np.exp(rng.uniform(-6, 6, 20000))
    x = rng.normal(size=20000)
    for dtype, tol in ((np.float64, 1e-15), (np.float32, 5e-7)):
        got = jax.jit(vector_atan2)(jnp.asarray(y, dtype), jnp.asarray(x, dtype))
        got = np.asarray(got, np.float64)
        want = np.arctan2(y.astype(dtype).astype(np.float64), x.astype(dtype).astype(np.float64))
        assert np.max(np.abs(got - want)) < tol * np.pi


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_finite_dense_module_follows_the_parameterization(parameterization):
    spec = K.Dense(3000, W_std=1.5, b_std=0.5, parameterization=parameterization)
    module = spec.module((400,), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 400))
    out = module(x)
    assert out.shape == (2, 3000)
    # Output variance per unit: W_std^2 * |x|^2 / fan_in + b_std^2, in both parameterizations.
    want = 1.5 ** 2 * jnp.sum(x * x, axis=1) / 400 + 0.25
    np.testing.assert_allclose(jnp.var(out, axis=1), want, rtol=0.1)
    raw = module.kernel[...]
    expected_std = 1.0 if parameterization == "ntk" else 1.5 / 20
    assert abs(float(jnp.std(raw)) - expected_std) < 0.02 * expected_std
    # the bias: N(0, 1) scaled by b_std in the forward pass (ntk), or at init (standard)
    bias_std = 1.0 if parameterization == "ntk" else 0.5
    assert abs(float(jnp.std(module.bias[...])) - bias_std) < 0.05 * bias_std


@pytest.mark.parametrize("build, message", [
    (lambda: K.serial(K.Conv(4, (3, 3)), K.Dense(1)).kernel(jnp.ones((2, 5))), "NHWC"),
    (lambda: K.serial(K.Dense(4), K.GlobalAvgPool()).kernel(jnp.ones((2, 5))), "GlobalAvgPool"),
    (lambda: K.Dense(0), "positive"),
    (lambda: K.Dense(4, parameterization="mup"), "parameterization"),
    (lambda: K.Conv(4, (3, 3), padding="CIRCULAR"), "padding"),
    (lambda: K.Conv(4, (7, 7)).kernel(jnp.ones((2, 5, 5, 1))), "does not fit"),
    (lambda: K.Dense(4).kernel(jnp.ones((2, 5)), get="cov"), "get"),
    (lambda: K.Dense(4).kernel(jnp.ones((2, 5)), jnp.ones((2, 6))),
     r"x2 has per-example shape \(6,\) but x1 has \(5,\)"),
    (lambda: K.serial(K.FanOut(2), K.parallel(K.Dense(4))).kernel(jnp.ones((2, 5))), "branches"),
    (lambda: K.serial(K.FanOut(2), K.Relu()).kernel(jnp.ones((2, 5))), "FanInSum"),
    (lambda: K.serial(K.FanOut(2), K.parallel(K.Dense(4), K.Dense(5)), K.FanInSum())
     .kernel(jnp.ones((2, 5))), "differ"),
    (lambda: K.from_recipe([["Dropout", {"rate": 0.1}]]), "unknown"),
    (lambda: K.from_recipe([["Dense", {"out": 3, "width": 2}]]), "bad arguments"),
    (lambda: K.serial(K.Dense(3), "relu"), "layers"),
])
def test_bad_networks_raise_kernel_errors_naming_the_fault(build, message):
    with pytest.raises(KernelError, match=message):
        build()
