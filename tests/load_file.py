"""Importing a script that is not in a package (a benchmark, a claim module, a tool) by path."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_module(path, name=None):
    """Import the Python file ``path`` (absolute, or relative to the repository root).

    Args:
      path: the file, e.g. ``"benchmarks/geometry.py"``.
      name: the module's name (default: the file's stem).

    Returns:
      The executed module.
    """
    path = ROOT / path
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
