"""What the claim modules of benchmarks/claims/ share: training a bundled program for its
evaluation, and the command line that runs one claim alone.

A claim module imports it as ``from claim_kit import ...``: benchmarks/reproduce.py puts
``benchmarks/`` on ``sys.path`` before it loads a claim, and :func:`main` does the same
when a claim runs as a script.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "programs"


def run_program(name: str, overrides: Sequence[str]) -> dict:
    """Trains ``programs/<name>.py`` with ``overrides`` in a temporary run directory.

    Args:
      name: the program's file stem.
      overrides: ``key=value`` settings (checkpoints are turned off).

    Returns:
      The evaluation's metrics as floats, without their ``eval/`` prefix.
    """
    import gendsl as gd

    with tempfile.TemporaryDirectory() as tmp:
        result = gd.run_program_file(PROGRAMS / f"{name}.py",
                                     [*overrides, "checkpoint_every=100000"],
                                     Path(tmp) / name, progress=False)
    return {k[len("eval/"):]: float(v) for k, v in result.metrics.items()
            if k.startswith("eval/")}


def main(run: Callable[[bool, Path], dict], doc: str,
         argv: Sequence[str] | None = None) -> dict:
    """``python benchmarks/claims/NAME.py [--full] [--figures DIR] [--out FILE]``.

    Args:
      run: the claim's ``run(quick, figures)``.
      doc: the claim module's docstring (its first paragraph is the help text).
      argv: the arguments (default ``sys.argv[1:]``).

    Returns:
      The claim's result, also printed as JSON (and written to ``--out``).
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the paper-scale budget")
    parser.add_argument("--figures", default=str(ROOT / "docs" / "figures"))
    parser.add_argument("--out", default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    result = run(not args.full, Path(args.figures))
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return result
