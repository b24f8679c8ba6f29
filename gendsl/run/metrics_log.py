"""``metrics.jsonl``: one JSON object per logged step, appended as training runs.

Each record has ``step`` (the number of steps done when it was taken) and metric names
(``"D/loss"``, ``"nonfinite"``, ``"eval/..."``). Non-finite values are written as
``null`` so that every line is standard JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np


def to_json_value(value: Any) -> Any:
    """A host value as a JSON value: ``int`` for integer and boolean scalars, ``float``
    for floating ones, ``None`` for NaN and infinities, nested lists for arrays; other
    values pass through.

    >>> to_json_value(np.float32(0.5)), to_json_value(np.int32(3)), to_json_value(np.nan)
    (0.5, 3, None)
    >>> to_json_value(np.array([1.0, np.inf]))
    [1.0, None]
    """
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        value = np.asarray(value).tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_record(step: int, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``{"step": step, name: JSON value, ...}`` from host scalar metrics."""
    return {"step": int(step), **{name: to_json_value(v) for name, v in metrics.items()}}


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` file (empty if it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MetricsLog:
    """Appends records to a ``metrics.jsonl`` file.

    Args:
      path: the file.
      enabled: write nothing when false (processes other than the first on many hosts).
    """

    def __init__(self, path: str | Path, *, enabled: bool = True):
        self._path = Path(path)
        self._enabled = enabled

    @property
    def path(self) -> Path:
        """The file written."""
        return self._path

    def keep_until(self, step: int) -> None:
        """Drops records of steps after ``step`` (written by a run that was killed after
        its last checkpoint, and about to be written again by the resumed run)."""
        if not self._enabled or not self._path.exists():
            return
        kept = [r for r in read_records(self._path) if r.get("step", 0) <= step]
        self._path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        """Appends records (each a dict with ``step``) and flushes."""
        lines = [json.dumps(r) + "\n" for r in records]
        if not self._enabled or not lines:
            return
        with self._path.open("a") as f:
            f.writelines(lines)
