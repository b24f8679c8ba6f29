"""``gendsl sample --sampler``: a trained run's samples moved with its discriminator
(gendsl/sampling_run.py and the CLI around it).

One small GAN on the ring of 8 (tests/test_cli_tools.py's TINY_GAN) is trained once per
module, in process; one test runs the real ``python -m gendsl.cli`` in a subprocess.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
from test_cli_tools import TINY_GAN, _gendsl, _snapshot

import gendsl as gd
from gendsl import losses as L
from gendsl import samplers as S
from gendsl.cli import main
from gendsl.errors import ConfigError, SamplerError
from gendsl.sampling_run import (check_generator, held_out_real, sample_run, sampler_spec,
                                 write_sampling_outputs)

pytestmark = pytest.mark.xdist_group("test_cli_sample")  # one worker, so its fixtures are built once

# the report's keys, as docs/sampling.md ("From the command line") lists them
REPORT_KEYS = {"run_dir", "step", "fingerprint", "sampler", "target", "calibration", "n",
               "chains", "dispatches", "acceptance_rate", "ess", "ess_per_second",
               "d_evals_per_sample", "d_grads_per_sample", "wall_clock_s", "compile_s",
               "info", "metrics"}
CALIBRATION_KEYS = {"scale", "shift", "ece_before", "ece_after", "log_loss_before",
                    "log_loss_after", "n_real", "n_generated", "held_out"}


def test_the_docs_list_the_reports_keys():
    text = (Path(__file__).resolve().parents[1] / "docs" / "sampling.md").read_text()
    section = text.split("## From the command line")[1].split("\n## ")[0]
    rows = re.findall(r"^\| (`.*?) \|", section, flags=re.M)
    assert set(re.findall(r"`(\w+)`", " ".join(rows))) == REPORT_KEYS


@pytest.fixture(scope="session")  # one worker (xdist_group): built once
def trained(tmp_path_factory):
    """``(work dir, run dir)`` of a finished TINY_GAN run (20 steps)."""
    work = tmp_path_factory.mktemp("sample")
    (work / "tiny_gan.py").write_text(TINY_GAN)
    run_dir = work / "run"
    assert main(["run", str(work / "tiny_gan.py"), "--run-dir", str(run_dir),
                 "--no-progress"]) == 0
    return work, run_dir


@pytest.fixture(scope="session")  # one worker (xdist_group): built once
def loaded(trained):
    return gd.load_run(trained[1])


def test_rep_gan_writes_samples_plot_and_report(trained, tmp_path):
    _, run_dir = trained
    before = _snapshot(run_dir)
    out = tmp_path / "out" / "s.npz"
    assert main(["sample", str(run_dir), "--sampler", "rep-gan", "--set", "steps=20",
                 "tau=0.02", "-n", "200", "-o", str(out)]) == 0
    arrays = np.load(out)
    assert arrays["samples"].shape == (200, 2) and arrays["latents"].shape == (200, 4)
    assert out.with_suffix(".png").stat().st_size > 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert set(report) == REPORT_KEYS
    assert report["sampler"]["name"] == "rep-gan"
    assert report["sampler"]["fields"] == {"steps": 20, "tau": 0.02, "eta": 0.1}
    assert report["sampler"]["describe"] == S.rep_gan(20, 0.02).describe()
    assert 0 < report["acceptance_rate"] <= 1
    assert report["d_evals_per_sample"] == 21 and report["d_grads_per_sample"] == 21
    assert report["n"] == report["chains"] == 200 and report["dispatches"] == 1
    assert 0 < report["ess"] and report["ess_per_second"] > 0 and report["wall_clock_s"] > 0
    assert set(report["calibration"]) == CALIBRATION_KEYS
    assert report["calibration"]["n_real"] == report["calibration"]["n_generated"] == 5000
    assert {"modes_covered", "high_quality_fraction", "kl_from_uniform"} <= set(
        report["metrics"])
    # the metrics are the source's own, of these samples
    source = gd.datasets.ring8(batch_size=64)
    assert report["metrics"]["modes_covered"] == source.evaluate(arrays["samples"])[
        "modes_covered"]
    assert _snapshot(run_dir) == before


def test_independent_gives_g_of_its_latents(loaded, tmp_path):
    out = tmp_path / "s.npz"
    assert main(["sample", str(loaded.run_dir), "--sampler", "independent", "-n", "64",
                 "--no-calibrate", "--seed", "3", "-o", str(out)]) == 0
    arrays = np.load(out)
    expected = np.asarray(loaded.compiled.apply(loaded.state, "G", arrays["latents"]))
    np.testing.assert_allclose(arrays["samples"], expected, rtol=1e-5, atol=1e-6)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["calibration"] is None and report["acceptance_rate"] == 1
    assert report["d_evals_per_sample"] == 0
    # the latents are N(0, I) draws, not all the same
    assert np.unique(arrays["latents"][:, 0]).size == 64


def test_chains_split_the_samples_over_dispatches(loaded):
    result, report = sample_run(loaded, S.mh_gan(steps=5), 50, 0, chains=20,
                                calibrate=False)
    assert result.samples.shape == (50, 2) and result.latents.shape == (50, 4)
    assert result.trace.shape == (50, 5) and result.accepted.shape == (50,)
    assert (report["chains"], report["dispatches"]) == (20, 3)
    latents = np.asarray(result.latents)  # each dispatch has its own key
    assert not np.allclose(latents[:10], latents[20:30])
    assert not np.allclose(latents[20:30], latents[40:])


def test_the_seed_decides_the_samples(loaded, tmp_path):
    out = tmp_path / "s.npz"
    assert main(["sample", str(loaded.run_dir), "--sampler", "independent", "-n", "16",
                 "--no-calibrate", "--seed", "7", "-o", str(out)]) == 0
    same, _ = sample_run(loaded, S.independent(), 16, 7, calibrate=False)
    other, _ = sample_run(loaded, S.independent(), 16, 8, calibrate=False)
    np.testing.assert_array_equal(np.load(out)["samples"], np.asarray(same.samples))
    assert not np.allclose(np.asarray(same.samples), np.asarray(other.samples))


def test_calibration_changes_the_target(loaded):
    _, plain = sample_run(loaded, S.independent(), 16, 0, calibrate=False)
    _, cal = sample_run(loaded, S.independent(), 16, 0, calibration_samples=500)
    assert "exp(1 d(G(z)) + 0)" in plain["target"]
    scale, shift = cal["calibration"]["scale"], cal["calibration"]["shift"]
    assert f"exp({scale:.4g} d(G(z)) + {shift:.4g})" in cal["target"]
    assert cal["calibration"]["n_real"] == 500


@pytest.mark.parametrize("argv, words", [
    (["--sampler", "hmc"], ["--sampler hmc", "independent, drs, mh-gan, ddls, rep-gan"]),
    (["--sampler", "rep-gan", "--set", "gamma=2"],
     ["--set gamma=2", "no field 'gamma'", "steps, tau, eta"]),
    (["--sampler", "independent", "--set", "steps=2"], ["has no field 'steps'", "none"]),
    (["--sampler", "mh-gan", "--set", "steps=1.5"], ["--set steps=1.5", "not of type int"]),
    (["--sampler", "rep-gan", "--set", "tau=-1"], ["--set tau=-1", "tau=-1.0", "> 0"]),
    (["--set", "tau=0.1"], ["--set", "only apply with --sampler"]),
    (["--chains", "4"], ["--chains", "only apply with --sampler"]),
])
def test_bad_sampler_flags_exit_2_with_one_line(trained, tmp_path, capsys, argv, words):
    _, run_dir = trained
    out = tmp_path / "s.npz"
    assert main(["sample", str(run_dir), "-n", "10", "-o", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gendsl: error: "), err
    for word in words:
        assert word in err[0]
    assert not out.exists()


def test_sampler_spec_parses_each_fields_type():
    assert sampler_spec("drs", ["tries=8", "quantile=0.9"]) == S.drs(tries=8, quantile=0.9)
    assert sampler_spec("drs", ["quantile=none"]).quantile is None
    assert sampler_spec("ddls", ["step_size=1e-3"]) == S.ddls(step_size=1e-3)
    assert sampler_spec("mh-gan") == S.mh_gan()
    with pytest.raises(ConfigError, match="expected key=value"):
        sampler_spec("ddls", ["step_size"])


def test_held_out_data(loaded):
    # a mixture: fresh draws of its own stream, never a training batch
    real, where = held_out_real(loaded, 100, 5)
    source = loaded.experiment.source
    np.testing.assert_array_equal(real, source.sample(100, 5))
    assert "fresh draws" in where
    # an infinite source without sample(): the batches past those the run read
    normal = gd.datasets.standard_normal(2, batch_size=64)
    run = dataclasses.replace(loaded, experiment=dataclasses.replace(loaded.experiment,
                                                                     source=normal))
    real, where = held_out_real(run, 100, 5)
    np.testing.assert_array_equal(real, normal.batches(20, 2)["z"].reshape(128, 2)[:100])
    assert "batches 20..21" in where
    # the digits' train split: its test split, which it never serves
    digits = gd.datasets.digits(batch_size=64)
    run = dataclasses.replace(loaded, experiment=dataclasses.replace(loaded.experiment,
                                                                     source=digits))
    real, where = held_out_real(run, 1000, 5)
    np.testing.assert_array_equal(real, gd.datasets.digits_arrays("test")["x"])
    assert real.shape == (359, 8, 8, 1) and "held-out split" in where
    # a finite dataset the run cycled through: nothing is held out
    arrays = gd.datasets.arrays({"x": np.zeros((100, 2), np.float32)}, batch_size=10)
    run = dataclasses.replace(loaded, experiment=dataclasses.replace(loaded.experiment,
                                                                     source=arrays))
    with pytest.raises(ConfigError, match="--no-calibrate"):
        held_out_real(run, 100, 5)


def test_a_samples_term_other_than_g_is_refused():
    adam = optax.adam(1e-3)
    G = gd.player("G", lambda r: gd.nn.MLP(4, (8,), 2, rngs=r), adam)
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), adam)
    x, z = gd.data("x"), gd.latent("z", 4)
    losses = {D: L.nonsaturating_d(D(x), D(G(z))), G: L.nonsaturating_g(D(G(z)))}
    batch = {"x": np.zeros((8, 2), np.float32)}
    for samples, refused in ((G(z), False), (gd.sigmoid(G(z)), True)):
        compiled = gd.compile(gd.program(losses, gd.alternating(D=1, G=1), samples=samples))
        state = compiled.init(jax.random.key(0), batch)
        run = types.SimpleNamespace(compiled=compiled, state=state, run_dir="RUN")
        target = S.target_of(compiled, state)
        if refused:
            with pytest.raises(SamplerError, match="sigmoid"):
                check_generator(run, target, None)
        else:
            check_generator(run, target, None)


def test_write_sampling_outputs_names_what_it_wrote(loaded, tmp_path):
    result, report = sample_run(loaded, S.independent(), 8, 0, calibrate=False)
    written = write_sampling_outputs(tmp_path / "a" / "x.npz", result, report)
    assert {k: p.name for k, p in written.items()} == {"npz": "x.npz", "png": "x.png",
                                                        "json": "x.json"}
    assert json.loads(written["json"].read_text())["n"] == 8


@pytest.mark.slow
def test_through_the_command_line(trained, tmp_path):
    work, run_dir = trained
    before = _snapshot(run_dir)
    out = tmp_path / "mh.npz"
    done = _gendsl("sample", str(run_dir), "--sampler", "mh-gan", "--set", "steps=10",
                   "-n", "100", "--calibration-samples", "1000", "-o", str(out), cwd=work)
    assert "acceptance_rate" in done.stdout and f"to {out}" in done.stdout
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["sampler"]["fields"] == {"steps": 10}
    assert report["calibration"]["n_real"] == 1000
    assert np.load(out)["samples"].shape == (100, 2)
    assert _snapshot(run_dir) == before


def test_compile_for_leaves_the_timed_call_nothing_to_compile():
    target = S.target_from_functions(lambda z: 2 * z, lambda x: -jax.numpy.sum(x ** 2), 2)
    sampler = S.compile_sampler(S.mh_gan(steps=3), target)
    compiles = []

    def listen(name, duration, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            compiles.append(name)

    keys = jax.random.key(0), jax.random.key(1)
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        sampler.compile_for(keys[0], 8)
        assert compiles
        ahead = len(compiles)
        jax.block_until_ready(sampler(keys[1], 8).samples)
        assert len(compiles) == ahead      # compiled ahead: the call only runs
        jax.block_until_ready(sampler(keys[1], 16).samples)
        assert len(compiles) > ahead       # another number of chains compiles
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    with pytest.raises(SamplerError, match="num_chains=0"):
        sampler.compile_for(jax.random.key(0), 0)
