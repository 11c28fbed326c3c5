"""promote's refusals say what works, and know what a step read of each upstream.

1. prod backfilled an incremental step's late rows after dev's run: promote refuses dev's copy
   (it lacks the interval), and its hint said `toolkit run --env dev first`, which only appends
   new rows to dev's own copy and left it refused. It now names the full refresh of that step
   that does work, and following it makes the promote go through.
2. Whether dev's step was built from the upstream data prod has now was told, without the
   step's code as dev built it (a project that does not compile, a step edited since), by
   trying every set of the upstream's columns against the step's recorded print: an upstream
   of more than 10 columns gave "cannot tell" (exit 2 unless --force). A run now records which
   columns of each upstream a step read (published.read_columns, state version 9), and
   promote prints exactly those columns of prod's table.
"""

from __future__ import annotations

import re

from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from test_backfill_truth import Warehouse as BackfillWarehouse, warehouse_url  # noqa: F401 (fixture)
from test_select_promote_more import C_NEW, ok, warehouse  # noqa: F401 (fixture)


def hinted_command(said: str) -> list[str]:
    """The `toolkit run ...` the refusal's hint names first, as arguments (without `toolkit`)."""
    found = re.search(r"toolkit (run --env \w+(?: --[\w-]+)*(?: --select [\w ]+?)?) (?:rebuilds|first)", said)
    assert found, said
    return found.group(1).split()


# -- 1. the hint after prod's backfill is the command that works -------------------------------------

def test_following_the_hint_after_prods_backfill_lets_the_promote_through(tmp_path, warehouse_url):
    w = BackfillWarehouse(tmp_path, warehouse_url, "timestamp")
    w.sql("insert into app.ev values (1, '2024-04-10 00:00'), (2, '2024-04-15 00:00')")
    assert w.toolkit("run").code == 0
    w.sql("insert into app.ev values (3, '2024-04-20 01:00'), (4, '2024-04-05 05:00')")
    assert w.toolkit("run", "--env", "dev").code == 0
    done = w.toolkit("run", "--start", "2024-04-05", "--end", "2024-04-06")  # prod backfills 4
    assert done.code == 0 and w.ids() == [1, 2, 4], done.out + done.err
    # dev's plain run appends nothing to its copy: still refused after it
    assert w.toolkit("run", "--env", "dev").code == 0
    done = w.toolkit("promote", "dev", "prod")
    said = done.out + done.err
    assert done.code == 2 and "rebuilt inc" in said and "Traceback" not in said, said
    command = hinted_command(said)
    assert command == ["run", "--env", "dev", "--full-refresh", "--select", "inc"], said
    assert "toolkit run --env dev first" not in said, said  # the hint that did not help
    done = w.toolkit(*command)
    assert done.code == 0, done.out + done.err
    done = w.toolkit("promote", "dev", "prod")
    assert done.code == 0, done.out + done.err
    assert w.ids() == [1, 2, 3, 4]


# -- 2. the columns a step read of each upstream are recorded, and promote prints those ------------

WIDE = ", ".join(f"v + {i} as w{i}" for i in range(12))  # b: 14 columns, more than every subset is tried of
B_WIDE = f'{{{{ config(materialized="view") }}}}\nselect id, v * 2 as v2, {WIDE} from {{{{ ref("a") }}}}\n'
BROKEN = "select nonsense from\n"  # c's file at promote time: the project does not compile


def dev_builds_c_on_wide_b(wh) -> None:
    wh.write("b", B_WIDE)
    ok(wh, "run")
    wh.write("c", C_NEW)
    ok(wh, "run", "--env", "dev", "--select", "c")


def refusal(wh) -> str:
    code, text = wh.toolkit("promote", "dev", "prod")
    assert code == 2 and "nothing was changed" in text and "Traceback" not in text, text
    return text


def test_a_run_records_the_columns_a_step_read_of_each_upstream(warehouse):
    dev_builds_c_on_wide_b(warehouse)
    recorded = warehouse.rows("select read_columns from toolkit.published where env = 'dev' and step = 'c'")
    assert recorded == [('{"b": ["id", "v2"]}',)], recorded


def test_devs_step_over_a_wide_upstream_prod_rebuilt_from_the_same_rows_promotes(warehouse):
    dev_builds_c_on_wide_b(warehouse)
    ok(warehouse, "run", "--full-refresh", "--select", "a b")  # prod: new tables of the same rows
    warehouse.write("c", BROKEN)
    ok(warehouse, "promote", "dev", "prod")  # was: cannot tell (b has more than 10 columns)
    assert warehouse.rows("select max(v3) from features.c") == [(85,)]  # dev's c


def test_devs_step_over_a_wide_upstream_whose_read_column_prod_changed_is_refused(warehouse):
    dev_builds_c_on_wide_b(warehouse)
    warehouse.sql("insert into app.events values (9, 90)")
    ok(warehouse, "run", "--select", "a b")  # prod: b's v2 from 6 rows
    warehouse.write("c", BROKEN)
    text = refusal(warehouse)
    assert "rebuilt b, which dev's c was built from before" in text and "cannot tell" not in text, text
    assert "toolkit run --env dev --select c" in text, text
    assert warehouse.rows("select max(v3) from features.c") == [(81,)]  # prod's own c, untouched


def test_a_column_devs_step_does_not_read_changing_in_prod_does_not_block(warehouse):
    dev_builds_c_on_wide_b(warehouse)
    warehouse.write("b", B_WIDE.replace("v + 3 as w3", "v + 300 as w3"))
    ok(warehouse, "run", "--select", "a b")  # prod: b anew, only w3 (which c does not read) other
    warehouse.write("c", 'select id, v2 + 7 as v3 from {{ ref("b") }}\n')  # c edited since dev built it
    ok(warehouse, "promote", "dev", "prod")
    assert warehouse.rows("select max(v3) from features.c") == [(85,)]  # dev's c


def test_a_state_from_before_version_9_is_migrated_and_its_rows_fall_back_to_matching(warehouse):
    """Rows written before the columns read were recorded: promote tries every set of the
    upstream's columns (and cannot tell for a wide one); a run migrates the state."""
    dev_builds_c_on_wide_b(warehouse)
    for name in ("published", "published_history"):
        warehouse.sql(f"alter table toolkit.{name} drop column read_columns")
    warehouse.sql("delete from toolkit.schema_version where version > 8")
    ok(warehouse, "run", "--full-refresh", "--select", "a b")  # prod, migrating the state to version 9
    assert max(v for (v,) in warehouse.rows("select version from toolkit.schema_version")) >= 9
    assert warehouse.rows("select read_columns from toolkit.published where env = 'dev' and step = 'c'") == [(None,)]
    warehouse.write("c", BROKEN)
    text = refusal(warehouse)
    assert "cannot tell whether dev's c was built from prod's b" in text, text
    ok(warehouse, "promote", "dev", "prod", "--force")
