"""The train state: everything a compiled program carries from one step to the next.

A :class:`TrainState` is a pytree (a ``flax.struct`` dataclass), so it goes through
``jax.jit``, ``lax.scan``, donation and Orbax checkpoints unchanged. It holds only
arrays; the static parts of a program (module graph definitions, optimizers, the term
tree) live in the compiled program, never in the state.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import struct


@struct.dataclass
class TrainState:
    """State of a compiled program between steps.

    Attributes:
      step: number of steps applied so far (int32 scalar). Skipped non-finite steps
        count too, so that data position and RNG stay in lockstep with it.
      params: ``{player name: parameter pytree}`` for every player.
      opt_state: ``{player name: optax state}`` for every trainable player.
      ema: ``{player name: parameter pytree}`` exponential moving averages of the
        players the program asks to average (empty otherwise).
      key: typed PRNG key (``jax.random.key``) split once per step.
      nonfinite_streak: consecutive steps whose losses or updates were not finite and
        were therefore not applied (int32 scalar).
      nonfinite_total: all such steps so far (int32 scalar).
      solver_state: anything a solver carries across steps (empty for built-ins).
      rest: ``{player name: non-parameter module state}`` (e.g. batch statistics),
        carried but not differentiated.
    """

    step: jax.Array
    params: dict[str, Any]
    opt_state: dict[str, Any]
    ema: dict[str, Any]
    key: jax.Array
    nonfinite_streak: jax.Array
    nonfinite_total: jax.Array
    solver_state: dict[str, Any] = struct.field(default_factory=dict)
    rest: dict[str, Any] = struct.field(default_factory=dict)
