"""The shared vocabulary of the model-to-SQL compiler.

A fitted pipeline is compiled one step at a time. Each step receives the row it is
given as a list of `Column`s (one sqlglot expression per column of what the step
would see in scikit-learn) and returns the columns it would hand on; the final
estimator returns `Scores`. Nothing here formats SQL text: every value enters the
tree as a literal built by sqlglot, and the generator quotes identifiers.

Numbers are DOUBLE everywhere and a missing value is SQL NULL (an input NaN is
turned into NULL where the row enters, so NULL and NaN behave alike, as they do for
scikit-learn). Constants are always cast to DOUBLE: a bare `0.1` is a DECIMAL in
DuckDB and a NUMERIC in PostgreSQL, and arithmetic with it would not be float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from sqlglot import exp

Kind = Literal["number", "string"]


class Unsupported(Exception):
    """A pipeline step the compiler cannot express exactly in SQL."""

    def __init__(self, step: str, reason: str):
        self.step = step
        self.reason = reason
        super().__init__(f"{step}: {reason}")


@dataclass(frozen=True)
class Column:
    """One column of the row a step sees: its SQL expression and whether it holds
    numbers (DOUBLE, NULL = missing) or strings (VARCHAR, NULL = missing)."""

    expr: exp.Expression
    kind: Kind = "number"
    name: str | None = None  # the feature name, where scikit-learn knows one
    # What the compiler knows of the values, to check only what can happen (see Refusal):
    nullable: bool = True  # some row may be missing here
    bound: float = math.inf  # no finite value is larger in magnitude; inf: unbounded, may be infinite


@dataclass(frozen=True)
class Refusal:
    """Rows scikit-learn would raise on (a step that rejects NaN, infinity, a value too
    large for float32, an unknown category): a query cannot raise per row, so scoring
    counts the rows where `condition` holds before it writes anything, and refuses to
    score if any does (toolkit.scoring). Recorded only where a row can hit it."""

    condition: exp.Expression  # over the step's input columns
    feature: str  # the input feature the value comes from
    why: str  # missing | infinite | float32 | unseen
    step: str  # the path of the step that refuses


@dataclass(frozen=True)
class Scores:
    """What a final estimator computes for one row.

    prediction: regressors' value; classifiers' label (a literal of the class's type).
    probabilities: classifiers only, one expression per class in `classes` order.
    """

    prediction: exp.Expression
    probabilities: tuple[exp.Expression, ...] = ()
    classes: tuple[Any, ...] = ()


@dataclass
class Context:
    """Passed to every converter: where it sits in the pipeline, for error messages,
    and the common sub-expressions the final SELECT may hoist into a CTE."""

    path: str = ""
    notes: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    def child(self, name: str) -> "Context":
        return Context(path=f"{self.path}.{name}" if self.path else name, notes=self.notes, refusals=self.refusals)

    def refuse(self, condition: exp.Expression, column: "Column", why: str) -> None:
        """Rows where `condition` holds make scikit-learn raise at this step."""
        self.refusals.append(Refusal(condition, column.name or "?", why, self.path))


# A converter's signature (the table of them: toolkit.modelsql.converters).
Transformer = Callable[[Any, list[Column], Context], list[Column]]
Estimator = Callable[[Any, list[Column], Context], Scores]

def number(value: float) -> exp.Expression:
    """A float64 constant, exactly: repr() round-trips, the cast makes it DOUBLE.

    Cast from a string: DuckDB reads a bare 0.1 as DECIMAL, and its DECIMAL -> DOUBLE
    cast is one ulp off for some 17-digit values; string -> DOUBLE is exact in both
    DuckDB and PostgreSQL."""
    value = float(value)
    if math.isnan(value):
        text = "NaN"
    elif math.isinf(value):
        text = "Infinity" if value > 0 else "-Infinity"
    else:
        text = repr(value)
    return exp.cast(exp.Literal.string(text), exp.DataType.Type.DOUBLE)


def literal(value: Any) -> exp.Expression:
    """A class label or category as a SQL literal of its own type."""
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        return number(value)
    return exp.Literal.string(str(value))


def hoist(ctx: Context, exprs: list[exp.Expression], name: str = "v") -> list[exp.Expression]:
    """Have `exprs` computed once, in a query level of their own, and get column
    references to them: use it before an expression is used more than once (softmax,
    argmax over class scores), so the SQL stays linear in the model's size.

    The compiler's context hoists (see toolkit.modelsql.compile_model); any other
    context, e.g. a bare Context() in a unit test, hands the expressions back as they
    are, which is equivalent SQL, only longer."""
    hoister = getattr(ctx, "hoister", None)
    return list(exprs) if hoister is None else hoister(list(exprs), name)
