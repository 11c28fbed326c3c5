"""Monitoring per environment (state version 7: toolkit.monitoring.env, NULL = prod).

A dev run that changes a feature step scores with prod's version against the version's
shared baselines: its drift is dev's, recorded with env 'dev'. `toolkit monitor` (prod)
reported it as prod's, exit 1; `toolkit monitor --env dev` did not exist. Rows written
before version 7 (env NULL) are prod's, also when read from a state not yet migrated.
On DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import json

import pytest

from _projects import create_tables, database_path, write, write_files
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from test_models import SCORING_SQL, declaration, execute, model_file, project_files, query

pytestmark = pytest.mark.slow  # model runs in subprocesses (scikit-learn import per run)

MONITORS = 'monitors={"psi": 0.2, "spend": {"psi": {"max": 0.2, "severity": "error"}}}'
# A dev-only change to the scoring step: every spend moves far beyond what prod scored.
DRIFTED_SCORING = 'select customer_id, segment, tenure, spend + 1000 as spend from {{ source("raw", "prospects") }}\n'

# The training customers, and prospects drawn exactly like them (no drift in prod), per engine.
DUCKDB_ROWS = {
    "raw.customers": """
        select i::bigint as customer_id, ['a', 'b', 'c'][1 + i % 3] as segment, (i * 7 % 60)::integer as tenure,
               round((i * 37 % 1000) / 10.0, 2)::double as spend,
               (case when (i * 7 % 60) < 20 and (i * 13 % 10) < 8 then 1 when (i * 13 % 10) < 1 then 1 else 0 end)::integer as churned,
               0.0::double as future_spend
        from range(0, 300) t(i)""",
    "raw.prospects": """
        select i::bigint as customer_id, ['a', 'b', 'c'][1 + i % 3] as segment, (i * 7 % 60)::integer as tenure,
               round((i * 37 % 1000) / 10.0, 2)::double as spend
        from range(0, 300) t(i)""",
}
POSTGRES_ROWS = {
    "raw.customers": """
        select i::bigint as customer_id, (array['a', 'b', 'c'])[1 + i % 3] as segment, (i * 7 % 60)::integer as tenure,
               round((i * 37 % 1000) / 10.0, 2)::float8 as spend,
               (case when (i * 7 % 60) < 20 and (i * 13 % 10) < 8 then 1 when (i * 13 % 10) < 1 then 1 else 0 end)::integer as churned,
               0.0::float8 as future_spend
        from generate_series(0, 299) t(i)""",
    "raw.prospects": """
        select i::bigint as customer_id, (array['a', 'b', 'c'])[1 + i % 3] as segment, (i * 7 % 60)::integer as tenure,
               round((i * 37 % 1000) / 10.0, 2)::float8 as spend
        from generate_series(0, 299) t(i)""",
}
PG_CONFIG = 'name = "test"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "${MONITOR_ENVS_PG_URL}"\n'


@pytest.fixture(params=["duckdb", "postgres"])
def monitored(request, tmp_path, monkeypatch):
    """A monitored churn project on DuckDB or PostgreSQL, not run yet: (root, read(sql), change(sql))."""
    root = tmp_path / "p"
    files = project_files(**{"models/churn.py": model_file(declared=declaration() + ", " + MONITORS)})
    if request.param == "duckdb":
        write_files(root, files)
        create_tables(database_path(root), DUCKDB_ROWS)
        return root, lambda sql: query(root, sql), lambda sql: execute(root, sql)
    url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("MONITOR_ENVS_PG_URL", url)
    write_files(root, {**files, "toolkit.toml": PG_CONFIG})
    pg_query(url, "create schema raw")
    for name, select in POSTGRES_ROWS.items():
        pg_query(url, f"create table {name} as {select}")
    return root, lambda sql: pg_query(url, sql), lambda sql: pg_query(url, sql)


def as_version_6(change) -> None:
    """The state as the toolkit before version 7 left it: no env columns, stamped 6."""
    change("alter table toolkit.monitoring drop column env")
    change("alter table toolkit.model_status_history drop column env")
    change("delete from toolkit.schema_version where version > 6")


def monitor_events(run_cli, root, *args: str) -> tuple[int, list[dict]]:
    code, out, err = run_cli("monitor", *args, "--log-format", "json", cwd=root)
    assert "Traceback" not in out + err, out + err
    return code, [json.loads(line) for line in out.splitlines()]


def test_monitor_reports_one_environment_and_old_rows_are_prod(monitored, run_cli):
    root, read, change = monitored
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    prod_rows = read("select count(*) from toolkit.monitoring")[0][0]
    assert prod_rows > 0 and read("select distinct env from toolkit.monitoring") == [("prod",)]
    # The state of a toolkit before version 7: `toolkit monitor` (read-only, no migration) reads it as prod's.
    as_version_6(change)
    code, events = monitor_events(run_cli, root)
    assert code == 0 and events[-1] == {"event": "monitor_summary", "env": "prod", "metrics": events[-1]["metrics"], "breaches": 0}
    assert events[-1]["metrics"] > 0 and all(e["env"] == "prod" for e in events[:-1])
    code, out, err = run_cli("monitor", "--env", "dev", cwd=root)
    assert code == 2 and "environment 'dev' does not exist on this target" in err and "Traceback" not in err, out + err

    write(root, {"features/scoring.sql": DRIFTED_SCORING})
    code, out, err = run_cli("run", "--env", "dev", cwd=root)  # migrates the state to version 7, then scores with version 1
    assert code == 1, out + err  # published, but spend's psi is a breach of severity error
    assert "monitoring error: model churn: spend psi" in out and "(env dev)" in out, out
    envs = dict(read("select coalesce(env, 'null'), count(*) from toolkit.monitoring group by 1"))
    assert envs["null"] == prod_rows and envs["dev"] > 0 and "prod" not in envs  # rows before version 7 kept as they were

    code, out, err = run_cli("monitor", cwd=root)  # prod: the dev run's drift is not prod's
    assert code == 0 and "0 in breach (env prod)" in out, out + err
    code, events = monitor_events(run_cli, root, "churn")
    assert code == 0 and events[-1]["metrics"] > 0 and {e["run_id"] for e in events[:-1]} == {1}
    code, out, err = run_cli("monitor", "--env", "dev", cwd=root)
    assert code == 1 and "spend" in out and "(env dev)" in out, out + err
    code, events = monitor_events(run_cli, root, "--env", "dev")
    assert code == 1 and events[-1]["env"] == "dev" and all(e["env"] == "dev" for e in events[:-1])
    spend = next(e for e in events[:-1] if e["feature"] == "spend" and e["metric"] == "psi")
    assert spend["status"] == "error" and spend["value"] > 1 and spend["run_id"] == 2

    # A prod run (the change not taken, a new prospect: prod scores again) writes 'prod',
    # and prod still does not see dev's drift.
    write(root, {"features/scoring.sql": SCORING_SQL})
    change("insert into raw.prospects values (300, 'a', 7, 1.0)")
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert read("select count(*) from toolkit.monitoring where env = 'prod'")[0][0] > 0
    code, out, err = run_cli("monitor", cwd=root)
    assert code == 0, out + err


def test_an_unknown_or_invalid_environment_is_exit_2(monitored, run_cli):
    root, _, _ = monitored
    code, out, err = run_cli("monitor", "--env", "dev", cwd=root)  # nothing run yet: no environment but prod
    assert code == 2 and "environment 'dev' does not exist on this target" in err, out + err
    code, out, err = run_cli("monitor", cwd=root)
    assert code == 0 and "nothing monitored yet" in out, out + err
    code, out, err = run_cli("monitor", "--env", "Not-An-Env", cwd=root)
    assert code == 2 and "environment name 'Not-An-Env' is not valid" in err and "Traceback" not in err, out + err
