"""A step that reads the whole row of a relation it reads (`to_json(b)`, `b::varchar`, `b`
alone: a table alias used as a value; `*COLUMNS(*)` inside an expression; PostgreSQL's
`row_to_json(b)`, `b::text`) reads every column of that relation: changing one of them
rebuilds the step (no stale data), and column lineage and tags (pii) reach its output
column. A column named like the table alias keeps its meaning as a column."""

from __future__ import annotations

import json

import pytest
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

from _projects import cli, make_project, query

PG_CONFIG = 'name = "t"\ndialect = "postgres"\ntarget = "pg"\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'

BASE = "select id, {email} as email, 1 as n from (values (1, 'a@x'), (2, 'b@x')) t(id, email)"


def project(tmp_path, reader: str, pg: str | None = None):
    """A DuckDB project (the tests' default target), or a PostgreSQL one at `pg`."""
    return make_project(tmp_path / "p", {
        **({"toolkit.toml": PG_CONFIG.format(url=pg)} if pg else {}),
        "features/base.sql": BASE.format(email="email"),
        "features/d.sql": reader,
    })


def plan_of(root) -> dict[str, str]:
    """step -> action of `toolkit plan`."""
    result = cli("plan", "--log-format", "json", cwd=root)
    assert result.code == 0, result
    return {e["step"]: e["action"] for e in result.events() if e.get("step") and e.get("action")}


def change_email(root) -> None:
    (root / "features/base.sql").write_text(BASE.format(email="upper(email)"))


WHOLE_ROW_READERS = {
    "to_json": "select b.id, to_json(b) as s from {{ ref('base') }} b",
    "cast": "select b.id, b::varchar as s from {{ ref('base') }} b",
    "bare alias": "select b.id, b as s from {{ ref('base') }} b",
    "unaliased table": "select base.id, to_json(base) as s from {{ ref('base') }}",
    "columns unpacked": "select b.id, concat_ws(',', *columns(*)) as s from {{ ref('base') }} b",
    "in a filter": "select b.id, b.id as s from {{ ref('base') }} b where to_json(b)::varchar not like '%\"email\":\"a@x\"%'",
}


@pytest.mark.parametrize("reader", WHOLE_ROW_READERS.values(), ids=WHOLE_ROW_READERS.keys())
def test_a_whole_row_reader_is_rebuilt_when_an_upstream_column_changes(tmp_path, reader):
    root = project(tmp_path, reader)
    assert cli("run", cwd=root).code == 0
    before = query(root, "select * from features.d order by id")
    change_email(root)
    assert plan_of(root).get("d") == "rebuild"
    assert cli("run", cwd=root).code == 0
    assert query(root, "select * from features.d order by id") != before


def test_whole_row_columns_have_lineage(tmp_path):
    root = project(tmp_path, WHOLE_ROW_READERS["to_json"].replace(" as s", " as s, b::varchar as txt, b as rec"))
    result = cli("lineage", "d.s", "--log-format", "json", cwd=root)
    assert result.code == 0, result
    reached = {c["column"] for e in result.events() for c in e["columns"]}
    assert reached == {"features.base.id", "features.base.email", "features.base.n"}, result
    for column in ("txt", "rec"):
        result = cli("lineage", f"d.{column}", cwd=root)
        assert "features.base.email" in result.out, result


def test_a_column_named_like_its_table_alias_is_a_column(tmp_path):
    files = {"features/b.sql": "select 1 as id, 'x' as b, 'a@x' as email",
             "features/d.sql": "select b.id, b from {{ ref('b') }} b"}
    root = make_project(tmp_path / "p", files)
    assert cli("run", cwd=root).code == 0
    assert query(root, "select b from features.d") == [("x",)]
    (root / "features/b.sql").write_text("select 1 as id, 'x' as b, upper('a@x') as email")
    assert plan_of(root).get("d") == "reuse"  # d reads b.id and b.b, not email
    result = cli("lineage", "d.b", "--log-format", "json", cwd=root)
    assert {c["column"] for e in result.events() for c in e["columns"]} == {"features.b.b"}, result


SOURCES = """\
[crm]
schema = "crm"
[crm.tables.users]
columns = { id = "bigint", email = "varchar", churned = "integer" }
tags = { email = ["pii"] }
"""

EXPORT = ("select u.id, to_json(u) as j, u::varchar as txt, u as rec, length(to_json(u)::varchar) as size, u.churned "
          "from {{ source('crm', 'users') }} u")

MODEL = """\
from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="export", label="churned", key="id", features=["size"])
def churn():
    return LogisticRegression()
"""


def tagged_project(tmp_path, files: dict[str, str]):
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES, "features/export.sql": EXPORT, **files})
    return root


def test_pii_tags_reach_whole_row_columns(tmp_path):
    root = tagged_project(tmp_path, {})
    result = cli("ls", "--tag", "pii", "--log-format", "json", cwd=root)
    assert result.code == 0, result
    columns = {e["column"] for e in map(json.loads, result.out.splitlines())}
    assert {f"features.export.{c}" for c in ("j", "txt", "rec", "size")} <= columns, result
    assert "features.export.id" not in columns and "features.export.churned" not in columns
    result = cli("lineage", "export.j", cwd=root)
    assert "crm.users.email" in result.out and "nothing" not in result.out, result


def test_a_model_learning_from_a_whole_row_feature_is_blocked(tmp_path):
    root = tagged_project(tmp_path, {"models/churn.py": MODEL})
    result = cli("ls", cwd=root)
    assert result.code == 2, result
    assert "feature 'size' derives from a pii-tagged column" in result.err, result
    assert "features.export.size <- crm.users.email" in result.err, result


PG_READERS = {
    "row_to_json": "select b.id, row_to_json(b) as s from {{ ref('base') }} b",
    "cast": "select b.id, b::text as s from {{ ref('base') }} b",
}


@pytest.mark.parametrize("reader", PG_READERS.values(), ids=PG_READERS.keys())
def test_postgres_whole_row_reader_is_rebuilt_and_has_lineage(tmp_path, pg_url, reader):  # noqa: F811
    root = project(tmp_path, reader, pg=pg_url)
    assert cli("run", cwd=root).code == 0
    result = cli("lineage", "d.s", cwd=root)
    assert "features.base.email" in result.out, result
    change_email(root)
    assert plan_of(root).get("d") == "rebuild"
    assert cli("run", cwd=root).code == 0
    assert "A@X" in str(pg_query(pg_url, "select s from features.d where id = 1"))
