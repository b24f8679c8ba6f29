"""Alternating updates with a schedule: ``alternating(D=5, G=1)`` takes five
discriminator steps, then one generator step, each from the parameters the previous
one left, each with fresh latent draws.
"""

from __future__ import annotations

import dataclasses

import jax

from gendsl.errors import MissingObjectiveError, SolverError
from gendsl.solvers.base import Solver, StepResult, require_players


@dataclasses.dataclass(frozen=True)
class Alternating(Solver):
    """Players update in turn, each ``k`` times, in the order given.

    Attributes:
      schedule: ``((player name, number of updates), ...)``.
      fresh_batches: if True, every inner update reads its own source batch (the
        step then consumes ``sum(k)`` batches); otherwise they share the step's batch.
    """

    schedule: tuple[tuple[str, int], ...]
    fresh_batches: bool = False

    @property
    def batches_per_step(self) -> int:
        return sum(k for _, k in self.schedule) if self.fresh_batches else 1

    def describe(self) -> str:
        inner = ", ".join(f"{n}={k}" for n, k in self.schedule)
        return f"alternating({inner}{', fresh_batches=True' if self.fresh_batches else ''})"

    def check(self, program) -> None:
        names = [n for n, _ in self.schedule]
        require_players(self.describe(), names, program)
        for p in program.trainable:
            if p.name not in names:
                raise MissingObjectiveError(
                    f"player {p.name!r} has an objective but {self.describe()} never "
                    f"updates it; add {p.name}=1 to the schedule")

    def update(self, game, params, opt_state, solver_state, batch, key) -> StepResult:
        params, opt_state = dict(params), dict(opt_state)
        losses, metrics, i = {}, {}, 0
        n = sum(k for _, k in self.schedule)
        keys = jax.random.split(key, n) if n > 1 else key[None]  # one hash for all updates
        for name, k in self.schedule:
            for _ in range(k):
                b = jax.tree.map(lambda a: a[i], batch) if self.fresh_batches else batch
                loss, g, records = game.at(b, keys[i]).grad(name, params)
                game = game.with_module_state(records)  # the next update sees its stats
                params[name], opt_state[name] = game.apply_optimizer(
                    name, g, params[name], opt_state[name])
                losses[name] = loss
                metrics.update({f"{name}/{m}": v for m, v in records.items()})
                i += 1
        return StepResult(params, opt_state, solver_state, losses, metrics)


def alternating(*, fresh_batches: bool = False, **schedule: int) -> Alternating:
    """Returns the bilevel solver with an update schedule.

    Args:
      fresh_batches: give every inner update its own batch from the source.
      **schedule: ``player name=number of updates``, in the order they run, e.g.
        ``alternating(D=5, G=1)``.
    Returns:
      An :class:`Alternating` solver.

    >>> alternating(D=2, G=1).describe()
    'alternating(D=2, G=1)'
    """
    if not schedule:
        raise SolverError("alternating() needs a schedule, e.g. alternating(D=1, G=1)")
    for n, k in schedule.items():
        if not isinstance(k, int) or k < 1:
            raise SolverError(f"alternating(): {n}={k!r}; each count must be an int >= 1")
    return Alternating(tuple(schedule.items()), fresh_batches)
