"""The `toolkit` command itself: help, import weight, init, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _projects import cli, env, run

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

HEAVY = ("duckdb", "sqlglot", "pyarrow", "sklearn", "pandas", "ibis", "jinja2")


def test_help_lists_the_commands():
    result = cli("--help")
    assert result.code == 0, result
    for command in ("init", "run", "compile", "ls"):
        assert f"  {command} " in result.out or f"  {command}\n" in result.out, command
    assert result.err == ""


def imported_after(args: list[str]) -> list[str]:
    script = (
        "import json, sys\n"
        "from toolkit import cli\n"
        "try:\n"
        f"    cli.cli.main({args!r}, standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env(), timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_help_does_not_import_heavy_modules():
    assert imported_after(["--help"]) == []


def test_command_help_does_not_import_heavy_modules():
    for command in ("run", "compile", "ls", "init"):
        assert imported_after([command, "--help"]) == [], command


def test_init_then_run_on_a_fresh_folder(tmp_path):
    folder = tmp_path / "my project-1"  # a space in the path, too
    result = cli("init", str(folder))
    assert result.code == 0, result
    # the name the project got, and a command that works when pasted
    assert f"created project 'my_project_1' in {folder}: cd '{folder}' && toolkit run" in result.out + result.err
    assert 'name = "my_project_1"' in (folder / "toolkit.toml").read_text()
    assert (folder / "toolkit.toml").is_file()
    assert any((folder / "features").rglob("*.sql"))

    result = cli("run", cwd=folder)
    assert result.code == 0, result
    assert "Traceback" not in result.err

    # the project's DuckDB file now holds the published step
    database = next((folder / "warehouse").glob("*.duckdb"))
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        steps = con.execute("select step, relation from toolkit.published order by step").fetchall()
        assert steps, "nothing published"
        for _, relation in steps:
            assert con.execute(f"select count(*) from {relation}").fetchone()[0] > 0
        assert con.execute("select status from toolkit.runs").fetchall() == [("success",)]

    result = cli("run", "-p", str(folder), "--log-format", "json")
    assert result.code == 0, result
    assert {e["status"] for e in result.events() if e["event"] == "step_finished"} == {"reused"}


def test_init_into_an_empty_existing_folder(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    result = cli("init", str(folder))
    assert result.code == 0, result
    assert run(folder).code == 0


def test_init_on_a_non_empty_folder_exits_2(tmp_path):
    folder = tmp_path / "busy"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    result = cli("init", str(folder))
    assert result.code == 2, result
    assert "not empty" in result.err
    assert "Traceback" not in result.err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]  # nothing written


def test_init_where_nothing_can_be_written_exits_2(tmp_path):
    (tmp_path / "file").write_text("x")
    result = cli("init", str(tmp_path / "file" / "project"))
    assert result.code == 2, result
    assert f"error: cannot create a project in {tmp_path / 'file' / 'project'} (Not a directory)" in result.err
    assert "Traceback" not in result.err


def test_run_outside_a_project_exits_2(tmp_path):
    result = cli("run", "-p", str(tmp_path))
    assert result.code == 2, result
    assert "toolkit init" in result.err
    assert "Traceback" not in result.err


def test_unknown_command_and_option_exit_2(tmp_path):
    assert cli("frobnicate").code == 2
    assert cli("run", "--no-such-option").code == 2


def test_version():
    result = cli("--version")
    assert result.code == 0 and "0." in result.out


def test_the_console_script_skips_only_the_interpreter_teardown(tmp_path):
    # console_main ends the process with os._exit after Python's exit handlers: a handler a
    # project registers still runs, every line of output arrives, and exit codes hold.
    folder = tmp_path / "proj"
    assert cli("init", str(folder)).code == 0
    marker = tmp_path / "handler-ran"
    (folder / "features" / "with_handler.py").write_text(
        "import atexit, pathlib\n"
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
        "from toolkit import feature\n\n"
        "@feature()\n"
        "def with_handler(ref):\n"
        "    return ref('country_totals')\n"
    )
    first = run(folder)
    assert first.code == 0, first
    assert marker.read_text() == "yes"
    events = first.events()
    finished = [e["step"] for e in events if e["event"] == "step_finished"]
    assert len(finished) == events[0]["steps"] and "with_handler" in finished, first  # every line arrived
    assert events[-1]["event"] == "run_finished", first
    (folder / "features" / "broken.sql").write_text("select * from {{ ref('nope') }}")
    broken = run(folder)
    assert broken.code == 2 and "nope" in broken.err, broken
    debug = cli("run", "-p", str(folder), "--debug")
    assert debug.code == 1 and "Traceback" in debug.err, debug  # an uncaught error: the interpreter's code and traceback


def test_overlapping_imports_of_project_code_leave_os_exit_as_it_was():
    # Models import on several threads; a guard restoring what it found left os._exit
    # refusing for good, and toolkit's own exit then failed with a traceback.
    import os
    import threading

    from toolkit.models import REAL_EXIT, _exit_raises

    first_in, second_out = threading.Event(), threading.Event()

    def first():
        with _exit_raises():
            first_in.set()
            second_out.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with _exit_raises():  # enters while the first holds the guard, leaves before it
        assert os._exit is not REAL_EXIT
    second_out.set()
    thread.join()
    assert os._exit is REAL_EXIT
