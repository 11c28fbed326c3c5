"""Environments on one DuckDB file: `run --env dev` builds only what differs from prod,
`promote dev prod` switches prod to dev's tables without recomputing, `rollback prod`
switches back; old state rows are migrated to prod."""

from __future__ import annotations

import pytest

from _projects import cli, execute, make_project, query, rows, run, scalar, statuses, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

SOURCES = """
[app]
schema = "app"

[app.tables.orders]
columns = { order_id = "bigint", amount = "double" }
"""

STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/base.sql": "select order_id, amount from {{ source('app', 'orders') }}",
    "features/doubled.sql": "select order_id, amount * 2 as amount2 from {{ ref('base') }}",
    "features/report.sql": "{{ config(materialized='view') }}\nselect order_id, amount2 from {{ ref('doubled') }}",
    "features/other.sql": "select count(*) as n from {{ ref('base') }}",
}
SETUP = "create schema app; create table app.orders as select * from (values (1, 1.0), (2, 2.0)) t(order_id, amount);"


@pytest.fixture
def project(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    return root


def actions(root, run_id=None) -> dict[str, str]:
    run_id = run_id or scalar(root, "select max(run_id) from toolkit.runs")
    return dict(query(root, f"select step, action from toolkit.step_runs where run_id = {run_id}"))


def test_dev_builds_only_what_differs_and_publishes_into_its_own_schema(project):
    prod_before = rows(project, "features.report")
    write(project, {"features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"})
    planned = cli("plan", "-p", str(project), "--env", "dev")
    assert planned.code == 0 and "plan for env dev" in planned.out, planned
    result = run(project, "--env", "dev")
    assert result.code == 0, result
    assert {s for s, a in actions(project).items() if a != "reuse"} == {"doubled", "report"}
    assert rows(project, "features__dev.report") == [(1, 3.0), (2, 6.0)]
    assert rows(project, "features.report") == prod_before  # prod untouched
    assert rows(project, "features__dev.other") == rows(project, "features.other")
    shared = query(project, "select d.physical_name = p.physical_name from toolkit.published d join toolkit.published p "
                            "on d.step = p.step and d.env = 'dev' and p.env = 'prod' where d.step = 'base'")
    assert shared == [(True,)]  # dev reads prod's physical table for the unchanged step
    again = run(project, "--env", "dev")
    assert again.code == 0 and set(statuses(project).values()) == {"reused"}


def test_promote_and_rollback_switch_prod_without_rebuilding(project):
    write(project, {"features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"})
    assert run(project, "--env", "dev").code == 0
    last_run = scalar(project, "select max(run_id) from toolkit.runs")
    promoted = cli("promote", "dev", "prod", "-p", str(project))
    assert promoted.code == 0, promoted
    assert rows(project, "features.report") == [(1, 3.0), (2, 6.0)]
    assert scalar(project, "select max(run_id) from toolkit.runs") == last_run  # nothing ran, nothing built
    assert scalar(project, "select count(*) from toolkit.step_runs where run_id > ? and action in ('build', 'rebuild')", [last_run]) == 0
    # prod now equals dev: a prod run with the edited project reuses everything
    assert run(project).code == 0 and set(statuses(project).values()) == {"reused"}
    back = cli("rollback", "prod", "-p", str(project))
    assert back.code == 0, back
    assert rows(project, "features.report") == [(1, 2.0), (2, 4.0)]
    assert rows(project, "features__dev.report") == [(1, 3.0), (2, 6.0)]
    nothing = cli("rollback", "prod", "-p", str(project))
    assert nothing.code == 2 and "no earlier state" in nothing.err, nothing


@pytest.mark.parametrize("args, message", [
    (("promote", "staging", "prod"), "environment 'staging' does not exist"),
    (("promote", "Dev!", "prod"), "environment name 'Dev!' is not valid"),
    (("run", "--env", "Prod"), "environment name 'Prod' is not valid"),
    (("plan", "--env", "dev", "--start", "2024-02-01", "--end", "2024-01-01"), "--start 2024-02-01 is not before --end 2024-01-01"),
    (("run", "--start", "yesterday"), "--start 'yesterday' is not a date"),
    (("plan", "--start", "2999-01-01"), "--start 2999-01-01 is not before now"),  # the plan said 'holds 2999-01-01 .. <now> already'
    (("gc", "--retention", "week"), "--retention 'week' is not a duration"),
])
def test_bad_input_is_one_line_and_exit_2(project, args, message):
    result = cli(*args, "-p", str(project))
    assert result.code == 2, result
    assert message in result.err and len(result.err.strip().splitlines()) == 1, result.err


def test_state_of_an_older_toolkit_is_migrated_to_prod(project):
    execute(project, "alter table toolkit.published drop column env")
    assert cli("plan", "-p", str(project)).code == 0  # plan reads the old layout, writes nothing
    result = run(project)
    assert result.code == 0, result
    assert query(project, "select distinct env from toolkit.published") == [("prod",)]
    assert set(statuses(project).values()) == {"reused"}


INCREMENTAL = {
    "warehouse/sources.toml": SOURCES,
    "features/inc.sql": "{{ config(materialized='incremental', unique_key='order_id') }}\n"
                        "select order_id, amount from {{ source('app', 'orders') }}",
}


def test_an_incremental_table_two_environments_publish_is_copied_before_an_update(tmp_path):
    """After `promote dev prod` both publish one physical table: a dev run's update in
    place showed its new rows in prod (and a prod run's in dev), while prod's state still
    named the run before."""
    root = make_project(tmp_path / "proj", INCREMENTAL, SETUP)
    assert run(root).code == 0
    # dev reuses prod's table of inc (its code is prod's); a step of its own makes the promote save a state
    write(root, {"features/extra.sql": "select 1 as one"})
    assert run(root, "--env", "dev").code == 0
    assert cli("promote", "dev", "prod", "-p", str(root)).code == 0
    execute(root, "insert into app.orders values (3, 3.0)")
    assert run(root, "--env", "dev").code == 0
    assert rows(root, "features__dev.inc") == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert rows(root, "features.inc") == [(1, 1.0), (2, 2.0)]
    execute(root, "insert into app.orders values (4, 4.0)")
    assert run(root).code == 0
    assert rows(root, "features.inc") == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]
    assert rows(root, "features__dev.inc") == [(1, 1.0), (2, 2.0), (3, 3.0)]
    # prod's table before the promote is kept for rollback, untouched by prod's updates
    assert cli("rollback", "prod", "-p", str(root)).code == 0
    assert rows(root, "features.inc") == [(1, 1.0), (2, 2.0)]


PG_CONFIG = """\
name = "proj"
dialect = "duckdb"
target = "pg"

[targets.pg]
engine = "postgres"
url = "${TOOLKIT_ENVS_PG_URL}"
"""


@pytest.fixture(params=["duckdb", "postgres"])
def engine_project(request, tmp_path, monkeypatch):
    """The STEPS project run once in prod, on DuckDB or on PostgreSQL: (root, read(sql) -> rows)."""
    if request.param == "duckdb":
        root = make_project(tmp_path / "proj", STEPS, SETUP)
        read = lambda sql: query(root, sql)  # noqa: E731
    else:
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("TOOLKIT_ENVS_PG_URL", url)
        root = make_project(tmp_path / "proj", {**STEPS, "toolkit.toml": PG_CONFIG})
        pg_query(url, "create schema app")
        pg_query(url, "create table app.orders as select * from (values (1::bigint, 1.0::float8), (2, 2.0)) t(order_id, amount)")
        read = lambda sql: pg_query(url, sql)  # noqa: E731
    assert run(root).code == 0
    return root, read


def published_views(read, schema: str) -> list[str]:
    return sorted(name for (name,) in read(f"select table_name from information_schema.tables where table_schema = '{schema}'"))


def test_promote_removes_what_dev_deleted_and_rollback_brings_it_back(engine_project):
    """A step deleted (or renamed) in dev stayed in prod after `promote dev prod`, view and
    row: prod showed a step dev no longer has. A step dev did not select keeps prod's."""
    root, read = engine_project
    (root / "features/other.sql").unlink()
    write(root, {"features/renamed.sql": "select order_id from {{ ref('base') }}"})
    (root / "features/report.sql").rename(root / "features/report_v2.sql")
    assert run(root, "--env", "dev", "--select", "renamed report_v2").code == 0
    promoted = cli("promote", "dev", "prod", "-p", str(root))
    assert promoted.code == 0, promoted
    assert "2 deleted in dev removed (other, report)" in promoted.out, promoted
    assert published_views(read, "features") == ["base", "doubled", "renamed", "report_v2"]  # doubled: not selected in dev
    assert sorted(s for (s,) in read("select step from toolkit.published where env = 'prod'")) == ["base", "doubled", "renamed", "report_v2"]
    assert read("select count(*) from features.report_v2") == [(2,)]
    again = cli("promote", "dev", "prod", "-p", str(root))  # nothing left to remove: nothing to promote, no state saved
    assert again.code == 0 and "removed" not in again.out and "nothing to promote" in again.out, again
    back = cli("rollback", "prod", "-p", str(root))
    assert back.code == 0 and "other" in back.out and "report" in back.out, back
    assert published_views(read, "features") == ["base", "doubled", "other", "report"]
    assert sorted(s for (s,) in read("select step from toolkit.published where env = 'prod'")) == ["base", "doubled", "other", "report"]
    assert read("select n from features.other") == [(2,)] and read("select count(*) from features.report") == [(2,)]


def test_rollback_undoes_a_promote_into_a_new_environment(engine_project):
    """`promote prod staging` into an environment that published nothing said 'toolkit
    rollback staging undoes it', but saved no state: the rollback said there was none."""
    root, read = engine_project
    promoted = cli("promote", "prod", "staging", "-p", str(root))
    assert promoted.code == 0 and "toolkit rollback staging undoes it" in promoted.out, promoted
    assert published_views(read, "features__staging") == ["base", "doubled", "other", "report"]
    back = cli("rollback", "staging", "-p", str(root))
    assert back.code == 0 and "4 step(s) changed" in back.out, back
    assert published_views(read, "features__staging") == []
    assert read("select count(*) from toolkit.published where env = 'staging'") == [(0,)]
    assert published_views(read, "features") == ["base", "doubled", "other", "report"]  # prod untouched
    assert run(root, "--env", "staging").code == 0  # and it can be built again
    assert published_views(read, "features__staging") == ["base", "doubled", "other", "report"]
    nothing = cli("rollback", "staging", "-p", str(root))
    assert nothing.code == 2 and "no earlier state" in nothing.err, nothing


def test_a_step_back_in_the_project_is_not_removed_by_promote_even_if_the_run_failed(project):
    """Deleted in dev, then back (broken) in dev: the failed run kept dev's record of the
    deletion, and the promote unpublished prod's step that dev's project has again."""
    (project / "features/other.sql").unlink()
    assert run(project, "--env", "dev").code == 0
    write(project, {"features/other.sql": "select cast('x' as integer) as n from {{ ref('base') }}"})
    assert run(project, "--env", "dev").code == 1
    promoted = cli("promote", "dev", "prod", "-p", str(project))
    assert promoted.code == 0 and "removed" not in promoted.out, promoted
    assert rows(project, "features.other") == [(2,)]


def test_promoting_a_table_dropped_by_hand_is_exit_2_and_changes_nothing(project):
    """A physical table dev publishes, dropped outside toolkit: the promote ended in an
    internal error (exit 1) naming a catalog exception."""
    write(project, {"features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"})
    assert run(project, "--env", "dev").code == 0
    physical = scalar(project, "select physical_name from toolkit.published where env = 'dev' and step = 'doubled'")
    execute(project, f"drop view features__dev.report; drop table toolkit_physical.{physical} cascade")
    before = rows(project, "features.report")
    promoted = cli("promote", "dev", "prod", "-p", str(project))
    assert promoted.code == 2 and f"physical table {physical} of step doubled is missing" in promoted.err, promoted
    assert "internal error" not in promoted.err and len(promoted.err.strip().splitlines()) == 1, promoted
    assert rows(project, "features.report") == before
    assert cli("rollback", "prod", "-p", str(project)).code == 2  # nothing was saved
    assert run(project, "--env", "dev").code == 0  # builds it again
    assert cli("promote", "dev", "prod", "-p", str(project)).code == 0
    assert rows(project, "features.report") == [(1, 3.0), (2, 6.0)]


def test_promote_and_rollback_move_a_step_whose_published_name_changed(engine_project):
    """A step published under a new alias in dev: the promote left prod's old view in place,
    recorded nowhere; the rollback then left the new one and said '0 step(s) changed'."""
    root, read = engine_project
    write(root, {"features/other.sql": "{{ config(alias='other_count') }}\nselect count(*) as n from {{ ref('base') }}"})
    assert run(root, "--env", "dev").code == 0
    assert cli("promote", "dev", "prod", "-p", str(root)).code == 0
    assert published_views(read, "features") == ["base", "doubled", "other_count", "report"]
    back = cli("rollback", "prod", "-p", str(root))
    assert back.code == 0 and "1 step(s) changed (other)" in back.out, back
    assert published_views(read, "features") == ["base", "doubled", "other", "report"]
    assert read("select n from features.other") == [(2,)]


def test_rollback_recreates_a_schema_dropped_since_the_promote(project):
    """The promote moved every view out of a schema, someone dropped it: the rollback
    ended in an internal error (exit 1) instead of restoring the views."""
    for name in ("base", "doubled", "other", "report"):
        text = (project / f"features/{name}.sql").read_text()
        write(project, {f"features/{name}.sql": "{{ config(schema='marts') }}\n" + text})
    assert run(project, "--env", "dev").code == 0
    assert cli("promote", "dev", "prod", "-p", str(project)).code == 0
    execute(project, "drop schema features")
    back = cli("rollback", "prod", "-p", str(project))
    assert back.code == 0, back
    assert rows(project, "features.report") == [(1, 2.0), (2, 4.0)]
    assert query(project, "select count(*) from information_schema.tables where table_schema = 'marts'") == [(0,)]


def test_a_view_of_someone_s_blocking_the_promote_is_named_and_nothing_changes(tmp_path, pg_url, monkeypatch):
    """PostgreSQL refuses to drop a view another view reads: the promote that removes a step
    dev deleted ended in an internal error (exit 1)."""
    monkeypatch.setenv("TOOLKIT_ENVS_PG_URL", pg_url)
    root = make_project(tmp_path / "proj", {**STEPS, "toolkit.toml": PG_CONFIG})
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.orders as select * from (values (1::bigint, 1.0::float8), (2, 2.0)) t(order_id, amount)")
    assert run(root).code == 0
    pg_query(pg_url, "create view public.mine as select * from features.other")
    (root / "features/other.sql").unlink()
    assert run(root, "--env", "dev").code == 0
    promoted = cli("promote", "dev", "prod", "-p", str(root))
    assert promoted.code == 2, promoted
    assert ("cannot promote dev -> prod: cannot drop view features.other because other objects depend on it "
            "(view mine depends on view features.other)") in promoted.err, promoted
    # PostgreSQL's words alone: not the driver's wrapper, nor its "Use DROP ... CASCADE" hint
    assert not any(word in promoted.err for word in ("libpq", "IO:", "Failed to execute", "SQLSTATE", "CASCADE")), promoted
    assert "internal error" not in promoted.err and len(promoted.err.strip().splitlines()) == 1, promoted
    assert sorted(s for (s,) in pg_query(pg_url, "select step from toolkit.published where env = 'prod'")) == ["base", "doubled", "other", "report"]
    assert pg_query(pg_url, "select n from public.mine") == [(2,)]
    pg_query(pg_url, "drop view public.mine")
    assert cli("promote", "dev", "prod", "-p", str(root)).code == 0


def test_promoting_a_dev_older_than_prod_is_refused_rather_than_putting_old_data_back(project):
    """dev reused prod's table of an unchanged step; prod ran on new data since: the promote
    published dev's (prod's older) table again, and prod's counts went back a run."""
    write(project, {"features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"})
    assert run(project, "--env", "dev").code == 0
    execute(project, "insert into app.orders values (3, 3.0)")
    write(project, {"features/doubled.sql": STEPS["features/doubled.sql"]})
    assert run(project).code == 0
    assert rows(project, "features.other") == [(3,)]
    promoted = cli("promote", "dev", "prod", "-p", str(project))
    assert promoted.code == 2 and "prod changed since dev was last run" in promoted.err, promoted
    assert len(promoted.err.strip().splitlines()) == 1 and rows(project, "features.other") == [(3,)]
    write(project, {"features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"})
    assert run(project, "--env", "dev").code == 0
    assert cli("promote", "dev", "prod", "-p", str(project)).code == 0
    assert rows(project, "features.other") == [(3,)] and rows(project, "features.report") == [(1, 3.0), (2, 6.0), (3, 9.0)]
    assert cli("promote", "dev", "prod", "-p", str(project)).code == 0  # again: nothing newer in prod


def test_a_prod_rebuild_of_the_same_data_does_not_make_dev_older(project):
    """prod rebuilt dev's reused steps into new tables holding the same rows (same data
    fingerprint: a full refresh here; the demo's incremental step on every run): the promote
    was refused as if prod had newer data, after every prod run."""
    write(project, {"features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"})
    assert run(project, "--env", "dev").code == 0
    assert run(project, "--full-refresh").code == 0
    promoted = cli("promote", "dev", "prod", "-p", str(project))
    assert promoted.code == 0, promoted
    assert rows(project, "features.other") == [(2,)] and rows(project, "features.report") == [(1, 3.0), (2, 6.0)]


def test_promote_after_a_failed_dev_run_warns_and_a_successful_one_does_not(project):
    """Runs record the environment they built (state version 7): promoting an environment
    whose last run failed said nothing, though prod then got a mix of that run's tables
    and older ones."""
    write(project, {"features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"})
    assert run(project, "--env", "dev").code == 0
    clean = cli("promote", "dev", "prod", "-p", str(project))
    assert clean.code == 0 and "warning" not in clean.out, clean
    write(project, {"features/other.sql": "select cast('x' as integer) as n from {{ ref('base') }}"})
    assert run(project, "--env", "dev").code == 1
    failed = scalar(project, "select max(run_id) from toolkit.runs")
    assert query(project, f"select env, status from toolkit.runs where run_id = {failed}") == [("dev", "failed")]
    promoted = cli("promote", "dev", "prod", "-p", str(project))
    assert promoted.code == 0, promoted
    # prod reads dev's tables already (the promote above): one message saying both, not a warning that prod "now has" them
    assert f"nothing to promote: dev's last run (run {failed}) did not succeed (failed), and prod already reads" in promoted.out, promoted
    assert "warning" not in promoted.out, promoted
    assert rows(project, "features.other") == [(2,)]  # dev's last good table of the failed step
