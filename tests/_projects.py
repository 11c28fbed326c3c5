"""The one set of project helpers for the tests: write small projects, run the CLI
in a subprocess, and read the DuckDB file back (always closing it, so the next
`toolkit run` can take the file lock). tests/conftest.py only wraps these in fixtures.

Two historical project layouts are both served from one template: `make_project`
here (name "proj", warehouse/proj.duckdb, `setup_sql`) and the `make_project`
fixture (name "test", warehouse/test.duckdb, `source_rows`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb

DB_NAME = "proj.duckdb"

CONFIG_TEMPLATE = """\
name = "{name}"
dialect = "duckdb"
target = "dev"

[targets.dev]
engine = "duckdb"
path = "warehouse/{db}"
"""

CONFIG = CONFIG_TEMPLATE.replace("{name}", "proj")  # still has {db}
DEFAULT_CONFIG = CONFIG_TEMPLATE.format(name="test", db="test.duckdb")


def write(root: Path, files: dict[str, str]) -> None:
    """Write (or overwrite) project files; text is dedented."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write `files` (relative path -> text, dedented, leading newline kept) under `root`."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def database_path(root: Path, target: str | None = None) -> Path:
    """The DuckDB file of the project's (default) target, as its toolkit.toml says."""
    from toolkit.config import load_config

    return root / load_config(root).target(target).settings["path"]


def create_tables(database: Path, tables: dict[str, str | list[dict]]) -> None:
    """Create `schema.table` in a DuckDB file from a SELECT text or a list of row dicts."""
    import pyarrow as pa

    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database)) as connection:
        for name, table_rows in tables.items():
            schema, _, table = name.rpartition(".")
            if schema:
                connection.execute(f'create schema if not exists "{schema}"')
            target = f'"{schema}"."{table}"' if schema else f'"{table}"'
            if isinstance(table_rows, str):
                connection.execute(f"create or replace table {target} as {table_rows}")
            else:
                data = pa.Table.from_pylist(table_rows)  # noqa: F841 (read by DuckDB by name)
                connection.execute(f"create or replace table {target} as select * from data")


def make_test_project(root: Path, files: dict[str, str], source_rows: dict | None = None) -> Path:
    """The `make_project` fixture's layout: DEFAULT_CONFIG unless `files` holds a
    toolkit.toml or pyproject.toml; `source_rows` become tables before the first run."""
    root.mkdir(parents=True)
    if "toolkit.toml" not in files and "pyproject.toml" not in files:
        files = {"toolkit.toml": DEFAULT_CONFIG, **files}
    write_files(root, files)
    if source_rows:
        create_tables(database_path(root), source_rows)
    return root


def snapshot(database: Path) -> dict[str, tuple[int, int | None]] | None:
    """`schema.table` -> (row count, content checksum) for every table and view in a
    DuckDB file, or None when there is no file. Opened read-only: never changes it."""
    if not database.exists():
        return None
    with duckdb.connect(str(database), read_only=True) as connection:
        names = connection.execute(
            "select table_schema, table_name from information_schema.tables order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": connection.execute(
                f'select count(*), sum(hash(t)) from "{schema}"."{name}" as t'
            ).fetchone()
            for schema, name in names
        }


def make_project(root: Path, files: dict[str, str], setup_sql: str | None = None) -> Path:
    """A project folder with toolkit.toml, the given files and, optionally, source
    tables created in its DuckDB file by `setup_sql`."""
    root.mkdir(parents=True, exist_ok=True)
    write(root, {"toolkit.toml": CONFIG.format(db=DB_NAME), **files})
    (root / "warehouse").mkdir(exist_ok=True)
    if setup_sql:
        execute(root, setup_sql)
    return root


def db_path(root: Path) -> str:
    return str(root / "warehouse" / DB_NAME)


def connect(root: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(db_path(root))
    # never resolve an unknown table name to a Python variable of the caller
    con.execute("set python_enable_replacements = false")
    return con


def execute(root: Path, sql: str) -> None:
    with connect(root) as con:
        con.execute(sql)


def query(root: Path, sql: str, params=None) -> list[tuple]:
    with connect(root) as con:
        return con.execute(sql, params or []).fetchall()


def scalar(root: Path, sql: str, params=None):
    return query(root, sql, params)[0][0]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __str__(self) -> str:  # shown by pytest on a failed assert
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    environment = dict(os.environ)
    environment.pop("PYTHONSTARTUP", None)
    environment.update({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "200"})
    environment.update(extra or {})
    return environment


def cli_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "toolkit", *args]


def cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> Result:
    """Run `toolkit ARGS` in a subprocess."""
    done = subprocess.run(cli_args(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env())
    return Result(done.returncode, done.stdout, done.stderr)


def cli_tuple(*args: str, cwd: str | Path, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str, str]:
    """`python -m toolkit ARGS` in `cwd` with extra environment: (exit code, stdout, stderr)."""
    done = subprocess.run(cli_args(*args), cwd=str(cwd), env=_env(env), capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def run(root: Path, *args: str, timeout: float = 120) -> Result:
    """`toolkit run -p ROOT ARGS` with JSON logs."""
    return cli("run", "-p", str(root), "--log-format", "json", *args, timeout=timeout)


def popen_run(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        cli_args("run", "-p", str(root), "--log-format", "json", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )


_env = env  # cli_tuple's `env` argument shadows the function


# -- reading the run records -------------------------------------------------------


def runs(root: Path) -> list[tuple]:
    return query(root, "select run_id, status from toolkit.runs order by run_id")


def last_run_id(root: Path) -> int:
    return scalar(root, "select max(run_id) from toolkit.runs")


def step_runs(root: Path, run_id: int | None = None) -> dict[str, dict]:
    """step -> its step_runs row (as a dict) for one run (default: the last)."""
    with connect(root) as con:
        if run_id is None:
            run_id = con.execute("select max(run_id) from toolkit.runs").fetchone()[0]
        cursor = con.execute("select * from toolkit.step_runs where run_id = ?", [run_id])
        names = [d[0] for d in cursor.description]
        return {row[names.index("step")]: dict(zip(names, row)) for row in cursor.fetchall()}


def statuses(root: Path, run_id: int | None = None) -> dict[str, str]:
    return {step: row["status"] for step, row in step_runs(root, run_id).items()}


def published(root: Path) -> dict[str, dict]:
    with connect(root) as con:
        cursor = con.execute("select * from toolkit.published")
        names = [d[0] for d in cursor.description]
        return {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}


def physical_relations(root: Path) -> dict[str, str]:
    """name -> table type of every relation in toolkit_physical."""
    rows = query(
        root,
        "select table_name, table_type from information_schema.tables where table_schema = 'toolkit_physical'",
    )
    return dict(rows)


def orphans(root: Path) -> set[str]:
    """Relations in toolkit_physical that nothing published reads, directly or
    through the views it reads (followed by parsing the view definitions)."""
    with connect(root) as con:
        relations = {
            name: sql
            for name, sql in con.execute(
                "select table_name, coalesce(view_definition, '') from information_schema.tables "
                "left join (select schema_name, view_name, sql as view_definition from duckdb_views()) v "
                "on v.schema_name = table_schema and v.view_name = table_name "
                "where table_schema = 'toolkit_physical'"
            ).fetchall()
        }
        roots = {row[0] for row in con.execute("select physical_name from toolkit.published").fetchall()}
        published_views = [
            sql for (sql,) in con.execute("select sql from duckdb_views() where schema_name in ('features', 'raw')").fetchall()
        ]
    live: set[str] = set()
    stack = list(roots) + [name for name in relations for sql in published_views if name in sql]
    while stack:
        name = stack.pop()
        if name in live or name not in relations:
            continue
        live.add(name)
        stack.extend(other for other in relations if other != name and other in relations[name])
    return set(relations) - live


def rows(root: Path, relation: str, order: str = "1") -> list[tuple]:
    return query(root, f"select * from {relation} order by {order}")


def checksum(root: Path, relation: str) -> tuple[int, int | None]:
    """(row count, order-independent content hash) of a relation."""
    return tuple(query(root, f"select count(*), sum(hash(t)) from {relation} as t")[0])


def run_in_process(root: Path, select: tuple[str, ...] = (), exclude: tuple[str, ...] = (), threads: int = 4, full_refresh: bool = False):
    """Compile and run the project in this process (fast; for tests that need
    many runs). Returns toolkit's RunSummary."""
    from toolkit.compiler import compile_project
    from toolkit.execute import run as run_project

    return run_project(compile_project(root), None, select, exclude, threads, 10.0, full_refresh)


# -- a project whose run takes about a second (crash and concurrency tests) ---------

BIG_SOURCES = """
[app]
schema = "app"

[app.tables.big]
columns = { id = "bigint", grp = "bigint", amount = "bigint", ts = "timestamp" }
"""

BIG_STEPS = {
    "warehouse/seeds/groups.csv": "grp,label\n" + "".join(f"{i},g{i}\n" for i in range(100)),
    "features/wide.sql": """
        {{ config(materialized="table", tests={"id": ["not_null"]}) }}
        select id, grp, amount * 2 as amount2, ts from {{ source("app", "big") }}
    """,
    "features/by_group.sql": """
        {{ config(materialized="table", tests={"grp": ["not_null", "unique"]}) }}
        select w.grp, g.label, count(*) as n, sum(w.amount2) as total
        from {{ ref("wide") }} as w join {{ ref("groups") }} as g on g.grp = w.grp
        group by w.grp, g.label
    """,
    "features/top_groups.sql": """
        {{ config(materialized="view") }}
        select grp, label, total from {{ ref("by_group") }} where n > 0
    """,
    "features/recent.sql": """
        {{ config(materialized="incremental", time_column="ts", lookback="2 days") }}
        select id, grp, ts from {{ ref("wide") }}
    """,
}

BIG_PUBLISHED = ["raw.groups", "features.wide", "features.by_group", "features.top_groups", "features.recent"]


def make_big_project(root: Path, rows: int = 2_000_000) -> Path:
    """A seed, a `rows`-row source and table, view and incremental steps reading it:
    a full build takes about a second. Integer data: rebuilding gives bit-identical
    results (a parallel float sum would not)."""
    return make_project(
        root,
        {"warehouse/sources.toml": BIG_SOURCES, **BIG_STEPS},
        "create schema app; create table app.big as select range as id, range % 100 as grp, "
        "range * 7919 % 1000 as amount, timestamp '2024-01-01' + to_seconds(range) as ts "
        f"from range({int(rows)})",
    )
