"""Deterministic fault injection for kill and resume tests: ``GENDSL_FAULT``.

A test that must stop a run mid-way sets ``GENDSL_FAULT`` in the run's environment
instead of racing a polling loop against the training loop::

    GENDSL_FAULT=sigterm@120          # at step 120 the run sends itself SIGTERM
    GENDSL_FAULT=kill9@120            # ... SIGKILL: it dies at once, as under kill -9
    GENDSL_FAULT=sigterm@10,sigterm@10  # two SIGTERMs at the same step
    GENDSL_FAULT=kill9@20 GENDSL_FAULT_PROCESS=1   # only process 1 of a multi-process run

Actions: ``sigterm``, ``sigint`` and ``kill9``. The training loop checks the faults at
every chunk boundary, after the chunk's metrics, checkpoint and evaluation are written;
a fault fires at the first boundary at or after its step (exactly its step when that is
a multiple of ``steps_per_call``, ``checkpoint_every`` or ``eval_every``). Before it
fires, the loop waits for the checkpoint saves already begun (Orbax writes in the
background), so ``kill9`` lands between checkpoints, never inside one. The signal goes
through the same path as one sent from outside: SIGTERM and SIGINT save a checkpoint
and stop; SIGKILL leaves what was on disk. Unset, the variable costs one ``None`` check
per chunk.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from typing import Mapping

from gendsl.errors import ConfigError

ENV_VAR = "GENDSL_FAULT"
PROCESS_VAR = "GENDSL_FAULT_PROCESS"  # only the process of this index fires (default: all)
ACTIONS = {"sigterm": signal.SIGTERM, "sigint": signal.SIGINT, "kill9": signal.SIGKILL}


@dataclasses.dataclass(frozen=True)
class Fault:
    """One injected fault: send ``signal_number`` to this process at step ``step``.

    Attributes:
      action: ``"sigterm"``, ``"sigint"`` or ``"kill9"``.
      step: the global step (``> 0``) at which it fires.
    """

    action: str
    step: int

    @property
    def signal_number(self) -> int:
        """The signal this fault sends."""
        return int(ACTIONS[self.action])

    def due(self, previous: int, step: int) -> bool:
        """Whether the chunk from step ``previous`` to ``step`` reaches this fault.

        >>> Fault("sigterm", 5).due(3, 6), Fault("sigterm", 5).due(5, 6)
        (True, False)
        """
        return previous < self.step <= step

    def fire(self) -> None:
        """Sends the signal to this process (SIGKILL does not return)."""
        os.kill(os.getpid(), self.signal_number)


def parse_faults(text: str) -> tuple[Fault, ...]:
    """Parses a ``GENDSL_FAULT`` value: comma-separated ``ACTION@STEP`` entries.

    Args:
      text: the value, e.g. ``"sigterm@120"``; empty or blank means no fault.
    Returns:
      The faults, in the order given.
    Raises:
      ConfigError: an entry is not ``ACTION@STEP`` with a known action and a step > 0.

    >>> parse_faults("kill9@120, sigterm@3")
    (Fault(action='kill9', step=120), Fault(action='sigterm', step=3))
    """
    faults = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        action, _, step = entry.partition("@")
        action = action.strip().lower()
        if action not in ACTIONS or not step.strip().isdigit() or int(step) <= 0:
            raise ConfigError(
                f"{ENV_VAR}={text!r}: entry {entry!r} is not ACTION@STEP with ACTION one of "
                f"{', '.join(ACTIONS)} and STEP a positive integer, e.g. "
                f"{ENV_VAR}=sigterm@120; unset {ENV_VAR} to train without a fault")
        faults.append(Fault(action, int(step)))
    return tuple(faults)


def faults_from_env(environ: Mapping[str, str] | None = None,
                    process: int = 0) -> tuple[Fault, ...] | None:
    """The faults ``GENDSL_FAULT`` asks for, or None when it is unset or empty, or when
    ``GENDSL_FAULT_PROCESS`` names another process than ``process``.

    Args:
      environ: the environment to read (default ``os.environ``).
      process: this process's index (``jax.process_index()``).
    Raises:
      ConfigError: a malformed value (see :func:`parse_faults`), or a
        ``GENDSL_FAULT_PROCESS`` that is not a process index.

    >>> faults_from_env({"GENDSL_FAULT": "kill9@5", "GENDSL_FAULT_PROCESS": "1"}, process=0)
    >>> faults_from_env({"GENDSL_FAULT": "kill9@5", "GENDSL_FAULT_PROCESS": "1"}, process=1)
    (Fault(action='kill9', step=5),)
    """
    env = os.environ if environ is None else environ
    faults = parse_faults(env.get(ENV_VAR, "")) or None
    only = env.get(PROCESS_VAR, "").strip()
    if only and not only.isdigit():
        raise ConfigError(f"{PROCESS_VAR}={only!r}: give the index of the process that "
                          f"should fail (0, 1, ...), or unset {PROCESS_VAR} for all of them")
    return None if only and int(only) != process else faults
