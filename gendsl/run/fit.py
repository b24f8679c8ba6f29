"""``gd.fit``: train a compiled program on a data source, with checkpoints and resume.

This module sets a run up (run directory, checkpoint store, restore or init) and hands
the steps to :class:`gendsl.run.loop.TrainingLoop`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any, Mapping

import jax

from gendsl.errors import CheckpointError, ConfigError
from gendsl.run.batches import step_batch
from gendsl.run.checkpoints import CheckpointStore
from gendsl.run.config_history import (
    accepted_fingerprint_change,
    config_changes,
    current_config,
    read_history,
    record_changes,
    refuse_changes,
    write_config_once,
)
from gendsl.run.evaluation import Evaluate
from gendsl.run.lock import RunDirLock
from gendsl.run.loop import TrainingLoop
from gendsl.run.metrics_log import MetricsLog
from gendsl.run.resume import restore_latest
from gendsl.run.run_info import write_json
from gendsl.run.segments import segments
from gendsl.run.settings import RUN_MANAGEMENT_KEYS, LoopSettings
from gendsl.run.signals import stop_on_signals
from gendsl.run.stepper import Stepper, check_stepper

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


def _finished_summary(run_dir: Path, fingerprint: str, step: int) -> dict[str, Any] | None:
    """``run_dir/summary.json`` if it records this program's run completed at ``step``
    (else None: e.g. a run stopped during its final evaluation is finished again)."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    done = (summary.get("status") == "completed" and summary.get("step") == step
            and summary.get("fingerprint") == fingerprint)
    return summary if done and isinstance(summary.get("metrics"), dict) else None


def _identity_changes(run_dir: Path, store: CheckpointStore, config: Mapping[str, Any] | None,
                      settings: LoopSettings) -> dict[str, tuple[Any, Any]]:
    """What a resume in ``run_dir`` would change of the run's identity: the config keys
    other than ``RUN_MANAGEMENT_KEYS`` (when both this call and the run have a config),
    and the identity settings (``seed``, ``steps_per_call``) against the run's config or,
    without one, its newest checkpoint's metadata and the recorded changes. ``{}`` for a
    new run directory."""
    recorded = current_config(run_dir)
    changes = config_changes(recorded, config) if (
        recorded is not None and config is not None) else {}
    if recorded is None and not store.steps():
        return changes
    metadata = None
    for name in sorted(set(LoopSettings.names()) - RUN_MANAGEMENT_KEYS):
        if recorded is not None and name in recorded:
            old = recorded[name]
        else:  # the newest checkpoint's, unless a later accepted change says otherwise
            if metadata is None:
                metadata = _newest_metadata(store)
                for entry in read_history(run_dir):
                    metadata.update({k: new for k, (_, new) in entry["changes"].items()})
            old = metadata.get(name)
        new = getattr(settings, name)
        if name not in changes and old is not None and old != new:
            changes[name] = (old, new)
    return dict(sorted(changes.items()))


def _newest_metadata(store: CheckpointStore) -> dict[str, Any]:
    """The metadata of the newest checkpoint whose metadata reads (``{}`` if none)."""
    for step in reversed(store.steps()):
        try:
            return store.metadata(step)
        except Exception:  # a damaged checkpoint: restore_latest sets it aside
            continue
    return {}


def fit(
    compiled: Stepper,
    source: Any,
    *,
    run_dir: str | Path,
    evaluate: Evaluate | None = None,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
    allow_changes: bool = False,
    **settings: Any,
) -> FitResult:
    """Trains ``compiled`` on ``source`` in ``run_dir``, resuming there.

    Writes ``run_dir/metrics.jsonl``, ``summary.json``, ``samples.png`` and
    ``checkpoints/`` (see docs/running.md). If ``run_dir`` holds checkpoints of the same
    program, training continues from the newest readable one and ends with exactly the
    state an uninterrupted run would have (on the CPU). A run that already completed
    ``steps`` is left as it was: nothing is trained, evaluated or written, and the
    result carries the metrics of its ``summary.json``.

    Args:
      compiled: a compiled program (``gd.compile(...)``), or anything implementing
        the :class:`~gendsl.run.stepper.Stepper` protocol.
      source: a data source (``batch(index)``, ``batches(start, count)``); for a
        staged program, a sequence of sources, one per stage.
      run_dir: the run directory.
      evaluate: ``evaluate(compiled, state, key) -> dict``; by default the source's
        ``evaluate(samples)`` on ``num_eval_samples`` samples, if it has one.
      progress: draw a progress bar on stderr.
      config: a configuration to record in ``run_dir/config.json`` (written once, when
        the run directory is first used, and never rewritten). On a resume it is
        compared with the run's config (``config.json`` with ``config_history.jsonl``
        applied); keys other than the run-management ones (``steps``,
        ``checkpoint_every``, ...) must not change.
      allow_changes: resume even though the config, ``seed``, ``steps_per_call`` or the
        program's fingerprint changed (the checkpoint must still fit the program's
        state); the change is appended to ``run_dir/config_history.jsonl``.
      **settings: the loop's settings, each a field of
        :class:`~gendsl.run.settings.LoopSettings`: ``steps`` (required),
        ``seed``, ``steps_per_call``, ``checkpoint_every``, ``log_every``,
        ``eval_every``, ``max_nonfinite``, ``num_eval_samples``, ``keep_checkpoints``.

    Returns:
      a :class:`FitResult`.

    Raises:
      ConfigError: an unknown or invalid setting, or ``compiled`` is not a stepper.
      RunDirLockedError: another live process is training in ``run_dir``.
      ConfigChangedError: a resume would change the run's config, ``seed`` or
        ``steps_per_call``, and ``allow_changes`` is False (nothing is written).
      CheckpointMismatchError: ``run_dir`` holds checkpoints of another program (and
        ``allow_changes`` is False, or its state does not fit this program's).
      NonFiniteError: ``max_nonfinite`` consecutive non-finite steps (after saving).
      TrainingInterrupted: SIGTERM or SIGINT arrived (after saving); its ``exit_code``
        is 143 or 130.
    """
    if "steps" not in settings:
        raise ConfigError("fit() needs steps=N, the step to train to")
    settings = LoopSettings.create(**settings)
    check_stepper(compiled)
    started = time.perf_counter()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    writer = jax.process_index() == 0
    # one run at a time in a run directory (the writer's lock; see run/lock.py)
    with RunDirLock(run_dir) if writer else contextlib.nullcontext():
        with CheckpointStore(run_dir / "checkpoints", keep=settings.keep_checkpoints) as store:
            key = jax.random.key(settings.seed)
            segs = segments(compiled, source)
            example = step_batch(segs[0].source, 0, segs[0].batches_per_step)
            # a resume must not change the run's identity unless allowed (checked before
            # anything in the run directory is read into the state or written)
            changes = _identity_changes(run_dir, store, config, settings)
            if changes and not allow_changes:
                refuse_changes(run_dir, changes)
            restored = None
            if store.steps():  # only then trace init for the abstract state
                abstract = compiled.abstract_state(key, example)
                restored = restore_latest(
                    store,
                    abstract.tree(),
                    fingerprint=compiled.fingerprint,
                    set_aside_to=run_dir / "unreadable_checkpoints",
                    fingerprint_parts=getattr(compiled, "fingerprint_parts", None),
                    accept=lambda saved: allow_changes or accepted_fingerprint_change(
                        run_dir, saved, compiled.fingerprint),
                )
            state = abstract.from_tree(restored[0]) if restored else compiled.init(key, example)
            start = int(jax.device_get(state.step))
            if restored:
                logger.info("resuming from the checkpoint at step %d in %s", start,
                            store.directory)
            if start > settings.steps:
                raise CheckpointError(
                    f"The checkpoint in {store.directory} is at step {start}, past "
                    f"steps={settings.steps}. Ask for at least that many steps, or use another "
                    "run directory."
                )
            finished = _finished_summary(run_dir, compiled.fingerprint, start) if (
                restored and start == settings.steps) else None
            if finished is not None:  # nothing to do: leave the run directory as it was
                logger.info("the run in %s is complete at step %d", run_dir, start)
                return FitResult(state=state, metrics=finished["metrics"], run_dir=run_dir,
                                 step=start, start_step=start, resumed=True,
                                 wall_time_s=time.perf_counter() - started,
                                 fingerprint=compiled.fingerprint)
            if writer:
                if config is not None:
                    write_config_once(run_dir, config)
                saved = restored[1].get("fingerprint") if restored else compiled.fingerprint
                moved = saved != compiled.fingerprint and not accepted_fingerprint_change(
                    run_dir, saved, compiled.fingerprint)
                if changes or moved:
                    record_changes(run_dir, step=start, changes=changes,
                                   fingerprint=(saved, compiled.fingerprint) if moved else None)
            log = MetricsLog(run_dir / "metrics.jsonl", enabled=writer)
            log.keep_until(start)
            run = TrainingLoop(
                compiled, segs, settings, store, log, run_dir, start, bool(restored), evaluate
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
