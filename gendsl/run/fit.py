"""``gd.fit``: train a compiled program on a data source, with checkpoints and resume.

The loop is written by hand (rather than with a trainer library) because its contract is
specific: chunks aligned to absolute step numbers (see :mod:`gendsl.run.schedule`) so
that a resumed run is bit for bit the uninterrupted one; metrics pulled to the host only
every ``min(log_every, max_nonfinite)`` steps so the device is never synced per step;
and checkpoints before every way out (end, signal, non-finite streak).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax

from gendsl.errors import CheckpointError, ConfigError, NonFiniteError, TrainingInterrupted
from gendsl.run.batches import chunk_batches, step_batch
from gendsl.run.checkpoints import CheckpointStore
from gendsl.run.evaluation import Evaluate, draw_samples, eval_key, evaluate_state
from gendsl.run.metrics_log import MetricsLog, read_records, to_json_value, to_record
from gendsl.run.plots import save_sample_plot, sample_kind
from gendsl.run.progress import Progress
from gendsl.run.resume import abstract_state, restore_latest
from gendsl.run.run_info import gendsl_version, write_json
from gendsl.run.schedule import chunk_end, crosses_multiple
from gendsl.run.signals import StopRequest, stop_on_signals


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


@dataclasses.dataclass(frozen=True)
class _Settings:
    steps: int
    seed: int
    checkpoint_every: int
    log_every: int
    eval_every: int
    max_nonfinite: int
    num_eval_samples: int
    steps_per_call: int
    batches_per_step: int


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
) -> FitResult:
    """Trains ``compiled`` on ``source`` for ``steps`` steps in ``run_dir``, resuming there.

    Writes ``run_dir/metrics.jsonl``, ``summary.json``, ``samples.png`` and
    ``checkpoints/`` (see docs/running.md). If ``run_dir`` holds checkpoints of the same
    program, training continues from the newest readable one and ends with exactly the
    state an uninterrupted run would have (on the CPU).

    Args:
      compiled: a compiled program (``gd.compile(...)``).
      source: a data source (``batch(index)``, ``batches(start, count)``).
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
    settings = _Settings(
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
        example = step_batch(source, 0, settings.batches_per_step)
        restored = restore_latest(
            store,
            abstract_state(compiled, key, example),
            fingerprint=compiled.fingerprint,
            set_aside_to=run_dir / "unreadable_checkpoints",
        )
        state = restored[0] if restored else compiled.init(key, example)
        start = int(jax.device_get(state.step))
        if start > steps:
            raise CheckpointError(
                f"The checkpoint in {store.directory} is at step {start}, past steps={steps}. "
                "Ask for at least that many steps, or use another run directory."
            )
        log = MetricsLog(run_dir / "metrics.jsonl", enabled=writer)
        log.keep_until(start)
        run = _Run(compiled, source, settings, store, log, run_dir, start, bool(restored), evaluate)
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


class _Run:
    """The mutable bookkeeping of one :func:`fit` call (pending device metrics, the
    latest host metrics); created and discarded inside it."""

    def __init__(self, compiled, source, settings, store, log, run_dir, start, resumed, evaluate):
        self.compiled = compiled
        self.source = source
        self.settings = settings
        self.store = store
        self.log = log
        self.run_dir = run_dir
        self.start = start
        self.resumed = resumed
        self.evaluate = evaluate
        self.started = time.perf_counter()
        self.pending: list[tuple[int, int, Any]] = []
        self.latest: dict[str, Any] = {}

    # -- the loop ---------------------------------------------------------------------

    def train(self, state: Any, stop: StopRequest, progress: bool) -> Any:
        s = self.settings
        bar = Progress(s.steps, self.start, enabled=progress)
        step, synced = self.start, self.start
        sync_every = min(s.log_every, s.max_nonfinite)
        try:
            while step < s.steps and not stop.requested:
                end = chunk_end(
                    step,
                    total=s.steps,
                    steps_per_call=s.steps_per_call,
                    checkpoint_every=s.checkpoint_every,
                    eval_every=s.eval_every,
                )
                state = self._run_chunk(state, step, end)
                bar.advance(end - step)
                previous, step = step, end
                at_checkpoint = crosses_multiple(previous, step, s.checkpoint_every)
                at_eval = crosses_multiple(previous, step, s.eval_every)
                if (step - synced >= sync_every or step == s.steps or at_checkpoint
                        or at_eval or stop.requested):
                    self._sync(state, step)
                    bar.show(self.latest)
                    synced = step
                if at_checkpoint and step < s.steps:
                    self._save(state, step)
                if at_eval and step < s.steps:
                    self._evaluate(state, step)
        finally:
            bar.close()
        if stop.requested:
            self._save(state, step)
            self.store.wait()
            self._write_summary("interrupted", state, step)
            raise TrainingInterrupted(
                f"Received {stop.signal_name}: saved a checkpoint at step {step} in "
                f"{self.store.directory} and stopped. Run the same command again to resume.",
                signal_number=stop.signal_number,
                step=step,
            )
        return state

    def _run_chunk(self, state: Any, start: int, end: int) -> Any:
        bps = self.settings.batches_per_step
        place = getattr(self.compiled, "shard_batch", lambda batch: batch)
        if end - start == 1:
            state, metrics = self.compiled.step(state, place(step_batch(self.source, start, bps)))
            self.pending.append((start, 1, {k: v[None] for k, v in metrics.items()}))
        else:
            batches = place(chunk_batches(self.source, start, end - start, bps))
            state, metrics = self.compiled.step_many(state, batches)
            self.pending.append((start, end - start, metrics))
        return state

    def _sync(self, state: Any, step: int) -> None:
        """Pulls pending metrics to the host, logs them, and stops on a non-finite streak."""
        pending, self.pending = self.pending, []
        host, streak = jax.device_get(([m for _, _, m in pending], state.nonfinite_streak))
        records = []
        for (first, count, _), metrics in zip(pending, host):
            for i in range(count):
                done = first + i + 1
                values = {name: value[i] for name, value in metrics.items()}
                logged = done % self.settings.log_every == 0 or done == self.settings.steps
                if logged or to_json_value(values.get("nonfinite", 0)):
                    records.append(to_record(done, values))
                self.latest = to_record(done, values)
        self.log.write(records)
        streak = int(streak)
        if streak >= self.settings.max_nonfinite:
            self._save(state, step)
            self.store.wait()
            self._write_summary("nonfinite", state, step)
            raise NonFiniteError(
                f"{streak} consecutive non-finite steps (losses or updates were NaN or "
                f"infinite), reaching max_nonfinite={self.settings.max_nonfinite} at step "
                f"{step}. Those updates were not applied: the checkpoint at step {step} in "
                f"{self.store.directory} holds the last good parameters, and "
                f"{self.log.path} lists every non-finite step. Lower the learning rate, "
                "clip gradients or check the data; rerunning resumes from that checkpoint."
            )

    # -- checkpoints, evaluation, summary ----------------------------------------------

    def _save(self, state: Any, step: int) -> None:
        if self.store.latest() == step:
            return
        s = self.settings
        self.store.save(
            step,
            state,
            {
                "fingerprint": self.compiled.fingerprint,
                "step": step,
                "data_position": step * s.batches_per_step,
                "batches_per_step": s.batches_per_step,
                "steps_per_call": s.steps_per_call,
                "seed": s.seed,
                "gendsl_version": gendsl_version(),
            },
        )

    def _evaluate(self, state: Any, step: int) -> tuple[dict[str, Any], Any]:
        results, samples = evaluate_state(
            self.compiled,
            self.source,
            state,
            eval_key(self.settings.seed, step),
            evaluate=self.evaluate,
            num_samples=self.settings.num_eval_samples,
        )
        results = {f"eval/{name}": value for name, value in results.items()}
        if results:
            self.log.write([to_record(step, results)])
        return to_record(step, results), samples

    def finish(self, state: Any, writer: bool) -> dict[str, Any]:
        """Saves the final checkpoint, evaluates, draws ``samples.png``; returns the final
        metrics (last training metrics and evaluation)."""
        step = int(jax.device_get(state.step))
        self._save(state, step)
        evaluation, samples = self._evaluate(state, step)
        if writer:
            self._plot(state, step, samples)
        self.store.wait()
        train = self.latest or next(
            (r for r in reversed(read_records(self.log.path))
             if r["step"] == step and not any(k.startswith("eval/") for k in r)),
            {},
        )
        return {**{k: v for k, v in train.items() if k != "step"},
                **{k: v for k, v in evaluation.items() if k != "step"}}

    def _plot(self, state: Any, step: int, samples: Any) -> None:
        if samples is None and hasattr(self.compiled, "sample"):
            images = getattr(self.source, "sample_kind", None) == "images"
            count = 64 if images else min(self.settings.num_eval_samples, 2000)
            samples = draw_samples(
                self.compiled, state, eval_key(self.settings.seed, step), count
            )
        if samples is not None and sample_kind(samples, self.source):
            save_sample_plot(
                self.run_dir / "samples.png", samples[:2000], self.source, f"step {step}"
            )

    def summary(self, status: str, state: Any, metrics: dict[str, Any], wall: float) -> dict:
        """The contents of ``summary.json``."""
        s = self.settings
        step = int(jax.device_get(state.step))
        return {
            "status": status,
            "fingerprint": self.compiled.fingerprint,
            "step": step,
            "steps": s.steps,
            "start_step": self.start,
            "resumed": self.resumed,
            "wall_time_s": wall,
            "steps_per_second": (step - self.start) / wall if wall > 0 else None,
            "metrics": metrics,
            "nonfinite_total": int(jax.device_get(state.nonfinite_total)),
            "data_position": step * s.batches_per_step,
            "seed": s.seed,
            "steps_per_call": s.steps_per_call,
            "batches_per_step": s.batches_per_step,
            "gendsl_version": gendsl_version(),
        }

    def _write_summary(self, status: str, state: Any, step: int) -> None:
        if jax.process_index() == 0:
            metrics = {k: v for k, v in self.latest.items() if k != "step"}
            wall = time.perf_counter() - self.started
            write_json(self.run_dir / "summary.json", self.summary(status, state, metrics, wall))
