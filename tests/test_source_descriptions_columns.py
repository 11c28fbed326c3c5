"""A source's `descriptions` naming a column it does not have is exit 2 at that line.

A tester wrote `descriptions = { idd = "..." }` for column id: accepted silently, the docs
showed a text for no column and none for id, while the same typo in a source's tags or a
step's column descriptions is exit 2. Now also exit 2: where the source declares its columns
when sources.toml is read, else once its columns are known (its files, or the catalog).
"""

from __future__ import annotations

from _projects import cli_tuple, make_project

SETUP = "create schema app; create table app.orders as select 1 as id"
STEP = {"features/o.sql": 'select id from {{ source("app", "orders") }}\n'}


def _refused(root, line: int) -> None:
    for command in ("run", "docs"):
        code, out, err = cli_tuple(command, cwd=root)
        assert code == 2, out + err
        assert f"warehouse/sources.toml:{line}: source app.orders: descriptions name column 'idd'" in err, err
        assert "did you mean 'id'" in err and "Traceback" not in err, err


def test_a_description_of_an_undeclared_column_is_refused(tmp_path):
    sources = '[app]\nschema = "app"\n[app.tables.orders]\ncolumns = { id = "integer" }\ndescriptions = { idd = "typo" }\n'
    _refused(make_project(tmp_path / "p", {"warehouse/sources.toml": sources, **STEP}, SETUP), 5)


def test_a_description_of_a_column_the_catalog_lacks_is_refused_once_known(tmp_path):
    sources = '[app]\nschema = "app"\n[app.tables.orders]\ndescriptions = { id = "the key" }\n'
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": sources, **STEP}, SETUP)
    code, out, err = cli_tuple("run", cwd=root)  # a right one: the run reads the catalog's columns
    assert code == 0, out + err
    (root / "warehouse/sources.toml").write_text(sources.replace("{ id =", "{ idd ="))
    _refused(root, 4)
