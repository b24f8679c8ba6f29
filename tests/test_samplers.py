"""gd.samplers against closed forms: an analytic latent target (linear G, exact log
ratio of two Gaussians), detailed balance on a grid, REP-GAN's log alpha from proposal
densities, DRS's acceptance rate, Platt scaling, and 1 vs 8 devices.

The toy: G(z) = A z + c with A invertible, so p_G = N(c, A A^T), and d(x) the exact
log ratio log N(x; m, S) - log N(x; c, A A^T). Then pi(z) ∝ N(z; 0, I) exp(d(G(z))) ∝
N(A z + c; m, S), i.e. z ~ N(A^-1 (m - c), A^-1 S A^-T) and G(z) ~ p_data = N(m, S).
S < A A^T, so d is bounded above (DRS needs it) and pi is narrower than the prior
(MH-GAN's independence proposal covers it).

Quality tests run 3 seeds and require all 3 to pass with margins of about 4 standard
errors (the KS test at p > 1e-3), so a correct sampler fails one with probability well
under 1%.
"""

import re
import pathlib
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import multivariate_normal, norm
from scipy import stats

import gendsl as gd
from gendsl import samplers as S
from gendsl.errors import SamplerError
from eight_devices import run_with_eight_devices

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)

A = np.array([[1.6, 0.4], [-0.3, 1.1]], np.float32)
C = np.array([0.5, -0.2], np.float32)
M = np.array([0.9, 0.1], np.float32)
COV_DATA = np.array([[1.0, 0.2], [0.2, 0.6]], np.float32)
COV_G = A @ A.T


def generate(z):
    return A @ z + C


def exact_logit(x):
    return (multivariate_normal.logpdf(x, M, COV_DATA)
            - multivariate_normal.logpdf(x, C, COV_G))


TARGET = S.target_from_functions(generate, exact_logit, 2)
A_INV = np.linalg.inv(A.astype(np.float64))
Z_MEAN = A_INV @ (M - C)
Z_COV = A_INV @ COV_DATA @ A_INV.T
Z_PRECISION = np.linalg.inv(Z_COV)


def assert_law(latents, mean, cov, tol):
    z = np.asarray(latents, np.float64)
    np.testing.assert_allclose(z.mean(0), mean, atol=tol)
    np.testing.assert_allclose(np.cov(z.T), cov, atol=tol)


def ks_pvalue(latents):
    """KS test of the projection v . G(z) against its exact law under p_data."""
    v = np.array([0.6, 0.8])
    x = np.asarray(latents, np.float64) @ A.T.astype(np.float64) + C
    return stats.kstest(x @ v, "norm", args=(v @ M, np.sqrt(v @ COV_DATA @ v))).pvalue


# -- the analytic target -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("spec", [S.rep_gan(),                          # defaults: MALA
                                  S.rep_gan(steps=300, tau=0.1, eta=0.4),  # separate eta
                                  S.mh_gan(steps=300)],
                         ids=["rep_gan_defaults", "rep_gan_eta", "mh_gan"])
def test_mh_samplers_reach_the_exact_latent_law(spec):
    run = S.compile_sampler(spec, TARGET)
    for seed in SEEDS:
        result = run(jax.random.key(seed), 4000)
        assert_law(result.latents, Z_MEAN, Z_COV, tol=0.04)
        assert ks_pvalue(result.latents) > 1e-3
        np.testing.assert_allclose(result.samples, np.asarray(result.latents) @ A.T + C,
                                   atol=1e-5)
        assert 0.05 < result.acceptance_rate < 1.0
        assert result.trace.shape == (4000, spec.steps)


def test_plain_g_is_not_the_target():
    """The check above can fail: plain G(z) is N(0, I) in latent space, far off."""
    result = S.compile_sampler(S.independent(), TARGET)(jax.random.key(0), 4000)
    assert_law(result.latents, np.zeros(2), np.eye(2), tol=0.06)
    assert ks_pvalue(result.latents) < 1e-6
    assert result.d_evals_per_sample == 0 and result.acceptance_rate == 1.0


@pytest.mark.slow
def test_ddls_is_biased_by_its_step_as_ula_predicts():
    """Unadjusted Langevin with step h on a Gaussian of precision P has the stationary
    covariance (P - h P^2 / 4)^-1, not P^-1: DDLS matches the former at a large step."""
    h = 1.2 / np.linalg.eigvalsh(Z_PRECISION).max()
    ula_cov = np.linalg.inv(Z_PRECISION - h * Z_PRECISION @ Z_PRECISION / 4)
    assert np.abs(ula_cov - Z_COV).max() > 0.1   # the bias is measurable at this step
    run = S.compile_sampler(S.ddls(steps=200, step_size=float(h)), TARGET)
    for seed in SEEDS:
        result = run(jax.random.key(seed), 4000)
        assert_law(result.latents, Z_MEAN, ula_cov, tol=0.04)
        assert result.d_grads_per_sample == 201


def test_hand_written_rep_gan_is_blackjax_mala_when_eta_squared_is_tau():
    """The hand-written kernel (separate eta) and blackjax's MALA agree where they
    coincide: eta a hair above sqrt(tau) keeps the hand-written branch."""
    mala, hand = S.rep_gan(steps=50, tau=0.1, eta=0.1 ** 0.5), S.rep_gan(
        steps=50, tau=0.1, eta=0.1 ** 0.5 * (1 + 1e-7))
    assert mala.is_mala and not hand.is_mala
    a = S.compile_sampler(mala, TARGET)(jax.random.key(3), 256)
    b = S.compile_sampler(hand, TARGET)(jax.random.key(3), 256)
    np.testing.assert_allclose(b.latents, a.latents, atol=1e-4)
    np.testing.assert_allclose(b.accepted, a.accepted, atol=1 / 50 + 1e-6)


# -- REP-GAN's acceptance ------------------------------------------------------------------

def wiggly_generate(z):
    return jnp.tanh(z) * 1.5 + 0.3 * z


def wiggly_logit(x):
    return jnp.sin(2 * x).sum() - 0.2 * jnp.sum(x ** 2) + 0.5 * x[0]


def brute_force_log_alpha(z, z_new, tau, eta):
    """log [pi(z') q(z | z')] - log [pi(z) q(z' | z)] from the densities themselves."""
    def log_pi(z):
        return norm.logpdf(z).sum() + wiggly_logit(wiggly_generate(z))

    def q(to, frm):
        mu = frm + tau / 2 * jax.grad(log_pi)(frm)
        return multivariate_normal.logpdf(to, mu, eta ** 2 * jnp.eye(z.shape[0]))

    return log_pi(z_new) + q(z, z_new) - log_pi(z) - q(z_new, z)


@pytest.mark.parametrize("tau, eta", [(0.01, 0.1), (0.05, 0.4), (0.2, 0.1)])
def test_rep_gan_log_alpha_is_the_mh_ratio_of_its_proposal(tau, eta):
    target = S.target_from_functions(wiggly_generate, wiggly_logit, 3)
    z, z_new = jax.random.normal(jax.random.key(0), (2, 20, 3))
    got = jax.jit(jax.vmap(lambda a, b: S.log_acceptance(target.log_density, a, b, tau, eta)))(
        z, z_new)
    want = jax.jit(jax.vmap(lambda a, b: brute_force_log_alpha(a, b, tau, eta)))(z, z_new)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)
    assert float(jnp.std(want)) > 1.0   # moves of very different odds


def test_rep_gan_kernel_satisfies_detailed_balance_on_a_grid():
    """pi(z) q(z'|z) alpha(z, z') = pi(z') q(z|z') alpha(z', z) for every pair of a
    fine grid of a 1-D latent (a non-Gaussian target; eta != sqrt(tau))."""
    tau, eta = 0.3, 0.4
    target = S.target_from_functions(lambda z: wiggly_generate(z), wiggly_logit, 1)
    grid = jnp.linspace(-3.0, 3.0, 121)[:, None]

    def log_pi(z):  # written again, independently of the target's own
        return norm.logpdf(z[0]) + wiggly_logit(wiggly_generate(z))

    mu = jax.vmap(lambda z: z + tau / 2 * jax.grad(log_pi)(z))(grid)[:, 0]
    log_q = norm.logpdf(grid[None, :, 0], mu[:, None], eta)          # [i, j] = q(z_j | z_i)
    pairs = jax.vmap(lambda a: jax.vmap(lambda b: S.log_acceptance(
        target.log_density, a, b, tau, eta))(grid))(grid)             # [i, j]: z_i -> z_j
    flow = jax.vmap(log_pi)(grid)[:, None] + log_q + jnp.minimum(pairs, 0.0)
    np.testing.assert_allclose(flow, flow.T, atol=2e-3)
    assert float(jnp.abs(log_q - log_q.T).max()) > 1.0   # the proposal is not symmetric


# -- DRS -----------------------------------------------------------------------------------

SIGMA_G, SIGMA_DATA = 2.0, 1.0


def drs_target():
    def logit(x):
        return (norm.logpdf(x[0], 0.0, SIGMA_DATA) - norm.logpdf(x[0], 0.0, SIGMA_G))
    return S.target_from_functions(lambda z: SIGMA_G * z, logit, 1)


def test_drs_accepts_at_the_analytic_rate_and_samples_the_data_law():
    """Rejection sampling from p_G = N(0, 4) towards p_data = N(0, 1) accepts with
    probability E exp(d - d_max) = exp(log 2 - d_max) * (1/2): 1/M with M = 2 when the
    estimated maximum d_max is the true one, log 2."""
    run = S.compile_sampler(S.drs(tries=40), drs_target())
    for seed in SEEDS:
        result = run(jax.random.key(seed), 4000)
        d_max = result.info["max_log_ratio"]
        assert d_max == pytest.approx(np.log(2.0), abs=1e-3)
        assert result.acceptance_rate == pytest.approx(0.5 * np.exp(np.log(2.0) - d_max),
                                                       abs=0.01)
        assert result.info["unaccepted_fraction"] < 1e-3
        assert stats.kstest(np.asarray(result.samples)[:, 0], "norm",
                            args=(0.0, SIGMA_DATA)).pvalue > 1e-3
        assert result.d_evals_per_sample == 40


def test_drs_gamma_quantile_raises_acceptance():
    low = S.compile_sampler(S.drs(tries=10), drs_target())(jax.random.key(0), 1000)
    high = S.compile_sampler(S.drs(tries=10, quantile=0.2), drs_target())(
        jax.random.key(0), 1000)
    assert high.info["gamma"] < 0 and high.acceptance_rate > low.acceptance_rate + 0.1


# -- calibration ---------------------------------------------------------------------------

def test_platt_scaling_recovers_a_mis_scaled_logit():
    """D's logit 2 d + 1 (d the exact log ratio) is calibrated back to d: a = 1/2,
    b = -1/2, with fewer real than generated samples (the class prior is removed)."""
    def logit(x):
        return 2.0 * exact_logit(x) + 1.0
    target = S.target_from_functions(generate, logit, 2)
    for seed in SEEDS:
        k_real, k_fake = jax.random.split(jax.random.key(seed))
        real = jax.random.multivariate_normal(k_real, M, COV_DATA, (10_000,))
        cal = S.calibrate(target, real, k_fake, num_generated=20_000)
        assert cal.scale == pytest.approx(0.5, abs=0.03)
        assert cal.shift == pytest.approx(-0.5, abs=0.05)
        assert cal.after.ece < cal.before.ece / 2 and cal.after.log_loss < cal.before.log_loss
        calibrated = target.calibrated(cal)
        x = jnp.array([0.3, -0.4])
        assert calibrated.log_ratio(jnp.linalg.solve(A, x - C)) == pytest.approx(
            float(exact_logit(x)), abs=0.1)


def test_calibration_refuses_a_perfect_separation():
    with pytest.raises(SamplerError, match="separates"):
        S.fit_platt(np.array([3.0, 4.0]), np.array([-1.0, 0.0]))


# -- targets from programs and modules -------------------------------------------------------

def small_gan(latent_dist="normal"):
    import optax
    from gendsl import losses as L
    G = gd.player("G", lambda r: gd.nn.MLP(3, (8,), 2, rngs=r), optax.adam(1e-3))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), optax.adam(1e-3))
    x, z = gd.data("x"), gd.latent("z", 3, latent_dist)
    prog = gd.program({D: L.nonsaturating_d(D(x), D(G(z))), G: L.nonsaturating_g(D(G(z)))},
                      gd.alternating(D=1, G=1), samples=G(z))
    compiled = gd.compile(prog)
    return compiled, compiled.init(jax.random.key(0), {"x": np.zeros((4, 2), np.float32)})


def test_target_of_a_program_applies_its_players():
    compiled, state = small_gan()
    target = S.target_of(compiled, state)
    z = jnp.array([0.1, -0.2, 0.3])
    x = compiled.apply(state, "G", z[None])[0]
    np.testing.assert_allclose(target.generate(z), x, atol=1e-6)
    np.testing.assert_allclose(target.logit(x), compiled.apply(state, "D", x[None])[0, 0],
                               atol=1e-6)
    result = S.compile_sampler(S.rep_gan(steps=5), target)(jax.random.key(0), 8)
    assert result.samples.shape == (8, 2) and np.all(np.isfinite(result.samples))


def test_target_of_refuses_a_missing_player_and_a_non_normal_latent():
    compiled, state = small_gan()
    with pytest.raises(SamplerError, match="discriminator='critic'"):
        S.target_of(compiled, state, discriminator="critic")
    with pytest.raises(SamplerError, match="latent='w'"):
        S.target_of(compiled, state, latent="w")
    compiled, state = small_gan("uniform")
    with pytest.raises(SamplerError, match="standard normal"):
        S.target_of(compiled, state)


# -- specs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, words", [
    (S.independent(), "G(z)"), (S.drs(tries=5, quantile=0.9), "quantile 0.9"),
    (S.mh_gan(steps=7), "7 independence"), (S.ddls(steps=3, step_size=0.5), "step_size=0.5"),
    (S.rep_gan(), "tau=0.01, eta=0.1 (MALA, blackjax)"),
    (S.rep_gan(eta=0.2), "(hand-written)")])
def test_every_spec_prints_with_show(spec, words):
    assert words in gd.show(spec)
    assert gd.show(spec) == spec.describe()


@pytest.mark.parametrize("make, field", [
    (lambda: S.rep_gan(tau=0.0), "tau"), (lambda: S.rep_gan(eta=-1.0), "eta"),
    (lambda: S.rep_gan(steps=0), "steps"), (lambda: S.mh_gan(steps=2.5), "steps"),
    (lambda: S.ddls(step_size=float("nan")), "step_size"), (lambda: S.ddls(steps=True), "steps"),
    (lambda: S.drs(tries=0), "tries"), (lambda: S.drs(quantile=1.5), "quantile")])
def test_bad_spec_fields_are_named(make, field):
    with pytest.raises(SamplerError, match=f"{field}="):
        make()


def test_compile_sampler_checks_its_inputs():
    with pytest.raises(SamplerError, match="sampler spec"):
        S.compile_sampler("rep-gan", TARGET)
    with pytest.raises(SamplerError, match="LatentTarget"):
        S.compile_sampler(S.rep_gan(), generate)
    with pytest.raises(SamplerError, match="num_chains=0"):
        S.compile_sampler(S.independent(), TARGET)(jax.random.key(0), 0)
    with pytest.raises(SamplerError, match="one logit per sample"):
        S.target_from_functions(generate, lambda x: x, 2)


def test_effective_sample_size_of_an_autoregressive_trace():
    """AR(1) chains with coefficient rho have ESS ≈ n (1 - rho) / (1 + rho)."""
    rng = np.random.default_rng(0)
    rho, chains, steps = 0.8, 8, 4000
    x = np.zeros((chains, steps))
    x[:, 0] = rng.normal(size=chains) / np.sqrt(1 - rho ** 2)
    for t in range(1, steps):
        x[:, t] = rho * x[:, t - 1] + rng.normal(size=chains)
    want = chains * steps * (1 - rho) / (1 + rho)
    assert S.effective_sample_size(x) == pytest.approx(want, rel=0.2)
    assert S.effective_sample_size(np.ones((3, 10))) == 0.0   # chains that never move


# -- devices -------------------------------------------------------------------------------

DEVICES_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    import jax, jax.numpy as jnp, numpy as np
    import gendsl as gd
    from gendsl import samplers as S
    assert len(jax.devices()) == 8, jax.devices()
    target = S.target_from_modules(gd.nn.MLP(3, (16,), 2, rngs=__import__("flax").nnx.Rngs(0)),
                                   gd.nn.MLP(2, (16,), 1, rngs=__import__("flax").nnx.Rngs(1)), 3)
    both = {{}}
    for devices in (0, 8):  # one process: one JAX start, the 1-device programs first
        mesh = gd.data_parallel(devices) if devices else None
        out = {{}}
        for name, spec in (("rep_gan", S.rep_gan(steps=20, tau=0.05, eta=0.3)),
                           ("drs", S.drs(tries=8))):
            r = S.compile_sampler(spec, target, mesh=mesh)(jax.random.key(7), 64)
            out[name] = {{"samples": np.asarray(r.samples).tolist(),
                         "accepted": np.asarray(r.accepted).tolist(),
                         "devices": len(r.samples.sharding.device_set)}}
        recalibrated = target.calibrated(S.fit_platt(np.array([0.0, 2.0, 1.0]), np.array([0.0, 1.0, -1.0])))
        r = S.compile_sampler(S.mh_gan(steps=10), target, mesh=mesh)(jax.random.key(8), 64,
                                                                       target=recalibrated)
        out["recalibrated"] = {{"samples": np.asarray(r.samples).tolist(),
                               "accepted": np.asarray(r.accepted).tolist(),
                               "devices": len(r.samples.sharding.device_set)}}
        both[devices] = out
    print(json.dumps(both))
""")


@pytest.mark.slow
def test_one_and_eight_devices_give_the_same_chains():
    both = run_with_eight_devices(DEVICES_SCRIPT.format(root=str(ROOT)))
    one, eight = both["0"], both["8"]
    for name in ("rep_gan", "drs", "recalibrated"):
        assert one[name]["devices"] == 1 and eight[name]["devices"] == 8
        np.testing.assert_allclose(eight[name]["samples"], one[name]["samples"], atol=1e-5)
        np.testing.assert_allclose(eight[name]["accepted"], one[name]["accepted"])


@pytest.mark.slow
def test_the_example_of_sampling_md_runs(capsys):
    text = (ROOT / "docs" / "sampling.md").read_text()
    [example] = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
                 if "compile_sampler" in b]
    exec(compile(example, "docs/sampling.md", "exec"), {})
    out = capsys.readouterr().out
    assert "rep-gan: 100 MH steps" in out and "high_quality_fraction" in out
