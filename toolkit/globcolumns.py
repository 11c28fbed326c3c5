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
floating point or decimal type, which the reader then casts each file's column to
(filesources.reader: one read per file; DuckDB's union_by_name read int64 and double as
double first, so an int64 past 2^53 declared decimal lost digits). The message's example
of a conversion is one the first file's type makes (a double 2.7 read as 3 into an
integer, an int64 9007199254740993 as 9007199254740992 into a double, 2.125 as 2.13 into
a decimal(10,2)). A column declared an integer type over files of which one has doubles
stays exit 2 whatever their values, as one such file alone is (sourcecolumns); so does
one declared PostgreSQL's numeric without precision, which keeps each file's own type.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from sqlglot import exp

from toolkit.errors import ProjectError
from toolkit.sql import any_decimal, declared_type

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


def number_kinds_differ(found: list[Path]) -> bool:
    """Whether a column's kind of number differs between the Parquet files `found`."""
    seen: dict[str, str] = {}
    for path in found:
        for key, (_name, _family, number) in (_parquet_columns(path) or {}).items():
            if number and seen.setdefault(key, number) != number:
                return True
    return False


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
        if number and other_number and number != other_number and _any_precision(source, declared.get(key)):
            fail(f"has column '{other_name}' as {other_number}, but {_shown(first_path, root)} has it as {number}: "
                 f"declared {declared[key]}, each file's column keeps its own type, and the files' are not one",
                 hint=f'declare its precision and scale, e.g. {name} = "numeric(38,{_scale(number) or _scale(other_number) or 6})"')
        if number and other_number and number != other_number and not _fractional(source, declared.get(key)):
            fail(f"has column '{other_name}' as {other_number}, but {_shown(first_path, root)} has it as {number}: "
                 f"read as {_read_as(source, declared.get(key))}, its values would be converted "
                 f"({_converted(other_number, 'integer' if _integral(source, declared.get(key)) else number)})",
                 hint=f'declare the type they are read as in its columns, e.g. {name} = "{_suggested(number, other_number)}"')
    for key, (name, *_) in other.items():
        if key not in first:
            fail(f"has column '{name}', which {_shown(first_path, root)} has not (DuckDB reads the first file's columns)")


def _any_precision(source, kind: str | None) -> bool:
    """PostgreSQL's numeric without precision: a Parquet column declared so keeps its own
    exact type (filesources.read_types), which files of two kinds have not (read as one,
    an int64 and a double were both doubles: 9007199254740993 lost its last digit)."""
    return kind is not None and any_decimal(declared_type(kind, source.dialect))


def _integral(source, kind: str | None) -> bool:
    return kind is not None and declared_type(kind, source.dialect).is_type(*exp.DataType.INTEGER_TYPES)


def _read_as(source, declared: str | None) -> str:
    return f"declared, {declared}" if _integral(source, declared) else "the first file's type"


def _converted(other: str, into: str) -> str:
    """An example of what reading a number of kind `other` as kind `into` does to it."""
    if into == "integer":
        return "2.7 read as 3"
    if into == "floating point":
        return "9007199254740993 read as 9007199254740992" if other == "integer" else "0.10 read as 0.1000000000000000055511151231257827"
    scale, digits = _scale(into), _precision(into) - _scale(into)
    if other == "integer" or (_scale(other) is not None and _precision(other) - _scale(other) > digits and _scale(other) <= scale):
        return f"a number of more than {digits} digit(s) before the point does not fit"
    if _scale(other) is not None and _scale(other) <= scale:
        return f"{other} read as {into}"
    shown = Decimal("2." + ("12" * scale)[:scale] + "5")
    return f"{shown} read as {shown.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)}"


def _scale(kind: str) -> int | None:
    return int(kind.rstrip(")").split(",")[1]) if kind.startswith("decimal(") else None


def _precision(kind: str) -> int:
    return int(kind.removeprefix("decimal(").split(",")[0])


def _suggested(first: str, other: str) -> str:
    """A declaration that holds both kinds exactly where one does: a decimal's where the
    other is an integer, else a double."""
    scales = [scale for scale in (_scale(first), _scale(other)) if scale is not None]
    if scales and "floating point" not in (first, other):
        return f"decimal(38,{max(scales)})"
    return "double"


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
