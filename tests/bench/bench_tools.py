"""toolkit vs dbt-core vs SQLMesh on the same SQL, one run, ratios to a raw DuckDB floor.

    python tests/bench/bench_tools.py --dbt /tmp/venv-dbt/bin/dbt --sqlmesh /tmp/venv-sqlmesh/bin/sqlmesh
        [--sizes 10,100,500] [--repeat 3] [--repeat-large 1] [--repeat-heavy 2] [--heavy-rows 10000000]
        [--no-heavy] [--toolkit PATH] [--keep]

A tool whose executable is not given is skipped (said on the first lines).
Every tool runs with one thread: `toolkit run --threads 1`, `dbt run --threads 1`
(and threads: 1 in profiles.yml), SQLMesh's DuckDB connection with
concurrent_tasks: 1.

Workloads
  layered N   the project of layered_project.py (N steps in layers of 10 over
              src.events, 10,000 rows), written as a toolkit project, a dbt project
              (the same step files: {{ config() }}, {{ ref() }} and {{ source() }}
              mean the same in dbt) and a SQLMesh project (MODEL (name
              features.step_XXXX, kind FULL); + the same SELECT, relations named
              features.step_XXXX / src.events; src.events declared in
              external_models.yaml with its column types).
  heavy       10 aggregation / join / window steps over a --heavy-rows (10M) source
              (the first one writes an enriched copy of all rows): engine-bound.

Scenarios (each on a fresh project in a new folder; each tool on its own DuckDB file,
a copy of a source-only file made once per DuckDB version)
  full        the first build.
  no-op       nothing changed.  toolkit: `toolkit run` again (everything reused).
              dbt: `dbt run` again (dbt keeps no build state: it rebuilds every
              model); dbt slim: `dbt run -s state:modified+ --state S` where S holds
              the manifest.json of the full build (selects nothing).  SQLMesh plan:
              `sqlmesh plan --auto-apply --no-prompts` ("no changes to plan");
              SQLMesh run: `sqlmesh run` (the scheduler's command; nothing is due).
  full, compiled  toolkit only: `toolkit run --full-refresh` after the no-op, so
              every step is built again with the project's compile cache warm
              (what a rebuild of an existing project costs; `full` includes
              compiling every step from scratch).
  one change  one computed expression of the middle layer's first step changes
              (layered_project.LayeredProject.change_step; heavy: a constant in
              h06). toolkit: `toolkit run`; dbt: `dbt run` (everything again); dbt
              slim: `dbt run -s state:modified+ --state S` (the changed model and
              everything downstream); SQLMesh: `sqlmesh plan --auto-apply
              --no-prompts` (the change is auto-categorized, default
              auto_categorize_changes sql: full, as breaking: the model and its
              downstream are rebuilt).
  raw         the floor: one `python -c` process of the DuckDB version the tool
              uses connects to a copy of the source-only file, runs CREATE SCHEMA +
              the N CREATE TABLE ... AS statements in dependency order, closes; timed
              inside that process from connect to close (no process start, no import).
              Measured once per DuckDB version in use; each tool's ratio is to the
              floor on its own DuckDB version, measured in the same attempt.

  start       the floor of any no-op by a Python tool on DuckDB: one `python -c`
              process that imports duckdb and sqlglot, opens the tool's database
              file after its no-op and closes it, timed as wall clock of the whole
              process like the tools. The no-op row's ratios are to this floor.

Tool times are wall clock of the whole subprocess (start, imports, parse, build,
state, close). Each value is the median of --repeat attempts for N <= 100 (and of
--repeat-large above, --repeat-heavy for heavy). After each full build the last
step's row count and a column sum are compared with the floor's (a mismatch is
printed). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from layered_project import (
    CONFIG,
    DATABASE,
    SOURCE_COLUMNS,
    SOURCE_SCHEMA,
    SOURCE_TABLE,
    SOURCES,
    STEP_SCHEMA,
    descendants,
    middle_step,
    plan,
    source_sql,
)

# ---------------------------------------------------------------------------------
# the heavy workload: 10 steps over a large src.events


@dataclass
class HeavyStep:
    """Same interface as layered_project.Step: name, inputs, select(relation)."""

    name: str
    body: str  # a SELECT with {src} / {h00_enriched} ... placeholders and {k}
    inputs: list[str] = field(default_factory=list)
    k: int = 3
    layer: int = 0

    def select(self, relation) -> str:
        names = {"src": relation(None), **{i: relation(i) for i in self.inputs}}
        return self.body.format(k=self.k, **names) + "\n"

    def template(self) -> str:
        def relation(name):
            return (
                f'{{{{ source("{SOURCE_SCHEMA}", "{SOURCE_TABLE}") }}}}'
                if name is None
                else f'{{{{ ref("{name}") }}}}'
            )

        return '{{ config(materialized="table") }}\n' + self.select(relation)


HEAVY = [
    (
        "h00_enriched",
        [],
        (
            "select a.id, a.user_id, a.category, a.amount, a.quantity, a.created_at, a.amount * a.quantity as revenue,\n"
            "    extract(hour from a.created_at) as hour, cast(a.created_at as date) as day\nfrom {src} as a"
        ),
    ),
    (
        "h01_user_day",
        ["h00_enriched"],
        (
            "select a.user_id, a.day, count(*) as n, sum(a.revenue) as revenue, max(a.amount) as max_amount\n"
            "from {h00_enriched} as a\ngroup by a.user_id, a.day"
        ),
    ),
    (
        "h02_category_hour",
        ["h00_enriched"],
        (
            "select a.category, a.hour, count(*) as n, sum(a.revenue) as revenue, avg(a.amount) as avg_amount,\n"
            "    stddev_samp(a.amount) as sd_amount\nfrom {h00_enriched} as a\ngroup by a.category, a.hour"
        ),
    ),
    (
        "h03_user_stats",
        ["h00_enriched"],
        (
            "select a.user_id, count(*) as n, sum(a.revenue) as revenue, median(a.amount) as median_amount,\n"
            "    count(distinct a.category) as categories\nfrom {h00_enriched} as a\ngroup by a.user_id"
        ),
    ),
    (
        "h04_user_category",
        [],
        (
            "select a.user_id, a.category, count(*) as n, sum(a.quantity) as quantity, min(a.created_at) as first_at,\n"
            "    max(a.created_at) as last_at\nfrom {src} as a\ngroup by a.user_id, a.category"
        ),
    ),
    (
        "h05_id_buckets",
        [],
        (
            "select a.id % 100000 as bucket, count(*) as n, sum(a.amount) as amount, max(a.quantity) as max_quantity\n"
            "from {src} as a\ngroup by a.id % 100000"
        ),
    ),
    (
        "h06_above_median",
        ["h00_enriched", "h03_user_stats"],
        (
            "select a.user_id, count(*) as n, sum(case when a.amount > b.median_amount * {k} / 3 then 1 else 0 end) as above,\n"
            "    sum(a.revenue) as revenue\nfrom {h00_enriched} as a\njoin {h03_user_stats} as b on a.user_id = b.user_id\ngroup by a.user_id"
        ),
    ),
    (
        "h07_daily",
        ["h00_enriched"],
        (
            "select a.day, count(distinct a.user_id) as users, sum(a.revenue) as revenue\n"
            "from {h00_enriched} as a\ngroup by a.day"
        ),
    ),
    (
        "h08_user_rank",
        ["h01_user_day"],
        (
            "select a.user_id, a.day, a.revenue, rank() over (partition by a.user_id order by a.revenue desc) as r\n"
            "from {h01_user_day} as a"
        ),
    ),
    (
        "h09_summary",
        ["h08_user_rank", "h06_above_median"],
        (
            "select a.user_id, count(*) as top_days, sum(a.revenue) as top_revenue, max(b.above) as above\n"
            "from {h08_user_rank} as a\njoin {h06_above_median} as b on a.user_id = b.user_id\nwhere a.r <= 5\ngroup by a.user_id"
        ),
    ),
]


def heavy_plan() -> list[HeavyStep]:
    return [HeavyStep(name, body, list(inputs)) for name, inputs, body in HEAVY]


# ---------------------------------------------------------------------------------
# one workload instance: the steps, and how to change one


@dataclass
class Workload:
    label: str  # "layered N=100" / "heavy 10M"
    kind: str  # "layered" / "heavy"
    n: int
    rows: int
    steps: list  # Step / HeavyStep, dependency order
    check_sql: str  # over the last step: (count, a sum) compared with the floor

    @property
    def last_step(self) -> str:
        return self.steps[-1].name

    def change(self) -> tuple[str, int]:
        """Change one step (in place); returns (its name, it + its downstream count)."""
        if self.kind == "layered":
            step = middle_step(self.steps)
            column = step.computed[0]
            before = column.sql()
            column.k += 1
            if column.sql() == before:
                column.c = "z" if column.c != "z" else "w"
            return step.name, 1 + len(descendants(self.steps, step.name))
        step = next(s for s in self.steps if s.name == "h06_above_median")
        step.k += 1
        return step.name, 1 + len(descendants(self.steps, step.name))

    def floor_statements(self) -> list[str]:
        def relation(name):
            return (
                f"{SOURCE_SCHEMA}.{SOURCE_TABLE}"
                if name is None
                else f"{STEP_SCHEMA}.{name}"
            )

        return [f"create schema if not exists {STEP_SCHEMA}"] + [
            f"create table {STEP_SCHEMA}.{s.name} as\n" + s.select(relation)
            for s in self.steps
        ]


def layered_workload(n: int) -> Workload:
    return Workload(
        f"layered N={n}",
        "layered",
        n,
        10_000,
        plan(n),
        f"select count(*), round(sum(num), 4) from {STEP_SCHEMA}.{{last}}",
    )


def heavy_workload(rows: int) -> Workload:
    label = f"heavy {rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"heavy {rows}"
    return Workload(
        label,
        "heavy",
        len(HEAVY),
        rows,
        heavy_plan(),
        f"select count(*), sum(top_revenue) from {STEP_SCHEMA}.{{last}}",
    )


# ---------------------------------------------------------------------------------
# subprocess helpers: pythons of other venvs, DuckDB files


FLOOR_SCRIPT = """\
import json, sys, time, duckdb
database, statements = sys.argv[1], json.load(open(sys.argv[2]))
started = time.perf_counter()
connection = duckdb.connect(database)
connection.execute("set enable_progress_bar = false")
for statement in statements:
    connection.execute(statement)
connection.close()
print("RESULT", time.perf_counter() - started)
"""

START_SCRIPT = """\
import sys, duckdb, sqlglot
duckdb.connect(sys.argv[1]).close()
"""

SQL_SCRIPT = """\
import json, sys, duckdb
connection = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == "ro")
connection.execute("set enable_progress_bar = false")
result = None
for statement in json.load(open(sys.argv[2])):
    result = connection.execute(statement).fetchall()
connection.close()
print("RESULT", json.dumps(result, default=str))
"""


def last_result(stdout: str) -> str:
    """The text after the last RESULT marker (anything else printed is ignored)."""
    return stdout[stdout.rindex("RESULT ") + len("RESULT ") :].strip()


def clean_environment() -> dict[str, str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    environment.update(
        NO_COLOR="1", DBT_SEND_ANONYMOUS_USAGE_STATS="False", DO_NOT_TRACK="1"
    )
    return environment


def python_sql(
    python: Path, database: Path, statements: list[str], read_only: bool, work: Path
):
    script = work / "statements.json"
    script.write_text(json.dumps(statements), encoding="utf-8")
    done = subprocess.run(
        [
            str(python),
            "-c",
            SQL_SCRIPT,
            str(database),
            str(script),
            "ro" if read_only else "rw",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=clean_environment(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"{python} on {database} failed:\n{done.stderr[-2000:]}")
    return json.loads(last_result(done.stdout))


def python_floor(
    python: Path, database: Path, statements: list[str], work: Path
) -> float:
    script = work / "floor.json"
    script.write_text(json.dumps(statements), encoding="utf-8")
    done = subprocess.run(
        [str(python), "-c", FLOOR_SCRIPT, str(database), str(script)],
        check=False,
        capture_output=True,
        text=True,
        env=clean_environment(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"floor with {python} failed:\n{done.stderr[-2000:]}")
    return float(last_result(done.stdout))


def python_start(python: Path, database: Path) -> float:
    """Wall clock of a process that imports duckdb and sqlglot and opens `database`."""
    started = time.perf_counter()
    done = subprocess.run([str(python), "-c", START_SCRIPT, str(database)], check=False,
                          capture_output=True, text=True, env=clean_environment())
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"start floor with {python} failed:\n{done.stderr[-2000:]}")
    return seconds


def python_metadata(python: Path, packages: list[str]) -> dict[str, str]:
    script = (
        "import importlib.metadata as m, json, sys\nout = {}\n"
        "for p in sys.argv[1:]:\n    try: out[p] = m.version(p)\n    except Exception: pass\nprint('RESULT', json.dumps(out))"
    )
    done = subprocess.run(
        [str(python), "-c", script, *packages],
        capture_output=True,
        text=True,
        env=clean_environment(),
        check=True,
    )
    return json.loads(last_result(done.stdout))


class Sources:
    """One source-only DuckDB file per (DuckDB python, rows), copied for every project."""

    def __init__(self, work: Path):
        self.work = work
        self.files: dict[tuple[str, int], Path] = {}

    def copy(self, python: Path, rows: int, target: Path) -> None:
        key = (str(python), rows)
        if key not in self.files:
            path = self.work / f"source_{len(self.files)}_{rows}.duckdb"
            python_sql(python, path, [source_sql(rows), "checkpoint"], False, self.work)
            self.files[key] = path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.files[key], target)


# ---------------------------------------------------------------------------------
# the tools


class ToolError(RuntimeError):
    pass


def timed(command: list[str], cwd: Path, what: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        command,
        check=False,
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise ToolError(
            f"{what}: {' '.join(command)} failed in {cwd} (exit {done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return seconds, done.stdout + done.stderr


class Tool:
    name = ""
    database_name = DATABASE
    # scenario -> variant label, in the table's column order
    variants: ClassVar[list[str]] = []

    def __init__(self, executable: Path):
        self.executable = Path(executable)
        self.python = self.executable.parent / "python"

    def database(self, root: Path) -> Path:
        return root / self.database_name

    def write(self, root: Path, workload: Workload) -> None:
        raise NotImplementedError

    def rewrite(self, root: Path, step) -> None:
        raise NotImplementedError

    def full(self, root: Path) -> dict[str, float]:
        raise NotImplementedError

    def noop(self, root: Path) -> dict[str, float]:
        raise NotImplementedError

    def change(self, root: Path) -> tuple[dict[str, float], dict[str, str]]:
        raise NotImplementedError

    def refresh(self, root: Path) -> dict[str, float]:
        """Every step built again with the tool's caches warm; {} where not measured."""
        return {}


class Toolkit(Tool):
    name = "toolkit"
    variants: ClassVar[list[str]] = ["toolkit"]

    def __init__(self, executable: Path):
        super().__init__(executable)
        self.python = (
            Path(sys.executable)
            if not (self.executable.parent / "python").exists()
            else self.executable.parent / "python"
        )

    def write(self, root: Path, workload: Workload) -> None:
        (root / "features").mkdir(parents=True, exist_ok=True)
        (root / "models").mkdir(exist_ok=True)
        (root / "warehouse").mkdir(exist_ok=True)
        (root / "toolkit.toml").write_text(
            CONFIG.format(database=DATABASE), encoding="utf-8"
        )
        columns = ", ".join(f'{c} = "{t}"' for c, t in SOURCE_COLUMNS.items())
        (root / "warehouse" / "sources.toml").write_text(
            SOURCES.format(source=SOURCE_SCHEMA, table=SOURCE_TABLE, columns=columns),
            encoding="utf-8",
        )
        for step in workload.steps:
            self.rewrite(root, step)

    def rewrite(self, root: Path, step) -> None:
        (root / "features" / f"{step.name}.sql").write_text(
            step.template(), encoding="utf-8"
        )

    def _run(self, root: Path, *extra: str) -> float:
        return timed([str(self.executable), "run", "--threads", "1", *extra], root, "toolkit")[
            0
        ]

    def full(self, root):
        return {"toolkit": self._run(root)}

    def refresh(self, root):
        return {"toolkit": self._run(root, "--full-refresh")}

    def noop(self, root):
        return {"toolkit": self._run(root)}

    def change(self, root):
        seconds = self._run(root)
        rebuilt = python_sql(
            self.python,
            self.database(root),
            [
                "select count(*) from toolkit.step_runs where run_id = (select max(run_id) from toolkit.runs) and status = 'success'"
            ],
            True,
            root.parent,
        )[0][0]
        return {"toolkit": seconds}, {"toolkit": str(rebuilt)}


DBT_PROJECT = """\
name: bench
version: "1.0.0"
profile: bench
model-paths: ["models"]
models:
  bench:
    +materialized: table
"""

DBT_PROFILES = """\
bench:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{path}"
      schema: {schema}
      threads: 1
"""

DBT_SOURCES = """\
version: 2
sources:
  - name: {source}
    schema: {source}
    tables:
      - name: {table}
"""


class Dbt(Tool):
    name = "dbt"
    variants: ClassVar[list[str]] = ["dbt", "dbt slim"]

    def write(self, root: Path, workload: Workload) -> None:
        (root / "models").mkdir(parents=True, exist_ok=True)
        (root / "dbt_project.yml").write_text(DBT_PROJECT, encoding="utf-8")
        (root / "profiles.yml").write_text(
            DBT_PROFILES.format(path=self.database(root), schema=STEP_SCHEMA),
            encoding="utf-8",
        )
        (root / "models" / "sources.yml").write_text(
            DBT_SOURCES.format(source=SOURCE_SCHEMA, table=SOURCE_TABLE),
            encoding="utf-8",
        )
        for step in workload.steps:
            self.rewrite(root, step)

    def rewrite(self, root: Path, step) -> None:
        (root / "models" / f"{step.name}.sql").write_text(
            step.template(), encoding="utf-8"
        )

    def _run(self, root: Path, *extra: str) -> float:
        command = [
            str(self.executable),
            "run",
            "--threads",
            "1",
            "--profiles-dir",
            str(root),
            "--project-dir",
            str(root),
            *extra,
        ]
        return timed(command, root, "dbt")[0]

    def _slim(self, root: Path) -> float:
        return self._run(
            root, "--select", "state:modified+", "--state", str(root / "state")
        )

    def _executed(self, root: Path) -> int:
        results = json.loads(
            (root / "target" / "run_results.json").read_text(encoding="utf-8")
        )
        return sum(1 for r in results["results"] if r.get("status") == "success")

    def full(self, root):
        seconds = self._run(root)
        (root / "state").mkdir(exist_ok=True)
        shutil.copyfile(
            root / "target" / "manifest.json", root / "state" / "manifest.json"
        )
        return {"dbt": seconds}

    def noop(self, root):
        out = {"dbt": self._run(root)}
        out["dbt slim"] = self._slim(root)
        if self._executed(root):
            print(f"note: dbt slim no-op ran {self._executed(root)} models in {root}")
        return out

    def change(self, root):
        slim = self._slim(root)
        slim_count = self._executed(root)
        plain = self._run(root)
        return {"dbt slim": slim, "dbt": plain}, {
            "dbt slim": str(slim_count),
            "dbt": str(self._executed(root)),
        }


SQLMESH_CONFIG = """\
gateways:
  local:
    connection:
      type: duckdb
      database: "{path}"
      concurrent_tasks: 1
default_gateway: local
model_defaults:
  dialect: duckdb
"""


class SQLMesh(Tool):
    name = "sqlmesh"
    variants: ClassVar[list[str]] = ["SQLMesh plan", "SQLMesh run"]

    def write(self, root: Path, workload: Workload) -> None:
        (root / "models").mkdir(parents=True, exist_ok=True)
        (root / "config.yaml").write_text(
            SQLMESH_CONFIG.format(path=self.database(root)), encoding="utf-8"
        )
        columns = "".join(f"    {c}: {t}\n" for c, t in SOURCE_COLUMNS.items())
        (root / "external_models.yaml").write_text(
            f"- name: {SOURCE_SCHEMA}.{SOURCE_TABLE}\n  columns:\n{columns}",
            encoding="utf-8",
        )
        for step in workload.steps:
            self.rewrite(root, step)

    def rewrite(self, root: Path, step) -> None:
        def relation(name):
            return (
                f"{SOURCE_SCHEMA}.{SOURCE_TABLE}"
                if name is None
                else f"{STEP_SCHEMA}.{name}"
            )

        text = (
            f"MODEL (\n  name {STEP_SCHEMA}.{step.name},\n  kind FULL\n);\n\n"
            + step.select(relation)
        )
        (root / "models" / f"{step.name}.sql").write_text(text, encoding="utf-8")

    def _plan(self, root: Path) -> tuple[float, str]:
        return timed(
            [str(self.executable), "plan", "--auto-apply", "--no-prompts"],
            root,
            "sqlmesh plan",
        )

    def full(self, root):
        return {"SQLMesh plan": self._plan(root)[0]}

    def noop(self, root):
        seconds, output = self._plan(root)
        if "No changes to plan" not in output:
            print(
                f"note: SQLMesh no-op plan did not say 'No changes to plan' in {root}:\n{output[-1500:]}"
            )
        run, _ = timed([str(self.executable), "run"], root, "sqlmesh run")
        return {"SQLMesh plan": seconds, "SQLMesh run": run}

    def change(self, root):
        before = self._snapshots(root)
        seconds, _ = self._plan(root)
        return {"SQLMesh plan": seconds}, {
            "SQLMesh plan": str(self._snapshots(root) - before)
        }

    def _snapshots(self, root: Path) -> int:
        """Physical tables SQLMesh holds (one per model version built)."""
        return python_sql(
            self.python,
            self.database(root),
            [
                "select count(*) from information_schema.tables where table_schema like 'sqlmesh__%'"
            ],
            True,
            root.parent,
        )[0][0]


# ---------------------------------------------------------------------------------
# measuring


def check(python: Path, database: Path, workload: Workload, work: Path):
    row = python_sql(
        python,
        database,
        [workload.check_sql.format(last=workload.last_step)],
        True,
        work,
    )[0]
    return row


def same(a, b) -> bool:
    if a[0] != b[0]:
        return False
    x, y = float(a[1]), float(b[1])
    return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))


def measure(
    make,
    tools: list[Tool],
    repeat: int,
    work: Path,
    sources: Sources,
    keep: bool,
    duckdb_of: dict[str, str],
) -> dict:
    """Median per (scenario, variant) over `repeat` attempts; the floor once per DuckDB version."""
    samples: dict[tuple[str, str], list[float]] = {}
    counts: dict[tuple[str, str], set[str]] = {}
    pythons: dict[str, Path] = {}  # duckdb version -> a python that has it
    for tool in tools:
        pythons.setdefault(duckdb_of[str(tool.python)], tool.python)
    expected = set()
    label = ""
    for attempt in range(repeat):
        workload = make()
        label = workload.label
        base = work / f"{workload.label.replace(' ', '_').replace('=', '')}_{attempt}"
        roots = {tool.name: base / tool.name for tool in tools}
        for tool in tools:
            tool.write(roots[tool.name], workload)
            sources.copy(tool.python, workload.rows, tool.database(roots[tool.name]))
        floor_check = {}
        for key, python in pythons.items():
            database = base / f"floor_{len(floor_check)}.duckdb"
            sources.copy(python, workload.rows, database)
            samples.setdefault(("raw", key), []).append(
                python_floor(python, database, workload.floor_statements(), base)
            )
            floor_check[key] = check(python, database, workload, base)
            database.unlink()
        for tool in tools:
            root = roots[tool.name]
            for variant, seconds in tool.full(root).items():
                samples.setdefault(("full", variant), []).append(seconds)
            got = check(tool.python, tool.database(root), workload, base)
            expected_check = floor_check[duckdb_of[str(tool.python)]]
            if not same(got, expected_check):
                print(
                    f"MISMATCH {workload.label} {tool.name}: last step {got} vs floor {expected_check}"
                )
            for variant, seconds in tool.noop(root).items():
                samples.setdefault(("no-op", variant), []).append(seconds)
            key = duckdb_of[str(tool.python)]
            if tool.python == pythons[key]:  # once per DuckDB version, on a built file
                samples.setdefault(("start", key), []).append(python_start(tool.python, tool.database(root)))
            for variant, seconds in tool.refresh(root).items():
                samples.setdefault(("full, compiled", variant), []).append(seconds)
        changed, downstream = workload.change()
        expected.add(downstream)
        for tool in tools:
            tool.rewrite(
                roots[tool.name], next(s for s in workload.steps if s.name == changed)
            )
        for tool in tools:
            seconds, rebuilt = tool.change(roots[tool.name])
            for variant, value in seconds.items():
                samples.setdefault(("one change", variant), []).append(value)
            for variant, value in rebuilt.items():
                counts.setdefault(("one change", variant), set()).add(value)
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
        print(
            f"  {workload.label} attempt {attempt + 1}/{repeat} done (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    return {
        "label": label,
        "repeat": repeat,
        "median": {key: statistics.median(values) for key, values in samples.items()},
        "samples": samples,
        "rebuilt": {key: "/".join(sorted(values)) for key, values in counts.items()},
        "expected": "/".join(str(e) for e in sorted(expected)),
    }


# ---------------------------------------------------------------------------------
# reporting


def versions(tools: list[Tool]) -> dict[str, dict[str, str]]:
    out = {}
    for tool in tools:
        packages = {
            "toolkit": ["duckdb", "sqlglot"],
            "dbt": ["dbt-core", "dbt-duckdb", "dbt-adapters", "duckdb"],
            "sqlmesh": ["sqlmesh", "sqlglot", "duckdb"],
        }[tool.name]
        found = python_metadata(tool.python, packages)
        if tool.name == "toolkit":
            done = subprocess.run(
                [str(tool.executable), "--version"],
                check=False,
                capture_output=True,
                text=True,
                env=clean_environment(),
            )
            found = {
                "toolkit": done.stdout.strip().split()[-1]
                if done.returncode == 0
                else "?",
                **found,
            }
            try:
                folder = Path(__file__).resolve().parent
                commit = subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"],
                    cwd=folder,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                found["commit"] = commit
            except (OSError, subprocess.CalledProcessError):
                pass
        out[tool.name] = found
    return out


def table(results: list[dict], tools: list[Tool], duckdb_of: dict[str, str]) -> str:
    variants = [v for tool in tools for v in tool.variants]
    python_of_variant = {v: str(tool.python) for tool in tools for v in tool.variants}
    header = ["workload", "scenario", "raw"] + variants
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        median = result["median"]
        raws = {
            version: value
            for (scenario, version), value in median.items()
            if scenario == "raw"
        }
        raw_text = ", ".join(
            f"{value:.2f} s (duckdb {version})"
            for version, value in sorted(raws.items())
        )
        starts = {version: value for (scenario, version), value in median.items() if scenario == "start"}
        start_text = ", ".join(f"start {value:.2f} s (duckdb {version})" for version, value in sorted(starts.items()))
        scenarios = ["full"] + (["full, compiled"] if any(s == "full, compiled" for s, _ in median) else [])
        for scenario in scenarios + ["no-op", "one change"]:
            first = {"full": raw_text, "no-op": start_text}.get(scenario, "")
            cells = [result["label"], scenario, first]
            for variant in variants:
                value = median.get((scenario, variant))
                if value is None:
                    cells.append("-")
                    continue
                floors = starts if scenario == "no-op" and starts else raws
                floor = floors[duckdb_of[python_of_variant[variant]]]
                text = f"{value:.2f} s ({value / floor:.2f}x)"
                rebuilt = result["rebuilt"].get((scenario, variant))
                if rebuilt:
                    text += f", {rebuilt} built"
                cells.append(text)
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--toolkit",
        help="the toolkit executable (default: the one next to this python)",
    )
    parser.add_argument(
        "--dbt",
        help="the dbt executable of a venv with dbt-core and dbt-duckdb (skipped if not given)",
    )
    parser.add_argument(
        "--sqlmesh",
        help="the sqlmesh executable of a venv with sqlmesh (skipped if not given)",
    )
    parser.add_argument(
        "--sizes", default="10,100,500", help="layered step counts (default 10,100,500)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="attempts for N <= 100 (median; default 3)",
    )
    parser.add_argument(
        "--repeat-large", type=int, default=1, help="attempts for N > 100 (default 1)"
    )
    parser.add_argument(
        "--repeat-heavy",
        type=int,
        default=2,
        help="attempts of the heavy workload (default 2)",
    )
    parser.add_argument(
        "--heavy-rows",
        type=int,
        default=10_000_000,
        help="rows of the heavy source (default 10M)",
    )
    parser.add_argument(
        "--no-heavy", action="store_true", help="skip the heavy workload"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the projects (printed folder)"
    )
    options = parser.parse_args()

    toolkit = (
        Path(options.toolkit)
        if options.toolkit
        else Path(sys.executable).parent / "toolkit"
    )
    if not toolkit.exists():
        found = shutil.which("toolkit")
        if not found:
            sys.exit("no toolkit executable: pass --toolkit")
        toolkit = Path(found)
    tools: list[Tool] = [Toolkit(toolkit)]
    for name, cls, given in (
        ("dbt", Dbt, options.dbt),
        ("SQLMesh", SQLMesh, options.sqlmesh),
    ):
        if not given:
            print(f"skipped: {name} (no --{name.lower()} executable given)")
        elif not Path(given).exists():
            print(f"skipped: {name} ({given} does not exist)")
        else:
            tools.append(cls(Path(given)))

    found = versions(tools)
    duckdb_of = {
        str(tool.python): found[tool.name].get("duckdb", "?") for tool in tools
    }
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cpus, {platform.machine()}, {platform.system()} {platform.release()}, "
        f"python {platform.python_version()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    for tool in tools:
        print(
            f"{tool.name}: {tool.executable} ({', '.join(f'{k} {v}' for k, v in found[tool.name].items())})"
        )
    sys.stdout.flush()

    work = Path(tempfile.mkdtemp(prefix="toolkit-bench-tools-"))
    sources = Sources(work)
    results = []
    started = time.perf_counter()
    workloads = [
        (
            f"layered N={n}",
            lambda n=n: layered_workload(n),
            options.repeat if n <= 100 else options.repeat_large,
        )
        for n in [int(s) for s in options.sizes.split(",") if s.strip()]
    ]
    if not options.no_heavy:
        workloads.append(
            ("heavy", lambda: heavy_workload(options.heavy_rows), options.repeat_heavy)
        )
    try:
        for label, make, repeat in workloads:
            try:
                results.append(
                    measure(make, tools, repeat, work, sources, options.keep, duckdb_of)
                )
            except (
                ToolError,
                RuntimeError,
            ) as error:  # keep what was measured; say what failed
                print(f"FAILED {label}: {error}", flush=True)
                continue
            print(
                table(results[-1:], tools, duckdb_of), flush=True
            )  # each workload's rows as soon as they exist
    finally:
        if options.keep:
            print(f"projects kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    load_end = os.getloadavg()
    print()
    print(table(results, tools, duckdb_of))
    print()
    for result in results:
        print(
            f"{result['label']}: median of {result['repeat']}; one change: the changed step + its downstream = {result['expected']} steps"
        )
    print(
        f"load average at the end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}; wall {time.perf_counter() - started:.0f} s"
    )
    print("samples (s):")
    for result in results:
        for (scenario, variant), values in result["samples"].items():
            name = f"duckdb {variant}" if scenario in ("raw", "start") else variant
            print(
                f"  {result['label']} {scenario} {name}: {' '.join(f'{v:.2f}' for v in values)}"
            )


if __name__ == "__main__":
    main()
