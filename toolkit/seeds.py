"""Read seed files into Arrow: CSV or Parquet, with the column types seeds.toml declares
(a Parquet value that does not cast is exit 2 at the declaration) or those of the file.

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
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import ProjectError, did_you_mean, line_of
from toolkit.project import Seed

if TYPE_CHECKING:
    import pyarrow as pa

_CONVERSION = re.compile(r"In CSV column #(\d+): .*?CSV conversion error to (\S+): invalid value '(.*)'", re.S)
# Arrow's other conversion errors of one column (0-based): a value quoted in the message, or
# none (a decimal with more places than its declared scale)
_COLUMN_ERROR = re.compile(r"In CSV column #(\d+): (.*)", re.S)
_QUOTED = re.compile(r"CSV conversion error to (.+?): .*?'([^']*)'", re.S)
_SCALE = re.compile(r"\(\s*\d+\s*,\s*(\d+)\s*\)")


def arrow_type(sql_type: str, file: str, line: int | None = None, column: str | None = None, dialect: str = "duckdb"):
    """The Arrow type for a declared SQL type name, read as the project's dialect means it
    (sqlglot parses the name): `float` is DuckDB's REAL but PostgreSQL's and Snowflake's
    double precision, which a seed of a PostgreSQL project loaded as REAL had rounded
    (16777217 published 16777216)."""
    import pyarrow as pa
    from sqlglot import exp

    from toolkit.sql import any_decimal, declared_type

    what = f"column '{column}': " if column else ""
    kind = declared_type(sql_type, dialect)  # a name the dialect does not know is read as another's (DuckDB's ubigint)
    if kind is None:  # not a type, or text that parses as statements
        raise ProjectError(f"{what}unknown column type '{sql_type}'", file, line) from None
    if any_decimal(kind):  # PostgreSQL's numeric: the scale its values have (_Declaration.fit_any_decimals)
        return pa.decimal128(38, ANY_SCALE)
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
            params = [int(p.name) for p in kind.expressions]
        except ValueError:  # decimal(x, 2)
            params = [0]
        precision, scale = (params + [0])[:2]
        if not 1 <= precision <= 38 or not 0 <= scale <= precision:
            raise ProjectError(f"{what}column type '{sql_type}': a seed's decimal has a precision of 1 to 38 digits "
                               "and a scale of 0 to its precision", file, line, hint="e.g. decimal(18,2)")
        return pa.decimal128(precision, scale)
    raise ProjectError(f"{what}column type '{sql_type}' is not supported for seeds", file, line)


ANY_SCALE = 9  # a number column declared PostgreSQL's numeric (any precision) is checked as decimal(38,9) until read


def read_seed(seed: Seed, root: Path) -> "pa.Table":
    """The seed as it is loaded; its schema is remembered for seed_types."""
    table = _read_seed(seed, root)
    _SCHEMAS[_file_key(seed)] = table.schema
    return table


def _read_seed(seed: Seed, root: Path) -> "pa.Table":
    import pyarrow as pa  # here, not at the top: projects without seeds never pay for pyarrow

    relative = seed.path.relative_to(root).as_posix()
    declaration = _Declaration(seed, root)
    if seed.path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(seed.path)
        except (pa.ArrowInvalid, OSError) as error:
            raise ProjectError(f"cannot read Parquet seed: {error}", relative) from None
        declaration.check_columns(table.column_names, relative)
        declaration.fit_any_decimals({name: _as_text(table.column(name)) for name in declaration.any_decimals})
        return _valueless_as_text(_published(_cast(table, declaration, relative)), seed)
    import pyarrow.csv as pacsv

    try:
        if declaration.any_decimals:  # their scale is their values' (the file again, those columns as text)
            texts = pacsv.read_csv(seed.path, convert_options=pacsv.ConvertOptions(
                include_columns=declaration.any_decimals, include_missing_columns=True, column_types={name: pa.string() for name in declaration.any_decimals},
                strings_can_be_null=True))
            declaration.fit_any_decimals({name: texts.column(name).to_pylist() for name in texts.column_names})
        table = pacsv.read_csv(seed.path, convert_options=pacsv.ConvertOptions(column_types=declaration.types))
    except pa.ArrowInvalid as error:
        message, line = _diagnose(seed.path, str(error), seed.column_types)
        raise ProjectError(message, relative, line) from None
    declaration.check_columns(table.column_names, relative)
    return _valueless_as_text(_microseconds(_published(_exact_integers(table, seed, declaration, relative))), seed)


def _any_decimal(kind: str, dialect: str) -> bool:
    from toolkit.sql import any_decimal, declared_type

    built = declared_type(kind, dialect)
    return built is not None and any_decimal(built)


class _Declaration:
    """A seed's column types in seeds.toml, as Arrow types, with the line of each."""

    def __init__(self, seed: Seed, root: Path):
        self.seed = seed
        self.file = seed.declared_in.relative_to(root).as_posix() if seed.declared_in else seed.path.relative_to(root).as_posix()
        self.text = seed.declared_in.read_text(encoding="utf-8") if seed.declared_in else ""
        self.start = line_of(self.text, f"[{seed.name}") or 1
        self.types = {name: arrow_type(kind, self.file, self.line(name), name, seed.dialect) for name, kind in seed.column_types.items()}
        self.any_decimals = [name for name, kind in seed.column_types.items() if _any_decimal(kind, seed.dialect)]

    def fit_any_decimals(self, values: dict[str, list]) -> None:
        """A column declared numeric without precision in PostgreSQL, where it holds any number
        exactly, is loaded as DECIMAL(38, the largest scale of its values): 1.23456 stays
        1.23456 (DuckDB's 18,3 had refused it), and a value past 38 digits is exit 2 at its line."""
        import pyarrow as pa

        for name in self.any_decimals:
            digits, scale = 1, 0
            for value in values.get(name, ()):
                try:
                    sign, numerals, exponent = Decimal(str(value).strip()).as_tuple()
                except ArithmeticError:  # not a number: the reader names its line
                    continue
                if isinstance(exponent, int):
                    scale = max(scale, -exponent)
                    digits = max(digits, len(numerals) + exponent)
            self.types[name] = pa.decimal128(38, max(0, min(scale, 38 - digits)))

    def line(self, column: str) -> int | None:
        return _key_line(self.text, column, self.start)

    def check_columns(self, header: list[str], relative: str) -> None:
        missing = sorted(set(self.types) - set(header))
        if missing:  # the declaration is what is wrong, or the header: named at the declaration
            raise ProjectError(f"[{self.seed.name}] declares column(s) {', '.join(missing)}, not in the header of {relative} ({', '.join(header)})",
                               self.file, self.line(missing[0]), hint="header names are matched as written, case included")


def _as_text(column: "pa.ChunkedArray") -> list:
    """A Parquet column's values as the text of numbers (a decimal's, an integer's, a double's shortest)."""
    return [None if value is None else str(value) for value in column.to_pylist()]


def _cast(table: "pa.Table", declaration: _Declaration, relative: str) -> "pa.Table":
    """A Parquet seed's columns cast to their declared types (a CSV seed is read as them)."""
    import pyarrow as pa

    for name, kind in declaration.types.items():
        index = table.column_names.index(name)
        try:
            column = table.column(index).cast(kind)  # safe: a value that does not fit fails, never wraps or truncates
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            message, hint = _uncastable(table.column(index), kind, name, declaration, relative)
            raise ProjectError(message, declaration.file, declaration.line(name), hint=hint) from None
        table = table.set_column(index, table.schema.field(index).with_type(kind), column)
    return table


def _uncastable(column: "pa.ChunkedArray", kind, name: str, declaration: _Declaration, relative: str) -> tuple[str, str]:
    """(message, hint): the first value that does not cast (rows from 1), or the file's type
    when no value of it can."""
    import pyarrow as pa

    sql_type = declaration.seed.column_types[name]
    declared = f"[{declaration.seed.name}] declares column '{name}' {sql_type}"
    for row, value in enumerate(column.to_pylist(), start=1):
        try:
            pa.array([value], column.type).cast(kind)
        except pa.ArrowInvalid:  # this value does not fit
            return f"{declared}, but row {row} of {relative} holds '{value}', which is not a valid {sql_type}", \
                "fix the value in the file, or the declared type"
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError):  # no value of the file's type casts
            break
    return f"{declared}, but {relative} stores it as {column.type}, which cannot be cast to {sql_type}", \
        "declare a type it casts to, or no type to keep the file's"


_INTEGER = re.compile(r"[+-]?\d+")
_WIDEST = 10**38  # DECIMAL(38,0), the widest integer every engine stores exactly


def _exact_integers(table: "pa.Table", seed: Seed, declaration: _Declaration, relative: str) -> "pa.Table":
    """A CSV column of integers past BIGINT's range, which Arrow infers as double (rounding
    every value past 2**53: 9007199254740993 was published 9007199254740992.0), becomes
    DECIMAL(38,0), exact; a value of 39 digits or more is exit 2 naming its line, as no
    number type every engine has holds it (declared varchar, it is kept as text). Such
    columns are remembered for content_hash, like valueless ones."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    doubles = [i for i, f in enumerate(table.schema) if pa.types.is_floating(f.type) and f.name not in declaration.types]
    widened = []
    if doubles:  # the file again, those columns as the text they hold (an absent value is null as before)
        texts = pacsv.read_csv(seed.path, convert_options=pacsv.ConvertOptions(
            column_types={**declaration.types, **{table.column_names[i]: pa.string() for i in doubles}}, strings_can_be_null=True))
    for index in doubles:
        values = texts.column(index).to_pylist()
        if not all(value is None or _INTEGER.fullmatch(value) for value in values):
            continue  # a column of numbers that are not all integers is double, as written
        name = table.column_names[index]
        too_wide = next((value for value in values if value is not None and abs(int(value)) >= _WIDEST), None)
        if too_wide is not None:
            raise ProjectError(f"column '{name}' holds the integer {too_wide:.45}, too large for any number type (38 digits at most)",
                               relative, _line_holding(seed.path, name, too_wide),
                               hint=f"declare it text in warehouse/seeds.toml: [{seed.name}] columns = {{ {name} = \"varchar\" }}")
        exact = pa.array([None if value is None else Decimal(value) for value in values], pa.decimal128(38, 0))
        table = table.set_column(index, table.schema.field(index).with_type(exact.type), exact)
        widened.append(published_name(name))
    _WIDENED[_file_key(seed)] = tuple(widened)
    return table


def _line_holding(path: Path, column: str, value: str) -> int | None:
    """The line of the first row whose `column` is `value` (quoted newlines counted)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        index = header.index(column) if column in header else None
        for row in reader:
            if index is not None and index < len(row) and row[index] == value:
                return reader.line_num
    return None


def _valueless_as_text(table: "pa.Table", seed: Seed) -> "pa.Table":
    """A column with no values and no declared type (a header-only file, an empty column)
    is text on every engine: Arrow's null type was DuckDB's NULL, on which `x + 1` builds,
    and PostgreSQL's text, on which it fails. Which columns these are is remembered for
    content_hash (compile reads the seed just before it hashes it)."""
    import pyarrow as pa

    valueless = []
    for index, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            valueless.append(field.name)
            table = table.set_column(index, field.with_type(pa.string()), table.column(index).cast(pa.string()))
    _VALUELESS[_file_key(seed)] = tuple(valueless)
    return table


# (file, size, mtime, declared types) -> its columns published as text for having no values
_VALUELESS: dict[tuple, tuple[str, ...]] = {}
# (file, size, mtime, declared types) -> the Arrow schema it is loaded with
_SCHEMAS: dict[tuple, "pa.Schema"] = {}
# (file, size, mtime, declared types) -> its integer columns published as DECIMAL(38,0) (a CSV's)
_WIDENED: dict[tuple, tuple[str, ...]] = {}


def _file_key(seed: Seed) -> tuple:
    stat = seed.path.stat()
    return str(seed.path), stat.st_size, stat.st_mtime_ns, json.dumps(seed.column_types, sort_keys=True), seed.dialect


def _valueless_columns(seed: Seed) -> tuple[str, ...]:
    """The seed's columns without values, published as text: remembered from reading it, or read."""
    key = _file_key(seed)
    if key in _VALUELESS:
        return _VALUELESS[key]
    if seed.path.suffix.lower() == ".parquet":  # its types are in its metadata: not read whole
        import pyarrow as pa
        import pyarrow.parquet as pq

        return tuple(published_name(f.name) for f in pq.read_schema(seed.path)
                     if pa.types.is_null(f.type) and f.name not in seed.column_types)
    read_seed(seed, seed.path.parents[2])  # seeds are ROOT/warehouse/seeds/NAME.csv
    return _VALUELESS[key]


def _widened_columns(seed: Seed) -> tuple[str, ...]:
    """A CSV seed's integer columns published as DECIMAL(38,0): remembered from reading it, or read."""
    if seed.path.suffix.lower() == ".parquet":  # a Parquet file's types are its own
        return ()
    key = _file_key(seed)
    if key not in _WIDENED:
        read_seed(seed, seed.path.parents[2])
    return _WIDENED[key]


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


def seed_types(seed: Seed, root: Path, dialect: str) -> dict[str, str | None]:
    """{column: type in `dialect`, or None} as the seed is loaded: declared in seeds.toml,
    else the type Arrow's reader gives the file's values (what the loader creates the
    table with), so an ibis step compares an undeclared seed's text column with a string.
    Deterministic: the file and its declaration are in the compile cache's key."""
    key = _file_key(seed)
    if key not in _SCHEMAS:
        read_seed(seed, root)
    return {field.name: seed.column_types.get(field.name) or _sql_type(field.type, dialect) for field in _SCHEMAS[key]}


def _sql_type(arrow: "pa.DataType", dialect: str) -> str | None:
    """The warehouse type a loaded Arrow column gets (DuckDB's and PostgreSQL's mappings agree
    on the types Arrow infers from a CSV), or None."""
    import pyarrow as pa
    from sqlglot import exp

    if pa.types.is_decimal(arrow):
        return exp.DataType.build(f"decimal({arrow.precision},{arrow.scale})").sql(dialect)
    if pa.types.is_timestamp(arrow):
        return exp.DataType.build("timestamptz" if arrow.tz else "timestamp").sql(dialect)
    checks = ((pa.types.is_boolean, "boolean"), (pa.types.is_int8, "smallint"), (pa.types.is_int16, "smallint"),
              (pa.types.is_int32, "int"), (pa.types.is_int64, "bigint"), (pa.types.is_float32, "real"),
              (pa.types.is_float64, "double"), (pa.types.is_date32, "date"), (pa.types.is_time, "time"),
              (pa.types.is_string, "varchar"), (pa.types.is_large_string, "varchar"))
    kind = next((name for check, name in checks if check(arrow)), None)
    return exp.DataType.build(kind).sql(dialect) if kind else None


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
        if seed.column_types:  # cast at compile time, so a value that does not fit is exit 2 before a run
            read_seed(seed, root)
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
        _check_delimiter(header, relative)
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


def _check_delimiter(header: list[str], relative: str) -> None:
    """A seed saved with another delimiter is read as one column named like "country;region":
    it was published, and the steps reading its columns failed in the run. A ';' in any
    name is refused too: sqlglot cannot take it as a column name, so no step reading the
    seed could be checked before it ran."""
    hint = "save the seed with commas between its columns"
    for mark, shown in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
        if len(header) == 1 and mark in header[0]:
            raise ProjectError(f"the header is one column {header[0]!r:.60}: the file looks separated by {shown}, not commas", relative, 1, hint=hint)
    odd = next((name for name in header if ";" in name), None)
    if odd is not None:
        raise ProjectError(f"column {odd!r:.60} of the header holds ';', which a column name cannot", relative, 1, hint="rename the column")


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
    """The file and its declared types; and what publishing makes of it otherwise, only where
    that is so (an unaffected seed keeps its hash, and is not built again after an upgrade):
    the names a header not published as written is published under, and the columns without
    values published as text, the integer columns published as DECIMAL(38,0). A seed published under its header's names, or with such a
    column as DuckDB's NULL type (before they were text), is built again, once."""
    return hashlib.sha256(seed.path.read_bytes() + _publishing(seed, header)).hexdigest()


def _publishing(seed: Seed, header: list[str]) -> bytes:
    """What, beside the file's values, decides the published table (content_hash)."""
    data = json.dumps(seed.column_types, sort_keys=True).encode()
    published = [published_name(name) for name in header]
    if published != header:
        data += json.dumps(published).encode()
    valueless = _valueless_columns(seed)
    if valueless:
        data += json.dumps({"text": list(valueless)}).encode()
    widened = _widened_columns(seed)
    if widened:  # published as double before: rebuilt, once
        data += json.dumps({"decimal(38,0)": list(widened)}).encode()
    dialect_types = _dialect_types(seed)
    if dialect_types:  # loaded as DuckDB's meaning of the names before: rebuilt, once
        data += json.dumps({"types": dialect_types}).encode()
    return data


def column_hashes(seed: Seed) -> dict[str, str] | None:
    """Published column -> a digest of its values as the CSV file has them, in row order,
    with the header and everything else publishing reads of the seed (_publishing): a
    column is loaded from its own values only (Arrow infers and casts each column apart),
    so a step reading the seed's other columns is not rebuilt when one changes
    (fingerprint.py). None for Parquet (one pseudo column) and for a file that is no longer
    the one compile read (gone, not UTF-8, no header)."""
    if seed.path.suffix.lower() == ".parquet":
        return None
    try:
        rows = csv.reader(io.StringIO(seed.path.read_bytes().decode("utf-8-sig")))
        header = next(rows, None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not header:
        return None
    digests = [hashlib.sha256() for _ in header]
    try:
        for row in rows:  # a missing value and an empty line are told apart from any value
            for index, digest in enumerate(digests):
                digest.update(f"{len(row[index])}:{row[index]}".encode() if index < len(row) else b"-")
    except csv.Error:
        return None
    common = hashlib.sha256(json.dumps(header).encode() + _publishing(seed, header)).hexdigest()
    return {published_name(name): hashlib.sha256(f"{common}\x1f{name}\x1f{digest.hexdigest()}".encode()).hexdigest()
            for name, digest in zip(header, digests)}


def _dialect_types(seed: Seed) -> dict[str, str]:
    """The declared types whose meaning in the project's dialect is not DuckDB's (`float` in
    a PostgreSQL project), as the Arrow types they load as; {} when every one means the same."""
    if seed.dialect == "duckdb":
        return {}
    file = seed.declared_in.name if seed.declared_in else seed.path.name
    types = {name: (str(arrow_type(kind, file, dialect=seed.dialect)), _duckdb_meaning(kind)) for name, kind in seed.column_types.items()}
    if all(own == duckdb for own, duckdb in types.values()):
        return {}
    return {name: own for name, (own, _) in sorted(types.items())}


def _duckdb_meaning(kind: str) -> str | None:
    try:
        return str(arrow_type(kind, "seeds.toml"))
    except ProjectError:  # a name only the project's dialect reads
        return None


def _key_line(text: str, key: str, start: int) -> int | None:
    """The line at or after `start` where `key = ...` is set."""
    pattern = re.compile(rf"(^|[\s{{,]){re.escape(key)}\s*=")
    for number, line in enumerate(text.splitlines()[start - 1 :], start=start):
        if pattern.search(line):
            return number
    return None


def _diagnose(path: Path, arrow_message: str, types: dict[str, str] | None = None) -> tuple[str, int | None]:
    """(message, line) for an Arrow CSV error, found by re-reading with the csv module.
    `types`: the declared column types (a decimal's scale says which value lost places)."""
    scales = {name.lower(): int(found.group(1)) for name, kind in (types or {}).items() if (found := _SCALE.search(str(kind)))}
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
            elif _COLUMN_ERROR.search(arrow_message):
                found = _column_value_error(_COLUMN_ERROR.search(arrow_message), header, row, scales)
                if found:
                    return found, line
    return f"malformed CSV: {arrow_message}", None


def _column_value_error(error: re.Match, header: list[str], row: list[str], scales: dict[str, int]) -> str | None:
    """The message for `row` when it holds the value Arrow's one-column error is about: the
    value the message quotes, or a decimal with more places than Arrow could keep."""
    column, detail = int(error.group(1)), error.group(2).strip()
    if column >= len(row):
        return None
    value, quoted = row[column], _QUOTED.search(detail)
    if quoted and value == quoted.group(2):
        why = detail.split(f"{quoted.group(1)}: ", 1)[-1].split(". ")[0]  # Arrow's reason, without its advice to Arrow users
        why = "" if why.startswith("invalid value") else f" ({why})"
        return f"malformed CSV: column '{header[column]}' value '{value}' is not a valid {quoted.group(1)}{why}"
    scale = scales.get(header[column].lower())
    if "Rescaling Decimal" in detail and scale is not None and re.fullmatch(r"\s*[-+]?\d*\.\d+\s*", value) and _places(value) > scale:
        return f"malformed CSV: column '{header[column]}' value '{value}' has more decimal places than its declared type keeps"
    return None


def _places(value: str) -> int:
    return len(value.strip().split(".", 1)[1].rstrip("0"))
