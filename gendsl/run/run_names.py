"""The default run directory of a program file: ``runs/<stem>``, or
``runs/<stem>/<key=value,...>`` when the config differs from the program's defaults.

Only keys that are part of a run's identity name the directory: the keys of
:data:`~gendsl.run.settings.RUN_MANAGEMENT_KEYS` (``steps``, ``checkpoint_every``, ...)
do not, so ``--steps 8000`` resumes the run that ``--steps 6000`` started, while
``--set data=grid25`` or ``--seed 1`` train in a directory of their own. The name is
built from the parsed values, so ``lr=3e-4`` and ``lr=0.0003`` name the same run.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Mapping

from gendsl.run.settings import RUN_MANAGEMENT_KEYS

RUNS = Path("runs")
_MAX_NAME = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._,=+-]")


def identity_changes(cfg: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``cfg`` whose value differs from ``defaults`` and that are part of a
    run's identity, sorted by name.

    >>> identity_changes({"lr": 0.1, "steps": 5, "seed": 1}, {"lr": 0.2, "steps": 9, "seed": 0})
    {'lr': 0.1, 'seed': 1}
    """
    return {k: cfg[k] for k in sorted(cfg)
            if k not in RUN_MANAGEMENT_KEYS and (k not in defaults or cfg[k] != defaults[k])}


def value_text(value: Any) -> str:
    """A config value as short text: ``true``/``false``, comma lists, compact JSON.

    >>> value_text(True), value_text((64, 64)), value_text(3e-4), value_text(None)
    ('true', '64,64', '0.0003', 'none')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def run_name(changes: Mapping[str, Any]) -> str:
    """``key=value,key=value`` with characters unsafe in a file name replaced by ``_``;
    a name longer than 100 characters is cut and ends with a hash of the whole.

    >>> run_name({"data": "grid25", "hidden": (8, 8)})
    'data=grid25,hidden=8,8'
    >>> run_name({"name": "a b/c"})
    'name=a_b_c'
    """
    name = _UNSAFE.sub("_", ",".join(f"{k}={value_text(v)}" for k, v in changes.items()))
    if len(name) > _MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[:_MAX_NAME - 11]}-{digest}"
    return name


def default_run_dir(program: str | Path, cfg: Mapping[str, Any],
                    defaults: Mapping[str, Any]) -> Path:
    """The run directory ``gendsl run`` uses when ``--run-dir`` is not given.

    Args:
      program: the program file.
      cfg: the run's config (defaults with the overrides applied).
      defaults: the program's config without overrides.

    Returns:
      ``runs/<stem>`` when ``cfg`` differs from ``defaults`` in no identity key, else
      ``runs/<stem>/<run_name(changes)>``.

    >>> str(default_run_dir("programs/gan.py", {"data": "grid25", "steps": 9},
    ...                     {"data": "ring8", "steps": 5}))
    'runs/gan/data=grid25'
    """
    base = RUNS / Path(program).stem
    changes = identity_changes(cfg, defaults)
    return base / run_name(changes) if changes else base
