"""How the process ends after Ctrl-C (toolkit/cli.py console_main, toolkit/__main__.py).

A tester saw one early Ctrl-C of a PostgreSQL run hang for good (1 in ~60): the main
thread ended with exit 130, and Python's shutdown then joined a worker thread waiting for
an import lock the interrupted main thread never released. After Ctrl-C the process now
ends without joining threads; a KeyboardInterrupt no handler caught (Ctrl-C while Python
imports) ends in "aborted", exit 130, not a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120, env=env)


def test_exit_130_does_not_wait_for_a_thread_that_never_ends():
    done = _run("""
        import sys, threading
        from toolkit import cli

        def command():
            threading.Thread(target=threading.Event().wait, name="stuck-on-an-import-lock").start()  # not a daemon
            sys.exit(130)

        cli.main = command
        cli.console_main()
    """)
    assert done.returncode == 130, done.stderr


def test_a_keyboard_interrupt_no_handler_caught_is_aborted_not_a_traceback():
    done = _run("""
        from toolkit import cli

        def command():
            raise KeyboardInterrupt

        cli.main = command
        cli.console_main()
    """)
    assert done.returncode == 130
    assert done.stderr.strip() == "aborted"
    assert "Traceback" not in done.stderr
