"""Facts about a run recorded with its checkpoints and summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


VERSION = "0.2.0"
"""gendsl's version (``gd.__version__``; pyproject.toml says the same, which
tests/test_cli_tools.py checks). Read from the source rather than from the installed
package's metadata, which an editable install leaves stale when the version changes."""


def gendsl_version() -> str:
    """The version of the gendsl that is running (:data:`VERSION`).

    >>> gendsl_version() == VERSION
    True
    """
    return VERSION


def write_json(path: str | Path, value: Any) -> None:
    """Writes ``value`` as indented JSON (non-JSON values as their ``str``), atomically:
    a reader never sees a half-written file."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")
    partial.replace(path)
