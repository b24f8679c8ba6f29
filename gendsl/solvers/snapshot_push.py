"""A solver wrapper that grows a stack of discriminator snapshots: the generator form of
the gradient layer (Nitanda & Suzuki, AISTATS 2018).

``PushSnapshots(inner, store, of, base, every)`` runs ``inner``'s step, then every
``every`` steps copies player ``of``'s parameters (the discriminator) into the next free
slot of player ``store`` (a ``gd.snapshots`` player, which no objective trains). The
store's parameters are ``{"layers": of's parameters stacked (capacity, ...), "count":
layers in use, "base": the generator's parameters the stack starts from, "started":
whether "base" was taken}``; they are part of the train state, so checkpoints hold the
snapshots. On its first step the wrapper takes ``base`` from player ``base`` (so a
stage that trained the generator before hands it over).

When the store is full: with ``restart=False`` the stack stops growing; with
``restart=True`` (distillation) the generator player, trained meanwhile to match the
stack's output, becomes the new base and the stack is emptied before the push, so the
sampler never holds more than ``capacity`` layers.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from gendsl.errors import SolverError, UnknownPlayerError
from gendsl.solvers.base import Solver, StepResult


@dataclasses.dataclass(frozen=True)
class PushSnapshots(Solver):
    """Runs ``inner`` and pushes ``of``'s parameters into ``store`` every ``every`` steps.

    Attributes:
      inner: the solver that trains the players.
      store: the name of the ``gd.snapshots`` player holding the stack.
      of: the name of the player whose parameters are pushed (the discriminator).
      base: the name of the generator the stack starts from.
      every: steps between pushes (an int >= 1).
      restart: when the store is full, restart it from the current ``base`` player
        (distillation) instead of no longer growing.
    """

    inner: Solver
    store: str
    of: str
    base: str
    every: int
    restart: bool = False

    @property
    def batches_per_step(self) -> int:
        return self.inner.batches_per_step

    @property
    def uses_optimizers(self) -> bool:
        return self.inner.uses_optimizers

    def describe(self) -> str:
        inner = getattr(self.inner, "describe", lambda: repr(self.inner))()
        return (f"push_snapshots({inner}, {self.store}: {self.of} every {self.every} steps"
                f"{', restart from ' + self.base if self.restart else ''})")

    def check(self, program) -> None:
        self.inner.check(program)
        names = [p.name for p in program.players]
        for role, name in (("store", self.store), ("of", self.of), ("base", self.base)):
            if name not in names:
                raise UnknownPlayerError(f"{self.describe()}: {role}={name!r} is not a player "
                                         f"of the program (players: {names})")
        if self.store in [p.name for p in program.trainable]:
            raise SolverError(f"{self.describe()}: the snapshot store {self.store!r} has an "
                              "objective; list it in frozen=[...] instead (only pushes change it)")
        if self.restart and self.base not in [p.name for p in program.trainable]:
            raise SolverError(
                f"{self.describe()}: restart=True hands the stack over to {self.base!r}, "
                f"which has no objective; give it the distillation objective "
                f"(see docs/gradient_layer.md) or use restart=False")

    def init(self, game, params):
        opt_state, inner_state = self.inner.init(game, params)
        return opt_state, {"inner": inner_state, "tick": jnp.zeros((), jnp.int32)}

    def update(self, game, params, opt_state, solver_state, batch, key) -> StepResult:
        params = dict(params)
        s = dict(params[self.store])
        started = s["started"] > 0
        s["base"] = jax.tree.map(lambda b, g: jnp.where(started, b, g), s["base"],
                                 params[self.base])
        s["started"] = jnp.ones_like(s["started"])
        params[self.store] = s
        new, opt_state, inner_state, losses, metrics = self.inner.update(
            game, params, opt_state, solver_state["inner"], batch, key)
        params = dict(new)
        s = dict(params[self.store])
        tick = solver_state["tick"] + 1
        capacity = jax.tree.leaves(s["layers"])[0].shape[0]
        push = tick % self.every == 0
        count = s["count"]
        if self.restart:
            clear = push & (count >= capacity)
            s["base"] = jax.tree.map(lambda b, g: jnp.where(clear, g, b), s["base"],
                                     params[self.base])
            count = jnp.where(clear, 0, count)
        fits = push & (count < capacity)
        slot = jnp.minimum(count, capacity - 1)
        s["layers"] = jax.tree.map(lambda stack, p: jnp.where(fits, stack.at[slot].set(p), stack),
                                   s["layers"], params[self.of])
        s["count"] = (count + fits).astype(s["count"].dtype)
        params[self.store] = s
        metrics = {**metrics, f"{self.store}/layers": s["count"].astype(jnp.float32)}
        return StepResult(params, opt_state, {"inner": inner_state, "tick": tick}, losses,
                          metrics)
