"""The Dirac-GAN (D(x) = psi x, G = theta) built as a gendsl program and integrated with
the ODE solvers: per-step radius factors against their closed forms, and the damping of
ODE-GAN's regulariser (derivations: benchmarks/dirac_gan.py's docstring)."""

import importlib.util
import pathlib

import jax
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _dirac():
    spec = importlib.util.spec_from_file_location("dirac_gan", ROOT / "benchmarks" / "dirac_gan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


H = 0.5  # large, so that even RK4's h^6 / 144 = 1.1e-4 is far above float64 round-off
CLOSED_FORM = {  # the radius factor per step on the rotation y' = A y, A = [[0, 1], [-1, 0]]
    "euler": np.sqrt(1 + H ** 2),
    "heun": np.sqrt(1 + H ** 4 / 4),
    "rk4": np.sqrt(1 - H ** 6 / 72 + H ** 8 / 576),
}


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_the_radius_changes_by_the_closed_form_factor_every_step(method):
    """Euler spirals out by sqrt(1 + h^2), Heun by sqrt(1 + h^4/4); RK4 spirals in by
    1 - h^6/144 + O(h^8): at h = 0.5 the three factors are 1.118, 1.0078 and 0.99989."""
    with jax.enable_x64(True):
        ys = _dirac().trajectory(method, H, steps=6, theta0=0.6, psi0=-0.8)
    r = np.linalg.norm(ys, axis=1)
    np.testing.assert_allclose(r[1:] / r[:-1], CLOSED_FORM[method], rtol=1e-12, atol=0)
    # the iterates rotate clockwise at about unit angular speed: theta' = psi, psi' = -theta
    angle = np.unwrap(np.arctan2(ys[:, 1], ys[:, 0]))
    np.testing.assert_allclose(np.diff(angle), -H, rtol=0.08)


def test_the_closed_forms_expand_as_stated():
    assert CLOSED_FORM["euler"] > 1.1 > CLOSED_FORM["heun"] > 1.0 > CLOSED_FORM["rk4"]
    h = 0.1  # the leading terms: 1 + h^2/2, 1 + h^4/8 and 1 - h^6/144
    np.testing.assert_allclose(np.sqrt(1 + h ** 2) - 1, h ** 2 / 2, rtol=0.01)
    np.testing.assert_allclose(np.sqrt(1 + h ** 4 / 4) - 1, h ** 4 / 8, rtol=0.01)
    np.testing.assert_allclose(1 - np.sqrt(1 - h ** 6 / 72 + h ** 8 / 576), h ** 6 / 144, rtol=0.01)


def test_the_regulariser_damps_the_rotation():
    """With lambda = 0.07 psi's velocity gains -2 lambda psi: one step is exactly
    M = R(hA) + h lambda [[0, 0], [0, -2]], and RK4's iterates approach the damped flow
    theta'' + 2 lambda theta' + theta = 0 to first order in h (the regulariser enters
    the first stage only): at t = 10 the gap is 0.034 at h = 0.1 and 0.017 at h = 0.05,
    while the radius falls to 0.51 (unregularised RK4 keeps 0.99993 of it)."""
    dg, lam, y0, T = _dirac(), 0.07, np.array([1.0, 0.5]), 10.0
    exact = dg.flow(T, lam, *y0)
    gaps = []
    with jax.enable_x64(True):
        for h in (0.1, 0.05):
            n = int(round(T / h))
            a, b = 1 - h ** 2 / 2 + h ** 4 / 24, h - h ** 3 / 6
            M = np.array([[a, b], [-b, a - 2 * h * lam]])
            ys = dg.trajectory("rk4", h, n, lam, *y0)
            np.testing.assert_allclose(ys, [np.linalg.matrix_power(M, k) @ y0 for k in range(n + 1)],
                                       rtol=1e-10, atol=1e-12)
            gaps.append(np.linalg.norm(ys[-1] - exact))
    assert 1.8 < gaps[0] / gaps[1] < 2.2, gaps  # first order
    assert gaps[1] < 0.02
    r = np.linalg.norm(ys, axis=1)
    np.testing.assert_allclose(r[-1], np.linalg.norm(exact), atol=0.01)
    assert r[-1] < 0.55 * r[0]
