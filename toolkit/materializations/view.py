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
        if ctx.current.fingerprint == ctx.fp.data and ctx.upstream_rebuilt:
            return Decision(Action.REBUILD, Reason(ReasonKind.UPSTREAM_REBUILT, ctx.upstream_rebuilt[0]))
        # An upstream published anew by a run that stopped before re-pointing this view (or did
        # not select it): the view still reads the old table, which gc then keeps "in use".
        if ctx.current.fingerprint == ctx.fp.data and ctx.upstream_moved:
            return Decision(Action.REBUILD, Reason(ReasonKind.UPSTREAM_REBUILT, ctx.upstream_moved[0]))
        return super().decide(ctx)
