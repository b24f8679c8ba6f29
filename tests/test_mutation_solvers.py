"""Tests that kill the solvers' surviving mutants (docs/mutation.md).

Each names the behaviour it pins; the mutant it was written against is in the comment.
"""

import warnings

import jax
import numpy as np
import optax
import pytest

import gendsl as gd
from gendsl.errors import TableauError


@pytest.mark.parametrize("a, b, c", [
    ([[], [1.0]], [0.5, 0.5], [0.0, 1.0, 0.0]),   # a and b agree, c has a third entry
    ([[], [1.0], [0.5, 0.5]], [0.5, 0.5], [0.0, 1.0]),  # b and c agree, a has a third row
])
def test_a_tableau_whose_a_or_c_alone_has_the_wrong_length_is_refused(a, b, c):
    # mutant: `len(self.a) != s or len(self.c) != s` -> `and`
    with pytest.raises(TableauError, match="one entry per stage"):
        gd.tableau("bad", a, b, c)


def _sgd_game(h, lr):
    X = gd.points("x", np.array([1.0, -2.0]), optax.sgd(lr))
    Y = gd.points("y", np.array([0.5]), optax.sgd(lr))
    obj_x = gd.sum(X() * gd.stop_gradient(Y())) + 0.15 * gd.sum(X() ** 2)
    obj_y = -gd.sum(gd.stop_gradient(X()) * Y()) + 0.15 * gd.sum(Y() ** 2)
    return gd.compile(gd.program({X: obj_x, Y: obj_y}, gd.rk4(h, use_optimizers=True)))


def test_h_far_below_the_optimizers_step_warns_too():
    """With SGD the stage-to-step ratio is h / lr: h = lr / 20 puts it at 0.05, below the
    band's lower edge 0.1, and that warns as much as a ratio above the upper edge."""
    # mutant: STAGE_SCALE_BAND = (0.1, 10.0) -> (-0.9, 10.0)
    c = _sgd_game(0.005, 0.1)
    with pytest.warns(gd.solvers.ODEStageScaleWarning, match="outside"):
        _, metrics = c.step(c.init(jax.random.key(0)), {})
        jax.effects_barrier()
    np.testing.assert_allclose(float(metrics["ode/stage_to_step"]), 0.05, rtol=1e-5)
    with warnings.catch_warnings():          # just inside the band: no warning
        warnings.simplefilter("error", gd.solvers.ODEStageScaleWarning)
        c = _sgd_game(0.011, 0.1)
        c.step(c.init(jax.random.key(0)), {})
        jax.effects_barrier()


def test_a_full_square_explicit_matrix_reads_as_its_lower_triangle():
    """``a`` given as a square matrix with zeros on and above the diagonal is accepted and
    is the same method as the ragged rows."""
    # mutant: tableau.py:98 `abs(x) > _TOL` -> `abs(x) < _TOL` (every zero refused)
    b = [1 / 6, 1 / 3, 1 / 3, 1 / 6]
    square = gd.tableau("rk4", [[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1, 0]], b)
    assert square == gd.tableau("rk4", [[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], b)
    assert square.order == 4
    with pytest.raises(TableauError, match=r"a\[1\] has non-zero entries on or above"):
        gd.tableau("implicit", [[0, 0], [0.5, 0.5]], [0.5, 0.5])


def _latent_game():
    """One player fitted to a latent draw: its gradient depends on which latents a step sees."""
    P = gd.points("p", np.array([0.5, -0.5], np.float32), optax.sgd(0.1))
    z = gd.latent("z", 2, batch=4)
    return P, gd.mean(gd.sq_norm(P() - z))


def _one_step(prog):
    c = gd.compile(prog)
    state, _ = c.step(c.init(jax.random.key(0)), {})
    return np.asarray(state.params["p"])


def test_fresh_latents_give_each_stage_its_own_draw():
    """``fresh_latents=True`` alone (without fresh batches) changes what the stages see;
    on a game without latents it changes nothing."""
    # mutant: ode.py:152 `fresh_latents or fresh_batches` -> `and`
    P, loss = _latent_game()
    shared = _one_step(gd.program({P: loss}, gd.heun(0.1)))
    fresh = _one_step(gd.program({P: loss}, gd.heun(0.1, fresh_latents=True)))
    assert np.abs(fresh - shared).max() > 1e-4
    Q = gd.points("p", np.array([0.5, -0.5], np.float32), optax.sgd(0.1))
    plain = gd.sum(Q() ** 2)
    np.testing.assert_array_equal(_one_step(gd.program({Q: plain}, gd.heun(0.1))),
                                  _one_step(gd.program({Q: plain}, gd.heun(0.1, fresh_latents=True))))


def test_one_alternating_update_draws_what_minimize_draws():
    """A schedule of one update uses the step's key as it is, as ``minimize()`` does, so
    the two steps are bit for bit the same."""
    # mutant: alternating.py:50 `n > 1` -> `n >= 1` (the key split even for one update)
    P, loss = _latent_game()
    np.testing.assert_array_equal(_one_step(gd.program({P: loss}, gd.alternating(p=1))),
                                  _one_step(gd.program({P: loss}, gd.minimize())))


def test_a_solver_reads_one_batch_per_step_unless_it_says_otherwise():
    # mutant: base.py:66 the default `batches_per_step` 1 -> 2
    P, loss = _latent_game()
    for solver in (gd.minimize(), gd.simultaneous(), gd.alternating(p=1), gd.rk4(0.1)):
        assert gd.compile(gd.program({P: loss}, solver)).batches_per_step == 1, solver.describe()


def test_a_zero_gradient_norm_penalty_is_allowed():
    # mutant: regularizer.py:67 `weight < 0` -> `weight <= 0`
    assert gd.grad_norm_penalty("D", of="G", weight=0.0).weight == 0.0
    with pytest.raises(gd.errors.SolverError, match="weight must be >= 0"):
        gd.grad_norm_penalty("D", of="G", weight=-0.1)


def test_each_update_of_a_two_update_schedule_draws_its_own_latents():
    """Two players, equal at the start, each fitted to a latent draw: after one
    ``alternating(p=1, q=1)`` step they differ, since each update has its own key."""
    # mutant: alternating.py:50 `n > 1` -> `n > 2` (two updates share one key)
    P = gd.points("p", np.array([0.5, -0.5], np.float32), optax.sgd(0.1))
    Q = gd.points("q", np.array([0.5, -0.5], np.float32), optax.sgd(0.1))
    z = gd.latent("z", 2, batch=4)
    c = gd.compile(gd.program({P: gd.mean(gd.sq_norm(P() - z)), Q: gd.mean(gd.sq_norm(Q() - z))},
                              gd.alternating(p=1, q=1)))
    state, _ = c.step(c.init(jax.random.key(0)), {})
    assert np.abs(np.asarray(state.params["p"]) - np.asarray(state.params["q"])).max() > 1e-3


def test_a_stage_to_step_ratio_just_below_the_upper_edge_does_not_warn():
    # mutant: STAGE_SCALE_BAND = (0.1, 10.0) -> (0.1, 9.0)
    c = _sgd_game(0.95, 0.1)  # ratio h / lr = 9.5
    with warnings.catch_warnings():
        warnings.simplefilter("error", gd.solvers.ODEStageScaleWarning)
        _, metrics = c.step(c.init(jax.random.key(0)), {})
        jax.effects_barrier()
    np.testing.assert_allclose(float(metrics["ode/stage_to_step"]), 9.5, rtol=1e-4)


def test_every_solver_spec_is_immutable():
    """Solvers and their parts are frozen dataclasses (specs are values: hashable, and
    shared between compiled programs without one changing another)."""
    # mutant: regularizer.py:21 `dataclass(frozen=True)` -> `frozen=False`
    import dataclasses
    specs = [gd.minimize(), gd.simultaneous(), gd.alternating(D=2, G=1), gd.rk4(0.1),
             gd.heun(0.1, regularizer=gd.grad_norm_penalty("D", of="G", weight=0.1)),
             gd.grad_norm_penalty("D", of="G", weight=0.1)]
    for spec in specs:
        assert dataclasses.is_dataclass(spec) and spec.__dataclass_params__.frozen, spec
        field = dataclasses.fields(spec)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(spec, field, None)
        hash(spec)
