"""Materializations, one strategy per kind, registered by name (see base.py).

    table        CREATE TABLE AS (default)
    view         a view over upstream physical tables
    incremental  new rows merged/appended into the published table
    ephemeral    never built; inlined as a CTE into its readers
    seed         a file loaded through Arrow
    model        a trained model's predictions
"""

from __future__ import annotations

from toolkit.materializations.base import Built, BuildContext, Materialization
from toolkit.materializations.ephemeral import Ephemeral
from toolkit.materializations.incremental import Incremental
from toolkit.materializations.model import Model
from toolkit.materializations.seed import Seed
from toolkit.materializations.table import Table
from toolkit.materializations.view import View

REGISTRY: dict[str, Materialization] = {
    strategy.name: strategy for strategy in (Table(), View(), Incremental(), Ephemeral(), Seed(), Model())
}
# What config(materialized=...) accepts, in the order the error message lists them.
USER_FACING = tuple(name for name, strategy in REGISTRY.items() if strategy.user_facing)


def strategy(name: str) -> Materialization:
    """The strategy registered under `name` (a step's `materialized`)."""
    return REGISTRY[name]


__all__ = ["REGISTRY", "USER_FACING", "Built", "BuildContext", "Materialization", "strategy"]
