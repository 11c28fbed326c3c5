"""Ctrl-C reaches the warehouse.

Python runs its SIGINT handler (which raises KeyboardInterrupt) on the main thread,
between two bytecodes: a main thread waiting in a statement sees nothing until the
statement ends, hours later for a scan of a large source. DuckDB checks for signals
while it works, but not reliably (measured: a query over a view of a cross join ran on
after Ctrl-C); ADBC cancels a main-thread call with a SIGINT handler of its own and raises
the cancelled statement's error instead (see explains()). So while a command runs,
a watcher thread wakes on the signal itself (signal.set_wakeup_fd: the interpreter's
C-level handler writes to a pipe the moment the signal arrives) and interrupts the
statements of every engine open in the process (Engine.interrupt); the statement fails
on its own thread and Python's handler raises KeyboardInterrupt as always. Worker
threads are stopped by execute._Runner, which keeps interrupting until they are done,
or until it is plain they run Python code no interrupt reaches (a model's fit): then the
command ends without them (LeftRunning), as the process would after kill -9.
"""

from __future__ import annotations

import os
import signal
import threading
import weakref

_engines: weakref.WeakSet = weakref.WeakSet()
_lock = threading.Lock()
_installed = False
requested = threading.Event()  # Ctrl-C arrived: whatever fails from now on is its doing
left_running: list[str] = []  # steps whose worker thread Ctrl-C could not stop (LeftRunning)


class LeftRunning(KeyboardInterrupt):
    """Ctrl-C, and workers still running Python code after being interrupted for a while:
    a fit inside scikit-learn does not look at signals or at the warehouse. Waiting for
    them (leaving the thread pool, or Python joining its threads at exit) could take
    hours; the command ends without them instead, and their work ends with the process
    (nothing of theirs was published; the next run marks this one abandoned)."""

    def __init__(self, steps: list[str]):
        super().__init__(", ".join(steps))
        self.steps = steps
        left_running[:] = steps


def register(engine) -> None:
    """Interrupt `engine`'s statements on Ctrl-C while it lives."""
    with _lock:
        _engines.add(engine)


def install() -> None:
    """Start the watcher, once per process, from the main thread. Not where SIGINT is
    handled by someone else (ignored, or a handler of the host's) or the wakeup pipe is
    taken (an event loop's)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    read, write = os.pipe()
    os.set_blocking(write, False)  # the C-level handler must never block
    taken = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    if taken != -1:
        signal.set_wakeup_fd(taken)  # someone else's: give it back
        os.close(read)
        os.close(write)
        return
    _installed = True
    threading.Thread(target=_watch, args=(read,), name="toolkit-interrupts", daemon=True).start()


def _watch(read: int) -> None:
    while True:
        received = os.read(read, 64)
        if signal.SIGINT in received:
            requested.set()
            interrupt_all()


def interrupt_all() -> None:
    with _lock:
        engines = list(_engines)
    for engine in engines:
        engine.interrupt()


def is_ctrl_c(error: BaseException, grace: float = 0.5) -> bool:
    """Whether `error`, raised while toolkit called project code (a model function), is the
    user's Ctrl-C rather than the code's own `raise KeyboardInterrupt` (or sys.exit):
    a KeyboardInterrupt once the watcher saw SIGINT. Python raises it on the main thread
    only, and at once, while the watcher wakes on a thread of its own: the main thread
    gives it `grace` seconds to. A worker's KeyboardInterrupt is never the user's."""
    if not isinstance(error, KeyboardInterrupt):
        return False
    if requested.is_set():
        return True
    if not _installed or threading.current_thread() is not threading.main_thread():
        return False
    return requested.wait(grace)


def explains(error: BaseException) -> bool:
    """Whether `error` is a statement's report of Ctrl-C rather than a failure: anything
    raised once the watcher saw it, DuckDB's own answer to it on the main thread, and a
    PostgreSQL statement cancelled by request (ADBC cancels a main-thread call itself,
    with a SIGINT handler of its own, and raises that instead of KeyboardInterrupt)."""
    text = str(error)
    return requested.is_set() or (type(error) is RuntimeError and text == "Query interrupted") \
        or "canceling statement due to user request" in text
