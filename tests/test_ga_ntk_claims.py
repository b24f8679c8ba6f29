"""GA-NTK's reproduction claims (benchmarks/claims/ga_ntk.py) and the latent-space GA-NTKg
program: the claim module's shortcut equals the program's step, and (slow) each
reproduced claim over seeds, small."""

import importlib.util
import pathlib

import jax
import numpy as np
import optax
import pytest

import gendsl as gd
from gendsl.primitives.ntk_gp import ntk_gp_loss
from gendsl.terms.synthesized import clip_to

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLAIM_FILE = ROOT / "benchmarks" / "claims" / "ga_ntk.py"


def _claims():
    spec = importlib.util.spec_from_file_location("claims_ga_ntk", CLAIM_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CLAIMS = _claims()
NET = CLAIMS.program_module("ga_ntk_mog").dense_relu_kernel(64, 2)


def test_claim_module_follows_the_report_interface():
    assert CLAIMS.NAME == CLAIM_FILE.stem == "ga_ntk"
    assert CLAIMS.TITLE.startswith("GA-NTK")
    assert callable(CLAIMS.run)


def test_train_points_takes_the_programs_steps():
    """The claims' vmapped trainer moves the points exactly as a compiled points player
    with plain gradient descent and clipping (what synthesized_points builds)."""
    real = CLAIMS.real_batches(gd.datasets.ring8, [0], 3, 16)          # (1, 3, 16, 2)
    z0 = CLAIMS.uniform_points([0], (12, 2))
    run = CLAIMS.train_points(NET, real, z0, [10.0], [4 * 65536.0], steps_per_chunk=3)
    P = gd.points("P", z0[0], optax.sgd(10.0), project=clip_to(0.0, 1.0))
    program = gd.program({P: ntk_gp_loss(NET, gd.data("x"), P(), t=4 * 65536.0)}, samples=P())
    compiled = gd.compile(program)
    state = compiled.init(jax.random.key(0), {"x": real[0, 0]})
    losses = []
    for k in range(3):
        state, metrics = compiled.step(state, {"x": real[0, k]})
        losses.append(float(metrics["P/loss"]))
    assert np.abs(run["points"][-1, 0] - z0[0]).max() > 1e-3          # the points moved
    # float32 eigendecompositions, batched (vmap) against unbatched, differ in the last
    # digits, which the large step amplifies
    np.testing.assert_allclose(run["points"][-1, 0], np.asarray(state.params["P"]), atol=1e-3)
    np.testing.assert_allclose(run["loss"][0], losses, rtol=1e-5)


def test_nearest_distances():
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 1.0], [3.0, 0.0], [6.0, 8.0]])
    np.testing.assert_allclose(CLAIMS.nearest_distances(a, b), [1.0, 4.0])


def test_latent_ga_ntkg_program_is_the_reference_setting():
    module = gd.run.load_program_file(ROOT / "programs" / "ga_ntkg_latent_digits.py")
    d = module.DEFAULTS
    assert (d["batch_size"], d["lr"], d["b1"], d["clip"], d["diag_reg"]) == (64, 2e-4, 0.5, 5.0,
                                                                             1e-4)
    layers = module.erf_kernel(d["kernel_width"], d["kernel_depth"]).layers
    assert [type(l).__name__ for l in layers] == ["Dense", "Erf"] * 4 + ["Dense"]
    assert [l.out for l in layers[::2]] == [64, 64, 64, 64, 1]


@pytest.mark.slow   # compiles both stages
def test_latent_ga_ntkg_trains_the_autoencoder_then_the_generator_on_its_codes():
    module = gd.run.load_program_file(ROOT / "programs" / "ga_ntkg_latent_digits.py")
    cfg = gd.run.program_config(module, ["ae_steps=2", "gen_steps=2", "batch_size=16",
                                         "eval_samples=50"])
    exp = gd.run.build_experiment(module, cfg)
    text = gd.show(exp.program)
    assert "stage autoencoder" in text and "stage ga_ntkg" in text
    assert "ntk_gp_loss(Serial(Dense(64" in text and "E(x), G(z)" in text
    compiled = gd.compile(exp.program)
    source = exp.source[0]
    state = compiled.init(jax.random.key(0), source.batch(0))
    leaves = lambda s, name: [np.asarray(v).copy() for v in jax.tree.leaves(s.params[name])]  # noqa: E731
    start = {n: leaves(state, n) for n in ("E", "Dec", "G")}
    ae, gen = compiled.phases
    for k in range(2):
        state, _ = ae.step(state, ae.shard_batch(source.batch(k)))
    after_ae = {n: leaves(state, n) for n in ("E", "Dec", "G")}
    for k in range(2, 4):
        state, metrics = gen.step(state, gen.shard_batch(source.batch(k)))
    assert np.isfinite(float(metrics["G/loss"]))
    after_gen = {n: leaves(state, n) for n in ("E", "Dec", "G")}
    changed = lambda a, b: any(not np.array_equal(x, y) for x, y in zip(a, b))  # noqa: E731
    assert changed(start["E"], after_ae["E"]) and changed(start["Dec"], after_ae["Dec"])
    assert not changed(start["G"], after_ae["G"])
    assert changed(after_ae["G"], after_gen["G"])
    assert not changed(after_ae["E"], after_gen["E"]) and not changed(after_ae["Dec"], after_gen["Dec"])
    samples = np.asarray(compiled.sample(state, jax.random.key(1), 5))
    assert samples.shape == (5, 8, 8, 1) and 0.0 <= samples.min() and samples.max() <= 1.0


# -- the claims, over seeds (slow) -----------------------------------------------------

@pytest.mark.slow
def test_ga_ntk_keeps_the_grid_of_25_where_the_small_batch_gan_oscillates():
    """Grid of 25, batch 64. GA-NTK's 128 points (step 10 cosine-decayed over 60 steps)
    cover all 25 modes with 82-90% high-quality points; gan_mog.py (non-saturating,
    Adam, D:G 1:1) loses modes between checkpoints and keeps about half its samples near
    a mode. Measured: GA-NTK 25 modes in 3 of 3 seeds, high quality 0.82-0.90; the GAN's
    mode count swings (7-25 every 250 steps) and is below 25 at some checkpoint in 6 of 6
    runs (batch 64 and 256), high quality 0.44-0.50 after 1,000 steps (3 of 3 seeds)."""
    seeds = [0, 1, 2]
    gan = CLAIMS.gan_mode_curves("grid25", seeds, steps=1000, every=250, batch_size=64)
    run = CLAIMS.train_points(NET, CLAIMS.real_batches(gd.datasets.grid25, seeds, 60, 64),
                              CLAIMS.uniform_points(seeds, (128, 2)), [10.0] * 3,
                              [16 * 65536.0] * 3, steps_per_chunk=60, decay_steps=60)
    source = gd.datasets.grid25(batch_size=64, seed=0)
    ntk = [source.evaluate(p) for p in run["points"][-1]]
    for r in range(len(seeds)):
        assert ntk[r]["modes_covered"] == 25, (r, ntk[r])
        assert gan["modes"][r].min() < 25, gan["modes"]
        assert ntk[r]["high_quality_fraction"] > gan["high_quality"][r, -1] + 0.2, (ntk, gan)


@pytest.mark.slow
def test_gradient_vanishes_when_the_discriminator_is_trained_to_the_end():
    """At t = 4096 x 65536 the NTK-GP fits every label and the points' gradient is 0 at
    most steps (its median over the run; a few steps, where a fresh real batch lands near
    a point, still give a gradient); at the programs' t = 4 x 65536 it does not vanish.
    Measured (benchmarks/claims/ga_ntk.py, 40 steps, steps 1, 10, 100): median 1e-14
    against 0.36-1.26 of the first gradient at t = 4 x 65536, 3 of 3 step sizes."""
    steps, n = 20, 32
    times = [4.0, 4096.0]
    real = CLAIMS.real_batches(gd.datasets.ring8, [0, 0], steps, n)
    run = CLAIMS.train_points(NET, real, CLAIMS.uniform_points([0, 0], (n, 2)), [10.0, 10.0],
                              [t * 65536.0 for t in times], steps_per_chunk=steps)
    moderate, trained = np.median(run["grad_norm"], axis=1)
    assert moderate > 0.1 * run["grad_norm"][0, 0]
    assert trained < 1e-3 * moderate, run["grad_norm"]


@pytest.mark.slow
def test_points_settle_at_a_small_step_and_keep_jumping_at_the_programs_step():
    """Ring of 8, 32 points against a fixed set of 32 real points, t = 4 x 65536, 300
    steps: at step 1 the loss ends within 0.01 of log 2 (the fakes are indistinguishable
    from the reals) and the points' last moves are under a tenth of those at step 10,
    which keeps jumping by about 0.5. An exact fixed point (gradient under 5% of its
    start) is reached at step 1 in only 3 of 5 seeds in 800 steps, so it is not asserted.
    Measured: 5 of 5 seeds (loss gap 0.0004-0.0036, moves at most 0.03 against
    0.47-0.55)."""
    seeds = [0, 1, 2]
    runs = [(s, lr) for lr in (1.0, 10.0) for s in seeds]
    run = CLAIMS.train_points(
        NET, CLAIMS.real_batches(gd.datasets.ring8, [s for s, _ in runs], 300, 32, fixed=True),
        CLAIMS.uniform_points([s for s, _ in runs], (32, 2)), [lr for _, lr in runs],
        [4 * 65536.0] * len(runs), steps_per_chunk=300)
    move = run["move"][:, -10:].max(axis=1)
    for i, seed in enumerate(seeds):
        small, large = i, i + len(seeds)
        assert run["loss"][small, -1] - np.log(2) < 0.01, (seed, run["loss"][small, -1])
        assert move[small] < 0.1 * move[large], (seed, move)


@pytest.mark.slow
def test_ga_ntk_digits_are_not_copies_of_training_digits():
    """GA-NTK's 128 digits (programs/ga_ntk_digits.py's kernel, step 2000 cosine-decayed
    over 200 steps) sit farther from their nearest training digit than the held-out
    digits do, while their KID says they look like digits. Measured once before (one
    seed, 200 steps): 1.48 against 1.03. At 100 steps (2 of 2 seeds) the ratio is 1.90-1.94
    but KID 26: the points are still noise, so 100 steps cannot test the claim. At 200
    steps the claim held for 2 of 2 seeds (0 and 1, the only seeds run; the numbers were
    not recorded). CI runs seed 0 only: two seeds cost 272 s under load 10, over its
    budget."""
    out = CLAIMS.memorisation_run([0], steps=200)
    assert np.all(out["points_nn"] > 1.2 * out["heldout_nn"]), out
    assert np.all(out["kid"] < 5.0), out
