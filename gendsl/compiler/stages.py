"""Compiling a staged program: one jitted step per stage over one train state.

The state has the same structure in every stage, so a run has one checkpoint stream
and resumes anywhere: parameters of every player, and ``opt_state`` / ``solver_state``
keyed by stage name, each holding that stage's optimizer states. A stage's step reads
and writes only its own part. Which stage runs is decided by the runner from the step
number (see :attr:`CompiledStages.stages`), so no step ever branches on device values.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gendsl.compiler.compile import CompiledProgram
from gendsl.compiler.state import TrainState
from gendsl.sharding import shard_batch
from gendsl.terms.program import Program
from gendsl.terms.stages import StagedProgram, stages_fingerprint


@dataclasses.dataclass(frozen=True)
class StageStep:
    """The runner's view of one stage of a compiled staged program.

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
    mesh: Mesh | None = None

    def shard_batch(self, batch: Mapping[str, Any], *, stacked: int = 0):
        """Places a host batch as this stage's step expects it."""
        return shard_batch(batch, self.mesh, batch_axis=stacked)


class CompiledStages:
    """A staged program compiled for the runner. Build it with :func:`gendsl.compile`.

    Attributes:
      staged: the source :class:`StagedProgram`.
      stages: one :class:`StageStep` per stage, in order.
      total_steps: the sum of the stage budgets.
      fingerprint: the staged program's fingerprint.
      mesh, steps_per_call: as for :class:`CompiledProgram`.
    """

    def __init__(self, staged: StagedProgram, mesh: Mesh | None = None, *,
                 steps_per_call: int = 1, guard_nonfinite: bool = True, donate: bool = True):
        self.staged, self.mesh, self.steps_per_call = staged, mesh, steps_per_call
        self.total_steps = staged.total_steps
        self.fingerprint = stages_fingerprint(staged)
        everyone = staged.players
        self._compiled: list[CompiledProgram] = []
        views = []
        for i, (s, start) in enumerate(zip(staged.stages, staged.starts)):
            prog = s.program
            known = {p.name for p in prog.players}
            passengers = tuple(p for p in everyone if p.name not in known)
            full = dataclasses.replace(prog, frozen=prog.frozen + passengers)
            c = CompiledProgram(full, mesh, steps_per_call=steps_per_call,
                                guard_nonfinite=guard_nonfinite, donate=donate)
            self._compiled.append(c)
            step1 = c._jit(self._wrap(s.name, c._step), (0,) if donate else (),
                           stacked=c.batches_per_step > 1)
            stepk = c._jit(self._wrap(s.name, c._scan), (0,) if donate else (),
                           stacked=True, extra=c.batches_per_step > 1)
            views.append(StageStep(s.name, i, start, start + s.steps, step1, stepk,
                                   c.batches_per_step, c, mesh))
        self.stages: tuple[StageStep, ...] = tuple(views)
        self.batches_per_step = self.stages[0].batches_per_step
        self._ema_players = {p.name for s in staged.stages for p, _ in s.program.ema}

    @property
    def trace_count(self) -> int:
        """Traces of all stages' steps together."""
        return sum(c.trace_count for c in self._compiled)

    def stage_at(self, step: int) -> StageStep:
        """The stage that runs global step ``step`` (0-based; the last stage past the end)."""
        return self.stages[min(self.staged.stage_index(step), len(self.stages) - 1)]

    def _wrap(self, name: str, fn: Callable) -> Callable:
        def staged_fn(state: TrainState, batch):
            own = state.replace(opt_state=state.opt_state[name],
                                solver_state=state.solver_state[name],
                                ema={n: state.ema[n] for n in self._ema_of(name)})
            new, metrics = fn(own, batch)
            return state.replace(
                step=new.step, params=new.params, key=new.key,
                nonfinite_streak=new.nonfinite_streak, nonfinite_total=new.nonfinite_total,
                opt_state={**state.opt_state, name: new.opt_state},
                solver_state={**state.solver_state, name: new.solver_state},
                ema={**state.ema, **new.ema}), metrics
        return staged_fn

    def _ema_of(self, name: str) -> list[str]:
        s = next(s for s in self.staged.stages if s.name == name)
        return [p.name for p, _ in s.program.ema]

    def init(self, key: jax.Array, example_batch: Mapping[str, Any] | None = None) -> TrainState:
        """The initial state: every player's parameters and every stage's optimizer
        states. ``example_batch`` (a batch of the first stage) checks the first stage."""
        first = self._compiled[0].init(key, example_batch)
        opt_state, solver_state = {}, {}
        for s, c in zip(self.staged.stages, self._compiled):
            opt_state[s.name], solver_state[s.name] = c.init_solver(first.params, first.rest)
        ema = {n: jax.tree.map(jnp.copy, first.params[n]) for n in sorted(self._ema_players)}
        state = first.replace(opt_state=opt_state, solver_state=solver_state, ema=ema)
        if self.mesh is not None:
            state = jax.device_put(state, NamedSharding(self.mesh, PartitionSpec()))
        return state

    def check(self, stage: int, example_batch: Mapping[str, Any]) -> None:
        """Checks stage ``stage`` against one of its batches (see CompiledProgram.check)."""
        self._compiled[stage].check(example_batch)

    @property
    def has_samples(self) -> bool:
        """Whether some stage's program has a ``samples`` term."""
        return any(c.has_samples for c in self._compiled)

    def sample(self, state: TrainState, key: jax.Array, n: int):
        """Samples the ``samples`` term of the last stage that has one."""
        for c in reversed(self._compiled):
            if c.program.samples is not None:
                return c.sample(state, key, n)
        return self._compiled[-1].sample(state, key, n)  # raises the usual error

    def apply(self, state: TrainState, player: str, *args: Any, method: str | None = None):
        """Applies a player with the state's parameters (see CompiledProgram.apply)."""
        return self._compiled[-1].apply(state, player, *args, method=method)

    def evaluate(self, state: TrainState, batch: Mapping[str, Any], key=None):
        """The last stage's objectives on ``batch`` (see CompiledProgram.evaluate)."""
        return self._compiled[-1].evaluate(state, batch, key)

    def shard_batch(self, batch, *, stacked: int = 0):
        """Places a host batch (of the first stage's layout) on the devices."""
        return shard_batch(batch, self.mesh, batch_axis=stacked)

    @property
    def step(self):
        """The first stage's step (the runner picks each stage's own: :meth:`stage_at`)."""
        return self.stages[0].step

    @property
    def step_many(self):
        """The first stage's fused step."""
        return self.stages[0].step_many
