"""Joining a multi-process run: which distributed runtime to start, and starting it.

``gendsl run`` decides from its flags and the environment whether it is one process of
many (:func:`distributed_spec`, pure) and then starts JAX's multi-controller runtime
(:func:`start_distributed`) before anything touches a device. The sources, first match
wins:

1. the flags ``--coordinator HOST:PORT --num-processes N --process-id I`` (all three);
2. the environment variables ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and
   ``JAX_PROCESS_ID`` (what ``gendsl launch`` sets; JAX itself reads only the first);
3. ``--distributed auto``, or a SLURM step of several tasks (``SLURM_NTASKS`` > 1 with
   the variables JAX's SLURM detection needs): ``jax.distributed.initialize()``'s own
   cluster detection (SLURM, Open MPI, Kubernetes, Cloud TPU pods);
4. otherwise one process, with no runtime to start. ``--distributed off`` forces this.

On the CPU the processes exchange data through Gloo over TCP (JAX's default
``jax_cpu_collectives_implementation``). If a process dies, the coordination service
notices its missing heartbeats within ``heartbeat_timeout`` seconds and ends every
other process (they would otherwise wait in a collective forever).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping

from gendsl.errors import ConfigError, DistributedError

COORDINATOR_ENV = "JAX_COORDINATOR_ADDRESS"
NUM_PROCESSES_ENV = "JAX_NUM_PROCESSES"
PROCESS_ID_ENV = "JAX_PROCESS_ID"
SLURM_VARS = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
              "SLURM_LOCALID")
MODES = ("auto", "off")
HEARTBEAT_TIMEOUT_S = 30


@dataclasses.dataclass(frozen=True)
class DistributedSpec:
    """How to start the distributed runtime.

    Attributes:
      coordinator: ``HOST:PORT`` of process 0's coordination service, or None to let
        JAX detect the cluster.
      num_processes: how many processes take part (None: detected).
      process_id: this process's index, ``0 <= process_id < num_processes`` (None:
        detected).
      origin: where the settings came from, for messages (``"the flags"``, ...).
      heartbeat_timeout: seconds without a heartbeat after which a process counts as
        dead and the others are ended.
    """

    coordinator: str | None
    num_processes: int | None
    process_id: int | None
    origin: str
    heartbeat_timeout: int = HEARTBEAT_TIMEOUT_S

    @property
    def detect(self) -> bool:
        """Whether JAX's cluster detection fills in the settings."""
        return self.coordinator is None


def parse_coordinator(text: str, origin: str = "--coordinator") -> str:
    """Checks a ``HOST:PORT`` address and returns it stripped.

    Args:
      text: the address, e.g. ``"10.0.0.1:1234"`` or ``"[::1]:1234"``.
      origin: the flag or variable it came from, for the message.
    Returns:
      ``text`` without surrounding blanks.
    Raises:
      ConfigError: no host, or a port that is not an integer in 1..65535.

    >>> parse_coordinator(" node1:8476 ")
    'node1:8476'
    >>> parse_coordinator("node1")
    Traceback (most recent call last):
    ...
    gendsl.errors.ConfigError: --coordinator 'node1' is not HOST:PORT; give the address and port of process 0, e.g. --coordinator node1:8476 (process 0 listens on that port).
    """
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(
            f"{origin} {text!r} is not HOST:PORT; give the address and port of process 0, "
            f"e.g. {origin} node1:8476 (process 0 listens on that port).")
    return text


def _int(text: str | int | None, origin: str, minimum: int) -> int | None:
    if text is None:
        return None
    value = str(text).strip()
    if not value.lstrip("-").isdigit() or int(value) < minimum:
        raise ConfigError(f"{origin} {text!r}: give an integer >= {minimum}.")
    return int(value)


def distributed_spec(
    *,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    mode: str | None = None,
    heartbeat_timeout: int = HEARTBEAT_TIMEOUT_S,
    environ: Mapping[str, str] | None = None,
) -> DistributedSpec | None:
    """Whether and how this process joins a distributed run (see the module doc).

    Args:
      coordinator, num_processes, process_id: the flags (None when not given).
      mode: ``"auto"`` (use JAX's cluster detection), ``"off"`` (one process whatever
        the environment says) or None (decide from the flags and the environment).
      heartbeat_timeout: seconds after which a silent process counts as dead.
      environ: the environment (default ``os.environ``).
    Returns:
      a :class:`DistributedSpec`, or None for a plain one-process run.
    Raises:
      ConfigError: some but not all of the three flags (or variables) given, a
        malformed address or number, a process id out of range, an unknown mode, or
        flags together with ``--distributed off``.

    >>> distributed_spec(environ={})
    >>> distributed_spec(coordinator="h:1", num_processes=2, process_id=1, environ={})
    DistributedSpec(coordinator='h:1', num_processes=2, process_id=1, origin='the flags', heartbeat_timeout=30)
    """
    env = os.environ if environ is None else environ
    if mode is not None and mode not in MODES:
        raise ConfigError(f"--distributed {mode!r}: choose one of {', '.join(MODES)}.")
    if isinstance(heartbeat_timeout, bool) or int(heartbeat_timeout) < 1:
        raise ConfigError(f"--heartbeat-timeout {heartbeat_timeout!r}: give a whole number "
                          "of seconds >= 1.")
    flags = {"--coordinator": coordinator, "--num-processes": num_processes,
             "--process-id": process_id}
    given = [name for name, value in flags.items() if value is not None]
    if mode == "off":
        if given:
            raise ConfigError(f"{', '.join(given)} join a distributed run, which "
                              "--distributed off refuses; drop one or the other.")
        return None
    if given:
        return _explicit(flags, "the flags", heartbeat_timeout)
    variables = {COORDINATOR_ENV: env.get(COORDINATOR_ENV),
                 NUM_PROCESSES_ENV: env.get(NUM_PROCESSES_ENV),
                 PROCESS_ID_ENV: env.get(PROCESS_ID_ENV)}
    if any(v not in (None, "") for v in variables.values()) and mode != "auto":
        return _explicit(variables, "the environment", heartbeat_timeout, env=True)
    slurm_tasks = env.get("SLURM_NTASKS", "")
    if mode == "auto" or (all(v in env for v in SLURM_VARS) and slurm_tasks.isdigit()
                          and int(slurm_tasks) > 1):
        origin = "--distributed auto" if mode == "auto" else f"SLURM ({slurm_tasks} tasks)"
        return DistributedSpec(None, None, None, origin, int(heartbeat_timeout))
    return None


def _explicit(values: Mapping[str, object], origin: str, heartbeat: int, env: bool = False
              ) -> DistributedSpec:
    """A spec from the three settings, each named as given (flag or variable)."""
    missing = [name for name, value in values.items() if value in (None, "")]
    if missing:
        how = "set" if env else "give"
        raise ConfigError(
            f"a distributed run needs all of {', '.join(values)}; {how} "
            f"{', '.join(missing)} too (or none of them for a one-process run).")
    (c_name, coordinator), (n_name, n), (i_name, i) = values.items()
    coordinator = parse_coordinator(str(coordinator), c_name)
    n = _int(n, n_name, 1)
    i = _int(i, i_name, 0)
    if i >= n:
        raise ConfigError(f"{i_name} {i} is out of range for {n_name} {n}: processes are "
                          f"numbered 0 to {n - 1}.")
    return DistributedSpec(coordinator, n, i, origin, int(heartbeat))


def start_distributed(spec: DistributedSpec | None) -> None:
    """Starts JAX's distributed runtime as ``spec`` says (nothing for None).

    Call it before anything touches a device (``jax.devices()``, an array, a program
    file that builds arrays): JAX fixes the device list when its backend starts.

    Raises:
      DistributedError: the backend is already running, or the runtime did not start
        (no coordinator reachable at the address, the cluster not detected, ...).
    """
    if spec is None:
        return
    import jax

    if jax.distributed.is_initialized():
        raise DistributedError("the distributed runtime is already started in this "
                               "process; start each gendsl run in a process of its own.")
    try:
        jax.distributed.initialize(
            spec.coordinator, spec.num_processes, spec.process_id,
            heartbeat_timeout_seconds=spec.heartbeat_timeout)
    except (RuntimeError, ValueError, TypeError) as error:
        if "must be called before" in str(error):  # a backend already started
            raise DistributedError(
                f"cannot join the distributed run ({spec.origin}): JAX's devices were "
                "already in use in this process. Start the runtime first: run gendsl in "
                "a fresh process (gendsl run / gendsl launch do).") from error
        where = (f"coordinator {spec.coordinator}, process {spec.process_id} of "
                 f"{spec.num_processes}" if not spec.detect else "cluster detection")
        raise DistributedError(
            f"could not join the distributed run ({spec.origin}; {where}): {error}. Check "
            "that process 0 runs and listens at that address, that every process got the "
            "same --num-processes, and a distinct --process-id.") from error


def agreed_signal(signal_number: int | None) -> int | None:
    """The stop signal any process received, the same on every process (a collective:
    every process must call it at the same point of the loop; with one process it
    returns ``signal_number`` without one).

    Args:
      signal_number: the signal this process received, or None.
    Returns:
      the largest signal number any process received, or None if none did.
    """
    import jax

    if jax.process_count() == 1:
        return signal_number
    import numpy as np
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(np.int32(signal_number or 0))
    agreed = int(np.max(gathered))
    return agreed or None
