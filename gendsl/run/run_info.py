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


def device_layout(mesh: Any) -> dict[str, int]:
    """``{"devices": ..., "processes": ...}``: how many devices the run's mesh spans (1
    without a mesh) and how many processes take part. Recorded with every checkpoint for
    information only: a checkpoint restores onto any other layout (see
    docs/distributed.md), so a change is never refused.

    >>> device_layout(None)["devices"]
    1
    """
    import jax

    devices = 1 if mesh is None else int(mesh.devices.size)
    return {"devices": devices, "processes": jax.process_count()}
