"""One run at a time per run directory: an advisory lock on ``run_dir/lock``.

``fit`` takes the lock before it touches the run directory and holds it until it
returns. A second ``gendsl run`` on the same directory is refused at once with
:class:`~gendsl.errors.RunDirLockedError`, naming the holder (pid, host, since). The
lock is ``fcntl.flock`` on the file, which the kernel releases when its holder dies, even
by ``kill -9``: a lock file left by a dead process is therefore stale, and the next run
takes it over (and says so). The file is never deleted, so two processes can never hold
locks on two different files of that name. Written by hand: the standard library's
``fcntl`` is all it needs, and lock libraries (filelock, portalocker) do not report the
holder.

``flock`` is local to one machine's kernel; on a network file system shared by several
hosts it may not exclude a process on another host (see docs/running.md).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from gendsl.errors import RunDirLockedError

logger = logging.getLogger("gendsl.run")

LOCK_FILE = "lock"


class RunDirLock:
    """The lock of one run directory; use it as a context manager.

    Args:
      run_dir: the run directory (it must exist).

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with RunDirLock(d) as lock:
    ...     lock.holder()["pid"] == os.getpid()
    True
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def holder(self) -> dict[str, Any]:
        """What the lock file says of its holder (``{}`` if nothing readable)."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self) -> "RunDirLock":
        """Takes the lock.

        Raises:
          RunDirLockedError: a live process holds it.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            h = self.holder()
            raise RunDirLockedError(
                f"{self.path.parent} is in use by another run (pid {h.get('pid', '?')} on "
                f"{h.get('host', '?')}, since {h.get('since', '?')}). Wait for it to "
                "finish or stop it, or use another --run-dir (run_dir=...).") from None
        previous = self.holder()
        if previous.get("pid") is not None:
            logger.info("taking over the lock of %s left by pid %s on %s (since %s), which "
                        "no longer runs", self.path.parent, previous.get("pid"),
                        previous.get("host"), previous.get("since"))
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Releases the lock (the file stays, emptied)."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunDirLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def is_locked(run_dir: str | Path) -> bool:
    """Whether a live process holds the lock of ``run_dir``, found without taking it
    and without writing anything.

    A holder records itself in the lock file and empties it on release, so an empty or
    missing file means no holder. A recorded holder on this host is alive if its pid
    is; on another host (where pids mean nothing here) a shared ``flock`` is tried on a
    read-only descriptor and released at once: it fails only while the holder's
    exclusive lock is held.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with RunDirLock(d):
    ...     is_locked(d)
    True
    >>> is_locked(d)
    False
    """
    lock = RunDirLock(run_dir)
    holder = lock.holder()
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return False
    if holder.get("host") == socket.gethostname():
        return _alive(pid)
    try:
        fd = os.open(lock.path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a shared lock taken above
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
