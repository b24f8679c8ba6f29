"""Graceful stop on SIGTERM and SIGINT for the duration of a training loop.

Inside :func:`stop_on_signals` the first SIGTERM or SIGINT only records a stop request;
the loop finishes its current chunk, saves a checkpoint and stops. A second signal raises
``KeyboardInterrupt`` at once (for a user who does not want to wait for the save; Orbax
writes checkpoints atomically, so an interrupted save never corrupts older ones). The
previous handlers are restored on exit. Handlers can only be installed from the main
thread; elsewhere the context does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator, Sequence


class StopRequest:
    """The signal that asked a loop to stop (``None`` while none has).

    It is the one mutable object shared between a signal handler and the loop, created
    per call of :func:`stop_on_signals`.
    """

    def __init__(self) -> None:
        self.signal_number: int | None = None

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.signal_number is not None

    @property
    def signal_name(self) -> str:
        """The name of the signal (``"SIGTERM"``), or ``""`` if none arrived."""
        return signal.Signals(self.signal_number).name if self.requested else ""


@contextlib.contextmanager
def stop_on_signals(
    signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
) -> Iterator[StopRequest]:
    """Turns ``signals`` into a stop request while the context is active.

    Args:
      signals: the signals to handle.

    Yields:
      the :class:`StopRequest` the handlers fill in.

    >>> import os, signal
    >>> with stop_on_signals() as stop:
    ...     os.kill(os.getpid(), signal.SIGTERM)
    >>> stop.signal_name
    'SIGTERM'
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signal_number, frame):
        if request.requested:
            raise KeyboardInterrupt
        request.signal_number = signal_number

    previous = {s: signal.getsignal(s) for s in signals}
    for s in signals:
        signal.signal(s, handle)
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
