"""The compiler: a program becomes pure, jitted, sharded ``init`` and ``step`` functions.

``compile(program, mesh=None)`` checks the program against an example batch (abstractly,
no FLOPs), then builds one jitted step: ``step(state, batch) -> (state, metrics)``. The
state is donated; parameters are replicated over the mesh and the batch is sharded on
its ``data`` axis (``jax.jit`` with ``NamedSharding``, the successor of ``pmap``).
``steps_per_call=K`` fuses K steps into one dispatch with ``lax.scan``.

A step whose losses or new parameters are not finite is not applied: the state keeps
its parameters, advances its step counter and key, and counts the event in
``nonfinite_streak`` / ``nonfinite_total``; the runner decides when to stop.

Module state (batch statistics, dropout counters) updated by the step's objectives is
carried in ``TrainState.rest`` (see :mod:`gendsl.compiler.game`). Sampling, ``apply``
and ``evaluate`` run modules in eval mode and never change the state.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gendsl.compiler.game import Game, take_module_state
from gendsl.compiler.lowering import LoweringContext
from gendsl.compiler.state import TrainState
from gendsl.errors import ProgramError, ShapeMismatchError
from gendsl.terms.fingerprint import fingerprint
from gendsl.sharding import batch_sharding, shard_batch
from gendsl.terms.program import Program


def _all_finite(tree) -> jax.Array:
    # one small reduction per leaf, which XLA fuses into the op producing the leaf: at
    # batch 16 this guard costs ~1 us per step, against ~7 us for one reduction over
    # the concatenation of every leaf (benchmarks/overhead.py's gan_mog step)
    ok = jnp.array(True)
    for x in jax.tree.leaves(tree):
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact):
            ok = ok & jnp.all(jnp.isfinite(x))
    return ok


def _updated_rest(rest: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    # the carried state keeps its dtypes (a scan carry must not change type)
    new = dict(rest)
    for name, value in updates.items():
        if name in new:
            new[name] = jax.tree.map(
                lambda old, v: v if jnp.result_type(v) == jnp.result_type(old)
                else jnp.asarray(v).astype(jnp.result_type(old)), new[name], value)
    return new


class CompiledProgram:
    """A program lowered to jitted JAX functions. Build it with :func:`compile`.

    Attributes:
      program: the source program.
      mesh: the device mesh, or None for the default device.
      steps_per_call: steps fused into one call of :attr:`step`.
      batches_per_step: source batches one step consumes (from the solver).
      fingerprint: the program's fingerprint.
      step: ``(state, batch) -> (state, metrics)``, jitted, donating ``state``. With
        ``steps_per_call=K > 1`` the batch has a leading axis K and the metrics come
        back stacked along it.
      step_many: ``(state, batches) -> (state, metrics)`` fusing as many steps as
        ``batches`` has entries on its leading axis.
    """

    def __init__(self, program: Program, mesh: Mesh | None = None, *, steps_per_call: int = 1,
                 guard_nonfinite: bool = True, donate: bool = True):
        if not isinstance(program, Program):
            raise ProgramError(f"compile() takes a gendsl Program, got {type(program).__name__}")
        if steps_per_call < 1:
            raise ProgramError(f"steps_per_call must be >= 1, got {steps_per_call}")
        if mesh is not None and "data" not in mesh.axis_names:
            raise ProgramError(f"the mesh needs an axis named 'data'; it has {mesh.axis_names}")
        self.program, self.mesh, self.steps_per_call = program, mesh, steps_per_call
        self.guard_nonfinite = guard_nonfinite
        self.solver = program.solver
        self.batches_per_step = int(getattr(self.solver, "batches_per_step", 1))
        abstract = {p.name: p.abstract() for p in program.players}
        self._statics = {n: a[0] for n, a in abstract.items()}
        self._abstract_params = {n: a[1] for n, a in abstract.items()}
        self._abstract_rest = {n: a[2] for n, a in abstract.items()}
        self.fingerprint = fingerprint(program)
        self._traces = 0
        self._checked_spec = None
        donate_args = (0,) if donate else ()
        self._step1 = self._jit(self._step, donate_args, stacked=self.batches_per_step > 1)
        self._stepk = self._jit(self._scan, donate_args, stacked=True,
                                extra=self.batches_per_step > 1)
        self.step = self._step1 if steps_per_call == 1 else self._stepk
        self.step_many = self._stepk
        self._sample = {}
        self._apply = {}
        self._evaluate = jax.jit(self._evaluate_fn)

    # -- public API ------------------------------------------------------------------
    @property
    def trace_count(self) -> int:
        """How many times the step function has been traced (1 per shape, ideally)."""
        return self._traces

    def __call__(self, state: TrainState, batch: Mapping[str, Any]):
        """Same as :attr:`step`."""
        return self.step(state, batch)

    def check(self, example_batch: Mapping[str, Any]) -> None:
        """Checks the program against a batch, abstractly (no FLOPs).

        Raises the GendslError that names the fault: an unknown data field, a real/fake
        shape mismatch, a non-scalar objective, a failing player application.

        Args:
          example_batch: one step's batch (without the ``steps_per_call`` axis).
        """
        spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a)),
                            dict(example_batch))
        if self.batches_per_step > 1:
            spec = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), spec)
        key = jax.random.key(0)
        shape_log: dict = {}

        def objective(params, rest, batch, name):
            return Game(self.program, self._statics, rest, None, shape_log).loss(
                name, params, batch, key)[0]

        def samples(params, rest, batch):
            return LoweringContext(self._statics, params, rest, batch, key,
                                   shape_log=shape_log).eval(self.program.samples)

        # objectives in order, so that an error names the first fault in reading order
        for p, _ in self.program.objectives:
            jax.eval_shape(lambda *a, n=p.name: objective(*a, n),
                           self._abstract_params, self._abstract_rest, spec)
        if self.program.samples is not None:
            jax.eval_shape(samples, self._abstract_params, self._abstract_rest, spec)
        self._checked_spec = spec

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
        state = TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state,
                           ema=ema, key=k_state, nonfinite_streak=jnp.zeros((), jnp.int32),
                           nonfinite_total=jnp.zeros((), jnp.int32), solver_state=solver_state,
                           rest=rest)
        if self.mesh is not None:
            state = jax.device_put(state, NamedSharding(self.mesh, PartitionSpec()))
        return state

    def init_solver(self, params: Mapping[str, Any], rest: Mapping[str, Any]):
        """Returns ``(opt_state, solver_state)`` of the solver for these parameters."""
        return self.solver.init(Game(self.program, self._statics, rest, self.mesh), dict(params))

    def shard_batch(self, batch: Mapping[str, Any], *, stacked: int = 0) -> dict[str, jax.Array]:
        """Places a host batch on the devices with the step's sharding.

        Args:
          batch: ``{field: array}``.
          stacked: number of leading axes before the batch axis (1 for the input of a
            fused step, plus 1 when the solver consumes several batches per step).
        Returns:
          The batch as device arrays.
        """
        return shard_batch(batch, self.mesh, batch_axis=stacked)

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
        if n not in self._sample:
            def fn(params, rest, key):
                ctx = LoweringContext(self._statics, params, rest, {}, key, batch_size=n,
                                      train=False)
                return ctx.eval(self.program.samples)
            self._sample[n] = jax.jit(fn)
        params = {**state.params, **state.ema}
        return self._sample[n](params, state.rest, key)

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
        p = self.program.player(player)
        key = (player, method, bool(train))
        if key not in self._apply:
            static = self._statics[player]
            self._apply[key] = jax.jit(
                lambda params, rest, *a: p.call(static, params, rest, a, method, train=train))
        return self._apply[key](state.params[player], state.rest.get(player, {}), *args)

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

    # -- the step --------------------------------------------------------------------
    def _evaluate_fn(self, params, rest, batch, key):
        game = Game(self.program, self._statics, rest, self.mesh, train=False)
        out = {}
        for n in game.players:
            loss, records = game.loss(n, params, batch, key)
            out[f"{n}/loss"] = loss
            out.update({f"{n}/{k}": v for k, v in records.items()})
        return out

    def _step(self, state: TrainState, batch: Mapping[str, Any]):
        self._traces += 1
        key, step_key = jax.random.split(state.key)
        game = Game(self.program, self._statics, state.rest, self.mesh)
        params, opt_state, solver_state, losses, metrics = self.solver.update(
            game, state.params, state.opt_state, state.solver_state, batch, step_key)
        metrics, updates = take_module_state(metrics)
        rest = _updated_rest(state.rest, updates)
        ok = jnp.array(True)
        if self.guard_nonfinite:
            ok = _all_finite(losses) & _all_finite({n: params[n] for n in game.players})
            # a conditional rather than a select per leaf: one op, whatever the tree size
            params, opt_state, solver_state, rest = jax.lax.cond(
                ok, lambda new, old: new, lambda new, old: old,
                (params, opt_state, solver_state, rest),
                (state.params, state.opt_state, state.solver_state, state.rest))
        ema = {n: jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, state.ema[n], params[n])
               for n, d in ((p.name, d) for p, d in self.program.ema)}
        bad = (~ok).astype(jnp.int32)
        new = TrainState(step=state.step + 1, params=params, opt_state=opt_state, ema=ema,
                         key=key, nonfinite_streak=(state.nonfinite_streak + 1) * bad,
                         nonfinite_total=state.nonfinite_total + bad,
                         solver_state=solver_state, rest=rest)
        out = {f"{n}/loss": v for n, v in losses.items()}
        out.update(metrics)
        out["nonfinite"] = bad
        return new, out

    def _scan(self, state: TrainState, batches: Mapping[str, Any]):
        return jax.lax.scan(self._step, state, batches)

    def _jit(self, fn, donate, *, stacked: bool, extra: bool = False):
        if self.mesh is None:
            return jax.jit(fn, donate_argnums=donate)
        replicated = NamedSharding(self.mesh, PartitionSpec())
        lead = int(stacked) + int(extra)
        return jax.jit(fn, donate_argnums=donate,
                       in_shardings=(replicated, batch_sharding(self.mesh, lead)),
                       out_shardings=(replicated, replicated))


def compile(program, mesh: Mesh | None = None, *, steps_per_call: int = 1,
            guard_nonfinite: bool = True, donate: bool = True):
    """Lowers a program to a pure, jitted, optionally sharded train step.

    Args:
      program: the program (:func:`gendsl.program`) or a staged program
        (:func:`gendsl.stages`).
      mesh: a ``jax.sharding.Mesh`` with an axis named ``data`` (see
        :func:`gendsl.data_parallel`); the batch is sharded on it and parameters are
        replicated. None runs on the default device.
      steps_per_call: fuse this many steps into one call with ``lax.scan``.
      guard_nonfinite: skip steps whose losses or new parameters are not finite.
      donate: donate the state's buffers to the step (the input state is consumed).
    Returns:
      A :class:`CompiledProgram` with ``init(key, example_batch)`` and
      ``step(state, batch) -> (state, metrics)``; for a staged program
      (:func:`gendsl.stages`) a :class:`~gendsl.compiler.stages.CompiledStages`.
    """
    from gendsl.terms.stages import StagedProgram
    if isinstance(program, StagedProgram):
        from gendsl.compiler.stages import CompiledStages
        return CompiledStages(program, mesh, steps_per_call=steps_per_call,
                              guard_nonfinite=guard_nonfinite, donate=donate)
    return CompiledProgram(program, mesh, steps_per_call=steps_per_call,
                           guard_nonfinite=guard_nonfinite, donate=donate)


__all__ = ["compile", "CompiledProgram", "ShapeMismatchError"]
