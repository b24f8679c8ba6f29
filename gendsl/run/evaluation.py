"""Evaluation of a train state: a user's function, or the source's own metrics.

Evaluation keys come from the run's seed and the step (``fold_in``), never from the train
state's key, so evaluating does not change training and a resumed run evaluates with
the same keys as an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import jax
import numpy as np

from gendsl.errors import ConfigError
from gendsl.run.metrics_log import to_json_value
from gendsl.run.stepper import Stepper

EVAL_STREAM = 1  # fold_in tag separating evaluation keys from the program's own keys

Evaluate = Callable[[Any, Any, jax.Array], Mapping[str, Any]]
Report = Callable[[Any, Any, Path], Mapping[str, Any]]


def eval_key(seed: int, step: int) -> jax.Array:
    """The evaluation key of a run's ``seed`` at ``step``.

    >>> bool((jax.random.key_data(eval_key(0, 5)) == jax.random.key_data(eval_key(0, 5))).all())
    True
    """
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), EVAL_STREAM), step)


def draw_samples(stepper: Stepper, state: Any, key: jax.Array, n: int) -> np.ndarray:
    """``n`` samples of the stepper at ``state`` as a host array."""
    return np.asarray(jax.device_get(stepper.sample(state, key, n)))


def evaluate_state(
    stepper: Stepper,
    source: Any,
    state: Any,
    key: jax.Array,
    *,
    evaluate: Evaluate | None = None,
    num_samples: int = 10_000,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Evaluates ``state``.

    Args:
      stepper: the compiled program (``sample`` is used when the source evaluates).
      source: the data source; its ``evaluate(samples)`` is used when ``evaluate`` is None.
      state: the train state.
      key: the evaluation key.
      evaluate: ``evaluate(stepper, state, key) -> dict``, overriding the source's.
      num_samples: samples drawn for ``source.evaluate``.

    Returns:
      ``(metrics, samples)``: host metrics (empty when there is nothing to evaluate
      with) and the samples drawn (``None`` if none were).
    """
    if evaluate is not None:
        return dict(jax.device_get(dict(evaluate(stepper, state, key)))), None
    if not hasattr(source, "evaluate") or not stepper.has_samples:
        return {}, None
    samples = draw_samples(stepper, state, key, num_samples)
    return dict(jax.device_get(dict(source.evaluate(samples)))), samples


def run_report(report: Report, stepper: Stepper, state: Any, run_dir: Path) -> dict[str, Any]:
    """Runs an experiment's ``report(stepper, state, run_dir)`` (it writes its figures
    into ``run_dir``) and returns its numbers as JSON values named ``report/<name>``.

    Args:
      report: the experiment's report function.
      stepper: the compiled program.
      state: the final train state.
      run_dir: the run directory.
    Returns:
      ``{"report/<name>": value}``: scalars, lists or nested dicts of them.
    Raises:
      ConfigError: ``report`` returned something other than a mapping.
    """
    numbers = report(stepper, state, Path(run_dir))
    if not isinstance(numbers, Mapping):
        raise ConfigError(f"the experiment's report returned {type(numbers).__name__}; it must "
                          "return a dict of numbers (an empty dict if it only draws)")
    return {f"report/{name}": _json(value) for name, value in numbers.items()}


def _json(value: Any) -> Any:
    """A report value as JSON: nested dicts kept, everything else by ``to_json_value``."""
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    return to_json_value(jax.device_get(value))
