"""Sources, as users get them wrong or change them:

- the files of a glob file source with different columns are exit 2 at the source's
  line in warehouse/sources.toml, naming the file and the column, on DuckDB as on
  PostgreSQL (on DuckDB a step reading the source "failed", exit 1); checked from the
  files' footers and first lines, not again while the files are unchanged;
- a BigQuery-dialect project's `float` is BigQuery's FLOAT64, a double (it was REAL:
  16777217 became 16777216);
- promote and rollback compile the project as `run` does: a column its table source
  gained since the last run is read from the catalog, not "unknown column" with the
  step's post_hooks skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from _projects import cli_tuple, execute, make_project, query, run_in_process
from postgres_support import pg_url  # noqa: F401 (fixture)

GLOB = '[raw.tables.t]\npath = "data/*.{kind}"\n'
READER = "select * from {{ source('raw', 't') }}"


def glob_project(tmp_path: Path, kind: str, first, second) -> Path:
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": GLOB.format(kind=kind), "features/s.sql": READER})
    (root / "data").mkdir()
    for name, content in (("a", first), ("b", second)):
        if kind == "parquet":
            pq.write_table(content, root / "data" / f"{name}.parquet")
        else:
            (root / "data" / f"{name}.csv").write_text(content)
    return root


MISMATCHES = [
    ("parquet", pa.table({"id": [1], "amount": [2.0]}), pa.table({"id": [1], "other": [2.0]}),
     "data/b.parquet has no column 'amount', which data/a.parquet has"),
    # DuckDB dropped a later file's extra column without a word
    ("parquet", pa.table({"id": [1]}), pa.table({"id": [1], "extra": [2.0]}),
     "data/b.parquet has column 'extra', which data/a.parquet has not"),
    ("parquet", pa.table({"id": [1], "amount": [2.0]}), pa.table({"id": ["x"], "amount": [2.0]}),
     "data/b.parquet has column 'id' as text, but data/a.parquet has it as number"),
    ("csv", "id,amount\n1,2\n", "id,other\n1,2\n", "data/b.csv has no column 'amount', which data/a.csv has"),
    ("csv", "id,amount\n1,2\n", "id,amount,extra\n1,2,3\n", "data/b.csv has column 'extra', which data/a.csv has not"),
    ("csv", "id,amount\n1,2\n", "ID,amount\n1,2\n", "data/b.csv has no column 'id', which data/a.csv has"),
]


@pytest.mark.parametrize(("kind", "first", "second", "message"), MISMATCHES,
                         ids=["parquet renamed", "parquet extra", "parquet retyped", "csv renamed", "csv extra", "csv case"])
def test_glob_files_with_different_columns_are_exit_2_before_building(tmp_path, kind, first, second, message):
    root = glob_project(tmp_path, kind, first, second)
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 2 and "Traceback" not in err, out + err
    assert f"warehouse/sources.toml:1: source raw.t: {message}" in err, err
    assert "run 1" not in out  # refused before a run started: nothing built


@pytest.mark.parametrize(("kind", "first", "second", "rows"), [
    # what DuckDB's reader reads as one table: columns in another order, int32 beside int64,
    # a Parquet name in another case (DuckDB matches them so), pandas' categories beside text
    ("parquet", pa.table({"id": [1], "amount": [2.0]}), pa.table({"amount": [3.0], "id": [2]}), [(1, 2.0), (2, 3.0)]),
    ("parquet", pa.table({"id": pa.array([1], pa.int32())}), pa.table({"id": pa.array([2], pa.int64())}), [(1,), (2,)]),
    ("parquet", pa.table({"id": [1]}), pa.table({"ID": [2]}), [(1,), (2,)]),
    ("parquet", pa.table({"c": ["x"]}), pa.table({"c": pa.array(["y"]).dictionary_encode()}), [("x",), ("y",)]),
    ("csv", "id,amount\n1,2\n", "amount,id\n3,4\n", [(1, 2), (4, 3)]),
    ("csv", "\ufeffid,amount\n1,2\n", "id,amount\n3,4\n", [(1, 2), (3, 4)]),
], ids=["parquet order", "parquet widths", "parquet case", "parquet dictionary", "csv order", "csv bom"])
def test_glob_files_read_as_one_table_still_run(tmp_path, kind, first, second, rows):
    root = glob_project(tmp_path, kind, first, second)
    assert run_in_process(root).ok
    assert query(root, "select * from features.s order by 1") == rows


def test_an_unchanged_glob_is_not_read_again(tmp_path, monkeypatch):
    """The check runs where the files are described, when the project compiles; the compile
    cache is keyed on the files' names, sizes and mtimes, so a no-op run reads no file."""
    from toolkit import filesources, globcolumns
    from toolkit.compilecache import compile_cached

    root = glob_project(tmp_path, "parquet", pa.table({"id": [1]}), pa.table({"id": [2]}))
    assert cli_tuple("run", "-p", str(root), cwd=root)[0] == 0
    read, described = [], []
    original_read, original_describe = globcolumns._parquet_columns, filesources.describe
    monkeypatch.setattr(globcolumns, "_parquet_columns", lambda path: read.append(path.name) or original_read(path))
    monkeypatch.setattr(filesources, "describe", lambda source, root: described.append(source.key) or original_describe(source, root))
    # what `toolkit run` compiles with: the cache file the run above wrote
    assert compile_cached(root, disk=True).project.sources["raw.t"].columns == {"id": "BIGINT"}
    assert read == [] and described == []
    part = root / "data" / "b.parquet"
    os.utime(part, ns=(part.stat().st_atime_ns, part.stat().st_mtime_ns + 1_000_000))
    compile_cached(root, disk=True)
    assert read == ["a.parquet", "b.parquet"] and described == ["raw.t"]


def test_glob_files_with_different_columns_say_the_same_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = glob_project(tmp_path, "parquet", pa.table({"id": [1], "amount": [2.0]}), pa.table({"id": [1], "other": [2.0]}))
    with open(root / "toolkit.toml", "a") as config:
        config.write(f'\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n')
    code, out, err = cli_tuple("run", "-p", str(root), "--target", "pg", cwd=root)
    assert code == 2 and "Traceback" not in err, out + err
    assert "warehouse/sources.toml:1: source raw.t: data/b.parquet has no column 'amount', which data/a.parquet has" in err


# -- BigQuery's FLOAT is FLOAT64 --------------------------------------------------------

BIGQUERY = 'name = "proj"\ndialect = "bigquery"\ntarget = "dev"\n\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/proj.duckdb"\n'


def test_a_bigquery_project_seed_declared_float_is_a_double(tmp_path):
    root = make_project(tmp_path / "proj", {"warehouse/seeds/fl.csv": "id,price\n1,16777217\n",
                                            "warehouse/seeds.toml": '[fl]\ncolumns = { price = "float" }\n'})
    (root / "toolkit.toml").write_text(BIGQUERY)
    assert run_in_process(root).ok
    assert query(root, "select price, typeof(price) from raw.fl") == [(16777217.0, "DOUBLE")]


def test_a_bigquery_project_file_source_declared_float_is_a_double(tmp_path):
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": '[raw.tables.t]\npath = "data/t.csv"\ncolumns = { price = "float" }\n',
                                            "features/s.sql": READER, "data/t.csv": "id,price\n1,16777217\n"})
    (root / "toolkit.toml").write_text(BIGQUERY)
    assert run_in_process(root).ok
    assert query(root, "select price, typeof(price) from features.s") == [(16777217.0, "DOUBLE")]


@pytest.mark.parametrize(("dialect", "declared", "expected"), [
    ("bigquery", "float", "double"), ("bigquery", "FLOAT64", "double"), ("duckdb", "float", "float"), ("spark", "float", "float"),
])
def test_float_means_what_the_dialect_means(dialect, declared, expected):
    from toolkit.seeds import arrow_type

    assert str(arrow_type(declared, "warehouse/seeds.toml", dialect=dialect)) == expected


# -- promote and rollback read a column the catalog gained ---------------------------------

HOOKED = "{{ config(post_hook=\"comment on table {{ this }} is 'hooked'\") }}\nselect %s from {{ source('raw', 't') }}\n"


def test_promote_and_rollback_read_a_column_the_source_gained(tmp_path):
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": "[raw.tables.t]\n", "features/daily.sql": HOOKED % "id"},
                        setup_sql="create schema raw; create table raw.t as select 1 as id")
    step = root / "features" / "daily.sql"

    def toolkit(*args: str) -> str:
        code, out, err = cli_tuple(*args, "-p", str(root), cwd=root)
        assert code == 0, out + err
        return out + err

    def comment() -> list:
        return query(root, "select comment from duckdb_views() where schema_name = 'features' and view_name = 'daily'")

    toolkit("run")  # the source's columns are read from the catalog and remembered: id
    step.write_text(HOOKED % "id, 2 as two")
    toolkit("run", "--env", "dev")
    # the source gains a column and the step reads it, before any run has read the catalog again
    execute(root, "alter table raw.t add column x integer default 7")
    step.write_text(HOOKED % "id, x")
    for command in (("promote", "dev"), ("rollback",)):
        output = toolkit(*command)
        assert "post_hooks not run" not in output and "unknown column" not in output, output
        assert comment() == [("hooked",)], command
