"""Declared source column types are checked against the warehouse's catalog (issue 18 item 12):
a column retyped upstream stops the run at the source's line, before any step reads it."""

from __future__ import annotations

import pytest

from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from toolkit.sources import type_family

SOURCES = """\
[shop]
schema = "raw"

[shop.tables.orders]
columns = {{ id = "bigint", amount = "{amount}", placed = "timestamp" }}
"""
STEP = 'select id, amount from {{ source("shop", "orders") }}'
ORDERS = "select i::integer as id, (i * 1.5)::double as amount, timestamp '2024-01-01' as placed from range(5) t(i)"


def project(make_project, amount: str, rows: str = ORDERS):
    return make_project({"warehouse/sources.toml": SOURCES.format(amount=amount), "features/a.sql": STEP}, {"raw.orders": rows})


@pytest.mark.parametrize("declared", ["double", "decimal(10,2)", "real", "numeric"])
def test_same_family_passes(make_project, run_cli, declared):
    code, out, err = run_cli("run", cwd=project(make_project, declared))  # id: bigint declared, integer stored
    assert code == 0, out + err


@pytest.mark.parametrize("declared", ["varchar", "date", "boolean"])
def test_retyped_column_is_exit_2_at_the_source(make_project, run_cli, declared):
    code, out, err = run_cli("run", cwd=project(make_project, declared))
    assert code == 2, out + err
    assert "warehouse/sources.toml:5" in err and "column amount is declared" in err and "DOUBLE" in err, err
    assert "Traceback" not in err


def test_a_retyped_column_is_named_at_its_own_line(make_project, run_cli):
    """It was the table's header line, wherever the column was declared."""
    sources = '[shop]\nschema = "raw"\n\n[shop.tables.orders]\n[shop.tables.orders.columns]\nid = "bigint"\namount = "varchar"\n'
    root = make_project({"warehouse/sources.toml": sources, "features/a.sql": STEP}, {"raw.orders": ORDERS})
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and err.startswith("error: warehouse/sources.toml:7: source shop.orders: column amount"), out + err


def test_a_type_the_parser_cannot_read_is_not_judged():
    assert type_family("USER-DEFINED", "postgres") is None
    assert type_family("character varying", "postgres") == type_family("VARCHAR") == "text"
    assert type_family("timestamp without time zone", "postgres") == type_family("DATE") == "time"
    assert type_family("INTEGER[]") == "array"


def test_postgres_catalog_types(make_project, run_cli, pg_url):
    pg_query(pg_url, "create schema raw")
    pg_query(pg_url, "create table raw.orders (id integer, amount numeric(10, 2), placed timestamp)")
    config = f'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'
    root = make_project({"toolkit.toml": config, "warehouse/sources.toml": SOURCES.format(amount="double"), "features/a.sql": STEP})
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    (root / "warehouse/sources.toml").write_text(SOURCES.format(amount="text"))
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and "column amount is declared text but is numeric" in err, out + err
