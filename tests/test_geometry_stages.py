"""Geodesics as a stage of a program (gd.geometry.geodesic_stage): "train the VAE, then
find geodesics" as one staged program with one checkpoint stream, the decoder frozen,
curves that match the plain function's, and a resume inside the geodesic stage."""

import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gendsl as gd
from gendsl.errors import GeometryError
from gendsl.run import CheckpointStore

G = gd.geometry
ROOT = Path(__file__).resolve().parents[1]

X0 = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -1.0], [-1.0, -1.0, 0.0]], np.float32)
X1 = np.array([[-1.0, 0.5, 0.0], [1.0, -1.0, 1.0], [1.5, 1.0, -0.5]], np.float32)
VAE_STEPS, GEO_STEPS, NODES = 60, 60, 10


def sphere(u):
    """Inverse stereographic projection R^2 -> S^2 (great circles are its geodesics)."""
    n = jnp.sum(u ** 2)
    return jnp.concatenate([2 * u, (n - 1)[None]]) / (n + 1)


class Sphere(nnx.Module):
    """The sphere as a module without parameters: a fixed, known decoder."""

    def __call__(self, z):
        return jax.vmap(sphere)(z)


def _vae_then_geodesics(geo_steps=GEO_STEPS):
    """Stage ``vae``: a 2-D-latent VAE on 3-D points; stage ``geodesics``: curves between
    the encoder's means of X0 and of X1 under the frozen decoder."""
    E = gd.player("E", lambda r: gd.nn.GaussianEncoder(3, (16,), 2, rngs=r), optax.adam(1e-2))
    Dec = gd.player("Dec", lambda r: gd.nn.MLP(2, (16,), 3, rngs=r, activation=jnp.tanh),
                    optax.adam(1e-2))
    neg_elbo = -gd.losses.elbo(E, Dec, gd.data("x"), likelihood="gaussian", obs_std=0.3)
    vae = gd.program({E: neg_elbo, Dec: neg_elbo}, gd.minimize())
    geo = G.geodesic_stage(Dec, E(X0)[0], E(X1)[0], steps=geo_steps, nodes=NODES,
                           optimizer=optax.adam(5e-2))
    return gd.stages([gd.stage("vae", vae, steps=VAE_STEPS), geo])


def _source():
    return gd.datasets.standard_normal(3, batch_size=32, seed=1, field="x")


def _fit(run_dir, steps, staged=None):
    compiled = gd.compile(staged or _vae_then_geodesics())
    result = gd.fit(compiled, (_source(), _source()), steps=steps, run_dir=run_dir,
                    steps_per_call=10, checkpoint_every=10, log_every=10, progress=False)
    return compiled, result


def _leaves(tree):
    return [np.asarray(v) for v in jax.tree.leaves(tree)]


@pytest.mark.slow
def test_vae_then_geodesics_is_one_program_that_freezes_the_decoder(tmp_path):
    _, after_vae = _fit(tmp_path / "run", VAE_STEPS)
    compiled, done = _fit(tmp_path / "run", VAE_STEPS + GEO_STEPS)
    params0, params1 = after_vae.state.params, done.state.params
    for player in ("Dec", "E"):                         # frozen in the geodesic stage
        for u, v in zip(_leaves(params0[player]), _leaves(params1[player])):
            np.testing.assert_array_equal(u, v)
    assert not np.any(np.asarray(params0["curves"]))    # straight lines until the stage
    assert np.any(np.asarray(params1["curves"]))
    assert params1["curves"].shape == (3, NODES - 2, 2)

    g = G.stage_decoder(compiled, done.state)
    curves = G.stage_curves(compiled, done.state)
    means0 = compiled.apply(done.state, "E", X0)[0]
    for i, c in enumerate(curves):                      # ends: the encodings, pinned
        np.testing.assert_allclose(c.begin, means0[i], rtol=1e-6)
        line = G.discrete_curve(c.begin, c.end, NODES)
        assert float(G.energy(g, c)) <= float(G.energy(g, line))
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    energy = [r["curves/curve_energy/energy"] for r in records
              if "curves/curve_energy/energy" in r]
    assert len(energy) == GEO_STEPS // 10 and energy[-1] < energy[0]
    # the stage's reported energy is the plain function's, on the same curves
    reported = compiled.evaluate(done.state, _source().batch(0))["curves/curve_energy/energy"]
    np.testing.assert_allclose(float(reported), np.mean([G.energy(g, c) for c in curves]),
                               rtol=1e-5)
    with CheckpointStore(tmp_path / "run" / "checkpoints") as store:
        assert store.latest() == VAE_STEPS + GEO_STEPS            # one stream


@pytest.mark.slow
def test_the_stage_finds_the_great_circles_the_plain_function_finds(tmp_path):
    # Adam(5e-2) for 400 steps against L-BFGS to |grad| < 1e-6: both minimise the same
    # discrete energy, whose minimiser (constant-speed nodes on the great circle) is
    # unique; measured, Adam's nodes end within 1e-2 of L-BFGS's and its lengths agree
    # to 1e-5 of the arc, so the bounds below leave a factor of 5 and 100.
    z0 = np.array([[-1.5, 0.3], [0.2, -1.0]], np.float32)
    z1 = np.array([[1.2, 0.8], [0.5, 1.5]], np.float32)
    geo = G.geodesic_stage(gd.player("Dec", Sphere()), z0, z1, steps=400, nodes=16,
                           optimizer=optax.adam(5e-2))
    compiled = gd.compile(gd.stages([geo]))
    result = gd.fit(compiled, (_source(),), steps=400, run_dir=tmp_path / "run",
                    steps_per_call=50, checkpoint_every=400, log_every=50, progress=False)
    g = G.stage_decoder(compiled, result.state)
    for c, a, b in zip(G.stage_curves(compiled, result.state), z0, z1):
        arc = float(jnp.arccos(sphere(a) @ sphere(b)))
        ref = G.geodesic(sphere, a, b, nodes=16, tol=1e-6, steps=1000)
        assert abs(float(G.length(g, c)) / arc - 1) < 0.01
        assert abs(float(G.length(g, c)) - float(ref.length)) < 1e-3 * arc
        assert float(jnp.max(jnp.abs(c.nodes() - ref.curve.nodes()))) < 0.05
        on_sphere = jax.vmap(sphere)(c.nodes())         # on the great circle's plane
        normal = jnp.cross(sphere(a), sphere(b))
        assert float(jnp.max(jnp.abs(on_sphere @ normal))) < 0.01 * float(jnp.linalg.norm(normal))


@pytest.mark.slow
def test_resume_inside_the_geodesic_stage_matches_an_uninterrupted_run(tmp_path):
    # Bitwise: a resumed run restores the checkpointed state exactly (Orbax) and runs the
    # same jitted 10-step chunks on the same batches, and XLA on CPU is deterministic.
    _, straight = _fit(tmp_path / "straight", VAE_STEPS + GEO_STEPS)
    _fit(tmp_path / "resumed", VAE_STEPS + 30)              # stops 30 steps into the stage
    compiled, resumed = _fit(tmp_path / "resumed", VAE_STEPS + GEO_STEPS)
    assert resumed.start_step == VAE_STEPS + 30
    assert compiled.stages[0].trace_count == 0              # the VAE stage never reran
    assert np.any(np.asarray(resumed.state.params["curves"]))
    for u, v in zip(_leaves(straight.state.params), _leaves(resumed.state.params)):
        np.testing.assert_array_equal(u, v)
    for u, v in zip(_leaves(straight.state.opt_state), _leaves(resumed.state.opt_state)):
        np.testing.assert_array_equal(u, v)


def test_initial_curves_offsets_and_shapes():
    Dec = gd.player("Dec", Sphere())
    z0, z1 = np.array([-1.0, 0.0]), np.array([1.0, 0.0])
    bent = G.discrete_curve(z0, z1, 5, interior=[[-0.5, 0.5], [0.0, 0.7], [0.5, 0.5]])
    geo = G.geodesic_stage(Dec, z0, z1, steps=3, nodes=5, init=[bent], curves="C")
    compiled = gd.compile(gd.stages([geo]))
    state = compiled.init(jax.random.key(0), _source().batch(0))
    np.testing.assert_allclose(state.params["C"], [[[0.0, 0.5], [0.0, 0.7], [0.0, 0.5]]])
    [curve] = G.stage_curves(compiled, state)
    np.testing.assert_allclose(curve.nodes(), bent.nodes(), atol=1e-7)
    g = G.stage_decoder(compiled, state)
    np.testing.assert_allclose(g(jnp.zeros(2)), sphere(jnp.zeros(2)))
    out = compiled.evaluate(state, _source().batch(0))
    np.testing.assert_allclose(out["C/curve_energy/energy"], G.energy(sphere, bent), rtol=1e-6)
    np.testing.assert_allclose(out["C/curve_energy/length"], G.length(sphere, bent), rtol=1e-6)


def test_a_stochastic_decoder_is_measured_through_output():
    class MeanStd(nnx.Module):
        def __call__(self, z):
            return z, jnp.exp(z)

    Dec = gd.player("Dec", MeanStd())
    z0, z1 = np.zeros((1, 2), np.float32), np.ones((1, 2), np.float32)
    stacked = G.stacked_decoder(lambda z: z, jnp.exp)
    geo = G.geodesic_stage(Dec, z0, z1, steps=1, nodes=4,
                           output=lambda o: jnp.concatenate([o[0], o[1]], axis=-1))
    compiled = gd.compile(gd.stages([geo]))
    state = compiled.init(jax.random.key(0), _source().batch(0))
    [curve] = G.stage_curves(compiled, state)
    out = compiled.evaluate(state, _source().batch(0))
    np.testing.assert_allclose(out["curves/curve_energy/energy"], G.energy(stacked, curve),
                               rtol=1e-6)
    bare = gd.compile(gd.stages([G.geodesic_stage(Dec, z0, z1, steps=1, nodes=4)]))
    with pytest.raises(GeometryError, match="pass output="):
        bare.init(jax.random.key(0), _source().batch(0))


def test_bad_arguments_name_the_fault():
    Dec = gd.player("Dec", Sphere())
    E = gd.player("E", lambda r: gd.nn.GaussianEncoder(3, (8,), 2, rngs=r))
    a, b = np.zeros((2, 2)), np.ones((2, 2))
    with pytest.raises(GeometryError, match="decoder="):
        G.geodesic_stage(sphere, a, b, steps=1)
    with pytest.raises(GeometryError, match="decoder="):
        G.geodesic_stage(gd.points("P", a, optax.sgd(0.1)), a, b, steps=1)
    with pytest.raises(GeometryError, match="nodes=2"):
        G.geodesic_stage(Dec, a, b, steps=1, nodes=2)
    with pytest.raises(GeometryError, match=re.escape("begin has shape (2, 2) and end (3, 2)")):
        G.geodesic_stage(Dec, a, np.ones((3, 2)), steps=1)
    with pytest.raises(GeometryError, match="end has shape"):
        G.geodesic_stage(Dec, a, np.ones((2, 2, 1)), steps=1)
    with pytest.raises(GeometryError, match="begin reads data"):
        G.geodesic_stage(Dec, E(gd.data("x"))[0], b, steps=1)
    with pytest.raises(GeometryError, match=r"E\(x0\)\[0\]"):
        G.geodesic_stage(Dec, E(X0), b, steps=1)
    with pytest.raises(GeometryError, match="init= needs array end points"):
        G.geodesic_stage(Dec, E(X0[:2])[0], b, steps=1, init=np.zeros((2, 30, 2)))
    with pytest.raises(GeometryError, match=re.escape("must be (2, 3, 2)")):
        G.geodesic_stage(Dec, a, b, steps=1, nodes=5, init=np.zeros((2, 4, 2)))
    with pytest.raises(GeometryError, match="frozen player"):
        G.geodesic_stage(Dec, a, b, steps=1, curves="Dec")
    P = gd.points("P", a, optax.sgd(0.1))
    other = gd.stage("other", gd.program({P: gd.mean(gd.sq_norm(P()))}), steps=1)
    compiled = gd.compile(gd.stages([other, G.geodesic_stage(Dec, a, b, steps=1, name="geo")]))
    with pytest.raises(GeometryError, match=r"stage='geodesics'.*\['other', 'geo'\]"):
        G.stage_curves(compiled, None)
    with pytest.raises(GeometryError, match="'other' is not a geodesic stage"):
        G.stage_decoder(compiled, None, stage="other")


@pytest.mark.slow
def test_the_stage_example_of_geometry_md_runs(capsys):
    text = (ROOT / "docs" / "geometry.md").read_text()
    [example] = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
                 if "geodesic_stage" in b]
    exec(compile(example, "docs/geometry.md", "exec"), {})
    out = capsys.readouterr().out
    ratios = [float(x) for x in re.findall(r"length/arc = ([\d.]+)", out)]
    assert len(ratios) == 2 and all(abs(r - 1) < 0.01 for r in ratios)
