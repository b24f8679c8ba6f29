"""Simultaneous gradient steps: every player descends its objective at the same point.

``minimize()`` is the same update, named for single-level programs (one player, or
several players sharing one objective, as in a VAE's encoder and decoder).
"""

from __future__ import annotations

import dataclasses

from gendsl.solvers.base import Solver, StepResult


@dataclasses.dataclass(frozen=True)
class Simultaneous(Solver):
    """All trainable players take one optimizer step from the same point.

    Attributes:
      label: the name shown by :func:`gendsl.show` (``simultaneous`` or ``minimize``).
    """

    label: str = "simultaneous"

    def describe(self) -> str:
        return f"{self.label}()"

    def update(self, game, params, opt_state, solver_state, batch, key) -> StepResult:
        grads, losses, metrics = game.at(batch, key).field(params)
        params, opt_state = dict(params), dict(opt_state)
        for n in game.players:
            params[n], opt_state[n] = game.apply_optimizer(n, grads[n], params[n], opt_state[n])
        return StepResult(params, opt_state, solver_state, losses, metrics)


def simultaneous() -> Simultaneous:
    """Returns the solver where all players step at once from the same point.

    Returns:
      A :class:`Simultaneous` solver.

    >>> simultaneous().describe()
    'simultaneous()'
    """
    return Simultaneous()


def minimize() -> Simultaneous:
    """Returns the solver for single-level programs: each player minimises its
    objective with its optimizer (players sharing an objective share one backward pass).

    Returns:
      A :class:`Simultaneous` solver labelled ``minimize``.
    """
    return Simultaneous("minimize")
