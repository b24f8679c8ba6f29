"""What a run directory records about how to rebuild its program.

``gendsl run`` writes ``run_dir/program.json`` when it starts a new run directory: the
program file's absolute path, the ``--set`` overrides as given and the gendsl version.
With the config ``fit`` records in ``run_dir/config.json`` that is enough to rebuild the
experiment later (``gd.load_run``, ``gendsl sample``, ``gendsl eval``). Both are read
here, and only here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from gendsl.errors import ConfigError
from gendsl.run.run_info import gendsl_version

PROGRAM_RECORD = "program.json"
CONFIG_RECORD = "config.json"


def write_program_record(run_dir: str | Path, program: str | Path,
                         assignments: Sequence[str]) -> bool:
    """Writes ``run_dir/program.json`` unless it exists (an existing one is never
    replaced: it records how the run was started).

    Args:
      run_dir: the run directory (created if missing).
      program: the program file.
      assignments: the ``--set`` overrides, as given.

    Returns:
      whether the file was written.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> write_program_record(d, "p.py", ["lr=1"]), write_program_record(d, "q.py", [])
    (True, False)
    >>> read_program_record(d)["assignments"]
    ['lr=1']
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"program": str(Path(program).resolve()), "assignments": list(assignments),
              "gendsl_version": gendsl_version()}
    try:
        fd = os.open(run_dir / PROGRAM_RECORD, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(record, indent=2) + "\n")
    return True


def read_program_record(run_dir: str | Path) -> dict[str, Any]:
    """``run_dir/program.json`` as a dict.

    Raises:
      ConfigError: the file is missing or is not a JSON object with ``program``.
    """
    path = Path(run_dir) / PROGRAM_RECORD
    record = _read_json(path, "it is written by `gendsl run` when it starts a run "
                        "directory; pass the program file yourself (program=...)")
    if not isinstance(record.get("program"), str):
        raise ConfigError(f"{path} names no program file (key 'program'); pass the program "
                          "file yourself (program=...).")
    return record


def saved_config(run_dir: str | Path) -> dict[str, Any]:
    """The config a run was trained with (``run_dir/config.json``), as plain JSON values.

    Raises:
      ConfigError: the file is missing or is not a JSON object.
    """
    return _read_json(Path(run_dir) / CONFIG_RECORD,
                      "it is written by `gendsl run` (gd.run_experiment) when training starts")


def _read_json(path: Path, why: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist ({why}); is {path.parent} a run "
                          "directory?") from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} cannot be read ({error}).") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path} must hold a JSON object, got {type(value).__name__}.")
    return value
