"""The ODE-GAN reference comparison's machinery, without its heavy runs: the notebook
runner's cell extraction, the claim module's merging and verdicts, and the digits
program's build (benchmarks/ode_gan_reference.py, benchmarks/claims/ode_gan_reference.py,
programs/ode_gan_digits.py). The comparison itself is a study (results in
benchmarks/results/ode_gan_reference_*.json): tens of thousands of steps per seed in two
implementations do not fit CI's budget."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from load_file import load_module

import gendsl as gd
from gendsl.run import build_experiment, load_program_file, program_config
from gendsl.run.batches import chunk_batches, step_batch


ROOT = Path(__file__).resolve().parents[1]


def _load(path):
    return load_module(path)


@pytest.fixture(scope="module")
def runner():
    return _load("benchmarks/anchors/odegan/run_reference.py")


@pytest.fixture(scope="module")
def claim():
    return _load("benchmarks/claims/ode_gan_reference.py")


def test_runner_keeps_code_cells_drops_shell_lines_and_sets_params(runner, tmp_path):
    nb = {"cells": [
        {"cell_type": "markdown", "source": ["# title"]},
        {"cell_type": "code", "source": ["!pip install dm-haiku\n", "import numpy as np\n"]},
        {"cell_type": "code", "source": ["#@title Integration\n",
                                         "n_itrs = 30001 #@param {type : 'integer'}\n",
                                         "odeint = 'runge_kutta_step' #@param ['a'] {type : 'string'}\n"]},
    ]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    cells = runner.code_cells(str(path))
    assert cells == ["import numpy as np",
                     "#@title Integration\nn_itrs = 30001 #@param {type : 'integer'}\n"
                     "odeint = 'runge_kutta_step' #@param ['a'] {type : 'string'}"]
    src = runner.set_param(runner.set_param(cells[1], "n_itrs", 101), "odeint", "euler_step")
    ns = {}
    exec(src, ns)
    assert (ns["n_itrs"], ns["odeint"]) == (101, "euler_step")
    with pytest.raises(SystemExit, match="bs = ... #@param"):
        runner.set_param(cells[1], "bs", 512)


def _results(path, seeds, ref_modes, ours_modes):
    runs = {"reference": {f"seed{s}": {"seconds": 1.0, "rows": [
                {"step": 100, "modes_covered": m, "high_quality_fraction": 0.5}]}
                for s, m in zip(seeds, ref_modes)},
            "per_player": {f"seed{s}": {"seconds": 1.0, "rows": [
                {"step": 100, "raw_modes_covered": m, "raw_high_quality_fraction": 0.5,
                 "ema_modes_covered": 16, "ema_high_quality_fraction": 0.5}]}
                for s, m in zip(seeds, ours_modes)}}
    path.write_text(json.dumps({"steps": 100, "batch_size": 512, "runs": runs}))
    return path


def test_claim_merges_seed_files_and_compares_success_rates(claim, tmp_path):
    assert claim.NAME == "ode_gan_reference" and claim.TITLE.startswith("ODE-GAN")
    a = _results(tmp_path / "a.json", [0, 1], [16, 12], [16, 13])
    b = _results(tmp_path / "b.json", [2], [16], [15])
    merged = claim.reference_results([a, b])
    s = merged["summary"]
    assert s["reference"] == {"full_16_of_16": 2, "seeds": 3, "modes": [16, 12, 16], "step": 100}
    assert s["per_player/raw"]["full_16_of_16"] == 1
    assert s["per_player/ema"]["full_16_of_16"] == 3
    row = claim._reference_claim(merged)
    assert row["verdict"] == "partly" and "2 of 3 seeds (reference)" in row["number"]
    assert "step 100 only" in row["why"]  # short of the paper's 30k steps
    assert claim._reference_claim({**merged, "steps": 30_000})["verdict"] == "reproduced"
    far = claim.reference_results([_results(tmp_path / "c.json", [0, 1, 2], [16, 16, 16],
                                            [10, 11, 12])])
    assert claim._reference_claim(far)["verdict"] == "not"


def test_summary_compares_at_the_last_step_every_run_reached(claim):
    study = claim._script("ode_gan_reference")
    ours = {"raw_high_quality_fraction": 0.5, "ema_high_quality_fraction": 0.5,
            "ema_modes_covered": 16}
    runs = {"reference": {"seed0": {"rows": [{"step": 50, "modes_covered": 16,
                                              "high_quality_fraction": 0.5}]}},
            "per_player": {"seed0": {"rows": [{"step": 50, "raw_modes_covered": 12, **ours},
                                              {"step": 100, "raw_modes_covered": 16, **ours}]}}}
    s = study.summary(runs, 100)
    assert s["reference"]["step"] == s["per_player/raw"]["step"] == 50
    assert s["per_player/raw"]["modes"] == [12]


def test_claim_digits_verdict_counts_seeds_within_margin_of_adam(claim):
    def runs(kids):
        return {f"seed{i}": {"rows": [{"step": 0, "kid": 100.0}, {"step": 10, "kid": k}]}
                for i, k in enumerate(kids)}
    row = claim._digits_claim({"rk4": runs([1.0, 5.0]), "adam": runs([1.0, 1.0])}, 10, None)
    assert row["verdict"] == "partly" and row["seeds"] == "1 of 2"
    row = claim._digits_claim({"rk4": runs([1.4, 0.5]), "adam": runs([1.0, 1.0])}, 10, None)
    assert row["verdict"] == "reproduced"


def test_ode_gan_digits_program_takes_a_finite_rk4_step_on_four_batches():
    module = load_program_file(ROOT / "programs" / "ode_gan_digits.py")
    cfg = program_config(module, ["batch_size=8", "hidden=[16]"])
    exp = build_experiment(module, cfg)
    compiled = gd.compile(exp.program)
    assert compiled.batches_per_step == 4  # a fresh batch at every RK4 stage
    state = compiled.init(jax.random.key(0), step_batch(exp.source, 0, 4))
    before = jax.tree.map(np.asarray, state.params["D"])  # step_many donates the state
    new, _ = compiled.step_many(state, chunk_batches(exp.source, 0, 2, 4))
    moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - b).max()),
                         new.params["D"], before)
    assert 0 < max(jax.tree.leaves(moved)) < 10
    assert np.isfinite(np.asarray(compiled.sample(new, jax.random.key(1), 4))).all()
