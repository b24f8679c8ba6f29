"""Stand-ins for a compiled program and a data source, for the runner's tests.

``FakeCompiled`` implements the runner's ``Stepper`` protocol (one phase: init,
abstract_state, step, step_many, sample, evaluate, fingerprint, batches_per_step, mesh,
shard_batch) over a real ``TrainState``: a linear generator ``z @ w + b`` trained with
Adam to match the mean and covariance of 2-D data. Steps listed in ``nan_steps`` (0-based
step numbers) produce a NaN loss; such steps are not applied, as the real compiler does.
``FakeSource`` is a deterministic 4-Gaussian mixture.

Run as a script for subprocess tests::

    python tests/run_fakes.py fit RUN_DIR --steps 60 [--checkpoint-every N] ...
    python tests/run_fakes.py cli run PROGRAM.py ...   # gendsl.cli.main with fake_compile
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import os
import signal
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gendsl.compiler.state import TrainState
from gendsl.sharding import abstract_on

CENTERS = np.array([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]], dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class FakeProgram:
    """What a fake program file's build returns as ``Experiment.program``."""

    lr: float = 0.05
    nan_steps: tuple[int, ...] = ()
    batches_per_step: int = 1
    name: str = "fake"


@dataclasses.dataclass(frozen=True)
class FakeSource:
    """A mixture of 4 Gaussians; batch ``i`` is a pure function of ``(seed, i)``.

    ``delay_s`` slows every batch down; ``signal_at`` sends ``signal_number`` to this
    process when batch ``signal_at`` is read; with ``gate`` (a file path) reading batch
    ``gate_at`` or a later one waits until that file exists (for tests that must hold a
    run mid-way without racing the clock).
    """

    batch_size: int = 64
    seed: int = 0
    delay_s: float = 0.0
    signal_at: int | None = None
    signal_number: int = signal.SIGTERM
    sample_kind: str = "points2d"
    gate: str | None = None
    gate_at: int = 0

    def batch(self, index: int) -> dict[str, np.ndarray]:
        if self.delay_s:
            time.sleep(self.delay_s)
        while self.gate is not None and index >= self.gate_at and not os.path.exists(self.gate):
            time.sleep(0.01)  # waits on the test, which opens the gate when it is done
        if self.signal_at is not None and index == self.signal_at:
            os.kill(os.getpid(), self.signal_number)
        rng = np.random.default_rng([self.seed, index])
        which = rng.integers(0, len(CENTERS), self.batch_size)
        noise = rng.normal(0.0, 0.1, (self.batch_size, 2)).astype(np.float32)
        return {"x": CENTERS[which] + noise}

    def batches(self, start: int, count: int) -> dict[str, np.ndarray]:
        parts = [self.batch(i) for i in range(start, start + count)]
        return {k: np.stack([p[k] for p in parts]) for k in parts[0]}

    def evaluate(self, samples: np.ndarray) -> dict[str, float]:
        """Distance of the sample mean from the data mean (0), and the sample count."""
        return {"mean_error": float(np.linalg.norm(samples.mean(axis=0))),
                "num_samples": int(len(samples))}


class FakeCompiled:
    """A compiled-program stand-in over a real TrainState (see the module docstring).

    The jitted functions are shared by every instance of the same program (so tests that
    build many instances compile once).
    """

    name, start, end, total_steps, has_samples = "", 0, None, None, True

    def __init__(self, program: FakeProgram = FakeProgram(), *, mesh=None):
        self.program = program
        self.mesh = mesh
        self.batches_per_step = program.batches_per_step
        self.fingerprint = hashlib.sha256(repr(program).encode()).hexdigest()[:16]
        self.init, self.step, self.step_many, self.sample = _jitted(program)
        self.phases = (self,)

    def abstract_state(self, key, example_batch):
        return abstract_on(jax.eval_shape(self.init, key, example_batch), self.mesh)

    def evaluate(self, state, batch, key=None):
        return {}

    def shard_batch(self, batch, *, stacked=0):
        return jax.device_put(batch)


@functools.lru_cache(maxsize=None)
def _jitted(program: FakeProgram):
    optimizer = optax.adam(program.lr)
    nan_steps = np.asarray(program.nan_steps or (-1,), np.int32)

    def init(key, example_batch):
        del example_batch
        k_w, k_state = jax.random.split(key)
        params = {"G": {"w": 0.1 * jax.random.normal(k_w, (2, 2)), "b": jnp.zeros(2)}}
        zero = jnp.zeros((), jnp.int32)
        return TrainState.create(
            step=zero,
            params=params,
            opt_state={"G": optimizer.init(params["G"])},
            ema={"G": params["G"]},
            key=k_state,
            nonfinite_streak=zero,
            nonfinite_total=zero,
        )

    def step(state, batch):
        x = batch["x"].reshape(-1, 2)
        key, k_z = jax.random.split(state.key)
        z = jax.random.normal(k_z, x.shape)
        poison = jnp.where(jnp.isin(state.step, nan_steps), jnp.nan, 1.0)

        def loss_fn(p):
            fake = z @ p["w"] + p["b"]
            mean_gap = jnp.sum((fake.mean(0) - x.mean(0)) ** 2)
            cov_gap = jnp.sum((jnp.cov(fake.T) - jnp.cov(x.T)) ** 2)
            return (mean_gap + cov_gap) * poison

        params = state.params["G"]
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, state.opt_state["G"], params)
        finite = jnp.isfinite(loss) & jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(u)) for u in jax.tree.leaves(updates)])
        )
        def keep(new, old):
            return jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)

        new_params = keep(optax.apply_updates(params, updates), params)
        ema = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * p, state.ema["G"], new_params)
        bad = (~finite).astype(jnp.int32)
        state = TrainState.create(
            step=state.step + 1,
            params={"G": new_params},
            opt_state={"G": keep(opt_state, state.opt_state["G"])},
            ema={"G": ema},
            key=key,
            nonfinite_streak=jnp.where(finite, 0, state.nonfinite_streak + 1),
            nonfinite_total=state.nonfinite_total + bad,
        )
        return state, {"G/loss": loss, "nonfinite": bad}

    def sample(state, key, n):
        p = state.params["G"]
        return jax.random.normal(key, (n, 2)) @ p["w"] + p["b"]

    return (
        jax.jit(init),
        jax.jit(step, donate_argnums=0),
        jax.jit(lambda state, batches: jax.lax.scan(step, state, batches), donate_argnums=0),
        jax.jit(sample, static_argnums=2),
    )


def fake_compile(program: FakeProgram, *, mesh=None) -> FakeCompiled:
    """The stand-in for ``gendsl.compiler.compile``."""
    return FakeCompiled(program, mesh=mesh)


def host_tree(tree):
    """A pytree as numpy arrays, typed keys as their key data (for bitwise comparison)."""
    def to_host(leaf):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        return np.asarray(leaf)
    return jax.tree.map(to_host, tree)


def assert_trees_bitwise_equal(a, b):
    """Every leaf of ``a`` equals ``b``'s bit for bit (NaNs included)."""
    a, b = host_tree(a), host_tree(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


def _main(argv):
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    fit_cmd = commands.add_parser("fit")
    fit_cmd.add_argument("run_dir")
    fit_cmd.add_argument("--steps", type=int, required=True)
    fit_cmd.add_argument("--checkpoint-every", type=int, default=1000)
    fit_cmd.add_argument("--log-every", type=int, default=10)
    fit_cmd.add_argument("--steps-per-call", type=int, default=1)
    fit_cmd.add_argument("--delay", type=float, default=0.0)
    fit_cmd.add_argument("--gate", default=None)
    fit_cmd.add_argument("--gate-at", type=int, default=0)
    cli_cmd = commands.add_parser("cli")
    cli_cmd.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "cli":
        from gendsl.cli import main

        return main(args.args, compile_fn=fake_compile)
    from gendsl.errors import TrainingInterrupted
    from gendsl.run import fit

    try:
        _fit_from_args(fit, args)
    except TrainingInterrupted as stopped:  # exit as the gendsl command does
        return stopped.exit_code
    return 0


def _fit_from_args(fit, args):
    fit(
        FakeCompiled(),
        FakeSource(delay_s=args.delay, gate=args.gate, gate_at=args.gate_at),
        steps=args.steps,
        steps_per_call=args.steps_per_call,
        run_dir=args.run_dir,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        progress=False,
    )


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
