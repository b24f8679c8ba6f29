"""``Experiment``: what a program file builds, and how a compiled one is trained.

The runner never compiles: :func:`fit_experiment` takes the experiment's program
already compiled (a :class:`~gendsl.run.stepper.Stepper`), so the runner knows the
compiler only through that protocol. ``gd.run_experiment`` (:mod:`gendsl.experiments`)
compiles with ``gd.compile`` and calls it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from gendsl.errors import ConfigError
from gendsl.run.config import STANDARD_DEFAULTS
from gendsl.run.evaluation import Evaluate, Report
from gendsl.run.fit import FitResult, fit
from gendsl.run.settings import LoopSettings
from gendsl.run.stepper import Stepper


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A program with what it trains on: the value a program file's ``build(cfg)`` returns.

    Attributes:
      program: a gendsl program (``gd.program(...)`` or ``gd.stages(...)``).
      source: the data source it trains on (one per stage for a staged program).
      evaluate: ``evaluate(compiled, state, key) -> dict``, replacing the source's own
        ``evaluate(samples)`` at evaluation time (``None``: use the source's, if any).
      mesh: a ``jax.sharding.Mesh`` to shard the program over (``None``: one device).
      report: ``report(compiled, state, run_dir) -> dict``, run once after the final
        evaluation: it draws the experiment's own figures into ``run_dir`` and returns
        numbers that ``summary.json`` records as ``report/<name>`` (``None``: nothing).
    """

    program: Any
    source: Any
    evaluate: Evaluate | None = None
    mesh: Any = None
    report: Report | None = None


def fit_experiment(
    experiment: Experiment,
    compiled: Stepper,
    cfg: Mapping[str, Any],
    run_dir: str | Path,
    *,
    progress: bool = True,
    tensorboard: bool = False,
    allow_changes: bool = False,
) -> FitResult:
    """Trains an experiment's compiled program with the loop settings of ``cfg``.

    Every :class:`~gendsl.run.settings.LoopSettings` field is read from ``cfg`` (missing
    ones take ``STANDARD_DEFAULTS``); ``fit`` records ``cfg`` in ``run_dir/config.json``.

    Args:
      experiment: what to train (its source and evaluation).
      compiled: ``experiment.program`` compiled (``gd.compile``).
      cfg: the config.
      run_dir: the run directory (resumed if it holds checkpoints of this program).
      progress: draw a progress bar.
      tensorboard: also write TensorBoard event files (``fit(tensorboard=True)``).
      allow_changes: resume even though the config or the program changed, recording
        the change (see :func:`~gendsl.run.fit.fit`).

    Returns:
      the :class:`FitResult`.
    """
    settings = {**STANDARD_DEFAULTS, **cfg}
    settings["steps"] = run_steps(compiled, settings["steps"])
    loop = {name: settings[name] for name in LoopSettings.names()}
    return fit(compiled, experiment.source, run_dir=run_dir, evaluate=experiment.evaluate,
               report=experiment.report, progress=progress, config=cfg, tensorboard=tensorboard,
               allow_changes=allow_changes, **loop)


def run_steps(compiled: Stepper, steps: int | None) -> int:
    """The number of steps to train: ``steps``, or for a staged program (which has a
    ``total_steps``) the sum of its stage budgets when ``steps`` is None.

    Raises:
      ConfigError: ``steps`` is missing for a plain program, or past a staged
        program's total.
    """
    total = compiled.total_steps
    if steps is None:
        if total is None:
            raise ConfigError("steps is not set: give --steps N (or steps in DEFAULTS)")
        return total
    if total is not None and steps > total:
        raise ConfigError(
            f"steps={steps} is past the end of the staged program ({total} steps in all); "
            "change the stages' budgets instead, or leave steps unset")
    return steps
