"""Step fingerprints, with definition and data kept apart, and per output column.

definition  the step's normalized SQL and data-relevant config (compiler's
            content_hash), the target dialect, the project dialect its SQL is written
            in (unless duckdb) and the definitions of the upstream columns it reads. Editing a comment, the formatting or a description
            changes nothing.
data        the definition plus the data it was computed from: the data
            fingerprints of the upstream columns it reads and source content
            fingerprints (computed in the warehouse).

Column level: each output column of a plain SELECT has its own (definition, data)
pair, made of the query's shape (everything but the select list: FROM, joins,
WHERE, GROUP BY ...), that column's expression and the upstream columns the shape
and that expression read (when the query reads only tables; else all its inputs). A
downstream step mixes in only the columns it reads (column lineage over the
qualified tree), so adding a column upstream, or changing one nobody reads, changes
no downstream fingerprint, and a rebuilt step changes only the columns computed from
what changed. A step reading no column of an upstream (`count(*)`) reads its rows:
the upstream's whole fingerprint; one reading a whole row (`to_json(b)`, `b::varchar`,
`b` alone, `b.*` or `*COLUMNS(*)` in an expression) reads all of b's columns. A query sqlglot could not qualify, a UNION, a
DISTINCT select, a Parquet seed or a model has one pseudo column "*": any change changes
every column. A CSV seed's columns are told apart by their values (seeds.column_hashes). Steps only a step's data tests read (a relationships test's parent, a
custom test's other steps) are in its own prints (a change there re-tests it), never in
its column prints nor its rows print (_rows): its readers read only what its rows are made of.

A table or view is reused when its data fingerprint is unchanged; an incremental
step is rebuilt only when its definition changes and otherwise takes new rows.

Column prints are computed only when used. A step reused with its recorded data
fingerprint keeps its recorded column prints (planning.py): they were computed from
the same inputs, so at 500 steps a no-op skips ~20 ms of hashing. The price: a
release that changes only how column prints are made reaches a reused step's readers
when that step is next built; to reach them at once, change the step-level digests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from sqlglot import exp

from toolkit import seeds, sql

ALL = "*"
DEFAULT_DIALECT = "duckdb"  # config.py's default `dialect`
# A key of a step's recorded inputs: a backfill read today's inputs for its intervals only,
# and the window still has to be read (planning._accumulated). Names no input.
PARTIAL = "backfill:partial"


@dataclass(frozen=True)
class Fingerprint:
    definition: str
    data: str
    # output column -> (definition, data); {"*": ...} when columns are not known apart. Or a
    # function that computes them, called on first use: a reused step keeps its recorded ones.
    columns_of: dict | Callable[[], dict] = field(default_factory=dict, compare=False, hash=False)
    # input (upstream step, or "source:<key>") -> data fingerprint of what the step reads of it
    inputs: dict = field(default_factory=dict, compare=False, hash=False)

    @cached_property
    def columns(self) -> dict:
        return self.columns_of() if callable(self.columns_of) else self.columns_of

    def column_prints(self) -> dict:
        return self.columns or {ALL: (self.definition, self.data)}


@dataclass(frozen=True)
class Lineage:
    shape: str  # digest of the query without its select list (with the data config)
    projections: dict[str, str] | None  # column -> digest of its expression; None: not known apart
    reads: dict[str, frozenset | None]  # upstream -> columns read; None: all of them
    # output column -> upstream -> columns that column depends on (its expression's and the
    # shape's: FROM, WHERE, GROUP BY ...); a column missing here depends on all of `reads`
    column_reads: dict[str, dict[str, frozenset]] = field(default_factory=dict)


_LINEAGE: dict[tuple[str, str], Lineage] = {}  # (step, content hash) -> lineage, per process


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def lineage(compiled, step) -> Lineage:
    found = getattr(step, "lineage", None)  # a cached compile carries it: no tree needed
    if found is not None:
        return found
    key = (step.name, step.content_hash)
    found = _LINEAGE.get(key)
    if found is None:
        found = _LINEAGE[key] = _lineage(compiled, step)
    return found


def _lineage(compiled, step) -> Lineage:
    everything = {u: None for u in step.upstream}
    if not step.strategy.from_template or step.tree is None or step.columns is None:
        return Lineage(step.content_hash, None, everything)
    tree = step.tree
    nodes = _Nodes(tree)
    by_relation = {(compiled.steps[u].relation.db.casefold(), compiled.steps[u].relation.name.casefold()): u for u in step.upstream}
    aliases: dict[str, set[str]] = {}
    found: set[str] = set()
    for table in nodes.tables:
        name = by_relation.get((table.db.casefold(), table.name.casefold()))
        if name:
            found.add(name)
            aliases.setdefault(table.alias_or_name, set()).add(name)
    reads: dict[str, set | None] = {u: set() for u in found}
    for column in nodes.columns:
        for name in aliases.get(column.table, ()):
            if isinstance(column.this, exp.Star):
                reads[name] = None
            elif reads[name] is not None:
                reads[name].add(column.name.lower())
    for alias in nodes.whole_rows:  # to_json(b), b::varchar, COLUMNS(*): every column of b
        for name in aliases.get(alias, ()):
            reads[name] = None
    for test in step.data_tests:  # tests read their parents too
        if test.name == "relationships" and reads.get(test.args.get("to")) is not None:
            reads[test.args["to"]].add(str(test.args["field"]).lower())
        elif test.name == "custom":
            for name in test.args.get("relations", {}).values():
                reads[name] = None
    result = {u: (frozenset(reads[u]) if u in reads and reads[u] is not None else None) for u in step.upstream}
    shape, projections = _shape_and_projections(step, compiled.dialect, nodes.makes_rows)
    tested = read_by_tests_only(step)  # no column is computed from them (their None read would hide every column's own)
    rows = {u: r for u, r in result.items() if u not in tested}
    column_reads = _column_reads(tree, aliases, rows, nodes) if projections is not None else {}
    return Lineage(shape, projections, result, column_reads)


# Set-returning calls in a select list (and calls sqlglot does not know, which may be one)
_ROW_MAKERS = (exp.Unnest, exp.Explode, exp.Inline, exp.GenerateSeries, exp.ExplodingGenerateSeries, exp.Anonymous)


class _Nodes:
    """The tables and columns of a query and of each item of its select list, each found
    once: lineage looks at them several times (walking every tree anew each time cost
    ~0.1 s in a 500-step project). `tree` must not change while this is used."""

    def __init__(self, tree: exp.Expression):
        self.tables: list[exp.Table] = []
        self.columns: list[exp.Column] = []
        select = isinstance(tree, exp.Select)
        self.projection_columns: list[list[exp.Column]] = [[] for _ in tree.expressions] if select else []
        self.makes_rows = False
        self.whole_rows: list[str] = []  # aliases of the tables whose whole row is read (_whole_row_aliases)
        items = {id(p): i for i, p in enumerate(tree.expressions)} if select else {}
        for node in tree.walk():  # one walk: a walk per kind and per select item cost twice as much
            if isinstance(node, exp.Table):
                self.tables.append(node)
                continue
            if isinstance(node, (exp.TableColumn, exp.Columns, exp.Star)):
                self.whole_rows += _whole_row_aliases(node)
            column = isinstance(node, exp.Column)
            if column:
                self.columns.append(node)
            if select and (column or isinstance(node, _ROW_MAKERS)):
                item = _select_item(node, tree, items)
                if item is not None and column:
                    self.projection_columns[item].append(node)
                elif item is not None:
                    self.makes_rows = True


def _whole_row_aliases(node: exp.Expression) -> list[str]:
    """The tables whose every column `node` reads, as the query names them: `b` alone, as a
    value (to_json(b), b::varchar: sqlglot's qualify makes a table alias used as a column a
    TableColumn; a column named b stays a column), or COLUMNS(...) and a bare `*` inside an
    expression (`*COLUMNS(*)`): every table its SELECT reads. `b.*` is a column (see
    _lineage); count(*) and an unexpanded select item read no column."""
    if isinstance(node, exp.TableColumn):
        return [node.name]
    if isinstance(node, exp.Star) and (isinstance(node.parent, (exp.Column, exp.Columns, exp.Count, exp.Select))):
        return []
    select = node.find_ancestor(exp.Select)
    if isinstance(node, exp.Columns) and isinstance(node.this, exp.Column) and isinstance(node.this.this, exp.Star):
        return []  # COLUMNS(b.*): the column b.* says it
    return [item.alias_or_name for item in sql.from_items(select) if isinstance(item, exp.Table)] if select else []


def _select_item(node: exp.Expression, tree: exp.Select, items: dict[int, int]) -> int | None:
    """The index of the item of `tree`'s select list (`items`: id -> index) that holds `node`, if one does."""
    while node is not None and node.parent is not tree:
        node = node.parent
    return items.get(id(node)) if node is not None else None


def _column_reads(tree: exp.Select, aliases: dict[str, set[str]], reads: dict, nodes: _Nodes | None = None) -> dict[str, dict[str, frozenset]]:
    """Per output column, the upstream columns it depends on, where that is sure: a
    plain SELECT over tables (no CTE, no derived table, no GROUP BY ALL), each column
    qualified by a table of the query or naming an output column. Everything outside
    the select list (joins, WHERE, GROUP BY, ORDER BY with LIMIT ...) counts for every
    column, and so does what the output columns it names read. Changing one upstream
    column then changes only the output columns computed from it, and a reader of the
    others is not rebuilt. Anything else: {} (every column depends on every read)."""
    group = tree.args.get("group")
    if tree.args.get("with_") or (group and group.args.get("all")) or any(r is None for r in reads.values()):
        return {}
    if any(not isinstance(item, exp.Table) for item in sql.from_items(tree)):
        return {}
    nodes = nodes or _Nodes(tree)
    tables = {t.alias_or_name for t in nodes.tables}

    def columns_of(columns: list[exp.Column]) -> dict[str, set[str]] | None:
        found: dict[str, set[str]] = {u: set() for u in reads}
        for column in columns:
            if column.table not in tables or isinstance(column.this, exp.Star):
                return None
            for name in aliases.get(column.table, ()):
                found[name].add(column.name.lower())
        return found

    projections = tree.expressions
    if nodes.makes_rows:  # it changes how many rows every column has
        return {}
    own = {p.alias_or_name.lower(): None if p.find(exp.Select) else columns_of(columns)
           for p, columns in zip(projections, nodes.projection_columns)}
    inside = {id(c) for columns in nodes.projection_columns for c in columns}
    shape: dict[str, set[str]] = {u: set() for u in reads}
    for column in nodes.columns:
        if id(column) in inside:
            continue
        if not column.table:  # ORDER BY / QUALIFY naming an output column: what it reads
            named = own.get(column.name.lower())
            if named is None:
                return {}
            for name, cols in named.items():
                shape[name] |= cols
        elif column.table in tables:
            for name in aliases.get(column.table, ()):
                shape[name].add(column.name.lower())
        else:
            return {}
    return {
        column: {u: frozenset(shape[u] | found[u]) for u in reads}
        for column, found in own.items() if found is not None
    }


def _shape_and_projections(step, dialect: str, makes_rows: bool) -> tuple[str, dict | None]:
    """`makes_rows`: a select item makes rows (_Nodes.makes_rows)."""
    from toolkit.stepconfig import METADATA_KEYS

    tree = step.tree
    config = json.dumps({k: v for k, v in sorted(step.config.items()) if k not in METADATA_KEYS}, sort_keys=True, default=str)
    projections = tree.expressions if isinstance(tree, exp.Select) else None
    if (not projections or tree.args.get("distinct") or len({p.alias_or_name for p in projections}) != len(projections)
            or makes_rows):  # `unnest(...)` sets how many rows every column has
        return step.content_hash, None
    generator = sql.dialect_of(dialect)
    columns = {p.alias_or_name.lower(): _digest(p.sql(dialect=generator, comments=False)) for p in projections}
    tree.set("expressions", [exp.Star()])  # the rest of the query, generated without copying it
    try:
        shape = _digest(tree.sql(dialect=generator, comments=False), config)
    finally:
        tree.set("expressions", projections)
    if not tree.args.get("group") and any(_aggregates(p, tree) for p in projections):
        shape = _digest(shape, "one row")  # an aggregate without GROUP BY makes one row of every column
    return shape, columns


def _aggregates(projection: exp.Expression, tree: exp.Select) -> bool:
    """An aggregate of `tree` itself: not in a window (`sum(v) over ()` keeps every row),
    not in a subquery."""
    return any(agg.find_ancestor(exp.Window, exp.Select) is tree for agg in projection.find_all(exp.AggFunc))


def _read(name: str, columns_read: frozenset | None, upstream: Fingerprint) -> tuple[str, str]:
    """(definition, data) of what a step reads of one upstream step."""
    prints = upstream.column_prints()
    if columns_read is None or ALL in prints or not prints.keys() >= columns_read:
        items = sorted(prints.items())
    elif not columns_read:  # `count(*)`, `1 as one`: what is read is how many rows there are, and
        items = [(ALL, _rows(prints))]  # any change of its rows may change that
    else:
        items = [(c, prints[c]) for c in sorted(columns_read)]
    definitions, data = [name], [name]
    for column, (definition, datum) in items:
        definitions.append(f"{column}={definition}")
        data.append(f"{column}={datum}")
    return _digest(*definitions), _digest(*data)


def _rows(prints: dict) -> tuple[str, str]:
    """(definition, data) of a step's rows, known apart by column: every column's print holds
    the query's shape and what it reads, so any change of how many rows there are changes them
    all. Not the step's own (definition, data): those hold what only its tests read too (a
    relationships test's parent), and a re-test changes them, not its rows."""
    return _digest(*(f"{c}={d}" for c, (d, _) in sorted(prints.items()))), _digest(*(f"{c}={v}" for c, (_, v) in sorted(prints.items())))


def read_by_tests_only(step) -> frozenset[str]:
    """Upstream steps only its data tests read (a custom test's other steps, a relationships
    test's parent): added to its upstream so that it runs after them (compiling/steptests.py),
    so a change there re-runs those tests, though its rows are not made from them. A step
    whose query reads no step (reads_upstream == []) reads them all through its tests; one
    whose reads are not known (None) counts its whole upstream as read."""
    tested = set().union(*(test_reads(test) for test in step.data_tests))
    return frozenset(tested - set(step.rows_read) - {step.name})


def test_reads(test) -> set[str]:
    """The steps a data test reads beside its own: a custom test's relations, a relationships test's parent."""
    if test.name == "custom":
        return set(test.args["relations"].values())
    if test.name == "relationships":
        return {test.args["to"]}
    return set()


def read_print(compiled, step, upstream: str, prints: Fingerprint) -> str:
    """The data print step_fingerprint records in `step`'s inputs for `upstream` when that
    upstream holds `prints` (a published table of it): compared with the recorded one, it says
    whether the step was built from that table's data (environments.promote)."""
    return _read(upstream, lineage(compiled, step).reads.get(upstream), prints)[1]


def columns_read(compiled, step) -> dict[str, list[str] | None]:
    """upstream step -> the columns of it `step` reads (None: all), as JSON values: what the
    inputs step_fingerprint records were made of (kept with the published row, so that a
    promote compares exactly these columns without the step's code)."""
    reads = lineage(compiled, step).reads
    return {u: None if reads.get(u) is None else sorted(reads[u]) for u in step.upstream}


def print_of_read(upstream: str, columns_read: frozenset | None, prints: Fingerprint) -> str:
    """The data print of reading `columns_read` (None: all) of `upstream` holding `prints`,
    as a reader's recorded inputs hold it (environments: matched without the reader's code)."""
    return _read(upstream, columns_read, prints)[1]


def _meaning(compiled, step, semantics: str) -> str:
    """What decides what a SQL step's text means besides the target (engine.semantics): the
    dialect it is written in. `a / b` of integers is integer division in the postgres dialect
    and a cast to double in duckdb's, though the canonical text is the same. Mixed in only
    when not the default, so that fingerprints of duckdb-dialect projects still hold."""
    dialect = getattr(compiled, "dialect", DEFAULT_DIALECT)
    if dialect == DEFAULT_DIALECT or not step.strategy.from_template:  # a seed's rows, a model's code: no SQL to read
        return semantics
    return f"{semantics} written in {dialect}"


def step_fingerprint(compiled, step, prints: dict[str, Fingerprint], source_prints: dict[str, str], dialect: str) -> Fingerprint:
    dialect = _meaning(compiled, step, dialect)
    info = lineage(compiled, step)
    read = {u: _read(u, info.reads.get(u), prints[u]) for u in step.upstream}
    sources = [f"{s}={source_prints.get(s, '')}" for s in step.sources]
    definition, data = _made_of(step.content_hash, dialect, read, step.upstream, sources)
    inputs = {u: read[u][1] for u in step.upstream} | {f"source:{s}": source_prints.get(s, "") for s in step.sources}
    # What its rows are made of: not the steps only its tests read. The step's own prints hold
    # them (a change there re-tests it), its columns do not: a re-test leaves its readers be.
    tested = read_by_tests_only(step)
    made_from = [u for u in step.upstream if u not in tested]
    if info.projections is None:
        rows = (definition, data) if not tested else _made_of(step.content_hash, dialect, read, made_from, sources)
        if step.kind == "seed" and getattr(compiled, "project", None) and step.name in compiled.project.seeds:
            return Fingerprint(definition, data, lambda: _seed_column_prints(compiled.project.seeds[step.name], dialect) or {ALL: rows}, inputs)
        return Fingerprint(definition, data, {ALL: rows}, inputs)
    upstream = {u: prints[u] for u in made_from}
    return Fingerprint(definition, data, lambda: _column_prints(made_from, info, read, upstream, sources, dialect), inputs)


def _made_of(content: str, dialect: str, read: dict, upstream: list[str], sources: list[str]) -> tuple[str, str]:
    """(definition, data) of what `content` computes from the `upstream` steps it reads (`read`) and `sources`."""
    definition = _digest(content, dialect, *(read[u][0] for u in upstream))
    return definition, _digest(definition, *(read[u][1] for u in upstream), *sources)


def _column_prints(made_from: list[str], info: Lineage, read: dict, upstream: dict[str, Fingerprint], sources: list[str], dialect: str) -> dict:
    """Output column -> (definition, data): the query's shape and the upstream columns that
    column depends on (of `made_from`, the upstream steps its rows are made from), then its own expression."""
    bases = {None: _made_of(info.shape, dialect, read, made_from, sources)}  # what the columns read -> (definition, data) of it

    def base(depends: dict | None) -> tuple[str, str]:
        key = None if depends is None else tuple(depends.get(u, frozenset()) for u in made_from)
        if key not in bases:
            if all(d == info.reads.get(u) for d, u in zip(key, made_from)):
                bases[key] = bases[None]  # it reads all the step reads: the step's base
            else:
                own = [_read(u, d, upstream[u]) for u, d in zip(made_from, key)]
                own_definition = _digest(info.shape, dialect, *(o[0] for o in own))
                bases[key] = own_definition, _digest(own_definition, *(o[1] for o in own), *sources)
        return bases[key]

    found = {}
    for column, projection in info.projections.items():
        column_definition, column_data = base(info.column_reads.get(column))
        found[column] = (_digest(column_definition, projection), _digest(column_data, projection))
    return found


def _seed_column_prints(seed, dialect: str) -> dict | None:
    """A CSV seed's columns apart, each made of its own values (seeds.column_hashes); None
    where they are not known apart. Its tests read nothing it is made of."""
    hashes = seeds.column_hashes(seed)
    return None if hashes is None else {column: _made_of(digest, dialect, {}, [], []) for column, digest in hashes.items()}


def tests_fingerprint(step, dialect: str) -> str:
    """The step's data tests (custom ones by their SQL): metadata, kept out of the data
    fingerprint, so that editing a test re-runs the tests and rebuilds nothing."""

    def plain(value):
        if isinstance(value, exp.Expression):
            return value.sql(dialect=dialect, comments=False)
        if isinstance(value, dict):
            return sorted((str(k), plain(v)) for k, v in value.items())
        if isinstance(value, (list, tuple, set, frozenset)):
            return [plain(v) for v in value]
        return value

    tests = sorted(json.dumps([t.name, t.column, plain(t.args), t.severity], default=str) for t in step.data_tests)
    return _digest(*tests)


def fingerprint_steps(compiled, order: list[str], fixed: dict[str, Fingerprint], source_prints: dict[str, str], dialect: str) -> dict[str, Fingerprint]:
    """Fingerprints for every step in `order`; `fixed` ones (unselected, published) are taken as given."""
    prints: dict[str, Fingerprint] = {}
    for name in order:
        prints[name] = fixed[name] if name in fixed else step_fingerprint(compiled, compiled.steps[name], prints, source_prints, dialect)
    return prints
