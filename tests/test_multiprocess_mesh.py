"""Two processes of one distributed run (2 processes x 2 CPU devices, Gloo over
127.0.0.1) against one process: a checkpoint written by a 1-process run restores onto the
2-process mesh bit for bit and training goes on there, and GA-NTK's row-sharded kernel
(and loss) computed across the 2 processes equals the single-process one.

Process starts dominate the cost, so both checks share one launch of 2 processes
(tests/multiprocess_child.py); the 1-process run trains here, in the test's own process.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from gendsl.run.launch import child_env, free_port

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHILD = ROOT / "tests" / "multiprocess_child.py"
STEPS = 2


def _env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JAX_COORDINATOR", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID",
                                "GENDSL_FAULT", "SLURM_", "JAX_NUM_CPU_DEVICES", "XLA_FLAGS"))}
    return dict(env, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")


def _two_processes(work: pathlib.Path) -> list[dict]:
    """Runs tests/multiprocess_child.py as 2 processes x 2 devices; their JSON results."""
    coordinator = f"127.0.0.1:{free_port()}"
    children = [subprocess.Popen([sys.executable, str(CHILD), str(work)],
                                 env=child_env(_env(), coordinator, 2, i, 2),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for i in range(2)]
    try:
        outputs = [child.communicate(timeout=240)[0] for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for i, child in enumerate(children):
        assert child.returncode == 0, f"process {i}:\n{outputs[i][-3000:]}"
    return [json.loads((work / f"process{i}.json").read_text()) for i in range(2)]


@pytest.mark.slow
def test_one_process_checkpoint_and_ga_ntk_kernel_on_two_processes(tmp_path):
    """(a) The state a 1-process run saved is restored on each of the 2 processes bit for
    bit, replicated over the 4 devices, and ``gd.fit`` resumes there for one more step.
    (b) The 13 x 13 NTK computed with its rows split over the 4 devices of 2 processes
    (padded to 16, 4 rows a device), gathered, equals the unsharded kernel, and so do
    GA-NTK's loss and gradient. Measured (CPU): kernel and loss equal bit for bit,
    gradient within 4.7e-10 (1.5e-7 of its largest entry); the tolerances (rtol 1e-5,
    gradient atol 1e-8) leave 20x room and fail on a wrong row offset (kernel off by
    2.6, gradient by 8e-5)."""
    sys.path.insert(0, str(CHILD.parent))
    try:
        import multiprocess_child as child
    finally:
        sys.path.remove(str(CHILD.parent))
    import gendsl as gd

    # the 1-process run: its checkpoint at STEPS, and the state it ended with
    compiled = gd.compile(child.program(), mesh=gd.data_parallel(jax.devices()[:1]))
    state = child.fit(compiled, tmp_path / "one", STEPS).state
    np.savez(tmp_path / "one.npz", **{k: np.asarray(v) for k, v in child.flat(state.tree()).items()})
    shutil.copytree(tmp_path / "one", tmp_path / "resume")

    results = _two_processes(tmp_path)
    for i, r in enumerate(results):
        where = f"process {i}"
        assert (r["process"], r["processes"], r["mesh_devices"]) == (i, 2, 4), where
        restore = r["restore"]
        assert restore["recorded"] == [1, 1], where          # written on 1 device, 1 process
        assert restore["same_keys"] and restore["leaves"] > 10, where
        assert restore["differ"] == [], where                # the saved state, bit for bit
        assert restore["not_replicated"] == [], where        # placed on the 2-process mesh
        assert restore["devices"] == [4], where
        # ... and the runner resumes there and trains one more step on the 4 devices
        assert (restore["resumed"], restore["start"], restore["step"]) == (True, STEPS,
                                                                          STEPS + 1), where
        assert restore["final_devices"] == 4 and restore["finite"] and restore["moved"], where

        kernel = r["kernel"]
        assert kernel["k_devices"] == 4 and not kernel["k_local_only"], where  # rows split
        np.testing.assert_allclose(kernel["k"], kernel["local_k"], rtol=1e-5, atol=1e-6,
                                   err_msg=where)
        np.testing.assert_allclose(kernel["loss"], kernel["local_loss"], rtol=1e-6,
                                   err_msg=where)
        np.testing.assert_allclose(kernel["grad"], kernel["local_grad"], rtol=1e-5,
                                   atol=1e-8, err_msg=where)
    assert results[0]["kernel"]["k"] == results[1]["kernel"]["k"]  # one global kernel
