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
string where the first file has numbers does not).
"""

from __future__ import annotations

from pathlib import Path

from toolkit.errors import ProjectError

_HINT = "the files of a glob need the same columns: fix or move the file, or give it a source of its own"


def check_same_columns(source, root: Path, found: list[Path], csv_dialect: tuple[str, str] | None) -> None:
    """Every file of `found` has the first file's columns (and, in Parquet, their families)."""
    columns = _parquet_columns if csv_dialect is None else lambda path: _csv_columns(path, csv_dialect)
    first = columns(found[0])
    if first is None:
        return
    for path in found[1:]:
        other = columns(path)
        if other is not None:
            _compare(source, root, found[0], first, path, other)


def _compare(source, root: Path, first_path: Path, first: dict, path: Path, other: dict) -> None:
    def fail(what: str) -> None:
        raise ProjectError(f"source {source.key}: {_shown(path, root)} {what}", source.file, source.line, hint=_HINT)

    for key, (name, kind) in first.items():
        if key not in other:
            fail(f"has no column '{name}', which {_shown(first_path, root)} has")
        other_name, other_kind = other[key]
        if kind and other_kind and kind != other_kind:
            fail(f"has column '{other_name}' as {other_kind}, but {_shown(first_path, root)} has it as {kind}")
    for key, (name, _) in other.items():
        if key not in first:
            fail(f"has column '{name}', which {_shown(first_path, root)} has not (DuckDB reads the first file's columns)")


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _parquet_columns(path: Path) -> dict[str, tuple[str, str | None]] | None:
    """lower-case name -> (name, type family) from the file's footer, no rows read."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception:  # not Parquet, or damaged: DuckDB's reader says so when it reads the file
        return None
    return {field.name.lower(): (field.name, _family(field.type)) for field in schema}


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


def _csv_columns(path: Path, csv_dialect: tuple[str, str]) -> dict[str, tuple[str, None]] | None:
    """name -> (name, None) from the file's first line, split as the first file's lines are."""
    try:
        header = first_row(path, *csv_dialect)
    except OSError:
        return None
    if header is None:
        return None
    if header:
        header[0] = header[0].removeprefix("\ufeff")  # a byte-order mark is not part of the first name
    return {name: (name, None) for name in header}


def first_row(path: Path, delimiter: str, quote: str) -> list[str] | None:
    """The file's first line as fields, split the way DuckDB's sniffer found the rows are
    (Python's csv module); None where that cannot be said in its terms."""
    import csv

    if len(delimiter) != 1 or len(quote) > 1 and quote != "(empty)":
        return None
    quoting = {"quoting": csv.QUOTE_NONE} if quote == "(empty)" else {"quotechar": quote}
    with open(path, encoding="utf-8", errors="replace", newline="") as file:
        return next(csv.reader(file, delimiter=delimiter, **quoting), None)
