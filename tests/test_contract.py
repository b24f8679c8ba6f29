"""The typed contract: the flat train state, the static game and its points, and the
Stepper protocol the runner depends on."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gendsl as gd
from gendsl import losses as L
from gendsl.compiler.game import Game
from gendsl.compiler.state import StateLayout, TrainState
from gendsl.run.stepper import Phase, RunState, Stepper, check_stepper


def _gan(ema=None):
    G = gd.player("G", lambda r: gd.nn.MLP(4, (8,), 2, rngs=r), optax.adam(1e-3))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), optax.adam(1e-3))
    x, z = gd.data("x"), gd.latent("z", 4)
    fake = G(z)
    return gd.program({D: L.nonsaturating_d(D(x), D(fake)), G: L.nonsaturating_g(D(fake))},
                      gd.alternating(D=1, G=1), samples=fake, ema=ema)


BATCH = {"x": np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)}


def test_the_train_state_is_flat_with_a_nested_view():
    c = gd.compile(_gan(ema={"G": 0.9}))
    state = c.init(jax.random.key(0), BATCH)
    leaves, treedef = jax.tree.flatten(state)
    assert treedef.num_nodes == len(leaves) + 1          # one node over a flat list
    assert all(not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) for x in leaves)
    assert jax.dtypes.issubdtype(state.key.dtype, jax.dtypes.prng_key)
    chex.assert_trees_all_equal(state.ema["G"], state.params["G"])
    assert set(state.tree()) == {"step", "params", "opt_state", "ema", "key",
                                 "nonfinite_streak", "nonfinite_total", "solver_state", "rest"}
    again = TrainState.from_tree(state.tree())
    assert again.layout == state.layout and hash(again.layout) == hash(state.layout)
    chex.assert_trees_all_equal(again.leaves, state.leaves)
    assert int(state.replace(step=jnp.int32(7)).step) == 7 and int(state.step) == 0
    with pytest.raises(AttributeError, match="no field 'stepp'"):
        state.replace(stepp=1)


def test_a_step_returns_its_input_layout_object():
    """So the next dispatch compares layouts by identity, not tree structure."""
    c = gd.compile(_gan())
    state = c.init(jax.random.key(0), BATCH)
    layout = state.layout
    state, _ = c.step(state, BATCH)
    state, _ = c.step(state, BATCH)
    assert state.layout is layout and c.trace_count == 1


def test_layouts_differ_when_the_structure_does():
    a = TrainState.create(step=0, params={"w": jnp.ones(2)}, opt_state={}, ema={},
                          key=jax.random.key(0), nonfinite_streak=0, nonfinite_total=0)
    b = a.replace(params={"w": jnp.ones(2), "b": jnp.ones(1)})
    assert isinstance(a.layout, StateLayout) and a.layout != b.layout


def test_a_point_draws_its_latents_once_and_another_key_draws_others():
    prog = _gan()
    game = Game.build(prog, {p.name: p.abstract()[0] for p in prog.players})
    params = gd.compile(prog).init(jax.random.key(0), BATCH).params
    point = game.at(BATCH, jax.random.key(1))
    assert float(point.loss("G", params)[0]) == float(point.loss("G", params)[0])
    other = game.at(BATCH, jax.random.key(2))
    assert float(other.loss("G", params)[0]) != float(point.loss("G", params)[0])
    np.testing.assert_array_equal(point.latents["z"], game.at(BATCH, jax.random.key(1)).latents["z"])
    # the static game is never patched: a new module state is a new game
    assert game.with_rest({"G": {}}) is not game and game.rest == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        game.rest = {}


def test_the_game_satisfies_the_solvers_protocols():
    prog = _gan()
    game = Game.build(prog, {p.name: p.abstract()[0] for p in prog.players})
    assert isinstance(game, gd.solvers.Game)
    assert isinstance(game.at(BATCH, jax.random.key(0)), gd.solvers.GamePoint)


def test_compiled_programs_and_stages_are_steppers():
    c = gd.compile(_gan())
    staged = gd.compile(gd.stages([gd.stage("a", _gan(), steps=3)]))
    for stepper in (c, staged):
        assert isinstance(stepper, Stepper)
        check_stepper(stepper)
        assert all(isinstance(p, Phase) for p in stepper.phases)
        assert isinstance(stepper.init(jax.random.key(0), BATCH), RunState)
    assert c.phases == (c,) and c.total_steps is None and staged.total_steps == 3
    abstract = c.abstract_state(jax.random.key(0), BATCH)
    assert all(isinstance(x, jax.ShapeDtypeStruct) and x.sharding is not None
               for x in jax.tree.leaves(abstract))
