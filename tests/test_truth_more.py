"""Truths found after the last stop, each shown by a test that failed before its fix.

1. `run --start T` without --end compared T with now in UTC before the project's time_zone
   was known: hours off for a project far from UTC (a valid start refused, a future one
   accepted and then "held already"). Planning compares it with now in the project's zone.
2. A seed column without values (a header-only file) published as DuckDB's NULL type before
   such columns became text kept it: the seed's content hash did not cover the published
   types, so its table was reused until the file changed. It now covers them where they are
   text for that reason: such a table is built again, once, and other seeds keep their hash.
3. A `between` test with a date bound on a number column (or a number bound on a date column)
   failed in the warehouse with its conversion error, exit 1. The column's type is known once
   the step is built: exit 2 at the test's line, naming the type, and nothing is published.
"""

from __future__ import annotations

import pytest

from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

from _projects import cli, execute, make_project, query, run, step_runs, write

pytestmark = pytest.mark.slow  # end-to-end runs

NOW = "2024-01-05T12:00:00+00:00"  # 02:00 on January 6 in Kiritimati (+14), 04:00 on January 5 in Los Angeles (-8)
EVENTS = '[app]\nschema = "app"\n\n[app.tables.ev]\ncolumns = { id = "bigint", ts = "timestamp" }\n'
INC = """\
{{ config(materialized="incremental", time_column="ts") }}
select id, ts from {{ source("app", "ev") }}
"""


def zoned_project(tmp_path, zone: str):
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": EVENTS, "features/inc.sql": INC},
                        "create schema app; create table app.ev as select 1::bigint as id, timestamp '2024-01-04 10:00' as ts")
    config = root / "toolkit.toml"
    config.write_text(config.read_text().replace("dialect", f'time_zone = "{zone}"\ndialect', 1))
    return root


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_start_before_now_in_the_projects_time_zone_is_accepted(tmp_path, monkeypatch, command):
    """01:00 on January 6 is an hour ago in Kiritimati; it was refused (after 12:00 UTC)."""
    monkeypatch.setenv("TOOLKIT_NOW", NOW)
    root = zoned_project(tmp_path, "Pacific/Kiritimati")
    assert cli("run", "-p", str(root)).code == 0
    execute(root, "insert into app.ev values (2, timestamp '2024-01-06 01:30')")
    done = cli(command, "-p", str(root), "--start", "2024-01-06T01:00")
    assert done.code == 0, done
    if command == "plan":
        assert "missing interval(s): 2024-01-06 01:00..2024-01-06 02:00" in done.out, done
    else:
        assert query(root, "select id from features.inc order by id") == [(1,), (2,)]


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_start_after_now_in_the_projects_time_zone_exits_2(tmp_path, monkeypatch, command):
    """06:00 on January 5 is two hours ahead in Los Angeles; it was accepted (before 12:00 UTC)
    and the plan said the step held 06:00 .. 04:00 already."""
    monkeypatch.setenv("TOOLKIT_NOW", NOW)
    root = zoned_project(tmp_path, "America/Los_Angeles")
    assert cli("run", "-p", str(root)).code == 0
    done = cli(command, "-p", str(root), "--start", "2024-01-05T06:00")
    assert done.code == 2, done
    assert "--start 2024-01-05T06:00 is not before now (2024-01-05 04:00 in America/Los_Angeles)" in done.err, done
    assert len(done.err.strip().splitlines()) <= 2 and "Traceback" not in done.err, done.err


# -- 2. a seed published with NULL-typed columns -----------------------------------------------

SEEDS = {
    "warehouse/seeds/empty.csv": "id,x\n",  # no rows: no column has a value
    "warehouse/seeds/half.csv": "id,x\n1,\n2,\n",  # x has none
    "warehouse/seeds/full.csv": "id,x\n1,a\n",
}


def publish_as_before(root, monkeypatch):
    """A run of the toolkit before valueless seed columns were text: its NULL-typed tables,
    and its state (the content hash of the file and declared types only)."""
    import hashlib
    import json

    from toolkit import seeds
    from toolkit.compiler import compile_project
    from toolkit.execute import run as run_project

    with monkeypatch.context() as old:
        old.setattr(seeds, "_valueless_as_text", lambda table, *seed: table)
        old.setattr(seeds, "column_hashes", lambda seed: None)  # one pseudo column then
        old.setattr(seeds, "content_hash", lambda seed, header: hashlib.sha256(
            seed.path.read_bytes() + json.dumps(seed.column_types, sort_keys=True).encode()).hexdigest())
        assert run_project(compile_project(root)).ok


def column_types(root) -> dict[str, str]:
    return dict(query(root, "select table_name || '.' || column_name, replace(data_type, '\"', '') from information_schema.columns "
                            "where table_schema = 'raw'"))


def test_a_seed_published_with_null_typed_columns_is_published_as_text_once(tmp_path, monkeypatch):
    root = make_project(tmp_path / "proj", SEEDS)
    publish_as_before(root, monkeypatch)
    assert column_types(root)["empty.x"] == "NULL" and column_types(root)["half.x"] == "NULL"  # as it was
    first = run(root)
    assert first.code == 0, first
    types = column_types(root)
    assert (types["empty.id"], types["empty.x"], types["half.x"], types["half.id"]) == ("VARCHAR", "VARCHAR", "VARCHAR", "BIGINT")
    actions = {step: row["action"] for step, row in step_runs(root).items()}
    assert actions == {"empty": "rebuild", "half": "rebuild", "full": "reuse"}, actions  # full's hash is as it was
    second = run(root)
    assert second.code == 0, second
    assert {row["action"] for row in step_runs(root).values()} == {"reuse"}  # once, not every run


# -- 3. a between bound of another kind than its column -------------------------------------------

BOUNDED = """\
{{{{ config({materialized},
           tests={{"{column}": [{{"between": {{"min": {bound}}}}}]}}) }}}}
select 1 as k, {value} as {column}
"""


def bounded(column: str, bound: str, value: str, materialized: str) -> dict[str, str]:
    return {"features/bounded.sql": BOUNDED.format(materialized=materialized, column=column, bound=bound, value=value)}


# an incremental step's update is tested inside its transaction (in place), rolled back
@pytest.mark.parametrize("materialized", ['materialized="table"', 'materialized="incremental", unique_key="k"'])
@pytest.mark.parametrize("column, good, bad, value, phrase", [
    ("total", "0", '"2024-01-01"', "2", "min '2024-01-01' is a date, but column 'total' is int32, not a date or timestamp"),
    ("day", '"2024-01-01"', "0", "date '2024-06-02'", "min 0 is a number, but column 'day' is date32[day], not a number"),
])
def test_a_between_bound_of_another_kind_than_its_column_exits_2_and_publishes_nothing(
        tmp_path, materialized, column, good, bad, value, phrase):
    """It failed with exit 1: "Conversion Error: Could not convert string '2024-01-01' to INT32",
    "Binder Error: Cannot compare values of type DATE and type INTEGER_LITERAL"."""
    first = "1" if column == "total" else "date '2024-06-01'"
    root = make_project(tmp_path / "proj", bounded(column, good, first, materialized))
    assert run(root).code == 0
    before = query(root, "select * from features.bounded")
    for data in (first, value):  # only the test changed (the published table re-tested), and both
        write(root, bounded(column, bad, data, materialized))
        done = cli("run", "-p", str(root))
        said = done.out + done.err
        assert done.code == 2 and "Traceback" not in said, done
        assert f"features/bounded.sql:2: tests: between({column}): {phrase}" in said, done
        assert query(root, "select * from features.bounded") == before


@pytest.mark.parametrize("column, good, bound, value, phrase", [
    ("amount", "0", '"2024-01-01"', "2.5::numeric", "column 'amount' is double, not a date or timestamp"),
    ("at", '"2024-01-01"', "0", "timestamptz '2024-06-01 10:00+00'", "column 'at' is timestamp[us, tz=UTC], not a number"),
])
def test_a_between_bound_of_another_kind_on_postgres_exits_2_and_publishes_nothing(tmp_path, monkeypatch, pg_url,  # noqa: F811
                                                                                   column, good, bound, value, phrase):
    """PostgreSQL's NUMERIC is a number here too (read as double), its timestamptz a timestamp."""
    from test_environments import PG_CONFIG

    monkeypatch.setenv("TOOLKIT_ENVS_PG_URL", pg_url)
    root = make_project(tmp_path / "proj", {"toolkit.toml": PG_CONFIG, **bounded(column, good, value, 'materialized="table"')})
    assert run(root).code == 0
    before = pg_query(pg_url, f"select {column}::text from features.bounded")
    write(root, bounded(column, bound, value.replace("2", "3", 1), 'materialized="table"'))
    done = cli("run", "-p", str(root))
    said = done.out + done.err
    assert done.code == 2 and f"features/bounded.sql:2: tests: between({column}): min" in said and phrase in said, done
    assert pg_query(pg_url, f"select {column}::text from features.bounded") == before


def test_a_between_without_a_bound_is_refused_at_compile(tmp_path):
    """{"min": None} passed as a bound: the run failed with "not enough values to unpack", exit 1."""
    root = make_project(tmp_path / "proj", bounded("total", "none", "1", 'materialized="table"'))
    done = cli("compile", "-p", str(root))
    assert done.code == 2 and "features/bounded.sql:1: tests: between needs min and/or max" in done.err, done
