"""view: a view over its upstream's physical tables, read fully once before publishing."""

from __future__ import annotations

from sqlglot import exp

from toolkit.actions import Action, Decision, Reason, ReasonKind
from toolkit.materialize import TestsFailed, create
from toolkit.materializations.base import Materialization


class View(Materialization):
    name = "view"
    relation_kind = "VIEW"
    keeps_reading = True

    def create(self, ctx, step, physical, query):
        ctx.engine.execute(create("VIEW", physical, query))
        # Creating a view only binds it; reading every column of every row is what
        # proves it runs (a bad cast fails only then), so do that before publishing.
        return ctx.engine.read_fully(physical)

    def check(self, ctx, step, physical):
        try:
            return super().check(ctx, step, physical)
        except TestsFailed as failed:
            live = _serving_live(ctx, step)
            if live:  # "not published" alone was untrue: the published view already serves these rows
                raise TestsFailed(failed.outcomes, step=step.name, live=live) from None
            raise

    def decide(self, ctx) -> Decision:
        # A view reads its upstream's physical table: a rebuilt upstream is a new table.
        if ctx.current.fingerprint == ctx.fp.data:
            moved = _moved_upstream(ctx)
            return Decision(Action.REBUILD, Reason(ReasonKind.UPSTREAM_REBUILT, moved), keeps_schedule=True) if moved else super().decide(ctx)
        decision = super().decide(ctx)
        if decision.action is Action.TEST and _moved_upstream(ctx):
            # only its tests' inputs changed, but what it reads was published anew since: re-pointed
            return Decision(Action.REBUILD, ctx.inputs.and_then(Reason(ReasonKind.UPSTREAM_REBUILT, _moved_upstream(ctx))), keeps_schedule=True)
        if ReasonKind.NOT_DUE in decision.reason.kinds():
            # A schedule says when data is computed; a view computes none. Left as it is, it
            # would go on reading its upstream's old table (which gc then keeps "in use"): it is
            # re-pointed whatever its schedule (the new data is its upstream's, built anyway).
            moved = _moved_upstream(ctx)
            if moved:
                return Decision(Action.REBUILD, ctx.inputs.and_then(Reason(ReasonKind.UPSTREAM_REBUILT, moved)), keeps_schedule=True)
        return decision


def _moved_upstream(ctx) -> str | None:
    """The upstream step whose table the view must read anew: one this run rebuilds, or one
    published anew by a run that stopped before re-pointing this view (or did not select it)."""
    moved = ctx.upstream_rebuilt or ctx.upstream_moved
    return moved[0] if moved else None


def _serving_live(ctx, step) -> str | None:
    """What to say when the view published before reads sources itself (or through other
    views and ephemeral steps): nothing stands between them and its readers, so the rows
    that failed the tests may already be served. None when it reads only built tables
    (which a failed run leaves as they were) or nothing is published yet."""
    current = ctx.state.published(ctx.env).get(step.name)
    if current is None or current.materialized != "view":
        return None
    sources = _sources_read(ctx.compiled, step)
    if not sources:
        return None
    return (f"the view published before ({current.relation or step.published.sql()}) reads "
            f"{', '.join(sources)} as it is now and may already serve these rows (test the source in "
            "warehouse/sources.toml to stop it before any step reads it)")


def _sources_read(compiled, step) -> list[str]:
    """The source tables `step`'s query reads, directly or through the views and ephemeral
    steps it reads (a relationships test's parent is not read by the view)."""
    sources = {f"{s.schema}.{s.table}".lower(): key for key, s in compiled.project.sources.items()}
    found, seen, todo = set(), set(), [step]
    while todo:
        current = todo.pop()
        if current.name in seen or current.tree is None:
            continue
        seen.add(current.name)
        for table in current.tree.find_all(exp.Table):
            found.add(sources.get(f"{table.db}.{table.name}".lower()))
        todo += [compiled.steps[name] for name in current.rows_read
                 if name in compiled.steps and compiled.steps[name].materialized in ("view", "ephemeral")]
    return sorted(found - {None})
