"""PostgreSQL binds a view to the table it reads: a view step over a file source made every
run after the file changed fail ("internal error: cannot drop table files.prices because
other objects depend on it", exit 1, the other readers stale). The new load now replaces
the rows in place when the columns are the same, and otherwise renames the old table aside
until the view is rebuilt over the new one (dropped by a later run once nothing reads it)."""

from __future__ import annotations

from pathlib import Path

from _projects import cli_tuple, make_project
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)

TOML = """name = "proj"
target = "pg"

[targets.pg]
engine = "postgres"
url = "{url}"
"""

FILES = {
    "warehouse/sources.toml": '[files]\n[files.tables.prices]\npath = "data/prices.csv"\n',
    "data/prices.csv": "id,price\n1,10\n2,20\n",
    "features/pv.sql": '{{ config(materialized="view") }}\nselect * from {{ source("files", "prices") }}\n',
    "features/pt.sql": 'select sum(price) as total from {{ source("files", "prices") }}\n',
}


def project(tmp_path: Path, url: str) -> Path:
    root = make_project(tmp_path / "proj", FILES)
    (root / "toolkit.toml").write_text(TOML.format(url=url))
    return root


def run(root: Path) -> None:
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 0, out + err


def aside(url: str) -> list[tuple]:
    return pg_query(url, "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                         "where nspname = 'files' and relname like 'prices%' order by relname")


def test_a_changed_file_under_a_view_step_loads_in_place(tmp_path, pg_url):  # noqa: F811
    root = project(tmp_path, pg_url)
    run(root)
    (root / "data" / "prices.csv").write_text("id,price\n1,10\n2,20\n3,999\n")
    run(root)
    assert pg_query(pg_url, "select total::bigint from features.pt") == [(1029,)]
    assert pg_query(pg_url, "select id, price from features.pv order by id") == [(1, 10), (2, 20), (3, 999)]
    assert aside(pg_url) == [("prices",)]


def test_a_file_with_new_columns_under_a_view_step_reloads_and_the_old_table_goes(tmp_path, pg_url):  # noqa: F811
    root = project(tmp_path, pg_url)
    run(root)
    (root / "data" / "prices.csv").write_text("id,price,currency\n1,10,eur\n4,40,usd\n")
    run(root)
    assert pg_query(pg_url, "select total::bigint from features.pt") == [(50,)]
    assert pg_query(pg_url, "select id, price, currency from features.pv order by id") == [(1, 10, "eur"), (4, 40, "usd")]
    run(root)  # the view now reads the new table: the old one, renamed aside, is dropped
    assert aside(pg_url) == [("prices",)]
    assert pg_query(pg_url, "select count(*) from features.pv") == [(2,)]
