"""Small fixes, one test (DuckDB, and PostgreSQL where the warehouse is involved) each:
a backfill into the future, rollback's messages, gc --dry-run's counts, PostgreSQL's
refusal text, a model file's BOM, Spark's column-name limit."""

from __future__ import annotations

from datetime import datetime

from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)
from test_incremental import APPEND, INITIAL, SOURCES, backfill_in_process, day, make, result_of, set_source

from _projects import cli, make_project, query, run, run_in_process, write
from test_environments import engine_project  # noqa: F401 (fixture: the STEPS project on DuckDB and on PostgreSQL)
from toolkit import clock

# -- a backfill whose --end is in the future holds only up to now -----------------------


def _late_rows_of_a_future_end_come_in(root, late_sql) -> None:
    """A backfill to the end of January on January 12, then rows of January 20 arrive:
    a backfill on February 15 reads them (the 12th .. 31st was recorded as held)."""
    with clock.fixed(datetime(2025, 1, 12)):
        assert backfill_in_process(root, day(-7), datetime(2025, 2, 1)).ok
    late_sql()
    with clock.fixed(datetime(2025, 2, 15)):
        summary = backfill_in_process(root, day(-7), datetime(2025, 2, 1))
    assert (result_of(summary).action, result_of(summary).reason) == (
        "incremental", "backfill 1 missing interval(s): 2025-01-12 00:00..2025-02-01 00:00"), summary


def test_a_backfill_ending_in_the_future_holds_only_the_past(tmp_path):
    root = make(tmp_path, APPEND)
    _late_rows_of_a_future_end_come_in(root, lambda: set_source(root, INITIAL + [(99, "late", datetime(2025, 1, 20))]))
    assert query(root, "select id from features.events_inc where id = 99") == [(99,)]


def test_a_backfill_ending_in_the_future_holds_only_the_past_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.events as select i as id, 'a' as v, timestamp '2025-01-01' + i * interval '1 day' as ts "
                     "from generate_series(0, 9) i")
    config = f'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'
    root = make_project(tmp_path / "proj", {"toolkit.toml": config, "warehouse/sources.toml": SOURCES, "features/events_inc.sql": APPEND})
    assert run_in_process(root).ok
    _late_rows_of_a_future_end_come_in(root, lambda: pg_query(pg_url, "insert into app.events values (99, 'late', '2025-01-20')"))
    assert pg_query(pg_url, "select id from features.events_inc where id = 99") == [(99,)]


# -- rollback of an environment that does not exist ------------------------------------


def test_rollback_of_an_unknown_environment_says_it_does_not_exist(engine_project):  # noqa: F811 (fixture)
    """It said 'has no earlier state to roll back to', as if 'stagnig' existed."""
    root, _ = engine_project
    result = cli("rollback", "stagnig", "-p", str(root))
    assert result.code == 2 and "environment 'stagnig' does not exist on this target (environments: prod)" in result.err, result
    assert "Traceback" not in result.err
    nothing = cli("rollback", "prod", "-p", str(root))  # prod exists: it has no earlier state
    assert nothing.code == 2 and "no earlier state" in nothing.err, nothing


# -- gc counts what it keeps because something reads it --------------------------------


def test_gc_says_how_many_relations_it_keeps_in_use(engine_project):  # noqa: F811 (fixture)
    """A run already drops what nothing reads: gc said 'kept 0 younger than 7d' while it
    kept every published and saved table, a dry run and a real one alike."""
    import json

    root, read = engine_project
    write(root, {"features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"})
    assert run(root, "--env", "dev").code == 0
    assert cli("promote", "dev", "prod", "-p", str(root)).code == 0  # the saved state keeps prod's old doubled, report
    physical = read("select count(*) from information_schema.tables where table_schema = 'toolkit_physical'")[0][0]
    for args in (("--dry-run",), ()):
        done = cli("gc", *args, "-p", str(root))
        assert done.code == 0 and f"kept 0 younger than 7d and {physical} in use" in done.out, done
    events = [json.loads(line) for line in cli("gc", "--dry-run", "--log-format", "json", "-p", str(root)).out.splitlines()]
    assert [(e["kept_recent"], e["in_use"]) for e in events if e["event"] == "gc"] == [(0, physical)]


# -- rollback names the steps it brings back and the ones it takes away -----------------


def test_rollback_says_which_steps_came_back_and_which_went_away(engine_project):  # noqa: F811 (fixture)
    """'other' deleted in dev and 'added' new there, promoted: the rollback said '3 step(s)
    changed (added, doubled, other)', not that other was back and added gone."""
    import json

    root, read = engine_project
    (root / "features/other.sql").unlink()
    write(root, {"features/added.sql": "select order_id from {{ ref('base') }}",
                 "features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"})
    assert run(root, "--env", "dev").code == 0
    assert cli("promote", "dev", "prod", "-p", str(root)).code == 0
    back = cli("rollback", "prod", "--log-format", "json", "-p", str(root))
    assert back.code == 0, back
    event = next(e for e in map(json.loads, back.out.splitlines()) if e["event"] == "rolled_back")
    assert (event["restored"], event["removed"], event["repointed"]) == (["other"], ["added"], ["doubled", "report"]), event
    assert event["changed"] == ["added", "doubled", "other", "report"]
    assert cli("promote", "dev", "prod", "-p", str(root)).code == 0
    again = cli("rollback", "prod", "-p", str(root))
    assert again.code == 0 and "4 step(s) changed (doubled, report; restored: other; removed: added)" in again.out, again
    assert read("select n from features.other") == [(2,)]


# -- PostgreSQL's refusal without the driver's wrapper ---------------------------------


def test_engine_message_strips_the_wrapper_from_the_text_alone():
    """Where the driver's diagnostics are gone (the error re-raised as another), its text."""
    from toolkit.errors import engine_message

    text = ("IO: [libpq] Failed to execute query 'DROP VIEW \"features\".\"other\"': ERROR:  cannot drop view features.other "
            "because other objects depend on it\nDETAIL:  view mine depends on view features.other\nHINT:  Use DROP ... CASCADE "
            "to drop the dependent objects too.\n. SQLSTATE: 2BP01")
    # PostgreSQL's "Use DROP ... CASCADE" hint is left out: it would drop the user's view
    assert engine_message(RuntimeError(text)) == ("cannot drop view features.other because other objects depend on it (view mine "
                                                  "depends on view features.other)")
    hinted = ("IO: [libpq] Failed to execute query 'select f(1)': ERROR:  function f(integer) does not exist\n"
              "HINT:  No function matches the given name and argument types.\n. SQLSTATE: 42883")
    assert engine_message(RuntimeError(hinted)) == ("function f(integer) does not exist (No function matches the given name "
                                                    "and argument types.)")
    copy = "INVALID_DATA: [libpq] Failed to execute query: could not begin COPY: ERROR:  division by zero\n\nQuery was: COPY (select 1/0)"
    assert engine_message(RuntimeError(copy)) == "division by zero"
    assert engine_message(RuntimeError("Catalog Error: Table x does not exist\nLINE 1: ...")) == "Catalog Error: Table x does not exist"


# -- a BOM added to a model file changes no code ---------------------------------------


def test_a_bom_added_to_a_model_file_does_not_retrain_it(tmp_path, run_cli):
    """An editor saving models/churn.py with a UTF-8 BOM retrained the model: the file's
    bytes were its code's hash."""
    import codecs
    import hashlib

    from test_models import TRAINED_FILES, build, run as run_models, step_run

    from toolkit.models import code_hash

    root = build(tmp_path / "project", TRAINED_FILES)
    model = root / "models/churn.py"
    assert code_hash(model) == hashlib.sha256(model.read_bytes()).hexdigest()  # without a BOM: as before
    run_models(run_cli, root)
    model.write_bytes(codecs.BOM_UTF8 + model.read_bytes())
    run_models(run_cli, root)
    record = step_run(root)
    assert (record["action"], record["status"]) == ("reuse", "reused"), record


# -- Spark's 128-character limit is for table names, not columns ------------------------


def test_engines_limit_column_names_like_identifiers_but_spark():
    """Spark's MAX_IDENTIFIER_LENGTH (128, its metastore's for table names) refused a
    classifier whose proba_<class> column was longer, which Spark keeps whole."""
    from toolkit.engines.base import Engine
    from toolkit.engines.duckdb import DuckDBEngine
    from toolkit.engines.postgres import PostgresEngine
    from toolkit.engines.spark import SparkEngine

    assert (PostgresEngine.MAX_COLUMN_LENGTH, DuckDBEngine.MAX_COLUMN_LENGTH, SparkEngine.MAX_COLUMN_LENGTH) == (63, None, None)
    assert SparkEngine.MAX_IDENTIFIER_LENGTH == 128  # table names keep their limit

    class Plugin(Engine):  # an engine that declares one identifier limit gets it for columns too
        MAX_IDENTIFIER_LENGTH = 30

    assert Plugin.MAX_COLUMN_LENGTH == 30


def test_spark_keeps_a_proba_column_longer_than_its_table_name_limit():
    import pytest
    from sklearn.dummy import DummyClassifier
    from spark_support import SKIP_REASON, shared_engine
    from sqlglot import exp

    from toolkit.modelrun import check_proba_columns

    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    label = "x" * 200
    estimator = DummyClassifier().fit([[0], [1]], [label, "y"])
    engine = shared_engine()
    try:
        check_proba_columns(type("Spec", (), {"name": "m"})(), estimator, "the trained m", engine.MAX_COLUMN_LENGTH)
        engine.create_schema("misc_probe")
        table = exp.table_("long_column", db="misc_probe")
        engine.execute(exp.Create(this=table, kind="TABLE", expression=exp.select(exp.alias_(exp.Literal.number(1), f"proba_{label}", quoted=True))))
        assert [len(name) for name in engine.columns(table)] == [206]
        engine.drop(table)
    finally:
        engine.close()
