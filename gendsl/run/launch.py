"""``gendsl launch``: N local processes of one distributed run, on 127.0.0.1.

Each child is ``python -m gendsl.cli run ...`` with the variables of
:mod:`gendsl.run.distributed` set (``JAX_COORDINATOR_ADDRESS`` on a free port of
127.0.0.1, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``), ``JAX_NUM_CPU_DEVICES`` simulated
CPU devices each, and ``JAX_PLATFORMS=cpu`` unless the environment sets a platform.
Process 0's output goes to the launcher's own stdout and stderr unchanged (its progress
bar too); the others' lines are prefixed with ``[process I]``. The children run in
sessions of their own: a Ctrl-C or SIGTERM reaches them once, forwarded by the launcher.
When a child fails, the others get SIGTERM and, ``grace`` seconds later, SIGKILL (a
process left waiting in a collective with a dead peer does not return to Python to see
the SIGTERM), and the launcher exits with the first failure's status. A child that
exits with ``128 + SIGINT`` or ``128 + SIGTERM`` was interrupted: the processes of a run
agree on a signal and stop at the same step, saving a checkpoint together, so the
launcher says so and waits for the others (up to ``STOP_WAIT_S``) instead of stopping
them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Mapping, Sequence, TextIO

from gendsl.errors import ConfigError
from gendsl.run.distributed import COORDINATOR_ENV, NUM_PROCESSES_ENV, PROCESS_ID_ENV

GRACE_S = 3.0  # a process whose peer died cannot save (a collective) nor train on
STOP_WAIT_S = 60.0  # how long the others of an interrupted run get to finish their save
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def child_env(environ: Mapping[str, str], coordinator: str, processes: int, process_id: int,
              devices_per_process: int | None) -> dict[str, str]:
    """The environment of child ``process_id``.

    >>> env = child_env({"JAX_PLATFORMS": "cpu"}, "127.0.0.1:5", 2, 1, 4)
    >>> [env[k] for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID",
    ...                   "JAX_NUM_CPU_DEVICES")]
    ['127.0.0.1:5', '2', '1', '4']
    """
    env = dict(environ)
    env.update({COORDINATOR_ENV: coordinator, NUM_PROCESSES_ENV: str(processes),
                PROCESS_ID_ENV: str(process_id), "PYTHONUNBUFFERED": "1"})
    env.setdefault("JAX_PLATFORMS", "cpu")
    if devices_per_process is not None:
        env["JAX_NUM_CPU_DEVICES"] = str(devices_per_process)
    return env


def exit_status(returncode: int) -> int:
    """A child's return code as a shell exit status (``-9`` -> 137).

    >>> exit_status(-9), exit_status(2)
    (137, 2)
    """
    return 128 - returncode if returncode < 0 else returncode


def describe_status(returncode: int) -> str:
    """``"exited with 2"`` or ``"was killed by SIGKILL"``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with {returncode}"


def interrupted_by(returncode: int) -> str | None:
    """The signal a child's run stopped on, from its status (``gendsl run`` exits with
    ``128 + signal`` after saving a checkpoint on SIGINT or SIGTERM), else None.

    >>> interrupted_by(143), interrupted_by(130), interrupted_by(137), interrupted_by(-15)
    ('SIGTERM', 'SIGINT', None, None)
    """
    for s in INTERRUPTS:
        if returncode == 128 + s:
            return s.name
    return None


def _relay(stream, out: TextIO, prefix: str) -> None:
    for line in iter(stream.readline, ""):
        out.write(prefix + line)
        out.flush()
    stream.close()


def launch(processes: int, run_args: Sequence[str], *, devices_per_process: int | None = None,
           grace: float = GRACE_S, environ: Mapping[str, str] | None = None,
           python: str = sys.executable) -> int:
    """Runs ``gendsl run RUN_ARGS`` as ``processes`` processes of one distributed run.

    Args:
      processes: how many processes (>= 1).
      run_args: the arguments of ``gendsl run`` (program file, flags).
      devices_per_process: simulated CPU devices per process (``JAX_NUM_CPU_DEVICES``;
        None: the environment's, else JAX's default of one).
      grace: seconds between SIGTERM and SIGKILL when stopping the others.
      environ: the base environment (default ``os.environ``).
      python: the interpreter of the children.
    Returns:
      0 if every process succeeded, else the exit status of the first that failed
      (``128 + signal`` for a signal).
    Raises:
      ConfigError: ``processes`` or ``devices_per_process`` below 1.
    """
    if processes < 1:
        raise ConfigError(f"--processes {processes}: give at least 1.")
    if devices_per_process is not None and devices_per_process < 1:
        raise ConfigError(f"--devices-per-process {devices_per_process}: give at least 1.")
    coordinator = f"127.0.0.1:{free_port()}"
    base = os.environ if environ is None else environ
    children: list[subprocess.Popen] = []
    relays: list[threading.Thread] = []
    for i in range(processes):
        env = child_env(base, coordinator, processes, i, devices_per_process)
        piped = i > 0
        child = subprocess.Popen(
            [python, "-m", "gendsl.cli", "run", *run_args], env=env, start_new_session=True,
            stdout=subprocess.PIPE if piped else None, stderr=subprocess.PIPE if piped else None,
            text=True, errors="replace")
        children.append(child)
        if piped:
            for stream, out in ((child.stdout, sys.stdout), (child.stderr, sys.stderr)):
                t = threading.Thread(target=_relay, args=(stream, out, f"[process {i}] "),
                                     daemon=True)
                t.start()
                relays.append(t)

    forwarded: list[int] = []

    def forward(signal_number, frame):
        forwarded.append(signal_number)
        for child in children:
            if child.poll() is None:
                with _quiet():
                    child.send_signal(signal_number)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = _wait(children, grace, forwarded)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for t in relays:
            t.join(timeout=5)
    return status


def _wait(children: list[subprocess.Popen], grace: float, forwarded: list[int]) -> int:
    """Waits for every child; on the first failure stops the rest (unless a signal was
    forwarded to all of them already, or the failure is an interrupted run: then they
    are stopping by themselves and get ``STOP_WAIT_S``). Returns the status."""
    failed: tuple[int, int] | None = None  # (process id, return code)
    deadline = None
    while True:
        codes = [c.poll() for c in children]
        if failed is None:
            bad = next(((i, c) for i, c in enumerate(codes) if c not in (None, 0)), None)
            others = [i for i, c in enumerate(codes) if c is None]
            if bad is not None and (forwarded or interrupted_by(bad[1])):
                # every process stops at the same step (the signal was forwarded to all,
                # or they agree on the one a child got) and saves its part of the
                # checkpoint: give them the time to, rather than cutting the save short
                failed, deadline = bad, time.monotonic() + max(grace, STOP_WAIT_S)
                if not forwarded:  # the user did not ask the launcher: say what happened
                    print(f"gendsl launch: the run was interrupted by "
                          f"{interrupted_by(bad[1])} (process {bad[0]} exited with {bad[1]})"
                          + (f"; waiting for {_processes(others)} to save and stop"
                             if others else ""), file=sys.stderr, flush=True)
            elif bad is not None:
                failed = bad
                print(f"gendsl launch: process {bad[0]} {describe_status(bad[1])}"
                      + (f"; stopping {_processes(others)}" if others else ""),
                      file=sys.stderr, flush=True)
                for i in others:
                    with _quiet():
                        children[i].send_signal(signal.SIGTERM)
                deadline = time.monotonic() + grace
        if all(c is not None for c in codes):
            break
        if deadline is not None and time.monotonic() > deadline:
            for child in children:
                if child.poll() is None:
                    with _quiet():
                        child.kill()
            deadline = None
        time.sleep(0.1)
    return 0 if failed is None else exit_status(failed[1])


def _processes(ids: Sequence[int]) -> str:
    """``"process 1"`` or ``"processes 1, 2"``."""
    return f"process{'es' if len(ids) > 1 else ''} {', '.join(map(str, ids))}"


class _quiet:
    """Ignores ProcessLookupError (a child that just ended)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, ProcessLookupError)
