"""``Experiment``: what a program file builds, and how it is compiled and run.

The compile function is injectable (``run_experiment(..., compile_fn=...)``) so the
runner can be exercised with stand-in programs; by default it is
``gendsl.compiler.compile``, imported only when needed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping

from gendsl.errors import ConfigError
from gendsl.run.config import STANDARD_DEFAULTS
from gendsl.run.evaluation import Evaluate
from gendsl.run.fit import FitResult, fit

CompileFn = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A program with what it trains on: the value a program file's ``build(cfg)`` returns.

    Attributes:
      program: a gendsl program (``gd.program(...)``).
      source: the data source it trains on.
      evaluate: ``evaluate(compiled, state, key) -> dict``, replacing the source's own
        ``evaluate(samples)`` at evaluation time (``None``: use the source's, if any).
      steps_per_call: steps fused into one device call; ``None`` takes the config's
        ``steps_per_call`` (so ``--set steps_per_call=8`` works), a number fixes it.
      mesh: a ``jax.sharding.Mesh`` to shard the program over (``None``: one device).
    """

    program: Any
    source: Any
    evaluate: Evaluate | None = None
    steps_per_call: int | None = None
    mesh: Any = None


def default_compile(program: Any, *, mesh: Any = None, steps_per_call: int = 1) -> Any:
    """``gendsl.compiler.compile(program, mesh=mesh, steps_per_call=steps_per_call)``."""
    from gendsl import compiler

    return compiler.compile(program, mesh=mesh, steps_per_call=steps_per_call)


def compile_experiment(
    experiment: Experiment, cfg: Mapping[str, Any], compile_fn: CompileFn | None = None
) -> Any:
    """Compiles ``experiment.program`` with its mesh and steps per call.

    Args:
      experiment: the experiment.
      cfg: its config (``steps_per_call`` is read when the experiment does not fix it).
      compile_fn: ``compile_fn(program, mesh=..., steps_per_call=...)``; default
        :func:`default_compile`.
    """
    steps_per_call = experiment.steps_per_call or cfg.get(
        "steps_per_call", STANDARD_DEFAULTS["steps_per_call"]
    )
    return (compile_fn or default_compile)(
        experiment.program, mesh=experiment.mesh, steps_per_call=int(steps_per_call)
    )


def run_experiment(
    experiment: Experiment,
    cfg: Mapping[str, Any],
    run_dir: str | Path,
    *,
    compile_fn: CompileFn | None = None,
    progress: bool = True,
) -> FitResult:
    """Compiles and trains an experiment with the runner settings of ``cfg``.

    Calls :func:`gendsl.run.fit` with ``cfg``'s ``steps``, ``seed``,
    ``checkpoint_every``, ``log_every``, ``eval_every``, ``max_nonfinite`` and
    ``num_eval_samples``; ``fit`` records ``cfg`` in ``run_dir/config.json``.

    Args:
      experiment: what to train.
      cfg: the config (missing standard keys take ``STANDARD_DEFAULTS``).
      run_dir: the run directory (resumed if it holds checkpoints of this program).
      compile_fn: see :func:`compile_experiment`.
      progress: draw a progress bar.

    Returns:
      the :class:`FitResult`.
    """
    settings = {**STANDARD_DEFAULTS, **cfg}
    compiled = compile_experiment(experiment, settings, compile_fn)
    return fit(
        compiled,
        experiment.source,
        steps=run_steps(compiled, settings["steps"]),
        run_dir=run_dir,
        seed=settings["seed"],
        checkpoint_every=settings["checkpoint_every"],
        log_every=settings["log_every"],
        eval_every=settings["eval_every"],
        max_nonfinite=settings["max_nonfinite"],
        evaluate=experiment.evaluate,
        num_eval_samples=settings["num_eval_samples"],
        progress=progress,
        config=cfg,
    )


def run_steps(compiled: Any, steps: int | None) -> int:
    """The number of steps to train: ``steps``, or for a staged program (which has a
    ``total_steps``) the sum of its stage budgets when ``steps`` is None.

    Raises:
      ConfigError: ``steps`` is missing for a plain program, or past a staged
        program's total.
    """
    total = getattr(compiled, "total_steps", None)
    if steps is None:
        if total is None:
            raise ConfigError("steps is not set: give --steps N (or steps in DEFAULTS)")
        return total
    if total is not None and steps > total:
        raise ConfigError(
            f"steps={steps} is past the end of the staged program ({total} steps in all); "
            "change the stages' budgets instead, or leave steps unset")
    return steps
