"""Column-level lineage of a compiled project: which table columns each column is made from.

    graph = build(compiled)                      # no warehouse is touched
    graph.upstream_of("features.churn_training", "orders_90d")     # direct parents
    graph.walk(("features.churn_training", "orders_90d"), "upstream")  # every ancestor, with depth

A column's parents are the table columns its expression reads, through CTEs,
subqueries, `select *` (stars are expanded when the step is qualified at compile
time), joins and macros (the SQL is the rendered, qualified tree); a whole row
(`to_json(b)`, `b::varchar`, `b` alone, `*COLUMNS(*)`) reads every column of b. A column used only
to filter, join or group contributes to no column, as in sqlglot's lineage
(`sqlglot.lineage`), which does the walk: one qualify per step, all of its columns at
once. A step sqlglot cannot follow keeps its columns with no parents (its column
list, when known, still shows).

Models join the graph as `predictions.<model>`: its key columns come from the
scoring table's, `prediction` (and the class probabilities, when the warehouse
catalog names them) from every feature the model reads from the scoring table.

Relations are named "schema.table" in lower case, as published: a step with
config(schema=, alias=) is its published name (its compiled SQL reads the canonical
features.x, which build() maps); a column is ("schema.table", column).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage as sqlglot_lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope, find_all_in_scope
from sqlglot.schema import ensure_schema

from toolkit.errors import ProjectError, did_you_mean

Column = tuple[str, str]  # ("schema.table", column)
SCORE_COLUMNS = ("model_version", "scored_at", "run_id")  # written by toolkit, made from no column


def column_sources(tree: exp.Query, columns: list[str], schema: dict, dialect: str) -> dict[str, list[Column] | None]:
    """Each output column of a (qualified) query -> the table columns it reads; None for
    a column whose lineage sqlglot cannot follow. One qualify for all columns; a failure
    there falls back to one walk per column, so one odd column costs only itself."""
    schema = ensure_schema(schema, dialect=dialect)
    try:
        scope = _scope_with_whole_rows_expanded(_in_catalog_names(tree), schema, dialect)
    except (SqlglotError, KeyError, ValueError):
        return dict.fromkeys(columns)
    try:
        nodes = sqlglot_lineage(None, scope.expression, schema=schema, dialect=dialect, scope=scope, copy=False)
        found = {name.lower(): _leaves(node, dialect) for name, node in nodes.items()}
        return {column: found.get(column.lower()) for column in columns}
    except (SqlglotError, KeyError, ValueError):
        pass
    out: dict[str, list[Column] | None] = {}
    for column in columns:
        try:
            out[column] = _leaves(sqlglot_lineage(column, scope.expression, schema=schema, dialect=dialect, scope=scope), dialect)
        except (SqlglotError, KeyError, ValueError):
            out[column] = None
    return out


def _scope_with_whole_rows_expanded(tree: exp.Query, schema, dialect: str) -> Scope:
    """The scope of `tree` qualified (as sqlglot's lineage does), each reference to a whole
    row replaced by the columns of that row, so that lineage follows them: `to_json(b)`,
    `b::varchar` or `b` alone (a table alias used as a value, which sqlglot's qualify makes a
    TableColumn: a column named b wins over it), `b.*` or `*` inside an expression
    (`row(b.*)`, `concat_ws(',', *COLUMNS(*))`) and COLUMNS(...) read every column of
    the relation(s) they name, e.g. the email column a `to_json(b)` publishes."""
    tree = qualify(tree, dialect=dialect, schema=schema, validate_qualify_columns=False, identify=False)
    root = build_scope(tree)
    if root is None:
        raise SqlglotError("not a query")
    replaced = False
    for scope in root.traverse():
        for node, aliases in list(_whole_row_references(scope)):
            field = _row_field(node, _source_columns(scope, node.name, schema) if isinstance(node, exp.TableColumn) else [])
            if field is not None:  # PostgreSQL's (b).email: one column of the row, b.email
                node.parent.parent.replace(exp.column(field, table=node.name))
                replaced = True
                continue
            columns = [exp.column(c, table=a) for a in aliases for c in _source_columns(scope, a, schema)]
            if columns:
                node.replace(exp.Tuple(expressions=columns))
                replaced = True
    return build_scope(tree) if replaced else root


def _whole_row_references(scope: Scope):
    """(node, aliases of the sources whose every column it reads) of each whole-row
    reference in `scope`'s own query (see _scope_with_whole_rows_expanded)."""
    every_source = [alias for alias in scope.sources if alias]
    for node in find_all_in_scope(scope.expression, exp.TableColumn, exp.Columns, exp.Star):
        if isinstance(node, exp.TableColumn):
            yield node, [node.name]
        elif isinstance(node, exp.Columns):  # COLUMNS(*), COLUMNS(b.*), COLUMNS('regex'): read what they match
            star = node.this
            qualified = isinstance(star, exp.Column) and isinstance(star.this, exp.Star) and star.table
            yield node, [star.table] if qualified else every_source
        elif node.find_ancestor(exp.Columns) is None and not _row_count_or_select_item(node):
            star = node.parent if isinstance(node.parent, exp.Column) else node
            yield star, [star.table] if isinstance(star, exp.Column) else every_source


def _row_field(node: exp.Expression, columns: list[str]) -> str | None:
    """The column `node` reads when it is a row's field access, `(b).email` (a Dot of the
    parenthesized TableColumn b), naming one of the row's `columns`; else None."""
    paren = node.parent
    dot = paren.parent if isinstance(paren, exp.Paren) else None
    if not isinstance(node, exp.TableColumn) or not isinstance(dot, exp.Dot) or dot.this is not paren:
        return None
    field = dot.expression
    name = field.name if isinstance(field, exp.Identifier) and field.quoted else field.name.lower()
    return name if name in columns else None


def _row_count_or_select_item(star: exp.Star) -> bool:
    """A `*` that reads no column: count(*), or a select item sqlglot left unexpanded."""
    parent = star.parent.parent if isinstance(star.parent, exp.Column) else star.parent
    return isinstance(parent, (exp.Count, exp.Select))


def _source_columns(scope: Scope, alias: str, schema) -> list[str]:
    """The columns of the source `alias` of `scope` (a table, CTE or derived table); [] unknown."""
    source = scope.sources.get(alias)
    if isinstance(source, exp.Table):
        return [c for c in schema.column_names(source) if c != "*"]
    if isinstance(source, Scope) and isinstance(source.expression, exp.Query):
        return [c for c in source.expression.named_selects if c != "*"]
    return []


def _leaves(node, dialect: str) -> list[Column]:
    """(relation "schema.table", column) of every table column the lineage ends in, in order, once."""
    out: dict[Column, None] = {}
    for child in node.walk():
        if isinstance(child.source, exp.Table) and child.source.name and not child.downstream:
            name = _column_name(child.name, dialect)  # (a nameless "table" is a table function: generate_series)
            if name != "*":  # count(*) reads rows, not a column
                out[(relation_name(child.source), name)] = None
    return list(out)


def _in_catalog_names(tree: exp.Query) -> exp.Query:
    """A copy of `tree` whose names in their stored spelling ("Shop"."Orders", "UserId":
    sql.quote_stored_names) are back in toolkit's lower-case catalog, where `schema`
    and the graph's relations name them."""
    tree = tree.copy()
    for identifier in tree.find_all(exp.Identifier):
        if identifier.meta_get("case_sensitive"):
            identifier.meta.pop("case_sensitive")
            identifier.set("this", identifier.name.lower())  # still quoted: a keyword stays a name
    return tree


def _column_name(text: str, dialect: str) -> str:
    """The column of a lineage node's name: a column read in its stored spelling is quoted
    there ("UserId"), and is userid in toolkit's lower-case catalog."""
    try:
        return exp.to_column(text, dialect=dialect).name.lower()
    except (SqlglotError, TypeError):  # `*`, `t.*`: not a column
        return text.split(".")[-1].lower()


def relation_name(table: exp.Table) -> str:
    return f"{table.db}.{table.name}".lower()


def schema_of(steps: dict, sources: dict, catalog: dict[str, list[str]] | None = None) -> dict:
    """{schema: {table: {column: type}}} of everything with known columns, for lineage
    to expand `*` (types do not matter to lineage). Columns compile time does not know
    (a table source declaring none, a step sqlglot cannot qualify) come from `catalog`."""
    catalog = catalog or {}
    schema: dict = {}
    for source in sources.values():
        columns = list(source.columns) or catalog.get(f"{source.schema}.{source.table}".lower())
        if columns:
            schema.setdefault(source.schema, {})[source.table] = {c: "text" for c in columns}
    for step in steps.values():  # keyed as compiled SQL reads it; the catalog, as published
        columns = step.columns or catalog.get(published_name(step))
        if columns:
            schema.setdefault(step.relation.db, {})[step.relation.name] = {c: "text" for c in columns}
    return schema


def published_name(step) -> str:
    """"schema.table" where a step is published (config schema=/alias=, else features.x)."""
    return relation_name(step.published)


def graph_name(step) -> str:
    """The name the graph gives a step: where it is published, or its bare name for an
    ephemeral step, which is inlined into its readers and has no table to query."""
    return step.name.lower() if step.strategy.inlined else published_name(step)


def published_catalog(engine, compiled) -> dict[str, dict[str, str]]:
    """"schema.table" -> {column: type} of everything published, one query per schema."""
    from toolkit.project import PREDICTIONS_SCHEMA, SEED_SCHEMA, STEP_SCHEMA

    schemas = {STEP_SCHEMA, SEED_SCHEMA, PREDICTIONS_SCHEMA, *(s.schema for s in compiled.project.sources.values()),
               *(s.published.db for s in compiled.steps.values())}
    found = {}
    for schema in sorted(schemas):
        for table, columns in engine.catalog(schema).items():
            found[f"{schema}.{table}".lower()] = {c.lower(): t for c, t in columns.items()}
    return found


def needs_catalog(compiled) -> bool:
    """Whether only the published tables can tell some columns: a step's unknown at compile
    time (a query sqlglot cannot qualify, or one reading it), a model's class probabilities
    (proba_<class>, known once a version is trained)."""
    return any(step.columns is None or step.kind == "model" for step in compiled.steps.values())


@dataclass
class Relation:
    name: str  # schema.table
    kind: str  # source | seed | feature | model
    step: str | None  # the step (or model) that publishes it; None for a source
    columns: list[str] = field(default_factory=list)
    followed: bool = True  # False: sqlglot could not follow this step's columns
    inlined: bool = False  # an ephemeral step: no relation in the warehouse to query


@dataclass
class Graph:
    relations: dict[str, Relation]
    parents: dict[Column, list[Column]]  # direct upstream of each column

    def __post_init__(self):
        self.children: dict[Column, list[Column]] = {}
        for column, parents in self.parents.items():
            for parent in parents:
                self.children.setdefault(parent, []).append(column)

    def upstream_of(self, relation: str, column: str) -> list[Column]:
        return self.parents.get((relation, column), [])

    def downstream_of(self, relation: str, column: str) -> list[Column]:
        return self.children.get((relation, column), [])

    def walk(self, start: Column, direction: str = "upstream") -> list[tuple[Column, int, Column]]:
        """Every column reached from `start`, breadth first: (column, depth, the column it was reached from)."""
        step = self.parents if direction == "upstream" else self.children
        seen, out, queue = {start}, [], deque([(start, 0)])
        while queue:
            column, depth = queue.popleft()
            for found in step.get(column, []):
                if found not in seen:
                    seen.add(found)
                    out.append((found, depth + 1, column))
                    queue.append((found, depth + 1))
        return out

    def tree(self, start: Column, direction: str = "upstream") -> dict:
        """{"column": "schema.table.column", "children": [...]} ; a column met again is a leaf marked "repeat"."""
        step = self.parents if direction == "upstream" else self.children
        seen: set[Column] = set()

        def node(column: Column) -> dict:
            out = {"column": f"{column[0]}.{column[1]}", "children": []}
            if column in seen:
                out["repeat"] = True
                return out
            seen.add(column)
            out["children"] = [node(c) for c in step.get(column, [])]
            return out

        return node(start)

    def resolve(self, text: str) -> Column:
        """A TABLE.COLUMN argument -> (relation, column). TABLE is schema.table (as published),
        or a step, seed, model or (unique) source table name. ProjectError (exit 2) when unknown."""
        table, _, column = text.strip().rpartition(".")
        if not table or not column:
            raise ProjectError(f"'{text}' is not TABLE.COLUMN", hint="e.g. toolkit lineage churn_training.orders_90d")
        wanted = table.lower()
        matches = [r for r in self.relations.values() if r.name == wanted]
        if not matches and "." not in wanted:  # a step's name first (published as marts.tot, it is still probe)
            steps = [r for r in self.relations.values() if r.step == wanted]
            matches = steps or [r for r in self.relations.values() if r.name.rpartition(".")[2] == wanted]
        if not matches:
            self._refuse_inlined(wanted, column)
        if len(matches) != 1:
            names = sorted(self.relations) + sorted({r.step for r in self.relations.values() if r.step})
            if len(matches) > 1:
                raise ProjectError(f"table '{table}' is ambiguous: {', '.join(sorted(r.name for r in matches))}",
                                   hint="name it as schema.table")
            raise ProjectError(f"unknown table '{table}': not a step, seed, model or source", hint=did_you_mean(table, names))
        relation = matches[0]
        lowered = {c.lower(): c for c in relation.columns}
        if column.lower() not in lowered:
            if not relation.columns and relation.step:
                raise ProjectError(f"the columns of {relation.name} are not known at compile time: sqlglot cannot "
                                   "qualify its query or one it reads (DuckDB's PIVOT statement, * LIKE ...), "
                                   "and no published table of it could be read",
                                   hint="after `toolkit run`, lineage reads them from the published table; "
                                        "a busy target: --lock-timeout")
            if not relation.columns:
                raise ProjectError(f"the columns of {relation.name} are not known yet",
                                   hint="declare them in sources.toml, or run the project once")
            raise ProjectError(f"{relation.name} has no column '{column}'",
                               hint=did_you_mean(column, relation.columns) or f"its columns: {', '.join(relation.columns)}")
        return relation.name, lowered[column.lower()]

    def _refuse_inlined(self, wanted: str, column: str) -> None:
        """features.x of an ephemeral step x names a table that does not exist: say so."""
        schema, _, table = wanted.rpartition(".")
        relation = self.relations.get(table)
        if schema and relation is not None and relation.inlined:
            raise ProjectError(f"there is no table {wanted}: step {table} is ephemeral (inlined into its readers, never published)",
                               hint=f"toolkit lineage {table}.{column}")


def build(compiled, catalog: dict[str, list[str]] | None = None) -> Graph:
    """The column graph of a compiled project. `catalog` ("schema.table" -> columns, e.g.
    from the warehouse) adds columns compile time cannot know: a model's class probabilities,
    the columns of a step sqlglot could not qualify."""
    from toolkit.models import feature_names

    catalog = catalog or {}
    project = compiled.project
    relations: dict[str, Relation] = {}
    parents: dict[Column, list[Column]] = {}
    for source in project.sources.values():
        name = f"{source.schema}.{source.table}".lower()
        relations[name] = Relation(name, "source", None, list(source.columns) or list(catalog.get(name, [])))
    schema = schema_of(compiled.steps, project.sources, catalog)
    # Compiled SQL reads a step by its canonical name; the graph names it as published.
    published = {relation_name(s.relation): graph_name(s) for s in compiled.steps.values()}
    for step_name in compiled.dag.order():
        step = compiled.steps[step_name]
        name = published[relation_name(step.relation)]
        columns = list(step.columns or catalog.get(name, []))
        if step.kind == "model":  # compile time knows the prediction; the catalog, the trained classes
            columns += [c for c in catalog.get(name, []) if c.startswith("proba_") and c not in columns]
        relation = relations[name] = Relation(name, step.kind, step.name, columns, inlined=step.strategy.inlined)
        if step.kind == "model":
            spec = project.models[step_name]
            scoring_name = published_name(compiled.steps[spec.scoring_table])
            features = feature_names(spec, compiled.steps[spec.training].columns or [])
            scored_from = [(scoring_name, f.lower()) for f in features]
            outputs = [*spec.key, "prediction", *(c for c in columns if c.startswith("proba_"))]
            relation.columns = list(dict.fromkeys([*outputs, *columns, *SCORE_COLUMNS]))
            for column in outputs:
                parents[(name, column)] = [(scoring_name, column.lower())] if column in spec.key else scored_from
            continue
        if step.tree is None or not step.strategy.from_template or not columns:
            relation.followed = step.kind == "seed"
            continue
        found = column_sources(step.tree, columns, schema, compiled.dialect)
        for column, sources in found.items():
            if sources is None:
                relation.followed = False
            parents[(name, column)] = [(published.get(r, r), c) for r, c in sources or []]
    return Graph(relations, parents)


def render_text(graph: Graph, start: Column, direction: str) -> str:
    """The lineage tree, one column a line, indented by depth."""
    arrow = "<-" if direction == "upstream" else "->"
    lines: list[str] = []

    inlined = {r.name for r in graph.relations.values() if r.inlined}

    def emit(node: dict, depth: int) -> None:
        prefix = "" if depth == 0 else "   " * (depth - 1) + f"{arrow} "
        note = "  (ephemeral: inlined into its readers, no table)" if node["column"].rpartition(".")[0] in inlined else ""
        lines.append(prefix + node["column"] + note + ("  (see above)" if node.get("repeat") and node["column"] else ""))
        for child in node["children"]:
            emit(child, depth + 1)

    tree = graph.tree(start, direction)
    emit(tree, 0)
    if not tree["children"]:
        lines.append(f"   ({direction}: {_why_none(graph, graph.relations[start[0]], direction)})")
    return "\n".join(lines)


def _why_none(graph: Graph, relation: Relation, direction: str) -> str:
    if direction == "upstream":
        if not relation.followed:
            return "sqlglot could not follow this step's SQL"
        return f"a {relation.kind} column" if relation.kind in ("source", "seed") else "nothing"
    # Downstream, a step whose SQL sqlglot could not follow may read the column unseen.
    unseen = sorted(r.name for r in graph.relations.values() if not r.followed and r.kind != "seed" and r is not relation)
    if not unseen:
        return "nothing"
    return f"nothing followed; sqlglot could not follow what {', '.join(unseen[:5])}{' ...' * (len(unseen) > 5)} read"


def events(graph: Graph, start: Column, direction: str) -> list[dict]:
    """The JSON document: each column reached (and each node of the tree) says whether its
    relation is an ephemeral step ("ephemeral": true: inlined into its readers, no table)."""
    inlined = {r.name for r in graph.relations.values() if r.inlined}

    def mark(node: dict) -> dict:
        node["ephemeral"] = node["column"].rpartition(".")[0] in inlined
        for child in node["children"]:
            mark(child)
        return node

    found = graph.walk(start, direction)
    return [{"event": "lineage", "column": f"{start[0]}.{start[1]}", "direction": direction, "ephemeral": start[0] in inlined,
             "columns": [{"column": f"{c[0]}.{c[1]}", "depth": depth, "via": f"{via[0]}.{via[1]}", "ephemeral": c[0] in inlined}
                         for c, depth, via in found],
             "tree": mark(graph.tree(start, direction))}]
