"""Players: the parties of a program that own parameters and an optimizer.

* :func:`player` wraps a Flax NNX module (or a factory ``rngs -> module``, so that the
  run's seed decides the initial parameters) with an optax optimizer.
* :func:`points` is a player whose parameters are a plain array of samples: the
  synthesized points of GA-NTK.
* :func:`from_linen` adapts a Linen module through ``flax.nnx.bridge``.

Applying a player to terms (``G(z)``) builds an :class:`Apply` term. The compiler splits
each module once (``nnx.split``) into a static graph definition and pure parameter
pytrees (plain nested dicts), and merges them back at trace time only, so a step is a
pure function of arrays.

Modules with non-parameter state (``nnx.BatchNorm``'s running statistics, the counters
of ``nnx.Dropout``'s random stream) run in two modes. In training (the objectives of a
step) :meth:`Player.call_with_state` returns the state the module left behind, and the
compiler carries it to the next step. Sampling and evaluation use the module's eval
mode (``nnx.view(module, deterministic=True, use_running_average=True)``): running
averages, no dropout.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from gendsl.errors import ProgramError
from gendsl.terms.term import Term, as_term

Projection = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class PlayerStatic:
    """The static part of a player, fixed at compile time.

    Attributes:
      graphdef: the module's ``nnx.GraphDef`` (None for a points player).
      eval_graphdef: the graph definition of the module in eval mode (dropout off,
        batch norm on running averages); None for modules without such switches.
      params_template: flat ``nnx`` state of the parameters: paths, variable types and
        shapes (no values).
      rest_template: the same for the other variables (batch stats, rng counters),
        which are carried but never differentiated.
    """

    graphdef: Any = None
    params_template: Any = None
    rest_template: Any = None
    eval_graphdef: Any = None

    @property
    def stateful(self) -> bool:
        """Whether the module has non-parameter state that a forward pass may update."""
        return bool(self.rest_template)


@dataclasses.dataclass(frozen=True, eq=False)
class Player:
    """A Flax NNX module with an optimizer; build it with :func:`player`.

    Attributes:
      name: unique name within a program (used in metrics, checkpoints and errors).
      module: an ``nnx.Module`` or a factory ``(rngs: nnx.Rngs) -> nnx.Module``.
      optimizer: an ``optax.GradientTransformation`` (None for a player that is only
        ever frozen).
      project: optional function applied to the parameters after every update (a
        projection onto a constraint set, e.g. clipping).
    """

    name: str
    module: Any
    optimizer: optax.GradientTransformation | None = None
    project: Projection | None = None

    def __call__(self, *args: Any, method: str | None = None) -> "Apply":
        """Returns the term applying this player to ``args`` (terms, numbers or arrays)."""
        return Apply(self, tuple(as_term(a) for a in args), method)

    def method(self, name: str) -> Callable[..., "Apply"]:
        """Returns a function building terms that call ``module.<name>(*args)``."""
        return lambda *args: self(*args, method=name)

    def __repr__(self) -> str:
        return f"Player({self.name!r})"

    def __gendsl_term__(self) -> Term:
        """Refuses to stand for a value (the hook of :func:`gendsl.terms.term.as_term`).

        Raises:
          ProgramError: always; a player must be applied to build a term.
        """
        raise ProgramError(
            f"player {self.name!r} was used as a value; apply it to an input "
            f"({self.name}(x)) or, for a points player, call it ({self.name}()).")

    # -- lowering support -----------------------------------------------------------
    def describe(self) -> str:
        """Returns the module's class name, as shown by :func:`gendsl.show`."""
        module = self.module
        if not isinstance(module, nnx.Module):
            module = nnx.eval_shape(lambda: self.module(nnx.Rngs(0)))
        return type(module).__name__

    def build(self, key: jax.Array) -> tuple[PlayerStatic, Any, Any]:
        """Creates the player's initial state.

        A factory is called with ``nnx.Rngs(key)``; an already built module keeps the
        parameters it was built with (``key`` is then unused).

        Returns:
          ``(static, params, rest)``: params and rest as plain nested dicts of arrays.
        """
        module = self.module
        if not isinstance(module, nnx.Module):
            module = module(nnx.Rngs(key))
            if not isinstance(module, nnx.Module):
                raise ProgramError(
                    f"player {self.name!r}: its factory returned {type(module).__name__}, "
                    "not an nnx.Module; pass a module or a function rngs -> module")
        return _split(module)

    def abstract(self) -> tuple[PlayerStatic, Any, Any]:
        """Like :meth:`build` but with ``jax.ShapeDtypeStruct`` leaves (no FLOPs)."""
        module = self.module
        if not isinstance(module, nnx.Module):
            module = nnx.eval_shape(lambda: self.module(nnx.Rngs(0)))
        static, params, rest = _split(module)
        return static, _shapes(params), _shapes(rest)

    def call(self, static: PlayerStatic, params: Any, rest: Any, args: tuple,
             method: str | None, *, train: bool = True) -> Any:
        """Applies the module with ``params`` to ``args`` (a pure function of arrays).

        Args:
          static: the player's :class:`PlayerStatic`.
          params: its parameters (nested dict).
          rest: its non-parameter state (nested dict); updates are discarded.
          args: array inputs.
          method: a module method to call instead of ``__call__``.
          train: False runs the module in eval mode (see the module docstring).
        Returns:
          The module's output.
        """
        module = self.merged(static, params, rest, train=train)
        fn = module if method is None else getattr(module, method)
        return fn(*args)

    def merged(self, static: PlayerStatic, params: Any, rest: Any, *, train: bool = True) -> Any:
        """The player's module with ``params`` and ``rest`` put back in (``nnx.merge``).

        Args:
          static: the player's :class:`PlayerStatic`.
          params: its parameters (nested dict).
          rest: its non-parameter state (nested dict).
          train: False gives the module in eval mode.
        Returns:
          A new ``nnx.Module`` (the player's own module is never changed).
        """
        graphdef = static.graphdef if train or static.eval_graphdef is None else static.eval_graphdef
        return nnx.merge(graphdef, _unflat(static.params_template, params),
                         _unflat(static.rest_template, rest))

    def call_with_state(self, static: PlayerStatic, params: Any, rest: Any, args: tuple,
                        method: str | None) -> tuple[Any, Any]:
        """Applies the module in training mode and returns the state it leaves behind.

        Returns:
          ``(output, new rest)``: the new rest has the structure of ``rest`` (updated
          batch statistics, advanced random-stream counters).
        """
        module = nnx.merge(static.graphdef, _unflat(static.params_template, params),
                           _unflat(static.rest_template, rest))
        fn = module if method is None else getattr(module, method)
        out = fn(*args)
        return out, nnx.to_pure_dict(nnx.state(module, nnx.Not(nnx.Param)))


@dataclasses.dataclass(frozen=True, eq=False)
class Points(Player):
    """A player whose parameters are an array of samples; build it with :func:`points`.

    ``module`` holds the initial array, or a function ``key -> array``.
    """

    def describe(self) -> str:
        return "points"

    def build(self, key: jax.Array) -> tuple[PlayerStatic, Any, Any]:
        value = self.module(key) if callable(self.module) else self.module
        return PlayerStatic(), jnp.asarray(value), {}

    def abstract(self) -> tuple[PlayerStatic, Any, Any]:
        value = jax.eval_shape(lambda: jnp.asarray(
            self.module(jax.random.key(0)) if callable(self.module) else self.module))
        return PlayerStatic(), value, {}

    def call(self, static, params, rest, args, method, *, train=True):
        if args or method is not None:
            raise ProgramError(
                f"points player {self.name!r} takes no inputs: write {self.name}() for "
                "its samples")
        return params

    def call_with_state(self, static, params, rest, args, method):
        return self.call(static, params, rest, args, method), rest

    def merged(self, static, params, rest, *, train=True):
        """A points player's parameters are its samples: the array itself."""
        return params


def player(name: str, module: Any, optimizer: optax.GradientTransformation | None = None,
           *, project: Projection | None = None) -> Player:
    """Returns a player: a named Flax NNX module trained with an optax optimizer.

    Args:
      name: unique name within the program (e.g. ``"G"``).
      module: an ``nnx.Module``, or a factory ``rngs -> nnx.Module`` so that
        ``init(key)`` draws the initial parameters from the run's seed.
      optimizer: an ``optax.GradientTransformation``; None for a player that is
        only ever frozen.
      project: optional function applied to the parameters after each update.
    Returns:
      A :class:`Player`; call it on terms to build :class:`Apply` terms.
    """
    _check_name(name)
    if not (isinstance(module, nnx.Module) or callable(module)):
        raise ProgramError(
            f"player {name!r}: module must be an nnx.Module or a function rngs -> "
            f"nnx.Module, got {type(module).__name__}; wrap Linen modules with "
            "gd.from_linen")
    _check_optimizer(name, optimizer)
    return Player(name, module, optimizer, project)


def points(name: str, init: Any, optimizer: optax.GradientTransformation,
           *, project: Projection | None = None) -> Points:
    """Returns a player whose parameters are the samples themselves (GA-NTK).

    Args:
      name: unique name within the program.
      init: the initial array ``(n, ...)``, or a function ``key -> array``.
      optimizer: an optax optimizer (GA-NTK uses plain SGD with a large step).
      project: optional function applied after each update, e.g.
        ``lambda x: jnp.clip(x, 0, 1)`` to stay in the data range.
    Returns:
      A :class:`Points` player; ``P()`` is the term of its samples.

    >>> import optax
    >>> P = points("X", np.zeros((4, 2)), optax.sgd(0.1))
    >>> P()
    Term(X())
    """
    _check_name(name)
    if not callable(init):
        init = np.asarray(init)
        if init.ndim == 0:
            raise ProgramError(f"points player {name!r}: init must be an array (n, ...)")
    _check_optimizer(name, optimizer)
    return Points(name, init, optimizer, project)


def from_linen(module: Any, *example_args: Any) -> Callable[[nnx.Rngs], nnx.Module]:
    """Adapts a Flax Linen module into a factory usable by :func:`player`.

    Args:
      module: a ``flax.linen.Module``.
      *example_args: example inputs used to initialise it (shapes matter, values not).
    Returns:
      A function ``rngs -> nnx.Module`` (via ``flax.nnx.bridge.ToNNX``).
    """
    def factory(rngs: nnx.Rngs) -> nnx.Module:
        return nnx.bridge.lazy_init(nnx.bridge.ToNNX(module, rngs=rngs), *example_args)
    factory.__qualname__ = f"linen:{type(module).__name__}"
    return factory


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Apply(Term):
    """A player applied to argument terms (``G(z)``), optionally via a named method."""

    player: Player
    args: tuple[Term, ...]
    method: str | None = None

    def children(self): return self.args

    def render(self, show) -> str:
        name = self.player.name if self.method is None else f"{self.player.name}.{self.method}"
        return f"{name}({', '.join(show(a) for a in self.args)})"


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ProgramError(f"a player's name must be an identifier string, got {name!r}")


def _check_optimizer(name: str, optimizer: Any) -> None:
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise ProgramError(
            f"player {name!r}: optimizer must be an optax.GradientTransformation "
            f"(e.g. optax.adam(1e-3)), got {type(optimizer).__name__}")


def _split(module: nnx.Module) -> tuple[PlayerStatic, Any, Any]:
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)

    def template(state):
        return [(path, var.replace(_shapes(var.get_value())))
                for path, var in nnx.to_flat_state(state)]

    static = PlayerStatic(graphdef, template(params), template(rest), _eval_graphdef(module))
    return static, nnx.to_pure_dict(params), nnx.to_pure_dict(rest)


def _eval_graphdef(module: nnx.Module) -> Any:
    # what Module.eval() / nnx.view(deterministic=True, use_running_average=True) do,
    # but without copying values: nnx.view cannot copy the abstract modules of
    # Player.abstract (their RNG keys are ShapeDtypeStructs). The attributes are static,
    # so flipping them, taking the graphdef and restoring them leaves the module as it was.
    flipped = []
    for _, sub in nnx.iter_modules(module):
        for attribute in ("deterministic", "use_running_average"):
            if getattr(sub, attribute, None) is False:
                setattr(sub, attribute, True)
                flipped.append((sub, attribute))
    if not flipped:
        return None
    try:
        return nnx.graphdef(module)
    finally:
        for sub, attribute in flipped:
            setattr(sub, attribute, False)


def _shapes(tree: Any) -> Any:
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), tree)


def _unflat(template: Any, pure: Any) -> nnx.State:
    def lookup(path):
        node = pure
        for k in path:
            node = node[k]
        return node
    return nnx.from_flat_state([(path, var.replace(lookup(path))) for path, var in template])
