"""dbt sources -> warehouse/sources.toml, dbt seeds -> warehouse/seeds/ + seeds.toml.

A source table's `identifier` is the table's name in the warehouse, so it names the
toolkit source table; `source('src', 'name')` calls are rewritten to it (models.py,
SourceCalls), and two dbt names of one identifier both read that one table.
Freshness toolkit's test cannot say (a filter, an expression) is reported, not converted.
Columns are declared only when the property file types every column it lists
(`data_type`): a partial list would hide the table's other columns from the steps.
Seeds from nested folders land flat in warehouse/seeds/ (dbt seed names are unique
too); +column_types from dbt_project.yml and property files become seeds.toml types.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.dbtimport import toml
from toolkit.dbtimport.configs import level_configs, merge, normal, tree_config
from toolkit.dbtimport.testmap import Context, Target, add_test
from toolkit.errors import ProjectError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JINJA = re.compile(r"{{|{%")
_FRESHNESS_UNITS = {"minute": "minutes", "hour": "hours", "day": "days"}


@dataclass
class SourceTable:
    source: str
    schema: str
    table: str  # the warehouse table (identifier)
    dbt_name: str
    file: str
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # column -> description
    tags: dict[str, list[str]] = field(default_factory=dict)
    entry: dict = field(default_factory=dict)
    target: Target | None = None
    also: list[str] = field(default_factory=list)  # other dbt names of the source for this table (same identifier)

    @property
    def key(self) -> str:
        return f"{self.source}.{self.table}"


def read_sources(project, report) -> dict[tuple[str, str], SourceTable]:
    """(dbt source, dbt table name) -> the toolkit source table."""
    found: dict[tuple[str, str], SourceTable] = {}
    for file, source in project.entries("sources"):
        name = source.get("name")
        if not isinstance(name, str):
            raise ProjectError("a source needs a name", file, getattr(source, "line", None))
        schema = source.get("schema") or name
        if not isinstance(schema, str) or _JINJA.search(schema):
            report.skip("source", f"schema of {name}", file, f"schema {schema!r} is Jinja: toolkit reads schema '{name}'")
            schema = name
        if source.get("database"):
            report.skip("source", f"database of {name}", file, "toolkit reads sources from the target's own database")
        for table in source.get("tables") or []:
            if not isinstance(table, dict) or not isinstance(table.get("name"), str):
                raise ProjectError(f"each table of source '{name}' needs a name", file, getattr(table, "line", None))
            dbt_name = table["name"]
            identifier = table.get("identifier") or dbt_name
            if not isinstance(identifier, str) or _JINJA.search(identifier):
                report.skip("source", f"identifier of {name}.{dbt_name}", file, "a Jinja identifier: toolkit reads the table by its name")
                identifier = dbt_name
            first = next((t for t in found.values() if t.source == name and t.table == identifier), None)
            if first is not None:  # dbt reads one table by two names: both read the one toolkit source table
                first.also.append(dbt_name)
                report.notes.append(f"source {name}.{dbt_name} reads the table '{identifier}' as {name}.{first.dbt_name} does: "
                                    f"both read the one source table {first.key}")
                if _declares_more(table):
                    report.skip("source", f"{name}.{dbt_name}", file,
                                f"a second table of source {name} reading '{identifier}': read as {first.key}, whose properties "
                                f"({name}.{first.dbt_name}'s) are converted; this entry's tests, columns and freshness are not")
                continue
            item = SourceTable(name, schema, identifier, dbt_name, file, project.describe(table.get("description"), file, report))
            item.entry = {**{k: source[k] for k in ("freshness", "loaded_at_field") if k in source}, **table}
            columns = [c for c in table.get("columns") or [] if isinstance(c, dict) and isinstance(c.get("name"), str)]
            for column in columns:
                item.notes[column["name"].lower()] = project.describe(column.get("description"), file, report)
                tags = column.get("tags") or (column.get("config") or {}).get("tags")
                if tags:
                    item.tags[column["name"].lower()] = [tags] if isinstance(tags, str) else list(tags)
            typed = {c["name"].lower(): c.get("data_type") for c in columns}
            if typed and all(isinstance(t, str) and t for t in typed.values()) and all(_is_type(t) for t in typed.values()):
                item.columns = typed
            elif any(typed.values()):
                report.skip("source", f"column types of {item.key}", file,
                            "not every listed column has a SQL data_type: toolkit reads the columns from the warehouse instead")
            for key in ("external", "loader", "quoting"):
                if table.get(key) or source.get(key):
                    report.skip("source config", key, f"{file} ({item.key})", "not a toolkit source setting")
            found[(name, dbt_name)] = item
    report.count("source tables", len(found))
    return found


def _declares_more(table: dict) -> bool:
    """Whether a source table's entry declares what a toolkit source table keeps (tests,
    column types or tags, freshness) beyond its name and description."""
    columns = [c for c in table.get("columns") or [] if isinstance(c, dict)]
    return bool(table.get("tests") or table.get("data_tests") or table.get("freshness") or table.get("loaded_at_field")
                or any(c.get("tests") or c.get("data_tests") or c.get("data_type") or c.get("tags") for c in columns))


def seed_backed(sources: dict, seeds: dict[str, str | None], report) -> dict[tuple[str, str], str]:
    """Source tables that are a seed's table (same schema and name, as when a project loads
    its raw data with `dbt seed`): taken out of the sources, read with ref('seed')."""
    found = {}
    for key, item in list(sources.items()):
        if item.table in seeds and item.schema in ("raw", seeds[item.table]):
            found[key] = item.table
            found.update({(key[0], name): item.table for name in item.also})
            del sources[key]
            report.notes.append(f"source {key[0]}.{key[1]} is the table of seed {item.table} (schema {item.schema}): "
                                f"read with ref('{item.table}')")
            if item.entry.get("tests") or item.entry.get("data_tests") or any(
                    isinstance(c, dict) and (c.get("tests") or c.get("data_tests")) for c in item.entry.get("columns") or []):
                report.skip("test", f"tests of source {key[0]}.{key[1]}", item.file, "the source is read as the seed: declare its tests on the seed")
    return found


def _is_type(text: str) -> bool:
    from sqlglot import exp

    for dialect in (None, "duckdb", "postgres", "snowflake", "bigquery", "spark"):
        try:
            exp.DataType.build(text, dialect=dialect)
            return True
        except Exception:  # sqlglot: ParseError or ValueError
            continue
    return False


def add_source_tests(sources: dict, ctx: Context) -> None:
    for item in sources.values():
        item.target = Target("source", item.key, item.file)
        entry = item.entry
        for spec in entry.get("data_tests") or entry.get("tests") or []:
            add_test(ctx, item.target, spec, None)
        for column in entry.get("columns") or []:
            if isinstance(column, dict) and isinstance(column.get("name"), str):
                for spec in column.get("data_tests") or column.get("tests") or []:
                    add_test(ctx, item.target, spec, column["name"], column.get("quote") is True)
        _add_freshness(item, entry.get("freshness"), entry.get("loaded_at_field"), ctx.report)


def _add_freshness(item: SourceTable, freshness: Any, field_name: Any, report) -> None:
    """dbt's source freshness -> a warn-only freshness test of the column, where toolkit's
    test (the newest value of one column) says the same; else reported, not converted."""
    if not isinstance(freshness, dict) or not (freshness.get("warn_after") or freshness.get("error_after")):
        return
    what = f"freshness of {item.key}"
    if not field_name:
        report.skip("source", what, item.file, "no loaded_at_field: toolkit's freshness test reads a column")
        return
    if not isinstance(field_name, str) or not _NAME.match(field_name):
        report.skip("source", what, item.file, f"loaded_at_field {field_name!r} is an expression: toolkit's freshness test "
                    "reads a column (not converted: compute the column in a step and test its freshness there)")
        return
    if freshness.get("filter"):
        report.skip("source", what, item.file, f"freshness filter {str(freshness['filter'])!r}: toolkit's freshness test reads "
                    "every row, so fresh rows outside the filter would pass stale ones (not converted)")
        return
    after = freshness.get("warn_after") or freshness.get("error_after") or {}
    count, period = after.get("count") if isinstance(after, dict) else None, _FRESHNESS_UNITS.get(str(after.get("period"))) if isinstance(after, dict) else None
    if not (isinstance(count, int) and count > 0 and period):
        report.skip("source", what, item.file, f"{after!r} is not a count of minutes, hours or days (not converted)")
        return
    item.target.table.append({"freshness": {"column": field_name, "max_age": f"{count} {period}", "severity": "warn"}})
    why = "a warn-only freshness test: dbt checks freshness apart from builds, toolkit when the source is read"
    if freshness.get("error_after") and freshness.get("warn_after"):
        why += " (error_after is not converted: past it the warn_after test warns too)"
    elif freshness.get("error_after"):
        why += " (error_after converted as the warning's age)"
    report.skip("source", what, item.file, why)


def add_seed_tests(project, seeds: dict, ctx: Context) -> list[Target]:
    """The tests of converted seeds, each a custom test reading ref('seed')."""
    targets = []
    for file, entry in project.entries("seeds"):
        if entry.get("name") in seeds:
            target = Target("seed", entry["name"], file)
            for spec in entry.get("data_tests") or entry.get("tests") or []:
                add_test(ctx, target, spec, None)
            for column in entry.get("columns") or []:
                if isinstance(column, dict) and isinstance(column.get("name"), str):
                    for spec in column.get("data_tests") or column.get("tests") or []:
                        add_test(ctx, target, spec, column["name"], column.get("quote") is True)
            targets.append(target)
    return targets


def write_sources(sources: dict, out: Path) -> None:
    if not sources:
        return
    parts = ["# Converted from the dbt project's sources by `toolkit import-dbt`.\n"]
    written: set[str] = set()
    for item in sources.values():
        if item.source not in written:
            written.add(item.source)
            parts.append("\n" + toml.table(toml.key(item.source), {"schema": item.schema} if item.schema != item.source else {}))
        settings: dict[str, Any] = {"description": toml.one_line(item.description, 400) or None}
        if item.columns:
            settings["columns"] = item.columns
        if item.target and item.target.columns:
            settings["tests"] = item.target.columns
        if item.target and item.target.table:
            settings["table_tests"] = item.target.table
        if item.tags:
            settings["tags"] = item.tags
        notes = "".join(f"# {c}: {toml.one_line(d)}\n" for c, d in item.notes.items() if d)
        parts.append(f"\n{notes}" + toml.table(f"{toml.key(item.source)}.tables.{toml.key(item.table)}", settings))
    path = out / "warehouse" / "sources.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts), encoding="utf-8")


def convert_seeds(project, out: Path, report) -> dict[str, str | None]:
    """The converted seeds: name -> the schema dbt loads it into (+schema), if set."""
    properties = {e["name"]: (f, e) for f, e in project.entries("seeds") if isinstance(e.get("name"), str)}
    names: set[str] = set()  # lower case, for duplicates
    found: dict[str, str | None] = {}
    declared: list[str] = []
    for folder in project.folders("seed"):
        for path in sorted(folder.rglob("*")):
            relative = project.relative(path)
            if not path.is_file() or path.suffix.lower() in (".yml", ".yaml", ".md") or path.name.startswith("."):
                continue
            if path.suffix.lower() != ".csv":
                report.skip("seed", path.name, relative, "dbt seeds are CSV files; this one is not")
                continue
            name = path.stem
            file, entry = properties.get(name, ("", {}))
            parts = [*path.relative_to(folder).parent.parts, name]
            config = tree_config(project.config.get("seeds"), project.name, parts)
            config = merge(config, {normal(k): v for k, v in (entry.get("config") or {}).items()})
            if config.get("enabled") is False:
                report.skip("seed", name, relative, "disabled in dbt (enabled: false)")
                continue
            if isinstance(config.get("enabled"), str):
                report.skip("seed config", f"enabled: {config['enabled']}", relative, "a Jinja condition: the seed was converted as enabled")
            if not _NAME.match(name) or name.lower() in names:
                report.skip("seed", name, relative, "not a valid name" if not _NAME.match(name) else "a second seed of this name")
                continue
            names.add(name.lower())
            found[name] = config.get("schema") if isinstance(config.get("schema"), str) else None
            for key in sorted(set(config) - {"column_types", "delimiter", "enabled", "quote_columns", "docs", "meta", "tags", "full_refresh"}):
                report.skip("seed config", key, relative, "toolkit loads every seed into the raw schema as itself")
            target = out / "warehouse" / "seeds" / f"{name}.csv"
            target.parent.mkdir(parents=True, exist_ok=True)
            header = _copy_csv(path, target, str(config.get("delimiter") or ","))
            own = _own_column_types(project.config.get("seeds"), [project.name, *parts], entry)
            types = _column_types(config.get("column_types") or {}, header, relative, report, own)
            _report_null_text(target, types, relative, report)
            columns = {h.strip().lower() for h in header}  # seeds.toml tags only the seed's columns, as lists
            tags = {c["name"].lower(): [c["tags"]] if isinstance(c["tags"], str) else c["tags"] for c in entry.get("columns") or []
                    if isinstance(c, dict) and isinstance(c.get("name"), str) and c.get("tags") and c["name"].lower() in columns}
            description = project.describe(entry.get("description"), file, report)
            if types or tags or description:
                note = f"# {toml.one_line(description)}\n" if description else ""
                declared.append(note + toml.table(toml.key(name), {"columns": types or None, "tags": tags or None}))
            report.count("seeds")
    if declared:
        text = "# Seed column types, converted from the dbt project by `toolkit import-dbt`.\n\n" + "\n".join(declared)
        (out / "warehouse" / "seeds.toml").write_text(text, encoding="utf-8")
    return found


def _copy_csv(path: Path, target: Path, delimiter: str) -> list[str]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(rows, [])
    if delimiter == ",":
        shutil.copyfile(path, target)
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        target.write_text(buffer.getvalue(), encoding="utf-8")
    return header


_DBT_NULLS = ("", "null")  # dbt's agate null_values, compared stripped and lower-cased


def _report_null_text(path: Path, types: dict[str, str], relative: str, report) -> None:
    """dbt loads '' and 'null' as NULL in every column; a toolkit seed's text column keeps
    them as text (seeds.toml cannot say otherwise), so each such column is reported."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from toolkit.seeds import arrow_type

    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={name: arrow_type(kind, relative) for name, kind in types.items()}))
    except (pa.ArrowInvalid, ProjectError):
        return  # toolkit says what is wrong with the file when it loads it
    for name in table.column_names:
        column = table[name]
        if not pa.types.is_string(column.type):
            continue
        lines = _null_text_lines(column.to_pylist())
        if lines:
            more = f" (and {len(lines) - 1} more: lines {', '.join(map(str, lines[1:6]))}{', ...' if len(lines) > 6 else ''})" if len(lines) > 1 else ""
            report.skip("seed", f"{path.stem}.{name}", f"{relative}:{lines[0]}",
                        f"an empty or 'null' field{more}: dbt loads it as NULL, a toolkit seed loads text as written ('' / 'null'), "
                        "so tests and joins on it differ: write the seed as Parquet with NULLs, or filter it in the steps")


def _null_text_lines(values: list) -> list[int]:
    """The CSV lines (header = 1, one line a row) of the values dbt would read as NULL."""
    return [index + 2 for index, value in enumerate(values) if isinstance(value, str) and value.strip().lower() in _DBT_NULLS]


def _own_column_types(tree: Any, path: list[str], entry: dict) -> bool:
    """Whether the seed's +column_types is its own (its properties entry, or its own level of
    dbt_project.yml), not a folder's or the project's: dbt applies those only to the seeds
    that have the column, so a seed without it is no mistake to report."""
    if "column_types" in {normal(key) for key in (entry.get("config") or {}) if isinstance(key, str)}:
        return True
    level = tree
    for part in path:
        level = level.get(part) if isinstance(level, dict) else None
    return isinstance(level, dict) and "column_types" in level_configs(level)


def _column_types(declared: Any, header: list[str], relative: str, report, own: bool = True) -> dict[str, str]:
    from toolkit.seeds import arrow_type

    types = {}
    by_name = {h.strip().lower(): h.strip() for h in header}
    for column, kind in (declared.items() if isinstance(declared, dict) else []):
        actual = by_name.get(str(column).lower())
        if actual is None:
            if own:  # a folder's or the project's types name the columns of some of its seeds
                report.skip("seed column type", f"{column}", relative, "the CSV header has no such column")
            continue
        try:
            arrow_type(str(kind), relative)
        except ProjectError:
            report.skip("seed column type", f"{column} {kind}", relative, "toolkit does not load seeds as this type; its type is inferred")
            continue
        types[actual] = str(kind)
    return types
