"""A program lowered to pure, jitted, optionally sharded JAX functions.

``CompiledProgram(program, mesh)`` builds the program's static game once, then two
jitted functions over the flat :class:`~gendsl.compiler.state.TrainState`: ``step``
(one step) and ``step_many`` (as many steps as the batches' leading axis holds, fused
with ``lax.scan``). The state is donated; with a mesh, parameters are replicated and
the batch is sharded on the mesh's ``data`` axis (``jax.jit`` with ``NamedSharding``,
the successor of ``pmap``).

A step whose losses or new parameters are not finite is not applied: the state keeps
its parameters, advances its step counter and key, and counts the event in
``nonfinite_streak`` / ``nonfinite_total``; the runner decides when to stop.

A compiled program implements the runner's ``Stepper`` protocol
(:mod:`gendsl.run.stepper`) as a single phase. Module state (batch statistics,
dropout counters) updated by the step's objectives is carried in ``TrainState.rest``;
sampling, ``apply`` and ``evaluate`` run modules in eval mode and never change the
state.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gendsl.compiler.game import Game
from gendsl.compiler.lowering import LoweringContext
from gendsl.compiler.state import TrainState
from gendsl.compiler.step import Step, make_step
from gendsl.compiler.traces import TraceCounter
from gendsl.errors import ProgramError
from gendsl.sharding import abstract_on, batch_sharding, shard_batch
from gendsl.terms.fingerprint import combine, fingerprint_parts
from gendsl.terms.program import Program


def jit_step(fn: Step, mesh: Mesh | None, *, lead_axes: int, donate: bool):
    """``jax.jit`` of ``fn(state, batch) -> (state, metrics)`` over flat train states.

    Args:
      fn: a step over the nested fields of the state.
      mesh: the device mesh, or None.
      lead_axes: axes of the batch before its batch axis (steps, batches per step).
      donate: donate the input state's buffers.
    Returns:
      ``(jitted function, its TraceCounter)``.
    """
    counted = TraceCounter(lambda state, batch: _on_tree(fn, state, batch))
    kwargs: dict[str, Any] = {"donate_argnums": (0,) if donate else ()}
    if mesh is not None:
        replicated = NamedSharding(mesh, PartitionSpec())
        kwargs.update(in_shardings=(replicated, batch_sharding(mesh, lead_axes)),
                      out_shardings=(replicated, replicated))
    return jax.jit(counted, **kwargs), counted


def _on_tree(fn: Step, state: TrainState, batch):
    new, metrics = fn(state.tree(), batch)
    return TrainState.from_tree(new, like=state), metrics


def scan_steps(fn: Step) -> Step:
    """The step that runs ``fn`` once per entry of the batches' leading axis."""
    return lambda state, batches: jax.lax.scan(fn, state, batches)


class CompiledProgram:
    """A program lowered to jitted JAX functions. Build it with :func:`gendsl.compile`.

    Attributes:
      program: the source program.
      mesh: the device mesh, or None for the default device.
      batches_per_step: source batches one step consumes (from the solver).
      fingerprint: the program's fingerprint.
      fingerprint_parts: its named parts (:func:`gendsl.terms.fingerprint.fingerprint_parts`),
        stored with checkpoints so that a refused resume says what changed.
      name, start, end: as a runner phase: ``""``, 0 and None (the whole run).
      total_steps: None (a plain program has no step budget of its own).
      game: the program's static :class:`~gendsl.compiler.game.Game`.
      step_fn: the pure step over the state's fields (what ``step`` and ``step_many``
        jit; a staged program wraps it per stage).
      step: ``(state, batch) -> (state, metrics)``, jitted, donating ``state``.
      step_many: ``(state, batches) -> (state, metrics)`` fusing as many steps as
        ``batches`` has entries on its leading axis; metrics come back stacked.
    """

    name: str = ""
    start: int = 0
    end: int | None = None
    total_steps: int | None = None

    def __init__(self, program: Program, mesh: Mesh | None = None, *,
                 guard_nonfinite: bool = True, donate: bool = True):
        if not isinstance(program, Program):
            raise ProgramError(f"compile() takes a gendsl Program, got {type(program).__name__}")
        if mesh is not None and "data" not in mesh.axis_names:
            raise ProgramError(f"the mesh needs an axis named 'data'; it has {mesh.axis_names}")
        self.program, self.mesh = program, mesh
        self.solver = program.solver
        self.batches_per_step = int(self.solver.batches_per_step)
        abstract = {p.name: p.abstract() for p in program.players}
        self._statics = {n: a[0] for n, a in abstract.items()}
        self._abstract_params = {n: a[1] for n, a in abstract.items()}
        self._abstract_rest = {n: a[2] for n, a in abstract.items()}
        self.fingerprint_parts = fingerprint_parts(program)
        self.fingerprint = combine(self.fingerprint_parts)
        self.game = Game.build(program, self._statics, mesh)
        self.step_fn = make_step(self.game, self.solver,
                                 tuple((p.name, d) for p, d in program.ema),
                                 guard_nonfinite=guard_nonfinite)
        extra = int(self.batches_per_step > 1)
        self.step, self._count1 = jit_step(self.step_fn, mesh, lead_axes=extra, donate=donate)
        self.step_many, self._countk = jit_step(scan_steps(self.step_fn), mesh,
                                                lead_axes=1 + extra, donate=donate)
        self._sample = jax.jit(self._sample_fn, static_argnums=2)
        self._apply = jax.jit(self._apply_fn, static_argnames=("player", "method", "train"))
        self._evaluate = jax.jit(self._evaluate_fn)

    # -- the runner's view -------------------------------------------------------------
    @property
    def phases(self) -> tuple["CompiledProgram"]:
        """The runner's phases: this program, for the whole run."""
        return (self,)

    @property
    def trace_count(self) -> int:
        """How many times the step functions have been traced (1 per shape, ideally)."""
        return self._count1.count + self._countk.count

    def __call__(self, state: TrainState, batch: Mapping[str, Any]):
        """Same as :attr:`step`."""
        return self.step(state, batch)

    # -- checking and initialising -------------------------------------------------------
    def check(self, example_batch: Mapping[str, Any]) -> None:
        """Checks the program against a batch, abstractly (no FLOPs).

        Raises the GendslError that names the fault: an unknown data field, a real/fake
        shape mismatch, a non-scalar objective, a failing player application.

        Args:
          example_batch: one step's batch (without the fused steps' axis).
        """
        spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a)),
                            dict(example_batch))
        if self.batches_per_step > 1:
            spec = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), spec)
        key = jax.random.key(0)
        game = dataclasses.replace(self.game, shape_log={})

        def objective(params, rest, batch, name):
            return game.with_rest(rest).at(batch, key).loss(name, params)[0]

        def samples(params, rest, batch):
            return LoweringContext(self._statics, params, rest, batch, key,
                                   shape_log=game.shape_log).eval(self.program.samples)

        # objectives in order, so that an error names the first fault in reading order
        for p, _ in self.program.objectives:
            jax.eval_shape(lambda *a, n=p.name: objective(*a, n),
                           self._abstract_params, self._abstract_rest, spec)
        if self.program.samples is not None:
            jax.eval_shape(samples, self._abstract_params, self._abstract_rest, spec)

    def init(self, key: jax.Array, example_batch: Mapping[str, Any] | None = None) -> TrainState:
        """Creates the initial train state.

        Args:
          key: a PRNG key (``jax.random.key(seed)``); factory players draw their
            initial parameters from it.
          example_batch: one step's batch; when given the program is checked against
            it first (see :meth:`check`).
        Returns:
          A :class:`TrainState`, replicated over the mesh if there is one.
        """
        if example_batch is not None:
            self.check(example_batch)
        k_players, k_state = jax.random.split(key)
        params, rest = {}, {}
        for i, p in enumerate(self.program.players):
            static, ps, rs = p.build(jax.random.fold_in(k_players, i))
            # own copies: the step donates its state, which must not free the arrays of
            # a module the user passed in (nor alias the EMA copy below)
            params[p.name], rest[p.name] = jax.tree.map(jnp.copy, (ps, rs))
            if static.graphdef != self._statics[p.name].graphdef:
                raise ProgramError(f"player {p.name!r} built a different module structure "
                                   "than it declared; its factory must be deterministic")
        opt_state, solver_state = self.init_solver(params, rest)
        ema = {p.name: jax.tree.map(jnp.copy, params[p.name]) for p, _ in self.program.ema}
        zero = lambda: jnp.zeros((), jnp.int32)  # one buffer each: the step donates them
        state = TrainState.create(step=zero(), params=params, opt_state=opt_state, ema=ema,
                                  key=k_state, nonfinite_streak=zero(), nonfinite_total=zero(),
                                  solver_state=solver_state, rest=rest)
        return self.place(state)

    def place(self, state: TrainState) -> TrainState:
        """``state`` replicated over the mesh (unchanged without a mesh)."""
        if self.mesh is None:
            return state
        return jax.device_put(state, NamedSharding(self.mesh, PartitionSpec()))

    def abstract_state(self, key: jax.Array, example_batch: Mapping[str, Any]) -> TrainState:
        """The state ``init(key, example_batch)`` would return, as ``ShapeDtypeStruct``
        leaves placed as the step expects them (replicated over the mesh, or on the
        first local device): what a checkpoint is restored into. No FLOPs."""
        return abstract_on(jax.eval_shape(self.init, key, example_batch), self.mesh)

    def init_solver(self, params: Mapping[str, Any], rest: Mapping[str, Any]):
        """Returns ``(opt_state, solver_state)`` of the solver for these parameters."""
        return self.solver.init(self.game.with_rest(rest), dict(params))

    def shard_batch(self, batch: Mapping[str, Any], *, stacked: int = 0,
                    global_rows: int | None = None) -> dict[str, jax.Array]:
        """Places a host batch on the devices with the step's sharding.

        Args:
          batch: ``{field: array}``.
          stacked: number of leading axes before the batch axis (1 for the input of
            :attr:`step_many`, plus 1 when the solver consumes several batches per step).
          global_rows: None for a whole batch; else the global batch size, of which
            ``batch`` holds this process's rows (a multi-process run; see
            :func:`gendsl.sharding.shard_batch`).
        Returns:
          The batch as device arrays.
        """
        return shard_batch(batch, self.mesh, batch_axis=stacked, global_rows=global_rows)

    # -- using a state -------------------------------------------------------------------
    @property
    def has_samples(self) -> bool:
        """Whether the program has a ``samples`` term (so :meth:`sample` works)."""
        return self.program.samples is not None

    def sample(self, state: TrainState, key: jax.Array, n: int) -> jax.Array:
        """Draws ``n`` samples of the program's ``samples`` term (EMA parameters where
        the program keeps them).

        Args:
          state: a train state.
          key: PRNG key for the latents.
          n: number of samples (a points player returns all its points).
        Returns:
          The samples.
        """
        if self.program.samples is None:
            raise ProgramError("this program has no samples term; pass samples=G(z) "
                               "(or your sampler's term) to gd.program")
        return self._sample({**state.params, **state.ema}, state.rest, int(n), key)

    def _sample_fn(self, params, rest, n, key):
        ctx = LoweringContext(self._statics, params, rest, {}, key, batch_size=n, train=False)
        return ctx.eval(self.program.samples)

    def apply(self, state: TrainState, player: str, *args: Any, method: str | None = None,
              train: bool = False):
        """Applies player ``player`` with the state's parameters to arrays (jitted).

        Args:
          state: a train state.
          player: the player's name.
          *args: its inputs.
          method: a module method to call instead of ``__call__``.
          train: run the module in training mode (batch statistics of ``args``,
            dropout on); the default is eval mode. The state is never updated.
        Returns:
          The module's output, e.g. an encoder's ``(mean, log_var)``.
        """
        self.program.player(player)  # a clear error for an unknown name
        return self._apply(state.params[player], state.rest.get(player, {}), args,
                           player=player, method=method, train=bool(train))

    def module(self, state: TrainState, player: str, *, train: bool = False) -> Any:
        """Player ``player`` as a standalone Flax NNX module holding the state's parameters
        (a points player: its array of samples), to use outside gendsl.

        Args:
          state: a train state (e.g. ``FitResult.state`` or ``gd.load_run(...).state``).
          player: the player's name.
          train: the module in training mode; the default is eval mode.
        Returns:
          A new ``nnx.Module`` whose arrays are the state's; the program's own module is
          not changed.
        """
        p = self.program.player(player)  # a clear error for an unknown name
        return p.merged(self._statics[player], state.params[player],
                        state.rest.get(player, {}), train=train)

    def _apply_fn(self, params, rest, args, *, player, method, train):
        p = self.program.player(player)
        return p.call(self._statics[player], params, rest, args, method, train=train)

    def evaluate(self, state: TrainState, batch: Mapping[str, Any],
                 key: jax.Array | None = None) -> dict[str, jax.Array]:
        """Evaluates every objective (and its named metrics) without updating, with
        modules in eval mode.

        Args:
          state: a train state.
          batch: one step's batch, e.g. held-out data.
          key: PRNG key for the latents (default: the state's key).
        Returns:
          ``{"<player>/loss": value, "<player>/<metric>": value}``.
        """
        return self._evaluate(state.params, state.rest, dict(batch),
                              state.key if key is None else key)

    def _evaluate_fn(self, params, rest, batch, key):
        point = dataclasses.replace(self.game, rest=rest, train=False).at(batch, key)
        out = {}
        for n in self.game.players:
            loss, records = point.loss(n, params)
            out[f"{n}/loss"] = loss
            out.update({f"{n}/{k}": v for k, v in records.items()})
        return out
