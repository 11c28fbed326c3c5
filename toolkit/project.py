"""Discover a project on disk: config, sources, seeds and feature steps.

Nothing here renders or parses SQL; it only finds what the project declares and
checks that names are usable and unique.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any

from toolkit.config import Config, decode_text, load_config, read_text, read_toml
from toolkit.errors import ProjectError, did_you_mean, line_of
from toolkit.models import discover_models

MACROS_DIR = "features/macros"  # also templating.MACROS_DIR (not imported here: it imports Jinja)

STEP_SCHEMA = "features"
SEED_SCHEMA = "raw"
PREDICTIONS_SCHEMA = "predictions"
SEED_SUFFIXES = (".csv", ".parquet")
TESTS_DIR = "features/tests"  # custom data tests: a SELECT of the rows that violate a rule
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


FOLDERS = ("features", "models", "warehouse")  # where a project's inputs live
CONFIG_FILES = ("toolkit.toml", "pyproject.toml")
_NOT_INPUTS = (".duckdb", ".wal", ".json", ".tmp", ".pyc")  # databases, lock sidecars, caches
_LARGE = 4 << 20  # files above this (seeds) are not read: the compile cache keys them by size and mtime


@dataclass(frozen=True)
class ProjectFiles:
    """The project's input files, listed and read once per command (os.walk and bytes:
    pathlib cost more than the reading at 500 steps). The compile-cache key digests
    these bytes and the steps are loaded from them, so a step compiled is the step the
    key names, even when its file is written in between."""

    root: Path
    files: dict[str, bytes | os.stat_result]  # relative posix path -> content; a large file: its stat
    folders: tuple[str, ...] = ()  # folders under features/ named like a step file (an error)

    def step_files(self) -> list[str]:
        """features/**/*.sql and features/**/*.py but Python helpers (`_name.py`), in the order of their paths' parts."""
        found = [name for name in self.files if name.startswith("features/") and (
            name.endswith(".sql") or (name.endswith(".py") and not name.rsplit("/", 1)[1].startswith("_")))]
        return sorted(found + list(self.folders), key=lambda name: name.split("/"))


def read_project_files(root: Path) -> ProjectFiles:
    root = Path(root)
    files: dict[str, bytes | os.stat_result] = {}
    folders = []
    for name in CONFIG_FILES:
        _read_input(root, name, files)
    for top in FOLDERS:
        for folder, subfolders, names in os.walk(root / top, followlinks=True):  # as pathlib's glob("**") did
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            relative = Path(folder).relative_to(root).as_posix()
            if top == "features":
                folders += [f"{relative}/{d}" for d in subfolders if d.endswith((".sql", ".py"))]
            for name in sorted(names):
                if _is_input(top, name):
                    _read_input(root, f"{relative}/{name}", files)
    return ProjectFiles(root, files, tuple(folders))


def _is_input(top: str, name: str) -> bool:
    """Not a database, lock sidecar or cache; a .json file under models/ is an input
    (parameters a model file reads: they decide retraining, models._params_hash)."""
    if ".toolkit-lock" in name:
        return False
    return not name.endswith(_NOT_INPUTS) or (top == "models" and name.endswith(".json"))


def _read_input(root: Path, relative: str, files: dict) -> None:
    path = os.path.join(root, relative)
    try:
        stat = os.stat(path)
        if not S_ISREG(stat.st_mode):  # as os.path.isfile, without a second stat per file
            return
        if stat.st_size > _LARGE:
            files[relative] = stat
        else:
            with open(path, "rb") as file:
                files[relative] = file.read()
    except FileNotFoundError:  # removed while listed, or a dangling link: not an input
        return


@dataclass(frozen=True)
class Source:
    """A table that already exists in the warehouse, declared in warehouse/sources.toml."""

    source: str
    table: str
    schema: str
    columns: dict[str, str]
    file: Path
    line: int | None
    description: str = ""
    tests: dict = field(default_factory=dict)  # column -> tests, as in a step's config
    table_tests: list = field(default_factory=list)
    column_tags: dict[str, list[str]] = field(default_factory=dict)  # column -> tags, e.g. {"email": ["pii"]}
    path: str | None = None  # a file or glob (filesources.py); None: a table already in the warehouse
    format: str | None = None  # parquet | csv; None: from the path's suffix
    watermark: str | None = None  # a column whose max (with the row count) fingerprints the data without a full scan
    inferred: bool = False  # columns read from the files or the catalog (sourcecolumns.py), not (only) declared
    declared: dict[str, str] = field(default_factory=dict)  # the columns sources.toml declares, whatever was inferred
    descriptions: dict[str, str] = field(default_factory=dict)  # column -> what it means (toolkit docs)
    meta: dict = field(default_factory=dict)
    # column -> its name as the catalog stores it, where that is not the lower-case name
    # toolkit uses (a PostgreSQL column created as "UserId"); steps read it quoted
    stored_names: dict[str, str] = field(default_factory=dict)
    # lower-case name -> the stored names that share it ("Val" and "val"): SQL that folds
    # names to one case cannot tell them apart, so a step reading one is refused
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dialect: str = "duckdb"  # the project's: what the declared type names mean (`float` is double in PostgreSQL)

    @property
    def key(self) -> str:
        return f"{self.source}.{self.table}"

    def stored_name(self, column: str) -> str:
        return self.stored_names.get(column.lower(), column)

    @property
    def columns_known(self) -> bool:
        """Declared, or read from the files; a table source that declares none is read
        from the warehouse catalog when a run checks it."""
        return bool(self.columns)


@dataclass(frozen=True)
class Seed:
    """A CSV or Parquet file under warehouse/seeds/, loaded into the raw schema."""

    name: str
    path: Path
    column_types: dict[str, str]
    declared_in: Path | None = None
    column_tags: dict[str, list[str]] = field(default_factory=dict)  # column -> tags, e.g. {"email": ["pii"]}
    dialect: str = "duckdb"  # the project's: what the declared type names mean (`float` is double in PostgreSQL)


@dataclass(frozen=True)
class StepFile:
    """A feature step: a template features/**/*.sql, or Python features/**/*.py (ibissteps.py)."""

    name: str
    path: Path
    text: str


@dataclass
class Project:
    config: Config
    steps: dict[str, StepFile]
    seeds: dict[str, Seed]
    sources: dict[str, Source]
    custom_tests: dict[str, StepFile] = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # name -> models.ModelSpec

    @property
    def root(self) -> Path:
        return self.config.root

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def load_project(root: str | Path, vars_override: dict[str, Any] | None = None, config: Config | None = None,
                 models: dict | None = None, files: ProjectFiles | None = None) -> Project:
    """The project on disk; `models` (specs from the compile cache) spares importing models/*.py;
    `files`: the project's files as read for the compile-cache key (its steps are those)."""
    config = config or load_config(root, vars_override)
    steps = discover_steps(config.root, files)
    seeds = discover_seeds(config.root, config.dialect)
    models = discover_models(config.root) if models is None else models
    check_unique_names(config.root, steps, seeds, models)
    return Project(config, steps, seeds, discover_sources(config.root, config.dialect), discover_custom_tests(config.root), models)


def check_unique_names(root: Path, steps: dict, seeds: dict, models: dict) -> None:
    """Steps, seeds and models share one namespace, compared as the engines compare them.

    DuckDB resolves even quoted identifiers case-insensitively, so `CUSTOMER_RFM.sql`
    beside `customer_rfm.sql` would build two steps into one table: refuse it.
    """
    seen: dict[str, tuple[str, str, Path | str, int]] = {}
    named = [("seed", n, s.path.relative_to(root), 1) for n, s in seeds.items()]
    named += [("step", n, s.path.relative_to(root), 1) for n, s in steps.items()]
    named += [("model", n, m.file, m.line) for n, m in models.items()]
    for kind, name, file, line in named:
        key = name.casefold()
        if key in seen:
            other_kind, other, other_file, _ = seen[key]
            same = "one name" if other == name else f"names that differ only in case ('{other}')"
            raise ProjectError(
                f"duplicate name '{name}': both a {other_kind} ({Path(other_file).as_posix()}) and a {kind} have {same}",
                file,
                line,
                hint="steps, seeds and models share one namespace, compared without regard to case; rename one",
            )
        seen[key] = (kind, name, file, line)


def discover_steps(root: Path, files: ProjectFiles | None = None) -> dict[str, StepFile]:
    files = files or read_project_files(root)
    steps: dict[str, StepFile] = {}
    folded: dict[str, str] = {}  # casefolded name -> the step's name (a scan per file was quadratic: 0.5 s at 500)
    reserved = (MACROS_DIR + "/", TESTS_DIR + "/")
    for relative in files.files:  # features/x.SQL was silently no step at all
        if relative.startswith("features/") and relative.lower().endswith((".sql", ".py")) and not relative.endswith((".sql", ".py")):
            raise ProjectError("a step file's name ends in upper case, so it is not read as a step", relative,
                               hint=f"rename it to {relative[:relative.rindex('.')]}{relative[relative.rindex('.'):].lower()}")
    for relative in files.step_files():
        if relative.startswith(reserved):
            continue
        if relative in files.folders:
            raise ProjectError("a folder is named like a step file", relative, hint="rename the folder; step files are features/**/<name>.sql or <name>.py")
        name = os.path.splitext(relative.rsplit("/", 1)[1])[0]
        if not _NAME.match(name):
            raise ProjectError(
                f"step name '{name}' is not a valid identifier",
                relative,
                hint="use letters, digits and underscores, starting with a letter",
            )
        clash = folded.get(name.casefold())
        if clash is not None:
            raise ProjectError(
                f"duplicate step name '{name}': also defined in {steps[clash].path.relative_to(root)}"
                + ("" if clash == name else " (names differ only in case; the warehouse would not tell them apart)"),
                relative,
                1,
                hint="step names come from file names and must be unique across folders",
            )
        data = files.files[relative]
        path = root / relative
        steps[name] = StepFile(name, path, decode_text(data, relative) if isinstance(data, bytes) else read_text(path, root))
        folded[name.casefold()] = name
    return steps


def discover_custom_tests(root: Path) -> dict[str, StepFile]:
    folder = root / TESTS_DIR
    return {
        path.stem: StepFile(path.stem, path, read_text(path, root))
        for path in (sorted(folder.glob("**/*.sql")) if folder.is_dir() else [])
    }


def discover_seeds(root: Path, dialect: str = "duckdb") -> dict[str, Seed]:
    folder = root / "warehouse" / "seeds"
    declared_file = root / "warehouse" / "seeds.toml"
    declared: dict[str, Any] = {}
    text = ""
    if declared_file.is_file():
        declared, text = read_toml(declared_file, root)
    seeds: dict[str, Seed] = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.suffix.lower() not in SEED_SUFFIXES:
            continue
        relative = path.relative_to(root)
        if not _NAME.match(path.stem):
            raise ProjectError(f"seed name '{path.stem}' is not a valid identifier", relative)
        if path.stem in seeds:
            raise ProjectError(f"duplicate seed '{path.stem}' (both .csv and .parquet?)", relative)
        spec = declared.get(path.stem)
        types, tags = _seed_declaration(path.stem, spec, declared_file.relative_to(root), text) if spec is not None else ({}, {})
        seeds[path.stem] = Seed(path.stem, path, types, declared_file if spec is not None else None, tags, dialect)
    for name in declared:
        if name not in seeds:
            raise ProjectError(
                f"seeds.toml declares '{name}' but warehouse/seeds/ has no {name}.csv or {name}.parquet",
                declared_file.relative_to(root),
                line_of(text, name),
                hint=did_you_mean(name, seeds),
            )
    return seeds


_SEED_KEYS = ("columns", "tags")


def _seed_declaration(name: str, spec: Any, file: Path, text: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """A seed's entry in seeds.toml -> (column types, column tags), checked like a source's
    table in sources.toml (the tags' columns are checked against the header when it is read)."""
    what = f"seeds.toml: [{name}]"
    line = line_of(text, f"[{name}]") or line_of(text, name)
    _check_settings(spec, _SEED_KEYS, what, file, text, line)
    types = spec.get("columns", {})
    if not isinstance(types, dict):
        raise ProjectError(f"{what}: columns must be a table of name = \"type\"", file, line_of(text, "columns", line or 1))
    for column, kind in types.items():
        _check_type(kind, f"{what} column '{column}'", file, line_of(text, column, line or 1))
    return types, _column_tags(spec.get("tags"), what, file, line_of(text, "tags", line or 1))


_SOURCES_READ: dict[tuple[str, bytes, str], dict[str, Source]] = {}  # (root, sources.toml's bytes, dialect) -> its sources


def discover_sources(root: Path, dialect: str = "duckdb") -> dict[str, Source]:
    """The tables warehouse/sources.toml declares. One command reads it several times (the
    compile-cache key, the project, the session's readable folders): parsed and checked
    once per content (the Sources are frozen; each caller gets a dict of its own).
    `dialect`: the project's, in which the declared column types are read."""
    path = root / "warehouse" / "sources.toml"
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return {}
    key = (str(root), data, dialect)
    if key not in _SOURCES_READ:
        if len(_SOURCES_READ) >= 8:
            _SOURCES_READ.clear()
        _SOURCES_READ[key] = _read_sources(root, path, dialect)
    return dict(_SOURCES_READ[key])


def _read_sources(root: Path, path: Path, dialect: str = "duckdb") -> dict[str, Source]:
    data, text = read_toml(path, root)
    relative = path.relative_to(root)
    sources: dict[str, Source] = {}
    for source_name, spec in data.items():
        line = line_of(text, f"[{source_name}")
        if not isinstance(spec, dict) or not isinstance(spec.get("tables", {}), dict):
            raise ProjectError(f"[{source_name}] must be a table with [{source_name}.tables.NAME] entries", relative, line)
        unknown = set(spec) - {"schema", "description", "tables"}
        if unknown:
            key = sorted(unknown)[0]
            raise ProjectError(
                f"unknown key '{key}' in [{source_name}]",
                relative,
                line_of(text, key, line or 1),
                hint=did_you_mean(key, ["schema", "description", "tables"]) or "a table goes in [" + source_name + ".tables.NAME]",
            )
        schema = spec.get("schema", source_name)
        if not isinstance(schema, str) or not schema:
            raise ProjectError(f"[{source_name}] schema must be a name (a string)", relative, line_of(text, "schema", line or 1))
        for table, table_spec in spec.get("tables", {}).items():
            table_line = line_of(text, f"[{source_name}.tables.{table}]")
            sources[f"{source_name}.{table}"] = _source(source_name, schema, table, table_spec, relative, text, table_line, dialect)
    return sources


_SOURCE_TABLE_KEYS = ("columns", "path", "format", "watermark", "description", "descriptions", "meta", "tests",
                      "table_tests", "tags")


def _check_settings(spec: Any, keys, what: str, file: Path, text: str, line: int | None) -> None:
    """A seed's or source table's entry is a table of settings with known keys only."""
    if not isinstance(spec, dict):
        raise ProjectError(f"{what} must be a table of settings, e.g. columns = {{ id = \"bigint\" }}", file, line)
    unknown = sorted(set(spec) - set(keys))
    if unknown:
        raise ProjectError(f"{what}: unknown key '{unknown[0]}'", file, line_of(text, unknown[0], line or 1),
                           hint=did_you_mean(unknown[0], keys) or f"known keys: {', '.join(keys)}")


def _source(source_name: str, schema: str, table: str, spec: Any, relative: Path, text: str, line: int | None,
            dialect: str = "duckdb") -> Source:
    what = f"source {source_name}.{table}"
    _check_settings(spec, _SOURCE_TABLE_KEYS, what, relative, text, line)
    columns = spec.get("columns", {})
    path = spec.get("path")
    if not isinstance(columns, dict) or (not columns and "columns" in spec):
        raise ProjectError(f"{what}: columns must name at least one column, e.g. columns = {{ id = \"bigint\" }}",
                           relative, line_of(text, "columns", line or 1))
    for key in ("path", "format", "watermark"):
        if key in spec and (not isinstance(spec[key], str) or not spec[key].strip()):
            raise ProjectError(f"{what}: {key} must be a non-empty string", relative, line_of(text, key, line or 1))
    file_format = spec.get("format")
    if file_format is not None and file_format not in ("parquet", "csv"):
        raise ProjectError(f"{what}: format '{file_format}' is not parquet or csv", relative, line_of(text, "format", line or 1))
    if path is not None and file_format is None and Path(path).suffix.lower() not in (".parquet", ".csv", ".tsv"):
        raise ProjectError(f"{what}: cannot tell the format of '{path}' from its suffix", relative, line_of(text, "path", line or 1),
                           hint='say format = "parquet" or format = "csv"')
    for name, kind in columns.items():
        _check_type(kind, f"{what} column '{name}'", relative, line_of(text, name, line or 1))
    declared = {name.lower() for name in columns}
    for key in ("descriptions", "meta"):
        if not isinstance(spec.get(key, {}), dict):
            raise ProjectError(f"{what}: {key} must be a table, e.g. {key} = {{ id = \"...\" }}", relative, line_of(text, key, line or 1))
    if not all(isinstance(text_, str) for text_ in spec.get("descriptions", {}).values()):
        raise ProjectError(f"{what}: descriptions map columns to text", relative, line_of(text, "descriptions", line or 1))
    described = [name for name in spec.get("descriptions", {}) if declared and name.lower() not in declared]
    if described:  # a typo's text was shown for no column, and the real one went undescribed
        raise ProjectError(f"{what}: descriptions name column '{described[0]}', which it does not declare", relative,
                           line_of(text, "descriptions", line or 1), hint=did_you_mean(described[0].lower(), declared))
    watermark = spec.get("watermark")
    if watermark is not None and declared and watermark.lower() not in declared:
        raise ProjectError(f"{what}: watermark '{watermark}' is not a declared column", relative, line_of(text, "watermark", line or 1),
                           hint=did_you_mean(watermark.lower(), declared))
    return Source(
        source=source_name,
        table=table,
        schema=schema,
        columns={name.lower(): str(kind) for name, kind in columns.items()},
        declared={name.lower(): str(kind) for name, kind in columns.items()},
        file=relative,
        line=line,
        description=spec.get("description", ""),
        tests=spec.get("tests", {}),
        table_tests=spec.get("table_tests", []),
        column_tags=_column_tags(spec.get("tags"), what, relative, line_of(text, "tags", line or 1), declared or None),
        path=path,
        format=file_format,
        watermark=watermark.lower() if watermark else None,
        descriptions=dict(spec.get("descriptions", {})),
        meta=dict(spec.get("meta", {})),
        dialect=dialect,
    )


def _column_tags(declared: Any, what: str, file: Path, line: int | None, columns: set[str] | None = None) -> dict[str, list[str]]:
    """`tags = {email = ["pii"], birth_date = ["pii", "sensitive"]}`: column -> tags."""
    if declared is None:
        return {}
    if not isinstance(declared, dict):
        raise ProjectError(f"{what}: tags must map columns to lists of tags, e.g. tags = {{ email = [\"pii\"] }}", file, line)
    tags: dict[str, list[str]] = {}
    for column, names in declared.items():
        if isinstance(names, str):  # one tag, as dbt's meta writes it
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ProjectError(f"{what}: the tags of column '{column}' must be a list of names, e.g. [\"pii\"]", file, line)
        if columns is not None and column.lower() not in columns:
            raise ProjectError(f"{what}: tags name column '{column}', which it does not declare", file, line,
                               hint=did_you_mean(column.lower(), columns))
        tags[column.lower()] = sorted({name.lower() for name in names})  # "PII" is pii
    return tags


_TYPE_DIALECTS = (None, "duckdb", "postgres", "snowflake", "bigquery", "spark")
_COMMON_TYPES = ("bigint", "integer", "smallint", "double", "real", "decimal", "numeric", "varchar", "text",
                 "string", "boolean", "date", "timestamp", "timestamptz", "time", "interval", "blob", "json", "uuid")


@functools.lru_cache(maxsize=1024)
def _known_type(kind: str) -> bool:
    """Whether some dialect parses `kind` as a type. Remembered per process: sources.toml is
    read several times a command, and each parse makes a tokenizer (~0.2 ms a column)."""
    from sqlglot import exp  # sqlglot stays out of discovery's import unless types are declared

    if not kind.strip():
        return False
    for dialect in _TYPE_DIALECTS:
        try:
            exp.DataType.build(kind, dialect=dialect)
            return True
        except Exception:  # sqlglot raises ParseError or ValueError for an unknown type
            continue
    return False


def _check_type(kind: Any, what: str, file: Path, line: int | None) -> None:
    """A declared column type must be one some SQL dialect knows (`varchr` is a typo)."""
    if isinstance(kind, str) and _known_type(kind):
        return
    raise ProjectError(f"{what}: '{kind}' is not a SQL type", file, line,
                       hint=did_you_mean(str(kind).lower(), _COMMON_TYPES) or "e.g. bigint, double, varchar, date, timestamp")
