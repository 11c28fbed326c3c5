"""promote through an ephemeral step must not refuse an ordinary workflow (tester H): the
check compared an ephemeral upstream whenever the destination had run at all since dev built
the step, so a staging ephemeral over a source ("what the ephemeral reads is not published")
and a step edited after dev built it ("cannot tell") were refused after prod rebuilt only an
unrelated step on unchanged data. Only a destination run that rebuilt what the ephemeral
reads (a table, through other ephemerals, or a table read from its sources) is compared."""

from __future__ import annotations

from postgres_support import pg_url  # noqa: F401 (fixture)
from test_promote_intervals_more import with_ephemeral
from test_select_promote_more import ok, warehouse  # noqa: F401 (fixture)

STAGING = '{{ config(materialized="ephemeral") }}\nselect id, v from {{ source("app", "others") }}\n'


def with_staging(wh) -> None:
    """stg, ephemeral over a source no published step reads; c over stg; prod ran, then dev
    built c edited."""
    with open(wh.root / "warehouse/sources.toml", "a") as sources:
        sources.write("[app.tables.others]\n")
    wh.sql("create table app.others as select * from (values (1, 10), (2, 20)) t(id, v)")
    wh.write("stg", STAGING)
    wh.write("c", 'select id, v + 1 as v3 from {{ ref("stg") }}\n')
    ok(wh, "run")
    wh.write("c", 'select id, v + 2 as v3 from {{ ref("stg") }}\n')
    ok(wh, "run", "--env", "dev")


def test_a_staging_ephemeral_over_a_source_is_promoted_after_an_unrelated_prod_run(warehouse):
    with_staging(warehouse)
    ok(warehouse, "run", "--full-refresh", "--select", "a")  # prod: an unrelated table anew, same rows
    ok(warehouse, "promote", "dev", "prod")
    assert warehouse.rows("select max(v3) from features.c") == [(22,)]


def test_a_step_edited_after_dev_built_it_over_an_ephemeral_is_promoted_after_an_unrelated_prod_run(warehouse):
    with_ephemeral(warehouse)  # prod ran; dev built c (on e, on b)
    warehouse.write("c", 'select id, v9 + 3 as v3 from {{ ref("e") }}\n')  # edited since dev built it
    warehouse.write("x", "select 1 as one\n")
    ok(warehouse, "run", "--select", "x")  # prod: nothing e reads
    ok(warehouse, "promote", "dev", "prod")


def test_the_staging_ephemeral_still_refuses_when_prod_read_newer_source_rows(warehouse):
    with_staging(warehouse)
    warehouse.write("d", 'select id, v from {{ source("app", "others") }}\n')
    warehouse.sql("insert into app.others values (9, 90)")
    ok(warehouse, "run", "--select", "d")  # prod's d read the source's new row; dev's c did not
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2 and "prod changed since dev was last run" in text, text
