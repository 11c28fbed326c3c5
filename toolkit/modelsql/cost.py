"""Should `scoring="auto"` score in the warehouse? A cost model, before compiling.

The Python path costs a read, a predict and a write per row, whatever the model. The
compiled SQL costs, per row, one CASE step per tree level a row walks down (every tree
is walked: trees x depth, "levels"), and the engine and the compile pay for the SQL's
size (every node is text: PostgreSQL's JIT compiles all of it). So SQL wins for linear
models and small trees and loses for large ensembles (issue 17: a 100-tree
HistGradientBoosting 0.41x on DuckDB, a 100-tree depth-8 forest 0.07x after a 105 s
compile). `auto` takes SQL while the pipeline stays within both budgets of the engine,
calibrated with tests/bench/bench_scoring_sql.py on 1M rows (2 cores). DuckDB's
column is for the SQL compiled without float guards (IEEE_FLOATS; 2026-12-04), where
the SQL time grows with the nodes (about 0.4 ms per node per 1M rows) and crosses the
Python path near 5,000 nodes; the budget keeps a margin. PostgreSQL's is older:

    model (nodes, levels)     DuckDB python/sql   PostgreSQL python/sql
    tree depth 6  (123, 6)         7.6x                 1.64x
    tree depth 8  (395, 8)         5.1x                 1.39x
    gb 10 trees   (150, 30)        7.6x                 1.16x
    gb 30         (450, 90)        4.3x                 1.05x
    rf 10 depth 6 (1154, 60)       2.6x                 0.91x
    gb 60         (896, 180)       3.5x                 0.96x
    gb 100        (1490, 300)      3.1x                 0.93x
    hgb 100       (6100, -)        1.07x (0.92x with
                                   its compile)
    rf 100 depth 8 (34812, 800)    0.34x

Counting reads the fitted trees' arrays, no SQL is built: a model over budget is never
compiled. `scoring="sql"` still forces SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

# (nodes, levels) up to which compiled SQL was clearly faster than read + predict + write.
BUDGETS = {"duckdb": (3000, 600), "postgres": (400, 60)}
DEFAULT_BUDGET = BUDGETS["postgres"]  # engines not measured: the stricter


@dataclass(frozen=True)
class Choice:
    sql: bool
    nodes: int
    levels: int
    trees: int
    reason: str


def choose(pipeline, engine_name: str) -> Choice:
    """SQL or Python for `scoring="auto"`, with the reason the run records."""
    trees = list(_trees(pipeline))
    nodes, levels = sum(n for n, _ in trees), sum(d for _, d in trees)
    max_nodes, max_levels = BUDGETS.get(engine_name, DEFAULT_BUDGET)
    if nodes <= max_nodes and levels <= max_levels:
        size = f"{len(trees)} tree(s) of {nodes:,} nodes and {levels:,} levels" if trees else "no trees"
        return Choice(True, nodes, levels, len(trees),
                      f"scored in the warehouse: {size}, within {engine_name}'s budget ({max_nodes:,} nodes, "
                      f"{max_levels:,} levels) below which compiled SQL was faster than pulling the rows out")
    return Choice(False, nodes, levels, len(trees),
                  f"scored in Python: {len(trees)} tree(s) of {nodes:,} nodes and {levels:,} levels, over {engine_name}'s "
                  f"budget ({max_nodes:,} nodes, {max_levels:,} levels) above which compiled SQL is slower than pulling "
                  f"the rows out (scoring='sql' forces SQL)")


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
