"""A published warehouse's state: one aggregate query per relation."""

from __future__ import annotations

from pathlib import Path

import duckdb


def published_state(database: Path, schemas=("features", "predictions", "toolkit")) -> dict[str, tuple]:
    """`schema.relation` -> (row count, order-independent hash) for every relation in
    `schemas`; read-only, so it never changes the file."""
    with duckdb.connect(str(database), read_only=True) as con:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema in (select unnest(?)) order by 1, 2",
            [list(schemas)],
        ).fetchall()
        return {f"{s}.{n}": con.execute(f'select count(*), sum(hash(t)) from "{s}"."{n}" as t').fetchone() for s, n in names}
