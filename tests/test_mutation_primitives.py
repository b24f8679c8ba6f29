"""Tests that kill the primitives' surviving mutants (docs/mutation.md).

Each names the behaviour it pins; the mutant it was written against is in the comment.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gendsl as gd
from gendsl.errors import PrimitiveError
from gendsl.primitives.adversarial import adversarial
from gendsl.primitives.affine_terms import squared_or_absolute
from gendsl.primitives.l1 import l1
from gendsl.primitives.pgd import ascent_direction, random_start

x, y = gd.data("x"), gd.data("y")


@pytest.mark.parametrize("lr", [-0.1, 0.0, float("nan"), float("inf")])
def test_l1_refuses_a_step_size_that_is_not_a_positive_number(lr):
    # mutant: l1.py:70 `_real(lr) and isfinite(lr) and lr > 0` -> `_real(lr) or ...`
    P = gd.points("w", np.zeros(3, np.float32), optax.sgd(0.1))
    with pytest.raises(PrimitiveError, match="lr must be a positive number"):
        l1(P, 0.1, lr=lr)


def test_l2_ascent_direction_has_unit_norm_for_small_and_large_gradients():
    """Each example's direction is ``g / ||g||``, also where ``||g|| < 1``; a zero gradient
    stays zero."""
    # mutant: pgd.py:42 `where(norm > 0, ...)` -> `where(norm > 1, ...)`
    g = jnp.array([[0.03, -0.04], [30.0, 40.0], [0.0, 0.0]])
    d = ascent_direction(g, 2.0)
    np.testing.assert_allclose(d, [[0.6, -0.8], [0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_closed_form_refuses_a_scalar_residual():
    """A residual reduced to one number (a mean taken inside the loss) is refused with
    the closed form's message, not an indexing error."""
    # mutant: adversarial.py:155 `jnp.ndim(r) == 0` -> `== -1`
    w = gd.points("w", np.zeros((3, 1), np.float32), optax.sgd(0.1))
    batch = {"x": np.ones((4, 3), np.float32), "y": np.ones(4, np.float32)}
    term = adversarial(gd.square(gd.mean(y) - gd.mean(x @ w())), 0.1, 2)
    with pytest.raises(PrimitiveError, match=r"one residual per example.* has shape \(\)"):
        gd.compile(gd.program({w: term})).init(jax.random.key(0), batch)


def test_only_squares_and_absolute_values_are_read_as_such():
    # mutant: affine_terms.py:83 `BinaryOp and op == "pow" and right is Const` -> `... or ...`
    r = y - x
    assert squared_or_absolute(gd.square(r)) == ("square", r)
    assert squared_or_absolute(r ** 2) == ("square", r)
    assert squared_or_absolute(gd.abs(r)) == ("abs", r)
    for other in (r * 2.0, r ** 3, r, x):
        assert squared_or_absolute(other) is None, gd.show(other)
    # ... so that a doubled residual is not attacked as if it were squared
    w = gd.points("w", np.zeros((3, 1), np.float32), optax.sgd(0.1))
    assert "method='pgd'" in gd.show(adversarial((y - gd.sum(x @ w(), axis=1)) * 2.0, 0.1, 2))


@pytest.mark.parametrize("weight", [-0.5, -1e-3, float("nan"), float("inf")])
def test_l1_refuses_a_weight_that_is_not_a_finite_number_at_least_0(weight):
    # mutant: l1.py:67 `weight >= 0` -> `weight >= -1`
    P = gd.points("w", np.zeros(3, np.float32), optax.sgd(0.1))
    with pytest.raises(PrimitiveError, match="weight must be a finite number >= 0"):
        l1(P, weight, lr=0.1)
    l1(P, 0.0, lr=0.1)  # 0 (no penalty) is allowed


@pytest.mark.parametrize("d", [1, 2, 5])
def test_l2_random_start_is_uniform_in_the_ball(d):
    """PGD's l2 random start is uniform in the eps-ball: inside it, and a radius below
    ``s * eps`` with probability ``s**d`` (checked at s = 0.5 and 0.9 over 40,000 draws,
    within 4 standard errors)."""
    # mutant: pgd.py:52 the radius `U ** (1 / d)` -> `U ** (2 / d)` or `U ** (0 / d)`
    n, eps = 40_000, 0.3
    delta = random_start(jax.random.key(0), (n, d), jnp.float32, eps, 2.0)
    r = np.linalg.norm(np.asarray(delta, np.float64), axis=1) / eps
    assert r.max() <= 1.0 + 1e-6
    for s in (0.5, 0.9):
        p = s ** d
        assert abs(np.mean(r < s) - p) < 4 * np.sqrt(p * (1 - p) / n), (s, np.mean(r < s), p)


def test_a_zero_radius_is_allowed_and_is_the_clean_loss():
    """``eps = 0`` (no perturbation, the usual first point of a sweep) is accepted, and
    the attacked loss is the clean one, by either method."""
    # mutant: adversarial.py:77 `eps >= 0` -> `eps > 0`
    w = gd.points("w", np.array([[0.5], [-1.0], [2.0]], np.float32), optax.sgd(0.1))
    batch = {"x": np.arange(12, dtype=np.float32).reshape(4, 3) / 10,
             "y": np.array([1.0, -1.0, 0.5, 2.0], np.float32)}
    clean = gd.square(y - gd.sum(x @ w(), axis=1))
    net = gd.square(y - gd.sum((x * x) @ w(), axis=1))
    for loss in (clean, net):
        values = []
        for objective in (gd.mean(loss), gd.mean(adversarial(loss, 0.0, 2))):
            c = gd.compile(gd.program({w: objective}))
            values.append(float(c.evaluate(c.init(jax.random.key(0), batch), batch)["w/loss"]))
        np.testing.assert_allclose(values[1], values[0], rtol=1e-6)


def test_pgd_takes_ten_steps_of_a_quarter_radius_by_default():
    """The documented defaults: ``steps=10`` and ``step_size = 2.5 * eps / steps``."""
    # mutant: adversarial.py:51 the default `steps=10` -> 11
    w = gd.points("w", np.zeros((3, 1), np.float32), optax.sgd(0.1))
    net = gd.square(y - (x * x) @ w())
    shown = gd.show(adversarial(net, 0.1, 2))
    assert "steps=10" in shown and "step_size=0.025" in shown
    assert shown == gd.show(adversarial(net, 0.1, 2, steps=10, step_size=0.025))


@pytest.mark.parametrize("step_size", [-1.0, -0.5, -1e-3, float("nan")])
def test_a_negative_step_size_is_refused(step_size):
    # mutant: adversarial.py:101 `alpha >= 0` -> `alpha >= -1`
    w = gd.points("w", np.zeros((3, 1), np.float32), optax.sgd(0.1))
    with pytest.raises(PrimitiveError, match="step_size must be >= 0"):
        adversarial(gd.square(y - (x * x) @ w()), 0.1, 2, step_size=step_size)


def test_the_l2_projection_leaves_points_inside_the_ball_where_they_are():
    """A projection moves only what lies outside: interior points (here at 0.1, 0.4 and
    0.9 of the radius) stay, outer ones go to the sphere, in their direction."""
    # mutant: pgd.py:33 `minimum(1.0, eps / norm)` -> `minimum(2.0, eps / norm)`
    from gendsl.primitives.pgd import project
    delta = jnp.array([[0.06, 0.08], [0.24, -0.32], [0.0, 0.9], [3.0, 4.0], [0.0, 0.0]])
    got = project(delta, 1.0, 2.0)
    np.testing.assert_allclose(got[:3], delta[:3], rtol=1e-6)
    np.testing.assert_allclose(got[3:], [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_a_simulator_is_named_after_its_function_by_default():
    # mutant: simulator.py:40 `name or fn.__name__` -> `name and fn.__name__`
    def pendulum(theta):
        return theta * 2.0

    assert gd.simulator(pendulum).name == "pendulum"
    assert gd.simulator(pendulum, stochastic=True).name == "pendulum"
    assert gd.simulator(pendulum, name="swing").name == "swing"
    assert gd.simulator(lambda t: t).name == "<lambda>"


def _boundary_cases():
    """``(argument, build(value), accepted values, refused values)`` for every numeric
    argument a primitive checks: the boundary itself and just past it, NaN, infinity
    and booleans (which are numbers to Python, never meant as one here)."""
    from gendsl import kernels as K
    w = gd.points("w", np.zeros((3, 1), np.float32), optax.sgd(0.1))
    D = gd.player("D", lambda r: gd.nn.MLP(3, (4,), 1, rngs=r), optax.sgd(0.1))
    net = gd.square(y - (x * x) @ w())
    lin = gd.square(y - gd.sum(x @ w(), axis=1))
    kernel = K.serial(K.Dense(4), K.Relu(), K.Dense(1))
    nan, inf = float("nan"), float("inf")
    return [
        ("adversarial eps", lambda v: adversarial(net, v, 2), [0, 0.0, 1e-9, 3], [-1e-9, nan, inf, True, "0.1"]),
        ("adversarial steps", lambda v: adversarial(net, 0.1, 2, steps=v), [1, 2], [0, -1, True, 1.5]),
        ("adversarial step_size", lambda v: adversarial(net, 0.1, 2, step_size=v), [0.0, 1e-9], [-1e-9, nan]),
        ("adversarial norm", lambda v: adversarial(lin, 0.1, v), [1, 1.0, 2, "inf", inf], [0.999, 0, -2, "l2", None]),
        ("gradient_layer eta", lambda v: gd.gradient_layer(D, x, v), [0.0, -0.1, 1e-9], [nan, inf, True, "0.1"]),
        ("gradient_layer steps", lambda v: gd.gradient_layer(D, x, 0.1, steps=v), [1, 3], [0, True, 2.0]),
        ("l1 weight", lambda v: l1(w, v), [0, 0.0, 1e-9], [-1e-9, nan, inf, True]),
        ("l1 lr", lambda v: l1(w, 0.1, lr=v), [None, 1e-9], [0, -1e-9, nan, inf, True]),
        ("ntk_gp_loss t", lambda v: gd.losses.ntk_gp_loss(kernel, x, y, v), [1e-9, 100], [0, -1, True, nan]),
        ("ntk_gp_loss lr", lambda v: gd.losses.ntk_gp_loss(kernel, x, y, 100.0, lr=v), [1e-9], [0, -1e-9, True]),
        ("ntk_gp_loss diag_reg", lambda v: gd.losses.ntk_gp_loss(kernel, x, y, 100.0, diag_reg=v),
         [0, 0.0, 1e-9], [-1e-9, nan, inf, True]),
    ]


@pytest.mark.parametrize("case", range(11))
def test_every_numeric_argument_accepts_its_boundary_and_refuses_past_it(case):
    """One table for the primitives' argument checks (each seed of the mutation run drew a
    different boundary: `>=` turned `>`, a bound moved by one, a bool let through)."""
    # mutants: adversarial.py:77 `eps >= 0` -> `eps > 0`; :101 `alpha >= 0` -> `>= -1`;
    # and the like for every check in the table
    cases = _boundary_cases()
    assert len(cases) == 11
    name, build, accepted, refused = cases[case]
    for value in accepted:
        build(value)
    for value in refused:
        with pytest.raises(PrimitiveError):
            build(value)
            pytest.fail(f"{name}={value!r} was accepted")
