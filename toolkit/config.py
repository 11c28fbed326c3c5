"""Project configuration: `toolkit.toml`, or `[tool.toolkit]` in pyproject.toml.

Both hold the same keys. Validation errors name the file, the line of the key and
what was expected. Secrets are written as `${ENV_VAR}` and read from the
environment only when the target that uses them is selected.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.engines import available as available_engines
from toolkit.engines import engine_spec
from toolkit.errors import ProjectError, did_you_mean, line_of

TOP_KEYS = {"name": str, "dialect": str, "target": str, "targets": dict, "vars": dict, "trusted_types": list, "allowed_functions": list,
            "time_zone": str}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TOML_POSITION = re.compile(r"\(?at line (\d+), column (\d+)\)?")
_TOML_AT_END = "(at end of document)"


@dataclass(frozen=True)
class Target:
    """One warehouse connection: an engine plus its (interpolated) settings."""

    name: str
    engine: str
    settings: dict[str, Any]
    time_zone: str = "UTC"  # the project's: every session runs in it (engines set it at connect)


@dataclass(frozen=True)
class Config:
    root: Path
    file: Path
    name: str
    dialect: str
    default_target: str
    targets: dict[str, dict[str, Any]]
    vars: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    trusted_types: tuple[str, ...] = ()  # model artifact types trusted beyond toolkit's allow-list
    allowed_functions: tuple[str, ...] = ()  # file/system functions steps may call after all (sqlguard.py)
    # The session time zone of every engine: what casting a TIMESTAMPTZ to a date, date_trunc
    # over one or now()::date return. Not the machine's or the server's: one project, one answer.
    time_zone: str = "UTC"

    def target(self, name: str | None = None) -> Target:
        """The named (or default) target, with `${ENV}` references resolved."""
        name = name or self.default_target
        if name not in self.targets:
            raise ProjectError(
                f"unknown target '{name}'",
                self.shown_file,
                line_of(self.text, "targets"),
                hint=did_you_mean(name, self.targets) or f"targets: {', '.join(self.targets)}",
            )
        raw = self.targets[name]
        # Checked when chosen: a broken entry for another target does not stop this one.
        _check_target(name, raw, self._prefix, self._target_fail(name))
        settings = {key: self._interpolate(value) for key, value in raw.items() if key != "engine"}
        return Target(name=name, engine=raw["engine"], settings=settings, time_zone=self.time_zone)

    @property
    def _prefix(self) -> str:
        return "tool.toolkit." if self.file.name == "pyproject.toml" else ""

    def _target_fail(self, name: str):
        """fail(message, key, hint) pointing at `key` inside target `name`'s own table."""
        start = _target_line(self.text, name)

        def fail(message: str, key: str, hint: str | None = None):
            line = line_of(self.text, key.rsplit(".", 1)[-1], start) if key != name else start
            raise ProjectError(message, self.shown_file, line or start, hint=hint)

        return fail

    def _interpolate(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value

        def replace(match: re.Match) -> str:
            variable, default = match.group(1), match.group(2)
            if variable in os.environ:
                return os.environ[variable]
            if default is not None:
                return default
            raise ProjectError(
                f"environment variable {variable} is not set",
                self.shown_file,
                line_of(self.text, match.group(0)),
                hint=f"export {variable}=...",
            )

        return _ENV_REF.sub(replace, value)

    @property
    def shown_file(self) -> str:
        """The config file as error messages name it: relative to the project root."""
        return self.file.relative_to(self.root).as_posix()


def find_config_file(root: Path) -> tuple[Path, bool]:
    """The config file of the project at `root` and whether it is a pyproject.toml."""
    toolkit_toml, pyproject = root / "toolkit.toml", root / "pyproject.toml"
    in_pyproject = pyproject.is_file() and "[tool.toolkit" in read_text(pyproject, root)
    if toolkit_toml.is_file():
        if in_pyproject:  # toolkit.toml won silently: an edit of the other changed nothing
            raise ProjectError("the project is configured twice: in toolkit.toml and in [tool.toolkit] of pyproject.toml",
                               "pyproject.toml", line_of(read_text(pyproject, root), "[tool.toolkit"), hint="keep one of them")
        return toolkit_toml, False
    if in_pyproject:
        return pyproject, True
    raise ProjectError(
        f"no toolkit project in {root}: no toolkit.toml and no [tool.toolkit] in pyproject.toml",
        hint="run `toolkit init DIR` to create one, or pass --project-dir",
    )


def read_text(path: Path, root: Path | None = None) -> str:
    """A project file as text: UTF-8 (a BOM is allowed), no NUL bytes; anything else is
    the user's file in the wrong encoding, named with the line of the first bad byte."""
    return decode_text(path.read_bytes(), path.relative_to(root).as_posix() if root else str(path))


def decode_text(data: bytes, shown: str) -> str:
    """read_text's checks on bytes already read (`shown`: the file, as errors name it)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ProjectError("the file is UTF-16; toolkit reads UTF-8", shown, 1, hint="save it as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ProjectError(f"the file is not UTF-8 text (byte 0x{data[error.start]:02x})", shown, line, hint="save it as UTF-8") from None
    if "\x00" in text:
        raise ProjectError("the file holds a NUL byte: a binary file, not text", shown, text.count("\n", 0, text.index("\x00")) + 1)
    return text


def read_toml(path: Path, root: Path | None = None) -> tuple[dict[str, Any], str]:
    """Parse a TOML file; a syntax error names the file (relative to `root`), line and column."""
    text = read_text(path, root)
    shown = path.relative_to(root).as_posix() if root else path
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as error:
        position = _TOML_POSITION.search(str(error))
        line, col = (int(position.group(1)), int(position.group(2))) if position else (None, None)
        if position is None and _TOML_AT_END in str(error):  # tomllib gives no position there: the last line
            lines = text.splitlines() or [""]
            line, col = len(lines), len(lines[-1]) + 1
        message = _TOML_POSITION.sub("", str(error).replace(_TOML_AT_END, "")).strip(" ()")
        raise ProjectError(f"invalid TOML: {message}", shown, line, col) from None


def load_config(root: str | Path, vars_override: dict[str, Any] | None = None) -> Config:
    root = Path(root).resolve()
    path, is_pyproject = find_config_file(root)
    data, text = read_toml(path, root)
    shown = path.relative_to(root).as_posix()
    if is_pyproject:
        data = data.get("tool", {}).get("toolkit", {})
    prefix = "tool.toolkit." if is_pyproject else ""

    def fail(message: str, key: str, hint: str | None = None):
        raise ProjectError(message, shown, line_of(text, key.rsplit(".", 1)[-1]), hint=hint)

    for key, value in data.items():
        if key not in TOP_KEYS:
            fail(f"unknown key '{prefix}{key}'", key, did_you_mean(key, TOP_KEYS))
        if not isinstance(value, TOP_KEYS[key]):
            expected = TOP_KEYS[key].__name__.replace("dict", "table").replace("str", "string")
            fail(f"'{prefix}{key}' must be a {expected}, got {value!r}", key)
    for key in ("trusted_types", "allowed_functions"):  # names, each a string: 3 or {a = 1} named nothing
        wrong = next((item for item in data.get(key, ()) if not isinstance(item, str) or not item), None)
        if wrong is not None:
            fail(f"'{prefix}{key}' must be a list of names (strings), got {wrong!r}", key)
    if "name" not in data:
        raise ProjectError(f"missing key '{prefix}name' (the project name)", shown, 1)
    targets = data.get("targets") or {}
    if not targets:
        raise ProjectError(
            f"no targets: add a [{prefix}targets.dev] table with engine = \"duckdb\"", shown, 1
        )
    for name, target in targets.items():  # each target's contents are checked when it is chosen (Config.target)
        if not isinstance(target, dict):
            raise ProjectError(f"'{prefix}targets.{name}' must be a table", shown, _target_line(text, name))
    dialect = data.get("dialect", "duckdb")
    _check_dialect(dialect, fail)
    time_zone = data.get("time_zone", "UTC")
    _check_time_zone(time_zone, fail)
    default_target = data.get("target", next(iter(targets)))
    if default_target not in targets:
        fail(
            f"'{prefix}target' names '{default_target}', which is not a target",
            "target",
            did_you_mean(default_target, targets),
        )
    return Config(
        root=root,
        file=path,
        name=data["name"],
        dialect=dialect,
        default_target=default_target,
        targets=targets,
        vars={**data.get("vars", {}), **_checked_overrides(data.get("vars", {}), vars_override or {}, shown, text)},
        text=text,
        trusted_types=tuple(data.get("trusted_types", ())),
        allowed_functions=tuple(data.get("allowed_functions", ())),
        time_zone=time_zone,
    )


def _target_line(text: str, name: str) -> int | None:
    """The line that opens target `name`: its [targets.<name>] header or `<name> = {...}`."""
    for pattern in (rf"^\s*\[(tool\.toolkit\.)?targets\.{re.escape(name)}\]", rf"^\s*{re.escape(name)}\s*="):
        for number, line in enumerate(text.splitlines(), start=1):
            if re.match(pattern, line):
                return number
    return line_of(text, "targets")


def _positive_integer(value: Any) -> bool:
    if isinstance(value, str):  # threads = "${THREADS}", or "4": DuckDB reads the setting as text
        return value.strip().isdigit() or bool(_ENV_REF.search(value))
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


# a built-in engine's setting -> (what it takes, its check); the same name means the same
# thing in every engine. Checked here: `path = 5` was "internal error: PosixPath / int",
# `threads = "x"` a raw DuckDB exception when the run connected.
SETTING_TYPES: dict[str, tuple[str, Any]] = {
    "path": ("a string (the DuckDB file)", lambda value: isinstance(value, str)),
    "threads": ("a positive integer", _positive_integer),
    "memory_limit": ("a string such as \"4GB\"", lambda value: isinstance(value, str)),
    "state": ("a string (a DuckDB file or a postgresql:// URL)", lambda value: isinstance(value, str)),
    "url": ("a string (a postgresql:// URL)", lambda value: isinstance(value, str)),
    "master": ("a string such as \"local[2]\"", lambda value: isinstance(value, str)),
    "remote": ("a string such as \"sc://host:15002\"", lambda value: isinstance(value, str)),
    "conf": ("a table of Spark settings", lambda value: isinstance(value, dict)),
    "warehouse": ("a string (the Spark warehouse folder)", lambda value: isinstance(value, str)),
}


def _check_setting_types(where: str, target: dict, fail) -> None:
    for key, value in target.items():
        takes, fits = SETTING_TYPES.get(key, (None, None))
        if fits is not None and not fits(value):
            fail(f"'{where}.{key}' must be {takes}, got {value!r:.60}", key)


def _check_target(name: str, target: Any, prefix: str, fail) -> None:
    where = f"{prefix}targets.{name}"
    if not isinstance(target, dict):
        fail(f"'{where}' must be a table", name)
    engine = target.get("engine")
    spec = engine_spec(engine) if isinstance(engine, str) else None
    if spec is None:
        engines = available_engines()
        known = f"engines: {', '.join(engines)}; other warehouses plug in through the toolkit.engines entry point"
        if engine is None:
            fail(f"'{where}' has no engine", name, known)
        if not isinstance(engine, str):
            fail(f"'{where}.engine' must be a string, got {engine!r}", "engine", known)
        fail(f"'{where}.engine': unknown engine '{engine}'", "engine", did_you_mean(engine, engines) or known)
    allowed = spec.settings
    if allowed is None:
        return
    for key in target:
        if key != "engine" and key not in allowed:
            fail(
                f"unknown key '{where}.{key}' for engine {engine}",
                key,
                did_you_mean(key, allowed) or f"expected one of: {', '.join(sorted(allowed))}",
            )
    _check_setting_types(where, target, fail)


def _check_time_zone(name: str, fail) -> None:
    """An IANA zone name (Europe/Berlin, America/New_York, UTC): what DuckDB, PostgreSQL and
    Spark all accept. Checked against Python's zone database, read only when it is not UTC."""
    if name == "UTC":
        return
    from zoneinfo import ZoneInfo, available_timezones

    try:
        # files of the zone database that are not zones (ICU, hence DuckDB, refuses them)
        if name in ("localtime", "posixrules") or name.startswith(("posix/", "right/")):
            raise ValueError(name)
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        zones = {z for z in available_timezones() if z not in ("localtime", "posixrules")}  # ~0.1 s: only to word the error
        same = {zone.lower(): zone for zone in zones}.get(name.lower())
        hint = f"did you mean '{same}'?" if same else did_you_mean(name, zones)
        fail(f"unknown time_zone '{name}'", "time_zone", hint or "an IANA name: UTC, Europe/Berlin, America/New_York")


# sqlglot's own dialects (sqlglot.dialects.dialect.Dialects; tests/test_noop_cuts.py checks
# sqlglot knows each): one of these is checked without importing sqlglot, whose dialect
# registry (with importlib.metadata, for plugin dialects) would otherwise be imported before
# `toolkit run` starts opening the target. Any other name (a plugin's, one with settings) is
# checked by sqlglot itself.
SQLGLOT_DIALECTS = frozenset({
    "athena", "bigquery", "clickhouse", "databricks", "dax", "doris", "dremio", "drill", "druid", "duckdb", "dune", "exasol",
    "fabric", "hive", "materialize", "mysql", "oracle", "postgres", "presto", "prql", "redshift", "risingwave", "snowflake",
    "solr", "spark", "spark2", "sqlite", "starrocks", "tableau", "teradata", "trino", "tsql",
})


def _check_dialect(dialect: str, fail) -> None:
    if dialect in SQLGLOT_DIALECTS:
        return
    from sqlglot.dialects.dialect import Dialect

    try:
        Dialect.get_or_raise(dialect)
    except ValueError:
        fail(f"unknown SQL dialect '{dialect}'", "dialect", "e.g. duckdb, postgres, snowflake, bigquery")


_VAR_KINDS = ((bool, "a boolean"), ((int, float), "a number"), (str, "a string"), (list, "a list"), (dict, "a table"))


def _var_kind(value: Any) -> str:
    return next(name for kinds, name in _VAR_KINDS if isinstance(value, kinds))


def _checked_overrides(declared: dict, overrides: dict, shown: str, text: str) -> dict:
    """--vars values must have the kind of the default the config declares: a string where
    a number is expected (e.g. a horizon in days) would build every row wrong."""
    for name, value in overrides.items():
        if not str(name).strip():
            raise ProjectError("--vars: a var with an empty name", hint="key=value or a JSON object")
        if value is None:
            raise ProjectError(f"--vars: var '{name}' is null; give it a value", shown if name in declared else None,
                               line_of(text, name) if name in declared else None)
        if name not in declared or declared[name] is None:
            continue
        expected = _var_kind(declared[name])
        if _var_kind(value) != expected or (expected == "a number" and isinstance(declared[name], int) and isinstance(value, float) and not value.is_integer()):
            raise ProjectError(
                f"--vars: var '{name}' must be {expected} like its default {declared[name]!r}; got {value!r}",
                shown, line_of(text, name),
            )
    return overrides


def parse_vars(text: str | None) -> dict[str, Any]:
    """`--vars` as a JSON object, or `key=value` pairs separated by commas."""
    import json

    if not text:
        return {}
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text, object_pairs_hook=_once_each)
        except json.JSONDecodeError as error:
            raise ProjectError(f"--vars is not valid JSON: {error.msg} at column {error.colno}") from None
        return value
    result: dict[str, Any] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ProjectError(f"--vars: expected key=value, got '{pair}'")
        if key.strip() in result:  # the last one silently won
            raise ProjectError(f"--vars: var '{key.strip()}' is given twice", hint="give each var once")
        try:
            result[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            result[key.strip()] = raw.strip()
    return result


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once (json.loads keeps the last of a repeated one)."""
    repeated = next((key for number, (key, _) in enumerate(pairs) if key in dict(pairs[:number])), None)
    if repeated is not None:
        raise ProjectError(f"--vars: var '{repeated}' is given twice", hint="give each var once")
    return dict(pairs)
