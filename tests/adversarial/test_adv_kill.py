"""kill -9 at random points of real runs (DuckDB and PostgreSQL): every published
relation still equals one complete build, and the next run recovers.

The delay is drawn uniformly within the run's own measured duration (from its
run_started event to its exit), so most kills land mid-run; the test counts the ones
that did (still running when killed, and the run record not finished) and keeps
killing until enough landed - a loop that only killed idle processes would prove
nothing. (It used to require 80% of a fixed number of kills: on a loaded machine the
window measured once drifts and 38 of 50 landed, a failure that said nothing about
toolkit.) A kill that came too late shrinks the window by a fifth, since runs get faster
than the one measured when the machine's load drops. It fails if the attempts run out first.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _projects import BIG_PUBLISHED, checksum, cli_args, cli_tuple, env, make_big_project, make_test_project, popen_run, query, run
from postgres_support import pg_query, pg_url  # noqa: F401 - pg_url is a fixture

pytestmark = pytest.mark.slow


def _await_start(process: subprocess.Popen) -> None:
    for line in process.stdout:
        if json.loads(line).get("event") == "run_started":
            return
    raise AssertionError(f"no run_started event: {process.stderr.read()}")


def _measure(start) -> float:
    """Seconds from run_started to exit of one full run (the window kills are drawn in)."""
    process = start()
    _await_start(process)
    began = time.monotonic()
    process.communicate(timeout=300)
    assert process.returncode == 0
    return time.monotonic() - began


def _kill_at_random(start, window: float, rng: random.Random) -> bool:
    """Start a run, SIGKILL it a uniform delay into its window; True if still running then."""
    process = start()
    try:
        _await_start(process)
        # the window's last part is the interpreter exiting after the run record finished
        time.sleep(rng.uniform(0, 0.75 * window))
        alive = process.poll() is None
        if alive:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        return alive
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()


def _attempts_until(landed, wanted: int, most: int):
    """Attempt numbers until `landed()` reaches `wanted` or `most` attempts were made."""
    for attempt in range(most):
        if landed() >= wanted:
            return
        yield attempt


def recover(root: Path, monkeypatch, capsys) -> None:
    """The next run, in this process (no interpreter start): it must succeed."""
    from toolkit.cli import main

    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["toolkit", "run"])
    try:
        main()
    except SystemExit as done:
        assert done.code in (0, None), capsys.readouterr()


def test_kill_9_on_duckdb_never_changes_published_data(tmp_path, monkeypatch, capsys):
    root = make_big_project(tmp_path / "big", rows=300_000)
    assert run(root).code == 0
    complete = {relation: checksum(root, relation) for relation in BIG_PUBLISHED}
    window = _measure(lambda: popen_run(root, "--full-refresh"))
    rng = random.Random(18)
    landed, attempt = 0, 0
    for attempt in _attempts_until(lambda: landed, wanted=40, most=80):
        alive = _kill_at_random(lambda: popen_run(root, "--full-refresh"), window, rng)
        last = query(root, "select status from toolkit.runs order by run_id desc limit 1")[0][0]
        hit = alive and last != "success"
        landed += hit
        window = window if hit else window * 0.8  # the run got faster than measured (less load): aim earlier
        assert {r: checksum(root, r) for r in BIG_PUBLISHED} == complete, f"kill {attempt}"
        recover(root, monkeypatch, capsys)
        assert {r: checksum(root, r) for r in BIG_PUBLISHED} == complete, f"after recovering from kill {attempt}"
    assert landed >= 40, f"only {landed} of {attempt + 1} kills landed mid-run (window {window:.2f}s)"


PG_FILES = {
    "toolkit.toml": 'name = "kill"\ndialect = "postgres"\ntarget = "pg"\n[targets.pg]\nengine = "postgres"\nurl = "${PG_URL}"\n',
    "features/numbers.sql": '{{ config(materialized="table") }}\nselect n, n % 97 as grp from generate_series(1, 300000) as t(n)\n',
    "features/by_group.sql": '{{ config(materialized="table") }}\nselect grp, count(*) as n, sum(n) as total from {{ ref("numbers") }} group by grp\n',
    "features/top.sql": '{{ config(materialized="view") }}\nselect grp, total from {{ ref("by_group") }} where n > 0\n',
}
PG_PUBLISHED = ["features.numbers", "features.by_group", "features.top"]


def _pg_state(url: str) -> dict:
    return {r: pg_query(url, f"select count(*), sum(hashtext(t::text)::bigint) from {r} as t")[0] for r in PG_PUBLISHED}


def test_kill_9_on_postgres_never_changes_published_data(tmp_path, pg_url, monkeypatch, capsys):  # noqa: F811 - the fixture
    root = make_test_project(tmp_path / "kill", PG_FILES)
    extra = {"PG_URL": pg_url}
    code, out, err = cli_tuple("run", cwd=root, env=extra)
    assert code == 0, out + err
    complete = _pg_state(pg_url)
    monkeypatch.setenv("PG_URL", pg_url)

    def start() -> subprocess.Popen:
        arguments = cli_args("run", "--log-format", "json", "--full-refresh")
        return subprocess.Popen(arguments, cwd=root, env=env(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    window = _measure(start)
    rng = random.Random(18)
    landed, attempt = 0, 0
    for attempt in _attempts_until(lambda: landed, wanted=16, most=32):
        alive = _kill_at_random(start, window, rng)
        last = pg_query(pg_url, "select status from toolkit.runs order by run_id desc limit 1")[0][0]
        hit = alive and last != "success"
        landed += hit
        window = window if hit else window * 0.8  # the run got faster than measured (less load): aim earlier
        assert _pg_state(pg_url) == complete, f"kill {attempt}"
        recover(root, monkeypatch, capsys)
        assert _pg_state(pg_url) == complete, f"after recovering from kill {attempt}"
    assert landed >= 16, f"only {landed} of {attempt + 1} kills landed mid-run (window {window:.2f}s)"
