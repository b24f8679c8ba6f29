"""gd.geometry.density_std: a decoder std from a kernel density of the training codes,
and the expected metric it gives a decoder with a fixed likelihood std."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gendsl as gd

G = gd.geometry


def disc_codes(n=400, radius=1.0, seed=0):
    """Codes filling the unit disc (a uniform sample)."""
    rng = np.random.default_rng(seed)
    r = radius * np.sqrt(rng.uniform(size=n))
    a = rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(a), r * np.sin(a)], -1).astype(np.float32)


def test_median_spacing_is_the_nearest_neighbour_distance_of_a_grid():
    xs = np.arange(10) * 0.1
    grid = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    assert G.median_spacing(grid) == pytest.approx(0.1, rel=1e-4)


def test_the_std_is_obs_std_on_the_codes_far_std_far_away_and_grows_outwards():
    codes = disc_codes()
    std = G.density_std(codes, obs_std=0.05, far_std=1.0, out_shape=(3,))
    on = np.asarray(jax.vmap(std)(jnp.asarray(codes)))
    assert on.shape == (400, 3) and np.all(on == on[:, :1])
    assert np.median(on) < 0.06 and np.percentile(on, 90) < 0.065
    assert float(std(jnp.array([5.0, 0.0]))[0]) == pytest.approx(1.0, rel=1e-4)
    ray = jnp.linspace(0.0, 2.0, 41)[:, None] * jnp.array([[0.6, 0.8]])
    along = np.asarray(jax.vmap(std)(ray))[:, 0]
    assert np.all(np.diff(along[20:]) >= 0), along      # monotone from the rim (r = 1) out
    assert along[-1] > 0.9 and np.median(along[:18]) < 0.07 and along[26] > 0.5


def test_a_wider_kernel_fills_a_hole_in():
    """An annulus (a hole of radius 0.5): with the default bandwidth the std at the hole's
    centre is far_std-like, with a kernel as wide as the hole it stays near obs_std."""
    codes = disc_codes(2000)
    codes = codes[np.linalg.norm(codes, axis=1) > 0.5]
    narrow = G.density_std(codes, obs_std=0.05, far_std=1.0)
    wide = G.density_std(codes, obs_std=0.05, far_std=1.0, bandwidth=0.5)
    centre = jnp.zeros(2)
    assert narrow(centre).shape == ()
    assert float(narrow(centre)) > 0.9
    assert float(wide(centre)) < 0.1


def test_the_expected_metric_of_a_flat_decoder_grows_away_from_the_data():
    """A linear decoder A z has the constant metric A^T A; with the density std added the
    expected metric is A^T A on the data (within 5%: the kernel density ripples a little)
    and much larger on the data's rim, then A^T A again far out, where the std is flat."""
    A = jnp.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    std = G.density_std(disc_codes(), obs_std=0.05, far_std=1.0, out_shape=(3,))
    expected = G.stacked_decoder(lambda z: A @ z, std)
    trace = jax.jit(jax.vmap(lambda z: jnp.trace(G.pullback_metric(expected, z))))
    inside = np.asarray(trace(jnp.asarray(disc_codes(100, radius=0.8, seed=5))))
    np.testing.assert_allclose(inside, float(np.trace(A.T @ A)), rtol=0.05)
    out = np.asarray(trace(jnp.linspace(1.0, 1.5, 26)[:, None] * jnp.array([[0.0, 1.0]])))
    assert out.max() > 3 * float(np.trace(A.T @ A)), out
    assert out[-1] == pytest.approx(float(np.trace(A.T @ A)), rel=1e-3)   # flat again far out


@pytest.mark.parametrize("kwargs, match", [
    ({"codes": np.zeros((1, 2)), "obs_std": 0.1, "far_std": 1.0}, "at least two latent codes"),
    ({"codes": np.zeros(5), "obs_std": 0.1, "far_std": 1.0}, r"\(n, d\) array"),
    ({"codes": np.zeros((5, 2)), "obs_std": 1.0, "far_std": 0.5}, "0 < obs_std < far_std"),
    ({"codes": np.eye(2), "obs_std": 0.1, "far_std": 1.0, "bandwidth": 0.0},
     "bandwidth=0.0 must be positive"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(gd.errors.GeometryError, match=match):
        G.density_std(**kwargs)
