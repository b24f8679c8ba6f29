"""The geometry layer: the pull-back metric, curve energies, connecting and shot
geodesics, and the graph initialisation, checked against closed forms (the unit sphere
through inverse stereographic projection, a linear decoder)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import gendsl as gd
from gendsl import geometry as G
from gendsl.errors import GeometryError


def sphere(u):
    """Inverse stereographic projection R^2 -> S^2: geodesics are great circles and the
    metric is 4 / (1 + |u|^2)^2 I."""
    n = jnp.sum(u ** 2)
    return jnp.concatenate([2 * u, (n - 1)[None]]) / (n + 1)


Z0, Z1 = jnp.array([-1.5, 0.3]), jnp.array([1.2, 0.8])


def arc(z0, z1):
    return float(jnp.arccos(jnp.clip(jnp.dot(sphere(z0), sphere(z1)), -1.0, 1.0)))


def off_great_circle(points, z0=Z0, z1=Z1):
    """The largest distance of the images of ``points`` from the plane of the great circle
    through ``sphere(z0)`` and ``sphere(z1)``."""
    normal = jnp.cross(sphere(z0), sphere(z1))
    normal = normal / jnp.linalg.norm(normal)
    return float(jnp.max(jnp.abs(jax.vmap(sphere)(points) @ normal)))


def mlp(key, sizes):
    keys = jax.random.split(key, len(sizes) - 1)
    ws = [jax.random.normal(k, (a, b)) / np.sqrt(a) for k, a, b in zip(keys, sizes, sizes[1:])]

    def g(z):
        h = z
        for i, w in enumerate(ws):
            h = h @ w
            if i < len(ws) - 1:
                h = jnp.tanh(h + 0.3)
        return h
    return g


# --- the metric ----------------------------------------------------------------------

@pytest.mark.parametrize("method", ["jacfwd", "matrix_free", "auto"])
def test_the_sphere_metric_and_magnification_match_the_closed_form(method):
    for u in (jnp.array([0.0, 0.0]), jnp.array([1.3, -0.4]), jnp.array([-2.0, 3.0])):
        lam = 4 / (1 + jnp.sum(u ** 2)) ** 2
        np.testing.assert_allclose(G.pullback_metric(sphere, u, method=method),
                                   lam * jnp.eye(2), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(G.magnification_factor(sphere, u, method=method), lam,
                                   rtol=1e-5)


def test_the_metric_is_psd_and_equals_the_explicit_jacobian_product():
    g = mlp(jax.random.key(0), [3, 16, 7])
    for z in jax.random.normal(jax.random.key(1), (4, 3)):
        j = jax.jacrev(g)(z)  # reverse mode: another route than the metric's
        explicit = j.T @ j
        for method in ("jacfwd", "matrix_free"):
            m = G.pullback_metric(g, z, method=method)
            np.testing.assert_allclose(m, explicit, rtol=1e-5, atol=1e-6)
            assert np.all(np.linalg.eigvalsh(np.asarray(m)) >= -1e-6)
        v = jnp.array([0.3, -1.0, 2.0])
        np.testing.assert_allclose(G.metric_vector_product(g, z, v), explicit @ v, rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(G.magnification_factor(g, z),
                                   np.sqrt(np.linalg.det(np.asarray(explicit))), rtol=1e-4)


def test_a_non_injective_decoder_has_zero_magnification():
    g = lambda z: jnp.stack([z[0] + z[1], jnp.sin(z[0] + z[1])])  # noqa: E731
    assert float(G.magnification_factor(g, jnp.array([0.2, 0.5]))) == pytest.approx(0, abs=1e-3)


def test_the_stochastic_metric_adds_the_mean_and_std_jacobian_products():
    mean = mlp(jax.random.key(2), [2, 8, 5])
    raw = mlp(jax.random.key(3), [2, 8, 5])
    std = lambda z: jax.nn.softplus(raw(z))  # noqa: E731
    z = jnp.array([0.4, -0.7])
    jm, js = jax.jacrev(mean)(z), jax.jacrev(std)(z)
    np.testing.assert_allclose(G.stochastic_metric(mean, std, z), jm.T @ jm + js.T @ js,
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(js.T @ js, 0)


# --- a flat decoder --------------------------------------------------------------------

A = jnp.array([[2.0, 0.5], [-1.0, 1.0], [0.3, 3.0], [1.0, 0.0]])


def linear(z):
    return A @ z + jnp.array([1.0, -2.0, 0.5, 0.0])


def test_a_linear_decoder_has_the_constant_metric_ata_and_straight_geodesics():
    for z in (jnp.zeros(2), jnp.array([5.0, -3.0])):
        np.testing.assert_allclose(G.pullback_metric(linear, z), A.T @ A, rtol=1e-6)
    z0, z1 = jnp.array([-1.0, 2.0]), jnp.array([2.0, 0.5])
    bent = jax.random.normal(jax.random.key(0), (14, 2))  # a wildly bent initial curve
    best = G.geodesic(linear, z0, z1, curve=G.discrete_curve(z0, z1, 16, bent))
    t = jnp.linspace(0, 1, 16)[:, None]
    np.testing.assert_allclose(best.curve.nodes(), (1 - t) * z0 + t * z1, atol=2e-3)
    assert float(best.length) == pytest.approx(float(jnp.linalg.norm(A @ (z1 - z0))), rel=1e-4)


# --- energy ------------------------------------------------------------------------------

def curves_of_every_kind(z0, z1):
    key = jax.random.key(4)
    k1, k2, k3 = jax.random.split(key, 3)
    disc = G.discrete_curve(z0, z1, 8)
    disc = dataclasses.replace(disc, params=disc.params + 0.3 * jax.random.normal(
        k1, disc.params.shape, disc.params.dtype))
    spline = G.cubic_spline(z0, z1, 3)
    spline = dataclasses.replace(spline, params=jax.random.normal(
        k2, spline.params.shape, spline.params.dtype))
    neural = G.neural_curve(z0, z1, k3, hidden=4)
    neural = dataclasses.replace(neural, params=jax.tree.map(
        lambda p: p + 0.5 * jnp.ones_like(p), neural.params))
    return {"discrete": disc, "spline": spline, "neural": neural}


@pytest.mark.parametrize("kind", ["discrete", "spline", "neural"])
def test_the_energy_gradient_matches_finite_differences(kind):
    with jax.enable_x64(True):
        g = mlp(jax.random.key(5), [2, 8, 3])
        z0, z1 = jnp.array([-1.0, 0.5], jnp.float64), jnp.array([1.0, -0.2], jnp.float64)
        curve = curves_of_every_kind(z0, z1)[kind]
        assert jax.tree.leaves(curve.params)[0].dtype == jnp.float64

        def f(params):
            return G.energy(g, dataclasses.replace(curve, params=params), num=9)
        grad = jax.grad(f)(curve.params)
        leaves, tree = jax.tree.flatten(curve.params)
        keys = jax.random.split(jax.random.key(6), len(leaves))
        direction = tree.unflatten([jax.random.normal(k, x.shape, x.dtype)
                                    for k, x in zip(keys, leaves)])
        eps = 1e-5
        plus = jax.tree.map(lambda p, d: p + eps * d, curve.params, direction)
        minus = jax.tree.map(lambda p, d: p - eps * d, curve.params, direction)
        fd = (f(plus) - f(minus)) / (2 * eps)
        analytic = sum(jnp.vdot(a, d) for a, d in zip(jax.tree.leaves(grad),
                                                       jax.tree.leaves(direction)))
        assert abs(float(fd)) > 1e-3
        assert float(analytic) == pytest.approx(float(fd), rel=1e-7)


def test_the_energy_is_the_riemann_sum_and_bounds_the_squared_length():
    pts = jnp.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    ident = lambda z: z  # noqa: E731
    assert float(G.energy(ident, pts)) == pytest.approx(2 * (1 + 4))
    assert float(G.length(ident, pts)) == pytest.approx(3.0)
    assert float(G.length(ident, pts)) ** 2 <= float(G.energy(ident, pts))


@pytest.mark.slow
def test_the_geodesic_energy_never_exceeds_the_straight_lines():
    g = mlp(jax.random.key(7), [2, 16, 6])
    ends = jax.random.normal(jax.random.key(8), (4, 2, 2)) * 1.5
    lines = jax.vmap(lambda a, b: G.discrete_curve(a, b, 12))(ends[:, 0], ends[:, 1])
    best = jax.jit(jax.vmap(lambda c: G.minimize_energy(g, c, steps=100)))(lines)
    straight = jax.vmap(lambda c: G.energy(g, c))(lines)
    np.testing.assert_allclose(best.straight_energy, straight, rtol=1e-6)
    assert np.all(best.energy <= straight * (1 + 1e-6))
    np.testing.assert_allclose(jax.vmap(lambda c: G.energy(g, c))(best.curve), best.energy,
                               rtol=1e-5)
    assert np.all(best.energy < 0.999 * straight)  # the decoder bends: lines are not optimal


# --- the sphere ------------------------------------------------------------------------

def test_the_straight_line_is_no_sphere_geodesic():
    line = G.discrete_curve(Z0, Z1, 16).nodes()
    assert off_great_circle(line) > 0.1
    assert float(G.length(sphere, line)) > 1.05 * arc(Z0, Z1)


@pytest.mark.parametrize("kind, nodes", [("discrete", 16), ("spline", 32),
                                         pytest.param("neural", 16, marks=pytest.mark.slow)])
def test_sphere_geodesics_are_great_circle_arcs(kind, nodes):
    best = G.geodesic(sphere, Z0, Z1, curve=kind, nodes=nodes, key=jax.random.key(0),
                      steps=400, tol=1e-5)
    assert float(best.length) == pytest.approx(arc(Z0, Z1), rel=0.01)
    assert off_great_circle(best.curve(jnp.linspace(0, 1, 64))) < 0.01


@pytest.mark.slow
def test_the_distance_matrix_on_the_sphere_is_the_angle_matrix():
    pts = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]])
    d = G.geodesic_distances(sphere, pts, nodes=12)
    x = jax.vmap(sphere)(pts)
    angles = np.arccos(np.clip(np.asarray(x @ x.T), -1, 1))
    np.fill_diagonal(angles, 0)
    np.testing.assert_allclose(d, angles, rtol=0.01, atol=1e-6)
    rect = G.geodesic_distances(sphere, pts[:2], pts[2:], nodes=12)
    np.testing.assert_allclose(rect, angles[:2, 2:], rtol=0.01)


@pytest.mark.slow
def test_the_distance_matrix_is_one_program_whatever_the_number_of_points():
    traces = []

    def counted(z):
        traces.append(1)
        return sphere(z)
    sizes = []
    for n in (3, 6):
        traces.clear()
        pts = jax.random.normal(jax.random.key(n), (n, 2))
        G.geodesic_distances(counted, pts, nodes=6, steps=3)
        sizes.append(len(traces))
    assert sizes[0] == sizes[1] > 0  # 3 and 15 pairs: the decoder is traced as often


@pytest.mark.parametrize("tableau", [gd.RK4, gd.HEUN])
def test_shot_sphere_geodesics_stay_on_the_great_circle_at_constant_speed(tableau):
    v0 = jnp.array([1.0, 0.6])
    shot = G.shoot(sphere, Z0, v0, steps=64, tableau=tableau)
    x = jax.vmap(sphere)(shot.points)
    tangent = jax.jvp(sphere, (Z0,), (v0,))[1]
    normal = jnp.cross(x[0], tangent)
    normal = normal / jnp.linalg.norm(normal)
    assert float(jnp.max(jnp.abs(x @ normal))) < 1e-3
    speed = jax.vmap(lambda z, v: jnp.linalg.norm(jax.jvp(sphere, (z,), (v,))[1]))(
        shot.points, shot.velocities)
    np.testing.assert_allclose(speed, speed[0], rtol=1e-3)
    # the sphere's geodesic turns through |J v0| radians in unit time
    turned = jnp.arccos(jnp.clip(x[0] @ x[-1], -1, 1))
    assert float(turned) == pytest.approx(float(speed[0]), rel=1e-3)


def test_euler_shooting_drifts_off_the_circle_more_than_rk4():
    v0 = jnp.array([1.0, 0.6])
    drift = {}
    for tableau in (gd.EULER, gd.RK4):
        shot = G.shoot(sphere, Z0, v0, steps=16, tableau=tableau)
        drift[tableau.name] = abs(float(jnp.linalg.norm(
            jax.jvp(sphere, (shot.points[-1],), (shot.velocities[-1],))[1])) - float(
            jnp.linalg.norm(jax.jvp(sphere, (Z0,), (v0,))[1])))
    assert drift["rk4"] < drift["euler"] / 10


def test_the_metric_form_of_the_geodesic_ode_agrees_with_the_embedded_form():
    g = mlp(jax.random.key(9), [2, 12, 5])
    z, v = jnp.array([0.3, -0.2]), jnp.array([0.7, 1.1])
    np.testing.assert_allclose(
        G.metric_acceleration(lambda y: G.pullback_metric(g, y), z, v),
        G.geodesic_acceleration(g, z, v), rtol=1e-3, atol=1e-5)


def test_exp_of_log_returns_to_the_end_point():
    v = G.log_map(sphere, Z0, Z1, nodes=24)
    np.testing.assert_allclose(G.exp_map(sphere, Z0, v, steps=64), Z1, atol=0.02)



# --- compile once ----------------------------------------------------------------------

def test_a_repeated_geodesic_call_compiles_nothing_and_gives_the_same_result():
    traces = []

    def counted(z):
        traces.append(1)  # runs only while the solver is being traced
        return sphere(z)

    first = G.geodesic(counted, Z0, Z1, nodes=8, steps=40)
    n = len(traces)
    again = G.geodesic(counted, Z0, Z1, nodes=8, steps=40)
    other = G.geodesic(counted, Z1, Z0, nodes=8, steps=60, tol=1e-5)  # new ends, steps, tol
    assert n > 0 and len(traces) == n
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again)):
        np.testing.assert_array_equal(a, b)
    line = G.discrete_curve(Z0, Z1, 8)
    fresh = jax.jit(lambda c: G.minimize_energy(sphere, c, steps=40))(line)
    np.testing.assert_allclose(first.curve.nodes(), fresh.curve.nodes(), rtol=1e-5, atol=1e-6)
    assert int(first.steps) == int(fresh.steps) and int(other.steps) > 0
    assert float(other.length) == pytest.approx(float(first.length), rel=1e-3)


class TanhDecoder(nnx.Module):
    """A small NNX decoder R^2 -> R^5 that counts how often it is traced."""

    def __init__(self, traces, *, rngs):
        self.linear = nnx.Linear(2, 5, rngs=rngs)
        self.traces = traces

    def __call__(self, z):
        self.traces.append(1)
        return jnp.tanh(self.linear(z))


def test_a_module_decoders_parameters_are_arguments_not_baked_in_constants():
    traces = []
    a = TanhDecoder(traces, rngs=nnx.Rngs(0))
    b = TanhDecoder(traces, rngs=nnx.Rngs(1))
    z0, z1 = jnp.array([-1.0, 0.5]), jnp.array([1.0, -0.5])
    on_a = G.geodesic(a, z0, z1, nodes=8, steps=50)
    n = len(traces)
    on_b = G.geodesic(b, z0, z1, nodes=8, steps=50)
    assert n > 0 and len(traces) == n  # one structure: one compile
    line = G.discrete_curve(z0, z1, 8)
    for module, got in [(a, on_a), (b, on_b)]:
        want = G.minimize_energy(module, line, steps=50)
        np.testing.assert_allclose(got.energy, want.energy, rtol=1e-5)
    assert abs(float(on_a.energy) - float(on_b.energy)) > 1e-3


@pytest.mark.slow
def test_a_repeated_distance_matrix_compiles_nothing_and_chunks_agree():
    traces = []

    def counted(z):
        traces.append(1)
        return sphere(z)
    pts = jax.random.normal(jax.random.key(3), (5, 2))
    whole = G.geodesic_distances(counted, pts, nodes=8, steps=60)
    n = len(traces)
    again = G.geodesic_distances(counted, pts + 0.1, nodes=8, steps=60)
    assert n > 0 and len(traces) == n
    for batch_size in (3, 1):  # vmapped chunks of 3 (and a remainder); one by one
        chunked = G.geodesic_distances(counted, pts, nodes=8, steps=60, batch_size=batch_size)
        np.testing.assert_allclose(chunked, whole, rtol=1e-4)
    assert not np.allclose(again, whole)

# --- graph initialisation ----------------------------------------------------------------

def wall(z):
    """The plane with a tall narrow bump at the origin: the metric is large on the bump's
    flanks, a low-density gap on the straight line between (-2, 0) and (2, 0)."""
    return jnp.concatenate([z, 4.0 * jnp.exp(-jnp.sum(z ** 2) / (2 * 0.5 ** 2))[None]])


@pytest.mark.slow
def test_the_graph_initialisation_goes_around_a_gap_the_straight_line_stays_stuck_in():
    a, b = jnp.array([-2.0, 0.0]), jnp.array([2.0, 0.0])
    stuck = G.geodesic(wall, a, b, nodes=24)
    graph = G.latent_graph(wall, [(-3, 3), (-3, 3)], size=25)
    init = G.graph_curve(wall, graph, a, b, nodes=24)
    around = G.geodesic(wall, a, b, curve=init)
    assert float(jnp.max(jnp.abs(stuck.curve.nodes()[:, 1]))) < 1e-3  # stuck on the line
    assert float(jnp.min(jnp.linalg.norm(around.curve.nodes(), axis=1))) > 0.8  # went around
    assert float(around.energy) < 0.5 * float(stuck.energy)
    assert float(around.length) < 0.8 * float(stuck.length)


def test_the_grid_graph_on_a_flat_decoder_gives_output_distances():
    graph = G.latent_graph(linear, [(0, 1), (0, 2)], size=(3, 5), diagonals=False)
    assert graph.nodes.shape == (15, 2)
    assert graph.weights.nnz == 22  # a 3 x 5 grid has 2*5 + 3*4 edges, each stored once
    points, dist = graph.shortest_path(jnp.array([0.0, 0.0]), jnp.array([0.0, 2.0]))
    assert dist == pytest.approx(float(jnp.linalg.norm(A @ jnp.array([0.0, 2.0]))), rel=1e-6)
    np.testing.assert_allclose(points[:, 0], 0.0)


# --- errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: G.geodesic(sphere, jnp.zeros(2), jnp.zeros(3)), "z0 has shape"),
    (lambda: G.discrete_curve(jnp.zeros(2), jnp.ones(2), nodes=2), "nodes=2"),
    (lambda: G.geodesic(sphere, jnp.zeros(2), jnp.ones(2), curve="bezier"), "curve='bezier'"),
    (lambda: G.geodesic(sphere, jnp.zeros(2), jnp.ones(2), curve="neural"), "needs key"),
    (lambda: G.pullback_metric(sphere, jnp.zeros((3, 2))), "z has shape"),
    (lambda: G.pullback_metric(sphere, jnp.zeros(2), method="svd"), "method must be"),
    (lambda: G.shoot(sphere, jnp.zeros(2), jnp.zeros(3)), "v0 has shape"),
    (lambda: G.latent_graph(sphere, [(1, -1)]), "bounds="),
    (lambda: G.latent_graph(sphere, [(-1, 1), (-1, 1)], size=5).nearest(jnp.array([0., 4.])),
     "outside the grid"),
    (lambda: G.geodesic_distances(sphere, jnp.zeros(3)), "points has shape"),
    (lambda: G.geodesic_distances(sphere, jnp.zeros((3, 2)), batch_size=0), "batch_size=0"),
    (lambda: G.geodesic(sphere, jnp.zeros(2), jnp.ones(2), steps=-1), "steps=-1"),
])
def test_bad_arguments_raise_a_geometry_error_naming_them(call, match):
    with pytest.raises(GeometryError, match=match):
        call()
    assert issubclass(GeometryError, gd.GendslError)


# --- the docs --------------------------------------------------------------------------

@pytest.mark.slow
def test_the_example_of_geometry_md_runs(capsys):
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "docs" / "geometry.md").read_text()
    [example] = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
                 if "G.log_map" in b]
    exec(compile(example, "docs/geometry.md", "exec"), {})
    out = capsys.readouterr().out
    assert "M(0) = [[4.0, 0.0], [0.0, 4.0]]" in out
    ratios = [float(x) for x in re.findall(r"geodesic: length/arc = ([\d.]+)", out)]
    assert len(ratios) == 3 and all(abs(r - 1) < 0.01 for r in ratios)
    line, graph = map(float, re.search(r"energy ([\d.]+) from the line, ([\d.]+) from the "
                                       r"graph", out).groups())
    assert graph < 0.5 * line
