"""table: CREATE TABLE AS the step's query (the default materialization).

A table a model trains on is written in the model's key order. A model reads its
training rows in key order (reproducible fits), and a table already stored that way is
read as stored, where any other costs the engine a sort on every read
(training._read_in_key_order: 5M rows on DuckDB, 1.2 s against 0.2 s). Sorting once
while the table is written (+0.7 s there) makes every fit after it, a retrain with
new parameters too, read at the plain read's speed. Only where the read can use it:
engines that stream a table in stored order, keys of types whose order every engine
agrees on, and one key for all the models reading the table. The order is how the
table is stored, not what it holds: the step's SQL, fingerprint and data are the same.
"""

from sqlglot import exp

from toolkit.actions import Action, Decision
from toolkit.materializations.base import Materialization, same_code_and_inputs, volatile_calls


class Table(Materialization):
    name = "table"
    commits_with_others = True  # CREATE TABLE AS and its data tests, all on the worker's session

    def decide(self, ctx) -> Decision:
        calls = volatile_calls(ctx.compiled, ctx.step)
        if calls and same_code_and_inputs(ctx):
            # its recorded fingerprint moves with each run: the same code and inputs are "unchanged" for it
            return self.rerun_volatile(ctx, Action.REBUILD, calls)
        return super().decide(ctx)

    def create(self, ctx, step, physical: exp.Table, query: exp.Expression | None) -> int | None:
        key = _training_key(ctx, step, query)
        if key:
            query = exp.select("*").from_(query.subquery("_in_key_order")).order_by(*(exp.column(c, quoted=True) for c in key))
        return ctx.engine.create_table_as(physical, query)


def _training_key(ctx, step, query: exp.Expression | None) -> list[str] | None:
    """The key the models training on this step read it by, spelled as the query names
    those columns, when rows stored in that order spare each training read a sort."""
    if query is None or not ctx.engine.STREAMS_STORED_ORDER:
        return None
    keys = {tuple(spec.key) for spec in ctx.compiled.project.models.values() if spec.training == step.name}
    if len(keys) != 1 or not next(iter(keys)):
        return None
    from toolkit.training import orderable_arrow_type

    # The step's column types: only the engine knows them (a LIMIT 0 read plans the query, reads nothing).
    schema = ctx.engine.fetch_arrow(exp.select("*").from_(query.copy().subquery("_types")).limit(0)).schema
    spelled = {name.lower(): name for name in schema.names}
    key = [spelled.get(column.lower()) for column in next(iter(keys))]
    if None in key or not all(orderable_arrow_type(schema.field(name).type) for name in key):
        return None
    return key
