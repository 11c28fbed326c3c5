"""A Parquet (or CSV) glob whose files hold one column's numbers in different kinds (int64 in
one file, double in another) read as the declared type, each file's values cast to it
directly (tester R's finding 05: DuckDB's union_by_name read them all as double first, and
an int64 9007199254740993 declared decimal(20,2) was published as 9007199254740992.00,
exit 0), on DuckDB (a view over the files) and on PostgreSQL (loaded through DuckDB's
reader). Undeclared, the files are exit 2, with an example of the conversion the first
file's type would make."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest
from postgres_support import built_on_both, pg_url, two_target_project  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow  # end-to-end runs

BIG = 9007199254740993  # 2^53 + 1: no double holds it


def _project(root, url: str, tables: dict, columns: str = "", suffix: str = "parquet") -> None:
    """Files data/<name>.<suffix> of the glob source raw.t (id, amount), a step reading it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    declared = f"columns = {{ {columns} }}\n" if columns else ""
    two_target_project(root, url, {"warehouse/sources.toml": f'[raw.tables.t]\npath = "data/*.{suffix}"\n{declared}',
                                   "features/s.sql": "select id, amount from {{ source('raw', 't') }}\n"})
    (root / "data").mkdir(exist_ok=True)
    for name, table in tables.items():
        if suffix == "csv":
            (root / f"data/{name}.csv").write_text(table)
        else:
            pq.write_table(pa.table(table), root / f"data/{name}.parquet")


def _ids(values, kind):
    import pyarrow as pa

    return {"id": pa.array([i for i, _ in values], pa.int64()), "amount": pa.array([v for _, v in values], kind)}


def _mixed(first_int: bool) -> dict:
    import pyarrow as pa

    doubles, ints = _ids([(1, 2.7)], pa.float64()), _ids([(2, BIG)], pa.int64())
    return {"a": ints, "b": doubles} if first_int else {"a": doubles, "b": ints}


@pytest.mark.parametrize("first_int", [False, True], ids=["double-first", "int64-first"])
def test_an_int64_past_2_53_declared_decimal_is_published_exactly(tmp_path, pg_url, run_cli, first_int):  # noqa: F811
    _project(tmp_path, pg_url, _mixed(first_int), 'id = "bigint", amount = "decimal(20,2)"')
    duck_types, duck_rows, _, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "s")
    expected = [(1, Decimal("2.70")), (2, Decimal("9007199254740993.00"))]
    assert duck_types["amount"] == "DECIMAL(20,2)"
    assert duck_rows == expected
    assert [(i, Decimal(str(a))) for i, a in pg_rows] == expected


def test_a_decimal_file_and_a_double_file_declared_decimal(tmp_path, pg_url, run_cli):  # noqa: F811
    import pyarrow as pa

    _project(tmp_path, pg_url, {"a": _ids([(1, Decimal("12345678.91"))], pa.decimal128(10, 2)),
                                "b": _ids([(2, 2.5)], pa.float64()), "c": _ids([(3, BIG)], pa.int64())},
             'amount = "decimal(20,2)"')
    _, duck_rows, _, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "s")
    expected = [(1, Decimal("12345678.91")), (2, Decimal("2.50")), (3, Decimal("9007199254740993.00"))]
    assert duck_rows == expected
    assert [(i, Decimal(str(a))) for i, a in pg_rows] == expected


def test_a_file_added_later_is_read_cast_too(tmp_path, pg_url, run_cli):  # noqa: F811
    """The files are read one by one: the next run reads the glob's new file as well."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _project(tmp_path, pg_url, _mixed(False), 'amount = "decimal(20,2)"')
    built_on_both(run_cli, tmp_path, pg_url, "s")
    pq.write_table(pa.table(_ids([(3, BIG + 2)], pa.int64())), tmp_path / "data/c.parquet")
    _, duck_rows, _, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "s")
    assert duck_rows[2:] == [(3, Decimal("9007199254740995.00"))]
    assert [(i, Decimal(str(a))) for i, a in pg_rows][2:] == [(3, Decimal("9007199254740995.00"))]


def test_declared_double_reads_the_int64_as_that_file_alone_would(tmp_path, pg_url, run_cli):  # noqa: F811
    """A double cannot hold 2^53 + 1: declared double, the value is the double nearest it,
    the one that file alone declared double reads (the declaration's rounding, not another file's)."""
    _project(tmp_path, pg_url, _mixed(True), 'amount = "double"')
    _, duck_rows, _, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "s")
    alone = duckdb.connect().execute(f"select cast(cast({BIG} as bigint) as double)").fetchall()[0][0]
    assert duck_rows == [(1, 2.7), (2, alone)]
    assert sorted(a for _, a in pg_rows) == sorted(a for _, a in duck_rows)


def test_declared_bigint_over_an_int64_file_and_a_double_file_is_refused(tmp_path, pg_url, run_cli):  # noqa: F811
    """Whole doubles (2.0) too: a double file is refused under an integer declaration by its
    type, as one such file alone is, not by its values."""
    import pyarrow as pa

    _project(tmp_path, pg_url, {"a": _ids([(1, 2)], pa.int64()), "b": _ids([(2, 2.0)], pa.float64())}, 'amount = "bigint"')
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 2, out + err
    assert "data/b.parquet has column 'amount' as floating point, but data/a.parquet has it as integer" in err, err
    assert "read as declared, bigint" in err and "(2.7 read as 3)" in err and "Traceback" not in err, err


@pytest.mark.parametrize("first, other, example, hint", [
    ("int64", "double", "(2.7 read as 3)", 'amount = "double"'),
    ("double", "int64", "(9007199254740993 read as 9007199254740992)", 'amount = "double"'),
    ("decimal", "double", "(2.125 read as 2.13)", 'amount = "double"'),
    ("decimal", "int64", "(a number of more than 8 digit(s) before the point does not fit)", 'amount = "decimal(38,2)"'),
])
def test_the_undeclared_message_shows_what_the_first_files_type_does(tmp_path, pg_url, run_cli, first, other, example, hint):  # noqa: F811
    import pyarrow as pa

    kinds = {"int64": (pa.int64(), 2), "double": (pa.float64(), 2.5), "decimal": (pa.decimal128(10, 2), Decimal("2.50"))}
    _project(tmp_path, pg_url, {"a": _ids([(1, kinds[first][1])], kinds[first][0]),
                                "b": _ids([(2, kinds[other][1])], kinds[other][0])})
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 2, out + err
    assert "data/b.parquet has column 'amount'" in err and example in err and hint in err, err
    if first != "int64":
        assert "2.7 read as 3" not in err, err


def test_a_csv_glob_declared_decimal_parses_each_files_text_exactly(tmp_path, pg_url, run_cli):  # noqa: F811
    _project(tmp_path, pg_url, {"a": "id,amount\n1,2.7\n", "b": f"id,amount\n2,{BIG}\n"},
             'id = "bigint", amount = "decimal(20,2)"', suffix="csv")
    _, duck_rows, _, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "s")
    expected = [(1, Decimal("2.70")), (2, Decimal("9007199254740993.00"))]
    assert duck_rows == expected
    assert [(i, Decimal(str(a))) for i, a in pg_rows] == expected


def test_numeric_without_precision_over_files_of_two_kinds_is_refused(tmp_path, pg_url, run_cli):  # noqa: F811
    """PostgreSQL's numeric keeps a Parquet column's own exact type; files of two kinds have
    none in common (read as one, 9007199254740993 became a double): exit 2, not a rounding."""
    _project(tmp_path, pg_url, _mixed(False), 'amount = "numeric"')
    config = tmp_path / "toolkit.toml"
    config.write_text(config.read_text().replace('dialect = "duckdb"', 'dialect = "postgres"'))
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 2, out + err
    assert "data/b.parquet has column 'amount' as integer, but data/a.parquet has it as floating point: declared numeric" in err, err
    assert 'amount = "numeric(38,6)"' in err and "Traceback" not in err, err
