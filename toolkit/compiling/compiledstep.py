"""The value each compile stage fills in: a CompiledStep per seed, SQL or Python
feature step and model (what it reads, its canonical tree, columns, content hash, data
tests), and CachedStep, the same loaded from the compile cache with its tree kept as
text until something asks for it.

Data flow: compiler.compile_project makes one per step (sqlsteps.py, pythonsteps.py,
modelsteps.py fill them in); compiledproject.CompiledProject holds them; planning,
execute and the compile cache (compilecache.py) read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from toolkit import sql
from toolkit.datatests import DataTest
from toolkit.materializations import Materialization, strategy


@dataclass
class CompiledStep:
    name: str
    kind: str  # what it is compiled from: "seed", "feature" (SQL) or "model" (Python)
    file: str
    materialized: str
    relation: exp.Table  # the canonical name: what compiled SQL reads; published there unless alias/schema say otherwise
    tree: exp.Query | None = None
    upstream: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    columns: list[str] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    template: str = ""
    rendered: str = ""
    content_hash: str = ""  # normalized SQL + data-relevant config, or seed file bytes
    data_tests: list[DataTest] = field(default_factory=list)
    # fingerprint.Lineage computed from the tree (kept by the compile cache, so that
    # planning a cached step needs no tree)
    lineage: Any = field(default=None, compare=False, repr=False)
    # output column -> tag -> path back to a tagged source or seed column (columntags.py)
    column_tags: dict = field(default_factory=dict, compare=False, repr=False)
    # What else its compiled tree was made from, so that the next compile can reuse it
    # (compile_project's `reuse`): var() bindings, what the SQL itself reads (before
    # tests add their parents: None when not known, then `upstream` stands for it; [] when it
    # reads no step, only sources), and the upstream columns it was qualified against.
    bindings: dict = field(default_factory=dict, compare=False, repr=False)
    reads_upstream: list[str] | None = field(default=None, compare=False, repr=False)
    upstream_columns: dict | None = field(default=None, compare=False, repr=False)
    # Calls whose answer changes from run to run with the same inputs (sql.volatile_calls:
    # now(), current_date, random()) in its query, and in its is_incremental() branch: found
    # once at compile (kept by the compile cache), so that a no-op plan scans no SQL.
    volatile: list[str] = field(default_factory=list, compare=False, repr=False)
    volatile_update: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def rows_read(self) -> list[str]:
        """The steps its query reads (reads_upstream), or, when that is not known, all it is built after."""
        return self.reads_upstream if self.reads_upstream is not None else self.upstream

    @property
    def tags(self) -> set[str]:
        tags = self.config.get("tags", [])
        return {tags} if isinstance(tags, str) else set(tags)

    @property
    def published(self) -> exp.Table:
        """Where the step is published: config(schema=, alias=) (dbt's keys), else its canonical name."""
        schema, alias = self.config.get("schema"), self.config.get("alias")
        if not schema and not alias:
            return self.relation
        return exp.table_(alias or self.relation.name, db=schema or self.relation.db)

    @property
    def strategy(self) -> "Materialization":
        """How it is built, planned and published (toolkit/materializations/)."""
        return strategy(self.materialized)

    @property
    def key_columns(self) -> list[str]:
        """unique_key's columns as published: in lower case (the config may spell them as the
        query does, `Customer_Id`, which a quoted name in the merge would not find)."""
        key = self.config.get("unique_key", [])
        return [k.lower() for k in ([key] if isinstance(key, str) else key)]

    @property
    def time_column(self) -> str | None:
        """time_column as published, in lower case (see key_columns)."""
        value = self.config.get("time_column")
        return value.lower() if isinstance(value, str) else None


class CachedStep(CompiledStep):
    """A step loaded from the compile cache (compilecache.py): it holds its canonical SQL
    as text and parses it into a tree only when something asks for the tree (a build,
    a SQL diff, `toolkit compile`). The re-parsed tree must generate the same canonical
    text; if it does not, the project is compiled afresh and that step's tree is used.
    """

    sql_text: str | None = None  # the compiled tree generated in the project dialect, comments kept
    canonical: str | None = None  # sql.canonical_text of the compiled tree
    dialect: str = ""
    fallback: Any = None  # () -> CompiledProject compiled without the cache
    stored_names: dict | None = None  # as sql.quote_stored_names takes them, for the sources it reads
    # sql.tree_shape of the compiled tree: some trees read back from their text as other
    # trees with the same text (DuckDB's), which mean otherwise or fail on another target
    shape: str | None = None

    @property
    def tree(self):
        tree = self.__dict__.get("_tree")
        if tree is None and self.sql_text is not None:
            tree = sql.reparse(self.sql_text, self.dialect)
            if tree is None or sql.canonical_text(tree, self.dialect) != self.canonical or sql.tree_shape(tree) != self.shape:
                tree = self.fallback().steps[self.name].tree
            elif self.stored_names:
                sql.quote_stored_names(tree, self.stored_names, columns=self.columns is not None)
            self.__dict__["_tree"] = tree
        return tree

    @tree.setter
    def tree(self, value):
        if value is not None:  # replaced: the cached text no longer describes it
            self.sql_text = self.canonical = None
        self.__dict__["_tree"] = value


def catalog_relation(name: str, schema: str) -> exp.Table:
    """Where a step, seed or model's predictions live: in toolkit's lower-case catalog,
    the name every reader's SQL resolves to once its identifiers are normalized. A step
    file CustomerNames.sql is the table customernames, on PostgreSQL too (names that
    differ only in case are refused: project.py)."""
    return exp.table_(name.lower(), db=schema)
