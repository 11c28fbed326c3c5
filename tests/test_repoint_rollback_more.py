"""A view `toolkit run --select X` re-points (it reads X, which the run rebuilds) keeps the
SQL it was published with when its file was edited since: the run publishes what the user
selected, not the view's unpublished edits, and `plan`/`run` say the edits wait for a run
that selects the view."""

from __future__ import annotations

import json

import pytest

from _projects import cli, cli_tuple, make_project, query, rows, run, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from test_repoint_small import BY_USER, SETUP, SOURCES

pytestmark = pytest.mark.slow  # end-to-end runs

V_USER = "{{ config(materialized='view') }}\nselect user_id, n, amt from {{ ref('by_user') }}"
V_USER_EDITED = "{{ config(materialized='view') }}\nselect user_id, n, amt * 100 as amt from {{ ref('by_user') }}"
STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/by_user.sql": BY_USER.format(""),
    "features/v_user.sql": V_USER,
    "features/vv_user.sql": "{{ config(materialized='view') }}\nselect user_id, amt from {{ ref('v_user') }}",
}


def amounts(root, relation: str) -> list[tuple]:
    return rows(root, f"(select user_id, amt from {relation})")


def plan_lines(root, *args: str) -> dict[str, str]:
    planned = cli("plan", "-p", str(root), *args)
    assert planned.code == 0, planned
    return {line.split()[0]: line for line in planned.out.splitlines()[:-1] if line.strip()}


def published_sql(root, step: str) -> str:
    return query(root, "select sql from toolkit.published where step = ? and env = 'prod'", [step])[0][0]


def test_a_re_pointed_view_with_unpublished_edits_keeps_its_published_sql(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    before = amounts(root, "features.by_user")
    sql_before = published_sql(root, "v_user")
    write(root, {"features/by_user.sql": BY_USER.format(" * 2"), "features/v_user.sql": V_USER_EDITED})

    lines = plan_lines(root, "--select", "by_user")
    assert "re-point: reads by_user" in lines["v_user"], lines
    assert "published SQL kept" in lines["v_user"] and "edits (SQL changed: ~ column amt)" in lines["v_user"], lines
    assert "warning:" in lines and "v_user" in lines["warning:"], lines
    assert "edits" not in lines["vv_user"], lines  # re-pointed too, and unedited: nothing more to say
    events = cli("plan", "-p", str(root), "--select", "by_user", "--log-format", "json").events()
    kinds = {e["step"]: [r["kind"] for r in e["reasons"]] for e in events if e.get("event") == "plan"}
    assert kinds["v_user"] == ["repoint", "unpublished_edits"], events
    assert any(e.get("event") == "warning" and e.get("step") == "v_user" and e.get("unpublished_edits") for e in events), events

    done = run(root, "--select", "by_user")
    assert done.code == 0, done
    assert "v_user has unpublished edits" in done.out + done.err, done
    now = amounts(root, "features.by_user")
    assert now == [(u, a * 2) for u, a in before]
    # re-pointed at the new table with the SQL it was published with: not the file's * 100
    assert amounts(root, "features.v_user") == now
    assert amounts(root, "features.vv_user") == now
    assert published_sql(root, "v_user") == sql_before
    physical = query(root, "select physical_name from toolkit.published where step = 'by_user'")[0][0]
    assert physical in json.loads(query(root, "select reads from toolkit.published where step = 'v_user'")[0][0])

    # the edits still wait: a run that selects the view publishes them (and says why)
    lines = plan_lines(root)
    assert lines["v_user"].split()[1] == "rebuild" and "SQL changed" in lines["v_user"], lines
    assert lines["vv_user"].split()[1] == "rebuild", lines
    assert run(root).code == 0
    assert amounts(root, "features.v_user") == [(u, a * 100) for u, a in now]
    assert amounts(root, "features.vv_user") == [(u, a * 100) for u, a in now]
    assert {line.split()[1] for line in plan_lines(root).values()} == {"reuse"}


PG_TOML = """
name = "proj"
dialect = "duckdb"
target = "pg"

[targets.pg]
engine = "postgres"
url = "${PG_URL}"
"""


def test_a_re_pointed_view_keeps_its_published_sql_on_postgres(tmp_path, pg_url):  # noqa: F811
    root = make_project(tmp_path / "proj", STEPS)
    write(root, {"toolkit.toml": PG_TOML})
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.events as select i::bigint as event_id, (i % 5)::bigint as user_id, "
                     "i * 1.0::double precision as amount from generate_series(0, 19) i")
    env = {"PG_URL": pg_url}

    def pg_amounts(relation: str) -> list[tuple]:
        return sorted(pg_query(pg_url, f"select user_id, amt from {relation}"))

    code, out, err = cli_tuple("run", "-p", str(root), cwd=root, env=env)
    assert code == 0, out + err
    before = pg_amounts("features.by_user")
    write(root, {"features/by_user.sql": BY_USER.format(" * 2"), "features/v_user.sql": V_USER_EDITED})
    code, out, err = cli_tuple("run", "-p", str(root), "--select", "by_user", cwd=root, env=env)
    assert code == 0, out + err
    assert "v_user has unpublished edits" in out + err
    now = pg_amounts("features.by_user")
    assert now == [(u, a * 2) for u, a in before]
    assert pg_amounts("features.v_user") == pg_amounts("features.vv_user") == now
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root, env=env)
    assert code == 0, out + err
    assert pg_amounts("features.v_user") == [(u, a * 100) for u, a in now]


# -- `toolkit models rollback`: the predictions still served are the version rolled back from ---

from _projects import write_files  # noqa: E402
from models_env_support import FILES, MODEL, churn_project, production, scored_with  # noqa: E402


@pytest.fixture(params=["duckdb", "postgres"])
def churn(request, tmp_path, run_cli):
    """(root, read(sql) -> rows, toolkit(*args, expect=0) -> output) on DuckDB or PostgreSQL."""
    return churn_project(request, tmp_path, run_cli, FILES)


def test_models_rollback_says_the_published_predictions_are_still_the_rolled_back_versions(churn):
    """The registry rolls back at once; predictions.churn keeps version 2's scores until a run
    scores again. The rollback, `models list` and `models show` said nothing of it: version 2
    read "archived" while its scores were what readers were served."""
    root, read, toolkit = churn
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run")
    assert production(read) == [(2,)] and scored_with(read, "predictions.churn") == [(2,)]

    out = toolkit("models", "rollback", "churn")
    assert "churn rolled back to version 1" in out, out
    assert "predictions.churn still holds version 2's scores until a run scores with version 1" in out, out
    assert "toolkit run --select churn" in out, out
    event = json.loads(toolkit("models", "list", "--log-format", "json").splitlines()[1])
    assert (event["version"], event["status"], event["published"]) == (2, "archived", True), event
    listed = {line.split()[1]: line for line in toolkit("models", "list").splitlines()[1:]}
    assert "production" in listed["1"] and "still published" not in listed["1"], listed
    assert "archived, still published" in listed["2"], listed
    shown = toolkit("models", "show", "churn")
    assert "published: predictions.churn holds version 2's scores until a run scores with version 1" in shown, shown
    # the history records the rollback as one (a row each, action rollback), in order
    history = read("select version, status, action from toolkit.model_status_history where model = 'churn' order by seq")
    assert history[-2:] == [(2, "archived", "rollback"), (1, "production", "rollback")], history

    toolkit("run")  # scores with version 1: nothing stale is left to say
    assert scored_with(read, "predictions.churn") == [(1,)]
    listed = {line.split()[1]: line for line in toolkit("models", "list").splitlines()[1:]}
    assert "still published" not in listed["2"], listed
    assert "published: predictions.churn holds version 1's scores\n" in toolkit("models", "show", "churn") + "\n"


# -- Spark: a view outside toolkit over a physical table keeps it (as on DuckDB and PostgreSQL) --

def test_spark_keeps_what_a_view_staying_behind_reads():
    """Spark's catalog tracks no view dependencies: DROP TABLE under a view succeeded, and a
    user's view over a physical table toolkit no longer needed failed when read after the
    run's drop. Now the Spark adapter reads its views' text (DESCRIBE TABLE EXTENDED) like
    DuckDB's duckdb_views(), and drop_physical keeps what a view staying behind reads,
    directly or through a physical view about to be dropped too."""
    from spark_support import SKIP_REASON, shared_engine

    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    from toolkit import environments

    engine = shared_engine()
    try:
        for statement in (
            "create schema if not exists toolkit_physical", "create schema if not exists rr_mine",
            "create table toolkit_physical.rr_a__r1 as select 1 as id, 10 as v",
            "create view toolkit_physical.rr_b__r1 as select id, v * 2 as v2 from toolkit_physical.rr_a__r1",
            "create table toolkit_physical.rr_c__r1 as select 3 as id",
            "create table toolkit_physical.rr_c__r12 as select 4 as id",
            "create view rr_mine.doubled as select v2 from `toolkit_physical`.`rr_b__r1`",
            "create view rr_mine.longer as select id from toolkit_physical.rr_c__r12",  # a name sharing rr_c__r1's prefix
        ):
            engine.execute(statement)
        doomed = [("rr_b__r1", "view"), ("rr_a__r1", "table"), ("rr_c__r1", "table")]
        kept = environments.drop_physical(engine, doomed)
        assert set(kept) == {"rr_a__r1", "rr_b__r1"}, kept
        assert "view rr_mine.doubled reads it" in kept["rr_b__r1"] and "kept" in kept["rr_a__r1"], kept
        relations = engine.relations("toolkit_physical")
        assert {"rr_a__r1", "rr_b__r1", "rr_c__r12"} <= set(relations) and "rr_c__r1" not in relations, relations
        assert engine.fetch_rows("select v2 from rr_mine.doubled") == [(20,)]
    finally:
        for statement in ("drop view if exists rr_mine.doubled", "drop view if exists rr_mine.longer", "drop schema if exists rr_mine",
                          "drop view if exists toolkit_physical.rr_b__r1", "drop table if exists toolkit_physical.rr_a__r1",
                          "drop table if exists toolkit_physical.rr_c__r1", "drop table if exists toolkit_physical.rr_c__r12"):
            engine.execute(statement)
        engine.close()
