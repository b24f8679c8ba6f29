"""``gd.fit``: train a compiled program on a data source, with checkpoints and resume.

This module sets a run up (run directory, checkpoint store, restore or init) and hands
the steps to :class:`gendsl.run.loop.TrainingLoop`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Mapping

import jax

from gendsl.errors import CheckpointError, ConfigError
from gendsl.run.batches import step_batch
from gendsl.run.checkpoints import CheckpointStore
from gendsl.run.evaluation import Evaluate
from gendsl.run.loop import LoopSettings, TrainingLoop
from gendsl.run.metrics_log import MetricsLog
from gendsl.run.resume import abstract_state, restore_latest
from gendsl.run.run_info import write_json
from gendsl.run.segments import segments
from gendsl.run.signals import stop_on_signals

logger = logging.getLogger("gendsl.run")


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` returns.

    Attributes:
      state: the final train state.
      metrics: the last training metrics and the evaluation metrics (``"eval/..."``).
      run_dir: the run directory.
      step: the final step.
      start_step: the step this call started from (0 unless resumed).
      resumed: whether this call resumed from a checkpoint.
      wall_time_s: seconds this call took.
      fingerprint: the program's fingerprint.
    """

    state: Any
    metrics: dict[str, Any]
    run_dir: Path
    step: int
    start_step: int
    resumed: bool
    wall_time_s: float
    fingerprint: str


def _validate(**values: int) -> None:
    for name, value in values.items():
        low = 0 if name in ("steps", "seed", "eval_every") else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(
                f"fit(..., {name}={value!r}): {name} must be an integer >= {low}."
            )


def fit(
    compiled: Any,
    source: Any,
    *,
    steps: int,
    run_dir: str | Path,
    seed: int = 0,
    checkpoint_every: int = 1000,
    log_every: int = 100,
    eval_every: int = 0,
    max_nonfinite: int = 10,
    evaluate: Evaluate | None = None,
    num_eval_samples: int = 10_000,
    keep_checkpoints: int = 3,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
) -> FitResult:
    """Trains ``compiled`` on ``source`` for ``steps`` steps in ``run_dir``, resuming there.

    Writes ``run_dir/metrics.jsonl``, ``summary.json``, ``samples.png`` and
    ``checkpoints/`` (see docs/running.md). If ``run_dir`` holds checkpoints of the same
    program, training continues from the newest readable one and ends with exactly the
    state an uninterrupted run would have (on the CPU).

    Args:
      compiled: a compiled program (``gd.compile(...)``).
      source: a data source (``batch(index)``, ``batches(start, count)``); for a
        staged program, a sequence of sources, one per stage.
      steps: the step to train to (a resumed run counts the steps already done).
      run_dir: the run directory.
      seed: seeds the initial state (``compiled.init(jax.random.key(seed), ...)``) and
        the evaluation keys.
      checkpoint_every: save a checkpoint every this many steps (and at the end).
      log_every: write a ``metrics.jsonl`` record every this many steps.
      eval_every: also evaluate every this many steps (0: only at the end).
      max_nonfinite: stop after this many consecutive non-finite steps.
      evaluate: ``evaluate(compiled, state, key) -> dict``; by default the source's
        ``evaluate(samples)`` on ``num_eval_samples`` samples, if it has one.
      num_eval_samples: samples drawn for the source's evaluation.
      keep_checkpoints: how many recent checkpoints to keep.
      progress: draw a progress bar on stderr.
      config: a configuration to record in ``run_dir/config.json`` (written once the
        run directory is known to belong to this program).

    Returns:
      a :class:`FitResult`.

    Raises:
      CheckpointMismatchError: ``run_dir`` holds checkpoints of another program.
      NonFiniteError: ``max_nonfinite`` consecutive non-finite steps (after saving).
      TrainingInterrupted: SIGTERM or SIGINT arrived (after saving); its ``exit_code``
        is 143 or 130.
    """
    _validate(
        steps=steps,
        seed=seed,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        eval_every=eval_every,
        max_nonfinite=max_nonfinite,
        num_eval_samples=num_eval_samples,
        keep_checkpoints=keep_checkpoints,
    )
    settings = LoopSettings(
        steps=steps,
        seed=seed,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
        eval_every=eval_every,
        max_nonfinite=max_nonfinite,
        num_eval_samples=num_eval_samples,
        steps_per_call=int(getattr(compiled, "steps_per_call", 1)),
        batches_per_step=int(getattr(compiled, "batches_per_step", 1)),
    )
    started = time.perf_counter()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    writer = jax.process_index() == 0
    with CheckpointStore(run_dir / "checkpoints", keep=keep_checkpoints) as store:
        key = jax.random.key(seed)
        first = segments(compiled, source)[0]
        example = step_batch(first.source, 0, first.batches_per_step)
        restored = None
        if store.steps():  # only then trace init for the abstract state
            restored = restore_latest(
                store,
                abstract_state(compiled, key, example),
                fingerprint=compiled.fingerprint,
                set_aside_to=run_dir / "unreadable_checkpoints",
            )
        state = restored[0] if restored else compiled.init(key, example)
        start = int(jax.device_get(state.step))
        if restored:
            logger.info("resuming from the checkpoint at step %d in %s", start, store.directory)
        if start > steps:
            raise CheckpointError(
                f"The checkpoint in {store.directory} is at step {start}, past steps={steps}. "
                "Ask for at least that many steps, or use another run directory."
            )
        if config is not None and writer:
            write_json(run_dir / "config.json", dict(config))
        log = MetricsLog(run_dir / "metrics.jsonl", enabled=writer)
        log.keep_until(start)
        run = TrainingLoop(
            compiled, source, settings, store, log, run_dir, start, bool(restored), evaluate
        )
        with stop_on_signals() as stop:
            state = run.train(state, stop, progress)
        metrics = run.finish(state, writer)
    wall = time.perf_counter() - started
    if writer:
        write_json(run_dir / "summary.json", run.summary("completed", state, metrics, wall))
    return FitResult(
        state=state,
        metrics=metrics,
        run_dir=run_dir,
        step=int(jax.device_get(state.step)),
        start_step=start,
        resumed=bool(restored),
        wall_time_s=wall,
        fingerprint=compiled.fingerprint,
    )
