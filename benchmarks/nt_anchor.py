"""Run the neural-tangents 0.6.5 anchor (../shared/anchors/neural_tangents/bench.py).

neural-tangents no longer imports on current JAX, so its timings come from a separate
virtual environment (built by the anchor's ``setup.sh``; about 3 GB). This module finds
that venv, runs ``bench.py`` in a subprocess with the same thread settings as the
calling benchmark, and returns ``{workload: seconds}`` (median of 5 after a warm-up,
as ``bench.py`` measures).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
ANCHOR_DIR = ROOT / ".." / "shared" / "anchors" / "neural_tangents"
DEFAULT_VENVS = ("/tmp/nt-anchor",)


def find_venv(explicit: Optional[str] = None) -> Optional[Path]:
    """The anchor venv: ``explicit``, else ``$NT_ANCHOR_VENV``, else ``/tmp/nt-anchor``.

    Returns None when none of them has a Python that imports neural_tangents.
    """
    candidates = [explicit] if explicit else [os.environ.get("NT_ANCHOR_VENV"), *DEFAULT_VENVS]
    for c in candidates:
        if c and (Path(c) / "bin" / "python").exists():
            return Path(c)
    return None


def run_anchor(venv: Path, timeout: float = 1800.0) -> dict[str, float]:
    """Run ``bench.py`` in ``venv``; returns ``{workload: median seconds}``.

    The environment is this process's (so ``OPENBLAS_NUM_THREADS`` and friends agree);
    stderr (TensorFlow's start-up noise) is discarded unless the run fails.
    """
    bench = (ANCHOR_DIR / "bench.py").resolve()
    proc = subprocess.run([str(venv / "bin" / "python"), str(bench)], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ), cwd=str(bench.parent))
    if proc.returncode != 0:
        raise RuntimeError(f"neural-tangents anchor failed (rc {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    out = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            row = json.loads(line)
            out[row["workload"]] = float(row["seconds"])
    return out


def compare(rows: list[dict], venv: Optional[Path], key: str = "workload") -> dict[str, float]:
    """Runs the anchor (when ``venv`` is given) and adds ``neural_tangents_s`` and
    ``speedup`` to every row whose ``row[key]`` it measured; returns its timings."""
    anchor = run_anchor(venv) if venv else {}
    for r in rows:
        if r[key] in anchor:
            r["neural_tangents_s"] = anchor[r[key]]
            r["speedup"] = r["neural_tangents_s"] / r["gendsl_s"]
    return anchor
