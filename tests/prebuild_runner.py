"""`python -P tests/prebuild_runner.py [--no-ahead] ARGS...`: toolkit's command line (`python -m
toolkit ARGS`) with building ahead (toolkit/prebuild.py) observed, for tests/test_prebuild.py.
The building thread is given the time to build all it was offered before the run starts
(Ahead.finish otherwise stops it wherever it is), and the steps whose table the run took from
it are printed last on stderr as `taken: a,b,...`, after those built ahead (`built: ...`). --no-ahead: nothing is built ahead."""

import sys

from toolkit import prebuild

taken: list[str] = []
built: set[str] = set()
finish, adopt = prebuild.Ahead.finish, prebuild.Ahead.adopt


def finish_after_all(self):
    if self._thread is not None:
        self._thread.join(timeout=120)  # compiled() was said: it ends once all offered is built
    finish(self)
    built.update(self._built)


def counting_adopt(self, engine, name, physical, query):
    rows = adopt(self, engine, name, physical, query)
    if rows is not None:
        taken.append(name)
    return rows


prebuild.Ahead.finish = finish_after_all
prebuild.Ahead.adopt = counting_adopt
if sys.argv[1:2] == ["--no-ahead"]:
    del sys.argv[1]
    prebuild.Ahead.offer = lambda self, step, steps, project: None
from toolkit.cli import console_main  # noqa: E402

sys.argv[0] = "toolkit"
try:
    console_main()
finally:  # before the exit: toolkit's own ends the process at once (cli.console_main)
    print(f"built: {','.join(sorted(built))}\ntaken: {','.join(sorted(taken))}", file=sys.stderr, flush=True)
