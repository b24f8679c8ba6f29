"""Solvers: Butcher tableaux are validated, the integrators have their orders of
accuracy on the gradient flow, the ODE-GAN regulariser carries exactly lambda, and
alternating schedules run in the order given."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gendsl as gd
from gendsl.errors import SolverError, TableauError


@pytest.mark.parametrize("a, b, c, match", [
    ([[], [0.5, 0.1]], [0.5, 0.5], None, r"a\[1\] has 2 coefficients"),
    ([[], [1.0]], [0.5, 0.6], None, "sum to 1.1"),
    ([[], [1.0]], [0.5, 0.5], [0.0, 0.5], r"c\[1\] = 0.5 but sum\(a\[1\]\) = 1.0"),
    ([[0.5, 0.0], [0.5, 0.5]], [0.5, 0.5], None, "only explicit methods"),
    ([[], [1.0]], [1.0], None, "one entry per stage"),
    ([], [], None, "at least one stage"),
])
def test_invalid_tableaux_are_refused(a, b, c, match):
    with pytest.raises(TableauError, match=match):
        gd.tableau("bad", a, b, c)


def test_an_integrator_needs_a_tableau_and_a_step():
    with pytest.raises(TableauError, match="needs a ButcherTableau"):
        gd.ode("rk4", 0.1)
    with pytest.raises(SolverError, match="h must be > 0"):
        gd.rk4(0.0)
    with pytest.raises(TableauError, match="b_1 = 0"):
        gd.ode(gd.tableau("midpoint", [[], [0.5]], [0.0, 1.0]), 0.1,
               regularizer=gd.grad_norm_penalty("D", of="G", weight=0.1))


def test_builtin_tableaux():
    assert gd.HEUN.a == ((), (1.0,)) and gd.HEUN.b == (0.5, 0.5) and gd.HEUN.c == (0.0, 1.0)
    assert gd.RK4.c == (0.0, 0.5, 0.5, 1.0)
    np.testing.assert_allclose(gd.RK4.b, [1 / 6, 1 / 3, 1 / 3, 1 / 6])


@pytest.mark.parametrize("name, a, b, order", [
    ("euler", [[]], [1.0], 1),
    ("midpoint", [[], [0.5]], [0.0, 1.0], 2),
    ("ssprk3", [[], [1.0], [0.25, 0.25]], [1 / 6, 1 / 6, 2 / 3], 3),
    ("kutta3", [[], [0.5], [-1.0, 2.0]], [1 / 6, 2 / 3, 1 / 6], 3),
    ("rk4_3/8", [[], [1 / 3], [-1 / 3, 1.0], [1.0, -1.0, 1.0]], [1 / 8, 3 / 8, 3 / 8, 1 / 8], 4),
    # consistent but with the wrong second-stage weight: order 1 only
    ("broken", [[], [1.0]], [0.25, 0.75], 1),
])
def test_the_order_is_derived_from_the_coefficients(name, a, b, order):
    t = gd.tableau(name, a, b)
    assert t.order == order and t.num_stages == len(b)


def test_order_conditions_count_the_rooted_trees():
    from gendsl.solvers.order_conditions import rooted_trees
    assert [len(rooted_trees(n)) for n in range(1, 9)] == [1, 1, 2, 4, 9, 20, 48, 115]
    assert (gd.EULER.order, gd.HEUN.order, gd.RK4.order) == (1, 2, 4)


def _rotation_game(solver):
    """Two scalar players in the bilinear game L_x = x*y, L_y = -x*y plus a quadratic
    pull: the flow is linear, d/dt (x, y) = A (x, y), with A = [[-m, -1], [1, -m]]."""
    m = 0.3
    X = gd.points("x", np.array([1.0]), optax.sgd(1.0))
    Y = gd.points("y", np.array([0.5]), optax.sgd(1.0))
    obj_x = gd.sum(X() * gd.stop_gradient(Y())) + 0.5 * m * gd.sum(X() ** 2)
    obj_y = -gd.sum(gd.stop_gradient(X()) * Y()) + 0.5 * m * gd.sum(Y() ** 2)
    prog = gd.program({X: obj_x, Y: obj_y}, solver)
    A = np.array([[-m, -1.0], [1.0, -m]])
    return prog, A


@pytest.mark.parametrize("make, order", [(gd.euler, 1), (gd.heun, 2), (gd.rk4, 4)])
def test_integrators_have_their_order_on_a_linear_flow(make, order):
    import scipy.linalg
    T = 1.0
    errors = []
    with jax.enable_x64(True):
        for n in (8, 16, 32):
            prog, A = _rotation_game(make(T / n))
            c = gd.compile(prog)
            state = c.init(jax.random.key(0))
            for _ in range(n):
                state, _ = c.step(state, {})
            y = np.array([float(state.params["x"][0]), float(state.params["y"][0])])
            exact = scipy.linalg.expm(A * T) @ np.array([1.0, 0.5])
            errors.append(np.linalg.norm(y - exact))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    np.testing.assert_allclose(rates, order, atol=0.15)


def test_per_player_coupling_integrates_each_flow_with_the_others_frozen():
    """coupling="per_player" (ODE-GAN's reference code): x integrates dx/dt = -m x - y0
    with y frozen at y0, and y its own flow with x frozen. RK4 on dx/dt = a x + f takes
    x1 = R(ah) x0 + h f (R(ah) - 1) / (ah) with R(z) = 1 + z + z^2/2 + z^3/6 + z^4/24.
    The joint RK4 step differs at O(h^2)."""
    h, m, x0, y0 = 0.1, 0.3, 1.0, 0.5
    z = -m * h
    R = 1 + z + z ** 2 / 2 + z ** 3 / 6 + z ** 4 / 24
    expected = (R * x0 + h * (-y0) * (R - 1) / z, R * y0 + h * x0 * (R - 1) / z)
    with jax.enable_x64(True):
        got = {}
        for coupling in ("per_player", "joint"):
            prog, _ = _rotation_game(gd.rk4(h, coupling=coupling))
            c = gd.compile(prog)
            state, _ = c.step(c.init(jax.random.key(0)), {})
            got[coupling] = (float(state.params["x"][0]), float(state.params["y"][0]))
    np.testing.assert_allclose(got["per_player"], expected, rtol=1e-12)
    assert abs(got["joint"][0] - expected[0]) > 1e-4
    assert "coupling='per_player'" in gd.rk4(h, coupling="per_player").describe()
    with pytest.raises(gd.errors.SolverError, match="coupling"):
        gd.rk4(h, coupling="gauss_seidel")


@pytest.mark.parametrize("make", [gd.euler, gd.heun, gd.rk4])
def test_regulariser_update_carries_exactly_h_lambda(make):
    """With and without the penalty, steps differ by exactly -h*lam*grad_D |grad_G L_G|^2
    evaluated at the starting point (computed here by brute-force autodiff)."""
    h, lam = 0.1, 0.07
    D = gd.points("D", np.array([0.3, -0.2]), optax.sgd(1.0))
    G = gd.points("G", np.array([0.7, 0.1]), optax.sgd(1.0))
    L_D = gd.sum(D() * G()) ** 2 + gd.sum(D() ** 2)
    L_G = gd.sum(gd.exp(D()) * G() ** 2)
    with jax.enable_x64(True):
        def run(reg):
            prog = gd.program({D: L_D, G: L_G}, make(h, regularizer=reg))
            c = gd.compile(prog)
            s, m = c.step(c.init(jax.random.key(0)), {})
            return s.params, m
        plain, _ = run(None)
        reg, m = run(gd.grad_norm_penalty("D", of="G", weight=lam))
        d0, g0 = jnp.array([0.3, -0.2]), jnp.array([0.7, 0.1])
        lg = lambda d, g: jnp.sum(jnp.exp(d) * g ** 2)
        pen = lambda d: jnp.sum(jax.grad(lg, argnums=1)(d, g0) ** 2)
        expected = -h * lam * jax.grad(pen)(d0)
        np.testing.assert_allclose(reg["D"] - plain["D"], expected, rtol=1e-10)
        np.testing.assert_allclose(reg["G"], plain["G"], rtol=1e-12)
        np.testing.assert_allclose(float(m["D/grad_norm_penalty"]), float(pen(d0)), rtol=1e-10)


def test_alternating_runs_the_schedule_in_order():
    """D=2, G=1 on scalar players with sgd equals the updates done by hand."""
    D = gd.points("D", np.array([1.0]), optax.sgd(0.1))
    G = gd.points("G", np.array([2.0]), optax.sgd(0.1))
    prog = gd.program({D: gd.sum((D() - G()) ** 2), G: gd.sum((G() + D()) ** 2)},
                      gd.alternating(D=2, G=1))
    c = gd.compile(prog)
    s, m = c.step(c.init(jax.random.key(0)), {})
    d, g = 1.0, 2.0
    for _ in range(2):
        d -= 0.1 * 2 * (d - g)
    g -= 0.1 * 2 * (g + d)
    np.testing.assert_allclose([float(s.params["D"][0]), float(s.params["G"][0])], [d, g], rtol=1e-6)


def test_fresh_batches_consume_one_batch_per_inner_update():
    D = gd.points("D", np.array([0.0]), optax.sgd(0.5))
    G = gd.points("G", np.array([0.0]), optax.sgd(0.5))
    x = gd.data("x")
    prog = gd.program({D: gd.mean((D() - x) ** 2), G: gd.mean((G() - x) ** 2)},
                      gd.alternating(D=2, G=1, fresh_batches=True))
    c = gd.compile(prog)
    assert c.batches_per_step == 3
    batch = {"x": np.array([[1.0], [2.0], [4.0]], np.float32)[:, None, :].repeat(4, 1)[..., 0]}
    s, _ = c.step(c.init(jax.random.key(0), batch), batch)
    d = 0.0
    for v in (1.0, 2.0):
        d -= 0.5 * 2 * (d - v)
    np.testing.assert_allclose(float(s.params["D"][0]), d)
    np.testing.assert_allclose(float(s.params["G"][0]), 4.0)


def _optimizer_game(h, optimizer):
    X = gd.points("x", np.array([1.0, -2.0]), optimizer)
    Y = gd.points("y", np.array([0.5]), optimizer)
    obj_x = gd.sum(X() * gd.stop_gradient(Y())) + 0.15 * gd.sum(X() ** 2)
    obj_y = -gd.sum(gd.stop_gradient(X()) * Y()) + 0.15 * gd.sum(Y() ** 2)
    return gd.compile(gd.program({X: obj_x, Y: obj_y}, gd.rk4(h, use_optimizers=True)))


@pytest.mark.parametrize("h, lr", [(0.1, 0.1), (0.3, 0.1), (0.02, 0.1)])
def test_stage_to_step_is_h_over_lr_for_sgd(h, lr):
    """With SGD the optimizer's step is lr * direction, so the stages sit h / lr times
    as far out as the step goes (1: matched), whatever the gradients."""
    import warnings
    c = _optimizer_game(h, optax.sgd(lr))
    with warnings.catch_warnings():
        warnings.simplefilter("error", gd.solvers.ODEStageScaleWarning)
        _, metrics = c.step(c.init(jax.random.key(0)), {})
        jax.effects_barrier()
    np.testing.assert_allclose(float(metrics["ode/stage_to_step"]), h / lr, rtol=1e-5)


def test_h_far_from_the_optimizers_step_warns():
    """h = 1 with Adam(1e-3): the stages are evaluated ~1000x farther than the step."""
    c = _optimizer_game(1.0, optax.adam(1e-3))
    with pytest.warns(gd.solvers.ODEStageScaleWarning, match=r"h = 0\.00"):
        _, metrics = c.step(c.init(jax.random.key(0)), {})
        jax.effects_barrier()
    assert float(metrics["ode/stage_to_step"]) > 100
    plain = gd.compile(_rotation_game(gd.rk4(0.1))[0])  # a plain step of size h: no ratio
    assert "ode/stage_to_step" not in plain.step(plain.init(jax.random.key(0)), {})[1]
