"""A time bound on project code toolkit runs while compiling: rendering a template,
importing a model or step file, calling a Python step's function. A loop that never
ends (`{% for %}` inside `{% for %}` over 10^5 each, `while True:` at import) would
otherwise hang `toolkit compile` and every scheduled run behind it.

    with time_limit(RENDER_SECONDS):
        ...                                  # raises TimeLimitExceeded when it runs out

SIGALRM interrupts Python code between bytecodes, so this bounds what templates and
project code do in Python, not a C call that never returns. Only the main thread can
receive the signal; elsewhere (and where the platform has no setitimer) the block
runs unbounded.
"""

from __future__ import annotations

import contextlib
import signal
import threading

RENDER_SECONDS = 60.0  # one step's template (a real one renders in milliseconds)
PROJECT_CODE_SECONDS = 120.0  # importing a model or step file, or calling a step's function


class TimeLimitExceeded(BaseException):
    """A BaseException, so that project code's `except Exception:` cannot swallow it."""

    def __init__(self, seconds: float):
        super().__init__(f"still running after {seconds:g} s (a loop that never ends?)")
        self.seconds = seconds


@contextlib.contextmanager
def time_limit(seconds: float):
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    if signal.getitimer(signal.ITIMER_REAL)[0]:  # an outer limit is running: it bounds this block too
        yield
        return

    def expire(signum, frame):
        raise TimeLimitExceeded(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
