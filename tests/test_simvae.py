"""SimVAE: simulators as terms (JAX and host), the recovery metrics, and the two
bundled programs recovering their simulators' parameters."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gendsl as gd
from gendsl.metrics import correlation_matrix, parameter_recovery, r_squared
from gendsl.recipes import simvae, uniform_box
from gendsl.run import build_experiment, load_program_file, program_config

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"


def _cubic(theta):
    return jnp.stack([theta[0] ** 3, theta[0] * theta[1]])


def test_host_simulator_equals_the_jax_one_inside_a_step():
    def host_cubic(theta):                      # plain NumPy: not traceable by JAX
        return np.array([theta[0] ** 3, theta[0] * theta[1]], np.float64)

    z = gd.data("z")
    for sim in (gd.simulator(_cubic), gd.host_simulator(host_cubic, (2,))):
        W = gd.player("W", lambda r: gd.nn.MLP(2, (4,), 2, rngs=r), optax.sgd(0.0))
        prog = gd.program({W: gd.mean(gd.sq_norm(gd.stop_gradient(sim(z))))}, gd.minimize())
        compiled = gd.compile(prog)
        batch = {"z": np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)}
        state = compiled.init(jax.random.key(0), batch)
        _, metrics = compiled.step(state, batch)
        expected = np.mean(np.sum(np.asarray(jax.vmap(_cubic)(batch["z"])) ** 2, axis=1))
        np.testing.assert_allclose(float(metrics["W/loss"]), expected, rtol=1e-5)


def test_host_simulator_checks_its_declared_shape():
    bad = gd.host_simulator(lambda t: np.zeros(3), (2,), name="bad_sim")
    with pytest.raises(Exception, match="bad_sim: the simulator returned shape"):
        jax.block_until_ready(bad.rule(jnp.zeros((4, 2))))


def test_stochastic_simulator_gets_one_key_per_example():
    sim = gd.simulator(lambda t, key: t + jax.random.normal(key, t.shape), stochastic=True)
    out = sim.rule(jnp.zeros((64, 1)), key=jax.random.key(0))
    assert out.shape == (64, 1) and 0.6 < float(jnp.std(out)) < 1.4
    assert len(np.unique(np.asarray(out))) == 64


def test_recovery_metrics_against_closed_forms():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(500, 2))
    noisy = truth + 0.5 * rng.normal(size=truth.shape)
    # R^2 of x + noise against x is 1 - var(noise) / var(x), about 0.75 here
    np.testing.assert_allclose(r_squared(noisy, truth), 1 - 0.25 / truth.var(0), atol=0.05)
    latent = truth[:, ::-1] * np.array([1.0, -3.0])            # swapped, one sign flipped
    c = correlation_matrix(latent, truth)
    np.testing.assert_allclose(c, [[0.0, 1.0], [-1.0, 0.0]], atol=0.1)
    np.testing.assert_allclose(np.abs(c[[0, 1], [1, 0]]), 1.0, atol=1e-12)
    m = parameter_recovery(noisy, truth, ("a", "b"), latent=latent)
    assert m["one_to_one"] > 0.9 and m["r2_min"] == min(m["r2/a"], m["r2/b"])
    mixed = np.stack([truth[:, 0] + truth[:, 1], truth[:, 0] - truth[:, 1]], 1)
    assert parameter_recovery(noisy, truth, ("a", "b"), latent=mixed)["one_to_one"] < 0.1


def test_simvae_recipe_stages_and_errors():
    to_params = uniform_box([0.0, 1.0], [1.0, 3.0])
    np.testing.assert_allclose(to_params(jnp.zeros(2)), [0.5, 2.0])
    Dec = gd.player("Dec", lambda r: gd.nn.MLP(2, (8,), 2, rngs=r), optax.adam(1e-3))
    E = gd.player("E", lambda r: gd.nn.GaussianEncoder(2, (8,), 2, rngs=r), optax.adam(1e-3))
    staged = simvae(gd.simulator(_cubic), Dec, E, latent_dim=2, decoder_steps=5,
                    encoder_steps=7)
    assert [s.name for s in staged.stages] == ["decoder", "encoder"]
    assert staged.total_steps == 12 and staged.stages[1].program.frozen == (Dec,)
    with pytest.raises(gd.errors.ProgramError, match="decoder_loss"):
        simvae(gd.simulator(_cubic), Dec, E, latent_dim=2, decoder_steps=1,
               encoder_steps=1, decoder_loss="l1")
    with pytest.raises(gd.errors.ProgramError, match="uniform_box"):
        uniform_box([1.0], [0.0])


def _recover(name, tmp_path, *overrides):
    module = load_program_file(PROGRAMS / f"{name}.py")
    cfg = program_config(module, list(overrides))
    result = gd.run_experiment(build_experiment(module, cfg), cfg, tmp_path / name,
                               progress=False)
    m = {k[len("eval/"):]: v for k, v in result.metrics.items() if k.startswith("eval/")}
    names = [k[len("r2/"):] for k in m if k.startswith("r2/")]
    corr = np.array([[m[f"corr/z{i}/{n}"] for n in names] for i in range(len(names))])
    print(f"{name}: R^2 {[round(m['r2/' + n], 4) for n in names]}\n"
          f"correlation (latent x {names}):\n{np.round(corr, 3)}")
    return m, names, corr


def _assert_recovered(m, names, corr):
    for n in names:
        assert m[f"r2/{n}"] >= 0.95, (n, m[f"r2/{n}"])
    # each latent dimension correlates with exactly one parameter
    strong = np.abs(corr) > 0.8
    assert strong.sum(0).tolist() == [1] * len(names) == strong.sum(1).tolist(), corr
    assert np.all(np.abs(corr[~strong]) < 0.2), corr


@pytest.mark.slow
def test_simvae_blobs_recovers_from_noisy_observations_degrading_gracefully(tmp_path):
    """Stage 2 on 2,000 fixed "real" observations (the observations= path): at noise 0.05
    every parameter is recovered (R^2 >= 0.95, one latent each); at noise 0.5 (half the
    blob's peak) recovery is worse by a margin but still one to one with R^2 >= 0.6.
    Measured at these settings: worst R^2 0.985 / 0.791 (seed 0) and 0.986 / 0.785
    (seed 1), |r| >= 0.88 at noise 0.5: 2 of 2 seeds pass."""
    common = ("decoder_steps=1000", "encoder_steps=1000", "num_real=2000")
    low = _recover("simvae_blobs", tmp_path / "low", *common, "real_noise=0.05")
    high = _recover("simvae_blobs", tmp_path / "high", *common, "real_noise=0.5")
    _assert_recovered(*low)
    worst = lambda m: min(m[0][f"r2/{n}"] for n in m[1])
    assert 0.6 <= worst(high) < worst(low) - 0.05
    assert np.all(np.abs(high[2]).max(0) > 0.8) and high[0]["one_to_one"] > 0.5


@pytest.mark.slow
@pytest.mark.quality
def test_simvae_pendulum_recovers_length_damping_and_angle(tmp_path, quality_seed):
    """R^2 >= 0.95 per parameter, one latent per parameter (|r| > 0.8, others < 0.2).

    Measured: passes for 3 of 3 seeds (0-2) (benchmarks/results/quality_seeds.json)."""
    _assert_recovered(*_recover("simvae_pendulum", tmp_path, "decoder_steps=2000",
                                "encoder_steps=5000", f"seed={quality_seed}"))


# -- the reproduction report's claims: a joint VAE baseline, noisy observations ---------

def _claim(name):
    import importlib.util
    path = PROGRAMS.parent / "benchmarks" / "claims" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"claim_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_blobs_trains_stage_two_on_fixed_noisy_observations():
    """num_real > 0: stage 2's source is that many fixed observations (field "x"), the
    renders of prior draws plus noise of std real_noise, the same for every seed."""
    module = load_program_file(PROGRAMS / "simvae_blobs.py")
    exp = build_experiment(module, program_config(module, ["num_real=300", "real_noise=0.2",
                                                          "num_test=10"]))
    prior, real = exp.source
    assert len(real) == 300 and set(real.batch(0)) == {"x"}
    assert set(prior.batch(0)) == {"z"}
    obs = module.real_observations(2000, 0.2, 777)
    clean = module.real_observations(2000, 0.0, 777)
    np.testing.assert_allclose(np.std(obs - clean), 0.2, rtol=0.03)
    np.testing.assert_array_equal(module.real_observations(5, 0.2, 777), obs[:5])
    assert "x" in gd.show(exp.program.stages[1].program)


def test_joint_vae_baseline_trains_both_players_on_one_elbo():
    module = load_program_file(PROGRAMS / "simvae_vs_vae_blobs.py")
    vae = build_experiment(module, program_config(module, ["num_test=10"])).program
    assert sorted(p.name for p in vae.players) == ["Dec", "E"]
    sim = build_experiment(module, program_config(module, ["model=simvae", "steps=10",
                                                          "num_test=10"])).program
    assert [s.steps for s in sim.stages] == [5, 5]
    with pytest.raises(gd.errors.ConfigError, match="model=vae or --set model=simvae"):
        build_experiment(module, program_config(module, ["model=ae"]))


def test_simvae_claim_verdicts_follow_the_measurements():
    claim = _claim("simvae")
    assert claim.NAME == "simvae" and callable(claim.run)
    eye = np.eye(3).tolist()
    mixed = [[0.0, 0.94, -0.34], [-0.72, 0.0, 0.69], [0.2, 0.3, 0.91]]
    base = [{"model": "simvae", "seed": 0, "one_to_one": 0.95, "r2": [0.99] * 3, "corr": eye},
            {"model": "vae", "seed": 0, "one_to_one": 0.03, "r2": [0.97] * 3, "corr": mixed},
            {"model": "simvae", "seed": 1, "one_to_one": 0.9, "r2": [0.99] * 3, "corr": eye},
            {"model": "vae", "seed": 1, "one_to_one": 0.6, "r2": [0.97] * 3, "corr": eye}]
    noisy = [{"noise": 0.05, "seed": 0, "r2": [0.99] * 3}, {"noise": 0.3, "seed": 0, "r2": [0.9] * 3}]
    rows = claim.verdicts(base, noisy, None)
    assert [r["verdict"] for r in rows] == ["partly", "reproduced"]
    assert rows[0]["seeds"] == "1 of 2"
    noisy[1]["r2"] = [0.3] * 3                           # falls, but below 0.5
    assert claim.verdicts(base[:2], noisy, None)[1]["verdict"] == "partly"
    noisy[0]["r2"] = [0.2] * 3                           # better with more noise
    assert claim.verdicts(base[:2], noisy, None)[1]["verdict"] == "not"
    assert claim.verdicts(base[:2], noisy, None)[0]["verdict"] == "reproduced"


@pytest.mark.slow
def test_joint_vae_on_the_blob_simulator_encodes_the_parameters_entangled(tmp_path):
    """The baseline SimVAE's disentanglement is measured against: encoder and decoder
    trained together on the ELBO of the same simulator outputs (2,000 steps). No
    one-to-one map between latents and parameters exists (score < 0.3), some parameter
    has no latent with |r| > 0.9 (SimVAE: 0.99 for every parameter, the test above),
    yet the latents carry the parameters (a linear probe reaches R^2 >= 0.9 on at least
    one). Measured at this setting: 4 of 4 seeds (0-3) pass; the probe's R^2 is >= 0.94 for
    every parameter in 3 of them, while seed 1's VAE had not encoded x yet (0.29)."""
    m, names, corr = _recover("simvae_vs_vae_blobs", tmp_path, "model=vae", "steps=2000")
    assert m["one_to_one"] < 0.3, corr
    assert np.abs(corr).max(0).min() < 0.9, corr
    assert max(m[f"r2/{n}"] for n in names) >= 0.9, m
