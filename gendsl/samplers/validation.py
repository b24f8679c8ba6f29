"""Checks of sampler spec fields: every bad value raises a SamplerError that names the
sampler, the field and the fix."""

from __future__ import annotations

import math
import numbers

from gendsl.errors import SamplerError


def positive_int(sampler: str, field: str, value) -> int:
    """Returns ``value`` as an int if it is an integer >= 1; raises SamplerError otherwise.

    >>> positive_int("mh_gan", "steps", 640)
    640
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SamplerError(f"{sampler}: {field}={value!r}; it must be an integer >= 1")
    return int(value)


def positive_float(sampler: str, field: str, value) -> float:
    """Returns ``value`` as a float if it is finite and > 0; raises SamplerError otherwise.

    >>> positive_float("rep_gan", "tau", 0.01)
    0.01
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value <= 0):
        raise SamplerError(f"{sampler}: {field}={value!r}; it must be a finite number > 0")
    return float(value)
