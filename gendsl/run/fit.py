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

from gendsl.errors import CheckpointError, ConfigError, NonFiniteError
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
from gendsl.run.evaluation import Evaluate, Report
from gendsl.run.lock import RunDirLock
from gendsl.run.loop import TrainingLoop
from gendsl.run.metrics_log import MetricsLog
from gendsl.run.resume import restore_latest
from gendsl.run.run_dir import prepare_run_dir
from gendsl.run.run_info import device_layout, write_json
from gendsl.run.sample_files import keep_samples_until
from gendsl.run.segments import segments
from gendsl.run.settings import RUN_MANAGEMENT_KEYS, LoopSettings
from gendsl.run.signals import stop_on_signals
from gendsl.run.stepper import Stepper, check_stepper
from gendsl.run.tensorboard import TensorBoardLog, require_tensorboardx

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
      nonfinite_total: how many steps of the whole run were non-finite (not applied).
    """

    state: Any
    metrics: dict[str, Any]
    run_dir: Path
    step: int
    start_step: int
    resumed: bool
    wall_time_s: float
    fingerprint: str
    nonfinite_total: int


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


def _refuse_unchanged_nonfinite_rerun(run_dir: Path, fingerprint: str, step: int,
                                      config: Mapping[str, Any]) -> None:
    """Raises NonFiniteError when ``run_dir`` stopped on non-finite steps at ``step``
    (its summary says so) and nothing that could change that has changed: the same
    program (fingerprint) and the same config as the run's (up to the keys
    that only manage the run, ``steps`` say; ``max_nonfinite`` counts as a change)."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return
    recorded = current_config(run_dir)  # config.json with the accepted changes applied
    if recorded is None:
        return
    if not (isinstance(summary, dict) and summary.get("status") == "nonfinite"
            and summary.get("step") == step and summary.get("fingerprint") == fingerprint):
        return
    current = json.loads(json.dumps(dict(config), sort_keys=True, default=str))
    inert = RUN_MANAGEMENT_KEYS - {"max_nonfinite"}  # cannot change what a step computes
    if ({k: v for k, v in recorded.items() if k not in inert}
            != {k: v for k, v in current.items() if k not in inert}):
        return
    raise NonFiniteError(
        f"The run in {run_dir} stopped at step {step} on consecutive non-finite steps "
        "(summary.json says status 'nonfinite'), and this rerun has the same program and "
        "config, so it would only repeat them. Change what made the losses NaN or infinite "
        "(lower the learning rate, clip gradients, check the data) and rerun, or start over "
        "in another --run-dir (run_dir=...). metrics.jsonl lists the non-finite steps."
    )


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


def _layout_change(metadata: Mapping[str, Any], compiled: Stepper) -> str:
    """``" (written on 8 devices, 1 process; restored onto 2 devices, 1 process)"``
    when the checkpoint was written on another device layout than the run's now, else
    ``""`` (also for checkpoints that do not record theirs). Never refused: Orbax
    restores onto the new mesh's shardings.

    >>> class OneDevice: mesh = None
    >>> _layout_change({"devices": 8, "processes": 1}, OneDevice())
    ' (written on 8 devices, 1 process; restored onto 1 device, 1 process)'
    >>> _layout_change({"devices": 1, "processes": 1}, OneDevice())
    ''
    """
    now = device_layout(getattr(compiled, "mesh", None))
    then = {k: metadata.get(k) for k in now}
    if None in then.values() or then == now:
        return ""
    def words(layout: Mapping[str, Any]) -> str:
        d, p = layout["devices"], layout["processes"]
        return f"{d} device{'s' * (d != 1)}, {p} process{'es' * (p != 1)}"
    return f" (written on {words(then)}; restored onto {words(now)})"


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
    report: Report | None = None,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
    tensorboard: bool = False,
    allow_changes: bool = False,
    **settings: Any,
) -> FitResult:
    """Trains ``compiled`` on ``source`` in ``run_dir``, resuming there.

    Writes ``run_dir/metrics.jsonl``, ``summary.json``, ``samples.png``,
    ``samples/step_XXXXXX.png`` at each evaluation, ``checkpoints/`` and, if asked,
    ``tensorboard/`` (see docs/running.md). If ``run_dir`` holds checkpoints of the same
    program, training continues from the newest readable one and ends with exactly the
    state an uninterrupted run would have (on the CPU). A run that already completed
    ``steps`` is left as it was: nothing is trained, evaluated or written, and the
    result carries the metrics of its ``summary.json``. In a run of several processes
    (``jax.distributed``; see docs/distributed.md) every process calls ``fit`` alike:
    each builds only its rows of the batches, process 0 alone writes the run's files,
    and all of them save and restore the checkpoints.

    Args:
      compiled: a compiled program (``gd.compile(...)``), or anything implementing
        the :class:`~gendsl.run.stepper.Stepper` protocol.
      source: a data source (``batch(index)``, ``batches(start, count)``); for a
        staged program, a sequence of sources, one per stage.
      run_dir: the run directory.
      evaluate: ``evaluate(compiled, state, key) -> dict``; by default the source's
        ``evaluate(samples)`` on ``num_eval_samples`` samples, if it has one.
      report: ``report(compiled, state, run_dir) -> dict``, run once after the final
        evaluation (process 0): it writes figures into ``run_dir`` and returns numbers,
        which ``summary.json`` records as ``report/<name>``.
      progress: draw a progress bar on stderr.
      config: a configuration to record in ``run_dir/config.json`` (written once, when
        the run directory is first used, and never rewritten). On a resume it is
        compared with the run's config (``config.json`` with ``config_history.jsonl``
        applied); keys other than the run-management ones (``steps``,
        ``checkpoint_every``, ...) must not change.
      allow_changes: resume even though the config, ``seed``, ``steps_per_call`` or the
        program's fingerprint changed (the checkpoint must still fit the program's
        state); the change is appended to ``run_dir/config_history.jsonl``.
      tensorboard: also write TensorBoard event files to ``run_dir/tensorboard``
        (the metrics as scalars, the sample pictures as images); needs the
        ``tensorboard`` extra.
      **settings: the loop's settings, each a field of
        :class:`~gendsl.run.settings.LoopSettings`: ``steps`` (required),
        ``seed``, ``steps_per_call``, ``checkpoint_every``, ``log_every``,
        ``eval_every``, ``max_nonfinite``, ``num_eval_samples``, ``keep_checkpoints``.

    Returns:
      a :class:`FitResult`.

    Raises:
      ConfigError: an unknown or invalid setting, ``compiled`` is not a stepper, or
        this is one of several processes and ``compiled`` has no mesh.
      MissingExtraError: ``tensorboard`` is true but tensorboardX is not installed.
      RunDirError: ``run_dir`` is a file or cannot be written (nothing is written).
      RunDirLockedError: another live process is training in ``run_dir``.
      ConfigChangedError: a resume would change the run's config, ``seed`` or
        ``steps_per_call``, and ``allow_changes`` is False (nothing is written).
      CheckpointMismatchError: ``run_dir`` holds checkpoints of another program (and
        ``allow_changes`` is False, or its state does not fit this program's).
      NonFiniteError: ``max_nonfinite`` consecutive non-finite steps (after saving); or
        ``run_dir`` stopped so at its latest checkpoint and ``config`` is unchanged from
        the run's (nothing is trained or written).
      TrainingInterrupted: SIGTERM or SIGINT arrived (after saving), also during the
        final evaluation or plot; its ``exit_code`` is 143 or 130.
    """
    if "steps" not in settings:
        raise ConfigError("fit() needs steps=N, the step to train to")
    settings = LoopSettings.create(**settings)
    check_stepper(compiled)
    if tensorboard:
        require_tensorboardx()
    started = time.perf_counter()
    run_dir = prepare_run_dir(run_dir)  # refuses a file, a read-only dir, ... first
    if jax.process_count() > 1 and compiled.mesh is None:
        raise ConfigError(
            f"this is process {jax.process_index()} of {jax.process_count()}, but the "
            "program was compiled without a mesh, so each process would train alone; "
            "compile it with mesh=gendsl.datasets.data_parallel() (gendsl run does).")
    # process 0 writes the run's files and holds the lock; every process takes part in
    # the steps and in saving and restoring checkpoints (Orbax coordinates them)
    writer = jax.process_index() == 0
    progress = progress and writer
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
            if restored and config is not None:
                _refuse_unchanged_nonfinite_rerun(run_dir, compiled.fingerprint, start, config)
            if start > settings.steps:
                raise CheckpointError(
                    f"The checkpoint in {store.directory} is at step {start}, past "
                    f"steps={settings.steps}. Ask for at least that many steps, or use another "
                    "run directory."
                )
            if restored:  # once it is known to go on (errors come as one message)
                logger.info("resuming from the checkpoint at step %d in %s%s", start,
                            store.directory, _layout_change(restored[1], compiled))
            finished = _finished_summary(run_dir, compiled.fingerprint, start) if (
                restored and start == settings.steps) else None
            if finished is not None:  # nothing to do: leave the run directory as it was
                logger.info("the run in %s is complete at step %d", run_dir, start)
                return FitResult(state=state, metrics=finished["metrics"], run_dir=run_dir,
                                 step=start, start_step=start, resumed=True,
                                 wall_time_s=time.perf_counter() - started,
                                 fingerprint=compiled.fingerprint,
                                 nonfinite_total=int(finished.get("nonfinite_total", 0)))
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
            if writer:
                keep_samples_until(run_dir, start)
            with TensorBoardLog(run_dir / "tensorboard", start=start,
                                enabled=writer and tensorboard) as board:
                run = TrainingLoop(compiled, segs, settings, store, log, run_dir, start,
                                   bool(restored), evaluate, board=board, report=report)
                # signals stop the run through the final evaluation and plot too
                with stop_on_signals() as stop:
                    state = run.train(state, stop, progress)
                    metrics = run.finish(state, stop)
                    wall = time.perf_counter() - started
                    if writer:  # a signal from here on is too late to stop anything
                        write_json(run_dir / "summary.json",
                                   run.summary("completed", state, metrics, wall))
    return FitResult(
        state=state,
        metrics=metrics,
        run_dir=run_dir,
        step=int(jax.device_get(state.step)),
        start_step=start,
        resumed=bool(restored),
        wall_time_s=wall,
        fingerprint=compiled.fingerprint,
        nonfinite_total=int(jax.device_get(state.nonfinite_total)),
    )
