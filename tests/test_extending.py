"""Extending gendsl from outside the package: a new primitive, a new lazy primitive
and a new integrator tableau compile and run with no edit to gendsl."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gendsl as gd
from gendsl.solvers import StepResult


@gd.primitive
def energy_distance(real, fake):
    """Energy distance between two samples (a user-defined primitive)."""
    d = lambda a, b: jnp.mean(jnp.linalg.norm(a[:, None] - b[None] + 1e-12, axis=-1))
    return 2 * d(real, fake) - d(real, real) - d(fake, fake)


@gd.primitive(lazy=True)
def worst_shift(ctx, loss, x, eps):
    """max over delta in {-eps, +eps} of loss(x + delta): a lazy primitive that
    re-evaluates a sub-term with its data input replaced."""
    value = ctx.eval(x)
    return jnp.maximum(ctx.eval(loss, {x: value + eps}), ctx.eval(loss, {x: value - eps}))


RALSTON = gd.tableau("ralston", [[], [2 / 3]], [1 / 4, 3 / 4])


def test_user_primitive_and_tableau_compile_and_train():
    G = gd.points("G", lambda key: jax.random.normal(key, (64, 2)) * 0.1, optax.sgd(1.0))
    x = gd.data("x")
    prog = gd.program({G: energy_distance(x, G())}, gd.ode(RALSTON, h=2.0), samples=G())
    assert "energy_distance(x, G())" in gd.show(prog) and "ralston(h=2.0)" in gd.show(prog)
    c = gd.compile(prog)
    target = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32) + np.array([3.0, -1.0], np.float32)
    state = c.init(jax.random.key(0), {"x": target})
    first = None
    for _ in range(200):
        state, m = c.step(state, {"x": target})
        first = first if first is not None else float(m["G/loss"])
    assert float(m["G/loss"]) < 0.05 * first
    np.testing.assert_allclose(np.asarray(state.params["G"]).mean(0), target.mean(0), atol=0.1)


def test_lazy_primitive_substitutes_a_data_input():
    w = gd.points("w", np.array([2.0], np.float32), optax.sgd(0.0))
    x = gd.data("x")
    loss = gd.mean((w() * x - 1.0) ** 2)
    prog = gd.program({w: worst_shift(loss, x, 0.5)})
    c = gd.compile(prog)
    state = c.init(jax.random.key(0), {"x": np.array([1.0], np.float32)})
    value = float(c.evaluate(state, {"x": np.array([1.0], np.float32)})["w/loss"])
    assert value == max((2.0 * 1.5 - 1.0) ** 2, (2.0 * 0.5 - 1.0) ** 2)  # = 4.0


@dataclasses.dataclass(frozen=True)
class Extragradient(gd.Solver):
    """A user-defined solver: extragradient on the players' joint gradient field."""

    lr: float = 0.1

    def describe(self):
        return f"extragradient(lr={self.lr})"

    def init(self, game, params):
        return {n: () for n in game.players}, {}

    def update(self, game, params, opt_state, solver_state, batch, key):
        step = lambda base, g: {**params, **{n: jax.tree.map(lambda p, d: p - self.lr * d, base[n], g[n])
                                             for n in game.players}}
        point = game.at(batch, key)  # one latent draw for both evaluations
        g, losses, metrics = point.field(params)
        g, _, _ = point.field(step(params, g))
        return StepResult(step(params, g), opt_state, solver_state, losses, metrics)


def test_user_solver_converges_where_simultaneous_steps_diverge():
    """On the bilinear game min_x max_y xy, extragradient spirals in, simultaneous
    gradient steps spiral out."""
    def bilinear(solver):
        X = gd.points("x", np.array([1.0], np.float32), optax.sgd(0.1))
        Y = gd.points("y", np.array([1.0], np.float32), optax.sgd(0.1))
        prog = gd.program({X: gd.sum(X() * gd.stop_gradient(Y())),
                           Y: -gd.sum(gd.stop_gradient(X()) * Y())}, solver)
        c = gd.compile(prog)
        state = c.init(jax.random.key(0))
        for _ in range(300):
            state, _ = c.step(state, {})
        return float(np.hypot(state.params["x"][0], state.params["y"][0]))
    assert bilinear(Extragradient(0.1)) < 0.5       # from sqrt(2)
    assert bilinear(gd.simultaneous()) > 5.0


def test_a_solver_without_update_fails_when_built_naming_what_is_missing():
    @dataclasses.dataclass(frozen=True)
    class NoUpdate(gd.Solver):
        lr: float = 0.1

    with pytest.raises(gd.errors.SolverError, match="NoUpdate does not define update"):
        NoUpdate(0.2)


def test_a_solver_returning_a_wrong_tuple_is_named():
    @dataclasses.dataclass(frozen=True)
    class Short(gd.Solver):
        def update(self, game, params, opt_state, solver_state, batch, key):
            return params, opt_state

    w = gd.points("w", np.zeros(1, np.float32), optax.sgd(0.1))
    c = gd.compile(gd.program({w: gd.sum(w() ** 2)}, Short()))
    with pytest.raises(gd.errors.SolverError, match="must return gd.solvers.StepResult"):
        c.step(c.init(jax.random.key(0)), {})
