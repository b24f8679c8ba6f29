"""Compiling a staged program: one jitted step per stage over one train state.

The state has the same structure in every stage, so a run has one checkpoint stream
and resumes anywhere: parameters of every player, and ``opt_state`` / ``solver_state``
keyed by stage name, each holding that stage's optimizer states. A stage's step reads
and writes only its own part. Which stage runs is decided by the runner from the step
number (each stage is one of :attr:`CompiledStages.phases`), so no step ever branches
on device values.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from gendsl.compiler.compiled_program import CompiledProgram, jit_step, scan_steps
from gendsl.compiler.state import TrainState
from gendsl.compiler.step import Fields, Step
from gendsl.sharding import abstract_on, shard_batch
from gendsl.terms.fingerprint import combine, fingerprint_parts
from gendsl.terms.stages import StagedProgram


@dataclasses.dataclass(frozen=True)
class StageStep:
    """One stage of a compiled staged program: a runner phase.

    Attributes:
      name: the stage's name.
      index: its position.
      start: the global step it starts at.
      end: the global step it ends at (exclusive).
      step: ``(state, batch) -> (state, metrics)`` for this stage, jitted, donating.
      step_many: the fused version (leading axis of batches = steps).
      batches_per_step: source batches one step of this stage reads.
      compiled: the stage's own :class:`CompiledProgram` (over all players).
    """

    name: str
    index: int
    start: int
    end: int
    step: Callable[..., Any]
    step_many: Callable[..., Any]
    batches_per_step: int
    compiled: CompiledProgram
    trace_counters: tuple[Any, ...] = ()

    @property
    def trace_count(self) -> int:
        """Traces of this stage's step functions."""
        return sum(c.count for c in self.trace_counters)

    def shard_batch(self, batch: Mapping[str, Any], *, stacked: int = 0,
                    global_rows: int | None = None):
        """Places a host batch as this stage's step expects it."""
        return self.compiled.shard_batch(batch, stacked=stacked, global_rows=global_rows)


def _stage_step(name: str, fn: Step, ema_players: tuple[str, ...]) -> Step:
    # runs a stage's step on its own optimizer / solver states and EMAs
    def step(state: Fields, batch) -> tuple[Fields, dict[str, Any]]:
        own = {**state, "opt_state": state["opt_state"][name],
               "solver_state": state["solver_state"][name],
               "ema": {n: state["ema"][n] for n in ema_players}}
        new, metrics = fn(own, batch)
        return {**new, "opt_state": {**state["opt_state"], name: new["opt_state"]},
                "solver_state": {**state["solver_state"], name: new["solver_state"]},
                "ema": {**state["ema"], **new["ema"]}}, metrics
    return step


class CompiledStages:
    """A staged program compiled for the runner. Build it with :func:`gendsl.compile`.

    Attributes:
      staged: the source :class:`StagedProgram`.
      stages: one :class:`StageStep` per stage, in order (the runner's phases).
      total_steps: the sum of the stage budgets.
      fingerprint: the staged program's fingerprint.
      fingerprint_parts: its named parts, stored with checkpoints.
      mesh: as for :class:`CompiledProgram`.
    """

    def __init__(self, staged: StagedProgram, mesh: Mesh | None = None, *,
                 guard_nonfinite: bool = True, donate: bool = True):
        self.staged, self.mesh = staged, mesh
        self.total_steps = staged.total_steps
        self.fingerprint_parts = fingerprint_parts(staged)
        self.fingerprint = combine(self.fingerprint_parts)
        everyone = staged.players
        views = []
        for i, (s, start) in enumerate(zip(staged.stages, staged.starts)):
            prog = s.program
            known = {p.name for p in prog.players}
            passengers = tuple(p for p in everyone if p.name not in known)
            c = CompiledProgram(dataclasses.replace(prog, frozen=prog.frozen + passengers),
                                mesh, guard_nonfinite=guard_nonfinite, donate=donate)
            fn = _stage_step(s.name, c.step_fn, tuple(p.name for p, _ in prog.ema))
            extra = int(c.batches_per_step > 1)
            step1, count1 = jit_step(fn, mesh, lead_axes=extra, donate=donate)
            stepk, countk = jit_step(scan_steps(fn), mesh, lead_axes=1 + extra, donate=donate)
            views.append(StageStep(s.name, i, start, start + s.steps, step1, stepk,
                                   c.batches_per_step, c, (count1, countk)))
        self.stages: tuple[StageStep, ...] = tuple(views)
        self._ema_players = sorted({p.name for s in staged.stages for p, _ in s.program.ema})

    @property
    def phases(self) -> tuple[StageStep, ...]:
        """The runner's phases: the stages, in order."""
        return self.stages

    @property
    def trace_count(self) -> int:
        """Traces of all stages' steps together."""
        return sum(s.trace_count for s in self.stages)

    def stage_at(self, step: int) -> StageStep:
        """The stage that runs global step ``step`` (0-based; the last stage past the end)."""
        return self.stages[min(self.staged.stage_index(step), len(self.stages) - 1)]

    def init(self, key: jax.Array, example_batch: Mapping[str, Any] | None = None) -> TrainState:
        """The initial state: every player's parameters and every stage's optimizer
        states. ``example_batch`` (a batch of the first stage) checks the first stage."""
        first = self.stages[0].compiled.init(key, example_batch)
        opt_state, solver_state = {}, {}
        for s in self.stages:
            opt_state[s.name], solver_state[s.name] = s.compiled.init_solver(first.params,
                                                                            first.rest)
        ema = {n: jax.tree.map(jnp.copy, first.params[n]) for n in self._ema_players}
        state = first.replace(opt_state=opt_state, solver_state=solver_state, ema=ema)
        return self.stages[0].compiled.place(state)

    def abstract_state(self, key: jax.Array, example_batch: Mapping[str, Any]) -> TrainState:
        """The abstract initial state, placed as the steps expect it (see
        :meth:`CompiledProgram.abstract_state`)."""
        return abstract_on(jax.eval_shape(self.init, key, example_batch), self.mesh)

    def check(self, stage: int, example_batch: Mapping[str, Any]) -> None:
        """Checks stage ``stage`` against one of its batches (see CompiledProgram.check)."""
        self.stages[stage].compiled.check(example_batch)

    @property
    def has_samples(self) -> bool:
        """Whether some stage's program has a ``samples`` term."""
        return any(s.compiled.has_samples for s in self.stages)

    def sample(self, state: TrainState, key: jax.Array, n: int):
        """Samples the ``samples`` term of the last stage that has one."""
        with_samples = [s for s in self.stages if s.compiled.has_samples] or [self.stages[-1]]
        return with_samples[-1].compiled.sample(state, key, n)  # the usual error if none

    def apply(self, state: TrainState, player: str, *args: Any, method: str | None = None,
              train: bool = False):
        """Applies a player with the state's parameters (see CompiledProgram.apply)."""
        return self.stages[-1].compiled.apply(state, player, *args, method=method, train=train)

    def module(self, state: TrainState, player: str, *, train: bool = False):
        """A player as a standalone NNX module (see CompiledProgram.module)."""
        return self.stages[-1].compiled.module(state, player, train=train)

    def evaluate(self, state: TrainState, batch: Mapping[str, Any], key=None):
        """The last stage's objectives on ``batch`` (see CompiledProgram.evaluate)."""
        return self.stages[-1].compiled.evaluate(state, batch, key)

    def shard_batch(self, batch, *, stacked: int = 0, global_rows: int | None = None):
        """Places a host batch (of the first stage's layout) on the devices."""
        return shard_batch(batch, self.mesh, batch_axis=stacked, global_rows=global_rows)
