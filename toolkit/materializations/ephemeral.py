"""ephemeral: never built or published; inlined as a CTE into every step that reads it
(as dbt does). Its readers' fingerprints include it as they include any upstream, so
editing it rebuilds them. It has no relation of its own, so data tests on it are a
project error (exit 2), and a model cannot train on or score it.
"""

from __future__ import annotations

from toolkit.actions import Action, Decision, Reason, ReasonKind
from toolkit.materializations.base import Materialization


class Ephemeral(Materialization):
    name = "ephemeral"
    relation_kind = "NONE"
    testable = False
    readable_by_models = False
    inlined = True
    published_suffixes = ()

    def plan(self, ctx) -> Decision:
        return Decision(Action.INLINE, Reason(ReasonKind.EPHEMERAL))

    def build(self, ctx, planned):
        raise NotImplementedError("an ephemeral step is inlined into its readers, never built")
