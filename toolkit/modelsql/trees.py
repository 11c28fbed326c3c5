"""Tree models as SQL: decision trees, random forests / extra trees, gradient boosting
and histogram gradient boosting.

Every tree becomes one nested CASE whose leaves are constants (its size grows with
the node count; a row evaluates only the comparisons on its path). An ensemble adds
its trees' CASEs in the order scikit-learn accumulates them, left to right, so the
SQL performs the same float64 additions as scikit-learn and ties between classes
break the same way; every few trees the running sum is hoisted (base.hoist)
so no expression nests deeper than the engines allow. A forest classifier's trees
give their leaf's number once (hoisted) and each class reads its fraction from a
constant array (3x faster than one CASE per class and tree, in both engines).

How scikit-learn compares a row with a split, matched here:

- DecisionTree / forests / GradientBoosting cast X to float32 and test
  `float32(x) <= threshold` (threshold float64). Rounding to float32 is monotonic,
  so that test equals `x <= t'` for one float64 t', computed here exactly
  (`float32_threshold`): the SQL compares the DOUBLE column directly, with no CAST
  to REAL (which in PostgreSQL raises for values that round to zero or overflow,
  and in DuckDB for values just above the float32 range).
- HistGradientBoosting compares float64 X with `num_threshold` as is.
- A missing value (NULL) goes where the node's `missing_go_to_left` sends it;
  HistGradientBoosting sends unknown categories the same way.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from sqlglot import exp

from .base import Column, Context, Scores, Unsupported, hoist, literal, number
from .mathsql import add as _add
from .mathsql import argmax, expit, largest, paren as _paren, safe_exp, softmax

# -- constants and arithmetic -------------------------------------------------------


def float32_threshold(threshold: float) -> float:
    """The largest float64 t' with `float32(x) <= threshold` exactly when `x <= t'`.

    float32(x) <= threshold  <=>  float32(x) <= f, f the largest float32 <= threshold,
    <=> x rounds to f or below <=> x <= the midpoint between f and the next float32
    (inclusive when the tie rounds to f, i.e. f's last mantissa bit is even).
    """
    threshold = float(threshold)
    if math.isnan(threshold):
        raise ValueError("a NaN split threshold")
    with np.errstate(over="ignore"):
        f = np.float32(threshold)
        if float(f) > threshold:
            f = np.nextafter(f, np.float32(-np.inf))
        if np.isposinf(f):
            return math.inf
        up = np.nextafter(f, np.float32(np.inf))
    low = -(2.0**128) if np.isneginf(f) else float(f)
    high = 2.0**128 if np.isposinf(up) else float(up)
    middle = (low + high) / 2  # exact: float64 has room for one more bit
    ties_to_f = bool(np.isneginf(f)) or (int(f.view(np.uint32)) & 1) == 0
    return middle if ties_to_f else math.nextafter(middle, -math.inf)


# Every `chunk` trees a running sum is hoisted into a column of its own (one query
# level per hoist), so no expression nests deeper than `chunk` additions: DuckDB
# refuses nesting past max_expression_depth = 1000, PostgreSQL's stack gives out
# between 2000 and 5000 nested additions, and DuckDB's planning time grows faster
# than linearly with depth. 10 trees per level measured best (1M rows, 100-iteration
# HistGradientBoosting: PostgreSQL 7.3-8.4 s at 10, 9.2-10 s at 25, 10-12 s at
# 50-100, its JIT compiling smaller expressions faster; DuckDB and GradientBoosting
# indifferent); past MAX_LEVELS levels the chunks grow instead, since each level
# costs the compiler and the planner a query level.
SUM_CHUNK = 10
MAX_LEVELS = 40
MAX_CHUNK = 250


def _ordered_sums(terms: Sequence[Sequence[exp.Expression]], ctx: Context, hint: str) -> list[exp.Expression]:
    """For each output k: terms[0][k] + terms[1][k] + ..., added left to right.

    scikit-learn accumulates trees one at a time into a running float64 array, so
    this is the same sequence of additions: equal results, and equal class ties.
    """
    chunk = min(max(SUM_CHUNK, math.ceil(len(terms) / MAX_LEVELS)), MAX_CHUNK)
    totals = list(terms[0])
    for start in range(1, len(terms), chunk):
        if start > 1:
            totals = hoist(ctx, totals, hint)
        for row in terms[start : start + chunk]:
            totals = [_add(total, term) for total, term in zip(totals, row)]
    return totals


def _nullable_inputs_guard(scores: Scores, columns: list[Column]) -> Scores:
    """NULL scores for rows with a missing input, for estimators that reject NaN.

    scikit-learn raises on such rows (GradientBoosting: "Input X contains NaN"); scoring
    fails the step on them before writing (base.Refusal), and the stored SQL, run by
    hand, gives them a NULL score, as a linear model's arithmetic does.
    """
    missing = exp.or_(*[exp.Is(this=column.expr.copy(), expression=exp.Null()) for column in columns])

    def guard(value: exp.Expression) -> exp.Expression:
        return exp.Case(ifs=[exp.If(this=missing.copy(), true=exp.Null())], default=value)

    return Scores(guard(scores.prediction), tuple(guard(p) for p in scores.probabilities), scores.classes)


# -- one tree as a nested CASE --------------------------------------------------------

Branch = tuple[exp.Expression, int, int]  # (condition, node if true, node otherwise)


def _nested_case(
    children: Callable[[int], tuple[int, int] | None],
    branch: Callable[[int], Branch],
    leaf: Callable[[int], exp.Expression],
) -> exp.Expression:
    """The tree under node 0 as CASE WHEN <condition> THEN <subtree> ELSE <subtree> END.

    Built bottom-up without recursion (trees can be deep). A split whose two
    subtrees are the same expression (e.g. both leaves predict the same label) is
    left out.
    """
    built: dict[int, exp.Expression] = {}
    stack = [0]
    while stack:
        node = stack[-1]
        pair = children(node)
        if pair is None:
            built[node] = leaf(node)
            stack.pop()
            continue
        waiting = [child for child in pair if child not in built]
        if waiting:
            stack.extend(waiting)
            continue
        stack.pop()
        condition, yes, no = branch(node)
        then, otherwise = built.pop(yes), built.pop(no)
        if not isinstance(then, exp.Case) and then == otherwise:  # two equal leaves
            built[node] = then
        elif isinstance(otherwise, exp.Case):
            # CASE WHEN a THEN x ELSE CASE WHEN b THEN y ELSE z END END, flattened:
            # DuckDB pays per CASE per vector, so fewer CASEs run faster (15%)
            otherwise.set("ifs", [exp.If(this=condition, true=then), *otherwise.args["ifs"]])
            built[node] = otherwise
        else:
            built[node] = exp.Case(ifs=[exp.If(this=condition, true=then)], default=otherwise)
    return built[0]


def _number(column: Column, where: str) -> exp.Expression:
    """A split's input: numbers only (scikit-learn cannot fit a tree on strings)."""
    if column.kind != "number":
        raise Unsupported(where, f"a tree splits on string column {column.name!r}: encode it to numbers first")
    return column.expr.copy()


def _split(value: exp.Expression, threshold: float, missing_left: bool, left: int, right: int) -> Branch:
    """`value <= threshold` goes left; NULL goes left when missing_left.

    A NULL comparison falls through to ELSE, so NULL already goes right with
    `WHEN value <= t THEN left`; for missing_left the test is turned around,
    `WHEN value > t THEN right ELSE left` (NaN never reaches SQL: it is NULL), which
    costs one comparison instead of `value <= t OR value IS NULL`.
    """
    if missing_left:
        return exp.GT(this=value, expression=number(threshold)), right, left
    return exp.LTE(this=value, expression=number(threshold)), left, right


def _sklearn_tree(tree, columns: list[Column], leaf: Callable[[int], exp.Expression], where: str) -> exp.Expression:
    """A fitted `tree_` (sklearn.tree._tree.Tree): float32 semantics, NULL follows
    missing_go_to_left (sklearn.tree._tree.Tree._apply_dense)."""
    left, right = tree.children_left, tree.children_right
    feature, threshold, missing_left = tree.feature, tree.threshold, tree.missing_go_to_left

    def children(node: int):
        return None if left[node] == -1 else (int(left[node]), int(right[node]))

    def branch(node: int) -> Branch:
        value = _number(columns[int(feature[node])], where)
        cut = float32_threshold(threshold[node])
        return _split(value, cut, bool(missing_left[node]), int(left[node]), int(right[node]))

    return _nested_case(children, branch, leaf)


def _leaf_numbers(tree) -> dict[int, int]:
    """Leaf node -> 1-based position in the leaf arrays (SQL arrays start at 1)."""
    leaves = np.flatnonzero(tree.children_left == -1)
    return {int(node): i + 1 for i, node in enumerate(leaves)}


def _array(values: Sequence[exp.Expression], index: exp.Expression) -> exp.Expression:
    """A constant array subscripted by a column: [v1, v2, ...][index], index 1-based.
    Typed INT and marked 1-based (offset=1) so sqlglot shifts it for 0-based engines
    (Spark: [index - 1]); an untyped column would be left as it is, one leaf off."""
    position = exp.cast(index.copy(), exp.DataType.build("INT"))
    return exp.Bracket(this=_paren(exp.Array(expressions=list(values))), expressions=[position], offset=1)


def _check_single_output(model, where: str) -> None:
    if getattr(model, "n_outputs_", 1) != 1:
        raise Unsupported(where, f"multi-output {type(model).__name__} ({model.n_outputs_} targets) is not supported")


def _missing_accepted(model) -> bool:
    from sklearn.utils import get_tags

    return bool(get_tags(model).input_tags.allow_nan)


def _guarded(model, scores: Scores, columns: list[Column]) -> Scores:
    return scores if _missing_accepted(model) else _nullable_inputs_guard(scores, columns)


# -- decision trees and forests -------------------------------------------------------


def _forest_trees(model) -> list:
    return list(getattr(model, "estimators_", [model]))


def _tree_classifier(model, columns: list[Column], ctx: Context) -> Scores:
    """DecisionTreeClassifier / ExtraTreeClassifier and their forests.

    Each tree's leaf is found once (a nested CASE giving the leaf's number,
    hoisted); each class's probability then reads a constant array of the leaves'
    class fractions (`tree_.value`, already normalised). A forest adds the trees'
    fractions in order and divides by the number of trees (ForestClassifier.
    predict_proba); the label is the first class of largest probability.
    """
    _check_single_output(model, ctx.path)
    trees = [t.tree_ for t in _forest_trees(model)]
    classes = list(model.classes_)
    numbers = [_leaf_numbers(tree) for tree in trees]
    cases = [
        _sklearn_tree(tree, columns, lambda node, n=n: exp.Literal.number(n[node]), ctx.path)
        for tree, n in zip(trees, numbers)
    ]
    leaves = hoist(ctx, cases, "leaf")
    terms = [
        [_array([number(tree.value[node, 0, k]) for node in n], leaf) for k in range(len(classes))]
        for tree, n, leaf in zip(trees, numbers, leaves)
    ]
    if not hasattr(model, "estimators_"):  # one tree: its fractions are the answer
        labels = [literal(classes[int(np.argmax(trees[0].value[node, 0]))]) for node in numbers[0]]
        scores = Scores(_array(labels, leaves[0]), tuple(terms[0]), tuple(classes))
        return _guarded(model, scores, columns)
    sums = _ordered_sums(terms, ctx, "votes")
    count = number(len(trees))
    probabilities = hoist(ctx, [exp.Div(this=_paren(s), expression=count.copy()) for s in sums], "proba")
    top = largest(probabilities, ctx)
    scores = Scores(argmax(probabilities, top, classes), tuple(p.copy() for p in probabilities), tuple(classes))
    return _guarded(model, scores, columns)


def _tree_regressor(model, columns: list[Column], ctx: Context) -> Scores:
    """DecisionTreeRegressor / ExtraTreeRegressor (the leaf value) and their
    forests: the trees' values added in order, divided by the number of trees
    (ForestRegressor.predict)."""
    _check_single_output(model, ctx.path)
    trees = [t.tree_ for t in _forest_trees(model)]
    cases = [_sklearn_tree(tree, columns, lambda node, t=tree: number(t.value[node, 0, 0]), ctx.path) for tree in trees]
    if not hasattr(model, "estimators_"):
        return _guarded(model, Scores(cases[0]), columns)
    [total] = _ordered_sums([[case] for case in cases], ctx, "sum")
    prediction = exp.Div(this=_paren(total), expression=number(len(trees)))
    return _guarded(model, Scores(prediction), columns)


# -- gradient boosting ---------------------------------------------------------------


def _inverse_link(link, raw: exp.Expression, where: str) -> exp.Expression:
    """The loss's inverse link (sklearn._loss.link) for one raw score."""
    from sklearn._loss import link as links

    if isinstance(link, links.IdentityLink):
        return raw
    if isinstance(link, links.LogLink):
        return safe_exp(raw)
    if isinstance(link, links.HalfLogitLink):  # checked before LogitLink, in case of subclassing
        return expit(exp.Mul(this=number(2.0), expression=raw))
    if isinstance(link, links.LogitLink):
        return expit(raw)
    raise Unsupported(where, f"the {type(link).__name__} link function is not supported")


def _boosted_scores(model, raw: list[exp.Expression], ctx: Context, strict: bool) -> Scores:
    """Scores from the raw sums: regressors apply the inverse link; binary
    classifiers label by the raw score's sign (`raw > 0` when `strict`, as in
    HistGradientBoosting, else `raw >= 0` as in GradientBoosting) and give
    (1 - p, p); multiclass ones softmax and label by the largest raw score."""
    from sklearn.base import is_classifier

    link = model._loss.link
    if not is_classifier(model):
        return Scores(_inverse_link(link, raw[0], ctx.path))
    classes = list(model.classes_)
    if len(raw) == 1:
        [score] = hoist(ctx, raw, "raw")
        positive = _inverse_link(link, score, ctx.path)
        negative = exp.Sub(this=number(1.0), expression=_paren(positive.copy()))
        compare = exp.GT if strict else exp.GTE
        label = exp.Case(
            ifs=[exp.If(this=compare(this=score.copy(), expression=number(0.0)), true=literal(classes[1]))],
            default=literal(classes[0]),
        )
        return Scores(label, (negative, positive), tuple(classes))
    from sklearn._loss.link import MultinomialLogit

    if not isinstance(link, MultinomialLogit):
        raise Unsupported(ctx.path, f"the {type(link).__name__} link function is not supported for multiclass")
    raw = hoist(ctx, raw, "raw")
    top = largest(raw, ctx)
    return Scores(argmax(raw, top, classes), tuple(softmax(raw, top, ctx)), tuple(classes))


def _gradient_boosting_init(model, where: str) -> np.ndarray:
    """The init estimator's raw predictions: zeros for init='zero', else those of a
    DummyClassifier / DummyRegressor (constant for every row), computed by
    scikit-learn itself from one row of zeros."""
    from sklearn.base import is_classifier
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble._gb import _init_raw_predictions

    init, count = model.init_, model.estimators_.shape[1]
    if isinstance(init, str) and init == "zero":
        return np.zeros(count)
    constant = isinstance(init, DummyRegressor) or (isinstance(init, DummyClassifier) and init.strategy != "stratified")
    if not constant:
        raise Unsupported(where, f"init estimator {init!r} is not supported (only 'zero' or a constant Dummy estimator)")
    row = np.zeros((1, model.n_features_in_))
    return np.asarray(_init_raw_predictions(row, init, model._loss, is_classifier(model)), dtype=np.float64)[0]


def _gradient_boosting(model, columns: list[Column], ctx: Context) -> Scores:
    """GradientBoostingClassifier / Regressor: raw_k = init_k + sum over stages of
    learning_rate * value, added stage by stage (ensemble._gradient_boosting.
    predict_stages; the product is taken in Python, the same float64 product)."""
    init = _gradient_boosting_init(model, ctx.path)
    rate = float(model.learning_rate)
    terms = [[number(value) for value in init]]
    for stage in model.estimators_:
        terms.append(
            [
                _sklearn_tree(t.tree_, columns, lambda node, t=t: number(rate * t.tree_.value[node, 0, 0]), ctx.path)
                for t in stage
            ]
        )
    raw = _ordered_sums(terms, ctx, "raw")
    return _guarded(model, _boosted_scores(model, raw, ctx, strict=False), columns)


# -- histogram gradient boosting --------------------------------------------------------


def _hist_features(model, columns: list[Column], where: str) -> list[tuple[Column, list | None]]:
    """The columns the predictors index, with each categorical one's categories.

    With categorical features, scikit-learn first runs its own ColumnTransformer
    (`_preprocessor`): an OrdinalEncoder (unknown and missing -> NaN) over the
    categorical columns, placed first, then the numeric ones. A category's code is
    its position in the encoder's categories_, so a split's code sets map back to
    the raw values, compared with the untouched input column.
    """
    preprocessor = getattr(model, "_preprocessor", None)
    if preprocessor is None:
        return [(column, None) for column in columns]
    indices = preprocessor._transformer_to_input_indices
    encoder = preprocessor.named_transformers_["encoder"]
    categorical = [(columns[i], list(c)) for i, c in zip(indices["encoder"], encoder.categories_)]
    numeric = [(columns[i], None) for i in indices["numerical"]]
    if len(categorical) + len(numeric) != len(columns):
        raise Unsupported(where, "unexpected layout of the categorical-feature preprocessor")
    return categorical + numeric


def _in_codes(column: Column, categories: list, codes: list[int], where: str) -> exp.Expression:
    """column IN (the categories with these codes), typed like the column."""
    values = []
    for code in codes:
        value = categories[code]
        value = value.item() if hasattr(value, "item") else value
        if column.kind == "string" and isinstance(value, str):
            values.append(exp.Literal.string(value))
        elif column.kind == "number" and isinstance(value, (int, float)):  # bool: 0.0 / 1.0, as the inputs
            values.append(number(value))
        else:
            raise Unsupported(where, f"category {value!r} cannot be compared with {column.kind} column {column.name!r}")
    if not values:
        return exp.false()
    return exp.In(this=column.expr.copy(), expressions=values)


def _bits(bitset: np.ndarray) -> set[int]:
    """The members of one 256-bit bitset (8 x uint32, sklearn.utils._bitset)."""
    return {32 * word + bit for word in range(len(bitset)) for bit in range(32) if (int(bitset[word]) >> bit) & 1}


def _hist_tree(predictor, features, known_bitsets, f_idx_map, where: str) -> exp.Expression:
    """One TreePredictor as _predictor.pyx's _predict_one_from_raw_data walks it:
    NaN -> missing side; categorical: code in the left bitset -> left, another
    known code -> right, unknown -> missing side; numeric: x <= num_threshold
    in float64."""
    nodes = predictor.nodes

    def children(node: int):
        return None if nodes["is_leaf"][node] else (int(nodes["left"][node]), int(nodes["right"][node]))

    def branch(node: int) -> Branch:
        record = nodes[node]
        feature = int(record["feature_idx"])
        column, categories = features[feature]
        left, right, missing_left = int(record["left"]), int(record["right"]), bool(record["missing_go_to_left"])
        if not record["is_categorical"]:
            value = _number(column, where)
            return _split(value, float(record["num_threshold"]), missing_left, left, right)
        if record["bitset_idx"] >= len(predictor.raw_left_cat_bitsets):  # scikit-learn would read past its array
            raise Unsupported(where, f"a categorical split on feature {feature} without a category bitset")
        goes_left = _bits(predictor.raw_left_cat_bitsets[record["bitset_idx"]])
        known = _bits(known_bitsets[f_idx_map[feature]])
        if missing_left:  # only known codes outside the left set go right
            return _in_codes(column, categories, sorted(known - goes_left), where), right, left
        return _in_codes(column, categories, sorted(goes_left), where), left, right

    return _nested_case(children, branch, lambda node: number(nodes["value"][node]))


def _hist_gradient_boosting(model, columns: list[Column], ctx: Context) -> Scores:
    """HistGradientBoostingClassifier / Regressor: raw_k = baseline_k + the trees'
    leaf values (already scaled by the learning rate), iteration by iteration
    (BaseHistGradientBoosting._raw_predict)."""
    features = _hist_features(model, columns, ctx.path)
    known_bitsets, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
    terms = [[number(value) for value in np.ravel(model._baseline_prediction)]]
    for iteration in model._predictors:
        terms.append([_hist_tree(p, features, known_bitsets, f_idx_map, ctx.path) for p in iteration])
    raw = _ordered_sums(terms, ctx, "raw")
    return _boosted_scores(model, raw, ctx, strict=True)
