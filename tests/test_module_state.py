"""Non-parameter module state: batch statistics and dropout streams are carried from step
to step, sampling and evaluation use eval mode, and bad steps leave the state alone."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gendsl as gd
from gendsl import losses as L


class NormedNet(nnx.Module):
    """BatchNorm -> Dropout -> Linear: every kind of non-parameter state."""

    def __init__(self, dim, *, rngs, rate=0.0, momentum=0.9):
        self.bn = nnx.BatchNorm(dim, momentum=momentum, rngs=rngs)
        self.drop = nnx.Dropout(rate, rngs=rngs)
        self.lin = nnx.Linear(dim, 1, rngs=rngs)

    def __call__(self, x):
        return self.lin(self.drop(self.bn(x)))


def _batch(n=64, loc=3.0, scale=2.0, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": jnp.asarray(rng.normal(loc, scale, (n, 2)), jnp.float32)}


def _program(rate=0.0, lr=0.0):
    F = gd.player("F", lambda r: NormedNet(2, rngs=r, rate=rate), optax.sgd(lr))
    return gd.program({F: gd.mean(F(gd.data("x")) ** 2)}, gd.minimize(),
                      samples=F(gd.data("x")))


def test_batch_statistics_follow_the_running_average_closed_form():
    """With a fixed batch, BatchNorm's running mean after k steps is
    (1 - m^k) * batch mean and its running variance m^k + (1 - m^k) * batch variance
    (flax's batch variance is the biased one)."""
    compiled = gd.compile(_program())
    batch = _batch()
    state = compiled.init(jax.random.key(0), batch)
    for _ in range(5):
        state, _ = compiled.step(state, batch)
    decay = 0.9 ** 5
    x = np.asarray(batch["x"])
    np.testing.assert_allclose(state.rest["F"]["bn"]["mean"], (1 - decay) * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(state.rest["F"]["bn"]["var"], decay + (1 - decay) * x.var(0),
                               rtol=1e-5)


def test_fused_steps_carry_the_state_like_single_steps():
    batch = _batch()
    single = gd.compile(_program(lr=0.05))
    fused = gd.compile(_program(lr=0.05))
    s1 = single.init(jax.random.key(0), batch)
    s4 = fused.init(jax.random.key(0), batch)
    for _ in range(4):
        s1, _ = single.step(s1, batch)
    s4, _ = fused.step_many(s4, jax.tree.map(lambda a: jnp.stack([a] * 4), batch))
    chex.assert_trees_all_close(s1.rest["F"]["bn"], s4.rest["F"]["bn"], rtol=1e-5)
    chex.assert_trees_all_close(s1.params, s4.params, rtol=1e-5)


def test_dropout_draws_a_new_mask_every_step():
    compiled = gd.compile(_program(rate=0.5))
    batch = _batch()
    state = compiled.init(jax.random.key(0), batch)
    losses = []
    for _ in range(3):
        state, m = compiled.step(state, batch)
        losses.append(float(m["F/loss"]))
    assert int(state.rest["F"]["drop"]["rngs"]["count"]) == 3
    assert len(set(losses)) == 3, losses  # lr 0: only the dropout mask changes the loss


def test_sampling_and_evaluation_use_running_averages_and_no_dropout():
    compiled = gd.compile(_program(rate=0.5))
    batch = _batch()
    state = compiled.init(jax.random.key(0), batch)
    for _ in range(3):
        state, _ = compiled.step(state, batch)
    before = jax.tree.map(np.asarray, state.rest["F"]["bn"])
    F = compiled.program.player("F")
    static = compiled._statics["F"]
    # eval mode by hand: normalise with the running statistics, no dropout
    bn = state.rest["F"]["bn"]
    p = state.params["F"]
    h = (batch["x"] - bn["mean"]) / jnp.sqrt(bn["var"] + 1e-5) * p["bn"]["scale"] + p["bn"]["bias"]
    expected = h @ p["lin"]["kernel"] + p["lin"]["bias"]
    np.testing.assert_allclose(compiled.apply(state, "F", batch["x"]), expected, rtol=1e-5)
    again = compiled.apply(state, "F", batch["x"])
    np.testing.assert_array_equal(compiled.apply(state, "F", batch["x"]), again)
    loss = compiled.evaluate(state, batch)["F/loss"]
    np.testing.assert_allclose(loss, jnp.mean(expected ** 2), rtol=1e-5)
    # training mode on request: batch statistics, so the output differs
    train = F.call(static, p, state.rest["F"], (batch["x"],), None, train=True)
    assert not np.allclose(train, expected)
    chex.assert_trees_all_equal(before, jax.tree.map(np.asarray, state.rest["F"]["bn"]))
    assert int(state.rest["F"]["drop"]["rngs"]["count"]) == 3


def test_a_trained_player_comes_out_as_a_standalone_module():
    """compiled.module(state, name): the player's NNX module holding the trained
    parameters and running statistics, in eval mode unless train=True."""
    compiled = gd.compile(_program(rate=0.5, lr=0.05))
    batch = _batch()
    state = compiled.init(jax.random.key(0), batch)
    for _ in range(3):
        state, _ = compiled.step(state, batch)
    module = compiled.module(state, "F")
    assert isinstance(module, NormedNet)
    np.testing.assert_allclose(module.bn.mean[...], state.rest["F"]["bn"]["mean"])
    np.testing.assert_allclose(module.lin.kernel[...], state.params["F"]["lin"]["kernel"])
    np.testing.assert_allclose(module(batch["x"]), compiled.apply(state, "F", batch["x"]),
                               atol=1e-6)
    assert not np.allclose(compiled.module(state, "F", train=True)(batch["x"]),
                           module(batch["x"]))  # batch statistics and dropout
    assert [p.name for p in compiled.program.players] == ["F"]


def test_a_nonfinite_step_keeps_the_old_batch_statistics():
    compiled = gd.compile(_program())
    good = _batch()
    state = compiled.init(jax.random.key(0), good)
    state, _ = compiled.step(state, good)
    kept = np.asarray(state.rest["F"]["bn"]["mean"])
    bad = {"x": good["x"].at[0, 0].set(jnp.nan)}
    state, m = compiled.step(state, bad)
    assert int(m["nonfinite"]) == 1
    np.testing.assert_array_equal(state.rest["F"]["bn"]["mean"], kept)


def test_a_batchnorm_discriminator_in_an_alternating_gan_threads_its_statistics():
    """alternating(D=1, G=1) threads D's running mean through D(x), D(G(z)) in D's update
    and D(G(z)) in G's update. With momentum 0.5 the running mean goes 0 -> 0.5 * real
    -> 0.25 * real + 0.5 * fake -> 0.125 * real + 0.75 * fake: 1.25 for real data at 10
    and fakes near 0. Were G's update to start from the state before D's, it would be
    0.5 * fake, about 0. The gradient
    penalty's evaluations at interpolates (inside their own jax.grad) leave no state."""
    G = gd.player("G", lambda r: nnx.Linear(2, 2, rngs=r), optax.adam(1e-3))
    D = gd.player("D", lambda r: NormedNet(2, rngs=r, momentum=0.5), optax.adam(1e-3))
    x, z = gd.data("x"), gd.latent("z", 2)
    fake = G(z)
    d_loss = L.nonsaturating_d(D(x), D(fake)) + L.gradient_penalty(D, x, fake)
    program = gd.program({D: d_loss, G: L.nonsaturating_g(D(fake))},
                         gd.alternating(D=1, G=1), samples=fake)
    compiled = gd.compile(program)
    batch = _batch(n=256, loc=10.0, scale=0.1)
    state = compiled.init(jax.random.key(0), batch)
    fake_mean = np.asarray(compiled.sample(state, jax.random.key(1), 4096)).mean(0)
    state, _ = compiled.step(state, batch)
    expected = 0.25 * 0.5 * np.asarray(batch["x"]).mean(0) + 0.75 * fake_mean
    np.testing.assert_allclose(state.rest["D"]["bn"]["mean"], expected, atol=0.15)
