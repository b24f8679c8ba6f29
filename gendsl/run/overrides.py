"""``--set key=value``: command-line overrides parsed to the type of each key's default.

Types: ``bool`` (true/false, 1/0, yes/no, on/off), ``int`` (``1000``, ``1_000``,
``1e3``), ``float``, ``str``, ``tuple``/``list`` (JSON ``[1, 2]`` or a comma list
``1,2``, items parsed like the default's first item), ``dict`` (JSON), and for a default
of ``None`` JSON if it parses, else the text.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from gendsl.errors import ConfigError
from gendsl.run.config import Config, unknown_key_message

_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f"}


def _bad(key: str, text: str, expected: str) -> ConfigError:
    return ConfigError(f"--set {key}={text}: expected {expected}.")


def parse_value(key: str, text: str, default: Any) -> Any:
    """Parses ``text`` to the type of ``default``.

    Args:
      key: the key (for error messages).
      text: the text after ``=``.
      default: the key's default value, whose type decides the parse.

    Returns:
      the parsed value.

    Raises:
      ConfigError: ``text`` is not a valid value of that type.

    >>> parse_value("n", "1e3", 10), parse_value("on", "yes", False), parse_value("h", "8,16", (1,))
    (1000, True, (8, 16))
    """
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _bad(key, text, "a boolean (true/false, 1/0, yes/no, on/off)")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise _bad(key, text, "an integer, e.g. 1000 or 1e3") from None
        if not number.is_integer():
            raise _bad(key, text, "an integer, e.g. 1000 or 1e3")
        return int(number)
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise _bad(key, text, "a number, e.g. 0.001 or 1e-3") from None
    if isinstance(default, str):
        return text
    if isinstance(default, (tuple, list)):
        return _parse_sequence(key, text, default)
    if isinstance(default, dict):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise _bad(key, text, 'a JSON object, e.g. {"a": 1}')
        return value
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_sequence(key: str, text: str, default: tuple | list) -> tuple | list:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError:
            raise _bad(key, text, "a JSON list, e.g. [1, 2], or a comma list, e.g. 1,2") from None
        if not isinstance(items, list):
            raise _bad(key, text, "a list")
        parts = [i if isinstance(i, str) else json.dumps(i) for i in items]
    else:
        parts = [p.strip() for p in stripped.split(",") if p.strip()] if stripped else []
    item_default = default[0] if default else None
    parsed = []
    for part in parts:
        try:
            parsed.append(parse_value(key, part, item_default))
        except ConfigError:
            kind = type(item_default).__name__
            raise _bad(key, text, f"a list of {kind} items, but {part!r} is not one") from None
    return type(default)(parsed)


def split_assignment(assignment: str) -> tuple[str, str]:
    """``"key=value"`` -> ``("key", "value")``.

    Raises:
      ConfigError: there is no ``=`` or no key.
    """
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment!r}: expected key=value, e.g. --set lr=0.001.")
    return key.strip(), text


def apply_overrides(defaults: Mapping[str, Any], assignments: Iterable[str]) -> Config:
    """A config from ``defaults`` with ``key=value`` assignments applied in order.

    Raises:
      ConfigError: an assignment is malformed, names an unknown key (the message lists
        the valid ones) or has a value of the wrong type.

    >>> apply_overrides({"lr": 0.1, "steps": 5}, ["lr=3e-4"]).lr
    0.0003
    """
    values = dict(defaults)
    for assignment in assignments:
        key, text = split_assignment(assignment)
        if key not in values:
            raise ConfigError(f"--set {assignment}: " + unknown_key_message(key, values))
        values[key] = parse_value(key, text, defaults[key])
    return Config(values)
