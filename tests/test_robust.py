"""Adversarially robust regression with L1 (Xing, Song & Cheng, 2021): the proximal L1
penalty against sklearn's Lasso, the adversarial risk's closed form against brute-force
maximisation, PGD against the closed form, the NTK two-layer network, the data and risk
helpers, the programs, and the paper's qualitative claims at small scale."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gendsl as gd
from gendsl.errors import PrimitiveError, SolverError
from gendsl.primitives.adversarial import adversarial
from gendsl.primitives.l1 import l1
from gendsl.primitives.soft_threshold import proximal_l1, soft_threshold

x, y = gd.data("x"), gd.data("y")


def _train(prog, batch, steps):
    c = gd.compile(prog)
    state = c.init(jax.random.key(0), batch)
    batch = jax.device_put(batch)
    for _ in range(steps):
        state, metrics = c.step(state, batch)
    return c, state, metrics


def _lasso_problem(n=200, d=20, support=3, seed=0):
    truth = gd.datasets.linear_truth(d, support=support, noise=0.5, seed=seed)
    batch = gd.datasets.linear_regression(n, truth, seed=seed + 1).batch(0)
    lipschitz = 2 * np.linalg.eigvalsh(batch["x"].T @ batch["x"] / n).max()
    return truth, batch, float(1.0 / lipschitz)


# -- the proximal L1 penalty ---------------------------------------------------------

def test_soft_threshold_of_both_signs_inside_and_outside_the_threshold():
    """sign(x) max(|x| - t, 0), written out: values beyond t shrink towards 0 by t
    (negative ones too), values within [-t, t] become exactly 0."""
    x = jnp.array([-3.0, -1.0, -0.75, -0.25, 0.0, 0.25, 0.75, 1.0, 3.0])
    got = np.asarray(soft_threshold(x, 0.75))
    np.testing.assert_array_equal(got, [-2.25, -0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 2.25])


def test_soft_threshold_step_follows_the_optimizer_step():
    """After the sgd step [0.75, 0.1, -0.2, -1.5], [[1.5]], [-0.1]: each coordinate moves
    towards 0 by lr * weight = 0.2, or stops at 0 within it, whatever its sign."""
    tx = proximal_l1(optax.sgd(0.5), 0.4, lr=0.5)
    p = {"a": jnp.array([1.0, 0.1, -0.3, -1.0]), "b": jnp.array([[2.0]]), "c": jnp.array([0.3])}
    g = {"a": jnp.array([0.5, 0.0, -0.2, 1.0]), "b": jnp.array([[1.0]]), "c": jnp.array([0.8])}
    u, _ = tx.update(g, tx.init(p), p)
    new = optax.apply_updates(p, u)
    expected = {"a": [0.55, 0.0, 0.0, -1.3], "b": [[1.3]], "c": [0.0]}
    for k in p:
        np.testing.assert_allclose(new[k], expected[k], rtol=1e-6, atol=1e-7)
    assert float(new["a"][1]) == float(new["a"][2]) == float(new["c"][0]) == 0.0   # exactly


def test_soft_threshold_reads_an_injected_learning_rate_schedule():
    schedule = optax.linear_schedule(1.0, 0.5, transition_steps=1)   # 1.0, then 0.5
    tx = proximal_l1(optax.inject_hyperparams(optax.sgd)(learning_rate=schedule), 0.1)
    p = jnp.array([5.0, -5.0])
    state = tx.init(p)
    for lr in (1.0, 0.5):
        u, state = tx.update(jnp.zeros(2), state, p)
        new = optax.apply_updates(p, u)
        np.testing.assert_allclose(new, p - jnp.sign(p) * lr * 0.1, rtol=1e-6)
        p = new
    np.testing.assert_allclose(p, [4.85, -4.85], rtol=1e-6)


def test_l1_without_a_step_size_is_refused_at_init():
    w = gd.points("w", np.zeros(3, np.float32), optax.sgd(0.1))
    prog = gd.program({w: gd.mean(gd.square(y - x @ w())) + l1(w, 0.1)})
    batch = {"x": np.ones((4, 3), np.float32), "y": np.ones(4, np.float32)}
    with pytest.raises(PrimitiveError, match="inject_hyperparams"):
        gd.compile(prog).init(jax.random.key(0), batch)


def test_lasso_has_exact_zeros_and_matches_sklearn():
    from sklearn.linear_model import Lasso
    truth, batch, lr = _lasso_problem()
    lam = 0.2
    w = gd.points("w", np.zeros(truth.dim, np.float32), optax.sgd(lr))
    prog = gd.program({w: gd.mean(gd.square(y - x @ w())) + l1(w, lam, lr=lr)})
    _, state, metrics = _train(prog, batch, 500)
    theta = np.asarray(state.params["w"])
    # sklearn minimises ||y - X w||^2 / (2n) + alpha ||w||_1: alpha = lam / 2
    ref = Lasso(alpha=lam / 2, fit_intercept=False, tol=1e-10, max_iter=100_000).fit(
        batch["x"].astype(np.float64), batch["y"].astype(np.float64)).coef_
    np.testing.assert_allclose(theta, ref, atol=1e-4)
    np.testing.assert_array_equal(np.flatnonzero(theta), truth.support)
    assert (theta == 0.0).sum() == truth.dim - len(truth.support)     # exact zeros
    # the objective's value includes the penalty (reported without gradient)
    fit = np.mean((batch["y"] - batch["x"] @ theta) ** 2)
    np.testing.assert_allclose(float(metrics["w/loss"]),
                               fit + lam * np.abs(theta).sum(), rtol=1e-4)


def test_plain_gradient_descent_on_the_same_objective_has_no_exact_zeros():
    """The reason for the proximal step: a subgradient of |theta| leaves no zeros."""
    truth, batch, lr = _lasso_problem()
    w = gd.points("w", np.zeros(truth.dim, np.float32), optax.sgd(lr))
    sub = gd.program({w: gd.mean(gd.square(y - x @ w())) + 0.2 * gd.sum(gd.abs(w()))})
    _, state, _ = _train(sub, batch, 500)
    assert (np.asarray(state.params["w"]) == 0.0).sum() == 0


def test_l1_coefficient_in_the_objective_scales_the_threshold():
    _, batch, lr = _lasso_problem()
    opt = lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
    a = gd.points("w", np.zeros(20, np.float32), opt())
    b = gd.points("w", np.zeros(20, np.float32), opt())
    fit = lambda w: gd.mean(gd.square(y - x @ w()))
    _, sa, _ = _train(gd.program({a: fit(a) + 2.0 * l1(a, 0.05) + l1(a, 0.1) / 2}), batch, 100)
    _, sb, _ = _train(gd.program({b: fit(b) + l1(b, 0.15)}), batch, 100)
    np.testing.assert_allclose(sa.params["w"], sb.params["w"], atol=1e-6)


def test_l1_only_penalises_the_named_parameters():
    _, batch, lr = _lasso_problem()
    P = gd.player("P", nnx.Linear(20, 1, rngs=nnx.Rngs(0)), optax.sgd(lr))
    prog = gd.program({P: gd.mean(gd.square(y - P(x)[:, 0])) + l1(P, 0.3, lr=lr, only="kernel")})
    _, state, _ = _train(prog, batch, 300)
    assert (np.asarray(state.params["P"]["kernel"]) == 0).sum() >= 15
    assert float(state.params["P"]["bias"][0]) != 0.0


@pytest.mark.parametrize("objective, message", [
    (lambda w, v: gd.mean(gd.square(y - x @ w())) + gd.square(l1(w, 0.1, lr=0.1)), "summand"),
    (lambda w, v: gd.mean(gd.square(y - x @ w())) - l1(w, 0.1, lr=0.1), "non-negative"),
    (lambda w, v: gd.mean(gd.square(y - x @ w())) + l1(v, 0.1, lr=0.1), "penalises player 'v'"),
])
def test_misplaced_l1_is_refused_naming_the_term(objective, message):
    w = gd.points("w", np.zeros(3, np.float32), optax.sgd(0.1))
    v = gd.points("v", np.zeros(3, np.float32), optax.sgd(0.1))
    objectives = {w: objective(w, v), v: gd.mean(v())}
    batch = {"x": np.ones((4, 3), np.float32), "y": np.ones(4, np.float32)}
    with pytest.raises(PrimitiveError, match=message):
        gd.compile(gd.program(objectives)).init(jax.random.key(0), batch)


def test_l1_under_plain_ode_integration_is_refused():
    w = gd.points("w", np.zeros(3, np.float32), optax.sgd(0.1))
    prog = gd.program({w: gd.mean(gd.square(y - x @ w())) + l1(w, 0.1, lr=0.1)}, gd.euler(0.1))
    batch = {"x": np.ones((4, 3), np.float32), "y": np.ones(4, np.float32)}
    with pytest.raises(SolverError, match="use_optimizers=True"):
        gd.compile(prog).init(jax.random.key(0), batch)
    ok = gd.program({w: gd.mean(gd.square(y - x @ w())) + l1(w, 0.1, lr=0.1)},
                    gd.euler(0.1, use_optimizers=True))
    gd.compile(ok).init(jax.random.key(0), batch)


# -- adversarial risk ------------------------------------------------------------------

def _value(objective, player, batch, frozen=()):
    c = gd.compile(gd.program({player: objective}, frozen=frozen))
    state = c.init(jax.random.key(0), batch)
    return c, state, float(c.evaluate(state, batch)[f"{player.name}/loss"])


def _brute_force_max(theta, bias, xs, ys, eps, norm):
    """max over the l_p ball of (y - (x + delta) . theta - b)^2, by enumeration: the
    vertices of the l_inf / l_1 balls (a convex function peaks at a vertex), or 20,000
    directions on the circle for l_2 (d = 2)."""
    d = len(theta)
    if norm == "inf":
        deltas = eps * np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    elif norm == 1:
        deltas = eps * np.concatenate([np.eye(d), -np.eye(d)])
    else:
        a = np.linspace(0, 2 * np.pi, 20_000, endpoint=False)
        deltas = eps * np.stack([np.cos(a), np.sin(a)], 1)
    r = ys[:, None] - (xs[:, None, :] + deltas[None]) @ theta - bias
    return (r ** 2).max(1)


@pytest.mark.parametrize("norm, d", [("inf", 3), (1, 3), (2, 2)])
def test_closed_form_equals_brute_force_maximisation(norm, d):
    rng = np.random.default_rng(1)
    xs, ys = rng.normal(size=(16, d)).astype(np.float32), rng.normal(size=16).astype(np.float32)
    P = gd.player("P", nnx.Linear(d, 1, rngs=nnx.Rngs(3)), optax.sgd(0.1))   # with a bias
    term = adversarial(gd.square(y - P(x)[:, 0]), 0.4, norm)
    assert "closed_form" in gd.show(term)
    _, state, value = _value(gd.mean(term), P, {"x": xs, "y": ys})
    theta = np.asarray(state.params["P"]["kernel"][:, 0], np.float64)
    bias = float(state.params["P"]["bias"][0])
    expected = _brute_force_max(theta, bias, xs.astype(np.float64), ys.astype(np.float64), 0.4, norm)
    np.testing.assert_allclose(value, expected.mean(), rtol=1e-4 if norm != 2 else 1e-3)


@pytest.mark.parametrize("norm", [2, "inf"])
def test_pgd_on_a_linear_model_reaches_the_closed_form(norm):
    rng = np.random.default_rng(2)
    batch = {"x": rng.normal(size=(64, 5)).astype(np.float32),
             "y": rng.normal(size=64).astype(np.float32)}
    w = gd.points("w", rng.normal(size=5).astype(np.float32), optax.sgd(0.1))
    loss = gd.square(y - x @ w())
    values, grads = [], []
    for method in ("closed_form", "pgd"):
        c, state, value = _value(gd.mean(adversarial(loss, 0.3, norm, method=method, steps=20)),
                                 w, batch)
        before = np.array(state.params["w"], copy=True)   # the step donates the state
        state, _ = c.step(state, batch)                       # sgd(0.1): the gradient
        values.append(value)
        grads.append((before - np.asarray(state.params["w"])) / 0.1)
    np.testing.assert_allclose(values[1], values[0], rtol=1e-5)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-4)   # Danskin
    assert np.abs(grads[0]).max() > 0.1
    theta = np.asarray(w.module, np.float64)
    np.testing.assert_allclose(values[0], gd.metrics.linear_adversarial_risk(
        batch["x"], batch["y"], theta, 0.3, norm), rtol=1e-5)


def test_pgd_on_a_network_is_worse_than_clean_and_random_perturbations():
    rng = np.random.default_rng(3)
    batch = {"x": rng.normal(size=(32, 4)).astype(np.float32),
             "y": rng.normal(size=32).astype(np.float32)}
    net = gd.nn.TwoLayerNTK(4, 256, rngs=nnx.Rngs(0), symmetric=False)
    P = gd.player("P", net, optax.sgd(0.1))
    loss = gd.square(y - P(x))
    term = adversarial(loss, 0.2, "inf", steps=10)
    assert "method='pgd'" in gd.show(term)
    _, _, worst = _value(gd.mean(term), P, batch)
    _, _, clean = _value(gd.mean(loss), P, batch)
    f = nnx.jit(lambda m, v: m(v))
    random = max(float(np.mean((batch["y"] - np.asarray(f(net, batch["x"] + 0.2 * np.sign(
        rng.normal(size=batch["x"].shape)).astype(np.float32)))) ** 2)) for _ in range(50))
    assert worst > random > clean


def test_adversarial_chooses_and_checks_its_method():
    w = gd.points("w", np.zeros(3, np.float32), optax.sgd(0.1))
    P = gd.player("P", lambda rngs: gd.nn.TwoLayerNTK(3, 8, rngs=rngs), optax.sgd(0.1))
    lin, net = gd.square(y - x @ w()), gd.square(y - P(x))
    assert "closed_form" in gd.show(adversarial(lin, 0.1, 2))
    assert "closed_form" in gd.show(adversarial(gd.abs(y - 2.0 * x @ w() + 1.0), 0.1, 1))
    assert "pgd" in gd.show(adversarial(net, 0.1, 2))
    assert "pgd" in gd.show(adversarial(gd.square(y - (x * x) @ w()), 0.1, 2))
    with pytest.raises(PrimitiveError, match="method='pgd' for networks"):
        adversarial(net, 0.1, 2, method="closed_form")
    with pytest.raises(PrimitiveError, match="PGD supports norm 2 or 'inf'"):
        adversarial(net, 0.1, 1)
    with pytest.raises(PrimitiveError, match="pass wrt"):
        adversarial(gd.square(gd.data("u") - gd.data("v") @ w()), 0.1, 2)
    with pytest.raises(PrimitiveError, match="eps must be"):
        adversarial(lin, -1.0, 2)
    with pytest.raises(PrimitiveError, match="norm must be"):
        adversarial(lin, 0.1, 0.5)


def test_closed_form_refuses_a_residual_that_is_not_one_per_example():
    w = gd.points("w", np.zeros((3, 1), np.float32), optax.sgd(0.1))
    batch = {"x": np.ones((4, 3), np.float32), "y": np.ones(4, np.float32)}
    term = gd.mean(adversarial(gd.square(y - x @ w()), 0.1, 2))   # (4,) - (4, 1): (4, 4)
    with pytest.raises(PrimitiveError, match="one residual per example"):
        gd.compile(gd.program({w: term})).init(jax.random.key(0), batch)


# -- the two-layer network in the NTK parameterisation ---------------------------------

def test_two_layer_ntk_freezes_the_layers_it_is_told_to():
    w = gd.player("f", lambda rngs: gd.nn.TwoLayerNTK(3, 16, rngs=rngs, train_first=False),
                  optax.sgd(0.1))
    batch = {"x": np.ones((4, 3), np.float32), "y": np.ones(4, np.float32)}
    c = gd.compile(gd.program({w: gd.mean(gd.square(y - w(x)))}))
    state = c.init(jax.random.key(0), batch)
    assert set(state.params["f"]) == {"second"} and set(state.rest["f"]) == {"first"}
    first = np.array(state.rest["f"]["first"], copy=True)
    state, _ = c.step(state, batch)
    np.testing.assert_array_equal(state.rest["f"]["first"], first)


def test_two_layer_ntk_is_the_ntk_parameterised_formula():
    """f(x) = a . relu(W x / sqrt(d)) / sqrt(m), W and a standard normal; the symmetric
    variant pairs units with opposite output weights, so it starts at zero."""
    xs = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    net = gd.nn.TwoLayerNTK(4, 256, rngs=nnx.Rngs(1), symmetric=False)
    W, a = np.asarray(net.first[...], np.float64), np.asarray(net.second[...], np.float64)
    expected = np.maximum(xs @ W.T / 2.0, 0.0) @ a / 16.0
    np.testing.assert_allclose(net(xs), expected, rtol=1e-4, atol=1e-5)
    assert 0.5 < W.std() < 1.5 and 0.5 < a.std() < 1.5
    sym = gd.nn.TwoLayerNTK(4, 256, rngs=nnx.Rngs(1))
    np.testing.assert_allclose(sym(xs), 0.0, atol=1e-5)
    np.testing.assert_array_equal(sym.first[...][:128], sym.first[...][128:])
    np.testing.assert_array_equal(sym.second[...][:128], -sym.second[...][128:])


def test_wider_networks_train_lazier():
    """In the NTK parameterisation the first layer moves by O(1/sqrt(m)) (lazy training)."""
    truth = gd.datasets.linear_truth(3, noise=0.1, seed=0)
    batch = gd.datasets.linear_regression(64, truth, seed=0).batch(0)
    change = {}
    for width in (64, 1024):
        f = gd.player("f", lambda rngs, m=width: gd.nn.TwoLayerNTK(3, m, rngs=rngs), optax.sgd(0.5))
        c = gd.compile(gd.program({f: gd.mean(gd.square(y - f(x)))}))
        w0 = np.array(c.init(jax.random.key(0), batch).params["f"]["first"], copy=True)
        _, state, metrics = _train(gd.program({f: gd.mean(gd.square(y - f(x)))}), batch, 200)
        assert float(metrics["f/loss"]) < 0.1 * float(np.var(batch["y"]))
        w = np.asarray(state.params["f"]["first"])
        change[width] = np.linalg.norm(w - w0) / np.linalg.norm(w0)
    assert change[1024] < 0.5 * change[64], change


# -- data and risk helpers ---------------------------------------------------------------

def test_linear_truth_and_regression_source():
    t = gd.datasets.linear_truth(50, support=5, scale=2.0, seed=3)
    assert len(t.support) == 5 and set(np.abs(t.theta[t.support])) == {2.0}
    src = gd.datasets.linear_regression(100, t, batch_size=25, seed=1)
    b = src.batch(0)
    assert b["x"].shape == (25, 50) and b["y"].shape == (25,) and src.truth is t
    full = gd.datasets.linear_regression(4000, t, seed=2).batch(0)
    resid = full["y"] - full["x"] @ t.theta
    np.testing.assert_allclose(resid.std(), t.noise, rtol=0.05)
    with pytest.raises(gd.errors.DataError, match="support"):
        gd.datasets.linear_truth(5, support=6)


@pytest.mark.parametrize("norm", ["inf", 2])
def test_population_adversarial_risk_matches_monte_carlo(norm):
    t = gd.datasets.linear_truth(5, noise=0.5, seed=0)
    theta = t.theta + np.random.default_rng(0).normal(size=5) * 0.3
    s = t.sample(400_000, seed=9)
    mc = gd.metrics.linear_adversarial_risk(s["x"], s["y"], theta, 0.2, norm)
    np.testing.assert_allclose(gd.metrics.gaussian_adversarial_risk(theta, t, 0.2, norm), mc, rtol=0.01)


def test_minimal_adversarial_risk_is_a_minimum():
    t = gd.datasets.linear_truth(8, support=3, noise=0.5, seed=1)
    best = gd.metrics.adversarial_minimizer(t, 0.2, "inf")
    risk = lambda th: gd.metrics.gaussian_adversarial_risk(th, t, 0.2, "inf")
    assert np.all(best[t.theta == 0] == 0)
    assert risk(best) < risk(t.theta) - 0.05        # robustness shrinks the estimate
    rng = np.random.default_rng(0)
    assert all(risk(best) <= risk(best + 1e-3 * rng.normal(size=8)) for _ in range(200))


# -- programs and the paper's claims ------------------------------------------------------

def _study():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "programs" / "robust_l1_study.py"
    spec = importlib.util.spec_from_file_location("robust_l1_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_robust_l1_study_help_says_the_whole_claim():
    text = " ".join(_study().build_parser().format_help().split())
    assert "needs an L1 penalty in high dimension (Xing, Song & Cheng, AISTATS 2021)" in text
    assert "Writes OUT/robust_l1_study.png" in text
    assert "d = 5 n (the dimension grows with the sample)" in text


def _run_program(name, tmp_path, *overrides):
    from pathlib import Path
    programs = Path(__file__).resolve().parents[1] / "programs"
    return gd.run_program_file(programs / f"{name}.py", overrides, tmp_path / name)


@pytest.mark.slow
def test_robust_linear_program_reaches_the_minimal_adversarial_risk(tmp_path):
    m = _run_program("robust_linear", tmp_path, "steps=1000").metrics
    assert m["eval/adv_risk"] < 1.02 * m["eval/min_adv_risk"]
    assert m["eval/adv_risk"] < m["eval/adv_risk_truth"]
    np.testing.assert_allclose(m["eval/adv_risk_test"], m["eval/adv_risk"], rtol=0.05)
    assert (tmp_path / "robust_linear" / "samples.png").stat().st_size > 10_000


@pytest.mark.slow
def test_robust_two_layer_program_is_robust_and_lazy(tmp_path):
    m = _run_program("robust_two_layer", tmp_path, "steps=300", "n=300", "width=512").metrics
    assert m["eval/adv_risk_test"] < 1.1 * m["eval/linear_min_adv_risk"]
    assert m["eval/risk_test"] < m["eval/adv_risk_test"]
    assert m["eval/first_layer_change"] < 0.3


@pytest.mark.slow
def test_two_layer_network_approaches_its_own_minimal_adversarial_risk(tmp_path):
    """The lazy two-layer network (width 256, 300 full-batch steps, 5-step PGD) over n:
    its held-out adversarial risk (20-step PGD, 5,000 examples shared by the runs)
    against the same network and budget trained on n = 4,000, its own minimum here
    (the linear models' 0.833 is not the network's). The excess is over 0.05 at n = 100
    and under a third of that at n = 1,000. Measured: 0.150 -> 0.012 (seed 0), 0.101 -> 0.020
    (seed 1), 0.127 -> 0.010 (seed 2): 3 of 3 seeds pass."""
    risk = {n: _run_program("robust_two_layer", tmp_path / str(n), "width=256", "steps=300",
                            f"n={n}", "n_test=5000").metrics["eval/adv_risk_test"]
            for n in (100, 1000, 4000)}
    excess = {n: risk[n] - risk[4000] for n in (100, 1000)}
    assert excess[100] > 0.05, risk
    assert excess[1000] < excess[100] / 3, risk


@pytest.mark.slow
def test_low_dimension_adversarial_training_approaches_the_minimal_risk():
    low = _study().low_dimension([200, 2000], seeds=[0, 1, 2, 3, 4], mc_samples=400_000)
    excess = lambda key, n: np.mean([r[key] for r in low["rows"] if r["n"] == n]) - low["min_adv_risk"]
    assert excess("adversarial", 2000) < 0.5 * excess("adversarial", 200)
    assert excess("adversarial", 2000) < 0.01 * low["min_adv_risk"]
    assert excess("adversarial", 2000) < 0.3 * excess("least_squares", 2000)
    np.testing.assert_allclose(low["min_adv_risk_mc"], low["min_adv_risk"], rtol=0.01)


@pytest.mark.slow
def test_high_dimension_without_l1_is_inconsistent_and_with_l1_is_not():
    """d = 5 n grows with n (5-sparse truth, l_2 attack, eps = 0.1): unpenalised
    adversarial training's excess risk stays near 4 (the risk of theta = 0 is 5.25, the
    minimum 0.476), while the L1 estimator's falls from about 0.9 to 0.06. Measured:
    every assertion holds in 2 of 2 seeds (0, 1), which at n = 400 (d = 2,000) keep
    excesses 4.16 without L1 and 0.030 with it (docs/robust.md)."""
    high = _study().high_dimension([50, 200], seeds=[0, 1], norm="2")
    rows = {(r["n"], r["seed"]): r for r in high["rows"]}
    excess = lambda key, n, seed: rows[n, seed][key] - high["min_adv_risk"]
    for seed in (0, 1):
        assert rows[200, seed]["d"] == 1000
        assert excess("unpenalised", 200, seed) > max(2.0, 0.8 * excess("unpenalised", 50, seed))
        assert excess("l1", 200, seed) < 0.5 * excess("l1", 50, seed)
        assert excess("l1", 200, seed) < 0.15
        assert rows[200, seed]["zeros_l1"] > 900 and rows[200, seed]["zeros_unpenalised"] == 0


@pytest.mark.parametrize("method", ["closed_form", "pgd"])
def test_named_metrics_inside_the_attacked_loss_report_the_final_evaluation(method):
    """The inner maximisation evaluates the loss under jax.grad and a loop; a named
    scalar inside it must be recorded once, from the final evaluation (no leaked tracer)."""
    rng = np.random.default_rng(4)
    batch = {"x": rng.normal(size=(16, 3)).astype(np.float32),
             "y": rng.normal(size=16).astype(np.float32)}
    w = gd.points("w", rng.normal(size=3).astype(np.float32), optax.sgd(0.1))
    loss = gd.square(y - x @ w() + 0.0 * gd.named("input_mean", gd.mean(x)))   # affine in x
    c = gd.compile(gd.program({w: gd.mean(adversarial(loss, 0.1, 2, method=method))}))
    state = c.init(jax.random.key(0), batch)
    state, metrics = c.step(state, batch)
    state, metrics = c.step(state, batch)
    assert np.isfinite(float(metrics["w/loss"]))
    shift = abs(float(metrics["w/input_mean"]) - float(batch["x"].mean()))
    # the closed form evaluates at the clean input; PGD at the worst perturbation
    assert shift < 1e-6 if method == "closed_form" else shift > 1e-4


def test_pgd_from_a_random_start_stays_within_the_ball():
    rng = np.random.default_rng(5)
    batch = {"x": rng.normal(size=(64, 4)).astype(np.float32),
             "y": rng.normal(size=64).astype(np.float32)}
    w = gd.points("w", rng.normal(size=4).astype(np.float32), optax.sgd(0.1))
    loss = gd.square(y - x @ w())
    for norm in (2, "inf"):
        _, _, exact = _value(gd.mean(adversarial(loss, 0.3, norm)), w, batch)
        _, _, started = _value(gd.mean(adversarial(loss, 0.3, norm, method="pgd", steps=20,
                                                   random_start=True)), w, batch)
        assert 0.9 * exact < started <= exact * (1 + 1e-5)


def _claim():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "claims" / "robust_l1.py"
    spec = importlib.util.spec_from_file_location("claim_robust_l1", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_robust_claim_verdicts_follow_the_measurements():
    """The report's verdicts are computed from the rows, seed by seed."""
    claim = _claim()
    assert claim.NAME == "robust_l1" and callable(claim.run)
    low = {"min_adv_risk": 1.0, "rows": [
        {"n": 200, "seed": s, "adversarial": 1.01, "least_squares": 1.02} for s in (0, 1)] + [
        {"n": 2000, "seed": 0, "adversarial": 1.002, "least_squares": 1.02},
        {"n": 2000, "seed": 1, "adversarial": 1.008, "least_squares": 1.02}]}
    high = {"norm": "2", "min_adv_risk": 0.5, "rows": [
        {"n": 50, "seed": 0, "unpenalised": 4.5, "l1": 1.4},
        {"n": 200, "seed": 0, "unpenalised": 4.6, "l1": 0.55},     # inconsistent vs consistent
        {"n": 50, "seed": 1, "unpenalised": 4.5, "l1": 1.4},
        {"n": 200, "seed": 1, "unpenalised": 1.0, "l1": 0.55}]}    # unpenalised fell too
    sweep = {"rows": [{"n": 100, "seed": 0, "adv_risk": 0.9}, {"n": 1000, "seed": 0, "adv_risk": 0.83}],
             "reference": {0: 0.82}, "linear_min": 0.833, "n_ref": 10_000}
    digits = [{"activation": a, "l1": l, "seed": 0,
               "robust_acc": {"0": 0.97, "0.1": acc}}
              for a, l, acc in (("relu", 0.0, 0.6), ("relu", 0.05, 0.6),
                                ("softplus", 0.0, 0.7), ("softplus", 0.05, 0.6))]
    rows = claim.verdicts(low, [high], sweep, digits, {k: None for k in ("high", "two_layer", "digits")})
    assert [r["verdict"] for r in rows] == ["partly", "partly", "reproduced", "partly"]
    assert [r["seeds"] for r in rows[:3]] == ["1 of 2", "1 of 2", "1 of 1"]


def test_digits_robust_accuracy_matches_the_closed_form_attack_on_a_linear_classifier():
    """For two-class linear logits the l_inf attack lowers the margin (w_y - w_o) . x by
    exactly eps ||w_y - w_o||_1 (inputs kept away from the pixel range's ends), so
    an example stays correct iff its margin exceeds that; PGD (sign steps) finds it."""
    from pathlib import Path
    from gendsl.run import load_program_file
    module = load_program_file(Path(__file__).resolve().parents[1] / "programs" / "robust_digits.py")
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(6, 2)), jnp.float32)
    xs = jnp.asarray(rng.uniform(0.4, 0.6, size=(400, 6)), jnp.float32)
    ys = jnp.asarray(rng.integers(0, 2, size=400), jnp.int32)
    logits = lambda v: v @ w
    diff = np.asarray(w[:, 1] - w[:, 0])
    margin = np.where(np.asarray(ys) == 1, 1, -1) * (np.asarray(xs) @ diff)
    for eps in (0.0, 0.02, 0.05):
        expected = float(np.mean(margin > eps * np.abs(diff).sum()))
        got = module.robust_accuracy(logits, xs, ys, eps, steps=10)
        assert abs(got - expected) <= 1 / 400, (eps, got, expected)
    assert module.robust_accuracy(logits, xs, ys, 0.05, 10) < module.robust_accuracy(logits, xs, ys, 0.0, 10)


def test_adversarial_takes_its_settings_by_keyword():
    """``eps`` and ``norm`` by name, as users write them: the same term as by position."""
    w = gd.points("w", np.ones(5, np.float32), optax.sgd(0.1))
    loss = gd.square(y - x @ w())
    by_name = adversarial(loss, eps=0.3, norm="inf", method="closed_form")
    by_position = adversarial(loss, 0.3, "inf", method="closed_form")
    assert gd.show(gd.program({w: gd.mean(by_name)})) == gd.show(
        gd.program({w: gd.mean(by_position)}))
