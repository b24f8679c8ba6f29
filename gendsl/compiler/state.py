"""The train state: everything a compiled program carries from one step to the next.

A :class:`TrainState` is a *flat* pytree: its children are one tuple of arrays, and its
static :class:`StateLayout` says how they form the fields (``step``, ``params``,
``opt_state``, ...). Passing it to a jitted step costs what passing a flat list of
arrays costs; the nested view (``state.params["G"]``) is rebuilt only when read, at
trace time inside a step or on the host. PRNG keys are held as raw key data
(``uint32``) and wrapped into typed keys when read (``state.key``): typed key arrays
take a slower dispatch path than plain arrays. On the gan_mog state (42 arrays) an
identity ``jax.jit`` takes ~61 us on the flat state against ~94 us on nested fields
with a typed key (2-core CPU; see benchmarks/overhead.py for the whole step).

The checkpoint layout is the nested view, :meth:`TrainState.tree` (one directory per
field and player, keys as typed keys that the checkpoint store saves as key data); see
docs/running.md.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax

FIELDS = ("step", "params", "opt_state", "ema", "key", "nonfinite_streak",
          "nonfinite_total", "solver_state", "rest")
"""The fields of a train state, in the order :meth:`TrainState.create` takes them."""


def _is_key(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


class StateLayout:
    """The static structure of a :class:`TrainState`: the tree definition of its fields
    and which leaves are PRNG keys (with their implementation). Compared by value, with
    the hash computed once, so the jit cache lookup stays cheap.

    Args:
      treedef: the tree definition of the nested fields (keys as key data).
      keys: ``((leaf index, PRNG implementation name), ...)``.
    """

    __slots__ = ("treedef", "keys", "_hash")

    def __init__(self, treedef: Any, keys: tuple[tuple[int, str], ...]):
        self.treedef, self.keys = treedef, keys
        self._hash = hash((treedef, keys))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, StateLayout) and self._hash == other._hash
                                 and self.keys == other.keys and self.treedef == other.treedef)

    def __repr__(self) -> str:
        return f"StateLayout({self.treedef.num_leaves} leaves, keys at {[i for i, _ in self.keys]})"


def _wrap(data: Any, impl: str) -> Any:
    if isinstance(data, jax.ShapeDtypeStruct):  # an abstract state (jax.eval_shape)
        key = jax.eval_shape(lambda d: jax.random.wrap_key_data(d, impl=impl), data)
        return jax.ShapeDtypeStruct(key.shape, key.dtype, sharding=data.sharding)
    return jax.random.wrap_key_data(data, impl=impl)


class TrainState:
    """State of a compiled program between steps: a flat pytree with a nested view.

    Build one with :meth:`create` (or :meth:`from_tree`); the compiled program's
    ``init`` does. Read its fields as attributes:

    Attributes:
      step: number of steps applied so far (int32 scalar). Skipped non-finite steps
        count too, so that data position and RNG stay in lockstep with it.
      params: ``{player name: parameter pytree}`` for every player.
      opt_state: ``{player name: optax state}`` for every trainable player (for a
        staged program, ``{stage name: {player name: optax state}}``).
      ema: ``{player name: parameter pytree}`` exponential moving averages of the
        players the program asks to average (empty otherwise).
      key: typed PRNG key (``jax.random.key``), split once per step.
      nonfinite_streak: consecutive steps whose losses or updates were not finite and
        were therefore not applied (int32 scalar).
      nonfinite_total: all such steps so far (int32 scalar).
      solver_state: anything a solver carries across steps (empty for built-ins).
      rest: ``{player name: non-parameter module state}`` (e.g. batch statistics),
        carried but not differentiated.
      leaves: the flat arrays (PRNG keys as key data), in layout order.
      layout: the :class:`StateLayout`.

    >>> import jax.numpy as jnp
    >>> s = TrainState.create(step=jnp.int32(0), params={"w": jnp.ones(2)}, opt_state={},
    ...                       ema={}, key=jax.random.key(0), nonfinite_streak=jnp.int32(0),
    ...                       nonfinite_total=jnp.int32(0))
    >>> s.params["w"].tolist(), len(jax.tree.leaves(s)), s.key.dtype
    ([1.0, 1.0], 5, key<fry>)
    >>> int(s.replace(step=jnp.int32(3)).step)
    3
    """

    __slots__ = ("leaves", "layout", "_view")

    def __init__(self, leaves: tuple[Any, ...], layout: StateLayout):
        self.leaves, self.layout, self._view = leaves, layout, None

    @classmethod
    def create(cls, *, step: Any, params: Mapping[str, Any], opt_state: Mapping[str, Any],
               ema: Mapping[str, Any], key: Any, nonfinite_streak: Any, nonfinite_total: Any,
               solver_state: Mapping[str, Any] | None = None,
               rest: Mapping[str, Any] | None = None) -> "TrainState":
        """Builds a state from its fields (see the class attributes)."""
        return cls.from_tree({
            "step": step, "params": dict(params), "opt_state": dict(opt_state),
            "ema": dict(ema), "key": key, "nonfinite_streak": nonfinite_streak,
            "nonfinite_total": nonfinite_total, "solver_state": dict(solver_state or {}),
            "rest": dict(rest or {})})

    @classmethod
    def from_tree(cls, tree: Mapping[str, Any], like: "TrainState | None" = None) -> "TrainState":
        """Builds a state from its nested view (:meth:`tree`, e.g. a restored checkpoint).

        Args:
          tree: ``{field: value}`` with every field of :data:`FIELDS`.
          like: a state whose layout object is reused when the new one equals it (a
            step returns its input's layout object, so the next dispatch compares
            layouts by identity, not by tree structure: ~6 us per call).
        """
        missing = [f for f in FIELDS if f not in tree]
        if missing or len(tree) != len(FIELDS):
            raise ValueError(f"a train state has the fields {FIELDS}; got {sorted(tree)}")
        leaves, treedef = jax.tree.flatten(dict(tree))
        keys = tuple((i, str(jax.random.key_impl(x))) for i, x in enumerate(leaves)
                     if _is_key(x))
        for i, _ in keys:
            leaves[i] = jax.random.key_data(leaves[i])
        layout = StateLayout(treedef, keys)
        if like is not None and like.layout == layout:
            layout = like.layout
        return cls(tuple(leaves), layout)

    def tree(self) -> dict[str, Any]:
        """The nested view ``{field: value}`` (PRNG keys typed); the checkpoint layout."""
        if self._view is None:
            leaves = list(self.leaves)
            for i, impl in self.layout.keys:
                leaves[i] = _wrap(leaves[i], impl)
            self._view = jax.tree.unflatten(self.layout.treedef, leaves)
        return self._view

    def replace(self, **changes: Any) -> "TrainState":
        """A state with some fields changed (a new object; this one is unchanged)."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise AttributeError(f"TrainState has no field {unknown[0]!r}; fields: {FIELDS}")
        return TrainState.from_tree({**self.tree(), **changes}, like=self)

    def __repr__(self) -> str:
        return f"TrainState({len(self.leaves)} arrays: {', '.join(FIELDS)})"

    # -- the fields (views of the leaves) ----------------------------------------------
    @property
    def step(self) -> jax.Array:
        return self.tree()["step"]

    @property
    def params(self) -> dict[str, Any]:
        return self.tree()["params"]

    @property
    def opt_state(self) -> dict[str, Any]:
        return self.tree()["opt_state"]

    @property
    def ema(self) -> dict[str, Any]:
        return self.tree()["ema"]

    @property
    def key(self) -> jax.Array:
        return self.tree()["key"]

    @property
    def nonfinite_streak(self) -> jax.Array:
        return self.tree()["nonfinite_streak"]

    @property
    def nonfinite_total(self) -> jax.Array:
        return self.tree()["nonfinite_total"]

    @property
    def solver_state(self) -> dict[str, Any]:
        return self.tree()["solver_state"]

    @property
    def rest(self) -> dict[str, Any]:
        return self.tree()["rest"]

    # -- pytree protocol -------------------------------------------------------------
    def tree_flatten(self):
        return self.leaves, self.layout

    @classmethod
    def tree_unflatten(cls, layout: StateLayout, leaves) -> "TrainState":
        state = object.__new__(cls)  # the dispatch path: no checks, no copies
        state.leaves, state.layout, state._view = leaves, layout, None
        return state


jax.tree_util.register_pytree_node_class(TrainState)
