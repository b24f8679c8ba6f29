"""The geometry pictures: the heat map's values are the magnification factor, decoded
strips are the decoder along the path, and the files are written (and bad input named)."""

import jax.numpy as jnp
import numpy as np
import pytest

import gendsl as gd
from gendsl.errors import GeometryError

G = gd.geometry


def bump(z):
    """A plane with a bump: magnification 1 far away, larger near the origin."""
    return jnp.concatenate([z, 3.0 * jnp.exp(-jnp.sum(z ** 2))[None]])


def test_the_grid_holds_the_magnification_factor_at_each_cell():
    xs, ys, mf = G.magnification_grid(bump, [(-2, 2), (-1, 3)], size=5)
    assert xs.tolist() == [-2, -1, 0, 1, 2] and ys.tolist() == [-1, 0, 1, 2, 3]
    # rows are y: cell (i, j) is the point (xs[j], ys[i])
    for i, j in [(0, 0), (1, 2), (3, 4), (2, 1)]:
        want = G.magnification_factor(bump, jnp.array([xs[j], ys[i]], jnp.float32))
        np.testing.assert_allclose(mf[i, j], want, rtol=1e-5)
    # closed form: sqrt(det(I + grad h grad h^T)) = sqrt(1 + |grad h|^2)
    z = np.array([xs[2], ys[1]])
    grad = -6.0 * z * np.exp(-np.sum(z ** 2))
    np.testing.assert_allclose(mf[1, 2], np.sqrt(1 + grad @ grad), rtol=1e-5)


def test_a_decoded_strip_is_the_decoder_at_equally_spaced_points():
    line = G.discrete_curve(jnp.array([-1.0, 0.0]), jnp.array([1.0, 2.0]), nodes=3)
    strip = G.decoded_strip(bump, line, num=5)
    at = np.stack([np.linspace(-1, 1, 5), np.linspace(0, 2, 5)], -1)
    want = np.stack([np.asarray(bump(jnp.asarray(p, jnp.float32))) for p in at])
    np.testing.assert_allclose(strip, want, rtol=1e-5, atol=1e-6)


def test_the_pictures_are_written(tmp_path):
    a, b = jnp.array([-1.5, 0.0]), jnp.array([1.5, 0.0])
    line = G.discrete_curve(a, b, nodes=8)
    out = G.plot_magnification(tmp_path / "mf.png", bump, [(-2, 2), (-2, 2)], size=16,
                               paths={"geodesic": [line], "straight line": [line.points()]},
                               points=np.zeros((4, 2)), labels=np.arange(4))
    assert out.stat().st_size > 1000

    def image(z):
        return jnp.outer(jnp.arange(4.0), jnp.ones(4)) * z[0]

    out = G.plot_strips(tmp_path / "strips.png", image, {"geodesic": line, "line": line}, num=4)
    assert out.stat().st_size > 500


@pytest.mark.parametrize("bounds", [[(-1, 1)], [(1, -1), (0, 1)], [(0, 1), (0, 1), (0, 1)]])
def test_bad_bounds_are_named(bounds):
    with pytest.raises(GeometryError, match="bounds"):
        G.magnification_grid(bump, bounds)


def test_a_path_in_three_dimensions_is_refused_on_a_heat_map(tmp_path):
    with pytest.raises(GeometryError, match=r"paths\['p'\]\[0\].*2-D latent"):
        G.plot_magnification(tmp_path / "x.png", bump, [(-1, 1), (-1, 1)], size=4,
                             paths={"p": [np.zeros((5, 3))]})
