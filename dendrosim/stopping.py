"""Ctrl-C and SIGTERM stop a run between blocks, never inside one.

Python runs a signal handler between two bytecodes of whatever code is current. When that is a
weakref or ``__del__`` callback (h5py closes its objects through them), an exception the handler
raises is printed as "Exception ignored" and dropped: the run went on to its end, exit 0, as if
no one had asked it to stop. So the handlers installed by :func:`signals_stop_runs` always
*record* the request, and raise at once only outside a run loop (while a config is read or a
kernel compiles). Inside :func:`deferred` the loops call :func:`check` after each block and the
request is raised there, where the file is in a consistent state.

Depends on nothing of dendrosim, so engine, learners and CLI can all import it.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (status ``interrupted``) but exiting with 143."""


_pending: KeyboardInterrupt | None = None
_deferring = 0


def _request(exc: KeyboardInterrupt) -> None:
    global _pending
    _pending = exc
    if not _deferring:
        _pending = None
        raise exc


def _on_sigint(signum, frame):
    _request(KeyboardInterrupt())


def _on_sigterm(signum, frame):
    _request(Terminated())


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def check() -> None:
    """Raise a stop requested since the last check (call between blocks of a run loop).

    Signals reach the main thread only: in any other thread this does nothing."""
    global _pending
    if _pending is not None and _in_main_thread():
        exc, _pending = _pending, None
        raise exc


@contextmanager
def deferred():
    """Inside: a signal is only recorded; :func:`check` raises it. Nests; only the main
    thread's loops defer (a run in a worker thread is stopped by whoever owns the thread)."""
    global _deferring
    if not _in_main_thread():
        yield
        return
    check()
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1


@contextmanager
def signals_stop_runs():
    """SIGINT and SIGTERM handled as above while inside (main thread only); restored after."""
    global _pending
    _pending = None
    previous = {s: signal.signal(s, h) for s, h in ((signal.SIGINT, _on_sigint), (signal.SIGTERM, _on_sigterm))
                if signal.getsignal(s) is not signal.SIG_IGN or s == signal.SIGTERM}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _pending = None
