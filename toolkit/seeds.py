"""Read seed files into Arrow: CSV with declared or inferred types, or Parquet.

A malformed file is a ProjectError naming the file and the line: Arrow's CSV
reader does not report line numbers, so on failure the file is re-read with the
csv module to find the offending line.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pyarrow as pa

from toolkit.errors import ProjectError
from toolkit.project import Seed

_CONVERSION = re.compile(r"In CSV column #(\d+): .*?CSV conversion error to (\S+): invalid value '(.*)'", re.S)


def arrow_type(sql_type: str, file: str):
    """The Arrow type for a declared SQL type name (sqlglot parses the name)."""
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        kind = exp.DataType.build(sql_type, dialect="duckdb")
    except (ParseError, ValueError):
        raise ProjectError(f"unknown column type '{sql_type}'", file) from None
    T = exp.DataType.Type
    simple = {
        T.TINYINT: pa.int8(), T.SMALLINT: pa.int16(), T.INT: pa.int32(), T.BIGINT: pa.int64(),
        T.FLOAT: pa.float32(), T.DOUBLE: pa.float64(), T.BOOLEAN: pa.bool_(),
        T.VARCHAR: pa.string(), T.TEXT: pa.string(), T.CHAR: pa.string(), T.DATE: pa.date32(),
        T.TIMESTAMP: pa.timestamp("us"), T.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    }
    if kind.this in simple:
        return simple[kind.this]
    if kind.this == T.DECIMAL:
        params = [int(p.name) for p in kind.expressions] or [18, 3]
        return pa.decimal128(*(params + [0])[:2])
    raise ProjectError(f"column type '{sql_type}' is not supported for seeds", file)


def read_seed(seed: Seed, root: Path) -> pa.Table:
    relative = seed.path.relative_to(root).as_posix()
    if seed.path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(seed.path)
        except (pa.ArrowInvalid, OSError) as error:
            raise ProjectError(f"cannot read Parquet seed: {error}", relative) from None
    import pyarrow.csv as pacsv

    declared = seed.declared_in.relative_to(root).as_posix() if seed.declared_in else relative
    types = {name: arrow_type(kind, declared) for name, kind in seed.column_types.items()}
    try:
        table = pacsv.read_csv(seed.path, convert_options=pacsv.ConvertOptions(column_types=types))
    except pa.ArrowInvalid as error:
        raise ProjectError(*_diagnose(seed.path, str(error)), file=relative) from None
    missing = set(types) - set(table.column_names)
    if missing:
        raise ProjectError(f"declared column(s) {', '.join(sorted(missing))} not in the header", relative, 1)
    return table


def seed_columns(seed: Seed, root: Path) -> list[str]:
    """Column names without reading the whole file."""
    if seed.path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return [name.lower() for name in pq.read_schema(seed.path).names]
    with seed.path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise ProjectError("seed file is empty: it needs a header row", seed.path.relative_to(root).as_posix(), 1)
    return [name.strip().lower() for name in header]


def _diagnose(path: Path, arrow_message: str) -> tuple[str, int | None]:
    """(message, line) for an Arrow CSV error, found by re-reading with the csv module."""
    conversion = _CONVERSION.search(arrow_message)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        for row in reader:
            line = reader.line_num
            if len(row) != len(header):
                return f"malformed CSV: expected {len(header)} columns, got {len(row)}", line
            if conversion:
                column = int(conversion.group(1))
                if column < len(row) and row[column] == conversion.group(3):
                    return (
                        f"malformed CSV: column '{header[column]}' value '{row[column]}' is not a valid {conversion.group(2)}",
                        line,
                    )
    return f"malformed CSV: {arrow_message}", None
