"""Four small defects, each with the test that failed before its fix.

1. `toolkit gc --dry-run` listed as "would drop" a physical table that a user's own view reads,
   which a real gc keeps (environments.drop_physical): the dry run now says what a real gc does.
"""

from __future__ import annotations

import re


from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from test_promote_select_gc import warehouse  # noqa: F401 (fixture)
from test_promote_select_gc import physical_of


def _named(text: str, verb: str) -> set[str]:
    return {re.search(r"toolkit_physical\.([^\s:]+)", line).group(1) for line in text.splitlines()
            if line.strip().startswith(verb) and "toolkit_physical." in line}


def test_gc_dry_run_says_exactly_what_a_real_gc_drops_and_keeps(warehouse):  # noqa: F811 (fixture)
    assert warehouse.toolkit("run")[0] == 0
    old_c = physical_of(warehouse, "c")
    warehouse.sql(f"create view app.mine as select * from toolkit_physical.{old_c}")
    (warehouse.root / "features/a.sql").write_text('select id, v + 1 as v from {{ source("app", "events") }}\n')
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    assert warehouse.toolkit("promote", "dev")[0] == 0  # prod's old a, b and c are kept for rollback only

    code, dry = warehouse.toolkit("gc", "--retention", "0s", "--dry-run")
    assert code == 0, dry
    would_drop, would_keep = _named(dry, "would drop "), _named(dry, "kept ")
    assert old_c not in would_drop and would_keep == {old_c}, dry
    assert "view app.mine reads it" in dry, dry

    code, done = warehouse.toolkit("gc", "--retention", "0s")
    assert code == 0, done
    assert would_drop and _named(done, "dropped ") == would_drop, (dry, done)
    assert _named(done, "kept ") == would_keep, done
    assert warehouse.rows("select count(*) from app.mine") == [(5,)]
