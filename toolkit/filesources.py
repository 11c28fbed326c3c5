"""Sources that are files: a Parquet or CSV file, or a glob of them, declared in sources.toml.

    [tpch.tables.lineitem]
    path = "data/lineitem/*.parquet"      # relative to the project root; format from the suffix

Their columns are the files' own (read by DuckDB's reader, the one that reads them in
place), so declaring columns is optional (sourcecolumns.py checks a declared list
against them). Steps read them like any source, as `<schema>.<table>`:

- DuckDB reads the files in place: the relation is a view over read_parquet/read_csv,
  and the files' folders are the only ones the locked-down session may read;
- other engines get a table loaded through Arrow in bounded batches, reloaded only
  when the files change (toolkit.loaded_sources records what was loaded).

Their data fingerprint is the matched files' names, sizes and modification times plus
the schema: a no-op run never scans them.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
from pathlib import Path

from sqlglot import exp

from toolkit.engines.base import REPLACED_ASIDE
from toolkit.globcolumns import check_same_columns, declares_fractions, first_row, number_kinds_differ
from toolkit.errors import ProjectError, line_of
from toolkit.sql import any_decimal, declared_type

FORMATS = {".parquet": "parquet", ".csv": "csv", ".tsv": "csv"}
BATCH_ROWS = 100_000  # rows per Arrow batch loaded into a non-DuckDB engine: memory stays bounded
_MAGIC = ("*", "?", "[")


def pattern(source, root: Path) -> str:
    """The absolute glob the source's path names."""
    path = Path(source.path).expanduser()
    return str(path if path.is_absolute() else (root / path))


def files(source, root: Path) -> list[Path]:
    found = sorted(Path(p) for p in glob.glob(pattern(source, root), recursive=True) if Path(p).is_file())
    if not found:
        raise ProjectError(f"source {source.key}: path '{source.path}' matches no file", source.file, source.line,
                           hint="paths are relative to the project root; globs like data/*.parquet are allowed")
    return found


def file_format(source) -> str:
    if source.format:
        return source.format
    return FORMATS.get(Path(source.path).suffix.lower(), "")


def folder(source, root: Path) -> str:
    """The deepest folder above every file the glob can match (DuckDB's allowed_directories)."""
    parts = Path(pattern(source, root)).parts
    fixed = []
    for part in parts[:-1]:
        if any(m in part for m in _MAGIC):
            break
        fixed.append(part)
    return str(Path(*fixed)) + "/"


def readable_folders(sources: dict, root: Path) -> list[str]:
    return sorted({folder(s, root) for s in sources.values() if s.path})


def reader(source, root: Path) -> exp.Query:
    """SELECT * FROM read_parquet('<glob>') in DuckDB's dialect; the path is a literal.
    Declared column types are the ones steps read, as the project's dialect means them
    (`float` is a double in a PostgreSQL project), like a seed's: a CSV file is read with
    them (a zip code stays text; each file's text parsed as declared), a Parquet file's
    columns are cast to them (its own types are of their family, sourcecolumns checks;
    `amount = "decimal(10,2)"` over a file's doubles reads decimals, as declared).

    The files of a Parquet glob whose numbers differ in kind (int64 in one, double in
    another; allowed only where the column is declared a floating point or decimal type,
    globcolumns) are read one by one, each file's columns cast to the declared types,
    then put together by name (UNION ALL BY NAME): DuckDB's reader would first read them
    all as one common type (int64 and double as double) and 9007199254740993 declared
    decimal(20,2) would be published as 9007199254740992.00. The files are the ones the
    glob matches now (the set fingerprint() tracks; a DuckDB view over them is made again
    by each run's sync). A column declared double still reads such an int64 as the double
    nearest it, as that file alone declared double would: the declaration's rounding."""
    arguments: list[exp.Expression] = [exp.Literal.string(pattern(source, root))]
    types = read_types(source, root)
    if file_format(source) == "parquet":
        if declares_fractions(source):
            found = files(source, root)
            if number_kinds_differ(found):
                return _each_file_cast(found, types)
        return _cast_parquet(arguments, types)
    if types:
        types = exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.Literal.string(column), expression=exp.Literal.string(kind)) for column, kind in types.items()
        ])
        arguments.append(exp.EQ(this=exp.column("types"), expression=types))
    return exp.select("*").from_(exp.Table(this=exp.Anonymous(this="read_csv", expressions=arguments)))


def _cast_parquet(arguments: list[exp.Expression], types: dict[str, str]) -> exp.Select:
    """SELECT * REPLACE (CAST(<column> AS <declared>) AS <column>, ...) FROM read_parquet(...)."""
    select = exp.select("*").from_(exp.Table(this=exp.Anonymous(this="read_parquet", expressions=arguments)))
    if types:
        casts = [exp.alias_(exp.cast(exp.column(column, quoted=True), exp.DataType.build(kind, dialect="duckdb")), column, quoted=True)
                 for column, kind in types.items()]
        select.expressions[0].set("replace", casts)
    return select


def _each_file_cast(found: list[Path], types: dict[str, str]) -> exp.Query:
    """One read per file, its columns cast to the declared types, put together by name: no
    file's numbers pass through another file's type on their way to the declared one."""
    reads = [_cast_parquet([exp.Literal.string(str(path))], types) for path in found]
    query: exp.Query = reads[0]
    for read in reads[1:]:
        query = exp.union(query, read, distinct=False)
        query.set("by_name", True)
    return query


def read_types(source, root: Path) -> dict[str, str]:
    """{column: DuckDB type} a file source's steps read: its declared types, read in the
    project's dialect. PostgreSQL's numeric without precision holds any number, which no
    type a CSV file is read with does (DuckDB's reader rounded 1.23456 to DECIMAL(18,3)'s
    1.235): exit 2 at its line; a Parquet column declared so keeps its own exact type."""
    types = {}
    for column, kind in source.declared.items():
        built = declared_type(kind, source.dialect)
        if any_decimal(built) and file_format(source) == "parquet":
            continue
        if any_decimal(built):
            try:
                text = (root / source.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            raise ProjectError(f"source {source.key}: column '{column}' is declared {kind}, which in {source.dialect} holds "
                               "numbers of any precision; a CSV file is read with a fixed one", source.file,
                               line_of(text, f"{column} =", source.line or 1) or source.line,
                               hint=f"declare its precision and scale, e.g. {column} = \"numeric(18,6)\"")
        types[column] = built.sql("duckdb")
    return types


def describe(source, root: Path) -> dict[str, str]:
    """column (lower case) -> the files' own DuckDB type (none cast to its declared one), read
    from the files without loading them. The declared types say which files globcolumns
    lets differ in their kind of number."""
    import duckdb

    found = files(source, root)
    query = exp.Describe(this=reader(dataclasses.replace(source, declared={}), root)).sql(dialect="duckdb")
    try:
        with duckdb.connect() as connection:
            rows = connection.execute(query).fetchall()
            columns = {name.lower(): kind for name, kind, *_ in rows}
            dialect = None
            if file_format(source) == "csv":
                dialect = _check_header(connection, source, found[0], [name for name, *_ in rows])
            if len(found) > 1:
                check_same_columns(source, root, found, dialect, source.declared)
            if _renamed_by_reader(columns):
                _check_one_name_each(source, _file_columns(connection, source, found[0]))
    except duckdb.Error as error:
        first = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise ProjectError(f"source {source.key}: cannot read '{source.path}': {first}", source.file, source.line) from None
    return columns


def _renamed_by_reader(columns: dict) -> bool:
    """Whether a column looks like DuckDB's rename of a repeated one (`id` and `id_1`)."""
    return any(name.rpartition("_")[0] in columns for name in columns if name.rpartition("_")[2].isdigit())


def _file_columns(connection, source, path: Path) -> list[str]:
    """The column names as the file writes them, before DuckDB's reader renames repeats."""
    literal = exp.Literal.string(str(path))
    if file_format(source) == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    header = exp.select("*").from_(exp.Table(this=exp.Anonymous(this="read_csv", expressions=[
        literal, exp.EQ(this=exp.column("header"), expression=exp.false()),
        exp.EQ(this=exp.column("all_varchar"), expression=exp.true())]))).limit(1)
    row = connection.execute(header.sql(dialect="duckdb")).fetchone()
    return [str(name) for name in row or ()]


def _check_header(connection, source, path: Path, read: list[str]) -> tuple[str, str]:
    """A CSV file's first line names every column it has. Where it does not, DuckDB's
    reader guesses: a nameless column becomes `column1`, and a header shorter or longer
    than the rows is taken for no header (`column0`...; the header line dropped) or the
    whole line for one column. Any of those published would not be the file's table.
    Returns the delimiter and quote DuckDB's sniffer found."""
    sniffed = connection.execute(
        exp.select("Delimiter", "Quote", "HasHeader", "SkipRows")
        .from_(exp.Table(this=exp.Anonymous(this="sniff_csv", expressions=[exp.Literal.string(str(path))])))
        .sql(dialect="duckdb")
    ).fetchone()
    delimiter, quote, has_header, skipped = sniffed
    header = first_row(path, delimiter, quote)
    where = f"source {source.key}: {path.name}"
    columns = f"{', '.join(read[:5])}{', ...' if len(read) > 5 else ''}"
    hint = "give the file a first line naming each of its columns, separated like its rows"
    if header is not None and len(header) != len(read):
        raise ProjectError(f"{where}: the header line names {len(header)} column(s) but DuckDB reads the rows as "
                           f"{len(read)} column(s) ({columns})", source.file, source.line, hint=hint)
    if not has_header or skipped:
        raise ProjectError(f"{where}: DuckDB's reader does not take the first line for a header (it would read columns "
                           f"{columns})", source.file, source.line, hint=hint)
    if len(read) == 1 and any(mark in read[0] for mark in ",;\t|"):  # no delimiter fits every line
        raise ProjectError(f"{where}: DuckDB reads the file as one column named {read[0]!r}: its lines do not all "
                           "have the same number of fields", source.file, source.line,
                           hint="every line needs as many fields as the header names")
    unnamed = [i for i, name in enumerate(header or (), 1) if not name.strip()]
    if unnamed:
        raise ProjectError(f"{where}: column {unnamed[0]} of the header has no name (DuckDB would call it "
                           f"'{read[unnamed[0] - 1]}')", source.file, source.line, hint="name every column")
    return delimiter, quote  # how the file's lines split: the other files of a glob are split alike


def _check_one_name_each(source, names: list[str]) -> None:
    """Two columns whose names differ only in case are one name in toolkit's catalog:
    DuckDB would read the second as `<name>_1`, so a step reading it would read the first."""
    seen: dict[str, str] = {}  # lower case -> as written
    for name in names:
        if seen.get(name.lower()) == name:
            raise ProjectError(f"source {source.key}: the files name column '{name}' twice", source.file, source.line,
                               hint="rename one of them in the files")
        if name.lower() in seen:
            raise ProjectError(f"source {source.key}: the files have columns '{seen[name.lower()]}' and '{name}', "
                               "one name in toolkit, whose column names are case-insensitive", source.file, source.line,
                               hint="rename one of them in the files")
        seen[name.lower()] = name


def fingerprint(source, root: Path) -> str:
    """Names, sizes and modification times of the matched files (their schema is in
    them): no scan. A file rewritten in place keeps neither its size nor its mtime. And
    the types a CSV source is read with: `code = "varchar"` declared `"bigint"` changes
    what every reader reads (max(code) '9' becomes 10), and on an engine that loads the
    files, the loaded table (a source declaring none keeps its print)."""
    stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files(source, root)]
    read_as = read_types(source, root)
    what = [file_format(source), stats, read_as] if read_as else [file_format(source), stats]
    return "files:" + hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def stat_key(sources: dict, root: Path) -> str:
    """What the compile cache must notice: the matched files (their schema is compiled in)."""
    return json.dumps({key: fingerprint(s, root) for key, s in sorted(sources.items()) if s.path})


def relation(source) -> exp.Table:
    return exp.table_(exp.to_identifier(source.table), db=exp.to_identifier(source.schema))


def sync(engine, state, sources: dict, root: Path) -> None:
    """Make each file source readable as <schema>.<table> on the engine (see the module doc)."""
    for key, source in sorted(sources.items()):
        if not source.path:
            continue
        engine.create_schema(source.schema)
        relations = engine.relations(source.schema)
        present = {name.lower(): kind for name, kind in relations.items()}.get(source.table.lower())
        if engine.dialect == "duckdb":
            if present == "table":
                _refuse(source, "a table")
            engine.replace_view(relation(source), reader(source, root))
            continue
        _drop_replaced_aside(engine, source, relations)
        current = fingerprint(source, root) + LOADED_AS
        state.ensure()
        recorded = state.loaded_source(key)
        if present is not None and recorded is None:
            _refuse(source, f"a {present}")
        if recorded == current and present is not None:
            continue
        state.record_loaded_source(key, "loading", 0)  # ours from here on, even if this run dies mid-load
        rows = _load(engine, source, root)
        state.record_loaded_source(key, current, rows)


# How a loaded table names its columns, recorded with the files it was loaded from: in
# lower case, as toolkit's catalog names them (a header's "EventId" kept as written is
# case-sensitive on PostgreSQL, where no step reading eventid finds it). A table loaded
# before this was recorded is loaded again once.
LOADED_AS = "|columns:lower"


def _lower_case_columns(data):
    """An Arrow batch or table as a table whose columns are named in lower case."""
    import pyarrow as pa

    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    return table.rename_columns([name.lower() for name in table.column_names])


def _unreadable(source, root: Path, error: Exception) -> ProjectError:
    """DuckDB's reader refusing the files as they are loaded (a file of the glob without a
    column the first has, a value that does not convert to its declared type) is the
    files' or the declaration's mistake: exit 2 at the source's declaration (the column's
    line, for a value), naming the file and its line."""
    import re

    text = str(error)
    named = re.search(r"^\s*(?:Current file:|file =)\s*(.+?)\s*$", text, re.M)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    where = ""
    if named:
        path = Path(named.group(1))
        try:
            where = path.relative_to(root).as_posix()
        except ValueError:
            where = str(path)
        where = f" {where}" + (f" line {line.group(1)}" if line else "")
    detail = next((m.group(0).strip() for m in re.finditer(r"^(Column with name: .*|Error when converting column .*)$", text, re.M)), None)
    main, missing = re.search(r"Main file schema: (.+?)\s*$", text, re.M), re.search(r'Column with name: "(.+)" is missing', text)
    if main and missing:
        first = Path(main.group(1))
        detail = f"it has no column '{missing.group(1)}', which {first.relative_to(root).as_posix() if first.is_relative_to(root) else first} has"
    detail = detail or next((part.strip() for part in text.splitlines() if part.strip()), type(error).__name__)
    column = re.search(r'converting column "([^"]+)"', text)
    declared_at = source.line
    if column:
        try:
            declaration = (root / source.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            declaration = ""
        declared_at = line_of(declaration, f"{column.group(1)} =", source.line or 1) or source.line
    glob_hint = "the files of a glob need the same columns" if "globbed files" in text else None
    return ProjectError(f"source {source.key}: cannot load{where}: {detail}", source.file, declared_at,
                        hint=glob_hint or "fix the value in the file, or the declared type in warehouse/sources.toml")


def _refuse(source, what: str) -> None:
    raise ProjectError(
        f"source {source.key} names files, but {what} {source.schema}.{source.table} that toolkit did not make "
        f"from them exists in the target; toolkit will not replace it",
        source.file, source.line, hint="drop or rename it, or give the source another schema",
    )


def _load(engine, source, root: Path) -> int:
    """Load into a side table, then replace the source's table with it in one transaction."""
    import duckdb

    target = relation(source)
    side = exp.table_(exp.to_identifier(f"{source.table}__toolkit_load"), db=exp.to_identifier(source.schema))
    engine.drop(side)
    rows = 0
    with duckdb.connect() as connection:
        try:
            batches = connection.sql(reader(source, root).sql(dialect="duckdb")).to_arrow_reader(BATCH_ROWS)
            for number, batch in enumerate(batches):
                (engine.insert_arrow if number else engine.create_table_from_arrow)(side, _lower_case_columns(batch))
                rows += batch.num_rows
        except (duckdb.Error, OSError) as error:  # the files do not read as one table (Arrow's reader raises OSError)
            engine.drop(side)
            raise _unreadable(source, root, error) from None
        if rows == 0:
            engine.create_table_from_arrow(side, _lower_case_columns(batches.schema.empty_table()))
    engine.replace_loaded(target, side)
    return rows


def _drop_replaced_aside(engine, source, relations) -> None:
    """Old loads of `source` a view still read when it was loaded again (engine.replace_loaded),
    dropped once no view reads them (the run that rebuilt those views has published)."""
    aside = [name for name in relations if name.lower().startswith(f"{source.table.lower()}{REPLACED_ASIDE}")]
    if aside:
        still_read = engine.views_reading(source.schema, aside)
        for name in aside:
            if name not in still_read:
                engine.drop(exp.table_(exp.to_identifier(name), db=exp.to_identifier(source.schema)))
