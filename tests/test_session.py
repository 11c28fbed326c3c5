"""One session per command (session.py): every command speaks JSON with --log-format json,
--debug shows a failed step's traceback, readers do not wait for a run where the engine
lets them in, a target may keep its state in a store of its own, and the engine's
publish keeps its promise with and without transactional DDL."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from conftest import create_tables, write_files
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from test_models import project_files, source_rows

SOURCES = """\
[raw]
schema = "raw"

[raw.tables.orders]
columns = { id = "bigint", amount = "double" }
"""
ORDERS = "select i::bigint as id, i * 1.5 as amount from range(10) t(i)"


def small_project(make_project, config: str | None = None) -> Path:
    files = {"warehouse/sources.toml": SOURCES, "features/big.sql": 'select id, amount from {{ source("raw", "orders") }} where amount > 3'}
    if config:
        files["toolkit.toml"] = config
    return make_project(files, {"raw.orders": ORDERS})


def events(out: str) -> list[dict]:
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, "no output"
    return [json.loads(line) for line in lines]  # raises on any line that is not JSON


@pytest.mark.slow
def test_every_command_speaks_json(tmp_path, run_cli):
    root = tmp_path / "p"
    write_files(root, project_files())
    create_tables(root / "warehouse" / "test.duckdb", source_rows())
    code, out, err = run_cli("run", "--log-format", "json", cwd=root)
    assert code == 0, err
    assert events(out)[-1]["event"] == "run_finished"
    commands = {
        ("plan",): "plan_summary",
        ("ls",): None,
        ("compile", "training"): "compiled",
        ("test",): "test_summary",
        ("gc", "--dry-run"): "gc",
        ("models", "list"): "model_version",
        ("models", "show", "churn"): "model",
        ("run", "--env", "dev", "--select", "training", "--full-refresh"): "run_finished",  # its own table: the promote changes prod
        ("promote", "dev"): "promoted",
        ("rollback",): "rolled_back",
        ("models", "promote", "churn", "1"): "model_promoted",
    }
    for args, last in commands.items():
        code, out, err = run_cli(*args, "--log-format", "json", cwd=root)
        assert code == 0, (args, out, err)
        found = events(out)
        if last:
            assert found[-1]["event"] == last, (args, found[-1])
    code, out, err = run_cli("init", str(tmp_path / "new"), "--log-format", "json", cwd=tmp_path)
    assert code == 0 and events(out)[0]["event"] == "created"


def test_an_error_is_one_json_line_with_log_format_json(make_project, run_cli):
    root = small_project(make_project)
    code, out, err = run_cli("plan", "--target", "nowhere", "--log-format", "json", cwd=root)
    assert code == 2
    [line] = err.strip().splitlines()
    error = json.loads(line)
    assert error["event"] == "error" and error["exit_code"] == 2 and "unknown target 'nowhere'" in error["message"]


def test_debug_shows_a_failed_steps_traceback(make_project, run_cli):
    root = small_project(make_project)
    write_files(root, {"features/bad.sql": "select cast('x' || amount as integer) as x from {{ ref('big') }}"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 1 and "Traceback" not in out + err
    assert "bad" in out
    code, out, err = run_cli("run", "--debug", cwd=root)
    assert code == 1
    assert "step bad failed" in err and "Traceback (most recent call last)" in err, err
    code, out, err = run_cli("run", "--log-format", "json", cwd=root)
    failed = [e for e in events(out) if e["event"] == "step_finished" and e["status"] == "failed"]
    assert failed and "Traceback" in failed[0]["traceback"]  # kept on the step result


def test_debug_is_read_from_the_command_line_not_from_a_value(make_project, run_cli):
    """`--vars` holding the text --debug is no debug flag (it was read from sys.argv)."""
    root = small_project(make_project)
    code, out, err = run_cli("plan", "--target", "nowhere", "--vars", "x=--debug", cwd=root)
    assert code == 2 and "Traceback" not in err and err.startswith("error:")


def test_state_in_a_store_of_its_own(make_project, run_cli):
    config = (
        'name = "test"\ndialect = "duckdb"\ntarget = "dev"\n\n[targets.dev]\nengine = "duckdb"\n'
        'path = "warehouse/test.duckdb"\nstate = "state/toolkit_state.duckdb"\n'
    )
    root = small_project(make_project, config)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert "state in duckdb" in out
    with duckdb.connect(str(root / "warehouse" / "test.duckdb"), read_only=True) as warehouse:
        assert warehouse.execute("select count(*) from features.big").fetchone() == (7,)
        schemas = {s for (s,) in warehouse.execute("select distinct table_schema from information_schema.tables").fetchall()}
        assert "toolkit" not in schemas  # no state in the warehouse
    with duckdb.connect(str(root / "state" / "toolkit_state.duckdb"), read_only=True) as state:
        assert state.execute("select step, env from toolkit.published").fetchall() == [("big", "prod")]
        assert state.execute("select status from toolkit.runs").fetchall() == [("success",)]
    code, out, err = run_cli("run", cwd=root)
    assert code == 0 and "reused" in out, out + err
    code, out, err = run_cli("plan", cwd=root)
    assert code == 0 and "reuse" in out


def test_state_on_postgres_for_a_duckdb_warehouse(make_project, run_cli, pg_url):
    config = (
        'name = "test"\ndialect = "duckdb"\ntarget = "dev"\n\n[targets.dev]\nengine = "duckdb"\n'
        f'path = "warehouse/test.duckdb"\nstate = "{pg_url}"\n'
    )
    root = small_project(make_project, config)
    for _ in range(2):
        code, out, err = run_cli("run", cwd=root)
        assert code == 0, out + err
    assert pg_query(pg_url, "select step, env from toolkit.published") == [("big", "prod")]
    assert [r[0] for r in pg_query(pg_url, "select status from toolkit.runs order by run_id")] == ["success", "success"]
    assert pg_query(pg_url, "select action from toolkit.step_runs where run_id = 2") == [("reuse",)]


def test_readers_do_not_wait_for_a_run_on_postgres(make_project, run_cli, pg_url):
    """`toolkit test` and `plan` only read: on PostgreSQL they run while a run holds the lock."""
    from toolkit.config import load_config
    from toolkit.session import Access, open_session

    config = f'name = "test"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'
    root = make_project({"toolkit.toml": config, "features/a.sql": "select 1 as x"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    with open_session(load_config(root), access=Access.WRITE) as holder:
        holder.start_run("run")  # a run in progress holds the advisory lock
        code, out, err = run_cli("run", "--lock-timeout", "0", cwd=root)
        assert code == 3, out + err
        for command in (("test",), ("plan",), ("models", "list")):
            code, out, err = run_cli(*command, "--lock-timeout", "0", cwd=root)
            assert code == 0, (command, out + err)
    statuses = pg_query(pg_url, "select command, status from toolkit.runs order by run_id")
    assert ("run", "running") in statuses and ("test", "success") in statuses  # the reader abandoned nobody


def test_duckdb_reader_waits_and_names_the_run(make_project, run_cli):
    from toolkit.config import load_config
    from toolkit.session import Access, open_session

    root = small_project(make_project)
    assert run_cli("run", cwd=root)[0] == 0
    with open_session(load_config(root), access=Access.WRITE) as holder:
        run_id = holder.start_run("run")
        code, out, err = run_cli("models", "list", "--lock-timeout", "0", cwd=root)
    assert code == 3 and f"run {run_id} (" in err and "safe to retry" in err, err


# -- the engine's publish contract ----------------------------------------------------


class _Failing(Exception):
    pass


def _engine(tmp_path, transactional: bool):
    from toolkit.config import Target
    from toolkit.engines.duckdb import DuckDBEngine

    class Engine(DuckDBEngine):
        SUPPORTS_TRANSACTIONAL_DDL = transactional

    engine = Engine(Target("t", "duckdb", {"path": str(tmp_path / "w.duckdb")}), tmp_path)
    engine.open(1.0)
    engine.create_schema("p")
    engine.create_schema("pub")
    for name, value in (("old", 1), ("new_a", 2), ("new_b", 3)):
        engine.execute(f"create table p.{name} as select {value} as v")
    for view in ("a", "b"):
        engine.execute(f"create view pub.{view} as select * from p.old")
    return engine


def _values(engine) -> tuple:
    return tuple(engine.fetch_rows(f"select v from pub.{view}")[0][0] for view in ("a", "b"))


@pytest.mark.parametrize("transactional", [True, False])
def test_publish_guarantee(tmp_path, transactional):
    from toolkit.engines.base import Swap

    engine = _engine(tmp_path, transactional)
    recorded = []

    def boom(_engine):
        raise _Failing()

    swaps = [Swap(exp.table_("a", db="pub"), exp.table_("new_a", db="p")),
             Swap(exp.table_("b", db="pub"), exp.table_("new_b", db="p"), extras=boom)]
    try:
        with pytest.raises(_Failing):
            engine.publish(swaps, record=lambda: recorded.append(1))
        assert not recorded  # the state never names what failed to publish
        # transactional: nothing changed; otherwise swaps applied in order up to the failure
        assert _values(engine) == ((1, 1) if transactional else (2, 3))
        engine.publish(swaps[:1] + [Swap(exp.table_("b", db="pub"), exp.table_("new_b", db="p"))], record=lambda: recorded.append(1))
        assert recorded == [1] and _values(engine) == (2, 3)
    finally:
        engine.close()


def test_one_clock(monkeypatch):
    from toolkit import clock, schedule, state

    at = datetime(2031, 5, 6, 7, 8, 9)
    with clock.fixed(at):
        assert state.now() == schedule.now() == clock.now() == at
    monkeypatch.setenv("TOOLKIT_NOW", "2030-01-02T03:04:05+01:00")
    assert clock.now() == state.now() == datetime(2030, 1, 2, 2, 4, 5)


@pytest.mark.slow
def test_models_registry_and_monitoring_live_in_the_state_store(tmp_path, run_cli):
    root = tmp_path / "p"
    files = project_files()
    files["toolkit.toml"] = files["toolkit.toml"].rstrip() + '\nstate = "warehouse/state.duckdb"\n'
    write_files(root, files)
    create_tables(root / "warehouse" / "test.duckdb", source_rows())
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    with duckdb.connect(str(root / "warehouse" / "state.duckdb"), read_only=True) as state:
        assert state.execute("select version, status from toolkit.model_versions").fetchall() == [(1, "production")]
        assert state.execute("select count(*) from toolkit.model_baselines").fetchone()[0] == 4  # training, serving, predictions, held_out
    with duckdb.connect(str(root / "warehouse" / "test.duckdb"), read_only=True) as warehouse:
        assert warehouse.execute("select count(*) from predictions.churn").fetchone()[0] == 100
    for args in (("models", "list"), ("models", "show", "churn"), ("monitor",), ("test",), ("gc", "--dry-run")):
        code, out, err = run_cli(*args, cwd=root)
        assert code == 0, (args, out + err)
