"""The runner's contract with what it trains: the :class:`Stepper` protocol.

The runner knows the compiler only through these protocols (it never imports it):
``gd.compile(program)`` returns a stepper, and so may anything else with the same
members (the runner's tests use a small stand-in). A stepper is a sequence of
:class:`Phase` objects, each stepping a stretch of the run on its own source: a plain
compiled program is one phase covering the whole run, a staged program one per stage.

How many steps are fused into one device call is the loop's setting
(``steps_per_call``), not the stepper's: a phase offers ``step`` (one step) and
``step_many`` (as many as the batches' leading axis holds).
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import jax

from gendsl.errors import ConfigError


@runtime_checkable
class RunState(Protocol):
    """What the runner reads of a train state (``gd.TrainState`` is one).

    Attributes:
      step: steps applied so far (int scalar array).
      nonfinite_streak: consecutive non-finite (skipped) steps.
      nonfinite_total: all non-finite steps so far.
    """

    step: jax.Array
    nonfinite_streak: jax.Array
    nonfinite_total: jax.Array

    def tree(self) -> Mapping[str, Any]:
        """The nested view of the state: what a checkpoint stores."""
        ...

    def from_tree(self, tree: Mapping[str, Any]) -> "RunState":
        """A state of this structure from a nested view (a restored checkpoint)."""
        ...


@runtime_checkable
class Phase(Protocol):
    """A stretch of a run stepped by one function on one source.

    Attributes:
      name: the stage's name (``""`` for a plain program).
      start: the first global step of the phase.
      end: the global step it ends at (exclusive), or None for "until the run ends".
      batches_per_step: source batches one step reads; above one, a step's batch
        carries a leading axis of that size.
    """

    name: str
    start: int
    end: int | None
    batches_per_step: int

    def step(self, state: Any, batch: Mapping[str, Any]) -> tuple[Any, Mapping[str, Any]]:
        """One step: ``(state, metrics)``; the input state may be donated."""
        ...

    def step_many(self, state: Any, batches: Mapping[str, Any]) -> tuple[Any, Mapping[str, Any]]:
        """As many steps as ``batches`` has entries on its leading axis; metrics stacked."""
        ...

    def shard_batch(self, batch: Mapping[str, Any], *, stacked: int = 0) -> Mapping[str, Any]:
        """Places a host batch on the devices (``stacked`` leading axes before the batch).

        In a run of several processes the loop passes ``global_rows=batch_size`` too:
        ``batch`` then holds only this process's rows (:func:`gendsl.sharding.local_rows`)
        and the phase must accept that keyword (gd.compile's phases do)."""
        ...


@runtime_checkable
class Stepper(Protocol):
    """What :func:`gendsl.run.fit` trains: ``gd.compile(...)``'s result, or a stand-in.

    Attributes:
      fingerprint: the program's identity, stored with every checkpoint.
      mesh: the device mesh, or None.
      total_steps: the program's own step budget (a staged program's), or None.
      phases: the phases, in order; the first starts at step 0 and only the last may
        have ``end=None``.
      has_samples: whether :meth:`sample` works.
    """

    fingerprint: str
    mesh: Any
    total_steps: int | None
    phases: Sequence[Phase]
    has_samples: bool

    def init(self, key: jax.Array, example_batch: Mapping[str, Any] | None = None) -> RunState:
        """The initial state (``example_batch``: one batch of the first phase)."""
        ...

    def abstract_state(self, key: jax.Array, example_batch: Mapping[str, Any]) -> RunState:
        """``init``'s state as ``ShapeDtypeStruct`` leaves with their shardings."""
        ...

    def sample(self, state: Any, key: jax.Array, n: int) -> jax.Array:
        """``n`` samples of the program at ``state``."""
        ...

    def evaluate(self, state: Any, batch: Mapping[str, Any],
                 key: jax.Array | None = None) -> Mapping[str, jax.Array]:
        """The objectives at ``state`` on ``batch``, without updating."""
        ...


def check_stepper(stepper: Any) -> None:
    """Raises ConfigError naming what ``stepper`` lacks of :class:`Stepper` (and its
    phases of :class:`Phase`)."""
    def missing(obj: Any, protocol: type) -> list[str]:
        names = {*protocol.__annotations__,
                 *(n for n, v in vars(protocol).items() if callable(v))}
        return sorted(n for n in names if not n.startswith("_") and not hasattr(obj, n))

    lacks = missing(stepper, Stepper)
    if not lacks:
        for phase in stepper.phases:
            lacks += [f"phases[...].{n}" for n in missing(phase, Phase)]
    if lacks:
        raise ConfigError(
            f"fit() trains a compiled program (gd.compile(program)); "
            f"{type(stepper).__name__} lacks {', '.join(lacks)} of the Stepper protocol "
            "(gendsl.run.stepper)")
