"""One train step as a pure function of the state's fields and a batch.

:func:`make_step` returns ``step(fields, batch) -> (fields, metrics)`` over the nested
view of a :class:`~gendsl.compiler.state.TrainState` (``{"step": ..., "params": ...}``).
The compiled program jits it over the flat state; a staged program runs it on the
stage's own slice of the fields.

The step splits the state key, runs the solver's update on the game with the state's
module state, takes the module-state updates out of the metrics, and keeps the old
parameters, optimizer states and module state when any loss or new parameter is not
finite (one ``lax.cond``, tested by one ``isfinite`` reduction per leaf, which XLA fuses
into the op producing the leaf); EMAs then update. Metrics come back as
``<player>/loss``, ``<player>/<named term>`` and ``nonfinite``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from gendsl.compiler.game import Game, take_module_state
from gendsl.errors import SolverError
from gendsl.solvers.base import Solver, StepResult

Fields = dict[str, Any]
Step = Callable[[Fields, Mapping[str, Any]], tuple[Fields, dict[str, Any]]]


def all_finite(tree: Any) -> jax.Array:
    """Whether every inexact leaf of ``tree`` is finite everywhere (a bool scalar).

    One small reduction per leaf, which XLA fuses into the op producing the leaf
    (cheaper than one reduction over the concatenation of every leaf). With the
    ``lax.cond`` that uses it, the guard costs 4-12% of a gan_mog step at batch 16-256
    on a 2-core CPU, as much as the same guard written by hand (benchmarks/overhead.py).

    >>> bool(all_finite({"a": jnp.ones(3), "b": jnp.array([1.0, jnp.nan])}))
    False
    """
    ok = jnp.array(True)
    for x in jax.tree.leaves(tree):
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact):
            ok = ok & jnp.all(jnp.isfinite(x))
    return ok


def updated_rest(rest: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    """``rest`` with the module-state ``updates`` of its players applied, each leaf kept
    in its dtype (a scan carry must not change type)."""
    new = dict(rest)
    for name, value in updates.items():
        if name in new:
            new[name] = jax.tree.map(
                lambda old, v: v if jnp.result_type(v) == jnp.result_type(old)
                else jnp.asarray(v).astype(jnp.result_type(old)), new[name], value)
    return new


def _step_result(solver: Solver, result: Any) -> StepResult:
    if isinstance(result, StepResult):
        return result
    if isinstance(result, tuple) and len(result) == len(StepResult._fields):
        return StepResult(*result)
    raise SolverError(
        f"{solver.describe()}.update returned {type(result).__name__}; it must return "
        f"gd.solvers.StepResult({', '.join(StepResult._fields)})")


def make_step(game: Game, solver: Solver, ema: tuple[tuple[str, float], ...], *,
              guard_nonfinite: bool = True) -> Step:
    """Returns the pure step ``(fields, batch) -> (fields, metrics)``.

    Args:
      game: the program's static game (:meth:`Game.build`).
      solver: the program's solver.
      ema: ``((player name, decay), ...)`` of the players whose parameters are averaged.
      guard_nonfinite: skip the update when a loss or a new parameter is not finite.
    """
    def step(state: Fields, batch: Mapping[str, Any]) -> tuple[Fields, dict[str, Any]]:
        key, step_key = jax.random.split(state["key"])
        params, opt_state, solver_state, losses, metrics = _step_result(solver, solver.update(
            game.with_rest(state["rest"]), state["params"], state["opt_state"],
            state["solver_state"], batch, step_key))
        metrics, updates = take_module_state(metrics)
        rest = updated_rest(state["rest"], updates)
        ok = jnp.array(True)
        if guard_nonfinite:
            ok = all_finite(losses) & all_finite({n: params[n] for n in game.players})
            # a conditional rather than a select per leaf: one op, whatever the tree size
            params, opt_state, solver_state, rest = jax.lax.cond(
                ok, lambda new, old: new, lambda new, old: old,
                (params, opt_state, solver_state, rest),
                (state["params"], state["opt_state"], state["solver_state"], state["rest"]))
        averaged = {n: jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, state["ema"][n], params[n])
                    for n, d in ema}
        bad = (~ok).astype(jnp.int32)
        new = {**state, "step": state["step"] + 1, "params": params, "opt_state": opt_state,
               "ema": {**state["ema"], **averaged}, "key": key,
               "nonfinite_streak": (state["nonfinite_streak"] + 1) * bad,
               "nonfinite_total": state["nonfinite_total"] + bad,
               "solver_state": solver_state, "rest": rest}
        out = {f"{n}/loss": v for n, v in losses.items()}
        out.update(metrics)
        out["nonfinite"] = bad
        return new, out

    return step
