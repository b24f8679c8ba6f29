"""The game: a program's objectives as pure functions of all players' parameters.

A :class:`Game` is what solvers see. It knows nothing of steps, states or devices: it
evaluates objectives, differentiates each player's objective w.r.t. that player's own
parameters, and applies a player's optimizer. Solvers combine these into updates.

Module state (batch statistics, dropout counters) is not differentiated. The state an
evaluation leaves behind comes back from :meth:`Game.grad` and :meth:`Game.field` inside
their metrics, under keys ending in :data:`MODULE_STATE`. A solver that runs updates in
sequence passes them on with :meth:`Game.with_module_state` (``alternating`` does, so
G's update sees the statistics D's update left); otherwise every evaluation of a step
starts from the state at the start of the step. A solver that merges the metrics into
its own (as every built-in does) hands the updates to the compiler, which takes them
out with :func:`take_module_state` (the last update of a player wins) and carries them
to the next step. A solver that drops them leaves the state as it was. The state is
passed as data, never stored behind a solver's back, so an evaluation nested in another
transformation (the ODE regulariser's gradient of a gradient) cannot leak its tracers.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax

from gendsl.compiler.lowering import LoweringContext
from gendsl.compiler.proximal import player_optimizers
from gendsl.errors import NonScalarObjectiveError
from gendsl.terms.program import Program
from gendsl.terms.show import show_term
from gendsl.terms.sources import latent_keys

Params = dict[str, Any]

MODULE_STATE = "_module_state"
"""The metric name under which :meth:`Game.grad` and :meth:`Game.field` return the
module state their evaluation left behind (``{player name: state}``)."""


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


class Game:
    """The differentiable view of a program's objectives, used by solvers.

    Args:
      program: the program.
      statics: ``{player name: PlayerStatic}``.
      rest: ``{player name: non-parameter state}`` (held constant).
      mesh: optional device mesh (latents are sharded on its ``data`` axis).
      shape_log: optional dict shared by every evaluation (compile-time checks).
      train: evaluate modules in training mode (False: eval mode, e.g. for held-out
        objectives).
    """

    def __init__(self, program: Program, statics: Mapping[str, Any], rest: Mapping[str, Any],
                 mesh: Any = None, shape_log: dict | None = None, *, train: bool = True):
        self.program, self.statics, self.rest, self.mesh = program, statics, rest, mesh
        self.shape_log, self.train = shape_log, train
        self.players: tuple[str, ...] = tuple(p.name for p in program.trainable)
        self._optimizers = player_optimizers(program)  # with proximal steps (gd.l1)
        self._projections = {p.name: p.project for p in program.trainable}
        # players sharing one objective term are differentiated in one backward pass
        groups: dict[int, list[str]] = {}
        for p, t in program.objectives:
            groups.setdefault(id(t), []).append(p.name)
        self._groups = list(groups.values())
        self._latent_terms = program.latents()
        self._latent_cache: dict[tuple[int, int], Any] = {}

    def latents(self, batch: Mapping[str, Any], key: jax.Array) -> dict[str, Any]:
        """Draws the program's latents for ``key``, once per key within a trace.

        Every objective evaluated with the same key object reuses these draws, so a
        step that differentiates several objectives (or several stages at one key)
        generates its random numbers once. The draws depend on the key and the batch
        size only, never on parameters, so they sit outside every gradient.
        """
        cache_key = (id(key), id(batch))
        hit = self._latent_cache.get(cache_key)
        if hit is None:
            keys = latent_keys(self._latent_terms, key)
            draws = {}
            for z in self._latent_terms:
                ctx = LoweringContext(self.statics, {}, self.rest, batch, keys[z.name],
                                      mesh=self.mesh)
                draws[z.name] = ctx.draw(z)
            hit = self._latent_cache[cache_key] = (key, batch, draws)  # refs keep ids unique
        return hit[2]

    def with_module_state(self, metrics: Mapping[str, Any]) -> "Game":
        """Returns this game with the module-state updates found in ``metrics`` applied.

        Args:
          metrics: the metrics of :meth:`grad` or :meth:`field` (or a solver's merged
            metrics); entries other than module state are ignored.
        Returns:
          A game whose evaluations start from the updated state (the same game when
          there is nothing to update).
        """
        _, updates = take_module_state(metrics)
        if not updates:
            return self
        game = copy.copy(self)  # shares the latent draws of this step
        game.rest = {**self.rest, **updates}
        return game

    def context(self, params: Params, batch: Mapping[str, Any], key: jax.Array,
                batch_size: int | None = None) -> LoweringContext:
        """Returns a lowering context at ``params`` (for custom solvers and primitives)."""
        latents = self.latents(batch, key) if batch_size is None else None
        return LoweringContext(self.statics, params, self.rest, batch, key,
                               batch_size=batch_size, mesh=self.mesh, shape_log=self.shape_log,
                               latents=latents, train=self.train)

    def loss(self, name: str, params: Params, batch: Mapping[str, Any],
             key: jax.Array) -> tuple[jax.Array, dict[str, Any]]:
        """Evaluates the objective of player ``name``.

        Args:
          name: a trainable player.
          params: every player's parameters.
          batch: the batch.
          key: the evaluation key (same key, same latents).
        Returns:
          ``(scalar loss, {metric name: scalar})``; module-state updates are dropped.
        """
        value, records = self._loss(name, params, batch, key)
        records.pop(MODULE_STATE, None)
        return value, records

    def _loss(self, name, params, batch, key):
        # records plus, under MODULE_STATE, the module state the evaluation left behind
        ctx = self.context(params, batch, key)
        term = self.program.objective(name)
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

    def grad(self, name: str, params: Params, batch: Mapping[str, Any],
             key: jax.Array) -> tuple[jax.Array, Any, dict[str, Any]]:
        """Returns ``(loss, gradient w.r.t. params[name], metrics)`` for one player.

        The metrics include the module-state updates under :data:`MODULE_STATE`.
        """
        self.latents(batch, key)  # draw once, outside the gradient
        def f(own):
            return self._loss(name, {**params, name: own}, batch, key)
        (value, records), g = jax.value_and_grad(f, has_aux=True)(params[name])
        return value, g, records

    def field(self, params: Params, batch: Mapping[str, Any],
              key: jax.Array) -> tuple[Params, dict[str, jax.Array], dict[str, Any]]:
        """Every trainable player's gradient of its own objective, at one point.

        All players see the same batch and latent draws. Players that share one
        objective term are differentiated together in a single backward pass.

        Returns:
          ``(grads, losses, metrics)``, each keyed by player name (metrics by
          ``"<player>/<metric>"``, module-state updates by
          ``"<player>/"`` + :data:`MODULE_STATE`).
        """
        grads, losses, metrics = {}, {}, {}
        self.latents(batch, key)  # draw once, outside the gradients
        for group in self._groups:
            def f(own, group=group):
                return self._loss(group[0], {**params, **own}, batch, key)
            (value, records), g = jax.value_and_grad(f, has_aux=True)(
                {n: params[n] for n in group})
            for n in group:
                grads[n], losses[n] = g[n], value
                metrics.update({f"{n}/{k}": v for k, v in records.items()})
        return grads, losses, metrics

    def init_optimizer(self, name: str, params: Any) -> Any:
        """Returns the initial optax state of player ``name``."""
        return self._optimizers[name].init(params)

    def apply_optimizer(self, name: str, grads: Any, params: Any,
                        opt_state: Any) -> tuple[Any, Any]:
        """Applies player ``name``'s optimizer (then its projection, if any).

        Returns:
          ``(new params, new optimizer state)`` for that player.
        """
        updates, opt_state = self._optimizers[name].update(grads, opt_state, params)
        return self.project(name, optax.apply_updates(params, updates)), opt_state

    def project(self, name: str, params: Any) -> Any:
        """Applies player ``name``'s projection (identity when it has none)."""
        project = self._projections.get(name)
        return params if project is None else project(params)
