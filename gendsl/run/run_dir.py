"""Checking a run directory before anything is written to it.

``fit`` calls :func:`prepare_run_dir` first (and ``gendsl run`` calls
:func:`check_run_dir` before it even builds the program): a path that is a file, a run directory (or
one of the runner's files in it) that cannot be written, or a new directory whose parent
cannot be written is refused with :class:`~gendsl.errors.RunDirError`, naming the path
and the fix, instead of failing half-way with an ``OSError`` from deep inside Orbax.
"""

from __future__ import annotations

import os
from pathlib import Path

from gendsl.errors import RunDirError

_FIX = "give another --run-dir (run_dir=...)"
_RUNNER_FILES = ("checkpoints", "config.json", "lock", "metrics.jsonl", "summary.json",
                 "samples.png")


def _writable(path: Path) -> bool:
    mode = os.W_OK | os.X_OK if path.is_dir() else os.W_OK
    return os.access(path, mode)


def check_run_dir(run_dir: str | Path) -> Path:
    """Checks, without writing anything, that ``run_dir`` can be used as a run directory
    (the command line does so before it builds and compiles the program).

    Args:
      run_dir: the run directory; it need not exist.

    Returns:
      ``run_dir`` as a ``Path``.

    Raises:
      RunDirError: ``run_dir`` (or a parent of it) is a file, ``run_dir`` or a runner
        file in it cannot be written, or it cannot be created (its parent is read-only).
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"The run directory {str(run_dir)!r} is a file, not a directory; "
                          f"{_FIX}.")
    if run_dir.is_dir():
        for path in (run_dir, *(run_dir / name for name in _RUNNER_FILES)):
            if path.exists() and not _writable(path):
                what = "it" if path == run_dir else f"{str(path)!r} in it"
                raise RunDirError(
                    f"The run directory {str(run_dir)!r} cannot be used: {what} is read-only. "
                    f"Make it writable (chmod -R u+w {run_dir}) or {_FIX}.")
        return run_dir
    parent = run_dir.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(f"The run directory {str(run_dir)!r} cannot be created: "
                          f"{str(parent)!r} is a file; {_FIX}.")
    if not _writable(parent):
        raise RunDirError(f"The run directory {str(run_dir)!r} cannot be created: its parent "
                          f"{str(parent)!r} is read-only. Make that writable or {_FIX}.")
    return run_dir


def prepare_run_dir(run_dir: str | Path) -> Path:
    """Checks ``run_dir`` (:func:`check_run_dir`) and creates it if missing.

    Args:
      run_dir: the run directory.

    Returns:
      ``run_dir`` as a ``Path``.

    Raises:
      RunDirError: as :func:`check_run_dir`, or creating it failed.

    >>> import tempfile
    >>> prepare_run_dir(Path(tempfile.mkdtemp()) / "runs" / "a").is_dir()
    True
    """
    run_dir = check_run_dir(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunDirError(f"The run directory {str(run_dir)!r} cannot be created "
                          f"({error.strerror or error}); {_FIX}.") from error
    return run_dir
