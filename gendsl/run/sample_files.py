"""``samples/step_XXXXXX.png``: the sample picture of each evaluation, kept over time."""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"step_(\d+)\.png")


def sample_path(run_dir: str | Path, step: int) -> Path:
    """The picture of the evaluation at ``step`` (six digits, zero padded).

    >>> sample_path("runs/gan", 500).as_posix()
    'runs/gan/samples/step_000500.png'
    """
    return Path(run_dir) / "samples" / f"step_{step:06d}.png"


def keep_samples_until(run_dir: str | Path, step: int) -> None:
    """Deletes the pictures of steps after ``step`` (drawn by a run that stopped after
    its last checkpoint; the resumed run draws its own), as ``metrics.jsonl`` drops
    their records."""
    directory = Path(run_dir) / "samples"
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        match = _NAME.fullmatch(path.name)
        if match and int(match.group(1)) > step:
            path.unlink()
