"""promote's upstream check without the project's help, through ephemeral steps; and
the interval bookkeeping around it.

`toolkit run --env dev --select c`, prod rebuilding c's upstream b from new rows, then
`toolkit promote dev prod`: refused (exit 2) as dev's c was built from b's older rows. The
check skipped itself when the project did not compile at promote time, or when c's code had
changed since dev built it: it now matches what dev's run recorded (c's print of what it read
of b) against the column prints of prod's b. An ephemeral upstream (inlined, published by no
environment) was never compared: it is now, through to what it reads.
"""

from __future__ import annotations

from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from test_select_promote_more import C_NEW, C_OLD, ok, warehouse  # noqa: F401 (fixture)


def dev_builds_c_then_prod_moves_on(wh) -> None:
    ok(wh, "run")
    wh.write("c", C_NEW)
    ok(wh, "run", "--env", "dev", "--select", "c")
    wh.sql("insert into app.events values (9, 90)")
    ok(wh, "run", "--select", "a b")  # prod: a and b from 6 rows, c left as it was


def assert_refused(wh, text: str, code: int) -> None:
    assert code == 2, text
    assert "prod changed since dev was last run" in text and "nothing was changed" in text, text
    assert "Traceback" not in text, text
    assert wh.rows("select max(v3) from features.c") == [(81,)]  # prod's own c, untouched


# -- 1. the check needs no project that compiles, nor c's code as dev built it -------------------

def test_a_project_that_does_not_compile_at_promote_time_still_refuses_the_stale_step(warehouse):
    warehouse.write("b", '{{ config(materialized="view") }}\nselect id, v * 2 as v2, v as w from {{ ref("a") }}\n')
    dev_builds_c_then_prod_moves_on(warehouse)
    broken = "select from where {{ ref('nothing') }}\n"
    warehouse.write("broken", broken)
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert_refused(warehouse, text, code)
    assert "rebuilt b, which dev's c was built from before" in text, text
    # c rebuilt in dev on prod's b (of whose columns c reads two, not w): no false refusal,
    # the project broken all the same.
    (warehouse.root / "features/broken.sql").unlink()
    ok(warehouse, "run", "--env", "dev", "--select", "c")
    warehouse.write("broken", broken)
    ok(warehouse, "promote", "dev", "prod")
    assert warehouse.rows("select max(v3) from features.c") == [(185,)]
    # the same again, prod's b a new table of the same rows: the promote goes through
    warehouse.write("c", C_NEW.replace("+ 5", "+ 6"))
    (warehouse.root / "features/broken.sql").unlink()
    ok(warehouse, "run", "--env", "dev", "--select", "c")
    ok(warehouse, "run", "--full-refresh", "--select", "a b")
    warehouse.write("broken", broken)
    ok(warehouse, "promote", "dev", "prod")
    assert warehouse.rows("select max(v3) from features.c") == [(186,)]


def test_a_forced_promote_without_the_project_publishes_devs_step(warehouse):
    dev_builds_c_then_prod_moves_on(warehouse)
    warehouse.write("broken", "select from where {{ ref('nothing') }}\n")
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert_refused(warehouse, text, code)
    code, text = warehouse.toolkit("promote", "dev", "prod", "--force")
    assert code == 0, text
    assert warehouse.rows("select max(v3) from features.c") == [(85,)]  # dev's c, its older rows


def test_a_step_edited_since_dev_built_it_is_still_checked(warehouse):
    dev_builds_c_then_prod_moves_on(warehouse)
    warehouse.write("c", 'select id, v2 + 7 as v3 from {{ ref("b") }}\n')  # a third version, in no table
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert_refused(warehouse, text, code)
    assert "rebuilt b, which dev's c was built from before" in text, text


def test_a_wide_upstream_whose_reads_cannot_be_told_refuses_with_a_reason(warehouse):
    wide = ", ".join(f"v + {i} as w{i}" for i in range(12))
    warehouse.write("b", f'{{{{ config(materialized="view") }}}}\nselect id, v * 2 as v2, {wide} from {{{{ ref("a") }}}}\n')
    dev_builds_c_then_prod_moves_on(warehouse)
    # a row of a toolkit before state version 9 does not say which columns c read
    warehouse.sql("update toolkit.published set read_columns = null where env = 'dev'")
    warehouse.write("c", "select nonsense from\n")
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2, text
    assert "cannot tell whether dev's c was built from prod's b" in text and "the project does not compile" in text, text
    assert "promote --force" in text, text
    assert warehouse.toolkit("promote", "dev", "prod", "--force")[0] == 0


# -- 2. an ephemeral upstream is compared through, to what it reads ------------------------------

E_OLD = '{{ config(materialized="ephemeral") }}\nselect id, v2 + 100 as v9 from {{ ref("b") }}\n'
E_NEW = '{{ config(materialized="ephemeral") }}\nselect id, v2 + 200 as v9 from {{ ref("b") }}\n'
D = 'select id, v9 from {{ ref("e") }}\n'


def with_ephemeral(wh) -> None:
    wh.write("e", E_OLD)
    wh.write("c", 'select id, v9 + 1 as v3 from {{ ref("e") }}\n')
    wh.write("d", D)
    ok(wh, "run")
    wh.write("c", 'select id, v9 + 2 as v3 from {{ ref("e") }}\n')
    ok(wh, "run", "--env", "dev", "--select", "c")


def test_a_step_built_on_an_ephemerals_older_upstream_data_is_refused(warehouse):
    with_ephemeral(warehouse)
    warehouse.sql("insert into app.events values (9, 90)")
    ok(warehouse, "run", "--select", "a b d")  # prod: b anew, and d through e; c as it was
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2, text
    assert "the ephemeral e (inlined into dev's c) changed since c was built" in text, text
    assert "toolkit run --env dev --select c" in text, text
    ok(warehouse, "run", "--env", "dev", "--select", "c")  # on prod's b, through e
    ok(warehouse, "run", "--full-refresh", "--select", "a b d")  # new tables of the same rows
    ok(warehouse, "promote", "dev", "prod")
    assert warehouse.rows("select count(*), max(v3) from features.c") == [(6, 282)]


def test_a_step_built_on_an_ephemerals_older_code_is_refused(warehouse):
    with_ephemeral(warehouse)
    warehouse.write("e", E_NEW)
    ok(warehouse, "run", "--select", "d")  # prod's d on e's new code
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2, text
    assert "the ephemeral e (inlined into dev's c) changed since c was built" in text, text


# -- 3. a backfill records the inputs it read ------------------------------------------------------

from test_backfill_truth import Warehouse as BackfillWarehouse, warehouse_url  # noqa: E402,F401 (fixture)


def test_prods_backfill_does_not_make_devs_newer_step_look_older(tmp_path, warehouse_url):
    """prod's backfill of a late row after dev copied prod's incremental table: the promote of
    dev's copy, which lacks the row, is refused until dev runs again (it dropped the row)."""
    w = BackfillWarehouse(tmp_path, warehouse_url, "timestamp")
    w.sql("insert into app.ev values (1, '2024-04-10 00:00'), (2, '2024-04-15 00:00')")
    assert w.toolkit("run").code == 0
    w.sql("insert into app.ev values (3, '2024-04-20 01:00'), (4, '2024-04-05 05:00')")
    done = w.toolkit("run", "--env", "dev")
    assert done.code == 0, done.out + done.err
    done = w.toolkit("run", "--start", "2024-04-05", "--end", "2024-04-06")  # prod: 4 only
    assert done.code == 0 and w.ids() == [1, 2, 4], done.out + done.err
    # dev's table (prod's, updated with 3 when dev ran: same code) lacks 4, which prod's backfill
    # filled since: refused, nothing lost (a promote put [1, 2, 3] over prod's [1, 2, 4])
    done = w.toolkit("promote", "dev", "prod")
    assert done.code == 2 and "rebuilt inc" in done.err, done.out + done.err
    assert w.ids() == [1, 2, 4]
    # dev's plain run keeps its own table (the refusal's hint does not say this): rebuilt, it reads 4
    done = w.toolkit("run", "--env", "dev", "--full-refresh", "--select", "inc")
    assert done.code == 0, done.out + done.err
    done = w.toolkit("promote", "dev", "prod")
    assert done.code == 0, done.out + done.err
    assert w.ids() == [1, 2, 3, 4]
    # A backfill after new rows elsewhere still leaves the window to read: no reuse next.
    w.sql("insert into app.ev values (5, '2024-04-04 05:00')")
    done = w.toolkit("run", "--env", "dev", "--start", "2024-04-04", "--end", "2024-04-05")
    assert done.code == 0, done.out + done.err
    planned = w.toolkit("plan", "--env", "dev")
    assert "no new input data" not in planned.out, planned.out


# -- 4. re-pointing a view keeps its schedule's clock -------------------------------------------------

from _projects import execute, make_project  # noqa: E402
from test_select_promote_more import toolkit_at  # noqa: E402

SCHEDULED = {
    "warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.events]\n[app.tables.users]\n',
    "features/t.sql": "select user_id, name from {{ source('app', 'users') }}",
    "features/v.sql": ("{{ config(materialized='view', cron='0 6 * * *') }}\n"
                       "select t.user_id, t.name, e.amount from {{ ref('t') }} t join {{ source('app', 'events') }} e using (user_id)"),
}
USERS_EVENTS = ("create schema app; create table app.users as select i as user_id, 'u' || i as name from range(3) t(i);"
                "create table app.events as select i % 3 as user_id, i * 1.0 as amount from range(9) t(i);")


def test_a_view_re_pointed_at_its_upstreams_new_table_keeps_its_schedule(tmp_path):
    """v was built 05-01 07:00, due again from 05-02 06:00. t's new table (same rows) at 05-02
    08:00 re-points v: that restarted v's schedule, and events' new rows at 09:00 were not due
    before 05-03 06:00 (v's readers and its recorded prints waited a day)."""
    root = make_project(tmp_path / "s", SCHEDULED, USERS_EVENTS)
    code, text = toolkit_at(root, "2024-05-01T07:00:00", "run")
    assert code == 0, text
    code, text = toolkit_at(root, "2024-05-02T08:00:00", "run", "--full-refresh", "--select", "t")
    assert code == 0, text
    execute(root, "insert into app.events values (0, 100.0)")
    code, text = toolkit_at(root, "2024-05-02T09:00:00", "plan")
    assert code == 0, text
    line = next(line for line in text.splitlines() if line.startswith("v "))
    assert line.split()[1] == "rebuild" and "not due" not in line, text


# -- 5. gc forgets the intervals of the tables it dropped ------------------------------------------


def interval_rows(w) -> dict[str, int]:
    return {name: count for name, count in w.rows("select physical_name, count(*) from toolkit.intervals group by physical_name")}


def test_gc_forgets_the_intervals_of_dropped_tables_and_removed_steps(tmp_path, warehouse_url):
    w = BackfillWarehouse(tmp_path, warehouse_url, "timestamp")
    (w.root / "features/inc2.sql").write_text((w.root / "features/inc.sql").read_text())
    w.sql("insert into app.ev values (1, '2024-04-10 00:00'), (2, '2024-04-15 00:00')")
    assert w.toolkit("run").code == 0
    first = interval_rows(w)
    assert len(first) == 2, first
    assert w.toolkit("run", "--full-refresh", "--select", "inc").code == 0  # inc's first table: read by nothing
    (w.root / "features/inc2.sql").unlink()
    assert w.toolkit("run").code == 0  # inc2: removed from the project, unpublished
    assert len(interval_rows(w)) == 3
    done = w.toolkit("gc", "--retention", "0s", "--dry-run")
    assert done.code == 0 and "would forget 2 interval row(s) of dropped tables" in done.out, done.out + done.err
    assert len(interval_rows(w)) == 3  # a dry run forgets nothing
    done = w.toolkit("gc", "--retention", "0s")
    assert done.code == 0 and "forgot 2 interval row(s) of dropped tables" in done.out, done.out + done.err
    live = w.rows("select physical_name from toolkit.published where step = 'inc'")[0][0]
    assert interval_rows(w) == {live: 1}
    # What the live table holds is still known: a backfill of held time reads nothing.
    planned = w.toolkit("plan", "--start", "2024-04-10", "--end", "2024-04-11")
    assert planned.code == 0 and "holds 2024-04-10 00:00 .. 2024-04-11 00:00 already" in planned.out, planned.out
