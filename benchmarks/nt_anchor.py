"""The neural-tangents 0.6.5 anchor, timed one run at a time next to gendsl.

neural-tangents no longer imports on current JAX, so its timings come from a separate
virtual environment (built by ../shared/anchors/neural_tangents/setup.sh; about 3 GB).
This module finds that venv (checking that ``neural_tangents`` imports there) and drives
a long-lived :mod:`nt_anchor_server` process in it, one request per timed run, so that a
benchmark alternates the two sides (A B A B ...; see ``kernel_timing.interleaved``):
under load, neural-tangents and gendsl slow down by different factors, and timings
taken minutes apart give ratios that say more about the load than about the code.

The anchor inherits this process's environment (``OPENBLAS_NUM_THREADS`` and friends
agree). Any size runs: the workload's sizes travel in its name. A workload the anchor
cannot run (a network bench.py lacks, an error, a timeout, the process killed, most
likely out of memory) comes back as a reason, and the benchmark prints it in the row.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
ANCHOR_DIR = ROOT / ".." / "shared" / "anchors" / "neural_tangents"
SERVER = Path(__file__).resolve().parent / "nt_anchor_server.py"
DEFAULT_VENVS = ("/tmp/nt-anchor",)


def check_venv(venv: Path, timeout: float = 180.0) -> Optional[str]:
    """Why ``venv`` cannot serve as the anchor, or None when it can.

    Runs ``import neural_tangents`` in its ``bin/python`` (a subprocess, ``timeout``
    seconds: TensorFlow's import is slow on a loaded machine).
    """
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        return f"{venv}: no {python}"
    try:
        proc = subprocess.run([str(python), "-c", "import neural_tangents"], capture_output=True,
                              text=True, timeout=timeout, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return f"{venv}: 'import neural_tangents' did not finish in {timeout:.0f} s"
    except OSError as e:
        return f"{venv}: {python} does not run ({e})"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return f"{venv}: 'import neural_tangents' fails: {last}"
    return None


def find_venv(explicit: Optional[str] = None, *, rejected: Optional[list] = None,
              timeout: float = 180.0) -> Optional[Path]:
    """The anchor venv: ``explicit``, else ``$NT_ANCHOR_VENV``, else ``/tmp/nt-anchor``.

    Args:
      explicit: a venv directory given on the command line (then the only candidate).
      rejected: if given, the reason each rejected candidate was rejected is appended
        (they are also printed to stderr).
      timeout: seconds for each candidate's ``import neural_tangents``.

    Returns:
      The first candidate whose Python imports neural_tangents, or None.
    """
    candidates = [explicit] if explicit else [os.environ.get("NT_ANCHOR_VENV"), *DEFAULT_VENVS]
    for c in candidates:
        if not c:
            continue
        why = check_venv(Path(c), timeout)
        if why is None:
            return Path(c)
        print(f"neural-tangents anchor: rejected {why}", file=sys.stderr)
        if rejected is not None:
            rejected.append(why)
    return None


def _died(returncode: int) -> str:
    if returncode < 0:
        sig = signal.Signals(-returncode).name
        hint = ": killed, most likely out of memory" if sig == "SIGKILL" else ""
        return f"anchor process died ({sig}{hint})"
    return f"anchor process exited (status {returncode})"


class AnchorUnavailable(RuntimeError):
    """The anchor process cannot answer (died, timed out, or refused a run)."""


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)  # end of output: the process is gone


class Anchor:
    """A neural-tangents process answering one request at a time (see nt_anchor_server).

    Args:
      venv: the anchor venv (its ``bin/python`` runs the server), or None with ``command``.
      command: the server command line instead (tests use a fake server).
      timeout: seconds allowed for one request (compile and warm-up included); past it
        the process is killed and the workload reported as timed out.
    """

    def __init__(self, venv: Optional[Path] = None, *, command: Optional[list] = None,
                 timeout: float = 900.0):
        bench = (ANCHOR_DIR / "bench.py").resolve()
        self.command = command or [str(Path(venv) / "bin" / "python"), str(SERVER), str(bench)]
        self.timeout = timeout
        self.proc = None
        self.info: dict = {}
        self.prepared: Optional[str] = None  # the workload the live process has ready

    def _start(self) -> None:
        self.prepared = None
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, env=dict(os.environ))
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=_read_lines, args=(self.proc.stdout, self.lines),
                         daemon=True).start()
        self.info = self._reply()

    def _stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-2000:]

    def _reply(self) -> dict:
        try:
            line = self.lines.get(timeout=self.timeout)
        except queue.Empty:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AnchorUnavailable(f"anchor request timed out after {self.timeout:.0f} s")
        if line is None:
            rc = self.proc.wait()
            tail = self._stderr_tail().strip().splitlines()
            self.stderr.close()
            self.proc = None
            raise AnchorUnavailable(_died(rc) + (f"; last stderr: {tail[-1][:200]}" if tail else ""))
        return json.loads(line)

    def _request(self, **fields) -> dict:
        if self.proc is None:
            self._start()
        try:
            self.proc.stdin.write(json.dumps(fields) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the reply reader reports how it died
        return self._reply()

    def prepare(self, workload: str) -> Optional[str]:
        """Compile and warm up ``workload`` (unless the live process has it ready already);
        returns None when ready, else why not."""
        if self.proc is not None and self.prepared == workload:
            return None
        self.prepared = None
        try:
            reply = self._request(op="prepare", workload=workload)
        except AnchorUnavailable as e:
            return str(e)
        if not reply.get("ok"):
            return reply.get("error", "anchor refused the workload")
        self.prepared = workload
        return None

    def time_once(self) -> float:
        """Seconds of one run of the prepared workload (timed inside the anchor).

        Raises:
          AnchorUnavailable: the process died or timed out (the message says which).
        """
        reply = self._request(op="time")
        if not reply.get("ok"):
            raise AnchorUnavailable(reply.get("error", "anchor run failed"))
        return float(reply["seconds"])

    def close(self) -> None:
        """Stop the process (politely, then by kill)."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()
        self.proc = None


def measure_row(row: dict, gendsl_once: Callable[[], float], anchor: Optional[Anchor],
                workload: str, pairs: int, peak_once: Optional[Callable[[], float]] = None
                ) -> dict:
    """Times gendsl (warmed up already) alternately with the anchor's ``workload``.

    Fills ``row`` with ``gendsl_s`` (median), ``gendsl_runs_s``, and, when the anchor
    ran, ``neural_tangents_s`` (median), ``neural_tangents_runs_s``, ``ratios`` (per
    pair, neural-tangents / gendsl) and ``speedup`` (their median); else ``anchor_note``
    says why not. ``load_before`` / ``load_after``: the 1-, 5- and 15-minute load
    averages. With ``peak_once`` (``kernel_timing.matmul_once()``), a matmul runs after
    each pair and ``peak_flop_per_s`` is its median FLOP/s.
    """
    import kernel_timing

    row["load_before"] = list(os.getloadavg())
    peak_s: list = []
    note = ("anchor not run (no venv found, or --no-anchor)" if anchor is None
            else anchor.prepare(workload))
    if note is None:
        try:
            timed = kernel_timing.interleaved(gendsl_once, anchor.time_once, pairs, peak_once)
        except AnchorUnavailable as e:
            note = str(e)
        else:
            row.update(gendsl_s=timed["median_a_s"], gendsl_runs_s=timed["a_s"],
                       neural_tangents_s=timed["median_b_s"], neural_tangents_runs_s=timed["b_s"],
                       ratios=timed["ratios"], speedup=timed["median_ratio"])
            peak_s = timed["also_s"]
    if note is not None:
        runs = []
        for _ in range(pairs):
            runs.append(gendsl_once())
            if peak_once is not None:
                peak_s.append(peak_once())
        row.update(gendsl_s=kernel_timing.median(runs), gendsl_runs_s=runs, anchor_note=note)
    if peak_s:
        row["peak_flop_per_s"] = 2.0 * kernel_timing.PEAK_N ** 3 / kernel_timing.median(peak_s)
    row["load_after"] = list(os.getloadavg())
    return row
