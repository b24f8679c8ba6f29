"""A store of discriminator snapshots: the generator form of the gradient layer.

``S = gd.snapshots("S", of=D, base=G, capacity=T)`` is a player whose parameters hold up
to ``T`` frozen copies of ``D``'s parameters, stacked on a leading axis, the number in
use, and a copy of ``G``'s parameters the stack starts from. No objective trains it:
``gd.push_snapshots(solver, S, every=K)`` wraps the program's solver and pushes ``D``
into it every ``K`` steps, and ``gd.gradient_stack(S, z, eta)`` is the sampler
``GL_c o ... o GL_1 o G_base (z)`` with ``GL_i(x) = x + eta grad d_i(x)``. List ``S`` in
the program's ``frozen=[...]``. Its parameters are part of the train state: checkpoints
hold the snapshots. Snapshots hold parameters only (a discriminator with batch
statistics is applied with its current statistics).

>>> import optax
>>> from flax import nnx
>>> from gendsl.terms.player import player
>>> D = player("D", lambda rngs: nnx.Linear(2, 1, rngs=rngs), optax.sgd(0.1))
>>> G = player("G", lambda rngs: nnx.Linear(3, 2, rngs=rngs), optax.sgd(0.1))
>>> S = snapshots("S", of=D, base=G, capacity=4)
>>> S.build(jax.random.key(0))[1]["layers"]["kernel"].shape
(4, 2, 1)
>>> from gendsl.solvers.alternating import alternating
>>> push_snapshots(alternating(D=1), S, every=10).describe()
'push_snapshots(alternating(D=1), S: D every 10 steps)'
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import jax
import jax.numpy as jnp

from gendsl.errors import ProgramError, SolverError
from gendsl.solvers.base import Solver
from gendsl.solvers.snapshot_push import PushSnapshots
from gendsl.terms.player import Player, PlayerStatic, _check_name


@dataclasses.dataclass(frozen=True, eq=False)
class Snapshots(Player):
    """A player holding stacked snapshots of another player; build it with :func:`snapshots`.

    Attributes:
      of: the player whose parameters are snapshotted (the discriminator).
      base: the generator the stack starts from.
      capacity: the most snapshots held.
    """

    of: Player | None = None
    base: Player | None = None
    capacity: int = 1

    def describe(self) -> str:
        return f"snapshots(of={self.of.name}, base={self.base.name}, capacity={self.capacity})"

    def build(self, key: jax.Array) -> tuple[PlayerStatic, Any, Any]:
        params = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), self.abstract()[1])
        return PlayerStatic(), params, {}

    def abstract(self) -> tuple[PlayerStatic, Any, Any]:
        _, d_params, _ = self.of.abstract()
        _, g_params, _ = self.base.abstract()
        shape = jax.ShapeDtypeStruct
        params = {"layers": jax.tree.map(lambda s: shape((self.capacity,) + s.shape, s.dtype),
                                         d_params),
                  "count": shape((), jnp.int32), "base": g_params,
                  "started": shape((), jnp.int32)}
        return PlayerStatic(), params, {}

    def call(self, static, params, rest, args, method, *, train=True):
        raise ProgramError(f"snapshot store {self.name!r} cannot be applied; sample through "
                           f"it with gd.gradient_stack({self.name}, z, eta)")


def snapshots(name: str, *, of: Player, base: Player, capacity: int) -> Snapshots:
    """Returns a store of up to ``capacity`` snapshots of ``of``'s parameters.

    Args:
      name: unique name within the program.
      of: the discriminator whose parameters are pushed.
      base: the generator the stack starts from.
      capacity: the most snapshots held (an int >= 1); memory is ``capacity`` copies of
        ``of``'s parameters.
    Returns:
      A :class:`Snapshots` player (list it in ``frozen=[...]``).
    Raises:
      ProgramError: a malformed name, player or capacity.
    """
    _check_name(name)
    for role, p in (("of", of), ("base", base)):
        if not isinstance(p, Player) or isinstance(p, Snapshots):
            raise ProgramError(f"snapshots({name!r}): {role} must be a player (gd.player), "
                               f"got {type(p).__name__}")
    if isinstance(capacity, bool) or not isinstance(capacity, numbers.Integral) or capacity < 1:
        raise ProgramError(f"snapshots({name!r}): capacity must be an int >= 1, got {capacity!r}")
    return Snapshots(name, None, None, None, of, base, int(capacity))


def push_snapshots(solver: Solver, store: Snapshots, *, every: int,
                   restart: bool = False) -> PushSnapshots:
    """Wraps ``solver`` so that it pushes ``store.of`` into ``store`` every ``every`` steps.

    Args:
      solver: the program's solver (e.g. ``gd.alternating(D=1)``).
      store: a :func:`snapshots` player.
      every: steps between pushes (an int >= 1).
      restart: when the store is full, make the generator player (``store.base``,
        trained meanwhile to match the stack: distillation) the new base and empty the
        stack, so that it never exceeds ``capacity``; False: stop growing when full.
    Returns:
      A :class:`gendsl.solvers.PushSnapshots` solver.
    Raises:
      SolverError: ``store`` is not a snapshots player or ``every`` is malformed.
    """
    if not isinstance(store, Snapshots):
        raise SolverError(f"push_snapshots: store must be a gd.snapshots player, got "
                          f"{type(store).__name__}")
    if not isinstance(solver, Solver):
        raise SolverError(f"push_snapshots: solver must be a gendsl solver (e.g. "
                          f"gd.alternating(D=1)), got {type(solver).__name__}")
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise SolverError(f"push_snapshots: every must be an int >= 1, got {every!r}")
    return PushSnapshots(solver, store.name, store.of.name, store.base.name, int(every),
                         bool(restart))
