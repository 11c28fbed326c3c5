"""Generate a layered N-step toolkit project for benchmarks.

    layer 0      step_0000 .. step_0009   each reads the source src.events
    layer k > 0  step_(10k) .. (10k+9)    each reads the step in the same position of
                                          layer k-1, half of them joined on the key `id`
                                          with another step of layer k-1

Every step keeps the key `id`, carries `num` (double), `cnt` (bigint) and `label`
(varchar) from its input(s), and adds 1-3 computed columns `x1..x3` (arithmetic,
CASE, string functions) built from its inputs' columns, so every step writes
exactly `rows` rows and every column it names exists upstream (toolkit's static
column check passes). Everything is deterministic for a given (n_steps, seed).

    from layered_project import generate, floor_statements
    project = generate(Path("/tmp/p"), 100)       # files + the source table in warehouse/bench.duckdb
    project.change_step()                         # edit one step in the middle layer
    floor_statements(100)                         # the same steps as plain CREATE TABLE ... AS

Run directly to write a project: python tests/bench/layered_project.py DIR N
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

WIDTH = 10  # steps per layer
DATABASE = "warehouse/bench.duckdb"
SOURCE_SCHEMA, SOURCE_TABLE = "src", "events"
STEP_SCHEMA = "features"  # where toolkit publishes steps (and where the floor creates them)

SOURCE_COLUMNS = {
    "id": "bigint",
    "user_id": "bigint",
    "category": "varchar",
    "amount": "double",
    "quantity": "bigint",
    "created_at": "timestamp",
}

CONFIG = """\
name = "bench"
dialect = "duckdb"
target = "dev"

[targets.dev]
engine = "duckdb"
path = "{database}"
"""

SOURCES = """\
# The benchmark's one source table; layered_project.create_source() fills it.
[{source}]
schema = "{source}"

[{source}.tables.{table}]
description = "Synthetic events, one row per id."
columns = {{ {columns} }}
"""

# Computed-column templates: result type -> [(template, needed argument types)].
# {k} is a small integer picked per column (the one-change edit bumps it), {c} a letter.
# Every template keeps values bounded however deep the chain of steps gets.
TEMPLATES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "double": [
        ("round(({0} * {k} + {1}) % 1000, 4)", ("double", "bigint")),
        ("{0} / (abs({1}) % {k} + 1)", ("double", "bigint")),
        ("case when {0} > {k}0 then {0} - {k} else {0} + {k} end", ("double",)),
        ("sqrt(abs({0})) + {k}", ("double",)),
    ],
    "bigint": [
        ("({0} * {k} + 7) % 1009", ("bigint",)),
        ("length({0}) + {1} % {k}", ("varchar", "bigint")),
        ("case when {0} like '%{c}%' then {k} else 0 end", ("varchar",)),
        ("cast(floor({0}) as bigint) % {k}", ("double",)),
        ("(extract(hour from {0}) + {k}) % 24", ("timestamp",)),
    ],
    "varchar": [
        ("upper(substr({0}, 1, {k}))", ("varchar",)),
        ("substr(concat({0}, '_', cast({1} % {k} as varchar)), 1, 16)", ("varchar", "bigint")),
        ("case when {0} > {k}0 then 'hi' else 'lo' end", ("double",)),
        ("lower(replace({0}, 'a', '{c}'))", ("varchar",)),
    ],
}
CARRIED = {"num": "double", "cnt": "bigint", "label": "varchar"}
FROM_SOURCE = {"num": "amount", "cnt": "quantity", "label": "category"}


@dataclass
class Computed:
    name: str
    type: str
    template: str
    args: list[str]  # qualified columns, e.g. "a.num"
    k: int
    c: str

    def sql(self) -> str:
        return self.template.format(*self.args, k=self.k, c=self.c)


@dataclass
class Step:
    name: str
    layer: int
    inputs: list[str]  # upstream step names; empty: reads the source
    carried: dict[str, str]  # output column -> qualified input column
    computed: list[Computed]
    columns: dict[str, str] = field(default_factory=dict)  # output column -> type

    def select(self, relation) -> str:
        """The SELECT; relation(step_name or None for the source) gives the FROM text."""
        lines = ["select", "    a.id,"]
        lines += [f"    {source} as {column}," for column, source in self.carried.items()]
        lines += [f"    {c.sql()} as {c.name}," for c in self.computed]
        lines[-1] = lines[-1].rstrip(",")
        if not self.inputs:
            lines.append(f"from {relation(None)} as a")
        else:
            lines.append(f"from {relation(self.inputs[0])} as a")
            if len(self.inputs) == 2:
                lines.append(f"join {relation(self.inputs[1])} as b on a.id = b.id")
        return "\n".join(lines) + "\n"

    def template(self) -> str:
        """The toolkit step file: Jinja config + ref()/source()."""

        def relation(name):
            return f'{{{{ source("{SOURCE_SCHEMA}", "{SOURCE_TABLE}") }}}}' if name is None else f'{{{{ ref("{name}") }}}}'

        reads = ", ".join(self.inputs) or f"{SOURCE_SCHEMA}.{SOURCE_TABLE}"
        return f'{{{{ config(materialized="table") }}}}\n-- layer {self.layer}: reads {reads}\n' + self.select(relation)

    def plain_sql(self) -> str:
        """The same step as one plain DuckDB statement (the floor)."""

        def relation(name):
            return f"{SOURCE_SCHEMA}.{SOURCE_TABLE}" if name is None else f"{STEP_SCHEMA}.{name}"

        return f"create table {STEP_SCHEMA}.{self.name} as\n" + self.select(relation)


def step_name(index: int) -> str:
    return f"step_{index:04d}"


def plan(n_steps: int, seed: int = 0) -> list[Step]:
    """The steps of an n_steps project, in dependency order (deterministic)."""
    rng = random.Random(seed)
    steps: list[Step] = []
    for index in range(n_steps):
        layer = index // WIDTH
        if layer == 0:
            inputs: list[str] = []
            available = {f"a.{c}": t for c, t in SOURCE_COLUMNS.items()}
            carried = {column: f"a.{FROM_SOURCE[column]}" for column in CARRIED}
        else:
            previous = [s for s in steps if s.layer == layer - 1]
            # the step in the same position (so every step but the last layer's has a
            # reader and a change propagates), half the time joined with another one
            same = previous[index % WIDTH % len(previous)]
            others = [s for s in previous if s is not same]
            inputs = [same.name] + ([rng.choice(others).name] if others and rng.random() < 0.5 else [])
            by_name = {s.name: s for s in previous}
            available = {f"{alias}.{c}": t for alias, name in zip("ab", inputs) for c, t in by_name[name].columns.items()}
            # two inputs: take some carried columns from each side
            carried = {column: f"{rng.choice('ab'[: len(inputs)])}.{column}" for column in CARRIED}
        computed = []
        for number in range(1, rng.randint(1, 3) + 1):
            result_type = rng.choice(sorted(TEMPLATES))
            options = [(t, needs) for t, needs in TEMPLATES[result_type] if all(n in available.values() for n in needs)]
            template, needs = rng.choice(options)
            args = [rng.choice(sorted(col for col, t in available.items() if t == need)) for need in needs]
            computed.append(Computed(f"x{number}", result_type, template, args, rng.randint(2, 9), rng.choice("eiouy")))
        step = Step(step_name(index), layer, inputs, carried, computed)
        step.columns = {"id": "bigint", **CARRIED, **{c.name: c.type for c in computed}}
        steps.append(step)
    return steps


def middle_step(steps: list[Step]) -> Step:
    """The first step of the middle layer: the one the one-change benchmark edits."""
    layers = steps[-1].layer + 1
    return next(s for s in steps if s.layer == layers // 2)


def descendants(steps: list[Step], name: str) -> set[str]:
    """Steps that read `name`, directly or indirectly."""
    found: set[str] = set()
    for step in steps:  # dependency order: one pass suffices
        if any(i == name or i in found for i in step.inputs):
            found.add(step.name)
    return found


def source_sql(rows: int = 10_000, seed: int = 0) -> str:
    """DuckDB SQL creating src.events with `rows` deterministic rows."""
    return f"""\
create schema if not exists {SOURCE_SCHEMA};
create or replace table {SOURCE_SCHEMA}.{SOURCE_TABLE} as
select
    range::bigint as id,
    ((range + {seed}) * 7919 % 997)::bigint as user_id,
    ['books', 'games', 'music', 'sports', 'toys', 'garden'][1 + (range + {seed}) % 6] as category,
    round(((range + {seed}) * 104729 % 10007) / 100.0, 2)::double as amount,
    ((range + {seed}) * 31 % 17 + 1)::bigint as quantity,
    timestamp '2025-01-01' + to_seconds(((range + {seed}) * 37 % 7776000)::bigint) as created_at
from range({int(rows)})
"""


def create_source(database: Path, rows: int = 10_000, seed: int = 0) -> None:
    """Create (or replace) the source table in a DuckDB file."""
    import duckdb

    database = Path(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database)) as connection:
        connection.execute(source_sql(rows, seed))


def floor_statements(n_steps: int, seed: int = 0) -> list[str]:
    """The N steps as plain DuckDB statements, in dependency order, after a CREATE SCHEMA."""
    return [f"create schema if not exists {STEP_SCHEMA}"] + [s.plain_sql() for s in plan(n_steps, seed)]


@dataclass
class LayeredProject:
    root: Path
    n_steps: int
    rows: int
    seed: int
    steps: list[Step]

    @property
    def database(self) -> Path:
        return self.root / DATABASE

    @property
    def last_step(self) -> str:
        return self.steps[-1].name

    def path(self, name: str) -> Path:
        return self.root / "features" / f"{name}.sql"

    def change_step(self, name: str | None = None) -> tuple[str, set[str]]:
        """Change one computed expression of a step (default: the middle layer's first)
        and rewrite its file; returns (step, the steps downstream of it)."""
        step = next(s for s in self.steps if s.name == name) if name else middle_step(self.steps)
        column = step.computed[0]
        before = column.sql()
        column.k += 1  # most templates use {k}; the others use the letter {c}
        if column.sql() == before:
            column.c = "z" if column.c != "z" else "w"
        assert column.sql() != before, column.template
        self.path(step.name).write_text(step.template(), encoding="utf-8")
        return step.name, descendants(self.steps, step.name)

    def floor_statements(self) -> list[str]:
        return [f"create schema if not exists {STEP_SCHEMA}"] + [s.plain_sql() for s in self.steps]


def generate(root: Path, n_steps: int, rows: int = 10_000, seed: int = 0, with_source: bool = True) -> LayeredProject:
    """Write a complete project under `root` (toolkit.toml, warehouse/sources.toml,
    features/step_XXXX.sql) and, unless with_source=False, create the source table
    in warehouse/bench.duckdb."""
    root = Path(root)
    steps = plan(n_steps, seed)
    (root / "features").mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    (root / "warehouse").mkdir(exist_ok=True)
    (root / "toolkit.toml").write_text(CONFIG.format(database=DATABASE), encoding="utf-8")
    columns = ", ".join(f'{c} = "{t}"' for c, t in SOURCE_COLUMNS.items())
    (root / "warehouse" / "sources.toml").write_text(
        SOURCES.format(source=SOURCE_SCHEMA, table=SOURCE_TABLE, columns=columns), encoding="utf-8"
    )
    project = LayeredProject(root, n_steps, rows, seed, steps)
    for step in steps:
        project.path(step.name).write_text(step.template(), encoding="utf-8")
    if with_source:
        create_source(project.database, rows, seed)
    return project


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python tests/bench/layered_project.py DIR N")
    made = generate(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"wrote {made.n_steps} steps to {made.root}; run: cd {made.root} && toolkit run")
