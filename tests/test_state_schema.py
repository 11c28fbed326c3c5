"""The state schema has a version and numbered migrations (stateschema.py): a new store is
created at the current version, a store written before versioning (by the toolkit that
landed before this change) is migrated on first use with its rows kept, a newer one is
refused with nothing changed, and a failing migration leaves the previous version."""

from __future__ import annotations

import duckdb
import pytest

from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from toolkit import stateschema
from toolkit.config import Target
from toolkit.engines import connect

# The layout toolkit wrote before schema versions existed (main at e9913a4), verbatim.
LANDED = {
    "runs": "run_id BIGINT, project VARCHAR, target VARCHAR, command VARCHAR, status VARCHAR, "
    "started_at TIMESTAMP, finished_at TIMESTAMP, host VARCHAR, pid BIGINT, toolkit_version VARCHAR",
    "step_runs": "run_id BIGINT, step VARCHAR, kind VARCHAR, materialized VARCHAR, action VARCHAR, "
    "reason VARCHAR, status VARCHAR, fingerprint VARCHAR, physical_name VARCHAR, started_at TIMESTAMP, "
    "finished_at TIMESTAMP, rows_written BIGINT, error VARCHAR, details VARCHAR",
    "published": "step VARCHAR, relation VARCHAR, physical_name VARCHAR, fingerprint VARCHAR, definition VARCHAR, "
    "materialized VARCHAR, run_id BIGINT, published_at TIMESTAMP, reads VARCHAR, env VARCHAR DEFAULT 'prod', "
    "content VARCHAR, sql VARCHAR, inputs VARCHAR, columns VARCHAR, built_at TIMESTAMP, tests VARCHAR",
    "relations": "physical_name VARCHAR, step VARCHAR, materialized VARCHAR, reads VARCHAR, run_id BIGINT, created_at TIMESTAMP",
    "model_versions": "model VARCHAR, version INTEGER, status VARCHAR, fingerprint VARCHAR, candidate VARCHAR, "
    "metrics JSON, params JSON, features JSON, training_table VARCHAR, run_id BIGINT, created_at TIMESTAMP, "
    "python_version VARCHAR, sklearn_version VARCHAR, numpy_version VARCHAR, skops_version VARCHAR, "
    "artifact BLOB, artifact_sha256 VARCHAR, artifact_size BIGINT, scoring_sql VARCHAR",
}
# An even older toolkit: published had no env, tests or built_at columns.
OLDER_PUBLISHED = ("step VARCHAR, relation VARCHAR, physical_name VARCHAR, fingerprint VARCHAR, definition VARCHAR, "
                   "materialized VARCHAR, run_id BIGINT, published_at TIMESTAMP, reads VARCHAR")


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request, tmp_path):
    if request.param == "duckdb":
        target = Target("state", "duckdb", {"path": "state.duckdb"})
    else:
        target = Target("state", "postgres", {"url": request.getfixturevalue("pg_url")})
    opened = connect(target, tmp_path, 5.0)
    yield opened
    opened.close()


def versions(engine) -> list[int]:
    return [row[0] for row in engine.fetch_rows("SELECT version FROM toolkit.schema_version ORDER BY version")]


def write_landed(engine, tables: dict[str, str]) -> None:
    import sqlglot

    engine.create_schema("toolkit")
    for name, columns in tables.items():
        engine.execute(sqlglot.transpile(f"CREATE TABLE toolkit.{name} ({columns})", read="duckdb", write=engine.dialect)[0])


def test_a_new_store_is_created_at_the_current_version(engine):
    catalog = stateschema.ensure(engine)
    assert versions(engine) == [stateschema.CURRENT_VERSION]
    assert {t.name for t in stateschema.TABLES} <= set(catalog)
    stateschema.ensure(engine)
    assert versions(engine) == [stateschema.CURRENT_VERSION]  # nothing runs twice


def test_a_store_from_before_versioning_is_migrated_with_its_rows(engine):
    write_landed(engine, {**LANDED, "published": OLDER_PUBLISHED})
    engine.execute("INSERT INTO toolkit.published (step, physical_name, fingerprint, run_id) VALUES ('a', 'a__x__r1', 'f', 1)")
    assert stateschema.version(engine) == 0
    stateschema.ensure(engine)
    assert versions(engine) == list(range(1, stateschema.CURRENT_VERSION + 1))
    rows = engine.fetch_rows("SELECT step, physical_name, env, tests FROM toolkit.published")
    assert rows == [("a", "a__x__r1", "prod", None)]  # kept; a new column's DEFAULT fills the old row
    catalog = engine.catalog("toolkit")
    assert {"model_status_history", "model_baselines", "monitoring", "intervals"} <= set(catalog)
    assert "tests" in catalog["published"] and "built_at" in catalog["published"]


def test_each_migration_commits_with_its_version(engine):
    """A migration that fails leaves the version before it, and none of its changes."""
    def broken(engine_, catalog):
        engine_.execute("CREATE TABLE toolkit.half_done (x INTEGER)")
        raise RuntimeError("the next migration failed")

    stateschema.ensure(engine)
    following = stateschema.CURRENT_VERSION + 1
    with pytest.raises(RuntimeError, match="the next migration failed"):
        stateschema.ensure(engine, [*stateschema.MIGRATIONS, stateschema.Migration(following, "broken", broken)])
    assert versions(engine) == [stateschema.CURRENT_VERSION]
    if engine.SUPPORTS_TRANSACTIONAL_DDL:
        assert "half_done" not in engine.relations("toolkit")
    done = []
    stateschema.ensure(engine, [*stateschema.MIGRATIONS, stateschema.Migration(following, "works", lambda e, c: done.append(1))])
    assert done == [1] and versions(engine)[-1] == following


def test_a_newer_store_is_refused(engine):
    stateschema.ensure(engine)
    engine.execute("INSERT INTO toolkit.schema_version (version, description) VALUES (99, 'from the future')")
    with pytest.raises(stateschema.StateTooNew, match="schema version 99, newer than this toolkit"):
        stateschema.ensure(engine)


def test_a_project_run_migrates_a_landed_database_and_a_newer_one_is_exit_2(make_project, run_cli, tmp_path):
    root = make_project({"features/a.sql": "select 1 as x"})
    database = root / "warehouse" / "test.duckdb"
    database.parent.mkdir(exist_ok=True)
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE SCHEMA toolkit")
        for name, columns in LANDED.items():
            con.execute(f"CREATE TABLE toolkit.{name} ({columns})")
        con.execute("INSERT INTO toolkit.runs (run_id, status) VALUES (7, 'success')")
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT max(run_id) FROM toolkit.runs").fetchone() == (8,)  # the old history continues
        expected = list(range(1, stateschema.CURRENT_VERSION + 1))
        assert [r[0] for r in con.execute("SELECT version FROM toolkit.schema_version ORDER BY 1").fetchall()] == expected
    with duckdb.connect(str(database)) as con:
        con.execute("INSERT INTO toolkit.schema_version (version, description) VALUES (99, 'newer')")
    for command in (("run",), ("plan",), ("test",), ("models", "list")):
        code, out, err = run_cli(*command, cwd=root)
        assert code == 2, (command, out + err)
        assert "schema version 99" in err and "upgrade toolkit" in err and "Traceback" not in err
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT max(run_id) FROM toolkit.runs").fetchone() == (8,)  # nothing ran


def test_a_version_2_store_gains_the_actor_of_status_changes(engine):
    """Version 3 (governance) adds model_status_history.actor; rows written before keep
    their values and have no actor."""
    stateschema.ensure(engine)
    engine.execute("ALTER TABLE toolkit.model_status_history DROP COLUMN actor")
    engine.execute("DELETE FROM toolkit.schema_version")
    engine.execute("INSERT INTO toolkit.schema_version (version, description) VALUES (2, 'monitoring')")
    engine.execute("INSERT INTO toolkit.model_status_history (model, version, status, action, seq) VALUES ('m', 1, 'production', 'promote', 1)")
    assert stateschema.version(engine) == 2
    stateschema.ensure(engine)
    assert versions(engine) == list(range(2, stateschema.CURRENT_VERSION + 1))
    assert engine.fetch_rows("SELECT model, action, actor FROM toolkit.model_status_history") == [("m", "promote", None)]


def test_a_version_4_store_gains_the_evaluation_of_each_version(engine):
    """Version 5 adds model_versions.evaluation (evaluation.py); versions registered before
    keep their rows and have none; a reader of an unmigrated store sees None, not an error."""
    from toolkit.registry import Registry

    stateschema.ensure(engine)
    engine.execute("ALTER TABLE toolkit.model_versions DROP COLUMN evaluation")
    engine.execute("DELETE FROM toolkit.schema_version")
    engine.execute("INSERT INTO toolkit.schema_version (version, description) VALUES (4, 'file sources')")
    engine.execute("INSERT INTO toolkit.model_versions (model, version, status, metrics, params, features, artifact_size) "
                   "VALUES ('m', 1, 'production', '{}', '{}', '[]', 0)")
    assert Registry(engine).versions("m")[0].evaluation is None  # read before the migration
    assert stateschema.version(engine) == 4
    stateschema.ensure(engine)
    assert versions(engine) == list(range(4, stateschema.CURRENT_VERSION + 1))
    assert "evaluation" in engine.catalog("toolkit")["model_versions"]
    assert engine.fetch_rows("SELECT model, version, evaluation FROM toolkit.model_versions") == [("m", 1, None)]
