"""table: CREATE TABLE AS the step's query (the default materialization)."""

from toolkit.materializations.base import Materialization


class Table(Materialization):
    name = "table"
