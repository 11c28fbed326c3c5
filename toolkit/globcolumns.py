"""The files of a glob file source have one set of columns (filesources.describe).

DuckDB's reader takes the columns of a glob from its first file. A later file without
one of them failed only when a step read the source (a step "failed", exit 1, on
DuckDB; exit 2 at the load on other engines); a later file with a column the first
has not lost that column without a word (a step reading it was "unknown column").
Both are the files' mistake: exit 2 at the source's declaration, naming the file and
the column, before anything is built.

Cheap: a Parquet file's schema is in its footer (pyarrow.parquet.read_schema), a CSV
file's names are its first line; and describe() runs when the project compiles, which
the compile cache skips while the files' names, sizes and mtimes are unchanged.

Names are compared as DuckDB's reader matches them: case-insensitively in Parquet
files, exactly in CSV files (a header `ID` where the first file has `id` is a mismatch
there). Parquet types are compared by family (int32 and int64 read as one column; a
string where the first file has numbers does not), and numbers by kind: DuckDB converts
a later file's values to the first file's type, so a double 2.7 under a first file's
int64 read as 3 (exit 0, on every engine). Integers, floating point and each decimal
type are kinds; files that differ there are exit 2 unless the column is declared a
floating point or decimal type, which the reader then unifies them in (filesources.reader:
union_by_name, which reads int64 and double as double) before casting to it.
"""

from __future__ import annotations

from pathlib import Path

from sqlglot import exp

from toolkit.errors import ProjectError
from toolkit.sql import declared_type

_HINT = "the files of a glob need the same columns: fix or move the file, or give it a source of its own"


def check_same_columns(source, root: Path, found: list[Path], csv_dialect: tuple[str, str] | None, declared: dict[str, str]) -> None:
    """Every file of `found` has the first file's columns (and, in Parquet, their families, and
    their kinds of number unless `declared` makes the column a floating point or decimal one)."""
    columns = _parquet_columns if csv_dialect is None else lambda path: _csv_columns(path, csv_dialect)
    first = columns(found[0])
    if first is None:
        return
    for path in found[1:]:
        other = columns(path)
        if other is not None:
            _compare(source, root, found[0], first, path, other, declared)


def declares_fractions(source) -> bool:
    """Whether a column of the source is declared a floating point or decimal type: the files'
    numbers of other kinds are then read as one (filesources.reader), then cast to it."""
    return any(_fractional(source, kind) for kind in source.declared.values())


def _fractional(source, kind: str | None) -> bool:
    return kind is not None and declared_type(kind, source.dialect).is_type(*exp.DataType.REAL_TYPES)


def _compare(source, root: Path, first_path: Path, first: dict, path: Path, other: dict, declared: dict[str, str]) -> None:
    def fail(what: str, hint: str = _HINT) -> None:
        raise ProjectError(f"source {source.key}: {_shown(path, root)} {what}", source.file, source.line, hint=hint)

    declared = {column.lower(): kind for column, kind in declared.items()}
    for key, (name, kind, number) in first.items():
        if key not in other:
            fail(f"has no column '{name}', which {_shown(first_path, root)} has")
        other_name, other_kind, other_number = other[key]
        if kind and other_kind and kind != other_kind:
            fail(f"has column '{other_name}' as {other_kind}, but {_shown(first_path, root)} has it as {kind}")
        if number and other_number and number != other_number and not _fractional(source, declared.get(key)):
            fail(f"has column '{other_name}' as {other_number}, but {_shown(first_path, root)} has it as {number}: "
                 "read as the first file's type, its values would be converted (2.7 read as 3)",
                 hint=f'declare the type they are read as in its columns, e.g. {name} = "double"')
    for key, (name, *_) in other.items():
        if key not in first:
            fail(f"has column '{name}', which {_shown(first_path, root)} has not (DuckDB reads the first file's columns)")


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _parquet_columns(path: Path) -> dict[str, tuple[str, str | None, str | None]] | None:
    """lower-case name -> (name, type family, kind of number) from the file's footer, no rows read."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception:  # not Parquet, or damaged: DuckDB's reader says so when it reads the file
        return None
    return {field.name.lower(): (field.name, _family(field.type), _number_kind(field.type)) for field in schema}


def _number_kind(kind) -> str | None:
    """integer (of any width: a wider one that does not fit fails the read, it is not rounded),
    floating point, or the decimal type; None for what is not a number."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind):
        return "floating point"
    if pa.types.is_decimal(kind):
        return f"decimal({kind.precision},{kind.scale})"
    return None


def _family(kind) -> str | None:
    import pyarrow as pa

    checks = (("number", (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)),
              ("text", (pa.types.is_string, pa.types.is_large_string)),
              ("boolean", (pa.types.is_boolean,)), ("time", (pa.types.is_temporal,)),
              ("binary", (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_fixed_size_binary)))
    if pa.types.is_dictionary(kind):  # pandas' categories: DuckDB reads their values
        kind = kind.value_type
    # a column of only nulls reads as any type; nested types are not judged
    return next((family for family, tests in checks if any(test(kind) for test in tests)), None)


def _csv_columns(path: Path, csv_dialect: tuple[str, str]) -> dict[str, tuple[str, None, None]] | None:
    """name -> (name, None, None) from the file's first line, split as the first file's lines are."""
    try:
        header = first_row(path, *csv_dialect)
    except OSError:
        return None
    if header is None:
        return None
    if header:
        header[0] = header[0].removeprefix("\ufeff")  # a byte-order mark is not part of the first name
    return {name: (name, None, None) for name in header}


def first_row(path: Path, delimiter: str, quote: str) -> list[str] | None:
    """The file's first line as fields, split the way DuckDB's sniffer found the rows are
    (Python's csv module); None where that cannot be said in its terms."""
    import csv

    if len(delimiter) != 1 or len(quote) > 1 and quote != "(empty)":
        return None
    quoting = {"quoting": csv.QUOTE_NONE} if quote == "(empty)" else {"quotechar": quote}
    with open(path, encoding="utf-8", errors="replace", newline="") as file:
        return next(csv.reader(file, delimiter=delimiter, **quoting), None)
