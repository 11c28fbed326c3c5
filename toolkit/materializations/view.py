"""view: a view over its upstream's physical tables, read fully once before publishing."""

from __future__ import annotations

from toolkit.actions import Action, Decision, Reason, ReasonKind
from toolkit.materialize import create
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

    def decide(self, ctx) -> Decision:
        # A view reads its upstream's physical table: a rebuilt upstream is a new table.
        if ctx.current.fingerprint == ctx.fp.data:
            moved = _moved_upstream(ctx)
            return Decision(Action.REBUILD, Reason(ReasonKind.UPSTREAM_REBUILT, moved)) if moved else super().decide(ctx)
        decision = super().decide(ctx)
        if ReasonKind.NOT_DUE in decision.reason.kinds():
            # A schedule says when data is computed; a view computes none. Left as it is, it
            # would go on reading its upstream's old table (which gc then keeps "in use"): it is
            # re-pointed whatever its schedule (the new data is its upstream's, built anyway).
            moved = _moved_upstream(ctx)
            if moved:
                return Decision(Action.REBUILD, ctx.inputs.and_then(Reason(ReasonKind.UPSTREAM_REBUILT, moved)))
        return decision


def _moved_upstream(ctx) -> str | None:
    """The upstream step whose table the view must read anew: one this run rebuilds, or one
    published anew by a run that stopped before re-pointing this view (or did not select it)."""
    moved = ctx.upstream_rebuilt or ctx.upstream_moved
    return moved[0] if moved else None
