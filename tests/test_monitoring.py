"""Drift profiles and metrics computed in the warehouse equal plain NumPy/SciPy references."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from scipy.spatial.distance import jensenshannon
from sqlglot import exp

from postgres_support import pg_url  # noqa: F401 (a fixture)
from toolkit import monitoring
from toolkit.config import Target
from toolkit.engines import connect
from toolkit.errors import ProjectError

FEATURES = [("Amount", "numeric"), ("Const", "numeric"), ("Segment", "categorical"), ("Code", "categorical"), ("Empty", "numeric")]
BINS, TOP_K = 10, 5


@pytest.fixture(params=["duckdb", "postgres", pytest.param("spark", marks=pytest.mark.slow)])
def engine(request, tmp_path):
    if request.param == "spark":
        from spark_support import SKIP_REASON, shared_engine

        if SKIP_REASON:
            pytest.skip(SKIP_REASON)
        engine = shared_engine()
        engine.execute("DROP SCHEMA IF EXISTS m CASCADE")  # the process's warehouse outlives a test
    else:
        if request.param == "duckdb":
            target = Target("monitoring", "duckdb", {"path": "warehouse.duckdb"})
        else:
            target = Target("monitoring", "postgres", {"url": request.getfixturevalue("pg_url")})
        engine = connect(target, tmp_path, 5.0)
    engine.create_schema("m")
    yield engine
    engine.close()


def table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True), db=exp.to_identifier("m", quoted=True))


def make_data(rng, n: int, shift: float = 0.0, const: float = 3.5, null_rate: float = 0.1, unseen: bool = False):
    amount = rng.normal(100 + shift, 15, n)
    amount_nulls = rng.random(n) < null_rate
    weights = np.array([30, 20, 15, 10, 8, 7, 5, 3, 2], dtype=float)
    segments = np.array([f"s{i}" for i in range(len(weights))] + (["new1", "new2"] if unseen else []))
    if unseen:
        weights = np.concatenate([weights, [10, 10]])
    segment = rng.choice(segments, n, p=weights / weights.sum()).astype(object)
    segment[rng.random(n) < null_rate] = None
    code = rng.integers(0, 8, n)
    columns = {
        "Amount": pa.array(amount, mask=amount_nulls),
        "Const": pa.array(np.full(n, const)),
        "Segment": pa.array(list(segment), type=pa.string()),
        "Code": pa.array(code.astype(np.int64)),
        "Empty": pa.array([None] * n, type=pa.float64()),
    }
    return pa.table(columns)


# -- plain NumPy references ---------------------------------------------------------


def ref_profile(data: pa.Table):
    out = {}
    for name, family in FEATURES:
        values = data.column(name).to_pylist()
        present = [v for v in values if v is not None]
        if family == "numeric":
            x = np.array(present, dtype=float)
            if not len(x):
                out[name] = dict(nulls=len(values), edges=[], counts=[0], mean=None, std=None)
                continue
            quantiles = np.quantile(x, np.arange(BINS + 1) / BINS)
            edges = sorted(set(quantiles[1:-1].tolist()))
            if x.min() == x.max():  # the documented rule for a constant column
                edges = [x[0], np.nextafter(x[0], np.inf)]
            counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1)
            out[name] = dict(nulls=len(values) - len(x), edges=edges, counts=counts.tolist(), mean=x.mean(), std=x.std(),
                             low=x.min(), high=x.max())
        else:
            counter = Counter(str(v) for v in present)
            top = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0].encode()))[:TOP_K]
            counts = [c for _, c in top]
            out[name] = dict(nulls=len(values) - len(present), categories=[v for v, _ in top], counts=counts + [len(present) - sum(counts)])
    return out


def ref_current_counts(data: pa.Table, reference) -> dict:
    out = {}
    for name, family in FEATURES:
        present = [v for v in data.column(name).to_pylist() if v is not None]
        if family == "numeric":
            edges = reference[name]["edges"]
            x = np.array(present, dtype=float)
            out[name] = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1).tolist()
        else:
            categories = reference[name]["categories"]
            counter = Counter(str(v) for v in present)
            counts = [counter.get(c, 0) for c in categories]
            out[name] = counts + [len(present) - sum(counts)]
    return out


def ref_psi(p_counts, q_counts) -> float:
    p = np.asarray(p_counts, float) / np.sum(p_counts)
    q = np.asarray(q_counts, float) / np.sum(q_counts)
    p, q = np.where(p == 0, 1e-6, p), np.where(q == 0, 1e-6, q)
    return float(np.sum((q - p) * np.log(q / p)))


def ref_metrics(train: pa.Table, current: pa.Table) -> dict:
    base, now = ref_profile(train), ref_current_counts(current, ref_profile(train))
    rows_train, rows_now = train.num_rows, current.num_rows
    out = {}
    for name, family in FEATURES:
        nulls_now = current.column(name).null_count
        out[(name, "null_rate_change")] = abs(nulls_now / rows_now - base[name]["nulls"] / rows_train)
        p, q = base[name]["counts"], now[name]
        present = np.array([v for v in current.column(name).to_pylist() if v is not None], dtype=float) if family == "numeric" else []
        if family == "numeric" and "low" in base[name] and len(present):
            low, high = base[name]["low"], base[name]["high"]  # train/serve skew: share outside the training range
            out[(name, "out_of_range")] = float(np.mean((present < low) | (present > high) | np.isnan(present)))
        if not sum(p) or not sum(q):
            continue
        out[(name, "psi")] = ref_psi(p, q)
        pf, qf = np.asarray(p, float) / sum(p), np.asarray(q, float) / sum(q)
        if family == "numeric":
            out[(name, "js_distance")] = float(jensenshannon(pf, qf, base=2))
        else:
            out[(name, "l_infinity")] = float(np.max(np.abs(pf - qf)))
    return out


class Counting:
    """The engine, counting the queries monitoring sends."""

    def __init__(self, engine):
        self.engine, self.queries = engine, 0

    def fetch_rows(self, statement):
        self.queries += 1
        return self.engine.fetch_rows(statement)

    def __getattr__(self, name):  # the engine's hooks and flags (quantiles, bucket, ...)
        return getattr(self.engine, name)


# -- tests --------------------------------------------------------------------------


def test_profile_equals_numpy(engine):
    train = make_data(np.random.default_rng(1), 3000)
    engine.create_table_from_arrow(table("Train"), train)
    counting = Counting(engine)
    profile = monitoring.profile(counting, table("Train"), FEATURES, bins=BINS, top_k=TOP_K)
    assert counting.queries == 2
    reference = ref_profile(train)
    for feature in profile.features:
        expected = reference[feature.name]
        assert feature.rows == 3000 and feature.nulls == expected["nulls"], feature.name
        assert feature.counts == expected["counts"], feature.name
        if feature.family == "numeric":
            assert feature.edges == pytest.approx(expected["edges"], rel=1e-12, abs=1e-12), feature.name
            if expected["mean"] is None:
                assert feature.mean is None and feature.std is None
            else:
                assert (feature.low, feature.high) == (expected["low"], expected["high"]), feature.name
                assert feature.mean == pytest.approx(expected["mean"], rel=1e-9)
                assert feature.std == pytest.approx(expected["std"], rel=1e-9, abs=1e-12)
        else:
            assert feature.categories == expected["categories"]
    by_name = {f.name: f for f in profile.features}
    assert by_name["Const"].edges == [3.5, np.nextafter(3.5, 4)] and by_name["Const"].counts == [0, 3000, 0]
    assert len(by_name["Segment"].categories) == TOP_K and by_name["Segment"].counts[-1] > 0
    assert monitoring.Profile.from_json(profile.to_json()) == profile


def test_moments_leave_out_nan_and_infinity(engine):
    # DuckDB's stddev_pop raises on NaN or infinity: a scoring table with one NaN
    # failed every model run that took a baseline.
    values = [1.0, 2.0, 4.0, float("nan"), float("inf"), float("-inf"), None]
    engine.create_table_from_arrow(table("Odd"), pa.table({"X": pa.array(values, type=pa.float64())}))
    (feature,) = monitoring.profile(engine, table("Odd"), [("X", "numeric")], bins=2).features
    finite = np.array([1.0, 2.0, 4.0])
    assert (feature.rows, feature.nulls) == (7, 2)  # NaN is missing, as scikit-learn treats it
    assert feature.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert feature.std == pytest.approx(finite.std(), rel=1e-12)
    assert sum(feature.counts) == 5  # the infinities are still counted in bins, NaN is not


def test_nan_is_a_missing_value_not_a_value_out_of_range(engine):
    """A scoring table whose double feature is NaN where training had numbers: a change
    of the NULL rate (as scikit-learn sees it: missing), not values outside the range."""
    rng = np.random.default_rng(5)
    train = rng.normal(0, 1, 1000)
    scoring = np.where(np.arange(1000) % 4 == 0, np.nan, rng.normal(0, 1, 1000))
    engine.create_table_from_arrow(table("Tr"), pa.table({"X": pa.array(train)}))
    engine.create_table_from_arrow(table("Sc"), pa.table({"X": pa.array(scoring)}))  # NaN, not NULL
    baseline = monitoring.profile(engine, table("Tr"), [("X", "numeric")], bins=4)
    got = {metric: value for _, metric, value in monitoring.drift(engine, table("Sc"), baseline)}
    assert got["null_rate_change"] == pytest.approx(0.25)
    present = scoring[~np.isnan(scoring)]
    assert got["out_of_range"] == pytest.approx(np.mean((present < train.min()) | (present > train.max())))
    assert got["out_of_range"] < 0.01 and got["psi"] < 0.1, got


def test_drift_equals_numpy_and_scipy_in_one_query(engine):
    rng = np.random.default_rng(2)
    train = make_data(rng, 3000)
    # shifted far right (many empty bins now), a different constant, unseen categories, more NULLs
    current = make_data(rng, 2000, shift=40, const=7.0, null_rate=0.3, unseen=True)
    engine.create_table_from_arrow(table("Train"), train)
    engine.create_table_from_arrow(table("Scoring"), current)
    profile = monitoring.profile(engine, table("Train"), FEATURES, bins=BINS, top_k=TOP_K)
    counting = Counting(engine)
    metrics = monitoring.drift(counting, table("Scoring"), profile)
    assert counting.queries == 1
    expected = ref_metrics(train, current)
    got = {(feature, metric): value for feature, metric, value in metrics}
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
    assert ref_current_counts(current, ref_profile(train))["Amount"][0] == 0  # an empty bin was exercised
    assert got[("Amount", "psi")] > 0.2 and got[("Const", "psi")] > 0.2
    assert ("Empty", "psi") not in got and got[("Empty", "null_rate_change")] == 0.0


def test_shift_breaches_and_resample_does_not(engine):
    rng = np.random.default_rng(3)
    engine.create_table_from_arrow(table("Train"), make_data(rng, 5000))
    engine.create_table_from_arrow(table("Same"), make_data(rng, 5000))
    engine.create_table_from_arrow(table("Shifted"), make_data(rng, 5000, shift=10))
    profile = monitoring.profile(engine, table("Train"), FEATURES, bins=BINS, top_k=TOP_K)
    same = {(f, m): v for f, m, v in monitoring.drift(engine, table("Same"), profile)}
    shifted = {(f, m): v for f, m, v in monitoring.drift(engine, table("Shifted"), profile)}
    assert all(v < 0.1 for (f, m), v in same.items() if m == "psi"), same
    assert shifted[("Amount", "psi")] > 0.2
    assert shifted[("Segment", "psi")] < 0.1


def test_unseen_categories_go_to_other_and_quotes_are_literals(tmp_path):
    engine = connect(Target("m", "duckdb", {"path": "w.duckdb"}), tmp_path, 5.0)
    engine.create_schema("m")
    odd = "it's \"odd\"; drop table x"
    engine.create_table_from_arrow(table("T"), pa.table({"mixed Case": ["a", "a", odd, None]}))
    engine.create_table_from_arrow(table("S"), pa.table({"mixed Case": ["zzz", odd, odd, "a"]}))
    profile = monitoring.profile(engine, table("T"), [("mixed Case", "categorical")], top_k=5)
    assert profile.features[0].categories == ["a", odd] and profile.features[0].counts == [2, 1, 0]
    rows, counts = monitoring.current_counts(engine, table("S"), profile)
    assert (rows, counts) == (4, [(0, [1, 2, 1])])
    engine.close()


def test_metric_functions_on_hand_made_counts():
    assert monitoring.psi([5, 5], [5, 5]) == 0.0
    assert monitoring.psi([10, 0], [0, 10]) == pytest.approx(2 * (1 - 1e-6) * np.log(1 / 1e-6))
    assert monitoring.js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert monitoring.js_distance([3, 1], [1, 3]) == pytest.approx(jensenshannon([0.75, 0.25], [0.25, 0.75], base=2), abs=1e-12)
    assert monitoring.l_infinity([1, 1, 2], [2, 1, 1]) == pytest.approx(0.25)


def metric(feature, name, value):
    return monitoring.Metric("churn", 1, 7, None, feature, name, value)


def test_evaluate_thresholds():
    metrics = [
        metric("Amount", "psi", 0.15),
        metric("Segment", "psi", 0.25),
        metric("Segment", "l_infinity", 0.3),
        metric(None, "roc_auc", 0.6),
        metric("Const", "null_rate_change", 0.0),
    ]
    thresholds = {
        "psi": 0.2,
        "roc_auc": {"min": 0.65, "severity": "error"},
        "Amount": {"psi": {"max": 0.1, "severity": "error"}},
    }
    statuses = [(m.feature, m.metric, m.threshold, m.status) for m in monitoring.evaluate(metrics, thresholds)]
    assert statuses == [
        ("Amount", "psi", 0.1, "error"),
        ("Segment", "psi", 0.2, "warn"),
        ("Segment", "l_infinity", None, "ok"),
        (None, "roc_auc", 0.65, "error"),
        ("Const", "null_rate_change", None, "ok"),
    ]


@pytest.mark.parametrize(
    "thresholds, message",
    [
        ({"pis": 0.2}, "unknown feature or metric name 'pis' (did you mean 'psi'?)"),
        ({"Amount": {"psy": 0.1}}, "unknown feature or metric name 'psy'"),
        ({"Amonut": {"psi": 0.1}}, "unknown feature or metric name 'Amonut' (did you mean 'Amount'?)"),
        ({"pis": 0.2, "zzz": 1}, "unknown feature or metric names 'pis', 'zzz' (did you mean 'psi'?)"),
        ({"psi": "high"}, "threshold 'psi': expected a number"),
        ({"psi": {"max": 0.2, "severity": "page"}}, "threshold 'psi': expected"),
        ({"psi": {"max": 0.2, "min": 0.1}}, "threshold 'psi': expected"),
        ({"Amount": 0.1}, "threshold 'Amount': expected {metric: rule}"),
    ],
)
def test_bad_thresholds_name_the_key(thresholds, message):
    with pytest.raises(ProjectError) as error:
        monitoring.evaluate([metric("Amount", "psi", 0.1)], thresholds)
    assert message in str(error.value)


def test_bad_family_and_bins():
    with pytest.raises(ProjectError, match="family 'text' is not one of numeric, categorical"):
        monitoring.profile_query(table("T"), [("x", "text")])
    with pytest.raises(ProjectError, match="bins must be at least 1"):
        monitoring.profile_query(table("T"), [("x", "numeric")], bins=0)
    with pytest.raises(ProjectError, match="top_k must be at least 0, not -1"):
        monitoring.profile(None, table("T"), [("x", "categorical")], top_k=-1)


def test_empty_tables_divide_by_nothing(tmp_path):
    engine = connect(Target("m", "duckdb", {"path": "w.duckdb"}), tmp_path, 5.0)
    engine.create_schema("m")
    empty = pa.table({"X": pa.array([], type=pa.float64()), "C": pa.array([], type=pa.string())})
    engine.create_table_from_arrow(table("Empty"), empty)
    engine.create_table_from_arrow(table("T"), pa.table({"X": [1.0, 2.0, None], "C": ["a", None, "b"]}))
    features = [("X", "numeric"), ("C", "categorical")]
    # no rows: no NULL rate, so no rate change (it was reported as the training rate, 1/3)
    assert monitoring.drift(engine, table("Empty"), monitoring.profile(engine, table("T"), features)) == []
    baseline = monitoring.profile(engine, table("Empty"), features)
    assert [(f.rows, f.nulls, f.edges, f.counts, f.categories) for f in baseline.features] == [
        (0, 0, [], [0], []),
        (0, 0, [], [0], []),
    ]
    assert monitoring.drift(engine, table("T"), baseline) == []  # nor against a baseline without rows
    engine.close()


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake", "bigquery"])
def test_drift_query_is_one_statement_with_quoted_names_and_literal_values(dialect):
    import sqlglot

    evil = "a'); drop table x; --"
    profile = monitoring.Profile(10, 2, [
        monitoring.FeatureProfile("Mixed Case", "numeric", 10, 0, edges=[1e-300, 0.5]),
        monitoring.FeatureProfile("cat", "categorical", 10, 0, categories=[evil], counts=[5, 5]),
    ])
    sql = monitoring.drift_query(table("Scoring"), profile).sql(dialect=dialect, identify=True)
    statements = sqlglot.parse(sql, read=dialect)
    assert len(statements) == 1
    strings = {literal.this for literal in statements[0].find_all(exp.Literal) if literal.is_string}
    assert {evil, "1e-300", "0.5"} <= strings
    assert "Mixed Case" in {identifier.this for identifier in statements[0].find_all(exp.Identifier) if identifier.quoted}


def test_top_k_ties_break_in_byte_order_on_every_engine(engine):
    values = ["b", "B", "a", "é", "A", "b", "a"]  # a and b twice; B, A, é once
    engine.create_table_from_arrow(table("Ties"), pa.table({"V": values}))
    profile = monitoring.profile(engine, table("Ties"), [("V", "categorical")], top_k=3)
    assert profile.features[0].categories == ["a", "b", "A"]
    assert profile.features[0].counts == [2, 2, 1, 2]


def test_a_breached_min_reads_below_its_bound_and_a_realized_metric_names_no_feature():
    from toolkit.monitoring import watch

    judged = monitoring.evaluate([metric(None, "roc_auc", 0.9372), metric("x1", "psi", 0.5)],
                                 {"roc_auc": {"min": 0.99}, "psi": 0.2})
    assert [watch.breach_text(m) for m in judged] == ["roc_auc 0.9372 < 0.99", "x1 psi 0.5 > 0.2"]


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_latest_realized_metric_is_the_newest_scoring_runs(kind, tmp_path, request):
    """One run writes the realized metrics of every earlier scoring run whose labels arrived,
    all with its run_id: the newest scoring (scored_at) is the latest, not any of them."""
    from datetime import datetime

    from toolkit.monitoring import watch

    url = {"url": request.getfixturevalue("pg_url")} if kind == "postgres" else {"path": "w.duckdb"}
    state = connect(Target("monitoring", kind, url), tmp_path, 5.0)
    watch.ensure(state)
    rows = [("a", 1, 7, datetime(2024, 1, 1, 10), 0.98, "warn"), ("b", 1, 7, datetime(2024, 1, 2, 10), 1.0, "ok"),
            ("c", 1, 7, datetime(2024, 1, 1, 12), 0.97, "warn")]
    state.insert_rows(exp.table_("monitoring", db="toolkit"), [
        {"model": "m", "version": v, "run_id": r, "scored_at": at, "feature": None, "metric": "roc_auc", "value": value,
         "threshold": 0.99, "status": status, "env": "prod"} for _, v, r, at, value, status in rows])
    [latest] = watch.latest(state, "m")
    assert (latest["value"], latest["status"]) == (1.0, "ok")
