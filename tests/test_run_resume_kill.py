"""A run killed with SIGKILL between checkpoints resumes to the uninterrupted result.

The run kills itself at a chosen step (``GENDSL_FAULT=kill9@27``, see
:mod:`gendsl.run.fault`), so the test does not race a polling loop against training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import pytest
from run_fakes import FakeCompiled, FakeSource, assert_trees_bitwise_equal

from gendsl.run import CheckpointStore
from gendsl.run.metrics_log import read_records

ROOT = Path(__file__).resolve().parents[1]
FAKES = ROOT / "tests" / "run_fakes.py"


def _env(tmp_path):
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
        # compiled steps are reused between the three processes (identical executables)
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }


def _fit_command(run_dir, *extra):
    return [sys.executable, str(FAKES), "fit", str(run_dir), "--steps", "60",
            "--checkpoint-every", "20", "--steps-per-call", "3", "--log-every", "5", *extra]


def _final_state(run_dir):
    compiled = FakeCompiled()
    abstract = compiled.abstract_state(jax.random.key(0), FakeSource().batch(0)).tree()
    with CheckpointStore(run_dir / "checkpoints") as store:
        assert store.latest() == 60
        return store.restore(60, abstract)[0]


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_exact(tmp_path):
    env = _env(tmp_path)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(_fit_command(reference), env=env, check=True, timeout=120,
                   capture_output=True)

    # chunks of 3 after the checkpoint at 20 end at 21, 24 and 27; the one at 27 logs
    # step 25, then the run kills itself without warning
    killed_run = subprocess.run(_fit_command(killed), env={**env, "GENDSL_FAULT": "kill9@27"},
                                timeout=120, capture_output=True, text=True)
    assert killed_run.returncode == -signal.SIGKILL, killed_run.stderr[-3000:]
    with CheckpointStore(killed / "checkpoints") as store:
        assert store.steps() == [20]                  # killed between checkpoints
    assert [r["step"] for r in read_records(killed / "metrics.jsonl")][-1] == 25

    subprocess.run(_fit_command(killed), env=env, check=True, timeout=120, capture_output=True)
    assert_trees_bitwise_equal(_final_state(killed), _final_state(reference))
    assert read_records(killed / "metrics.jsonl") == read_records(reference / "metrics.jsonl")
