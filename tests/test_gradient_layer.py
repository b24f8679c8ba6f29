"""The gradient layer (Nitanda & Suzuki, AISTATS 2018): the primitive, its particle form
and its generator form (a stack of discriminator snapshots, and its distillation)."""

from pathlib import Path

import numpy as np
import jax
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

import gendsl as gd
from gendsl.errors import PrimitiveError, SolverError
from gendsl.experiments import run_experiment
from gendsl.run.program_file import build_experiment, load_program_file, program_config
from gendsl.terms.sources import latent_key

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"


class SmallD(nnx.Module):
    """A per-sample logit network ``R^2 -> R``."""

    def __init__(self, rngs):
        self.l1 = nnx.Linear(2, 16, rngs=rngs)
        self.l2 = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x):
        return self.l2(jnp.tanh(self.l1(x)))[:, 0]


class LogRatio(nnx.Module):
    """``d(x) = log N(x; m1, s1^2 I) - log N(x; m0, s0^2 I)``: the optimal logit between
    data ``N(m1, s1^2 I)`` and samples ``N(m0, s0^2 I)``."""

    def __init__(self, m0, s0, m1, s1):
        self.m0, self.m1 = nnx.Param(jnp.asarray(m0)), nnx.Param(jnp.asarray(m1))
        self.s0, self.s1 = nnx.Param(jnp.asarray(s0)), nnx.Param(jnp.asarray(s1))

    def __call__(self, x):
        dim = x.shape[-1]
        log_n = lambda m, s: (-jnp.sum((x - m) ** 2, -1) / (2 * s ** 2) - dim * jnp.log(s))
        return log_n(self.m1[...], self.s1[...]) - log_n(self.m0[...], self.s0[...])


def points_program(x0, D, eta, *, frozen_d=True, steps=None):
    """X moved by one gradient layer per step: SGD(1) on 0.5 ||X - sg(GL(X))||^2
    (``steps`` None: the layer's default)."""
    X = gd.points("X", x0, optax.sgd(1.0))
    moved = (gd.gradient_layer(D, X(), eta) if steps is None
             else gd.gradient_layer(D, X(), eta, steps=steps))
    return gd.program({X: 0.5 * gd.sum(gd.square(X() - gd.stop_gradient(moved)))},
                      gd.minimize(), frozen=[D] if frozen_d else (), samples=moved)


# -- the primitive ------------------------------------------------------------------------

@pytest.mark.parametrize("steps, applied", [(None, 1), (2, 2)], ids=["default", "two"])
def test_value_is_x_plus_eta_times_each_samples_own_logit_gradient(steps, applied):
    """``steps`` applications of the layer (one by default)."""
    x0 = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    D = gd.player("D", SmallD, optax.sgd(0.1))
    compiled = gd.compile(points_program(x0, D, 0.3, steps=steps))
    state = compiled.init(jax.random.key(0))
    d = compiled.module(state, "D")
    per_sample = jax.vmap(jax.grad(lambda v: d(v[None])[0]))   # brute force, one at a time
    want = jnp.asarray(x0)
    for _ in range(applied):
        want = want + 0.3 * per_sample(want)
    got = compiled.sample(state, jax.random.key(1), 8)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert float(jnp.max(jnp.abs(got - x0))) > 1e-2   # it did move


def test_no_gradient_reaches_the_discriminator_through_the_layer():
    x0 = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)
    X = gd.points("X", x0, optax.sgd(1.0))
    D = gd.player("D", SmallD, optax.sgd(1.0))
    # D's only objective goes through the layer: its gradient must be exactly zero
    prog = gd.program({D: gd.mean(gd.sq_norm(gd.gradient_layer(D, X(), 0.5)))},
                      gd.minimize(), frozen=[X])
    compiled = gd.compile(prog)
    state = compiled.init(jax.random.key(0))
    before = jax.tree.map(np.asarray, state.params["D"])
    after, _ = compiled.step(state, {})
    jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.asarray, after.params["D"]))


def test_malformed_arguments_are_refused_with_the_field_named():
    D = gd.player("D", SmallD, optax.sgd(0.1))
    with pytest.raises(PrimitiveError, match="eta must be a finite number"):
        gd.gradient_layer(D, gd.data("x"), float("nan"))
    with pytest.raises(PrimitiveError, match="steps must be an int >= 1"):
        gd.gradient_layer(D, gd.data("x"), 0.1, steps=0)
    with pytest.raises(PrimitiveError, match="D must be a player"):
        gd.gradient_layer(gd.data("x"), gd.data("x"), 0.1)


# -- the particle form ----------------------------------------------------------------------

def test_one_particle_step_lands_exactly_on_the_gradient_layer_output():
    x0 = np.random.default_rng(2).normal(size=(16, 2)).astype(np.float32)
    D = gd.player("D", SmallD, optax.sgd(0.1))
    compiled = gd.compile(points_program(x0, D, 0.25))
    state = compiled.init(jax.random.key(0))
    target = compiled.sample(state, jax.random.key(1), 16)
    state, _ = compiled.step(state, {})
    np.testing.assert_allclose(state.params["X"], target, atol=1e-6)


def gaussian_kl(m, s, m1, s1, dim=2):
    """KL(N(m, s^2 I) || N(m1, s1^2 I))."""
    return dim * (np.log(s1 / s) + s ** 2 / (2 * s1 ** 2) - 0.5) + np.sum((m - m1) ** 2) / (2 * s1 ** 2)


def run_gaussian_flow(eta, steps, n=4000):
    """Particles of N(m0, s0^2 I) moved by the gradient layer of the exact log ratio,
    recomputed for the moved Gaussian after every step. Returns the closed-form KL after
    each step and the particles' largest deviation from the closed-form mean and std."""
    m, s = np.array([0.0, 0.0]), 0.5
    m1, s1 = np.array([2.0, 1.0]), 1.0
    x0 = (m + s * np.random.default_rng(3).normal(size=(n, 2))).astype(np.float32)
    D = gd.player("D", LogRatio(m, s, m1, s1))
    compiled = gd.compile(points_program(x0, D, eta))
    state = compiled.init(jax.random.key(0))
    kls, worst = [gaussian_kl(m, s, m1, s1)], 0.0
    for _ in range(steps):
        state, _ = compiled.step(state, {})
        # the layer is affine on Gaussians: x' = a x + b with a, b from grad d*
        a = 1 + eta * (1 / s ** 2 - 1 / s1 ** 2)
        m, s = a * m + eta * (m1 / s1 ** 2 - m / s ** 2), abs(a) * s
        kls.append(gaussian_kl(m, s, m1, s1))
        x = np.asarray(state.params["X"])
        worst = max(worst, np.max(np.abs(x.mean(0) - m)) / s, abs(x.std(0).mean() / s - 1))
        state = state.replace(params={**state.params, "D": {
            "m0": jnp.asarray(m, jnp.float32), "s0": jnp.asarray(s, jnp.float32),
            "m1": jnp.asarray(m1, jnp.float32), "s1": jnp.asarray(s1, jnp.float32)}})
    return np.array(kls), worst


def test_on_a_gaussian_toy_with_the_optimal_d_the_kl_falls_at_every_step():
    kls, worst = run_gaussian_flow(eta=0.02, steps=40)
    assert np.all(np.diff(kls) < 0), kls
    assert kls[-1] < 0.25 * kls[0]   # 3.14 -> 0.51 over t = 0.8
    assert worst < 0.05   # the particles follow the closed form (sample error ~ 1/sqrt(n))


def test_a_step_too_large_overshoots_so_the_kl_check_can_fail():
    kls, _ = run_gaussian_flow(eta=2.5, steps=3)   # the Euler step overshoots
    assert kls[1] > kls[0], kls


@pytest.mark.slow
def test_the_particle_program_spreads_a_collapsed_blob_over_the_modes():
    module = load_program_file(PROGRAMS / "gradient_layer_points.py")
    covered = []
    for seed in (1, 2, 3):
        cfg = program_config(module, [f"seed={seed}", "points=256"])
        exp = build_experiment(module, cfg)
        compiled = gd.compile(exp.program)
        source = exp.source
        state = compiled.init(jax.random.key(seed), source.batch(0))
        start = source.evaluate(np.asarray(compiled.sample(state, jax.random.key(0), 1)))
        assert start["modes_covered"] == 0
        for i in range(0, 300, 100):
            state, _ = compiled.step_many(state, compiled.shard_batch(source.batches(i, 100),
                                                                      stacked=1))
        end = source.evaluate(np.asarray(compiled.sample(state, jax.random.key(0), 1)))
        covered.append(end["modes_covered"])
    assert all(c >= 6 for c in covered), covered   # of 8, from 0; measured 6, 8, 8


# -- the generator form -----------------------------------------------------------------

def stack_program(capacity, every, *, eta=0.05, restart=False, distil=False):
    G = gd.player("G", lambda rngs: gd.nn.MLP(3, (16,), 2, rngs=rngs), optax.adam(1e-2))
    D = gd.player("D", SmallD, optax.sgd(0.5))
    S = gd.snapshots("S", of=D, base=G, capacity=capacity)
    x, z = gd.data("x"), gd.latent("z", 3)
    fake = gd.gradient_stack(S, z, eta)
    objectives = {D: gd.losses.nonsaturating_d(D(x), D(fake))}
    schedule = {"D": 1}
    if distil:
        objectives[G] = gd.mean(gd.sq_norm(G(z) - fake))
        schedule["G"] = 1
    solver = gd.push_snapshots(gd.alternating(**schedule), S, every=every, restart=restart)
    return gd.program(objectives, solver, frozen=[S] if distil else [G, S], samples=fake)


def batch(i):
    return {"x": np.random.default_rng(i).normal(size=(32, 2)).astype(np.float32) + 2.0}


def test_d_is_pushed_every_k_steps_until_the_store_is_full():
    compiled = gd.compile(stack_program(capacity=3, every=2))
    state = compiled.init(jax.random.key(0), batch(0))
    pushed = []
    for i in range(8):
        state, metrics = compiled.step(state, batch(i))
        if (i + 1) % 2 == 0:
            pushed.append(jax.tree.map(np.asarray, state.params["D"]))
        assert float(metrics["S/layers"]) == min((i + 1) // 2, 3)
    store = state.params["S"]
    assert int(store["count"]) == 3
    for slot in range(3):   # oldest first; the fourth push found the store full
        jax.tree.map(lambda stack, p: np.testing.assert_array_equal(stack[slot], p),
                     store["layers"], pushed[slot])


def stack_by_hand(compiled, state, key, n, layers, eta):
    """The stack's samples computed by hand: the base generator, then one gradient layer
    for each of the first ``layers`` snapshots, oldest first; also the base's output."""
    store = state.params["S"]
    g, d = compiled.program.player("G"), compiled.program.player("D")
    statics = compiled.game.statics
    z = gd.latent("z", 3).sample(latent_key("z", key), n)   # the draw sample() makes
    x = base = g.call(statics["G"], store["base"], {}, (z,), None, train=False)
    for i in range(layers):
        layer = jax.tree.map(lambda a: a[i], store["layers"])
        x = x + eta * jax.grad(lambda v: jnp.sum(d.call(statics["D"], layer, {}, (v,), None)))(x)
    return x, base


def test_the_stack_is_the_base_generator_followed_by_one_layer_per_snapshot():
    compiled = gd.compile(stack_program(capacity=4, every=1, eta=0.1))
    state = compiled.init(jax.random.key(0), batch(0))
    for i in range(3):
        state, _ = compiled.step(state, batch(i))
    want, base = stack_by_hand(compiled, state, jax.random.key(7), 5, 3, 0.1)
    np.testing.assert_allclose(compiled.sample(state, jax.random.key(7), 5), want, atol=1e-5)
    assert float(jnp.max(jnp.abs(want - base))) > 1e-3


def test_restart_hands_the_stack_to_g_and_empties_it():
    compiled = gd.compile(stack_program(capacity=2, every=1, restart=True, distil=True))
    state = compiled.init(jax.random.key(0), batch(0))
    counts = []
    for i in range(5):
        state, metrics = compiled.step(state, batch(i))
        counts.append(int(metrics["S/layers"]))
    assert counts == [1, 2, 1, 2, 1]
    # the last restart (step 5) took G's parameters of that step as the new base
    jax.tree.map(np.testing.assert_array_equal, state.params["S"]["base"], state.params["G"])
    # ... and only the one snapshot pushed since is applied, not the stale one in slot 2
    # (mutant: gradient_stack.py:62 `i < count` -> `i <= count`)
    want, _ = stack_by_hand(compiled, state, jax.random.key(7), 5, 1, 0.05)
    np.testing.assert_allclose(compiled.sample(state, jax.random.key(7), 5), want, atol=1e-5)


def test_distillation_pulls_g_onto_the_stack():
    prog = stack_program(capacity=4, every=1, eta=0.2, distil=True)
    compiled = gd.compile(prog)
    state = compiled.init(jax.random.key(0), batch(0))
    d_frozen = None
    residuals = []
    for i in range(200):
        if i == 4:   # the stack is full: freeze D from here (no more pushes change it)
            d_frozen = jax.tree.map(jnp.copy, state.params["D"])  # the step donates its state
        if d_frozen is not None:
            state = state.replace(params={**state.params,
                                          "D": jax.tree.map(jnp.copy, d_frozen)})
        state, metrics = compiled.step(state, batch(i))
        residuals.append(float(metrics["G/loss"]))
    assert int(state.params["S"]["count"]) == 4
    assert residuals[-1] < 0.2 * max(residuals[3:10]), residuals[:10] + residuals[-3:]


@pytest.mark.slow
def test_the_snapshots_come_back_from_a_checkpoint(tmp_path):
    module = load_program_file(PROGRAMS / "gradient_layer_gan.py")
    sets = ["warm=20", "gl_steps=40", "every=5", "layers=8", "steps_per_call=10",
            "checkpoint_every=10", "hidden=16"]
    first = run_experiment(build_experiment(module, program_config(module, sets + ["steps=40"])),
                           program_config(module, sets + ["steps=40"]), tmp_path,
                           progress=False)
    mid = jax.tree.map(np.asarray, first.state.params["S"])
    assert int(mid["count"]) == 4   # 20 stack steps, one push every 5
    cfg = program_config(module, sets)
    second = run_experiment(build_experiment(module, cfg), cfg, tmp_path, progress=False,
                            allow_changes=True)
    assert second.resumed and second.start_step == 40
    end = jax.tree.map(np.asarray, second.state.params["S"])
    assert int(end["count"]) == 8   # 4 restored + 4 new: the tick and the stack came back
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a[:4], b[:4]),
                 end["layers"], mid["layers"])
    jax.tree.map(np.testing.assert_array_equal, end["base"], mid["base"])
    loaded = gd.load_run(tmp_path, program=PROGRAMS / "gradient_layer_gan.py").state.params["S"]
    assert int(loaded["count"]) == 8


def test_push_snapshots_refuses_what_cannot_work():
    G = gd.player("G", lambda rngs: gd.nn.MLP(3, (16,), 2, rngs=rngs), optax.adam(1e-2))
    D = gd.player("D", SmallD, optax.sgd(0.5))
    S = gd.snapshots("S", of=D, base=G, capacity=2)
    with pytest.raises(SolverError, match="every must be an int >= 1"):
        gd.push_snapshots(gd.alternating(D=1), S, every=0)
    fake = gd.gradient_stack(S, gd.latent("z", 3), 0.1)
    with pytest.raises(SolverError, match="restart=True hands the stack over to 'G'"):
        gd.program({D: gd.losses.nonsaturating_d(D(gd.data("x")), D(fake))},
                   gd.push_snapshots(gd.alternating(D=1), S, every=1, restart=True),
                   frozen=[G, S])
