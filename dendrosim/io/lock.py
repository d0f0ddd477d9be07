"""One writer per output file: an OS-level lock beside the file, held for the writer's life.

HDF5 drops its own file lock once SWMR writing starts, so it cannot keep a second run
from truncating a live file. :class:`WriterLock` takes ``fcntl.flock`` on the sidecar
``FILE.lock`` (which holds the writer's pid) before the file is created or reopened and
releases it when the writer closes. The kernel drops the lock when the process dies, so a
killed run leaves no stale lock (the sidecar file may stay; it is reused). Readers never
take the lock; :func:`holder` tells them whether a writer is alive.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path


class FileLockedError(OSError):
    """Another process is writing this file."""


def lock_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _read_pid(fd) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode("ascii", "replace").strip()
        return text if text.isdigit() else "unknown"
    except OSError:
        return "unknown"


def holder(path) -> str | None:
    """The pid (as text) of the process holding the writer lock on ``path``, or None."""
    lp = lock_path(path)
    try:
        fd = os.open(lp, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return _read_pid(fd)
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class WriterLock:
    """Exclusive writer lock on ``path`` (sidecar ``path.lock``); :meth:`acquire` or ``with``."""

    def __init__(self, path):
        self.path = Path(path)
        self.lock_path = lock_path(self.path)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.3) -> WriterLock:
        """Take the lock or raise :class:`FileLockedError` naming the holder's pid.

        ``wait``: seconds to retry (a reader's probe holds the lock for microseconds).
        """
        if self._fd is not None:
            return self
        deadline = time.monotonic() + wait
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                pid = _read_pid(fd)
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise FileLockedError(
                        f"{self.path} is being written by another dendrosim process "
                        f"(pid {pid}); wait for it to finish or choose another output file") from None
                time.sleep(0.05)
                continue
            try:                 # the sidecar may have been removed and recreated meanwhile
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino:
                os.unlink(self.lock_path)
        except OSError:
            pass
        os.close(fd)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
