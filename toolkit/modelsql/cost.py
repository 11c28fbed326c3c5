"""Should `scoring="auto"` score in the warehouse? A cost model, before compiling.

Both paths are estimated in seconds from the fitted trees and the rows to score:

    SQL     fixed + per_node * nodes [+ JIT]  +  rows * (row + row_node * nodes + row_check * checks)
    Python                               rows * (row + row_tree * trees + row_node * nodes)

SQL pays once for compiling the pipeline, generating its text and the engine planning
it (every node is text), then per row one CASE step per node it evaluates; Python pays
per row for the read, the predict (scikit-learn walks tree by tree) and the write. So
SQL wins for linear models and small trees at any size worth measuring and loses for
large ensembles (issue 17: a 100-tree depth-8 forest 0.07x after a 105 s compile),
and a large model wins only once there are rows enough to pay for its compile.

The rates are fitted to tests/bench/bench_scoring_sql.py on this project's 2-core
machines (2026-12-05; 1M rows, checked at 20k and 200k and against the 5M table of
tests/bench/README.md), DuckDB's for the SQL compiled without float guards:

    1M rows, seconds          DuckDB sql / python     PostgreSQL sql / python
    linear                      0.12 / 0.88             1.35 / 1.78
    tree depth 6 (123 nodes)    0.09 / 0.67             0.91 / 1.61
    gb 30 trees (450)           0.23 / 1.07             1.58 / 1.99
    gb 100 (1,490)              0.58 / 1.85             3.52 / 2.89
    hgb 100 (6,100)             2.09 / 2.39             8.61 / 3.59
    (+ compile and generate: 0.01-0.02 s to 450 nodes, 0.1-0.2 s at 1,490, 0.3-0.4 s at 6,100;
    gb 100 at 200k rows: DuckDB 0.22 / 0.41, PostgreSQL 1.37 / 0.76: the fixed costs)

Before scoring in SQL, one query counts the rows scikit-learn would refuse (a NULL into
an estimator without NaN support, infinity, float32 overflow, unseen categories): one
scan with a count per check, which the Python path does not pay (scikit-learn raises
by itself). The checks are known only once the pipeline is compiled, so SQL is chosen
first without them, then confirmed with them (`checks`) before any query runs. Measured
with bench_scoring_sql.py's "check s" column (2026-12-06, 1M rows, 6 and 12 checks):
DuckDB 0.03-0.10 s, PostgreSQL 0.19-0.45 s, about 10-35 % of the scoring query.

Where the two estimates are within TOLERANCE seconds, the rows stay in the warehouse:
no row leaves it, and the scores are a query analysts can read and re-run. Engines
not measured take PostgreSQL's rates (the stricter). Counting reads the fitted trees'
arrays, no SQL is built: a model that loses is never compiled. `scoring="sql"` still
forces SQL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rates:
    fixed: float  # s per scoring statement
    per_node: float  # s per node: compile, generate, engine planning
    row: float  # s per row in SQL
    row_node: float  # s per row per node in SQL
    python_row: float  # s per row read, predicted and written back
    python_row_tree: float  # s per row per tree predicted
    python_row_node: float  # s per row per node (deeper trees, HistGradientBoosting's bins)
    row_check: float = 0.0  # s per row per refusal check, in the query run before scoring
    jit_per_node: float = 0.0  # s per node the engine's JIT spends compiling the query, once it does
    jit_from: float = float("inf")  # rows x nodes from which it does


RATES = {
    "duckdb": Rates(fixed=0.03, per_node=1.55e-4, row=0.1e-6, row_node=0.235e-9,
                    python_row=0.74e-6, python_row_tree=9.4e-9, python_row_node=0.12e-9, row_check=5e-9),
    # PostgreSQL's JIT compiles the whole query once the planner's cost passes jit_above_cost
    # (100,000 by default: ~40M rows x nodes at cpu_operator_cost 0.0025 per CASE step);
    # row_node: the 1M-row fit's upper end (its 200k and 5M runs were slower per row).
    "postgres": Rates(fixed=0.03, per_node=8e-5, row=1.1e-6, row_node=1.5e-9,
                      python_row=1.6e-6, python_row_tree=10.6e-9, python_row_node=0.15e-9, row_check=2.5e-8,
                      jit_per_node=4.2e-4, jit_from=4e7),
}
DEFAULT_RATES = RATES["postgres"]
TOLERANCE = 0.25  # seconds SQL may be estimated to lose by and still be chosen


@dataclass(frozen=True)
class Choice:
    sql: bool
    nodes: int
    levels: int
    trees: int
    reason: str
    rows: int | None = None  # the rows it was chosen for

    def confirm(self, pipeline, engine_name: str, checks: int) -> "Choice":
        """The choice again, with the compiled pipeline's refusal checks counted."""
        return choose(pipeline, engine_name, self.rows, checks)


def choose(pipeline, engine_name: str, rows: int | None = None, checks: int = 0) -> Choice:
    """SQL or Python for `scoring="auto"` on `rows` rows, with the reason the run records.
    rows=None: whether SQL wins on a table large enough (the per-row costs alone).
    checks: the refusal checks the compiled pipeline runs first (0 before compiling)."""
    trees = list(_trees(pipeline))
    nodes, levels = sum(n for n, _ in trees), sum(d for _, d in trees)
    rates = RATES.get(engine_name, DEFAULT_RATES)
    size = f"{len(trees)} tree(s) of {nodes:,} nodes" if trees else "no trees"
    if checks:
        size += f", {checks} refusal check(s)"
    sql_row = rates.row + rates.row_node * nodes + rates.row_check * checks
    python_row = rates.python_row + rates.python_row_tree * len(trees) + rates.python_row_node * nodes
    if rows is None:
        sql = sql_row <= python_row
        reason = (f"{size}: estimated {sql_row * 1e9:,.0f} ns per row in SQL on {engine_name}, "
                  f"{python_row * 1e9:,.0f} ns in Python")
    else:
        jit = rates.jit_per_node * nodes if rows * max(nodes, 1) >= rates.jit_from else 0.0
        sql_seconds = rates.fixed + rates.per_node * nodes + jit + rows * sql_row
        python_seconds = rows * python_row
        sql = sql_seconds <= python_seconds + TOLERANCE
        reason = (f"{size}, {rows:,} rows: estimated {sql_seconds:.2g} s in SQL on {engine_name}, "
                  f"{python_seconds:.2g} s in Python")
    if sql:
        return Choice(True, nodes, levels, len(trees), f"scored in the warehouse: {reason} (modelsql/cost.py)", rows)
    return Choice(False, nodes, levels, len(trees),
                  f"scored in Python: {reason} (modelsql/cost.py; scoring='sql' forces SQL)", rows)


def _trees(model):
    """(nodes, depth) of every fitted tree in a pipeline (steps, column transformers, ensembles)."""
    for step in _children(model):
        yield from _trees(step)
    tree = getattr(model, "tree_", None)
    if tree is not None and hasattr(tree, "node_count"):
        yield int(tree.node_count), int(tree.max_depth)
        return
    for predictors in getattr(model, "_predictors", None) or ():  # HistGradientBoosting: one list per iteration
        for predictor in predictors:
            yield len(predictor.nodes), int(predictor.nodes["depth"].max())
    estimators = getattr(model, "estimators_", None)
    if estimators is not None and not hasattr(model, "steps"):
        flat = estimators.ravel() if hasattr(estimators, "ravel") else estimators  # GradientBoosting: (n, k) array
        for member in flat:
            yield from _trees(member)


def _children(model):
    if hasattr(model, "steps"):  # Pipeline
        return [step for _, step in model.steps if step not in (None, "passthrough")]
    if hasattr(model, "transformers_"):  # ColumnTransformer
        return [step for _, step, _ in model.transformers_ if step not in ("drop", "passthrough")]
    return []
