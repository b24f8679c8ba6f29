"""The solver interface: how a game's gradients become one step's update.

A solver is a small immutable object. The compiler calls :meth:`Solver.init` once and
:meth:`Solver.update` once per step, inside ``jax.jit``, with a
:class:`~gendsl.compiler.game.Game` that evaluates and differentiates the objectives.
Subclass :class:`Solver` (a frozen dataclass) to add one; docs/extending.md shows how.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax

from gendsl.errors import UnknownPlayerError

Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Solver:
    """Base class of solvers. Subclasses override :meth:`update` (and what they need).

    Attributes:
      batches_per_step: how many source batches one step consumes. When above one,
        the step's batch carries a leading axis of that size.
    """

    @property
    def batches_per_step(self) -> int:
        return 1

    @property
    def uses_optimizers(self) -> bool:
        """Whether updates go through the players' optimizers (``game.apply_optimizer``),
        where proximal penalties such as ``gd.l1`` take their step."""
        return True

    def describe(self) -> str:
        """Returns the solver as text for :func:`gendsl.show`."""
        return repr(self)

    def check(self, program: Any) -> None:
        """Raises a GendslError if the solver cannot run ``program``."""

    def init(self, game: Any, params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
        """Returns ``(optimizer states, solver state)`` for the trainable players."""
        return {n: game.init_optimizer(n, params[n]) for n in game.players}, {}

    def update(self, game: Any, params: Params, opt_state: dict[str, Any],
               solver_state: dict[str, Any], batch: Mapping[str, Any], key: jax.Array
               ) -> tuple[Params, dict[str, Any], dict[str, Any], dict[str, jax.Array], dict[str, Any]]:
        """Computes one step.

        Args:
          game: the program's :class:`~gendsl.compiler.game.Game`.
          params: every player's parameters (frozen players included).
          opt_state: the trainable players' optimizer states.
          solver_state: what this solver carried from the previous step.
          batch: the step's batch (leading axis ``batches_per_step`` when above one).
          key: this step's PRNG key.
        Returns:
          ``(params, opt_state, solver_state, losses, metrics)``: losses keyed by
          player name, metrics by ``"<player>/<metric>"``.
        """
        raise NotImplementedError


def require_players(solver_text: str, names, program: Any) -> None:
    """Raises UnknownPlayerError if a name is not a trainable player of ``program``."""
    trainable = [p.name for p in program.trainable]
    for n in names:
        if n not in trainable:
            raise UnknownPlayerError(
                f"{solver_text} names player {n!r}, which has no objective in this "
                f"program; trainable players are {trainable}")
