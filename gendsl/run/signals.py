"""Graceful stop on SIGTERM and SIGINT for the duration of a training run.

Inside :func:`stop_on_signals` a SIGTERM or SIGINT only records a stop request: the loop
finishes its current chunk, saves a checkpoint and stops. Further signals are counted
and change nothing (a second Ctrl-C, or a second SIGTERM 50 ms after the first, no longer
raises ``KeyboardInterrupt`` in the middle of the save: the run still saves, writes its
summary and exits with one message; use SIGKILL to stop at once, which Orbax's atomic
saves survive). Inside :meth:`StopRequest.interrupting` (the final evaluation and plot,
which the loop cannot cut into chunks) the first signal instead raises
:class:`StopNow` at once. The previous handlers are restored on exit. Handlers can
only be installed from the main thread; elsewhere the context does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator, Sequence


class StopNow(BaseException):
    """Raised by the signal handler inside :meth:`StopRequest.interrupting`.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` in
    user code (an evaluation, a plot) does not swallow it; the runner turns it into
    :class:`~gendsl.errors.TrainingInterrupted`.
    """


class StopRequest:
    """The signal that asked a run to stop (``None`` while none has), and how many
    arrived.

    It is the one mutable object shared between a signal handler and the loop, created
    per call of :func:`stop_on_signals`.
    """

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self.count = 0
        self._interruptible = False

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.signal_number is not None

    @property
    def signal_name(self) -> str:
        """The name of the signal (``"SIGTERM"``), or ``""`` if none arrived."""
        return signal.Signals(self.signal_number).name if self.requested else ""

    def record(self, signal_number: int) -> None:
        """What the handler does: notes the (first) signal; inside
        :meth:`interrupting`, raises :class:`StopNow` (once)."""
        self.count += 1
        if self.signal_number is None:
            self.signal_number = signal_number
        if self._interruptible:
            self._interruptible = False
            raise StopNow(self.signal_name)

    def adopt(self, signal_number: int) -> None:
        """Takes over a stop that another process of a multi-process run received, so
        that every process stops at the same step (counts no signal here)."""
        if self.signal_number is None:
            self.signal_number = signal_number

    @contextlib.contextmanager
    def interrupting(self) -> Iterator[None]:
        """A block that a signal stops at once by raising :class:`StopNow` in it (also on
        entry, if a stop was already requested).

        >>> request = StopRequest()
        >>> with request.interrupting():
        ...     request.record(signal.SIGTERM)
        Traceback (most recent call last):
        ...
        gendsl.run.signals.StopNow: SIGTERM
        """
        self._interruptible = True  # before the check: a signal in between raises too
        try:
            if self.requested:
                self._interruptible = False
                raise StopNow(self.signal_name)
            yield
        finally:
            self._interruptible = False


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
    ...     os.kill(os.getpid(), signal.SIGINT)
    >>> stop.signal_name, stop.count
    ('SIGTERM', 2)
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signal_number, frame):
        request.record(signal_number)

    previous = {s: signal.getsignal(s) for s in signals}
    for s in signals:
        signal.signal(s, handle)
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
