"""A run killed with SIGKILL between checkpoints resumes to the uninterrupted result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


def _wait_for(condition, process, timeout=90.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the training subprocess made no progress"
        time.sleep(0.01)


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

    process = subprocess.Popen(_fit_command(killed, "--delay", "0.05"), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (killed / "checkpoints" / "20").is_dir(), process)
        # let it train past the checkpoint and log step 25, then kill it without warning
        _wait_for(lambda: any(r["step"] == 25 for r in read_records(killed / "metrics.jsonl")),
                  process)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "checkpoints" / "40").exists()  # killed between checkpoints

    subprocess.run(_fit_command(killed), env=env, check=True, timeout=120, capture_output=True)
    assert_trees_bitwise_equal(_final_state(killed), _final_state(reference))
    assert read_records(killed / "metrics.jsonl") == read_records(reference / "metrics.jsonl")
