"""Project code that never ends is stopped: a template loop, a model file's import and
a Python step's function each fail with the file (and line) after a time limit,
however the code catches exceptions (toolkit/limits.py)."""

from __future__ import annotations

import threading
import time

import pytest

from _projects import make_project
from toolkit import limits
from toolkit.compiler import compile_project
from toolkit.errors import ProjectError

ENDLESS_TEMPLATE = """\
select 1 as x
{% for i in range(99999) %}{% for j in range(99999) %}{% for k in range(99999) %}{% endfor %}{% endfor %}{% endfor %}
"""

ENDLESS_MODEL = """\
from toolkit import model

while True:
    try:
        pass
    except Exception:
        pass
"""

ENDLESS_STEP = """\
from toolkit import feature


@feature()
def spin(ref):
    t = ref("base")
    while True:
        try:
            t = t.mutate(y=t.x + 1)
        except Exception:
            pass
"""


@pytest.fixture
def short(monkeypatch):
    monkeypatch.setattr(limits, "RENDER_SECONDS", 0.5)
    monkeypatch.setattr(limits, "PROJECT_CODE_SECONDS", 0.5)


def compile_error(root) -> ProjectError:
    started = time.monotonic()
    with pytest.raises(ProjectError) as raised:
        compile_project(root)
    assert time.monotonic() - started < 60  # bounded, not a hang (the limit is 0.5 s)
    return raised.value


def test_an_endless_template_loop_is_stopped(tmp_path, short):
    root = make_project(tmp_path / "p", {"features/base.sql": ENDLESS_TEMPLATE})
    error = compile_error(root)
    assert str(error.file).endswith("base.sql"), error.file
    assert "still running after 0.5 s" in error.message


def test_an_endless_model_import_is_stopped_at_its_line(tmp_path, short):
    root = make_project(tmp_path / "p", {"features/base.sql": "select 1 as x", "models/spin.py": ENDLESS_MODEL})
    error = compile_error(root)
    assert "spin.py" in str(error.file) and error.line in (3, 4, 5, 6, 7), (error.file, error.line)
    assert "TimeLimitExceeded" in error.message


def test_an_endless_python_step_is_stopped_in_its_function(tmp_path, short):
    root = make_project(tmp_path / "p", {"features/base.sql": "select 1 as x", "features/spin.py": ENDLESS_STEP})
    error = compile_error(root)
    assert "spin.py" in str(error.file) and 7 <= error.line <= 11, (error.file, error.line)


def test_the_limit_leaves_no_alarm_behind(short):
    with limits.time_limit(0.5):
        pass
    import signal

    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
    done = []
    thread = threading.Thread(target=lambda: done.append(limits.time_limit(0.1).__enter__() is None))
    thread.start()
    thread.join()
    assert done == [True]  # off the main thread: no signal, no limit, no error


ENDLESS_WHEN_INCREMENTAL = """\
{{ config(materialized='incremental', unique_key='id', time_column='at') }}
select range as id, timestamp '2024-01-01' + to_days(range::integer) as at from range(5)
{% if is_incremental() %}
where range > 2
{% for i in range(99999) %}{% for j in range(99999) %}{% for k in range(99999) %}{% endfor %}{% endfor %}{% endfor %}
{% endif %}
"""


def test_an_endless_loop_only_when_incremental_is_stopped_before_anything_builds(tmp_path, short):
    """The incremental variant renders at compile too (its columns are checked there), in the
    main thread: the first run stops under the time limit, before it builds anything (it
    used to build, and the second run, rendering the variant, was the one stopped)."""
    from _projects import run_in_process, scalar

    root = make_project(tmp_path / "p", {"features/events.sql": ENDLESS_WHEN_INCREMENTAL})
    started = time.monotonic()
    with pytest.raises(ProjectError) as raised:
        run_in_process(root)
    assert time.monotonic() - started < 60
    assert str(raised.value.file).endswith("events.sql") and "still running after 0.5 s" in raised.value.message
    assert scalar(root, "select count(*) from information_schema.tables where table_name = 'events'") == 0  # nothing built
