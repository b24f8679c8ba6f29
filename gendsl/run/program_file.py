"""The program-file protocol: a Python file with ``DEFAULTS`` and ``build(cfg)``.

A program file (``programs/*.py``) defines

- ``DEFAULTS: dict``: its config keys and default values (the runner's standard keys,
  :data:`gendsl.run.STANDARD_DEFAULTS`, are always present and may be overridden here);
- ``build(cfg) -> Experiment``: builds the experiment from an immutable
  :class:`gendsl.run.Config`.

The file is imported from its path, with its own directory on ``sys.path`` while it
executes (as ``python FILE.py`` would), so it can import modules beside it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

from gendsl.errors import ConfigError
from gendsl.run.config import STANDARD_DEFAULTS, Config
from gendsl.run.experiment import Experiment
from gendsl.run.overrides import apply_overrides

_PROTOCOL = "a program file defines DEFAULTS = {...} and def build(cfg) -> gd.Experiment"


def load_program_file(path: str | Path) -> ModuleType:
    """Imports a program file from its path.

    Args:
      path: the ``.py`` file.

    Returns:
      the module.

    Raises:
      ConfigError: the file does not exist, is not a ``.py`` file, or lacks ``DEFAULTS``
        (a dict with string keys) or a callable ``build``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Program file {str(path)!r} does not exist; give the path of a .py file "
            f"({_PROTOCOL}), e.g. programs/gan_2d.py."
        )
    if path.suffix != ".py":
        raise ConfigError(f"Program file {str(path)!r} is not a .py file ({_PROTOCOL}).")
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    name = f"gendsl_program_{resolved.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(resolved.parent))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(str(resolved.parent))
    _check_protocol(module, path)
    return module


def _check_protocol(module: ModuleType, path: Path) -> None:
    defaults = getattr(module, "DEFAULTS", None)
    if defaults is None:
        raise ConfigError(f"Program file {str(path)!r} has no DEFAULTS dict; {_PROTOCOL}.")
    if not isinstance(defaults, Mapping) or not all(isinstance(k, str) for k in defaults):
        raise ConfigError(
            f"DEFAULTS in {str(path)!r} must be a dict with string keys, got "
            f"{type(defaults).__name__}; {_PROTOCOL}."
        )
    if not callable(getattr(module, "build", None)):
        raise ConfigError(f"Program file {str(path)!r} has no build(cfg) function; {_PROTOCOL}.")


def program_config(module: ModuleType, assignments: Iterable[str] = ()) -> Config:
    """The config of a program file: standard keys, its ``DEFAULTS``, then ``key=value``
    assignments (``--set``), each parsed to the type of the key's default.

    Raises:
      ConfigError: an assignment names an unknown key or has a value of the wrong type.
    """
    return apply_overrides({**STANDARD_DEFAULTS, **module.DEFAULTS}, assignments)


def build_experiment(module: ModuleType, cfg: Config) -> Experiment:
    """Calls the program file's ``build(cfg)`` and checks that it returns an Experiment.

    Raises:
      ConfigError: ``build`` returned something else.
    """
    experiment: Any = module.build(cfg)
    if not isinstance(experiment, Experiment):
        raise ConfigError(
            f"build(cfg) in {module.__file__!r} returned {type(experiment).__name__}; it "
            "must return gd.Experiment(program=..., source=...)."
        )
    return experiment
