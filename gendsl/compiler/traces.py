"""Counting how often a function is traced (compiled), as a wrapper around it.

``jax.jit(count_traces(fn))`` runs the wrapper's Python body once per trace, never per
call, so its counter is the number of traces (one per input shape, ideally); the
compiled program reports it as ``trace_count``. The counter lives in the wrapper, not
in the traced function's closure state (the idea of equinox's
``debug.assert_max_traces``, without the assertion).
"""

from __future__ import annotations

import functools
from typing import Any, Callable


class TraceCounter:
    """Wraps ``fn``; :attr:`count` is how many times the wrapper was called (traced).

    >>> import jax
    >>> f = TraceCounter(lambda x: x + 1)
    >>> g = jax.jit(f)
    >>> _ = g(1.0), g(2.0), g(jax.numpy.ones(3))
    >>> f.count
    2
    """

    def __init__(self, fn: Callable[..., Any]):
        functools.update_wrapper(self, fn)
        self.fn, self.count = fn, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        return self.fn(*args, **kwargs)
