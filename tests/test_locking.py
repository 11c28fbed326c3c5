"""One run at a time per DuckDB target: the waiting run says who holds the file
(run id, host, pid, start time, from the holder's sidecar file), succeeds after
the holder, or exits 3 after --lock-timeout naming it. A killed holder's lock and
sidecar do not block the next run."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from _projects import (
    BIG_PUBLISHED, checksum, cli, db_path, make_big_project, make_project, orphans, popen_run, query, run, runs, statuses,
)

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

SLOW_STEPS = {
    "features/slow.sql": "select sum(hash(i)) as h from range(400000000) as t(i)",
    "features/after_slow.sql": 'select h % 7 as r from {{ ref("slow") }}',
}


def sidecar(root) -> Path:
    return Path(db_path(root) + ".toolkit-lock.json")


def wait_for(process, event: str) -> dict:
    for line in process.stdout:
        data = json.loads(line)
        if data["event"] == event:
            return data
    raise AssertionError(f"no {event} event: {process.stderr.read()}")


def test_second_run_waits_naming_the_holder_then_succeeds(tmp_path):
    root = make_project(tmp_path / "slow", SLOW_STEPS)
    holder = popen_run(root)
    try:
        started = wait_for(holder, "run_started")
        record = json.loads(sidecar(root).read_text())
        assert (record["run_id"], record["pid"], record["host"]) == (started["run_id"], holder.pid, socket.gethostname())
        waiter = run(root, "--lock-timeout", "60")
    finally:
        holder.communicate(timeout=120)
    assert holder.returncode == 0 and waiter.code == 0, waiter
    waiting = [e for e in waiter.events() if e["event"] == "waiting"]
    assert len(waiting) == 1, waiter  # said once
    assert waiting[0]["holder"].startswith(f"run 1 ({socket.gethostname()}, pid {holder.pid}, started at ")
    assert statuses(root, 2) == {"slow": "reused", "after_slow": "reused"}
    assert not sidecar(root).exists()


def test_busy_target_exits_3_within_the_timeout_naming_the_run(tmp_path):
    # a step that outlasts any waiter on a loaded machine; the holder is killed after
    root = make_project(tmp_path / "slow", {"features/slow.sql": "select sum(hash(i)) as h from range(100000000000) as t(i)"})
    holder = popen_run(root)
    try:
        wait_for(holder, "step_started")
        waiter = popen_run(root, "--lock-timeout", "1")
        waited = wait_for(waiter, "waiting")
        _, err = waiter.communicate(timeout=60)
    finally:
        holder.kill()
        holder.communicate(timeout=120)
    assert waiter.returncode == 3, err
    assert f"run 1 ({socket.gethostname()}, pid {holder.pid}" in err and "--lock-timeout" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "run 1" in waited["holder"]


def test_an_open_read_only_session_makes_a_run_wait_or_exit_3(tmp_path):
    root = make_project(tmp_path / "proj", {"features/a.sql": "select 1 as x"})
    assert run(root).code == 0
    session = duckdb.connect(db_path(root), read_only=True)
    try:
        busy = run(root, "--lock-timeout", "0.5")
    finally:
        session.close()
    assert busy.code == 3 and "busy" in busy.err and "Traceback" not in busy.err, busy
    assert run(root).code == 0


def test_concurrent_runs_equal_a_serial_run(tmp_path):
    parallel = make_big_project(tmp_path / "parallel", rows=200_000)
    serial = make_big_project(tmp_path / "serial", rows=200_000)
    processes = [popen_run(parallel, "--lock-timeout", "60", "--full-refresh") for _ in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    for _ in range(2):
        assert run(serial, "--full-refresh").code == 0
    assert {r: checksum(parallel, r) for r in BIG_PUBLISHED} == {r: checksum(serial, r) for r in BIG_PUBLISHED}
    assert runs(parallel) == [(1, "success"), (2, "success")]


def test_killed_holder_leaves_a_stale_sidecar_that_does_not_block(tmp_path):
    root = make_big_project(tmp_path / "big")
    assert run(root).code == 0
    before = {r: checksum(root, r) for r in BIG_PUBLISHED}
    victim = popen_run(root, "--full-refresh")
    wait_for(victim, "step_started")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    victim.stdout.close()
    victim.stderr.close()
    assert json.loads(sidecar(root).read_text())["pid"] == victim.pid  # left behind
    result = run(root, "--lock-timeout", "5")
    assert result.code == 0, result
    assert not [e for e in result.events() if e["event"] == "waiting"]  # a dead holder is nobody
    assert {r: checksum(root, r) for r in BIG_PUBLISHED} == before
    assert [s for _, s in runs(root)] == ["success", "abandoned", "success"]
    assert orphans(root) == set()
    assert not sidecar(root).exists()
    assert query(root, "select count(*) from toolkit.published") == [(len(BIG_PUBLISHED),)]


def _holding(root) -> subprocess.Popen:
    """Another process holding the DuckDB file (as a long run would), until killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({db_path(root)!r}); print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.parametrize("command", ["run", "plan"])
def test_a_compile_error_is_reported_at_once_while_the_target_is_busy(tmp_path, command):
    # The target is opened while the project compiles (session.SessionAhead): a broken step
    # must still end in its own error, exit 2, not in a wait for the lock (600 s here).
    root = make_project(tmp_path / "proj", {"features/a.sql": "select 1 as x"})
    assert run(root).code == 0
    (root / "features" / "a.sql").write_text("select 1 as x from {{ ref('nope') }}")
    holder = _holding(root)
    try:
        broken = cli(command, "-p", str(root), "--lock-timeout", "600", timeout=300)
    finally:
        holder.kill()
        holder.communicate(timeout=60)
    assert broken.code == 2, broken
    assert "features/a.sql" in broken.err and "nope" in broken.err and "Traceback" not in broken.err, broken
    (root / "features" / "a.sql").write_text("select 2 as x")
    assert run(root).code == 0  # nothing of the cancelled open was left holding the file
    assert query(root, "select x from features.a") == [(2,)]


def test_an_open_cancelled_mid_wait_lets_go_of_everything(tmp_path):
    from toolkit.config import load_config
    from toolkit.engines.base import OpenCancelled
    from toolkit.session import SessionAhead

    root = make_project(tmp_path / "proj", {"features/a.sql": "select 1 as x"})
    assert run(root).code == 0
    holder = _holding(root)
    try:
        ahead = SessionAhead(load_config(root), None, lock_timeout=600)
        time.sleep(0.5)  # most likely waiting for the lock by now; if not, it stops at its first wait
        ahead.close()  # returns once the opener stopped waiting
        assert not ahead._thread.is_alive()
        assert isinstance(ahead._error, OpenCancelled), ahead._error
    finally:
        holder.kill()
        holder.communicate(timeout=60)
    with SessionAhead(load_config(root), None, lock_timeout=30) as ahead:
        with ahead.session() as session:
            assert session.engine.fetch_rows("select x from features.a") == [(1,)]
    assert run(root).code == 0  # closed with the block


def test_an_error_of_the_open_is_raised_when_the_session_is_asked_for(tmp_path):
    from toolkit.config import load_config
    from toolkit.errors import ProjectError
    from toolkit.session import SessionAhead

    root = make_project(tmp_path / "proj", {"features/a.sql": "select 1 as x"})
    ahead = SessionAhead(load_config(root), "nowhere")  # no such target: the opener fails
    with ahead:
        with pytest.raises(ProjectError, match="nowhere"):
            ahead.wait()
