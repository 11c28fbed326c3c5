"""seeds.py (and seed discovery in project.py): declared and inferred types, Parquet,
and malformed files named by file and line."""

from __future__ import annotations

import datetime
import hashlib
import json
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toolkit.errors import ProjectError
from toolkit.project import discover_seeds
from toolkit.seeds import arrow_type, content_hash, read_seed, seed_columns


def seeds_of(tmp_path, files: dict[str, str | bytes]):
    for relative, content in files.items():
        path = tmp_path / "warehouse" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return discover_seeds(tmp_path)


def read(tmp_path, files, name: str) -> pa.Table:
    return read_seed(seeds_of(tmp_path, files)[name], tmp_path)


def error_of(function, *args) -> ProjectError:
    with pytest.raises(ProjectError) as caught:
        function(*args)
    return caught.value


def test_inferred_types(tmp_path):
    table = read(tmp_path, {"seeds/people.csv": "id,name,score,born,active\n1,Ann,1.5,2001-02-03,true\n2,Bob,,1999-12-31,false\n"}, "people")
    assert table.schema.types == [pa.int64(), pa.string(), pa.float64(), pa.date32(), pa.bool_()]
    assert table.column("score").to_pylist() == [1.5, None]


def test_declared_types(tmp_path):
    files = {
        "seeds/prices.csv": "sku,price,code,day\n1,2.50,007,2024-01-02\n",
        "seeds.toml": '[prices]\ncolumns = { sku = "smallint", price = "decimal(10, 2)", code = "varchar", day = "date" }\n',
    }
    seed = seeds_of(tmp_path, files)["prices"]
    assert seed.declared_in == tmp_path / "warehouse" / "seeds.toml"
    table = read_seed(seed, tmp_path)
    assert table.schema.field("sku").type == pa.int16()
    assert table.schema.field("price").type == pa.decimal128(10, 2)
    assert table.to_pylist() == [{"sku": 1, "price": Decimal("2.50"), "code": "007", "day": datetime.date(2024, 1, 2)}]


def test_declared_timestamp(tmp_path):
    files = {"seeds/t.csv": "at\n2024-01-02 03:04:05\n", "seeds.toml": '[t]\ncolumns = { at = "timestamp" }\n'}
    assert read(tmp_path, files, "t").column("at").to_pylist() == [datetime.datetime(2024, 1, 2, 3, 4, 5)]


def test_inferred_timestamps_are_microseconds(tmp_path):
    """Arrow infers timestamp[s] when the file has no fractions; the warehouse would then hold
    a TIMESTAMP_S that rounds '23:59:59.9999' up to the next day."""
    table = read(tmp_path, {"seeds/t.csv": "at\n2024-01-02 23:59:59\n"}, "t")
    assert table.schema.field("at").type == pa.timestamp("us")
    assert table.column("at").to_pylist() == [datetime.datetime(2024, 1, 2, 23, 59, 59)]


def test_declared_types_for_some_columns_only(tmp_path):
    files = {"seeds/t.csv": "a,b\n1,2\n", "seeds.toml": '[t]\ncolumns = { a = "varchar" }\n'}
    assert read(tmp_path, files, "t").schema.types == [pa.string(), pa.int64()]


@pytest.mark.parametrize(
    "sql_type, arrow",
    [
        ("bigint", pa.int64()), ("INTEGER", pa.int32()), ("double", pa.float64()), ("real", pa.float32()),
        ("boolean", pa.bool_()), ("text", pa.string()), ("timestamp", pa.timestamp("us")), ("datetime", pa.timestamp("us")), ("timestamptz", pa.timestamp("us", tz="UTC")),
        ("date", pa.date32()), ("decimal(5,1)", pa.decimal128(5, 1)),
    ],
)
def test_arrow_type(sql_type, arrow):
    assert arrow_type(sql_type, "seeds.toml") == arrow


@pytest.mark.parametrize("sql_type", ["not a type((", "blob"])
def test_arrow_type_rejects(sql_type):
    assert error_of(arrow_type, sql_type, "seeds.toml").file == "seeds.toml"


def test_parquet(tmp_path):
    path = tmp_path / "warehouse" / "seeds" / "events.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"ID": [1, 2], "when": pa.array([datetime.date(2024, 1, 1)] * 2)}), path)
    seed = discover_seeds(tmp_path)["events"]
    assert read_seed(seed, tmp_path).num_rows == 2
    assert seed_columns(seed, tmp_path) == ["id", "when"]


def test_parquet_declared_types_are_applied(tmp_path):
    """seeds.toml types hold for a Parquet seed as for a CSV one (they were ignored)."""
    path = tmp_path / "warehouse" / "seeds" / "events.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2], "amount": ["1.50", "2"], "day": ["2024-01-02", None]}), path)
    (tmp_path / "warehouse" / "seeds.toml").write_text('[events]\ncolumns = { id = "smallint", amount = "decimal(10, 2)", day = "date" }\n')
    table = read_seed(discover_seeds(tmp_path)["events"], tmp_path)
    assert table.schema.types == [pa.int16(), pa.decimal128(10, 2), pa.date32()]
    assert table.to_pylist()[0] == {"id": 1, "amount": Decimal("1.50"), "day": datetime.date(2024, 1, 2)}


@pytest.mark.parametrize("declared, message", [
    ('n = "tinyint"', "[events] declares column 'n' tinyint, but row 2 of warehouse/seeds/events.parquet holds '300', which is not a valid tinyint"),
    ('day = "boolean"', "[events] declares column 'day' boolean, but warehouse/seeds/events.parquet stores it as date32[day], which cannot be cast to boolean"),
    ('nn = "int"', "[events] declares column(s) nn, not in the header of warehouse/seeds/events.parquet (n, day)"),
])
def test_a_parquet_value_that_does_not_cast_is_exit_2_at_the_declaration(tmp_path, declared, message):
    path = tmp_path / "warehouse" / "seeds" / "events.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"n": [1, 300], "day": [datetime.date(2024, 1, 1)] * 2}), path)
    (tmp_path / "warehouse" / "seeds.toml").write_text(f"# events\n[events]\ncolumns = {{ {declared} }}\n")
    error = error_of(seed_columns, discover_seeds(tmp_path)["events"], tmp_path)  # at compile time, before a run
    assert (error.file, error.line, error.exit_code) == ("warehouse/seeds.toml", 3, 2)
    assert message in str(error), str(error)


def test_corrupt_parquet(tmp_path):
    seed = seeds_of(tmp_path, {"seeds/bad.parquet": b"not parquet at all"})["bad"]
    assert error_of(seed_columns, seed, tmp_path).file == "warehouse/seeds/bad.parquet"


def test_wrong_column_count_names_the_line(tmp_path):
    seed = seeds_of(tmp_path, {"seeds/t.csv": "a,b\n1,2\n3,4\n5,6,7\n8,9\n"})["t"]
    error = error_of(read_seed, seed, tmp_path)
    assert (error.file, error.line) == ("warehouse/seeds/t.csv", 4)
    assert error.message == "malformed CSV: expected 2 columns, got 3"


def test_value_not_matching_declared_type_names_the_line(tmp_path):
    files = {"seeds/t.csv": "id,amount\n1,2.5\n2,3\n3,abc\n", "seeds.toml": '[t]\ncolumns = { amount = "double" }\n'}
    error = error_of(read_seed, seeds_of(tmp_path, files)["t"], tmp_path)
    assert (error.file, error.line) == ("warehouse/seeds/t.csv", 4)
    assert "column 'amount' value 'abc' is not a valid double" in error.message


def test_line_numbers_count_quoted_newlines(tmp_path):
    seed = seeds_of(tmp_path, {"seeds/t.csv": 'a,b\n"multi\nline",1\nx,2,3\n'})["t"]
    assert error_of(read_seed, seed, tmp_path).line == 4


def test_seed_columns_checks_the_whole_file(tmp_path):
    # so a malformed seed is a project error before the run touches the warehouse
    seed = seeds_of(tmp_path, {"seeds/t.csv": "a,b\n1,2\n3\n"})["t"]
    assert error_of(seed_columns, seed, tmp_path).line == 3


def test_seed_columns(tmp_path):
    seed = seeds_of(tmp_path, {"seeds/t.csv": "\ufeffID, Name\n1,x\n"})["t"]
    assert seed_columns(seed, tmp_path) == ["id", "name"]


def test_empty_seed(tmp_path):
    seed = seeds_of(tmp_path, {"seeds/t.csv": ""})["t"]
    assert "empty" in error_of(seed_columns, seed, tmp_path).message


def test_not_utf8(tmp_path):
    seed = seeds_of(tmp_path, {"seeds/t.csv": b"a,b\n1,2\n3,\xe9\n"})["t"]
    error = error_of(seed_columns, seed, tmp_path)
    assert (error.file, error.line) == ("warehouse/seeds/t.csv", 3)


def test_unsupported_declared_type_names_the_line(tmp_path):
    files = {"seeds/t.csv": "a,b\n1,2\n", "seeds.toml": '[other]\ncolumns = { b = "bigint" }\n\n[t.columns]\na = "bigint"\nb = "blob"\n'}
    (tmp_path / "warehouse/seeds").mkdir(parents=True)
    (tmp_path / "warehouse/seeds/other.csv").write_text("b\n1\n")
    error = error_of(read_seed, seeds_of(tmp_path, files)["t"], tmp_path)
    assert (error.file, error.line) == ("warehouse/seeds.toml", 6)
    assert "'blob' is not supported" in error.message


def test_declared_column_not_in_header(tmp_path):
    """Named at the declaration in seeds.toml (it pointed at the CSV's line 1), with the header."""
    files = {"seeds/t.csv": "a,b\n1,2\n", "seeds.toml": '[t]\n\n[t.columns]\na = "bigint"\nB = "bigint"\n'}
    error = error_of(read_seed, seeds_of(tmp_path, files)["t"], tmp_path)
    assert (error.file, error.line) == ("warehouse/seeds.toml", 5)
    assert error.message == "[t] declares column(s) B, not in the header of warehouse/seeds/t.csv (a, b)"


def test_seeds_toml_names_a_missing_file(tmp_path):
    files = {"seeds/t.csv": "a\n1\n", "seeds.toml": '[t]\ncolumns = { a = "bigint" }\n\n[tt]\ncolumns = { a = "bigint" }\n'}
    error = error_of(seeds_of, tmp_path, files)
    assert (error.file, error.line) == ("warehouse/seeds.toml", 4)


def test_seed_names_must_be_identifiers_and_unique(tmp_path):
    assert "not a valid identifier" in error_of(seeds_of, tmp_path, {"seeds/my-seed.csv": "a\n1\n"}).message


def test_csv_and_parquet_with_one_name(tmp_path):
    seeds_of(tmp_path, {"seeds/t.csv": "a\n1\n"})
    pq.write_table(pa.table({"a": [1]}), tmp_path / "warehouse" / "seeds" / "t.parquet")
    assert "duplicate seed 't'" in error_of(discover_seeds, tmp_path).message


def test_a_header_in_mixed_case_is_published_in_lower_case(tmp_path):
    # toolkit's catalog names seed columns in lower case; published as written, "CustomerId"
    # was case-sensitive on PostgreSQL and no step reading customerid found it
    files = {"seeds/regions.csv": "CustomerId, Region Name\n1,north\n"}
    assert read(tmp_path, files, "regions").column_names == ["customerid", "region name"]
    assert seed_columns(seeds_of(tmp_path, files)["regions"], tmp_path) == ["customerid", "region name"]
    table = pa.table({"CustomerId": [1], "region": ["north"]})
    pq.write_table(table, tmp_path / "warehouse" / "seeds" / "places.parquet")
    assert read(tmp_path, {}, "places").column_names == ["customerid", "region"]


def test_a_renamed_header_changes_the_content_hash_and_a_lower_case_one_keeps_it(tmp_path):
    seed = seeds_of(tmp_path, {"seeds/a.csv": "id,name\n1,x\n", "seeds/b.csv": "Id,name\n1,x\n"})
    a = seed["a"]
    assert content_hash(a, ["id", "name"]) == hashlib.sha256(a.path.read_bytes() + json.dumps(a.column_types, sort_keys=True).encode()).hexdigest()
    b = seed["b"]
    assert content_hash(b, ["Id", "name"]) != hashlib.sha256(b.path.read_bytes() + json.dumps(b.column_types, sort_keys=True).encode()).hexdigest()


def test_columns_that_differ_only_in_case_are_refused(tmp_path):
    error = error_of(seed_columns, seeds_of(tmp_path, {"seeds/twins.csv": "Id,id\n1,2\n"})["twins"], tmp_path)
    assert (error.file, error.line) == ("warehouse/seeds/twins.csv", 1)
    assert "columns 'Id', 'id' are one name in toolkit" in error.message


@pytest.mark.parametrize(("header", "message"), [
    ("id,,x", "column 2 of the header has no name"),
    ("id, ,x", "column 2 of the header has no name"),
    ("id,x,x", "column 'x' appears twice in the header"),
])
def test_a_header_without_a_name_or_with_one_twice_is_refused(tmp_path, header, message):
    """An empty name was published, and every step reading the seed failed at build
    ("zero-length delimited identifier")."""
    error = error_of(seed_columns, seeds_of(tmp_path, {"seeds/bad.csv": f"{header}\n1,2,3\n"})["bad"], tmp_path)
    assert (error.file, error.line) == ("warehouse/seeds/bad.csv", 1)
    assert message in error.message


def test_a_parquet_header_without_a_name_is_refused(tmp_path):
    seed_dir = tmp_path / "warehouse" / "seeds"
    seed_dir.mkdir(parents=True)
    pq.write_table(pa.table({"id": [1], "": [2]}), seed_dir / "p.parquet")
    error = error_of(seed_columns, seeds_of(tmp_path, {})["p"], tmp_path)
    assert "column 2 of the header has no name" in error.message
