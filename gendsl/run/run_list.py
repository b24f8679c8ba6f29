"""``gendsl runs``: the run directories under a folder, one row each.

A run directory is a folder holding ``config.json``, ``summary.json`` or
``checkpoints/``. Run directories may nest (the default directory of ``--set
data=grid25`` sits inside the program's own, see :mod:`gendsl.run.run_names`), so the
search goes on below them, skipping their ``checkpoints/`` and
``unreadable_checkpoints/``. Listing reads files and never writes or locks anything.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from gendsl.run.lock import is_locked

_MARKERS = ("config.json", "summary.json", "checkpoints")
_SKIP = {"checkpoints", "unreadable_checkpoints"}
HEADLINE_METRICS = 3


@dataclasses.dataclass(frozen=True)
class RunRow:
    """What ``gendsl runs`` shows of one run directory.

    Attributes:
      path: the run directory.
      status: ``running`` (a live process holds its lock), else ``summary.json``'s
        status (``completed``, ``interrupted``, ``nonfinite``), else ``incomplete``.
      step: the newest checkpoint's step, else the summary's, else ``None``.
      fingerprint: the program fingerprint (summary, else newest checkpoint), or ``None``.
      metrics: up to three ``eval/...`` metrics of the summary, ``eval/`` cut off.
    """

    path: Path
    status: str
    step: int | None
    fingerprint: str | None
    metrics: dict[str, Any]


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every run directory at or below ``root``, sorted by path.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for d in ("a/checkpoints/5", "a/x=1/checkpoints", "b"):
    ...     (root / d).mkdir(parents=True)
    >>> [str(p.relative_to(root)) for p in find_run_dirs(root)]
    ['a', 'a/x=1']
    """
    found = []
    for folder, subdirs, files in os.walk(root):
        here = Path(folder)
        if any(m in files or m in subdirs for m in _MARKERS):
            found.append(here)
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIP and not d.startswith("."))
    return sorted(found)


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """The steps of the complete checkpoints in ``run_dir/checkpoints``, ascending
    (unfinished saves live in temporary folders whose names are not numbers)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir())


def describe_run(run_dir: str | Path) -> RunRow:
    """The :class:`RunRow` of one run directory."""
    run_dir = Path(run_dir)
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        summary = {}
    summary = summary if isinstance(summary, dict) else {}
    steps = checkpoint_steps(run_dir)
    step = steps[-1] if steps else summary.get("step")
    fingerprint = summary.get("fingerprint")
    if fingerprint is None and steps:
        fingerprint = _checkpoint_fingerprint(run_dir, steps[-1])
    status = "running" if is_locked(run_dir) else summary.get("status", "incomplete")
    metrics = summary.get("metrics") if isinstance(summary.get("metrics"), dict) else {}
    headline = {k.removeprefix("eval/"): v for k, v in metrics.items() if k.startswith("eval/")}
    return RunRow(run_dir, status, step, fingerprint,
                  dict(list(headline.items())[:HEADLINE_METRICS]))


def _checkpoint_fingerprint(run_dir: Path, step: int) -> str | None:
    from gendsl.run.checkpoints import CheckpointStore

    try:
        with CheckpointStore(run_dir / "checkpoints", read_only=True) as store:
            return store.metadata(step).get("fingerprint")
    except Exception:  # a damaged or foreign checkpoint: the listing shows "-"
        return None


def format_runs(rows: list[RunRow]) -> str:
    """The rows as an aligned table with a header.

    >>> print(format_runs([RunRow(Path("runs/gan"), "completed", 600, "ab12", {"modes": 8}),
    ...                    RunRow(Path("runs/vae"), "incomplete", None, None, {})]))
    run       status      step  fingerprint  metrics
    runs/gan  completed   600   ab12         modes=8
    runs/vae  incomplete  -     -
    """
    table = [("run", "status", "step", "fingerprint", "metrics")] + [
        (str(r.path), r.status, "-" if r.step is None else str(r.step), r.fingerprint or "-",
         " ".join(f"{k}={_number(v)}" for k, v in r.metrics.items())) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return "\n".join(
        ("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]).rstrip()
        for row in table)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
