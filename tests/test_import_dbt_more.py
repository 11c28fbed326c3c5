"""`toolkit import-dbt`: a source() name made from a var() reads the table dbt reads (the var
selects one of the declared tables and never becomes SQL), what is not converted is reported
at the dbt file's own line, and a literal source() name dbt does not declare is reported and
stops the converted step, as it stops dbt. Each converted project runs on DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from _projects import cli, write
from toolkit.compiler import compile_project
from toolkit.dbtimport import import_dbt
from toolkit.errors import ProjectError

PROJECT = "name: s\nversion: '1.0'\nprofile: s\nvars:\n  suf: '_v2'\nmodels:\n  s:\n    +materialized: table\n"

# dbt names orders, orders_v2 (and legacy, whose identifier differs: toolkit's names are not dbt's)
RENAMED = """\
version: 2
sources:
  - name: app
    tables:
      - name: orders
      - name: orders_v2
      - name: legacy
        identifier: orders_legacy_tbl
"""
PLAIN = "version: 2\nsources:\n  - name: app\n    tables:\n      - name: orders\n      - name: orders_v2\n"
TABLES = ["create table app.orders as select 'ORDERS' as v", "create table app.orders_v2 as select 'ORDERS_V2' as v",
          "create table app.orders_legacy_tbl as select 'LEGACY' as v", "create table app.secret as select 'SECRET' as v"]


def _import(tmp_path, files: dict[str, str], check: bool = True):
    write(tmp_path / "dbt", {"dbt_project.yml": PROJECT, **files})
    report, out = import_dbt(tmp_path / "dbt", tmp_path / "out", check=check)
    return report, out, (out / "IMPORT_REPORT.md").read_text()


def _skipped(report) -> list[tuple[str, str, str, str]]:
    return [(kind, what, where, why) for (kind, why), items in report.skipped.items() for what, where in items]


def _tables(out) -> None:
    with duckdb.connect(str(out / "warehouse" / "s.duckdb")) as con:
        con.execute("create schema if not exists app")
        for statement in TABLES:
            con.execute(statement)


def _rows(out, relation: str) -> list[tuple]:
    with duckdb.connect(str(out / "warehouse" / "s.duckdb"), read_only=True) as con:
        return con.execute(f"select * from {relation} order by 1").fetchall()


@pytest.mark.parametrize("sources", [RENAMED, PLAIN], ids=["through-the-macro", "toolkit-source"])
def test_a_source_name_made_from_a_var_reads_the_declared_table_the_var_selects(tmp_path, sources):
    files = {
        "models/src.yml": sources,
        "models/m.sql": "select v from {{ source('app', 'orders' ~ var('suf')) }}\n",
        "models/via_set.sql": "{% set t = 'orders' ~ var('suf') %}\nselect v from {{ source('app', t) }}\n",
    }
    if sources == RENAMED:  # dbt's name legacy, made from a var's default: its identifier's table
        files["models/by_name.sql"] = "select v from {{ source('app', 'leg' ~ var('rest', 'acy')) }}\n"
    report, out, text = _import(tmp_path, files)
    assert f"compiles: {len(files) - 1} steps" in report.check, text
    assert not [s for s in _skipped(report) if s[1] in ("m", "via_set")], text
    _tables(out)
    result = cli("run", "-p", str(out))
    assert result.code == 0, result
    assert _rows(out, "features.m") == [("ORDERS_V2",)]
    assert _rows(out, "features.via_set") == [("ORDERS_V2",)]
    if sources == RENAMED:
        assert _rows(out, "features.by_name") == [("LEGACY",)]
    result = cli("run", "-p", str(out), "--vars", '{"suf": ""}')
    assert result.code == 0, result
    assert _rows(out, "features.m") == [("ORDERS",)]


@pytest.mark.parametrize("sources", [RENAMED, PLAIN], ids=["through-the-macro", "toolkit-source"])
@pytest.mark.parametrize("suffix", ["_legacy_tbl", "s union select v from app.secret", "' or 1=1 --"])
def test_a_var_only_selects_among_the_tables_dbt_declares(tmp_path, sources, suffix):
    """app.orders_legacy_tbl is an identifier, not a dbt name; app.secret is not declared at all:
    a var's text that names either (or is SQL) stops the compile, it is never read as a table."""
    report, out, text = _import(tmp_path, {"models/src.yml": sources,
                                           "models/m.sql": "select v from {{ source('app', 'orders' ~ var('suf')) }}\n"})
    with pytest.raises(ProjectError) as raised:
        compile_project(out, {"suf": suffix})
    assert raised.value.file.endswith(".sql") and "orders" + suffix in raised.value.message, raised.value
    assert "declare" in raised.value.message, raised.value
    _tables(out)
    result = cli("run", "-p", str(out), "--vars", f'{{"suf": "{suffix}"}}')
    assert result.code == 2, result
    assert "SECRET" not in result.out + result.err


def test_a_step_that_does_not_compile_is_reported_at_the_dbt_file_and_line(tmp_path):
    files = {
        "models/src.yml": PLAIN,
        "models/staging/m_do.sql": "-- orders, cleaned\n\n{% set xs = [] %}{% do xs.append('v') %}\nselect v from {{ source('app', 'orders') }}\n",
        "models/m_log.sql": "select 1 as x\n{{ log('hello', info=True) }}\n",
        "models/m_macro.sql": "select {{ noisy() }} as a\n",
        "macros/noisy.sql": "{% macro noisy() %}\n  {{ log('x') }}1\n{% endmacro %}\n",
    }
    report, out, text = _import(tmp_path, files)
    found = {what: (where, why) for kind, what, where, why in _skipped(report) if kind == "model"}
    assert (out / "features" / "staging" / "m_do.sql").read_text().count("\n") > files["models/staging/m_do.sql"].count("\n")
    assert found["m_do"][0] == "models/staging/m_do.sql:3", text  # features/staging/m_do.sql:4 as converted
    assert found["m_log"][0] == "models/m_log.sql:2", text
    assert found["m_macro"][0] == "models/m_macro.sql" and "(at macros/noisy.sql:2)" in found["m_macro"][1], text
    assert "`models/staging/m_do.sql:3`" in text and "features/staging/m_do.sql:4" not in text.split("## Check")[0], text


def test_a_literal_source_name_dbt_does_not_declare_is_reported_and_not_read(tmp_path):
    files = {
        "models/src.yml": RENAMED,
        "models/by_identifier.sql": "-- legacy orders\nselect v from {{ source('app', 'orders_legacy_tbl') }}\n",
        "models/undeclared.sql": "select v\nfrom {{ source('app', 'secret') }}\n",
        "models/fine.sql": "select v from {{ source('app', 'legacy') }}\n",
        "macros/reads.sql": "{% macro reads() %}\n{{ source('app', 'secret') }}\n{% endmacro %}\n",
        "tests/t.sql": "select * from {{ ref('fine') }}\njoin {{ source('other', 'x') }} using (v)\n",
    }
    report, out, text = _import(tmp_path, files)
    found = {(what, where): why for kind, what, where, why in _skipped(report) if kind == "source() call"}
    why = found[("source('app', 'orders_legacy_tbl')", "models/by_identifier.sql:2")]
    assert "declares no table 'orders_legacy_tbl'" in why and "source('app', 'legacy')" in why, text
    assert ("source('app', 'secret')", "models/undeclared.sql:2") in found, text
    assert ("source('app', 'secret')", "macros/reads.sql:2") in found, text
    assert "declares no source 'other'" in found[("source('other', 'x')", "tests/t.sql:2")], text
    for other in ("undeclared.sql", "tests/t.sql"):
        (out / "features" / other).unlink()
    with pytest.raises(ProjectError) as raised:  # toolkit has a table of that name: dbt reads none, nor does toolkit
        compile_project(out)
    assert "declares no table 'orders_legacy_tbl'" in raised.value.message, raised.value
    (out / "features" / "by_identifier.sql").unlink()
    _tables(out)
    result = cli("run", "-p", str(out))
    assert result.code == 0, result
    assert _rows(out, "features.fine") == [("LEGACY",)]
