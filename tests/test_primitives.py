"""Primitives against closed forms and brute-force autodiff: GAN losses, R1, WGAN-GP,
and the ELBO (equal to log p(x) under the exact posterior of a linear Gaussian model)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gendsl as gd
from gendsl import losses as L
from gendsl.primitives.elbo import gaussian_kl

rng = np.random.default_rng(0)
REAL, FAKE = rng.normal(size=(64, 1)).astype(np.float32), rng.normal(size=(64, 1)).astype(np.float32)
sp = lambda v: np.log1p(np.exp(v))
sig = lambda v: 1 / (1 + np.exp(-v))


@pytest.mark.parametrize("prim, expected", [
    (L.nonsaturating_d, -np.mean(np.log(sig(REAL))) - np.mean(np.log(1 - sig(FAKE)))),
    (L.minimax_d, -np.mean(np.log(sig(REAL))) - np.mean(np.log(1 - sig(FAKE)))),
    (L.hinge_d, np.mean(np.maximum(0, 1 - REAL)) + np.mean(np.maximum(0, 1 + FAKE))),
    (L.wasserstein_d, FAKE.mean() - REAL.mean()),
    (L.least_squares_d, 0.5 * np.mean((REAL - 1) ** 2) + 0.5 * np.mean(FAKE ** 2)),
])
def test_discriminator_losses(prim, expected):
    np.testing.assert_allclose(float(prim.rule(REAL, FAKE)), expected, rtol=1e-5)


@pytest.mark.parametrize("prim, expected", [
    (L.nonsaturating_g, -np.mean(np.log(sig(FAKE)))),
    (L.minimax_g, np.mean(np.log(1 - sig(FAKE)))),
    (L.hinge_g, -FAKE.mean()),
    (L.wasserstein_g, -FAKE.mean()),
    (L.least_squares_g, 0.5 * np.mean((FAKE - 1) ** 2)),
])
def test_generator_losses(prim, expected):
    np.testing.assert_allclose(float(prim.rule(FAKE)), expected, rtol=1e-5)


def _evaluate(term_fn, batch, *players):
    prog = gd.program({players[0]: term_fn()}, frozen=players[1:])
    c = gd.compile(prog)
    state = c.init(jax.random.key(0), batch)
    return c, state, float(c.evaluate(state, batch)[f"{players[0].name}/loss"])


def test_r1_matches_per_example_jacobians():
    D = gd.player("D", lambda r: gd.nn.MLP(3, (16,), 1, rngs=r, activation=jnp.tanh), optax.sgd(0.1))
    x = rng.normal(size=(8, 3)).astype(np.float32)
    c, state, value = _evaluate(lambda: L.r1(D, gd.data("x")), {"x": x}, D)
    module = nnx.merge(*nnx.split(D.module(nnx.Rngs(jax.random.fold_in(jax.random.split(jax.random.key(0))[0], 0)))))
    jac = np.stack([np.asarray(jax.grad(lambda v: module(v[None])[0, 0])(xi)) for xi in x])
    np.testing.assert_allclose(value, np.mean(np.sum(jac ** 2, axis=1)), rtol=1e-5)


def test_wgan_gp_of_a_linear_critic_is_closed_form():
    """D(x) = w.x has gradient w everywhere: the penalty is (|w| - 1)^2 exactly."""
    w = np.array([[0.3], [1.2], [-0.4]], np.float32)
    D = gd.player("D", nnx.Linear(3, 1, rngs=nnx.Rngs(0), kernel_init=lambda *a: jnp.asarray(w)),
                  optax.sgd(0.1))
    G = gd.points("G", rng.normal(size=(16, 3)).astype(np.float32), optax.sgd(0.1))
    batch = {"x": rng.normal(size=(16, 3)).astype(np.float32)}
    _, _, value = _evaluate(lambda: L.gradient_penalty(D, gd.data("x"), G()), batch, G, D)
    np.testing.assert_allclose(value, (np.linalg.norm(w) - 1.0) ** 2, rtol=1e-5)


def test_wgan_gp_mixes_each_example_with_one_weight_under_a_nonlinear_critic():
    """The interpolates a nonlinear critic sees lie on each example's own segment:
    x_hat_i = fake_i + eps_i (real_i - fake_i) with one eps_i per example, not one per
    coordinate; and the penalty is the brute-force mean over examples of
    (||grad D(x_hat_i)|| - 1)^2, each gradient taken alone."""
    k_w, k_v, k_r, k_f = jax.random.split(jax.random.key(5), 4)
    W = jax.random.normal(k_w, (3, 8))
    v = jax.random.normal(k_v, (8,))

    def critic(x):                                      # nonlinear: its gradient moves
        return jnp.tanh(x @ W) @ v

    seen = []

    def spy(x):
        jax.debug.callback(lambda a: seen.append(np.asarray(a)), x)
        return critic(x)

    real = np.asarray(jax.random.normal(k_r, (16, 3)))
    fake = real + np.asarray(jax.random.choice(k_f, np.array([-1.5, -0.7, 0.7, 1.5]), (16, 3)))
    value = float(L.gradient_penalty.rule(spy, real, fake, key=jax.random.key(1)))
    x_hat = seen[0]
    assert x_hat.shape == real.shape
    eps = (x_hat - fake) / (real - fake)               # one column per coordinate
    np.testing.assert_allclose(eps, np.repeat(eps[:, :1], 3, axis=1), atol=1e-5)
    assert 0.0 <= eps.min() and eps.max() <= 1.0 and eps[:, 0].std() > 0.1
    grads = np.stack([np.asarray(jax.grad(critic)(xi)) for xi in x_hat])
    reference = np.mean((np.linalg.norm(grads, axis=1) - 1.0) ** 2)
    np.testing.assert_allclose(value, reference, rtol=1e-5)


def test_gaussian_kl_matches_monte_carlo():
    mean, log_var = jnp.array([[0.5, -1.0]]), jnp.array([[0.3, -0.7]])
    eps = jax.random.normal(jax.random.key(0), (200_000, 2))
    z = mean + jnp.exp(0.5 * log_var) * eps
    log_q = -0.5 * jnp.sum(eps ** 2 + log_var + math.log(2 * math.pi), axis=1)
    log_p = -0.5 * jnp.sum(z ** 2 + math.log(2 * math.pi), axis=1)
    np.testing.assert_allclose(float(gaussian_kl(mean, log_var)[0]), float(jnp.mean(log_q - log_p)), rtol=1e-2)


class _Affine(nnx.Module):
    """Fixed affine maps for the exact-posterior ELBO test."""

    def __init__(self, W, b, log_var=None):
        f32 = lambda a: jnp.asarray(a, jnp.float32)
        self.W, self.b = nnx.Param(f32(W)), nnx.Param(f32(b))
        self.log_var = None if log_var is None else nnx.Param(f32(log_var))

    def __call__(self, x):
        y = x @ self.W[...] + self.b[...]
        return y if self.log_var is None else (y, jnp.broadcast_to(self.log_var[...], y.shape))


@pytest.mark.parametrize("sigma, obs_std", [(0.5, {"obs_std": 0.5}), (1.0, {})],
                         ids=["sigma-0.5", "default-obs-std-1"])
def test_elbo_equals_log_evidence_under_the_exact_posterior(sigma, obs_std):
    """x = W z + b + sigma e with z ~ N(0, 1): with q(z|x) the exact posterior the ELBO
    is tight, E_q[log p(x|z)] - KL = log p(x). One reparameterised sample per example,
    averaged over 5,000 copies of each of 16 points, must hit the evidence. Without
    ``obs_std`` the Gaussian likelihood's standard deviation is 1."""
    W, b = np.array([[1.5, -0.5, 0.8]]), np.array([0.2, 0.1, -0.3])
    M = 1 + (W @ W.T)[0, 0] / sigma ** 2
    points = rng.normal(size=(16, 3))
    enc = _Affine(W.T / (sigma ** 2 * M), -(b @ W.T) / (sigma ** 2 * M), log_var=[-math.log(M)])
    E, Dec = gd.player("E", enc, optax.sgd(0.0)), gd.player("Dec", _Affine(W, b), optax.sgd(0.0))
    batch = {"x": np.tile(points, (5000, 1)).astype(np.float32)}
    prog = gd.program({E: gd.losses.elbo(E, Dec, gd.data("x"), likelihood="gaussian", **obs_std)},
                      frozen=[Dec])
    c = gd.compile(prog)
    value = float(c.evaluate(c.init(jax.random.key(0), batch), batch)["E/loss"])
    cov = W.T @ W + sigma ** 2 * np.eye(3)
    diff = points - b
    log_px = -0.5 * (np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
                     + np.log(np.linalg.det(cov)) + 3 * math.log(2 * math.pi))
    np.testing.assert_allclose(value, log_px.mean(), rtol=2e-3)


def test_elbo_refuses_a_mismatched_decoder():
    E = gd.player("E", lambda r: gd.nn.GaussianEncoder(4, (8,), 2, rngs=r), optax.sgd(0.1))
    Dec = gd.player("Dec", lambda r: gd.nn.MLP(2, (8,), 3, rngs=r), optax.sgd(0.1))
    loss = -gd.losses.elbo(E, Dec, gd.data("x"))
    with pytest.raises(gd.errors.PrimitiveError, match=r"decoder returns shape \(5, 3\) for data of shape \(5, 4\)"):
        gd.compile(gd.program({E: loss, Dec: loss})).init(jax.random.key(0), {"x": np.zeros((5, 4), np.float32)})
