"""The solver contract: how a game's gradients become one step's update.

A solver is a small immutable object (a frozen dataclass), like an optax
``GradientTransformation`` or a diffrax solver. The compiler calls :meth:`Solver.init`
once and :meth:`Solver.update` once per step, inside ``jax.jit``, with a
:class:`~gendsl.solvers.game.Game`; ``update`` returns a :class:`StepResult`.
:meth:`Solver.update` is abstract: a subclass that does not define it fails when it is
built, with a :class:`~gendsl.errors.SolverError`, not when it is first traced.
docs/extending.md shows how to add one.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Iterable, Mapping, NamedTuple

import jax

from gendsl.errors import SolverError, UnknownPlayerError
from gendsl.solvers.game import Game, Params


class StepResult(NamedTuple):
    """What :meth:`Solver.update` returns.

    Attributes:
      params: every player's new parameters (frozen players unchanged).
      opt_state: the trainable players' new optimizer states.
      solver_state: what the solver carries to the next step.
      losses: ``{player name: scalar loss}`` at the start of the step.
      metrics: ``{"<player>/<metric>": value}``, module-state updates included (see
        :mod:`gendsl.solvers.game`).
    """

    params: Params
    opt_state: dict[str, Any]
    solver_state: dict[str, Any]
    losses: dict[str, jax.Array]
    metrics: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Solver(abc.ABC):
    """Base class of solvers: subclass it as a frozen dataclass and define :meth:`update`.

    Attributes:
      batches_per_step: how many source batches one step consumes. When above one,
        the step's batch carries a leading axis of that size.
      uses_optimizers: whether updates go through the players' optimizers
        (``game.apply_optimizer``), where proximal terms such as ``gd.losses.l1`` take their
        step.
    """

    def __new__(cls, *args: Any, **kwargs: Any):
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            raise SolverError(
                f"solver {cls.__name__} does not define {', '.join(missing)}; a solver "
                "subclass must implement update(game, params, opt_state, solver_state, "
                "batch, key) -> StepResult (see docs/extending.md)")
        return super().__new__(cls)

    @property
    def batches_per_step(self) -> int:
        return 1

    @property
    def uses_optimizers(self) -> bool:
        return True

    def describe(self) -> str:
        """Returns the solver as text for :func:`gendsl.show`."""
        return repr(self)

    def check(self, program: Any) -> None:
        """Raises a GendslError if the solver cannot run ``program`` (called when the
        program is built)."""

    def init(self, game: Game, params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
        """Returns ``(optimizer states, solver state)`` for the trainable players."""
        return {n: game.init_optimizer(n, params[n]) for n in game.players}, {}

    @abc.abstractmethod
    def update(self, game: Game, params: Params, opt_state: dict[str, Any],
               solver_state: dict[str, Any], batch: Mapping[str, Any],
               key: jax.Array) -> StepResult:
        """Computes one step.

        Args:
          game: the program's game (static, with the module state at the step's start).
          params: every player's parameters (frozen players included).
          opt_state: the trainable players' optimizer states.
          solver_state: what this solver carried from the previous step.
          batch: the step's batch (leading axis ``batches_per_step`` when above one).
          key: this step's PRNG key.
        Returns:
          A :class:`StepResult`.
        """


def require_players(solver_text: str, names: Iterable[str], program: Any) -> None:
    """Raises UnknownPlayerError if a name is not a trainable player of ``program``."""
    trainable = [p.name for p in program.trainable]
    for n in names:
        if n not in trainable:
            raise UnknownPlayerError(
                f"{solver_text} names player {n!r}, which has no objective in this "
                f"program; trainable players are {trainable}")
