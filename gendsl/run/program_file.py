"""The program-file protocol: a Python file with ``DEFAULTS`` and ``build(cfg)``.

A program file (``programs/*.py``) defines

- ``DEFAULTS: dict``: its config keys and default values (the runner's standard keys,
  :data:`gendsl.run.STANDARD_DEFAULTS`, are always present and may be overridden here);
- ``build(cfg) -> Experiment``: builds the experiment from an immutable
  :class:`gendsl.run.Config`.

The file is imported from its path, with its own directory on ``sys.path`` while it
executes (as ``python FILE.py`` would), so it can import modules beside it.

An exception raised by the file's own code (a syntax error, a ``NameError`` at import, a
bad ``DEFAULTS`` expression, an exception in ``build``) becomes a
:class:`~gendsl.errors.ProgramFileError` whose one-line message names the file, the line
of the user's code and the exception, e.g. ``my_program.py:12 in build: NameError:
name 'nn' is not defined``; the original is chained. A gendsl error raised from inside
``build`` (a ``DataError`` of a bad data file, say) keeps its class and gets a note
naming that line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

from gendsl.errors import ConfigError, GendslError, ProgramFileError
from gendsl.run.config import STANDARD_DEFAULTS, Config
from gendsl.run.experiment import Experiment
from gendsl.run.overrides import apply_overrides
from gendsl.run.settings import LoopSettings

_PROTOCOL = "a program file defines DEFAULTS = {...} and def build(cfg) -> gd.Experiment"


def load_program_file(path: str | Path) -> ModuleType:
    """Imports a program file from its path.

    Args:
      path: the ``.py`` file.

    Returns:
      the module.

    Raises:
      ConfigError: the file does not exist, is a directory, is not a ``.py`` file, or
        lacks ``DEFAULTS`` (a dict with string keys) or a callable ``build``.
      ProgramFileError: executing the file raised an exception (its message names the
        file and line).
    """
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.py"))[:3]
        hint = f" (it holds {', '.join(inside)}, ...)" if inside else ""
        raise ConfigError(
            f"Program file {str(path)!r} is a directory{hint}; give the path of a .py file "
            f"in it ({_PROTOCOL}), e.g. programs/gan_mog.py."
        )
    if not path.is_file():
        raise ConfigError(
            f"Program file {str(path)!r} does not exist; give the path of a .py file "
            f"({_PROTOCOL}), e.g. programs/gan_mog.py."
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
    except Exception as error:
        del sys.modules[name]
        if isinstance(error, GendslError):
            _note_origin(error, resolved)
            raise
        raise _program_file_error(error, resolved, "while importing it") from error
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(str(resolved.parent))
    _check_protocol(module, path)
    return module


def _display(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies below it, else absolute."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def _user_frame(error: BaseException, resolved: Path) -> tuple[int | None, str]:
    """The line and function of the last traceback frame of ``error`` in the program
    file (for a syntax error in it: the error's own line)."""
    if isinstance(error, SyntaxError) and error.filename and Path(error.filename) == resolved:
        return error.lineno, ""
    line, function = None, ""
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename and Path(frame.filename) == resolved:
            line, function = frame.lineno, frame.name
    return line, function


def _where(resolved: Path, line: int | None, function: str) -> str:
    where = f"{_display(resolved)}:{line}" if line is not None else _display(resolved)
    return f"{where} in {function}" if function and function != "<module>" else where


def _first_line(error: BaseException, resolved: Path) -> str:
    """``Type: first line of the message`` (a syntax error in another file: with its
    file and line)."""
    if isinstance(error, SyntaxError):  # its str() repeats the file and line
        text = error.msg or ""
        if error.filename and Path(error.filename) != resolved:
            text += f" ({_display(error.filename)}:{error.lineno})"
    else:
        text = str(error)
    lines = [t.strip() for t in text.splitlines() if t.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _program_file_error(error: Exception, resolved: Path, when: str) -> ProgramFileError:
    line, function = _user_frame(error, resolved)
    return ProgramFileError(
        f"{_where(resolved, line, function)}: {_first_line(error, resolved)} (raised {when}; "
        "fix the program file, or set GENDSL_TRACEBACK=1 to see the full traceback)",
        path=_display(resolved), line=line)


def _note_origin(error: GendslError, resolved: Path) -> None:
    """Adds a note naming the program file line a gendsl error was raised from."""
    line, function = _user_frame(error, resolved)
    if line is not None:
        error.add_note(f"(raised from {_where(resolved, line, function)})")


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


def check_loop_settings(module: ModuleType, cfg: Config,
                        origins: Mapping[str, str] | None = None) -> None:
    """Checks the loop settings of ``cfg`` (before ``build`` runs), naming where a bad
    value came from: ``origins[key]`` (e.g. ``"--steps -5"``, ``"--set steps=-5"``), else
    the file's ``DEFAULTS``.

    Raises:
      ConfigError: a loop setting is invalid (``--steps -5: steps must be an integer >= 0.``).
    """
    for name in LoopSettings.names():
        value = cfg.get(name)
        if name == "steps" and value is None:  # a staged program's default: its budget
            continue
        problem = LoopSettings.problem(name, value)
        if problem:
            origin = (origins or {}).get(name) or (
                f"DEFAULTS[{name!r}] = {value!r} in {_display(module.__file__)}")
            raise ConfigError(f"{origin}: {name} {problem}.")


def build_experiment(module: ModuleType, cfg: Config) -> Experiment:
    """Calls the program file's ``build(cfg)`` and checks that it returns an Experiment.

    Raises:
      ConfigError: ``build`` returned something else.
      ProgramFileError: ``build`` raised an exception that is not a gendsl error (its
        message names the file and line); gendsl errors keep their class, with a note
        naming the line of the program file they came from.
    """
    resolved = Path(module.__file__)
    try:
        experiment: Any = module.build(cfg)
    except GendslError as error:
        _note_origin(error, resolved)
        raise
    except Exception as error:
        raise _program_file_error(error, resolved, "by build(cfg)") from error
    if not isinstance(experiment, Experiment):
        raise ConfigError(
            f"build(cfg) in {module.__file__!r} returned {type(experiment).__name__}; it "
            "must return gd.Experiment(program=..., source=...)."
        )
    return experiment
