"""``gd.load_run``: a trained run, back from its run directory, to sample and evaluate.

    run = gd.load_run("runs/gan_mog")
    x = run.sample(1000)
    print(run.evaluate())

The run directory says how to rebuild the program: ``program.json`` (the program file,
written by ``gendsl run``) and ``config.json`` (the config it trained with). The program
file is imported again, its experiment built with that config and compiled, and a
checkpoint restored into the compiled program's abstract state. Loading only reads:
nothing in the run directory is written, moved or locked, so a run may be loaded while
it trains. This sits above the compiler and the runner, like :mod:`gendsl.experiments`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping

import jax
import numpy as np

from gendsl.compiler import compile
from gendsl.errors import CheckpointError, CheckpointMismatchError, ConfigError, ProgramError
from gendsl.run.batches import step_batch
from gendsl.run.checkpoints import CheckpointStore
from gendsl.run.config import Config
from gendsl.run.evaluation import draw_samples, eval_key, evaluate_state
from gendsl.run.experiment import Experiment
from gendsl.run.metrics_log import to_json_value
from gendsl.run.program_file import build_experiment, load_program_file, program_config
from gendsl.run.resume import check_layout
from gendsl.run.run_record import read_program_record, saved_config
from gendsl.run.segments import segments


@dataclasses.dataclass(frozen=True)
class LoadedRun:
    """A run restored from a checkpoint (see :func:`load_run`).

    Attributes:
      run_dir: the run directory.
      step: the step of the restored checkpoint.
      config: the config the run trained with (a :class:`gendsl.run.Config`).
      experiment: the program file's experiment, built with ``config``.
      compiled: ``experiment.program`` compiled.
      state: the train state of the checkpoint.
      program_file: the program file the experiment was built from.
    """

    run_dir: Path
    step: int
    config: Config
    experiment: Experiment
    compiled: Any
    state: Any
    program_file: Path

    @property
    def fingerprint(self) -> str:
        """The program's fingerprint (the checkpoint's, since loading checks they agree)."""
        return self.compiled.fingerprint

    @property
    def players(self) -> tuple[Any, ...]:
        """The program's players (``()`` for a program without them)."""
        return tuple(getattr(self.experiment.program, "players", ()))

    def key(self, key: jax.Array | int | None = None) -> jax.Array:
        """The PRNG key to use: ``key``; an int seeds one; ``None`` is the run's evaluation
        key at this step, the key the run's own evaluation and ``samples.png`` used."""
        if key is None:
            return eval_key(self.config["seed"], self.step)
        if isinstance(key, int):
            return jax.random.key(key)
        return key

    def sample(self, n: int, key: jax.Array | int | None = None) -> np.ndarray:
        """``n`` samples of the program at this checkpoint, as a host array.

        Args:
          n: how many.
          key: a PRNG key or an int seed (default: see :meth:`key`).

        Raises:
          ProgramError: the program has no samples term.
        """
        if not self.compiled.has_samples:
            raise ProgramError(
                f"the program of {self.run_dir} ({self.program_file}) has no samples term, "
                "so there is nothing to sample; pass samples=G(z) to gd.program.")
        return draw_samples(self.compiled, self.state, self.key(key), int(n))

    def evaluate(self, key: jax.Array | int | None = None) -> dict[str, Any]:
        """The evaluation the run does at its end, on this checkpoint: the experiment's
        ``evaluate``, else the source's ``evaluate(samples)`` on ``num_eval_samples``
        samples. With the default key, the final checkpoint's metrics equal the
        ``eval/...`` metrics of the run's ``summary.json``.

        Args:
          key: a PRNG key or an int seed (default: see :meth:`key`).

        Returns:
          ``{"eval/<name>": value}`` as plain Python numbers (empty when the program
          has nothing to evaluate with).
        """
        source = segments(self.compiled, self.experiment.source)[-1].source
        metrics, _ = evaluate_state(self.compiled, source, self.state, self.key(key),
                                    evaluate=self.experiment.evaluate,
                                    num_samples=self.config["num_eval_samples"])
        return {f"eval/{name}": to_json_value(value) for name, value in metrics.items()}


def load_run(run_dir: str | Path, step: int | None = None, *,
             program: str | Path | None = None,
             compile_fn: Callable[..., Any] = compile) -> LoadedRun:
    """Loads a run from its run directory, reading nothing but writing nothing.

    Args:
      run_dir: a run directory of ``gendsl run`` (or of ``gd.run_experiment`` /
        ``fit_experiment``, then with ``program``).
      step: the checkpoint to restore (default: the newest).
      program: the program file (default: the one ``run_dir/program.json`` names).
      compile_fn: ``compile_fn(program, mesh=...)``; default :func:`gendsl.compile`.

    Returns:
      a :class:`LoadedRun`.

    Raises:
      ConfigError: ``run_dir`` lacks ``program.json`` (and no ``program`` was given) or
        ``config.json``, or the config names keys the program file no longer has.
      CheckpointError: there is no checkpoint (or none at ``step``), or it was written
        in another layout of the train state.
      CheckpointMismatchError: the program file, built with the saved config, is not
        the program that wrote the checkpoint (it changed since).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run directory {str(run_dir)!r} does not exist; `gendsl runs` "
                          "lists the run directories under runs/.")
    program_file = Path(program if program is not None
                        else read_program_record(run_dir)["program"])
    module = load_program_file(program_file)
    config = _restored_config(run_dir, program_config(module))
    experiment = build_experiment(module, config)
    compiled = compile_fn(experiment.program, mesh=experiment.mesh)
    state, restored_step = _restore(run_dir, step, compiled, experiment, config, program_file)
    return LoadedRun(run_dir=run_dir, step=restored_step, config=config,
                     experiment=experiment, compiled=compiled, state=state,
                     program_file=program_file)


def _restored_config(run_dir: Path, defaults: Mapping[str, Any]) -> Config:
    """The saved config over the program's defaults, JSON lists back to the tuples the
    defaults have."""
    saved = saved_config(run_dir)
    unknown = sorted(set(saved) - set(defaults))
    if unknown:
        raise ConfigError(
            f"{run_dir / 'config.json'} has keys the program file no longer declares: "
            f"{', '.join(unknown)}. Load the run with the program file it was trained "
            "with (program=...).")
    return Config({**defaults, **{k: _like(v, defaults[k]) for k, v in saved.items()}})


def _like(value: Any, default: Any) -> Any:
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _restore(run_dir: Path, step: int | None, compiled: Any, experiment: Experiment,
             config: Config, program_file: Path) -> tuple[Any, int]:
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        raise CheckpointError(f"{run_dir} has no checkpoints/ to load; train it first "
                              "(gendsl run).")
    with CheckpointStore(folder, read_only=True) as store:
        steps = store.steps()
        if not steps:
            raise CheckpointError(f"{folder} holds no complete checkpoint to load.")
        chosen = steps[-1] if step is None else int(step)
        if chosen not in steps:
            raise CheckpointError(
                f"{folder} has no checkpoint at step {chosen}; its checkpoints are at "
                f"steps {', '.join(map(str, steps))} (give one of them as --step / step=).")
        metadata = store.metadata(chosen)
        check_layout(store.directory, chosen, metadata)
        saved = metadata.get("fingerprint")
        if saved != compiled.fingerprint:
            raise CheckpointMismatchError(
                f"The checkpoint at step {chosen} in {folder} was written by another "
                f"program (fingerprint {saved!r}) than {program_file} builds with the "
                f"run's config (fingerprint {compiled.fingerprint!r}): the program file "
                "changed since the run. Load it with the program file it was trained "
                "with (program=... / --program).")
        segs = segments(compiled, experiment.source)
        example = step_batch(segs[0].source, 0, segs[0].batches_per_step)
        abstract = compiled.abstract_state(jax.random.key(config["seed"]), example)
        tree, _ = store.restore(chosen, abstract.tree())
    return abstract.from_tree(tree), chosen
