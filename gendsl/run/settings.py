"""``LoopSettings``: the settings of a training loop, in one place.

Every runner setting is a field here, with its default and its check; ``gd.fit``'s
keyword arguments, a program file's config keys (``--set checkpoint_every=500``) and
the loop itself all read this one list.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gendsl.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class LoopSettings:
    """How :func:`gendsl.run.fit` trains.

    Attributes:
      steps: the step to train to (a resumed run counts the steps already done).
      seed: seeds the initial state (``init(jax.random.key(seed), ...)``) and the
        evaluation keys.
      steps_per_call: steps fused into one device call (``step_many``); chunks stay
        aligned to multiples of it, so a resumed run repeats the same calls.
      checkpoint_every: save a checkpoint every this many steps (and at the end).
      log_every: write a ``metrics.jsonl`` record every this many steps.
      eval_every: also evaluate every this many steps (0: only at the end).
      max_nonfinite: stop after this many consecutive non-finite steps.
      num_eval_samples: samples drawn for the source's evaluation.
      keep_checkpoints: how many recent checkpoints to keep.

    >>> LoopSettings(steps=10, steps_per_call=5).checkpoint_every
    1000
    >>> LoopSettings(steps=10, log_every=0)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    gendsl.errors.ConfigError: log_every=0: log_every must be an integer >= 1.
    """

    steps: int
    seed: int = 0
    steps_per_call: int = 1
    checkpoint_every: int = 1000
    log_every: int = 100
    eval_every: int = 0
    max_nonfinite: int = 10
    num_eval_samples: int = 10_000
    keep_checkpoints: int = 3

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            problem = self.problem(f.name, value)
            if problem:
                raise ConfigError(f"{f.name}={value!r}: {f.name} {problem}.")

    @staticmethod
    def problem(name: str, value: Any) -> str | None:
        """What is wrong with ``value`` for the setting ``name`` (``None`` if nothing),
        for messages that name where the value came from (``--steps -5: ...``).

        >>> LoopSettings.problem("steps_per_call", 0), LoopSettings.problem("seed", 0)
        ('must be an integer >= 1', None)
        """
        low = 0 if name in _ZERO_ALLOWED else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            return f"must be an integer >= {low}"
        return None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings' names."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def create(cls, **settings: Any) -> "LoopSettings":
        """``LoopSettings(**settings)``, naming the valid settings when one is unknown."""
        unknown = sorted(set(settings) - set(cls.names()))
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r}; the loop's settings are "
                              f"{', '.join(cls.names())}")
        return cls(**settings)


_ZERO_ALLOWED = ("steps", "seed", "eval_every")

RUN_MANAGEMENT_KEYS: frozenset[str] = frozenset(
    {"steps", "checkpoint_every", "log_every", "eval_every", "max_nonfinite",
     "num_eval_samples", "keep_checkpoints"}
)
"""Config keys that manage a run without changing what it computes: a resume may change
them freely (``--steps`` to train longer, say), and they do not enter the default run
directory's name. Every other key (the program's own, ``batch_size``, ``seed``,
``steps_per_call``) is part of a run's identity."""


def default_settings() -> dict[str, Any]:
    """``{name: default}`` of every setting that has one.

    >>> default_settings()["steps_per_call"]
    1
    """
    return {f.name: f.default for f in dataclasses.fields(LoopSettings)
            if f.default is not dataclasses.MISSING}
