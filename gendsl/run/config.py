"""``Config``: the immutable configuration a program file's ``build(cfg)`` receives.

A config is a read-only mapping with attribute access (``cfg.steps``), made from the
runner's standard keys, the program file's ``DEFAULTS`` and the command line's overrides.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Iterator, Mapping

from gendsl.errors import ConfigError
from gendsl.run.settings import default_settings

STANDARD_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"steps": 10_000, "batch_size": 256, **default_settings()}
)
"""The keys every config has, with the values used when a program does not set them:
``steps``, ``batch_size`` and every :class:`~gendsl.run.settings.LoopSettings` field."""


class UnknownConfigKeyError(ConfigError, AttributeError):
    """A config key that does not exist was read or set."""


class Config(Mapping[str, Any]):
    """An immutable configuration: a mapping with attribute access and ``replace``.

    Args:
      values: the keys and their values.

    >>> cfg = Config({"steps": 10, "lr": 0.1})
    >>> cfg.steps, cfg["lr"], cfg.replace(lr=0.2).lr, cfg.lr
    (10, 0.1, 0.2, 0.1)
    >>> cfg.lrr  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    gendsl.run.config.UnknownConfigKeyError: Unknown config key 'lrr'; valid keys: lr, steps.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]):
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise UnknownConfigKeyError(unknown_key_message(name, self._values)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Config is immutable: use cfg.replace({name}=...) instead.")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._values.items())))

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Config({items})"

    def replace(self, **changes: Any) -> "Config":
        """A copy with some values changed; every key must already exist."""
        for name in changes:
            if name not in self._values:
                raise UnknownConfigKeyError(unknown_key_message(name, self._values))
        return Config({**self._values, **changes})

    def to_dict(self) -> dict[str, Any]:
        """The keys and values as a plain ``dict``."""
        return dict(self._values)


def unknown_key_message(name: str, valid: Mapping[str, Any]) -> str:
    """The message for an unknown key ``name``, listing the valid ones."""
    return f"Unknown config key {name!r}; valid keys: {', '.join(sorted(valid))}."
