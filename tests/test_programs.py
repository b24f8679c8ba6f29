"""End-to-end: the bundled programs reach their measured quality through the runner.

(A run killed with SIGKILL resuming bit for bit is tested at the runner's level in
test_run_resume_kill.py and through ``gendsl launch`` with a real program in
test_multiprocess.py.)"""

import json
from pathlib import Path

import jax
import pytest

import gendsl as gd
from gendsl.run import build_experiment, load_program_file, program_config

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "programs"


def run_program(name, tmp_path, *overrides):
    return gd.run_program_file(PROGRAMS / f"{name}.py", overrides, tmp_path / name)


@pytest.mark.slow
@pytest.mark.quality
def test_gan_mog_covers_the_ring(tmp_path, quality_seed):
    """The bundled GAN covers all 8 modes with at least 80% high-quality samples.

    Measured: passes for 3 of 3 seeds (0-2) (benchmarks/results/quality_seeds.json)."""
    result = run_program("gan_mog", tmp_path, f"seed={quality_seed}")
    m = result.metrics
    assert m["eval/modes_covered"] == 8
    assert m["eval/high_quality_fraction"] >= 0.8
    summary = json.loads((tmp_path / "gan_mog" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["fingerprint"] == result.fingerprint
    assert (tmp_path / "gan_mog" / "samples.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.quality
def test_vae_improves_held_out_elbo(tmp_path, quality_seed):
    """Training raises the held-out ELBO by more than 15 nats per 8x8 image.

    Measured: passes for 3 of 3 seeds (0-2) (benchmarks/results/quality_seeds.json)."""
    module = load_program_file(PROGRAMS / "vae_digits.py")
    cfg = program_config(module, [f"seed={quality_seed}"])
    exp = build_experiment(module, cfg)
    compiled = gd.compile(exp.program)
    state = compiled.init(jax.random.key(cfg.seed), exp.source.batch(0))
    before = exp.evaluate(compiled, state, jax.random.key(1))["test_elbo"]
    after = run_program("vae_digits", tmp_path, f"seed={quality_seed}").metrics["eval/test_elbo"]
    assert after > before + 15.0, (before, after)   # nats per 8x8 image


def test_checkpoint_of_another_program_is_refused(tmp_path):
    run_program("gan_mog", tmp_path, "steps=2", "steps_per_call=1")
    module = load_program_file(PROGRAMS / "gan_mog.py")
    cfg = program_config(module, ["steps=4", "steps_per_call=1", "hidden=32,32"])
    with pytest.raises(gd.errors.ConfigChangedError, match="hidden: None -> '32,32'"):
        gd.run_experiment(build_experiment(module, cfg), cfg, tmp_path / "gan_mog", progress=False)
    # allowed, the change still cannot resume: the parameters' shapes differ
    with pytest.raises(gd.errors.CheckpointMismatchError, match="differs: .*parameter shapes"):
        gd.run_experiment(build_experiment(module, cfg), cfg, tmp_path / "gan_mog",
                          progress=False, allow_changes=True)
    assert not (tmp_path / "gan_mog" / "config_history.jsonl").exists()


@pytest.mark.slow
def test_ode_gan_rk4_covers_most_modes_where_plain_euler_collapses(tmp_path, quality_seed):
    """ODE-GAN's setting (2x25 ReLU MLPs, latent 32, h = 0.1, lambda = 0.07, joint RK4,
    stratified batches) at batch 128 for 20k steps (t = 2000), against Euler at the same
    h with lambda = 0. The bounds are what holds for every seed measured, with a margin:
    across seeds 0-5 (benchmarks/results/ode_gan_study.json, step 20k) RK4 covers 10-16
    modes (16 in 4 of 6) with KL from uniform 0.02-0.74, and Euler 0-1 modes with KL
    2.77, so this test passes for 6 of 6 seeds; it once ran seed 2, one of the seeds
    where RK4 reaches all 16. CI runs seed 0 (``--quality-seed``)."""
    common = ["steps=20000", "batch_size=128", "checkpoint_every=20000", f"seed={quality_seed}",
              "coupling=joint"]  # the measured setting; the program's default is per_player
    rk4 = run_program("ode_gan_mog16", tmp_path / "rk4", *common).metrics
    euler = run_program("ode_gan_mog16", tmp_path / "euler", *common, "method=euler",
                        "lam=0").metrics
    assert rk4["eval/modes_covered"] >= 9 and rk4["eval/kl_from_uniform"] < 1.0, rk4
    assert euler["eval/modes_covered"] <= 2, euler
    assert rk4["eval/kl_from_uniform"] < euler["eval/kl_from_uniform"] - 1.5, (rk4, euler)


def test_gendsl_show_prints_the_program_and_its_fingerprint(capsys):
    from gendsl.cli import main
    assert main(["show", str(PROGRAMS / "gan_mog.py"), "--set", "data=grid25"]) == 0
    out = capsys.readouterr().out
    assert "D  minimises  nonsaturating_d(D(x), D(fake))" in out
    assert "G: MLP (" in out and "fingerprint: " in out
