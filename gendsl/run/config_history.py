"""A run's configuration: ``config.json`` written once, changes appended to a history.

A run directory records the config it was started with in ``config.json`` and never
rewrites it. A resume whose config differs in a key that is part of the run's identity
(every key but :data:`~gendsl.run.settings.RUN_MANAGEMENT_KEYS`) is refused unless the
caller allows changes; an allowed change is appended as one JSON line to
``config_history.jsonl``::

    {"step": 600, "time": "2025-...", "changes": {"lr": [0.001, 0.0005]},
     "fingerprint": ["3f0c...", "a81e..."]}

(``fingerprint`` is null when the program's fingerprint did not change; a key the new
config no longer has is listed under ``"removed"`` as well.) :func:`current_config`
replays the history over ``config.json``: the config the run continues with.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Mapping

from gendsl.errors import CheckpointError, ConfigChangedError
from gendsl.run.run_info import write_json
from gendsl.run.settings import RUN_MANAGEMENT_KEYS

CONFIG_FILE = "config.json"
HISTORY_FILE = "config_history.jsonl"


class _Absent:
    """The value of a key a config does not have."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()
"""Stands for a missing key in the ``(old, new)`` pairs of :func:`config_changes`."""


def as_json(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as ``config.json`` stores it (tuples as lists, non-JSON values as text).

    >>> as_json({"hidden": (64, 64), "lr": 1e-3})
    {'hidden': [64, 64], 'lr': 0.001}
    """
    return json.loads(json.dumps(dict(config), sort_keys=True, default=str))


def read_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The entries of ``run_dir/config_history.jsonl``, oldest first (``[]`` if none)."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    return [_json(path, line) for line in path.read_text().splitlines() if line.strip()]


def current_config(run_dir: str | Path) -> dict[str, Any] | None:
    """The config a run continues with: ``config.json`` with every recorded change applied.

    Args:
      run_dir: the run directory.
    Returns:
      The config as JSON values, or None when the run directory has no ``config.json``.
    Raises:
      CheckpointError: ``config.json`` or a history line is not valid JSON.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return None
    config = _json(path, path.read_text())
    for entry in read_history(run_dir):
        for key, (_, new) in entry.get("changes", {}).items():
            config[key] = new
        for key in entry.get("removed", []):
            config.pop(key, None)
    return config


def _json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise CheckpointError(
            f"{path} is not valid JSON ({error}); it records the run's config: repair it, "
            "or use another run directory.") from None


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any], *,
                   ignore: frozenset[str] = RUN_MANAGEMENT_KEYS) -> dict[str, tuple[Any, Any]]:
    """The keys whose values differ between two configs, compared as JSON values.

    Args:
      old: the run's config (JSON values, e.g. :func:`current_config`).
      new: the config of this invocation.
      ignore: keys that may change freely.
    Returns:
      ``{key: (old value, new value)}`` in key order; :data:`ABSENT` for a missing key.

    >>> config_changes({"lr": 0.1, "steps": 5, "h": [2]}, {"lr": 0.2, "steps": 9, "h": (2,)})
    {'lr': (0.1, 0.2)}
    """
    new = as_json(new)
    return {key: (old.get(key, ABSENT), new.get(key, ABSENT))
            for key in sorted(set(old) | set(new))
            if key not in ignore and old.get(key, ABSENT) != new.get(key, ABSENT)}


def write_config_once(run_dir: str | Path, config: Mapping[str, Any]) -> None:
    """Writes ``run_dir/config.json`` unless the run directory already has one."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        write_json(path, dict(config))


def record_changes(run_dir: str | Path, *, step: int, changes: Mapping[str, tuple[Any, Any]],
                   fingerprint: tuple[str, str] | None) -> dict[str, Any]:
    """Appends one line to ``run_dir/config_history.jsonl`` and returns its entry.

    Args:
      run_dir: the run directory.
      step: the step the run resumes from with the changes.
      changes: ``{key: (old, new)}`` (see :func:`config_changes`).
      fingerprint: ``(old, new)`` when the program's fingerprint changed, else None.
    """
    def value(v: Any) -> Any:
        return None if v is ABSENT else v

    entry: dict[str, Any] = {
        "step": step,
        "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "changes": {k: [value(old), value(new)] for k, (old, new) in changes.items()},
        "fingerprint": list(fingerprint) if fingerprint else None,
    }
    removed = [k for k, (_, new) in changes.items() if new is ABSENT]
    if removed:
        entry["removed"] = removed
    with (Path(run_dir) / HISTORY_FILE).open("a") as f:
        f.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
    return entry


def accepted_fingerprint_change(run_dir: str | Path, old: str | None, new: str) -> bool:
    """Whether the history records the change of fingerprint ``old -> new`` as accepted
    (a run that accepted it and stopped before its next checkpoint resumes without
    being asked again)."""
    return any(entry.get("fingerprint") == [old, new] for entry in read_history(run_dir))


def refuse_changes(run_dir: str | Path, changes: Mapping[str, tuple[Any, Any]]) -> None:
    """Raises the :class:`ConfigChangedError` listing ``changes``.

    Raises:
      ConfigChangedError: always.
    """
    lines = "\n".join(f"  {key}: {old!r} -> {new!r}" for key, (old, new) in changes.items())
    free = ", ".join(sorted(RUN_MANAGEMENT_KEYS))
    raise ConfigChangedError(
        f"The run in {run_dir} was made with another config; resuming it would change "
        f"{', '.join(changes)}:\n{lines}\nUse another --run-dir (run_dir=...) for this "
        "config, or pass --allow-changes (fit(..., allow_changes=True)) to resume with the "
        f"change recorded in {Path(run_dir) / HISTORY_FILE}. ({free} may change freely.)")
