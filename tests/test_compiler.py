"""The compiler: build-time errors that name the fault, one trace for many steps,
fused steps equal to single ones, non-finite steps skipped, and lowering that computes
exactly what a hand-written optax step computes."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gendsl as gd
from gendsl import losses as L
from gendsl.errors import NonScalarObjectiveError, ProgramError, ShapeMismatchError, UnknownDataError


def gan(gen_out=2, solver=None, lr=1e-2):
    G = gd.player("G", lambda r: gd.nn.MLP(4, (16, 16), gen_out, rngs=r), optax.adam(lr))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (16, 16), 1, rngs=r), optax.adam(lr))
    x, z = gd.data("x"), gd.latent("z", 4)
    fake = G(z)
    prog = gd.program({D: L.nonsaturating_d(D(x), D(fake)), G: L.nonsaturating_g(D(fake))},
                      solver or gd.alternating(D=1, G=1), samples=fake)
    return prog, G, D


def test_unknown_data_field_is_named(toy_batch):
    prog, _, _ = gan()
    with pytest.raises(UnknownDataError, match=r"data field 'x'.*only \['y'\]"):
        gd.compile(prog).init(jax.random.key(0), {"y": toy_batch["x"]})


def test_real_fake_shape_mismatch_is_named(toy_batch):
    prog, _, _ = gan(gen_out=3)
    with pytest.raises(ShapeMismatchError, match=r"player 'D'.*\(2,\) in D\(x\) but \(\(3,\),\)|"
                                                 r"player 'D'.*\(\(2,\),\) in D\(x\) but \(\(3,\),\) in D\(G\(z\)\)"):
        gd.compile(prog).init(jax.random.key(0), toy_batch)


def test_non_scalar_objective_is_named(toy_batch):
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8, 8), 1, rngs=r), optax.sgd(0.1))
    prog = gd.program({D: D(gd.data("x"))})
    with pytest.raises(NonScalarObjectiveError, match=r"objective of player 'D' has shape \(32, 1\).*gd.mean"):
        gd.compile(prog).init(jax.random.key(0), toy_batch)


def test_failing_player_application_names_the_term(toy_batch):
    D = gd.player("D", lambda r: gd.nn.MLP(3, (8, 8), 1, rngs=r), optax.sgd(0.1))
    prog = gd.program({D: gd.mean(D(gd.data("x")))})
    with pytest.raises(ProgramError, match=r"applying player 'D' in D\(x\) to inputs of shape \[\(32, 2\)\]"):
        gd.compile(prog).init(jax.random.key(0), toy_batch)


def test_one_trace_for_100_steps(toy_batch):
    prog, _, _ = gan()
    c = gd.compile(prog)
    state = c.init(jax.random.key(0), toy_batch)
    for _ in range(100):
        state, metrics = c.step(state, toy_batch)
    assert c.trace_count == 1
    assert int(state.step) == 100 and np.isfinite(float(metrics["D/loss"]))


def test_fused_steps_equal_single_steps(toy_batch):
    prog, _, _ = gan()
    single, fused = gd.compile(prog), gd.compile(prog)
    batches = [{"x": toy_batch["x"] + i} for i in range(10)]
    s1 = single.init(jax.random.key(3), toy_batch)
    s2 = fused.init(jax.random.key(3), toy_batch)
    losses = []
    for b in batches:
        s1, m = single.step(s1, b)
        losses.append(float(m["G/loss"]))
    for k in range(2):
        stacked = jax.tree.map(lambda *a: np.stack(a), *batches[5 * k:5 * k + 5])
        s2, m2 = fused.step_many(s2, stacked)
        np.testing.assert_allclose(np.asarray(m2["G/loss"]), losses[5 * k:5 * k + 5], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), s1.params, s2.params)
    assert fused.trace_count == 1


def test_lowering_matches_a_hand_written_optax_step(toy_batch):
    """An alternating GAN step equals the same step written by hand with nnx + optax."""
    prog, G, D = gan()
    c = gd.compile(prog, donate=False)
    state = c.init(jax.random.key(0), toy_batch)
    new, metrics = c.step(state, toy_batch)

    g_def, _ = nnx.split(G.module(nnx.Rngs(0)), nnx.Param)
    d_def, _ = nnx.split(D.module(nnx.Rngs(0)), nnx.Param)
    def apply(gdef, params, x):
        return nnx.merge(gdef, nnx.State(jax.tree.map(lambda a: nnx.Param(a), params)))(x)
    _, step_key = jax.random.split(state.key)
    k_d, k_g = jax.random.split(step_key)          # one key per inner update
    z_d = gd.latent("z", 4).sample(k_d, 32)
    z_g = gd.latent("z", 4).sample(k_g, 32)
    x = toy_batch["x"]
    def d_loss(dp, gp):
        return L.nonsaturating_d.rule(apply(d_def, dp, x), apply(d_def, dp, apply(g_def, gp, z_d)))
    def g_loss(gp, dp):
        return L.nonsaturating_g.rule(apply(d_def, dp, apply(g_def, gp, z_g)))
    opt = optax.adam(1e-2)
    gp, dp = state.params["G"], state.params["D"]
    ld, gd_ = jax.value_and_grad(d_loss)(dp, gp)
    upd, _ = opt.update(gd_, opt.init(dp), dp)
    dp = optax.apply_updates(dp, upd)
    lg, gg = jax.value_and_grad(g_loss)(gp, dp)
    upd, _ = opt.update(gg, opt.init(gp), gp)
    gp = optax.apply_updates(gp, upd)
    np.testing.assert_allclose(float(metrics["D/loss"]), float(ld), rtol=1e-6)
    np.testing.assert_allclose(float(metrics["G/loss"]), float(lg), rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), new.params["D"], dp)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), new.params["G"], gp)


def test_non_finite_steps_are_skipped_and_counted():
    # sqrt has an infinite gradient at 0: the loss is finite, the update is not
    P = gd.points("a", np.array([0.0], np.float32), optax.sgd(1.0))
    c = gd.compile(gd.program({P: gd.mean(gd.sqrt(P()))}))
    state = c.init(jax.random.key(0))
    for i in (1, 2):
        state, m = c.step(state, {})
        assert int(m["nonfinite"]) == 1 and int(state.nonfinite_streak) == i
        np.testing.assert_array_equal(np.asarray(state.params["a"]), [0.0])
    assert int(state.step) == 2 and int(state.nonfinite_total) == 2
    # a non-finite loss (log of a negative point) is skipped too; a good step resets the streak
    Q = gd.points("b", np.array([-1.0, 1.0], np.float32), optax.sgd(0.1))
    c = gd.compile(gd.program({Q: gd.sum(gd.log(Q()[1:2])) + gd.sum(gd.log(Q()[0:1]))}))
    state = c.init(jax.random.key(0))
    state, m = c.step(state, {})
    assert int(m["nonfinite"]) == 1
    np.testing.assert_array_equal(np.asarray(state.params["b"]), [-1.0, 1.0])
    P2 = gd.points("c", np.array([1.0], np.float32), optax.sgd(0.1))
    c = gd.compile(gd.program({P2: gd.mean(gd.sqrt(P2()))}))
    state = c.init(jax.random.key(0))
    state = state.replace(nonfinite_streak=jnp.array(3, jnp.int32))
    state, m = c.step(state, {})
    assert int(m["nonfinite"]) == 0 and int(state.nonfinite_streak) == 0


def test_one_non_finite_entry_in_a_larger_leaf_skips_the_step():
    """The guard needs every entry of every leaf finite: a 3-entry points leaf whose new
    value is non-finite in one entry only (sqrt's infinite gradient at 0) is not applied."""
    P = gd.points("a", np.array([0.0, 1.0, 4.0], np.float32), optax.sgd(0.1))
    c = gd.compile(gd.program({P: gd.sum(gd.sqrt(P()))}))
    state = c.init(jax.random.key(0))
    state, m = c.step(state, {})
    assert int(m["nonfinite"]) == 1 and int(state.nonfinite_total) == 1
    np.testing.assert_array_equal(np.asarray(state.params["a"]), [0.0, 1.0, 4.0])
    # the same program from finite gradients everywhere is applied (sgd: p - 0.1 / (2 sqrt p))
    Q = gd.points("a", np.array([1.0, 4.0, 0.25], np.float32), optax.sgd(0.1))
    c = gd.compile(gd.program({Q: gd.sum(gd.sqrt(Q()))}))
    state, m = c.step(c.init(jax.random.key(0)), {})
    assert int(m["nonfinite"]) == 0
    np.testing.assert_allclose(np.asarray(state.params["a"]), [0.95, 3.975, 0.15], rtol=1e-6)


def test_ema_follows_its_closed_form_with_an_asymmetric_decay():
    """ema_t = d ema_{t-1} + (1 - d) p_t from ema_0 = p_0, for d = 0.9 (at d = 0.5 the
    weights d and 1 - d coincide and a swap goes unseen). Plain gradient descent on
    (p - 2)^2 with step 0.1 gives p_t = 2 + (p_0 - 2) 0.8^t exactly."""
    d, p0, steps = 0.9, np.array([0.0, 1.0, -3.0], np.float32), 6
    P = gd.points("X", p0, optax.sgd(0.1))
    c = gd.compile(gd.program({P: gd.sum((P() - 2.0) ** 2)}, ema={P: d}, samples=P()))
    state = c.init(jax.random.key(0))
    ema = p0.astype(np.float64)
    for t in range(1, steps + 1):
        state, _ = c.step(state, {})
        ema = d * ema + (1 - d) * (2 + (p0 - 2) * 0.8 ** t)
    np.testing.assert_allclose(np.asarray(state.params["X"]), 2 + (p0 - 2) * 0.8 ** steps,
                               rtol=1e-5)
    np.testing.assert_allclose(np.asarray(state.ema["X"]), ema, rtol=1e-5)
    # ... and the samples are the average, not the trained points
    np.testing.assert_allclose(np.asarray(c.sample(state, jax.random.key(0), 3)), ema, rtol=1e-5)


def test_minimize_recovers_least_squares():
    """A linear model trained by gd.minimize reaches the closed-form solution."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 3)).astype(np.float32)
    w_true = np.array([[1.5], [-2.0], [0.5]], np.float32)
    y = X @ w_true + 0.3
    M = gd.player("M", lambda r: nnx.Linear(3, 1, rngs=r), optax.adam(5e-2))
    prog = gd.program({M: gd.mean((M(gd.data("x")) - gd.data("y")) ** 2)})
    c = gd.compile(prog)
    batch = {"x": X, "y": y}
    state = c.init(jax.random.key(0), batch)
    stacked = jax.tree.map(lambda a: np.stack([a] * 100), batch)
    for _ in range(10):
        state, _ = c.step_many(state, stacked)
    np.testing.assert_allclose(state.params["M"]["kernel"], w_true, atol=1e-3)
    np.testing.assert_allclose(state.params["M"]["bias"], [0.3], atol=1e-3)


def test_players_sharing_an_objective_get_their_own_gradients(toy_batch):
    E = gd.player("E", lambda r: nnx.Linear(2, 3, rngs=r), optax.sgd(0.1))
    F = gd.player("F", lambda r: nnx.Linear(3, 2, rngs=r), optax.sgd(0.1))
    x = gd.data("x")
    loss = gd.mean((F(E(x)) - x) ** 2)
    shared = gd.compile(gd.program({E: loss, F: loss}, gd.simultaneous()), donate=False)
    separate = gd.compile(gd.program({E: gd.mean((F(E(x)) - x) ** 2),
                                      F: gd.mean((F(E(x)) - x) ** 2)}, gd.simultaneous()), donate=False)
    s = shared.init(jax.random.key(0), toy_batch)
    a, _ = shared.step(s, toy_batch)
    b, _ = separate.step(s, toy_batch)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-6), a.params, b.params)


def test_points_player_with_projection_and_ema():
    P = gd.points("X", lambda key: jax.random.uniform(key, (16, 2)), optax.sgd(0.5),
                  project=lambda p: jnp.clip(p, 0.0, 1.0))
    prog = gd.program({P: gd.sum((P() - 2.0) ** 2)}, ema={P: 0.5}, samples=P())
    c = gd.compile(prog)
    state = c.init(jax.random.key(0))
    for _ in range(20):
        state, _ = c.step(state, {})
    np.testing.assert_allclose(state.params["X"], 1.0)          # clipped at the box
    samples = c.sample(state, jax.random.key(0), 16)            # EMA of the points
    assert samples.shape == (16, 2) and float(samples.max()) <= 1.0


def test_linen_modules_work_through_the_adapter(toy_batch):
    import flax.linen as nn
    D = gd.player("D", gd.from_linen(nn.Dense(1), jnp.zeros((1, 2))), optax.sgd(0.1))
    prog = gd.program({D: gd.mean(D(gd.data("x")) ** 2)})
    c = gd.compile(prog)
    state = c.init(jax.random.key(0), toy_batch)
    before = float(c.evaluate(state, toy_batch)["D/loss"])
    for _ in range(20):
        state, m = c.step(state, toy_batch)
    assert float(m["D/loss"]) < 0.5 * before


def test_prebuilt_module_survives_donation(toy_batch):
    """A step donates the state's buffers, not the module's: the module keeps its values,
    and a second init from it starts where the first did and takes the same step."""
    module = gd.nn.MLP(2, (8, 8), 1, rngs=nnx.Rngs(0))
    kernel = np.asarray(module.out.kernel[...]).copy()
    D = gd.player("D", module, optax.sgd(0.1))
    c = gd.compile(gd.program({D: gd.mean(D(gd.data("x")) ** 2)}))
    stepped = []
    for _ in range(2):                                   # init twice from the same module
        state = c.init(jax.random.key(0), toy_batch)
        np.testing.assert_array_equal(np.asarray(state.params["D"]["out"]["kernel"]), kernel)
        state, _ = c.step(state, toy_batch)
        stepped.append(np.asarray(state.params["D"]["out"]["kernel"]))
    np.testing.assert_array_equal(np.asarray(module.out.kernel[...]), kernel)
    np.testing.assert_array_equal(stepped[0], stepped[1])
    assert np.abs(stepped[0] - kernel).max() > 0                 # the step did move it


def test_a_latent_with_its_own_batch_needs_no_data_field():
    """``gd.latent(name, shape, batch=N)`` sizes its draws itself, also in a program that
    reads no data (it used to fail asking for exactly that size)."""
    P = gd.points("p", np.zeros(2, np.float32), optax.sgd(0.5))
    z = gd.latent("z", 2, batch=4096)
    c = gd.compile(gd.program({P: gd.mean(gd.sq_norm(P() - (z + 3.0)))}))
    state = c.init(jax.random.key(0))
    for _ in range(20):
        state, _ = c.step(state, {})
    np.testing.assert_allclose(np.asarray(state.params["p"]), [3.0, 3.0], atol=0.1)
