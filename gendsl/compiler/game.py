"""The game: a program's objectives as pure functions of all players' parameters.

:class:`Game` implements the :class:`gendsl.solvers.game.Game` protocol that solvers
see. Its static part (the program, each player's graph definition, optimizer and
projection, which players share an objective) is built once per compile
(:meth:`Game.build`); what changes from step to step is passed explicitly: the module
state with :meth:`Game.with_rest`, the batch and the key with :meth:`Game.at`, which
draws the latents once and returns a :class:`GamePoint` where objectives are evaluated
and differentiated. Both are frozen: a new state is a new object, never a patched one.

Module state (batch statistics, dropout counters) is not differentiated. The state an
evaluation leaves behind comes back from :meth:`GamePoint.grad` and
:meth:`GamePoint.field` inside their metrics, under keys ending in
:data:`MODULE_STATE`. A solver that runs updates in sequence passes them on with
:meth:`Game.with_module_state` (``alternating`` does, so G's update sees the
statistics D's update left); otherwise every evaluation of a step starts from the state
at the start of the step. A solver that merges the metrics into its own (as every
built-in does) hands the updates to the compiler, which takes them out with
:func:`take_module_state` (the last update of a player wins) and carries them to the
next step. The state is passed as data, never stored behind a solver's back, so an
evaluation nested in another transformation (the ODE regulariser's gradient of a
gradient) cannot leak its tracers.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax

from gendsl.compiler.lowering import LoweringContext
from gendsl.compiler.proximal import player_optimizers
from gendsl.errors import NonScalarObjectiveError
from gendsl.terms.program import Program
from gendsl.terms.show import show_term
from gendsl.terms.sources import Latent, latent_keys

Params = dict[str, Any]

MODULE_STATE = "_module_state"
"""The metric name under which :meth:`GamePoint.grad` and :meth:`GamePoint.field` return
the module state their evaluation left behind (``{player name: state}``)."""


def take_module_state(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Splits a solver's metrics into real metrics and module-state updates.

    Args:
      metrics: ``{name: value}`` where names ending in :data:`MODULE_STATE` hold
        ``{player name: state}`` dicts.
    Returns:
      ``(metrics without them, {player name: latest state})``; later entries win.
    """
    plain, state = {}, {}
    for name, value in metrics.items():
        if name == MODULE_STATE or name.endswith("/" + MODULE_STATE):
            state.update(value)
        else:
            plain[name] = value
    return plain, state


@dataclasses.dataclass(frozen=True, eq=False)
class Game:
    """The differentiable view of a program's objectives, used by solvers.

    Build it once per compile with :meth:`build`.

    Attributes:
      program: the program.
      statics: ``{player name: PlayerStatic}``.
      players: the trainable players' names, in order.
      optimizers: ``{player name: optax optimizer}`` with proximal steps installed.
      projections: ``{player name: projection or None}``.
      groups: players sharing one objective term (one backward pass per group).
      latent_terms: the program's latents, in order.
      mesh: optional device mesh (latents are sharded on its ``data`` axis).
      rest: ``{player name: non-parameter state}`` at the start of the step.
      train: evaluate modules in training mode (False: eval mode, e.g. for held-out
        objectives).
      shape_log: optional dict shared by every evaluation (compile-time checks).
    """

    program: Program
    statics: Mapping[str, Any]
    players: tuple[str, ...]
    optimizers: Mapping[str, optax.GradientTransformation]
    projections: Mapping[str, Callable[[Any], Any] | None]
    groups: tuple[tuple[str, ...], ...]
    latent_terms: tuple[Latent, ...]
    mesh: Any = None
    rest: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    train: bool = True
    shape_log: dict | None = None

    @classmethod
    def build(cls, program: Program, statics: Mapping[str, Any], mesh: Any = None) -> "Game":
        """The static game of ``program``.

        Args:
          program: the program.
          statics: ``{player name: PlayerStatic}`` (``Player.abstract()[0]``).
          mesh: optional device mesh.
        """
        groups: dict[int, list[str]] = {}  # players sharing one objective term
        for p, t in program.objectives:
            groups.setdefault(id(t), []).append(p.name)
        return cls(program, statics, tuple(p.name for p in program.trainable),
                   player_optimizers(program), {p.name: p.project for p in program.trainable},
                   tuple(tuple(g) for g in groups.values()), program.latents(), mesh)

    def with_rest(self, rest: Mapping[str, Any]) -> "Game":
        """This game with the module state ``rest`` (``{player name: state}``)."""
        return dataclasses.replace(self, rest=rest)

    def with_module_state(self, metrics: Mapping[str, Any]) -> "Game":
        """This game with the module-state updates found in ``metrics`` applied.

        Args:
          metrics: the metrics of :meth:`GamePoint.grad` or :meth:`GamePoint.field` (or
            a solver's merged metrics); entries other than module state are ignored.
        Returns:
          A game whose evaluations start from the updated state (this game when there
          is nothing to update).
        """
        _, updates = take_module_state(metrics)
        return self.with_rest({**self.rest, **updates}) if updates else self

    def at(self, batch: Mapping[str, Any], key: jax.Array) -> "GamePoint":
        """The game at ``batch`` with the latents drawn from ``key``.

        The draws depend on the key and the batch size only, never on parameters, so
        they sit outside every gradient; every evaluation at the returned point reuses
        them.
        """
        keys = latent_keys(self.latent_terms, key)
        draws = {}
        for z in self.latent_terms:
            ctx = LoweringContext(self.statics, {}, self.rest, batch, keys[z.name],
                                  mesh=self.mesh)
            draws[z.name] = ctx.draw(z)
        return GamePoint(self, batch, key, draws)

    def init_optimizer(self, name: str, params: Any) -> Any:
        """Returns the initial optax state of player ``name``."""
        return self.optimizers[name].init(params)

    def apply_optimizer(self, name: str, grads: Any, params: Any,
                        opt_state: Any) -> tuple[Any, Any]:
        """Applies player ``name``'s optimizer (then its projection, if any).

        Returns:
          ``(new params, new optimizer state)`` for that player.
        """
        updates, opt_state = self.optimizers[name].update(grads, opt_state, params)
        return self.project(name, optax.apply_updates(params, updates)), opt_state

    def project(self, name: str, params: Any) -> Any:
        """Applies player ``name``'s projection (identity when it has none)."""
        project = self.projections.get(name)
        return params if project is None else project(params)


@dataclasses.dataclass(frozen=True, eq=False)
class GamePoint:
    """The game at one batch and key (from :meth:`Game.at`); implements
    :class:`gendsl.solvers.game.GamePoint`.

    Attributes:
      game: the game.
      batch: the batch.
      key: the evaluation key.
      latents: ``{latent name: draw}``, drawn once for this point.
    """

    game: Game
    batch: Mapping[str, Any]
    key: jax.Array
    latents: Mapping[str, Any]

    def context(self, params: Params) -> LoweringContext:
        """Returns a lowering context at ``params`` (for custom solvers)."""
        g = self.game
        return LoweringContext(g.statics, params, g.rest, self.batch, self.key, mesh=g.mesh,
                               shape_log=g.shape_log, latents=self.latents, train=g.train)

    def loss(self, name: str, params: Params) -> tuple[jax.Array, dict[str, Any]]:
        """Evaluates the objective of player ``name``.

        Args:
          name: a trainable player.
          params: every player's parameters.
        Returns:
          ``(scalar loss, {metric name: scalar})``; module-state updates are dropped.
        """
        value, records = self._loss(name, params)
        records.pop(MODULE_STATE, None)
        return value, records

    def _loss(self, name: str, params: Params) -> tuple[jax.Array, dict[str, Any]]:
        # records plus, under MODULE_STATE, the module state the evaluation left behind
        ctx = self.context(params)
        term = self.game.program.objective(name)
        value = ctx.eval(term)
        shape = jnp.shape(value)
        if shape != ():
            raise NonScalarObjectiveError(
                f"the objective of player {name!r} has shape {shape}, not a scalar: "
                f"{show_term(term)}; reduce it, e.g. with gd.mean(...)")
        records = dict(ctx.records)
        if ctx.rest_updates:
            records[MODULE_STATE] = dict(ctx.rest_updates)
        return jnp.asarray(value), records

    def grad(self, name: str, params: Params) -> tuple[jax.Array, Any, dict[str, Any]]:
        """Returns ``(loss, gradient w.r.t. params[name], metrics)`` for one player.

        The metrics include the module-state updates under :data:`MODULE_STATE`.
        """
        def f(own):
            return self._loss(name, {**params, name: own})
        (value, records), g = jax.value_and_grad(f, has_aux=True)(params[name])
        return value, g, records

    def field(self, params: Params) -> tuple[Params, dict[str, jax.Array], dict[str, Any]]:
        """Every trainable player's gradient of its own objective, at this point.

        Players that share one objective term are differentiated together in a single
        backward pass.

        Returns:
          ``(grads, losses, metrics)``, each keyed by player name (metrics by
          ``"<player>/<metric>"``, module-state updates by
          ``"<player>/"`` + :data:`MODULE_STATE`).
        """
        grads, losses, metrics = {}, {}, {}
        for group in self.game.groups:
            def f(own, group=group):
                return self._loss(group[0], {**params, **own})
            (value, records), g = jax.value_and_grad(f, has_aux=True)(
                {n: params[n] for n in group})
            for n in group:
                grads[n], losses[n] = g[n], value
                metrics.update({f"{n}/{k}": v for k, v in records.items()})
        return grads, losses, metrics
