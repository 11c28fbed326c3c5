"""A double written as text reads differently on each engine: DuckDB writes 3.0 as '3.0' and
1e10 as '10000000000.0', PostgreSQL as '3' and '10000000000', Spark as '3.0' and '1.0E10'.

Where the compiler knows an operand is a double, a cast of it to text (Spark and PostgreSQL:
meanings.py) and a concat or || of it (PostgreSQL: pgmeanings.py; Spark's concat is checked
argument by argument in sparkmeanings.py) is refused, saying to cast it to a decimal first.
Each caller passes the nodes it checks: a concatenation keeps DuckDB's meaning only when the
step was read as DuckDB.
"""

from __future__ import annotations

from sqlglot import exp

from toolkit.regexmeanings import Refused


def refuse_double_text(node: exp.Expression, types, write: str, example: str) -> None:
    """Refused when `node` (a cast to text, a concat or ||) writes a double as text on `write`.
    `types(node)`: its operand's family (of a concat: a tuple, one per argument; of ||: a
    double among them); `example`: how `write` writes one ("3.0 is '3' there")."""
    if isinstance(node, exp.Cast):
        if node.to.this in exp.DataType.TEXT_TYPES and types(node) == "double":
            _refuse(f"cast({node.this.sql('duckdb')} as {node.to.sql('duckdb').lower()}) of a double", write,
                    f"{example}, '3.0' and '10000000000.0' in DuckDB", "it", "cast(cast(x as decimal(18, 6)) as varchar)",
                    node.this.name or None)
    elif isinstance(node, (exp.Concat, exp.DPipe)) and _joins_a_double(node, types):
        name = "||" if isinstance(node, exp.DPipe) else "concat"
        token = "concat" if name == "concat" else next((column.name for column in node.find_all(exp.Column)), None)
        _refuse(f"{name} of a double ({node.sql('duckdb')})", write, f"{example}, '5.0' in DuckDB", "the double",
                "cast(x as decimal(18, 6))", token)


def _joins_a_double(node: exp.Concat | exp.DPipe, types) -> bool:
    operands = [node.this, node.expression] if isinstance(node, exp.DPipe) else node.expressions
    kinds = types(node)  # concat: each operand's family (a tuple, as Spark needs them), || a double among them
    return "double" in (kinds if isinstance(kinds, tuple) else (kinds,)) or \
        any(isinstance(side, exp.Cast) and side.to.is_type("double") for side in operands)


def _refuse(what: str, write: str, texts: str, it: str, fix: str, token: str | None) -> None:
    raise Refused(f"{what} writes other text on {write} ({texts}): cast {it} to a decimal first, e.g. {fix}", token)
