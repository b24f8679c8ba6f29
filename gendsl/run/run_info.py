"""Facts about a run recorded with its checkpoints and summary."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any


def gendsl_version() -> str:
    """The installed gendsl version, or ``"unknown"`` when running from a source tree
    that is not installed."""
    try:
        return importlib.metadata.version("gendsl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def write_json(path: str | Path, value: Any) -> None:
    """Writes ``value`` as indented JSON (non-JSON values as their ``str``), atomically:
    a reader never sees a half-written file."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")
    partial.replace(path)
