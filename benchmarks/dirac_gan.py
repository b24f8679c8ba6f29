"""The Dirac-GAN (Mescheder et al., 2018) as a gendsl program, integrated with ODE-GAN's
solvers, and the closed forms of one step of each method.

The data are a Dirac at x = 0, the generator is G(z) = theta (it ignores z), the
discriminator is linear, D(x) = psi * x, and the losses are the Wasserstein ones,
L_D = E D(G(z)) - E D(x) = psi * theta and L_G = -E D(G(z)) = -psi * theta. Each
player's velocity is minus the gradient of its own loss, so y = (theta, psi) follows

    y' = A y,   A = [[0, 1], [-1, 0]]:   theta(t) + i psi(t) = e^{-it} (theta0 + i psi0),

a rotation at unit angular speed about the equilibrium (0, 0): the radius
r = |(theta, psi)| is conserved. A = -A^T and A^2 = -I, so every explicit Runge-Kutta
step is y+ = R(hA) y with R its stability polynomial, R(hA) = a(h) I + b(h) A, and
multiplies the radius by exactly sqrt(a^2 + b^2), whatever the point:

* Euler, R(z) = 1 + z: a = 1, b = h, the radius grows by sqrt(1 + h^2) per step
  (the iterates spiral out);
* Heun, R(z) = 1 + z + z^2/2: a = 1 - h^2/2, b = h, factor sqrt(1 + h^4/4);
* RK4, R(z) = 1 + z + ... + z^4/24: a = 1 - h^2/2 + h^4/24, b = h - h^3/6, factor
  sqrt(1 - h^6/72 + h^8/576) = 1 - h^6/144 + O(h^8): the squared radius shrinks by
  h^6/72 per step, the radius by h^6/144 (for h < 2 sqrt(2) it spirals in, very slowly).

ODE-GAN's regulariser adds -lambda grad_psi |grad_theta L_G|^2 = -2 lambda psi to psi's
velocity. The regularised flow y' = B y, B = [[0, 1], [-1, -2 lambda]], is a damped
oscillator, theta'' + 2 lambda theta' + theta = 0; for lambda < 1, with w = sqrt(1 -
lambda^2),

    y(t) = e^{-lambda t} [cos(w t) I + sin(w t) / w (B + lambda I)] y0,

since (B + lambda I)^2 = -w^2 I: the radius decays like e^{-lambda t}. The solvers add
the regulariser at the first stage only, evaluated at the step's start and weighted so
that the step carries exactly h times it, so one step is

    y+ = [R(hA) + h lambda C] y,   C = [[0, 0], [0, -2]];

for Euler that is exactly Euler on B (I + hB); for RK4 the plain flow is integrated to
fourth order and the damping to first order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gendsl as gd
from gendsl import losses as L

METHODS = {"euler": gd.euler, "heun": gd.heun, "rk4": gd.rk4}


class Constant(nnx.Module):
    """The Dirac generator G(z) = theta for every latent z."""

    def __init__(self, theta: float):
        self.theta = nnx.Param(jnp.asarray(theta, dtype=jnp.result_type(float)))

    def __call__(self, z):
        return jnp.broadcast_to(self.theta[...], z.shape)  # z's dtype must not round theta


class Linear1(nnx.Module):
    """The Dirac discriminator's logit D(x) = psi * x."""

    def __init__(self, psi: float):
        self.psi = nnx.Param(jnp.asarray(psi, dtype=jnp.result_type(float)))

    def __call__(self, x):
        return self.psi[...] * x


def program(method: str, h: float, lam: float = 0.0, theta0: float = 1.0, psi0: float = 0.0):
    """The Dirac-GAN integrated by ``method`` (euler | heun | rk4) with step ``h``.

    Args:
      method: the ODE solver.
      h: its step size.
      lam: the ODE-GAN regulariser's weight (0: none).
      theta0, psi0: the starting point.
    Returns:
      A gendsl program with players "G" (theta) and "D" (psi).
    """
    sgd = optax.sgd(1.0)  # unused: the ODE solvers take plain steps of size h
    G = gd.player("G", lambda rngs: Constant(theta0), sgd)
    D = gd.player("D", lambda rngs: Linear1(psi0), sgd)
    fake = G(gd.latent("z", 1))
    reg = gd.grad_norm_penalty(D, of=G, weight=lam) if lam else None
    return gd.program({D: L.wasserstein_d(D(gd.data("x")), D(fake)), G: L.wasserstein_g(D(fake))},
                      METHODS[method](h, regularizer=reg))


def batch(n: int = 4) -> dict:
    """A batch of the Dirac data: n copies of x = 0."""
    return {"x": jnp.zeros((n, 1))}


def trajectory(method: str, h: float, steps: int, lam: float = 0.0, theta0: float = 1.0,
               psi0: float = 0.0) -> np.ndarray:
    """The iterates ``(theta, psi)`` of ``steps`` solver steps, shape ``(steps + 1, 2)``.

    Run it under ``jax.enable_x64(True)`` for float64.
    """
    compiled = gd.compile(program(method, h, lam, theta0, psi0))
    state = compiled.init(jax.random.key(0), batch())
    point = lambda s: [float(s.params["G"]["theta"]), float(s.params["D"]["psi"])]
    ys = [point(state)]
    for _ in range(steps):
        state, _ = compiled.step(state, batch())
        ys.append(point(state))
    return np.array(ys)


def stability(method: str, h: float) -> tuple[float, float]:
    """``(a, b)`` with ``R(hA) = a I + b A`` for the method's stability polynomial R."""
    return {"euler": (1.0, h), "heun": (1.0 - h ** 2 / 2, h),
            "rk4": (1.0 - h ** 2 / 2 + h ** 4 / 24, h - h ** 3 / 6)}[method]


def radius_factor(method: str, h: float) -> float:
    """The exact per-step radius factor of ``method`` on the unregularised Dirac-GAN."""
    a, b = stability(method, h)
    return float(np.sqrt(a * a + b * b))


def step_matrix(method: str, h: float, lam: float = 0.0) -> np.ndarray:
    """The matrix M of one step, ``(theta, psi)+ = M (theta, psi)``, regulariser included."""
    a, b = stability(method, h)
    return np.array([[a, b], [-b, a - 2 * h * lam]])


def flow(t, lam: float = 0.0, theta0: float = 1.0, psi0: float = 0.0) -> np.ndarray:
    """The exact continuous flow ``(theta(t), psi(t))`` (damped for ``0 < lam < 1``)."""
    t = np.asarray(t, dtype=float)[..., None, None]
    w = np.sqrt(1.0 - lam ** 2)
    K = np.array([[lam, 1.0], [-1.0, -lam]])  # B + lam I
    M = np.exp(-lam * t) * (np.cos(w * t) * np.eye(2) + np.sin(w * t) / w * K)
    return M @ np.array([theta0, psi0])
