"""Monitoring per environment (state version 7: toolkit.monitoring.env, NULL = prod).

A dev run that changes a feature step scores with prod's version against the version's
shared baselines: its drift is dev's, recorded with env 'dev'. `toolkit monitor` (prod)
reported it as prod's, exit 1; `toolkit monitor --env dev` did not exist. Rows written
before version 7 (env NULL) are prod's, also when read from a state not yet migrated.
On DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from _projects import create_tables, database_path, write, write_files
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from test_models import SCORING_SQL, declaration, execute, model_file, project_files, query

slow = pytest.mark.slow  # model runs in subprocesses (scikit-learn import per run)

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


@slow
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


@slow
def test_an_unknown_or_invalid_environment_is_exit_2(monitored, run_cli):
    root, _, _ = monitored
    code, out, err = run_cli("monitor", "--env", "dev", cwd=root)  # nothing run yet: no environment but prod
    assert code == 2 and "environment 'dev' does not exist on this target" in err, out + err
    code, out, err = run_cli("monitor", cwd=root)
    assert code == 0 and "nothing monitored yet" in out, out + err
    code, out, err = run_cli("monitor", "--env", "Not-An-Env", cwd=root)
    assert code == 2 and "environment name 'Not-An-Env' is not valid" in err and "Traceback" not in err, out + err


# -- every reader of toolkit.monitoring, on a state store ---------------------------------

FIRST, SECOND = datetime(2026, 1, 1, 9), datetime(2026, 1, 2, 9)


@pytest.fixture(params=["duckdb", "postgres"])
def state_engine(request, tmp_path):
    from toolkit import stateschema
    from toolkit.config import Target
    from toolkit.engines import connect

    if request.param == "duckdb":
        target = Target("state", "duckdb", {"path": "state.duckdb"})
    else:
        target = Target("state", "postgres", {"url": request.getfixturevalue("pg_url")})
    engine = connect(target, tmp_path, 5.0)
    stateschema.ensure(engine)
    yield engine
    engine.close()


def monitoring_row(run_id: int, scored_at, feature, metric: str, value: float, status: str, env) -> dict:
    return {"model": "churn", "version": 1, "run_id": run_id, "scored_at": scored_at, "feature": feature, "metric": metric,
            "value": value, "threshold": 0.2, "status": status, "env": env}


def write_rows(engine, rows: list[dict]) -> None:
    from sqlglot import exp

    engine.insert_rows(exp.table_("monitoring", db="toolkit"), rows)


def test_each_reader_reads_one_environment(state_engine):
    """prod's scoring run written before version 7 (env NULL), a dev run's drift and its
    realized metrics of dev's scoring run: `toolkit monitor`, outcomes and the docs site
    each read one environment's rows."""
    from toolkit.docs.collect import _monitoring
    from toolkit.monitoring import outcomes, watch

    write_rows(state_engine, [
        monitoring_row(1, FIRST, "spend", "psi", 0.01, "ok", None),
        monitoring_row(2, SECOND, "spend", "psi", 2.3, "error", "dev"),
        monitoring_row(3, SECOND, None, "roc_auc", 0.8, "ok", "dev"),
    ])
    prod = watch.latest(state_engine)
    assert [(r["run_id"], r["value"], r["env"]) for r in prod] == [(1, 0.01, "prod")]
    dev = watch.latest(state_engine, env="dev")
    assert sorted((r["run_id"], r["metric"], r["env"]) for r in dev) == [(2, "psi", "dev"), (3, "roc_auc", "dev")]
    assert watch.environments(state_engine) == {"prod", "dev"}
    # dev evaluated its scoring run; prod has evaluated nothing (its own run still to do)
    assert outcomes._evaluated(state_engine, "churn", ["roc_auc"], "dev") == {(1, SECOND)}
    assert outcomes._evaluated(state_engine, "churn", ["roc_auc"], "prod") == set()
    shown = _monitoring(state_engine, "churn")
    assert [(r["run_id"], r["value"]) for r in shown["drift"]] == [(1, 0.01)] and shown["scoring_runs"] == 1


def test_a_state_without_the_env_column_is_all_prod(state_engine):
    """A state of version 6 read by a read-only command (monitor, docs): no env column."""
    from toolkit.docs.collect import _monitoring
    from toolkit.monitoring import watch

    state_engine.execute("ALTER TABLE toolkit.monitoring DROP COLUMN env")
    rows = [monitoring_row(1, FIRST, "spend", "psi", 0.01, "ok", None), monitoring_row(2, SECOND, "spend", "psi", 0.02, "ok", None)]
    write_rows(state_engine, [{k: v for k, v in row.items() if k != "env"} for row in rows])
    assert [(r["run_id"], r["env"]) for r in watch.latest(state_engine)] == [(2, "prod")]
    assert watch.latest(state_engine, env="dev") == []
    assert watch.environments(state_engine) == {"prod"}
    assert [r["run_id"] for r in _monitoring(state_engine, "churn")["drift"]] == [2]


def test_a_breach_of_another_environment_says_which():
    from toolkit.monitoring.thresholds import Metric
    from toolkit.monitoring.watch import breach_text

    dev = Metric("churn", 1, 2, SECOND, "tenure_days", "psi", 2.3, threshold=0.2, status="warn", env="dev")
    assert breach_text(dev) == "tenure_days psi 2.3 > 0.2 (env dev)"
    assert breach_text(Metric("churn", 1, 2, SECOND, "tenure_days", "psi", 2.3, threshold=0.2, status="warn", env="prod")) == "tenure_days psi 2.3 > 0.2"
