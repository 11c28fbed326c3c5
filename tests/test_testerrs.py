"""Data tests that read an ephemeral step, and data tests the warehouse cannot run (DuckDB, no mocks).

1. a relationships test toward an ephemeral step (and one reading another ephemeral step
   over a table step) runs on the parent's inlined query: it failed the step with a bare
   KeyError ("features/c.sql: 'pe'"); a custom test reading an ephemeral step likewise
2. a data test whose query errors in the warehouse (an expression dividing by zero) names
   itself, where it is declared, and that it could not run; it fails its step whatever
   its severity (a test that cannot run proves nothing), and its table is dropped
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from conftest import database_path

pytestmark = pytest.mark.slow  # end-to-end runs

SOURCES = """
[app]
schema = "app"

[app.tables.par]
columns = { id = "bigint" }

[app.tables.kid]
columns = { kid = "bigint", pid = "bigint" }
"""

ROWS = {"app.par": "select i as id from range(1, 11) t(i)", "app.kid": "select i as kid, i as pid from range(1, 11) t(i)"}


def query(root: Path, text: str) -> list[tuple]:
    with duckdb.connect(str(database_path(root)), read_only=True) as connection:
        return connection.execute(text).fetchall()


def statuses(root: Path) -> dict[str, str]:
    rows = query(root, "select step, status from toolkit.step_runs where run_id = (select max(run_id) from toolkit.runs)")
    return dict(rows)


def results(root: Path) -> list[tuple]:
    return query(root, "select step, test, severity, status, failing_rows from toolkit.test_results "
                       "where run_id = (select max(run_id) from toolkit.runs) order by step, test")


def physical(root: Path) -> set[str]:
    return {r[0] for r in query(root, "select table_name from information_schema.tables where table_schema = 'toolkit_physical'")}


def no_traceback(err: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err


# == 1. tests reading an ephemeral step ==========================================================

EPHEMERAL_CHAIN = {
    "warehouse/sources.toml": SOURCES,
    "features/pt.sql": "select id from {{ source('app', 'par') }}\n",
    "features/pe.sql": "{{ config(materialized='ephemeral') }} select id from {{ ref('pt') }} where id < 80\n",
    # an ephemeral step over an ephemeral step, with a CTE of its own
    "features/pe2.sql": "{{ config(materialized='ephemeral') }} with x as (select id from {{ ref('pe') }}) select id from x where id < LIMIT\n",
}


def relationships_project(make_project, limit: int, severity: str = "error", name: str = "project") -> Path:
    files = dict(EPHEMERAL_CHAIN, **{
        "features/pe2.sql": EPHEMERAL_CHAIN["features/pe2.sql"].replace("LIMIT", str(limit)),
        "features/c.sql": f"""\
{{{{ config(tests={{"pid": [{{"relationships": {{"to": "pe2", "field": "id", "severity": "{severity}"}}}}]}}) }}}}
select kid, pid from {{{{ source('app', 'kid') }}}}
""",
        "features/reader.sql": "select kid from {{ ref('c') }}\n",
    })
    return make_project(files, source_rows=ROWS, name=name)


def test_relationships_toward_an_ephemeral_step_runs_on_its_inlined_query(make_project, run_cli):
    root = relationships_project(make_project, limit=5)
    code, out, err = run_cli("run", cwd=root)
    assert code == 1, out + err
    no_traceback(err)
    # pe2 has ids 1..4 (pe: < 80 of pt, then < 5): kids 5..10 have no parent
    assert "relationships(pid): 6 failing rows" in out, out
    assert "'pe2'" not in out, out  # the bare KeyError
    assert statuses(root) == {"pt": "success", "pe": "inlined", "pe2": "inlined", "c": "failed", "reader": "skipped"}
    assert results(root) == [("c", "relationships(pid)", "error", "fail", 6)]


def test_relationships_toward_an_ephemeral_step_passes_and_is_audited(make_project, run_cli):
    root = relationships_project(make_project, limit=100, name="passing")
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert statuses(root)["c"] == "success" and statuses(root)["reader"] == "success", out
    assert results(root) == [("c", "relationships(pid)", "error", "pass", 0)]
    # `toolkit test` reads the published tables the ephemeral steps read
    code, out, err = run_cli("test", cwd=root)
    assert code == 0, out + err
    assert results(root) == [("c", "relationships(pid)", "error", "pass", 0)]


def test_warn_relationships_toward_an_ephemeral_step_warns(make_project, run_cli):
    root = relationships_project(make_project, limit=3, severity="warn", name="warned")
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert "warning c: relationships(pid): 8 failing rows" in out, out
    code, out, err = run_cli("test", cwd=root)
    assert code == 0, out + err
    assert results(root) == [("c", "relationships(pid)", "warn", "warn", 8)]


def test_custom_test_reading_an_ephemeral_step_runs_on_its_inlined_query(make_project, run_cli):
    root = make_project({
        "warehouse/sources.toml": SOURCES,
        "features/aa.sql": "{{ config(materialized='ephemeral') }} select id from {{ source('app', 'par') }} where id < 5\n",
        "features/c.sql": "select kid, pid from {{ source('app', 'kid') }}\n",
        "features/tests/orphans.sql": "select c.pid from {{ ref('c') }} c left join {{ ref('aa') }} p on c.pid = p.id where p.id is null\n",
    }, source_rows=ROWS)
    code, out, err = run_cli("run", cwd=root)
    assert code == 1, out + err
    no_traceback(err)
    assert "features/tests/orphans.sql:1: data tests failed on c, not published: custom(orphans): 6 failing rows" in out, out
    assert results(root) == [("c", "custom(orphans)", "error", "fail", 6)]


# == 2. a test the warehouse cannot run ============================================================

DIVIDING = {
    "warehouse/sources.toml": """
[app]
schema = "app"

[app.tables.src]
columns = { g = "bigint", v = "bigint" }
""",
    "features/u.sql": """\
-- tested groups
{{ config(tests={"m": ["not_null"]},
          table_tests=[{"expression": {"expression": "100 // (m - m) > 0", "severity": "SEVERITY"}}]) }}
select g, max(v) as m from {{ source('app', 'src') }} group by g
""",
    "features/r.sql": "select g from {{ ref('u') }}\n",
    "features/other.sql": "select 1 as x\n",
}


@pytest.mark.parametrize("severity", ["warn", "error"])
def test_a_test_that_cannot_run_is_named_and_fails_its_step(make_project, run_cli, severity):
    files = dict(DIVIDING, **{"features/u.sql": DIVIDING["features/u.sql"].replace("SEVERITY", severity)})
    root = make_project(files, source_rows={"app.src": "select i % 4 as g, i as v from range(1, 21) t(i)"}, name=severity)
    code, out, err = run_cli("run", cwd=root)
    assert code == 1, out + err
    no_traceback(err)
    line = next(text for text in out.splitlines() if "failed" in text and " u " in text)
    of = " of severity warn" if severity == "warn" else ""
    assert f"features/u.sql:2: data test expression(100 // (m - m) > 0){of} could not run on u" in line, out
    assert "u is not published: a test that cannot run proves nothing" in line, out
    assert "Division by zero" in line, out
    assert statuses(root) == {"u": "failed", "r": "skipped", "other": "success"}
    assert [name for name in physical(root) if name.startswith("u__")] == []  # its unpublished table is dropped
    assert query(root, "select count(*) from information_schema.tables where table_schema = 'features' and table_name = 'u'") == [(0,)]


def test_a_custom_test_that_cannot_run_names_its_file(make_project, run_cli):
    root = make_project({
        "warehouse/sources.toml": SOURCES,
        "features/c.sql": "select kid, pid from {{ source('app', 'kid') }}\n",
        "features/tests/broken.sql": "-- {{ config(severity='warn') }}\nselect kid from {{ ref('c') }} where 1 // (pid - pid) > 0\n",
    }, source_rows=ROWS)
    code, out, err = run_cli("run", cwd=root)
    assert code == 1, out + err
    no_traceback(err)
    assert "features/tests/broken.sql:2: data test custom(broken) of severity warn could not run on c" in out, out


def test_a_source_test_that_cannot_run_names_the_source(make_project, run_cli):
    sources = SOURCES.replace('columns = { id = "bigint" }', 'columns = { id = "bigint" }\n'
                              'table_tests = [{ expression = { expression = "1 // (id - id) > 0", severity = "warn" } }]', 1)
    root = make_project({"warehouse/sources.toml": sources, "features/pt.sql": "select id from {{ source('app', 'par') }}\n"},
                        source_rows=ROWS)
    code, out, err = run_cli("run", cwd=root)
    assert code == 1, out + err
    no_traceback(err)
    # pt, which reads it, fails (the run goes on); the message starts at the test's line in sources.toml
    assert ("warehouse/sources.toml:7: data test expression(1 // (id - id) > 0) of severity warn could not run on source app.par "
            "(the steps reading it do not run: a test that cannot run proves nothing") in out + err, out + err
