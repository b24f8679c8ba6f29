"""The training loop behind :func:`gendsl.run.fit`.

The loop is written by hand (rather than with a trainer library) because its contract is
specific: chunks aligned to absolute step numbers (see :mod:`gendsl.run.schedule`) so
that a resumed run is bit for bit the uninterrupted one; metrics pulled to the host only
every ``min(log_every, max_nonfinite)`` steps (and at checkpoints, evaluations, the end)
so the device is never synced per step; and a checkpoint before every way out (end,
signal, non-finite streak). At each chunk boundary the loop also fires the faults that
``GENDSL_FAULT`` asks for (:mod:`gendsl.run.fault`, for kill and resume tests).
"""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import jax

from gendsl.errors import NonFiniteError, TrainingInterrupted
from gendsl.run.batches import chunk_batches, step_batch
from gendsl.run.checkpoints import CheckpointStore
from gendsl.run.distributed import agreed_signal
from gendsl.run.evaluation import (Evaluate, Report, draw_samples, eval_key, evaluate_state,
                                   run_report)
from gendsl.run.fault import faults_from_env
from gendsl.run.metrics_log import MetricsLog, read_records, to_json_value, to_record
from gendsl.run.plots import sample_kind, save_sample_plot
from gendsl.run.progress import Progress
from gendsl.run.resume import STATE_LAYOUT
from gendsl.run.sample_files import sample_path
from gendsl.run.run_info import device_layout, gendsl_version, write_json
from gendsl.run.schedule import chunk_end, crosses_multiple
from gendsl.run.segments import Segment, segment_at
from gendsl.run.settings import LoopSettings
from gendsl.run.signals import StopNow, StopRequest
from gendsl.run.stepper import RunState, Stepper
from gendsl.run.tensorboard import TensorBoardLog
from gendsl.sharding import local_rows


class TrainingLoop:
    """The loop of one :func:`gendsl.run.fit` call and its bookkeeping (metrics pending on
    the device, the latest host metrics); created and discarded inside that call."""

    def __init__(
        self,
        stepper: Stepper,
        segments: tuple[Segment, ...],
        settings: LoopSettings,
        store: CheckpointStore,
        log: MetricsLog,
        run_dir: Path,
        start: int,
        resumed: bool,
        evaluate: Evaluate | None,
        *,
        board: TensorBoardLog | None = None,
        report: Report | None = None,
    ):
        self.stepper = stepper
        self.segments = segments
        self.source = self.segments[-1].source  # evaluation and plots use the last stage's
        self.settings = settings
        self.store = store
        self.log = log
        self.run_dir = run_dir
        self.start = start
        self.resumed = resumed
        self.evaluate = evaluate
        self.report = report
        self.board = board or TensorBoardLog(run_dir / "tensorboard", start=start, enabled=False)
        self.started = time.perf_counter()
        # (first step, steps, metrics on the device; stacked on a leading axis if steps > 1)
        self.pending: list[tuple[int, int, Any]] = []
        self.latest: dict[str, Any] = {}
        self.faults = faults_from_env(process=jax.process_index())  # None unless asked
        # several processes: each builds only its rows of the batch, and they agree on
        # when to stop (a signal may reach one of them only, or each at another step)
        self.multiprocess = jax.process_count() > 1 and stepper.mesh is not None

    # -- the loop ---------------------------------------------------------------------

    def train(self, state: RunState, stop: StopRequest, progress: bool) -> RunState:
        """Runs the steps from ``self.start`` to ``settings.steps``; returns the state.

        Raises:
          TrainingInterrupted: ``stop`` was requested (after saving a checkpoint).
          NonFiniteError: too many consecutive non-finite steps (after saving).
        """
        s = self.settings
        bar = Progress(s.steps, self.start, enabled=progress)
        step, synced = self.start, self.start
        sync_every = min(s.log_every, s.max_nonfinite)
        try:
            while step < s.steps and not self._stopping(stop):
                segment_end = segment_at(self.segments, step).end
                end = chunk_end(
                    step,
                    total=s.steps if segment_end is None else min(s.steps, segment_end),
                    steps_per_call=s.steps_per_call,
                    checkpoint_every=s.checkpoint_every,
                    eval_every=s.eval_every,
                )
                state = self._run_chunk(state, step, end)
                previous, step = step, end
                at_checkpoint = crosses_multiple(previous, step, s.checkpoint_every)
                at_eval = crosses_multiple(previous, step, s.eval_every)
                if (step - synced >= sync_every or step == s.steps or at_checkpoint
                        or at_eval or stop.requested):
                    try:
                        self._sync(state, step)
                    finally:  # the bar reaches this step with its metrics, in one redraw
                        bar.advance(step - previous, self.latest)
                    synced = step
                else:
                    bar.advance(step - previous)
                if at_checkpoint and step < s.steps:
                    self._save(state, step)
                if at_eval and step < s.steps:
                    self._log_evaluation(self._evaluate(state, step))
                if self.faults is not None:
                    for fault in self.faults:
                        if fault.due(previous, step):
                            self.store.wait()  # saves begun are on disk: a kill lands between
                            fault.fire()
            self._stopping(stop)  # the same answer on every process after the last chunk
        finally:
            bar.close()
        if stop.requested:
            if self.pending:  # a signal after this chunk's sync check: log its metrics
                self._sync(state, step)
            raise self._interrupted(state, step, stop, "")
        return state

    def _stopping(self, stop: StopRequest) -> bool:
        """Whether to stop: a signal arrived (in any process, when there are several;
        this is then a collective, called at the same point by every process)."""
        if self.multiprocess:
            agreed = agreed_signal(stop.signal_number)
            if agreed is not None and not stop.requested:
                stop.adopt(agreed)
        return stop.requested

    def _rows(self, source: Any) -> tuple[int, int] | None:
        """This process's rows of each of ``source``'s batches (None: all of them)."""
        if not self.multiprocess:
            return None
        return local_rows(self.stepper.mesh, int(source.batch_size))

    def _interrupted(self, state: RunState, step: int, stop: StopRequest,
                     during: str) -> TrainingInterrupted:
        """Saves (unless saved), waits for the save, writes an "interrupted" summary and
        returns the error to raise."""
        self._save(state, step)
        self.store.wait()
        self._write_summary("interrupted", state, step)
        if during:
            done = (f"Received {stop.signal_name} during {during}: the checkpoint at step "
                    f"{step} in {self.store.directory} is saved and the run stopped before "
                    "finishing. Run the same command again to evaluate and finish it.")
        else:
            done = (f"Received {stop.signal_name}: saved a checkpoint at step {step} in "
                    f"{self.store.directory} and stopped. Run the same command again to "
                    "resume.")
        return TrainingInterrupted(done, signal_number=stop.signal_number, step=step)

    def _run_chunk(self, state: RunState, start: int, end: int) -> RunState:
        seg = segment_at(self.segments, start)
        phase, source, bps = seg.phase, seg.source, seg.batches_per_step
        extra = int(bps > 1)  # a step that reads several batches stacks them on an axis
        first = seg.local(start)
        rows = self._rows(source)
        # this process's rows of a global batch of batch_size rows
        local = {} if rows is None else {"global_rows": int(source.batch_size)}
        if end - start == 1:
            batch = step_batch(source, first, bps, rows=rows)
            state, metrics = phase.step(state, phase.shard_batch(batch, stacked=extra, **local))
        else:
            batches = chunk_batches(source, first, end - start, bps, rows=rows)
            state, metrics = phase.step_many(
                state, phase.shard_batch(batches, stacked=1 + extra, **local))
        self.pending.append((start, end - start, metrics))
        return state

    def _sync(self, state: RunState, step: int) -> None:
        """Pulls pending metrics to the host, logs them, and stops on a non-finite streak."""
        pending, self.pending = self.pending, []
        host, streak = jax.device_get(([m for _, _, m in pending], state.nonfinite_streak))
        records = []
        for (first, count, _), metrics in zip(pending, host):
            for i in range(count):
                done = first + i + 1
                values = metrics if count == 1 else {k: v[i] for k, v in metrics.items()}
                logged = done % self.settings.log_every == 0 or done == self.settings.steps
                if logged or to_json_value(values.get("nonfinite", 0)):
                    records.append(to_record(done, values))
                self.latest = to_record(done, values)
        self._log(records)
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
                "clip gradients or check the data, then rerun: it resumes from that "
                "checkpoint (a rerun with an unchanged config is refused; a changed config "
                "needs --allow-changes, allow_changes=True)."
            )

    # -- checkpoints, evaluation, summary ----------------------------------------------

    def _position(self, step: int) -> dict[str, Any]:
        """The data position after ``step`` steps (within its stage, for staged runs)."""
        seg = segment_at(self.segments, max(step - 1, 0))
        out = {"data_position": seg.local(step) * seg.batches_per_step,
               "batches_per_step": seg.batches_per_step}
        return {**out, "stage": seg.name} if seg.name else out

    def _save(self, state: RunState, step: int) -> None:
        if self.store.latest() == step:
            return
        s = self.settings
        parts = getattr(self.stepper, "fingerprint_parts", None)  # optional (stand-ins)
        self.store.save(
            step,
            state.tree(),
            {
                "fingerprint": self.stepper.fingerprint,
                **({"fingerprint_parts": dict(parts)} if parts is not None else {}),
                "state_layout": STATE_LAYOUT,
                "step": step,
                **self._position(step),
                "steps_per_call": s.steps_per_call,
                "seed": s.seed,
                "gendsl_version": gendsl_version(),
                **device_layout(getattr(self.stepper, "mesh", None)),
            },
        )

    def _log(self, records: list[dict[str, Any]]) -> None:
        """Writes records to ``metrics.jsonl`` and, as scalars, to TensorBoard."""
        self.log.write(records)
        self.board.scalars(records)

    def _evaluate(self, state: RunState, step: int) -> dict[str, Any]:
        """Evaluates and (process 0) draws the samples; returns the evaluation record,
        which the caller logs (:meth:`_log_evaluation`)."""
        results, samples = evaluate_state(
            self.stepper,
            self.source,
            state,
            eval_key(self.settings.seed, step),
            evaluate=self.evaluate,
            num_samples=self.settings.num_eval_samples,
        )
        results = {f"eval/{name}": value for name, value in results.items()}
        if jax.process_index() == 0:
            self._plot(state, step, samples)
        return to_record(step, results)

    def _log_evaluation(self, record: dict[str, Any]) -> None:
        if len(record) > 1:  # more than its step
            self._log([record])

    def finish(self, state: RunState, stop: StopRequest) -> dict[str, Any]:
        """Saves the final checkpoint, evaluates and draws the samples; returns the final
        metrics (last training metrics and evaluation).

        Raises:
          TrainingInterrupted: ``stop`` was requested before or during the evaluation
            or the plot (which a signal cuts short); the final checkpoint is saved and
            ``summary.json`` says "interrupted".
        """
        step = int(jax.device_get(state.step))
        self._save(state, step)
        try:
            with stop.interrupting():
                evaluation = self._evaluate(state, step)
                if self.report is not None and jax.process_index() == 0:
                    evaluation.update(run_report(self.report, self.stepper, state,
                                                 self.run_dir))
        except StopNow:
            raise self._interrupted(state, step, stop, "the final evaluation") from None
        self._log_evaluation(evaluation)  # only once complete: a rerun evaluates again
        self.store.wait()
        train = self.latest or next(
            (r for r in reversed(read_records(self.log.path))
             if r["step"] == step and not any(k.startswith("eval/") for k in r)),
            {},
        )
        return {**{k: v for k, v in train.items() if k != "step"},
                **{k: v for k, v in evaluation.items() if k != "step"}}

    def _plot(self, state: RunState, step: int, samples: Any) -> None:
        """Draws ``samples/step_XXXXXX.png`` (sampling if the evaluation drew no samples),
        copies it to ``samples.png`` and sends it to TensorBoard."""
        if samples is None and self.stepper.has_samples:
            images = getattr(self.source, "sample_kind", None) == "images"
            count = 64 if images else min(self.settings.num_eval_samples, 2000)
            samples = draw_samples(
                self.stepper, state, eval_key(self.settings.seed, step), count
            )
        if samples is None or not sample_kind(samples, self.source):
            return
        path = sample_path(self.run_dir, step)
        try:
            path.parent.mkdir(exist_ok=True)
            if not save_sample_plot(path, samples[:2000], self.source, f"step {step}"):
                return
            shutil.copyfile(path, self.run_dir / "samples.png")
            self.board.image("samples", path, step)
        except Exception as error:  # a picture is not worth losing a run over
            warnings.warn(
                f"Could not draw {path} from samples of shape {samples.shape}: {error}",
                RuntimeWarning,
                stacklevel=2,
            )

    def summary(self, status: str, state: RunState, metrics: dict[str, Any], wall: float) -> dict:
        """The contents of ``summary.json``."""
        s = self.settings
        step = int(jax.device_get(state.step))
        return {
            "status": status,
            "fingerprint": self.stepper.fingerprint,
            "step": step,
            "steps": s.steps,
            "start_step": self.start,
            "resumed": self.resumed,
            "wall_time_s": wall,
            "steps_per_second": (step - self.start) / wall if wall > 0 else None,
            "metrics": metrics,
            "nonfinite_total": int(jax.device_get(state.nonfinite_total)),
            **self._position(step),
            "seed": s.seed,
            "steps_per_call": s.steps_per_call,
            "gendsl_version": gendsl_version(),
        }

    def _write_summary(self, status: str, state: RunState, step: int) -> None:
        if jax.process_index() == 0:
            metrics = {k: v for k, v in self.latest.items() if k != "step"}
            wall = time.perf_counter() - self.started
            write_json(self.run_dir / "summary.json", self.summary(status, state, metrics, wall))
