"""Tree ensembles in the warehouse: other SQL shapes against the nested CASE.

    python tests/bench/bench_ensemble_shapes.py [--rows 1000000] [--fit-rows 20000]
        [--engines duckdb,postgres] [--models gb,hgb,rf] [--pg-models gb,hgb] [--pg-rows 100000]
        [--shapes case,python,walk,qs,udf] [--repeat 3]
        [--url postgresql://postgres@127.0.0.1:5432/test]

Models (fitted on --fit-rows rows of bench_scoring_sql.make_table, the 6 numeric
columns x0..x5 only, 3% NULL each): `gb` SimpleImputer + GradientBoostingClassifier
(100 trees of depth 3), `hgb` HistGradientBoostingClassifier(max_iter=100,
early_stopping=False), `rf` RandomForestClassifier(100, max_depth=8) (NULLs passed
through, scikit-learn routes them per node). PostgreSQL scores the first --pg-rows
rows only (default 100k): walk and qs take about 10x the CASE's time there.

Shapes, each timed as `CREATE TABLE ... AS` inside the engine, median of --repeat
runs (the SQL text is generated once, outside the timing):

- case:   toolkit's compiler as it is (toolkit.modelsql.compile_model, as
          bench_scoring_sql.py calls it): one nested CASE per tree.
- python: the Python path of bench_scoring_sql.py (read Arrow in 100k batches,
          predict_proba, write Arrow back), the baseline of the ratios.
- walk:   every tree walked level by level with constant arrays, no CASE. The row's
          inputs become one array X = [coalesce(x_f, -inf)..., coalesce(x_f, NaN)...]
          (NULL goes left as -inf, right as NaN, which both engines order above every
          number, +inf included); each tree level keeps the row's position among that level's nodes: i' = CHILD[i] + (X[FEAT[i]] >
          THR[i])::int, with per-tree, per-level constant arrays FEAT, THR, CHILD
          (a leaf above the last level is carried down with THR = +inf); the leaf
          value (or class fraction) is VALUE[i] at the last level. Thresholds are
          toolkit's (float32_threshold for scikit-learn trees, num_threshold for
          HistGradientBoosting), so the tests are the same as the CASE's. One query
          level per tree level. DuckDB and PostgreSQL.
- qs:     QuickScorer-style bitmasks (trees of at most 62 leaves: gb, hgb): per tree
          and feature, the number of the tree's thresholds on that feature the value
          exceeds (a sum of comparisons, NULL -> its own bin) indexes a constant
          array of "leaves still reachable" masks; the masks of the tree's features
          are ANDed and the exit leaf is the lowest set bit (bit_count((m & -m) - 1)),
          which indexes the leaf values. DuckDB and PostgreSQL (bit_count on BIT(64)).
- udf:    DuckDB only: a vectorized Python UDF (create_function type='arrow') that
          calls the fitted pipeline's predict_proba on each chunk DuckDB hands it,
          inside the CREATE TABLE AS; its per-chunk calls are counted and included.

The alternative shapes reuse the compiler: a converter for the model's class is
swapped in (in memory) for the run, so the inputs, the imputer, the sums in
scikit-learn's order, the link function and the label are toolkit's own code.

Reported per engine and model: nodes, SQL size, seconds per shape, python/shape
(above 1 = faster than the Python path), the largest |probability difference|
against the Python path's predict_proba and the number of differing labels (both
computed in the engine, outside the timings). Nothing is asserted. Generated SQL
holds only numbers and fixed identifiers (arrays are numeric literals).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scoring_sql as base  # noqa: E402  (make_table, engines, python path, agreement)

NUMBERS = base.NUMBERS
INF = math.inf


def fitted_models(names: list[str], training):
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    from toolkit.training import to_frame

    factories = {
        "gb": lambda: make_pipeline(SimpleImputer(), GradientBoostingClassifier(n_estimators=100, random_state=0)),
        "hgb": lambda: HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0),
        "rf": lambda: RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0),
    }
    frame = to_frame(training, NUMBERS)
    labels = training.column("label").to_numpy(zero_copy_only=False)
    return {name: factories[name]().fit(frame, labels) for name in names}


# -- generic trees: one representation for scikit-learn's Tree and HGB's predictors -------


class Tree:
    """Nodes of one tree: children (-1 for a leaf), feature, threshold t (go right when
    x > t), whether NULL goes left, and per-leaf values (a tuple, one per output)."""

    def __init__(self, left, right, feature, threshold, missing_left, values):
        self.left, self.right, self.feature = left, right, feature
        self.threshold, self.missing_left, self.values = threshold, missing_left, values

    def is_leaf(self, node: int) -> bool:
        return self.left[node] == -1

    def leaves(self) -> list[int]:
        """Leaves left to right (depth first, left child first)."""
        out, stack = [], [0]
        while stack:
            node = stack.pop()
            if self.is_leaf(node):
                out.append(node)
            else:
                stack += [self.right[node], self.left[node]]
        return out


def sklearn_tree(tree, leaf_values) -> Tree:
    from toolkit.modelsql.trees import float32_threshold

    left, right = [int(v) for v in tree.children_left], [int(v) for v in tree.children_right]
    thresholds = [float32_threshold(t) if l != -1 else INF for t, l in zip(tree.threshold, left)]
    missing = [bool(m) for m in tree.missing_go_to_left]
    return Tree(left, right, [int(f) for f in tree.feature], thresholds, missing, leaf_values)


def hist_tree(predictor) -> Tree:
    nodes = predictor.nodes
    if nodes["is_categorical"].any():
        raise NotImplementedError("categorical splits")
    leaf = nodes["is_leaf"].astype(bool)
    left = [-1 if leaf[n] else int(nodes["left"][n]) for n in range(len(nodes))]
    right = [-1 if leaf[n] else int(nodes["right"][n]) for n in range(len(nodes))]
    thresholds = [INF if leaf[n] else float(nodes["num_threshold"][n]) for n in range(len(nodes))]
    values = [(float(v),) for v in nodes["value"]]
    missing = [bool(m) for m in nodes["missing_go_to_left"]]
    return Tree(left, right, [int(f) for f in nodes["feature_idx"]], thresholds, missing, values)


# -- SQL pieces (sqlglot, numeric literals only) ---------------------------------------------


def _exp():
    from sqlglot import exp

    return exp


def number_list(values, kind: str, dialect: str):
    """A constant array from one string literal of numbers, cast once (exact: string ->
    DOUBLE parses like a scalar literal). kind: DOUBLE, INT or BIGINT."""
    exp = _exp()
    texts = []
    for v in values:
        if kind == "DOUBLE":
            v = float(v)
            texts.append("Infinity" if v == INF else "-Infinity" if v == -INF else repr(v))
        else:
            texts.append(str(int(v)))
    body = ",".join(texts)
    text = "{" + body + "}" if dialect == "postgres" else "[" + body + "]"
    pg_kind = {"DOUBLE": "DOUBLE PRECISION", "INT": "INT", "BIGINT": "BIGINT"}[kind]
    return exp.Cast(this=exp.Literal.string(text), to=exp.DataType.build(f"{pg_kind}[]" if dialect == "postgres" else f"{kind}[]", dialect=dialect))


def at(array, index):
    """array[index], 1-based, index an INT expression."""
    exp = _exp()
    return exp.Bracket(this=exp.Paren(this=array), expressions=[index], offset=1)


def plus(expr, n: int):
    exp = _exp()
    return exp.Add(this=expr, expression=exp.Literal.number(n)) if n else expr


def as_int(expr):
    exp = _exp()
    return exp.Cast(this=expr, to=exp.DataType.build("INT"))


# -- shape "walk": level by level with constant arrays ----------------------------------------


def walk_levels(tree: Tree):
    """Per level: (FEAT, THR, MISSLEFT, CHILD) over that level's nodes; and the last
    level's nodes (original leaves, in the order the walk reaches them)."""
    level, levels = [0], []
    while any(not tree.is_leaf(n) for n in level):
        feats, thrs, miss, child, nxt = [], [], [], [], []
        for node in level:
            child.append(len(nxt))
            if tree.is_leaf(node):
                feats.append(0), thrs.append(INF), miss.append(True)
                nxt.append(node)
            else:
                feats.append(tree.feature[node]), thrs.append(tree.threshold[node]), miss.append(tree.missing_left[node])
                nxt += [tree.left[node], tree.right[node]]
        levels.append((feats, thrs, miss, child))
        level = nxt
    return levels, level


def walk_leaves(trees: list[Tree], columns, ctx, dialect: str) -> list[tuple[list[int], object]]:
    """For every tree: (its last-level nodes, an INT expression: 1-based position among them)."""
    from toolkit.modelsql.base import hoist

    exp = _exp()
    width = len(columns)
    # NULL -> -inf goes left of every threshold; NULL -> NaN goes right of every one,
    # +inf included (HGB's "missing vs the rest" splits have num_threshold = +inf):
    # both engines order NaN above every number
    if any(tree.threshold[n] == -INF for tree in trees for n in range(len(tree.left)) if not tree.is_leaf(n)):
        raise NotImplementedError("a threshold of -inf")
    [xs] = hoist(ctx, [exp.Array(expressions=[
        exp.func("COALESCE", c.expr.copy(), exp.cast(exp.Literal.string(s), "DOUBLE"))
        for s in ("-Infinity", "NaN") for c in columns
    ])], "xs")
    plans = [walk_levels(t) for t in trees]
    positions = [None] * len(trees)  # 0-based INT expression per tree (None: root, position 0)
    depth = max(len(levels) for levels, _ in plans)
    for k in range(depth):
        exprs = []
        for t, (levels, _) in enumerate(plans):
            if k >= len(levels):
                exprs.append(positions[t])
                continue
            feats, thrs, miss, child = levels[k]
            slots = [f + (0 if m else width) + 1 for f, m in zip(feats, miss)]  # 1-based in X
            if positions[t] is None:  # the root: constants
                value = at(xs.copy(), exp.Literal.number(slots[0]))
                go = exp.GT(this=value, expression=exp.cast(exp.Literal.string(repr(thrs[0])), "DOUBLE"))
                exprs.append(as_int(go))
                continue
            i1 = plus(positions[t].copy(), 1)
            slot = at(number_list(slots, "INT", dialect), i1.copy())
            go = as_int(exp.GT(this=at(xs.copy(), slot), expression=at(number_list(thrs, "DOUBLE", dialect), i1.copy())))
            exprs.append(exp.Add(this=at(number_list(child, "INT", dialect), i1), expression=go))
        positions = hoist(ctx, exprs, f"lvl{k}")
    return [(last, plus(positions[t].copy(), 1)) for t, (_, last) in enumerate(plans)]


# -- shape "qs": QuickScorer masks --------------------------------------------------------------


def qs_leaves(trees: list[Tree], columns, ctx, dialect: str) -> list[tuple[list[int], object]]:
    """For every tree: (its leaves left to right, an INT expression: the 1-based exit leaf)."""
    from toolkit.modelsql.base import hoist

    exp = _exp()
    alive_masks = []
    for tree in trees:
        leaves = tree.leaves()
        if len(leaves) > 62:
            raise NotImplementedError(f"{len(leaves)} leaves (qs: at most 62)")
        bit = {leaf: 1 << i for i, leaf in enumerate(leaves)}
        under = {}  # node -> mask of the leaves under it

        def mask(node):
            if node not in under:
                under[node] = bit[node] if tree.is_leaf(node) else mask(tree.left[node]) | mask(tree.right[node])
            return under[node]

        full = mask(0)
        by_feature: dict[int, list[int]] = {}
        for node in range(len(tree.left)):
            if not tree.is_leaf(node):
                by_feature.setdefault(tree.feature[node], []).append(node)
        factors = []
        for feature, nodes in sorted(by_feature.items()):
            cuts = sorted({tree.threshold[n] for n in nodes})
            # bin b (0..len(cuts)): x exceeds the b smallest cuts; bin len(cuts)+1: NULL
            table = []
            for b in range(len(cuts) + 1):
                cleared = 0
                for n in nodes:
                    if cuts.index(tree.threshold[n]) < b:  # x > t: goes right, the left leaves are out
                        cleared |= mask(tree.left[n])
                table.append(full & ~cleared)
            cleared = 0
            for n in nodes:
                cleared |= mask(tree.left[n]) if not tree.missing_left[n] else mask(tree.right[n])
            table.append(full & ~cleared)
            x = columns[feature].expr
            count = None
            for cut in cuts:
                term = as_int(exp.GT(this=x.copy(), expression=exp.cast(exp.Literal.string(repr(cut)), "DOUBLE")))
                count = term if count is None else exp.Add(this=count, expression=term)
            index = exp.func("COALESCE", exp.Paren(this=count), exp.Literal.number(len(cuts) + 1))
            factors.append(at(number_list(table, "BIGINT", dialect), plus(index, 1)))
        alive = factors[0]
        for f in factors[1:]:
            alive = exp.BitwiseAnd(this=alive, expression=f)
        alive_masks.append((leaves, alive))
    alive = hoist(ctx, [a for _, a in alive_masks], "alive")
    out = []
    for (leaves, _), a in zip(alive_masks, alive):
        low = exp.Sub(this=exp.Paren(this=exp.BitwiseAnd(this=a.copy(), expression=exp.Neg(this=a.copy()))), expression=exp.Literal.number(1))
        if dialect == "postgres":
            low = exp.Cast(this=low, to=exp.DataType.build("BIT(64)", dialect="postgres"))
        out.append((leaves, plus(as_int(exp.func("BIT_COUNT", low)), 1)))
    return out


# -- converters using a shape -----------------------------------------------------------------


def converters(shape: str, dialect: str):
    """(class -> converter) replacing toolkit's for GradientBoosting, HGB and forests."""
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier

    from toolkit.modelsql import trees as T
    from toolkit.modelsql.base import Scores, hoist, number

    exp = _exp()
    leaves_of = {"walk": walk_leaves, "qs": qs_leaves}[shape]

    def lookup(nodes, values, index):
        """VALUE[index] with VALUE the listed nodes' values."""
        return at(number_list([values(n) for n in nodes], "DOUBLE", dialect), index.copy())

    def gradient_boosting(model, columns, ctx):
        init = T._gradient_boosting_init(model, ctx.path)
        rate = float(model.learning_rate)
        stages = [t for stage in model.estimators_ for t in stage]
        if model.estimators_.shape[1] != 1:
            raise NotImplementedError("multiclass")
        trees = [sklearn_tree(t.tree_, [(float(v),) for v in t.tree_.value[:, 0, 0]]) for t in stages]
        found = leaves_of(trees, columns, ctx, dialect)
        terms = [[number(v) for v in init]] + [
            [lookup(nodes, lambda n, t=t: rate * t.values[n][0], index)] for t, (nodes, index) in zip(trees, found)
        ]
        raw = T._ordered_sums(terms, ctx, "raw")
        return T._guarded(model, T._boosted_scores(model, raw, ctx, strict=False), columns)

    def hist_gradient_boosting(model, columns, ctx):
        if getattr(model, "_preprocessor", None) is not None:
            raise NotImplementedError("categorical features")
        if len(model._predictors[0]) != 1:
            raise NotImplementedError("multiclass")
        trees = [hist_tree(p) for [p] in model._predictors]
        found = leaves_of(trees, columns, ctx, dialect)
        terms = [[number(v) for v in np.ravel(model._baseline_prediction)]] + [
            [lookup(nodes, lambda n, t=t: t.values[n][0], index)] for t, (nodes, index) in zip(trees, found)
        ]
        raw = T._ordered_sums(terms, ctx, "raw")
        return T._boosted_scores(model, raw, ctx, strict=True)

    def forest(model, columns, ctx):
        classes = list(model.classes_)
        trees = [sklearn_tree(e.tree_, [tuple(float(v) for v in e.tree_.value[n, 0]) for n in range(e.tree_.node_count)])
                 for e in model.estimators_]
        found = leaves_of(trees, columns, ctx, dialect)
        terms = [[lookup(nodes, lambda n, t=t, k=k: t.values[n][k], index) for k in range(len(classes))]
                 for t, (nodes, index) in zip(trees, found)]
        sums = T._ordered_sums(terms, ctx, "votes")
        count = number(len(trees))
        probabilities = hoist(ctx, [exp.Div(this=exp.Paren(this=s), expression=count.copy()) for s in sums], "proba")
        top = T.largest(probabilities, ctx)
        scores = Scores(T.argmax(probabilities, top, classes), tuple(p.copy() for p in probabilities), tuple(classes))
        return T._guarded(model, scores, columns)

    return {
        GradientBoostingClassifier: gradient_boosting,
        HistGradientBoostingClassifier: hist_gradient_boosting,
        RandomForestClassifier: forest,
    }


@contextlib.contextmanager
def swapped(table: dict):
    from toolkit.modelsql import converters as registry

    saved = {k: registry.ESTIMATORS[k] for k in table}
    registry.ESTIMATORS.update(table)
    try:
        yield
    finally:
        registry.ESTIMATORS.update(saved)


def compiled_sql(engine, model, features, shape: str) -> str:
    from sqlglot import exp

    from toolkit.modelsql import compile_model

    source = exp.table_("rows", db=base.SCHEMA if engine.name == "postgres" else None, quoted=True)
    table = {} if shape == "case" else converters(shape, engine.name)
    with swapped(table):
        select = compile_model(model, features, ["id"], source, fence=engine.name == "postgres", guards=engine.name != "duckdb")
    return select.sql(dialect=engine.name)


# -- shape "udf": DuckDB calling predict_proba per chunk -----------------------------------------


def udf_sql(engine, model, calls: list[int]) -> str:
    import duckdb
    import numpy as np
    import pyarrow as pa

    from toolkit.training import to_frame

    classes = [str(c) for c in model.classes_]
    name = "score_" + str(len(calls)) + "_" + str(id(model))

    if len(NUMBERS) != 6:
        raise NotImplementedError("the UDF here takes 6 inputs")

    def score(x0, x1, x2, x3, x4, x5):  # DuckDB wants the arity in the signature
        calls[0] += 1
        frame = to_frame(pa.Table.from_arrays([x0, x1, x2, x3, x4, x5], names=NUMBERS), NUMBERS)  # chunked arrays
        proba = np.ascontiguousarray(model.predict_proba(frame), dtype=np.float64)
        return pa.FixedSizeListArray.from_arrays(pa.array(proba.ravel()), len(classes))

    double = duckdb.sqltype("DOUBLE")
    engine.connection.execute("select 1").fetchall()  # finish the last result (create_function refuses otherwise)
    engine.connection.create_function(name, score, [double] * len(NUMBERS), duckdb.list_type(double), type="arrow", null_handling="special")
    args = ", ".join(NUMBERS)
    from toolkit.scoring import proba_columns

    probas = ", ".join(f"p[{i + 1}] as {column}" for i, column in enumerate(proba_columns(classes)))
    # argmax, first on ties (numpy): the first class whose probability is the largest
    label = "case " + " ".join(f"when p[{i + 1}] = list_max(p) then '{c}'" for i, c in enumerate(classes)) + " end"
    if not all(c.isidentifier() for c in classes):
        raise NotImplementedError("class names that are not identifiers")
    return f"select id, {label} as prediction, {probas} from (select id, {name}({args}) as p from rows)"


# -- runs ---------------------------------------------------------------------------------------------


def timed(engine, name: str, sql: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        engine.execute(f"drop table if exists {engine.table(name)}")
        started = time.perf_counter()
        engine.execute(f"create table {engine.table(name)} as {sql}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def node_count(model) -> int:
    from toolkit.modelsql.cost import choose

    return choose(model, "duckdb").nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fit-rows", type=int, default=20_000)
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument("--models", default="gb,hgb,rf")
    parser.add_argument("--pg-models", default="gb,hgb", help="models run on PostgreSQL (rf's CASE takes minutes there)")
    parser.add_argument("--pg-rows", type=int, default=100_000,
                        help="rows scored on PostgreSQL (walk and qs run ~10x the CASE's time there: 1M rows would take many minutes)")
    parser.add_argument("--shapes", default="case,python,walk,qs,udf")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default=os.environ.get("TOOLKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()

    import duckdb
    import sklearn
    import sqlglot

    print(
        f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} python={platform.python_version()} duckdb={duckdb.__version__} "
        f"sqlglot={sqlglot.__version__} sklearn={sklearn.__version__} rows={args.rows:,} repeat={args.repeat}",
        flush=True,
    )
    data = base.make_table(args.rows).select(["id", *NUMBERS, "label"])
    models = fitted_models(args.models.split(","), data.slice(0, args.fit_rows))
    features = [{"name": n, "type": "double"} for n in NUMBERS]
    shapes = [s for s in args.shapes.split(",") if s != "python"]
    header = f"{'engine':9} {'model':5} {'nodes':>6} {'shape':7} {'sql KB':>8} {'gen s':>6} {'run s':>7} {'python s':>8} {'py/shape':>8} {'max |dp|':>9} {'labels !=':>9}  note"
    for engine_name in args.engines.split(","):
        engine = base.DuckDB(data) if engine_name == "duckdb" else base.Postgres(data.slice(0, args.pg_rows), args.url, [])
        allowed = args.models.split(",") if engine_name == "duckdb" else args.pg_models.split(",")
        try:
            rows = args.rows if engine_name == "duckdb" else min(args.rows, args.pg_rows)
            print(f"\n{engine_name}: {engine.settings()} rows={rows:,} load={os.getloadavg()[0]:.2f}\n{header}", flush=True)
            for name, model in models.items():
                if name not in allowed:
                    continue
                nodes = node_count(model)
                classes = list(model.classes_)
                python_table = f"py_{name}"
                runs = []
                for _ in range(args.repeat):
                    engine.execute(f"drop table if exists {engine.table(python_table)}")
                    runs.append(base.python_path(engine, model, features, python_table))
                python = statistics.median(runs)
                print(f"{engine_name:9} {name:5} {nodes:6d} {'python':7} {'':>8} {'':>6} {python:7.2f} {python:8.2f} {1:8.2f}", flush=True)
                for shape in shapes:
                    note, size, generate = "", 0, 0.0
                    try:
                        started = time.perf_counter()
                        if shape == "udf":
                            if engine_name != "duckdb":
                                continue
                            calls = [0]
                            sql = udf_sql(engine, model, calls)
                        else:
                            sql = compiled_sql(engine, model, features, shape)
                        generate = time.perf_counter() - started
                        size = len(sql)
                        table = f"{shape}_{name}"
                        seconds = timed(engine, table, sql, args.repeat)
                        worst, labels = base.agreement(engine, table, python_table, classes)
                        if shape == "udf":
                            note = f"{calls[0] / args.repeat:.0f} calls per run"
                    except NotImplementedError as error:
                        print(f"{engine_name:9} {name:5} {nodes:6d} {shape:7} {'-':>8} {'-':>6} {'-':>7}  not expressible: {error}", flush=True)
                        continue
                    print(
                        f"{engine_name:9} {name:5} {nodes:6d} {shape:7} {size / 1e3:8.1f} {generate:6.2f} {seconds:7.2f} {python:8.2f} "
                        f"{python / seconds:8.2f} {worst:9.1e} {labels:9d}  {note}",
                        flush=True,
                    )
        finally:
            engine.close()
    print(f"\nload at the end={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
