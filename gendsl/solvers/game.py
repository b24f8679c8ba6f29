"""What a solver sees of a program: the :class:`Game` and :class:`GamePoint` protocols.

A solver turns a game's gradients into one step's update. It never sees terms, modules
or devices: the compiler hands it a :class:`Game` (static: the players, their
optimizers and projections, built once per compile, plus the module state at the start
of the step), and the solver asks for the game at a batch and a PRNG key
(:meth:`Game.at`), where it evaluates and differentiates the objectives. The latents of
a point are drawn once, when the point is made, so every objective evaluated at one
point sees the same draws, outside every gradient.

These are protocols (structural types, as in optax's ``GradientTransformation``): the
compiler's :class:`gendsl.compiler.game.Game` implements them, and a test double only
needs the same methods. Module state (batch statistics, dropout counters) comes back in
the metrics of :meth:`GamePoint.grad` and :meth:`GamePoint.field`; a solver running
updates in sequence passes it on with :meth:`Game.with_module_state`.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

import jax

Params = dict[str, Any]
"""``{player name: parameter pytree}``."""


@runtime_checkable
class GamePoint(Protocol):
    """The game at one batch and one key: every evaluation here shares one latent draw."""

    def loss(self, name: str, params: Params) -> tuple[jax.Array, dict[str, Any]]:
        """Player ``name``'s objective at ``params``.

        Returns:
          ``(scalar loss, {metric name: scalar})`` (module-state updates dropped).
        """
        ...

    def grad(self, name: str, params: Params) -> tuple[jax.Array, Any, dict[str, Any]]:
        """``(loss, gradient w.r.t. params[name], metrics)`` for one player; the metrics
        carry the module-state updates."""
        ...

    def field(self, params: Params) -> tuple[Params, dict[str, jax.Array], dict[str, Any]]:
        """Every trainable player's gradient of its own objective at ``params``.

        Returns:
          ``(grads, losses, metrics)``: grads and losses keyed by player name, metrics
          by ``"<player>/<metric>"``.
        """
        ...


@runtime_checkable
class Game(Protocol):
    """The static part of a program's objectives, as solvers use it.

    Attributes:
      players: the trainable players' names, in the program's order.
    """

    players: tuple[str, ...]

    def at(self, batch: Mapping[str, Any], key: jax.Array) -> GamePoint:
        """The game at ``batch`` with latents drawn from ``key`` (drawn once, here)."""
        ...

    def with_module_state(self, metrics: Mapping[str, Any]) -> "Game":
        """This game with the module-state updates found in ``metrics`` applied."""
        ...

    def init_optimizer(self, name: str, params: Any) -> Any:
        """The initial optimizer state of player ``name``."""
        ...

    def apply_optimizer(self, name: str, grads: Any, params: Any,
                        opt_state: Any) -> tuple[Any, Any]:
        """``(new params, new optimizer state)`` of player ``name`` after its optimizer
        (and projection) took ``grads``."""
        ...

    def project(self, name: str, params: Any) -> Any:
        """Player ``name``'s projection of ``params`` (identity when it has none)."""
        ...
