"""Lowering: evaluating a term tree to JAX values at trace time.

A :class:`LoweringContext` evaluates terms inside ``jax.jit`` (or ``jax.eval_shape``):
every node is evaluated once per context (memoised by identity), latents are drawn from
the context's key folded with their names, and player applications merge the player's
static graph with the parameters being differentiated. This is also the object that
lazy primitives receive as ``ctx``.

Module state (batch statistics, dropout counters) is threaded through the player
applications of the term tree in evaluation order: each ``Apply`` of a stateful player
sees the state the previous one left, and the last state is in :attr:`rest_updates`.
Only the term tree's own applications update state; ``ctx.apply`` (what primitives use,
e.g. inside an inner maximisation) and the child contexts of ``ctx.eval(term,
substitutions)`` (gradient penalties at interpolates) read the state without updating
it, so no value computed inside a primitive's own transformation escapes it.
"""

from __future__ import annotations

import operator
from typing import Any, Mapping

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from gendsl.errors import GendslError, PrimitiveError, ProgramError, ShapeMismatchError, UnknownDataError
from gendsl.terms.player import Apply, Player
from gendsl.terms.primitive import PrimitiveCall
from gendsl.terms.show import show_term
from gendsl.terms.sources import Data, Latent, latent_key
from gendsl.terms.term import BinaryOp, Const, Index, Named, Neg, Term

_BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
           "truediv": operator.truediv, "pow": operator.pow, "matmul": operator.matmul}


class _Counter:
    def __init__(self):
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


class LoweringContext:
    """Evaluates terms for one evaluation of an objective (one point of the game).

    Args:
      statics: ``{player name: PlayerStatic}``.
      params: ``{player name: parameters}`` (possibly tracers being differentiated).
      rest: ``{player name: non-parameter state}``.
      batch: ``{field: array}``.
      key: the evaluation's PRNG key; latents fold it with their name, so every
        context built with the same key sees the same latent draws.
      batch_size: number of samples drawn for latents without their own ``batch``;
        defaults to the leading dimension of the batch.
      mesh: optional device mesh; latents are then sharded on its ``data`` axis.
      shape_log: optional dict shared between contexts to check that each player is
        applied to inputs of one per-example shape (real and fake samples agree).
      latents: optional ``{latent name: draw}`` already drawn for this key; other
        latents are drawn when first evaluated.
      train: run modules in training mode and collect their state updates; False
        uses eval mode (running averages, no dropout) and updates nothing.
    """

    def __init__(self, statics: Mapping[str, Any], params: Mapping[str, Any],
                 rest: Mapping[str, Any], batch: Mapping[str, Any], key: jax.Array, *,
                 batch_size: int | None = None, mesh: Any = None,
                 shape_log: dict | None = None, latents: Mapping[str, Any] | None = None,
                 train: bool = True, _memo: dict | None = None,
                 _counter: _Counter | None = None, _records: dict | None = None):
        self.statics, self.params, self.rest, self.batch = statics, params, rest, batch
        self._key, self.mesh = key, mesh
        self._batch_size = batch_size
        self.shape_log = {} if shape_log is None else shape_log
        self.latents = latents or {}
        self._memo = {} if _memo is None else _memo
        self._counter = _counter or _Counter()
        self.records: dict[str, Any] = {} if _records is None else _records
        self.train = train
        self.rest_updates: dict[str, Any] = {}

    # -- the API lazy primitives use -------------------------------------------------
    @property
    def batch_size(self) -> int:
        """The number of samples per step (leading dimension of the batch)."""
        if self._batch_size is not None:
            return self._batch_size
        for v in jax.tree.leaves(dict(self.batch)):
            if jnp.ndim(v) >= 1:
                return int(jnp.shape(v)[0])
        raise ProgramError(
            "cannot tell how many latent samples to draw: the batch has no data field; "
            "give the latent a size with gd.latent(name, shape, batch=N)")

    def eval(self, term: Any, substitutions: Mapping[Term, Any] | None = None) -> Any:
        """Evaluates a term (or a constant) in this context.

        Args:
          term: the term to evaluate.
          substitutions: optional ``{term: value}``; when given, the term is evaluated
            in a fresh child context where those sub-terms take the given values
            (everything depending on them is recomputed).
        Returns:
          The term's value.
        """
        if substitutions:
            child = LoweringContext(
                self.statics, self.params, self.rest, self.batch, self._key,
                batch_size=self._batch_size, mesh=self.mesh, shape_log=self.shape_log,
                latents=self.latents, train=self.train,
                _memo={id(t): v for t, v in substitutions.items()},
                _counter=self._counter, _records=self.records)
            return child.eval(term)
        if not isinstance(term, Term):
            return term
        hit = self._memo.get(id(term), _MISSING)
        if hit is _MISSING:
            hit = self._memo[id(term)] = self._lower(term)
        return hit

    def apply(self, player: Player, *args: Any, method: str | None = None) -> Any:
        """Applies ``player`` with its current parameters to array arguments."""
        name = player.name
        if name not in self.params:
            raise ProgramError(f"player {name!r} is not part of this program")
        return player.call(self.statics[name], self.params[name], self.state_of(name),
                           args, method, train=self.train)

    def state_of(self, name: str) -> Any:
        """Returns player ``name``'s current non-parameter state (after the updates of
        the applications evaluated so far)."""
        return self.rest_updates.get(name, self.rest.get(name, {}))

    def key(self) -> jax.Array:
        """Returns a fresh PRNG key (deterministic given the evaluation's key)."""
        return jax.random.fold_in(jax.random.fold_in(self._key, 0x5EED), self._counter.next())

    def draw(self, latent: Latent, key: jax.Array | None = None) -> jax.Array:
        """Draws a latent with ``key`` (default: this context's key), sharded on the
        mesh's ``data`` axis when there is a mesh. A latent with its own ``batch`` needs
        no data field to size it."""
        n = latent.batch if latent.batch is not None else self.batch_size
        z = latent.sample(self._key if key is None else key, n)
        if self.mesh is not None and z.shape[0] % self.mesh.shape["data"] == 0:
            z = jax.lax.with_sharding_constraint(
                z, NamedSharding(self.mesh, PartitionSpec("data")))
        return z

    def record(self, name: str, value: Any) -> None:
        """Reports a scalar value as a metric of the current objective."""
        self.records[name] = value

    # -- lowering rules --------------------------------------------------------------
    def _lower(self, t: Term) -> Any:
        if isinstance(t, Const):
            v = t.value
            return v if isinstance(v, (int, float, bool)) else jnp.asarray(v)
        if isinstance(t, Data):
            if t.field not in self.batch:
                raise UnknownDataError(
                    f"the program reads data field {t.field!r}, but the batch has only "
                    f"{sorted(self.batch)}; rename the field in gd.data(...) or add it to "
                    "the data source")
            return self.batch[t.field]
        if isinstance(t, Latent):
            if t.name in self.latents:
                return self.latents[t.name]
            return self.draw(t, latent_key(t.name, self._key))
        if isinstance(t, BinaryOp):
            return _BINARY[t.op](self.eval(t.left), self.eval(t.right))
        if isinstance(t, Neg):
            return -self.eval(t.operand)
        if isinstance(t, Index):
            return self.eval(t.operand)[t.index]
        if isinstance(t, Named):
            v = self.eval(t.term)
            if isinstance(v, (int, float)) or (hasattr(v, "size") and v.size == 1):
                self.record(t.name, jnp.reshape(jnp.asarray(v), ()))
            return v
        if isinstance(t, Apply):
            return self._lower_apply(t)
        if isinstance(t, PrimitiveCall):
            return self._lower_primitive(t)
        raise ProgramError(f"cannot lower term of type {type(t).__name__}: {show_term(t)}")

    def _lower_apply(self, t: Apply) -> Any:
        args = tuple(self.eval(a) for a in t.args)
        name = t.player.name
        shapes = tuple(tuple(jnp.shape(a))[1:] for a in jax.tree.leaves(args))
        text = show_term(t)
        key = (name, t.method)
        first = self.shape_log.setdefault(key, (shapes, text))
        if first[0] != shapes:
            arg_text = ", ".join(show_term(a) for a in t.args)
            raise ShapeMismatchError(
                f"player {name!r} is applied to inputs of per-example shape {first[0]} in "
                f"{first[1]} but {shapes} in {text} (input {arg_text}); real and fake "
                "samples must have the same shape: check the generator's output size "
                "against the data")
        try:
            static = self.statics.get(name)
            if not (self.train and name in self.params and static is not None
                    and static.stateful):
                return self.apply(t.player, *args, method=t.method)
            out, self.rest_updates[name] = t.player.call_with_state(
                static, self.params[name], self.state_of(name), args, t.method)
            return out
        except GendslError:
            raise
        except Exception as e:
            arg_shapes = [tuple(jnp.shape(a)) for a in jax.tree.leaves(args)]
            raise ProgramError(
                f"applying player {name!r} in {text} to inputs of shape {arg_shapes} "
                f"failed: {type(e).__name__}: {e}") from e

    def _lower_primitive(self, t: PrimitiveCall) -> Any:
        prim = t.primitive
        kwargs = dict(t.kwargs)
        if prim.needs_key:
            kwargs["key"] = self.key()
        try:
            if prim.lazy:
                out = prim.rule(self, *t.args, **kwargs)
            else:
                args = [self._argument(a) for a in t.args]
                kwargs = {k: self._argument(v) for k, v in kwargs.items()}
                out = prim.rule(*args, **kwargs)
        except GendslError:
            raise
        except Exception as e:
            raise PrimitiveError(
                f"lowering {show_term(t)} failed: {type(e).__name__}: {e}") from e
        if prim.has_aux:
            out, aux = out
            for k, v in aux.items():
                self.record(f"{prim.name}/{k}", v)
        return out

    def _argument(self, value: Any) -> Any:
        if isinstance(value, Term):
            return self.eval(value)
        if isinstance(value, Player):
            player = value
            return lambda *args, method=None: self.apply(player, *args, method=method)
        return value


_MISSING = object()
