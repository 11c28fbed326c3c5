"""promote's refusals say what works, and know what a step read of each upstream.

1. prod backfilled an incremental step's late rows after dev's run: promote refuses dev's copy
   (it lacks the interval), and its hint said `toolkit run --env dev first`, which only appends
   new rows to dev's own copy and left it refused. It now names the full refresh of that step
   that does work, and following it makes the promote go through.
"""

from __future__ import annotations

import re

from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from test_backfill_truth import Warehouse as BackfillWarehouse, warehouse_url  # noqa: F401 (fixture)


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
