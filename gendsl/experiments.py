"""``gd.run_experiment``: compile an experiment's program with ``gd.compile`` and train it;
``gd.run_program_file``: the same for a program file and ``key=value`` overrides.

This sits above both the compiler and the runner (``gendsl run PROGRAM.py`` does the
same), so that the runner itself knows the compiler only through the ``Stepper``
protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from gendsl.compiler import compile
from gendsl.run.experiment import Experiment, fit_experiment
from gendsl.run.fit import FitResult
from gendsl.run.program_file import build_experiment, load_program_file, program_config


def run_experiment(experiment: Experiment, cfg: Mapping[str, Any], run_dir: str | Path, *,
                   progress: bool = True, tensorboard: bool = False,
                   allow_changes: bool = False,
                   compile_fn: Callable[..., Any] = compile) -> FitResult:
    """Compiles ``experiment.program`` (on ``experiment.mesh``) and trains it with the
    loop settings of ``cfg`` (see :func:`gendsl.run.experiment.fit_experiment`).

    Args:
      experiment: what to train.
      cfg: the config (missing standard keys take ``STANDARD_DEFAULTS``).
      run_dir: the run directory (resumed if it holds checkpoints of this program).
      progress: draw a progress bar.
      tensorboard: also write TensorBoard event files (``fit(tensorboard=True)``).
      allow_changes: resume even though the config or the program changed, recording
        the change in ``run_dir/config_history.jsonl``.
      compile_fn: ``compile_fn(program, mesh=...)`` returning a stepper; default
        :func:`gendsl.compile`.

    Returns:
      the :class:`~gendsl.run.fit.FitResult`.
    """
    compiled = compile_fn(experiment.program, mesh=experiment.mesh)
    return fit_experiment(experiment, compiled, cfg, run_dir, progress=progress,
                          tensorboard=tensorboard, allow_changes=allow_changes)


def run_program_file(path: str | Path, overrides: Sequence[str], run_dir: str | Path, *,
                     progress: bool = False, **kwargs: Any) -> FitResult:
    """Trains the program file at ``path`` as ``gendsl run PATH --set OVERRIDES`` would.

    Args:
      path: a program file (``DEFAULTS`` + ``build(cfg)``).
      overrides: ``key=value`` settings on top of its ``DEFAULTS``.
      run_dir: the run directory (resumed if it holds checkpoints of this program).
      progress: draw a progress bar.
      **kwargs: passed on to :func:`run_experiment`.

    Returns:
      the :class:`~gendsl.run.fit.FitResult`.
    """
    module = load_program_file(Path(path))
    cfg = program_config(module, list(overrides))
    return run_experiment(build_experiment(module, cfg), cfg, run_dir, progress=progress,
                          **kwargs)
