"""Read seed files into Arrow: CSV with declared or inferred types, or Parquet.

A malformed file is a ProjectError naming the file and the line: Arrow's CSV
reader does not report line numbers, so on failure the file is re-read with the
csv module to find the offending line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

from toolkit.errors import ProjectError, did_you_mean, line_of
from toolkit.project import Seed

_CONVERSION = re.compile(r"In CSV column #(\d+): .*?CSV conversion error to (\S+): invalid value '(.*)'", re.S)


def arrow_type(sql_type: str, file: str, line: int | None = None, column: str | None = None):
    """The Arrow type for a declared SQL type name (sqlglot parses the name)."""
    import pyarrow as pa
    from sqlglot import exp
    from sqlglot.errors import ParseError

    what = f"column '{column}': " if column else ""
    try:
        kind = exp.DataType.build(sql_type, dialect="duckdb")
    except (ParseError, ValueError, TypeError):  # TypeError: text that parses as statements, not a type
        raise ProjectError(f"{what}unknown column type '{sql_type}'", file, line) from None
    T = exp.DataType.Type
    simple = {
        T.TINYINT: pa.int8(), T.SMALLINT: pa.int16(), T.INT: pa.int32(), T.BIGINT: pa.int64(),
        T.FLOAT: pa.float32(), T.DOUBLE: pa.float64(), T.BOOLEAN: pa.bool_(),
        T.VARCHAR: pa.string(), T.TEXT: pa.string(), T.CHAR: pa.string(), T.DATE: pa.date32(),
        T.TIMESTAMP: pa.timestamp("us"), T.TIMESTAMPNTZ: pa.timestamp("us"), T.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    }
    if kind.this in simple:
        return simple[kind.this]
    if kind.this == T.DECIMAL:
        try:
            params = [int(p.name) for p in kind.expressions] or [18, 3]
        except ValueError:  # decimal(x, 2)
            params = [0]
        precision, scale = (params + [0])[:2]
        if not 1 <= precision <= 38 or not 0 <= scale <= precision:
            raise ProjectError(f"{what}column type '{sql_type}': a seed's decimal has a precision of 1 to 38 digits "
                               "and a scale of 0 to its precision", file, line, hint="e.g. decimal(18,2)")
        return pa.decimal128(precision, scale)
    raise ProjectError(f"{what}column type '{sql_type}' is not supported for seeds", file, line)


def read_seed(seed: Seed, root: Path) -> "pa.Table":
    import pyarrow as pa  # here, not at the top: projects without seeds never pay for pyarrow

    relative = seed.path.relative_to(root).as_posix()
    if seed.path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            return _published(pq.read_table(seed.path))
        except (pa.ArrowInvalid, OSError) as error:
            raise ProjectError(f"cannot read Parquet seed: {error}", relative) from None
    import pyarrow.csv as pacsv

    declared = seed.declared_in.relative_to(root).as_posix() if seed.declared_in else relative
    text = seed.declared_in.read_text(encoding="utf-8") if seed.declared_in else ""
    start = line_of(text, f"[{seed.name}") or 1
    types = {name: arrow_type(kind, declared, _key_line(text, name, start), name) for name, kind in seed.column_types.items()}
    try:
        table = pacsv.read_csv(seed.path, convert_options=pacsv.ConvertOptions(column_types=types))
    except pa.ArrowInvalid as error:
        message, line = _diagnose(seed.path, str(error))
        raise ProjectError(message, relative, line) from None
    missing = sorted(set(types) - set(table.column_names))
    if missing:  # the declaration is what is wrong, or the header: named at the declaration
        header = ", ".join(table.column_names)
        raise ProjectError(f"[{seed.name}] declares column(s) {', '.join(missing)}, not in the header of {relative} ({header})",
                           declared, _key_line(text, missing[0], start), hint="header names are matched as written, case included")
    return _microseconds(_published(table))


def _published(table: "pa.Table") -> "pa.Table":
    return table.rename_columns([published_name(name) for name in table.column_names])


def _microseconds(table: "pa.Table") -> "pa.Table":
    """Timestamps Arrow inferred at second precision (no fraction in the file) become the
    warehouse's usual microseconds: a TIMESTAMP_S column rounds '23:59:59.9999' compared
    or cast against it up to the next day."""
    import pyarrow as pa

    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.unit in ("s", "ms"):
            table = table.set_column(index, field.with_type(pa.timestamp("us", field.type.tz)),
                                     table.column(index).cast(pa.timestamp("us", field.type.tz)))
    return table


def published_name(header_name: str) -> str:
    """A seed column as toolkit's catalog names it and as it is published: trimmed, lower
    case (a header's "CustomerId" kept as written is case-sensitive on PostgreSQL, where
    no step reading `customerid` would find it)."""
    return header_name.strip().lower()


def seed_columns(seed: Seed, root: Path) -> list[str]:
    """Column names, as published."""
    return [published_name(name) for name in seed_header(seed, root)]


def seed_header(seed: Seed, root: Path) -> list[str]:
    """Column names as the file has them. A CSV seed is read in full, so that a malformed
    file is a project error at compile time, before anything in the warehouse is touched."""
    relative = seed.path.relative_to(root).as_posix()
    if seed.path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            header = list(pq.read_schema(seed.path).names)
        except (pa.ArrowInvalid, OSError) as error:
            raise ProjectError(f"cannot read Parquet seed: {error}", relative) from None
    else:
        data = seed.path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            raise ProjectError(f"seed file is not UTF-8 text (byte {data[error.start]:#04x})", relative, line, hint="save it as UTF-8") from None
        header = next(csv.reader(io.StringIO(text)), None)
        if not header:
            raise ProjectError("seed file is empty: it needs a header row", relative, 1)
        read_seed(seed, root)
    unnamed = [i for i, name in enumerate(header, 1) if not name.strip()]
    if unnamed:  # DuckDB cannot even quote an empty name: every step reading the seed failed
        raise ProjectError(f"column {unnamed[0]} of the header has no name", relative, 1, hint="name every column")
    published = [published_name(name) for name in header]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ProjectError(f"column {repeated[0]!r} appears twice in the header", relative, 1, hint="rename one of them")
    twins = sorted({name for name in header if published.count(published_name(name)) > 1})
    if twins:
        raise ProjectError(f"columns {', '.join(repr(n) for n in twins)} are one name in toolkit, whose names are lower case",
                           relative, 1, hint="rename one of them")
    _check_tagged_columns(seed, published, root)
    return header


def _check_tagged_columns(seed: Seed, columns: list[str], root: Path) -> None:
    """seeds.toml tags only columns the seed has: a tag on a misspelt column protects nothing."""
    unknown = sorted(set(seed.column_tags) - set(columns))
    if not unknown or seed.declared_in is None:
        return
    text = seed.declared_in.read_text(encoding="utf-8")
    raise ProjectError(f"seeds.toml: [{seed.name}]: tags name column '{unknown[0]}', which {seed.path.name} does not have",
                       seed.declared_in.relative_to(root).as_posix(), line_of(text, "tags", line_of(text, f"[{seed.name}") or 1),
                       hint=did_you_mean(unknown[0], columns) or f"its columns: {', '.join(columns)}")


def content_hash(seed: Seed, header: list[str]) -> str:
    """The file and its declared types; and, where its header is not published as written,
    the names it is published under (a seed first built under its header's names is built
    again under these)."""
    data = seed.path.read_bytes() + json.dumps(seed.column_types, sort_keys=True).encode()
    published = [published_name(name) for name in header]
    if published != header:
        data += json.dumps(published).encode()
    return hashlib.sha256(data).hexdigest()


def _key_line(text: str, key: str, start: int) -> int | None:
    """The line at or after `start` where `key = ...` is set."""
    pattern = re.compile(rf"(^|[\s{{,]){re.escape(key)}\s*=")
    for number, line in enumerate(text.splitlines()[start - 1 :], start=start):
        if pattern.search(line):
            return number
    return None


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
