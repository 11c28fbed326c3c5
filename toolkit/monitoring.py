"""Drift profiles and drift metrics computed in the warehouse, as sqlglot trees.

Contract (issue 13, first building block; not yet wired into runs or the CLI):

Profile of a table (stored with a model version later), TWO queries, two passes:
  1. `profile_query`: one single-row aggregate: row count, per feature the non-NULL
     count; for numerics mean, POPULATION standard deviation (stddev_pop, ddof=0) and
     the quantiles q = 0, 1/bins, ..., 1 (quantile_cont / percentile_cont: linear
     interpolation, numpy.quantile's default method).
  2. `counts_query` with the edges from 1: per feature a key (a numeric's bin index,
     a categorical's value as text) and GROUPING SETS ((), (key1), (key2), ...) over
     one scan; categoricals cut to their top `top_k` values in SQL (row_number()).

Bins: the edges of a numeric feature are the sorted UNIQUE interior quantiles
q(1/bins) .. q((bins-1)/bins) of the non-NULL values (ties and constant columns
collapse them; a constant column c gets edges [c, the next double after c], three
bins: below, equal, above). Bin j holds
edges[j-1] <= x < edges[j] (bin 0 everything below the first edge, the last bin
everything at or above the last one): numpy.searchsorted(edges, x, side="right").
Values are compared as DOUBLE; edges reach SQL as CAST('<repr>' AS DOUBLE), exact.

Categories: values compared as TEXT (CAST(c AS TEXT)); the top `top_k` non-NULL
values by count, ties broken by the value in byte order (COLLATE "C"); every other
value, and at drift time every value unseen at training, counts as "other".

Drift of a scoring table against a profile: `drift_query`, ONE query, one scan: the
same GROUPING SETS with keys the bin index (CASE WHEN x < e1 THEN 0 ... ELSE m END)
and the category index (CASE value WHEN top1 THEN 0 ... ELSE k END: "other"); at
most sum(bins + 2) small rows come back. (A single-row aggregate of conditional
counts, count(CASE WHEN x < e THEN 1 END) per edge, measured twice as slow on DuckDB.)

Metrics (`drift_metrics`), frequencies over the non-NULL values, p = baseline,
q = current:
  psi              sum_i (q_i - p_i) * ln(q_i / p_i), every frequency 0 replaced by
                   EPSILON = 1e-6 (no renormalisation), numerics and categoricals
  js_distance      sqrt(JSD(p, q)) with log base 2 ==
                   scipy.spatial.distance.jensenshannon(p, q, base=2), numerics
  l_infinity       max_i |p_i - q_i| over the top values and "other" (as BigQuery
                   ML's VALIDATE_DATA_DRIFT), categoricals
  null_rate_change |NULL rate now - NULL rate at training|, every feature
When either side has no non-NULL value the distribution metrics are not defined and
not emitted (null_rate_change shows the change). No metric divides by zero.

Thresholds (`evaluate`): {"psi": 0.2} is a maximum for every feature,
{"roc_auc": {"min": 0.65}} a minimum, {"feature_x": {"psi": 0.1}} a per-feature
override; a rule may add "severity": "warn" (default) | "error". A breach gets the
rule's severity as status, otherwise "ok".
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from sqlglot import exp

from toolkit.errors import ProjectError, did_you_mean

EPSILON = 1e-6
FAMILIES = ("numeric", "categorical")
DRIFT_METRICS = ("psi", "js_distance", "l_infinity", "null_rate_change")
SEVERITIES = ("warn", "error")


@dataclass(frozen=True)
class FeatureProfile:
    name: str
    family: str
    rows: int
    nulls: int
    mean: float | None = None
    std: float | None = None
    edges: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # per bin, or per category then "other"
    categories: list[str] = field(default_factory=list)

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class Profile:
    bins: int
    top_k: int
    features: list[FeatureProfile]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Profile:
        data = json.loads(text)
        return cls(data["bins"], data["top_k"], [FeatureProfile(**f) for f in data["features"]])


@dataclass(frozen=True)
class Metric:
    """One row of toolkit.monitoring."""

    model: str
    version: int | None
    run_id: int | None
    scored_at: datetime | None
    feature: str | None
    metric: str
    value: float
    threshold: float | None = None
    status: str = "ok"


# -- SQL ------------------------------------------------------------------------------


def _double(name: str) -> exp.Expression:
    return exp.cast(exp.column(name, quoted=True), "double")


def _text(name: str) -> exp.Expression:
    return exp.cast(exp.column(name, quoted=True), "text")


def _edge(value: float) -> exp.Expression:
    return exp.cast(exp.Literal.string(repr(float(value))), "double")


def _check_features(features) -> list[tuple[str, str]]:
    features = [(str(name), str(family)) for name, family in features]
    for name, family in features:
        if family not in FAMILIES:
            raise ProjectError(f"feature '{name}': family '{family}' is not one of {', '.join(FAMILIES)}")
    return features


def profile_query(table: exp.Table, features, bins: int = 10) -> exp.Select:
    """Pass 1, one row: count(*), then per feature count(x) and, for numerics,
    avg, stddev_pop and the bins+1 quantiles (a list)."""
    if bins < 1:
        raise ProjectError(f"bins must be at least 1, not {bins}")
    quantiles = exp.Array(expressions=[exp.Literal.number(i / bins) for i in range(bins + 1)])
    columns: list[exp.Expression] = [exp.Count(this=exp.Star())]
    for name, family in _check_features(features):
        columns.append(exp.Count(this=exp.column(name, quoted=True)))
        if family == "numeric":
            columns += [
                exp.Avg(this=_double(name)),
                exp.StddevPop(this=_double(name)),
                exp.PercentileCont(this=_double(name), expression=quantiles.copy()),
            ]
    return _aliased(exp.select(*columns).from_(table.copy()))


def _aliased(select: exp.Select) -> exp.Select:
    """Positional aliases c0, c1, ...: feature names may exceed identifier limits."""
    select.set("expressions", [exp.alias_(e, f"c{i}") for i, e in enumerate(select.expressions)])
    return select


def _null_or(column: exp.Expression, otherwise: exp.Expression) -> exp.Expression:
    return exp.Case(ifs=[exp.If(this=column.copy().is_(exp.null()), true=exp.null())], default=otherwise)


def _bin_index(feature: FeatureProfile) -> exp.Expression:
    """NULL, or the bin of x: CASE WHEN x < e1 THEN 0 WHEN x < e2 THEN 1 ... ELSE m END."""
    x = _double(feature.name)
    ifs = [exp.If(this=exp.LT(this=x.copy(), expression=_edge(e)), true=exp.Literal.number(j)) for j, e in enumerate(feature.edges)]
    chain = exp.Case(ifs=ifs, default=exp.Literal.number(len(feature.edges))) if ifs else exp.Literal.number(0)
    return _null_or(x, chain)


def _category_index(feature: FeatureProfile) -> exp.Expression:
    """NULL, the position of the value among the profile's top values, or k ("other")."""
    value = _text(feature.name)
    ifs = [exp.If(this=exp.Literal.string(c), true=exp.Literal.number(j)) for j, c in enumerate(feature.categories)]
    other = exp.Literal.number(len(feature.categories))
    return _null_or(value, exp.Case(this=value.copy(), ifs=ifs, default=other) if ifs else other)


def _grouped(table: exp.Table, keys: list[exp.Expression]) -> exp.Select:
    """(fid, value, cnt) rows: GROUPING SETS ((), (key0), (key1), ...) over one scan;
    fid -1 is the () row (count(*)), fid i the groups of key i (value NULL: its NULLs)."""
    names = [f"_tk_k{i}" for i in range(len(keys))]
    inner = exp.select(*(exp.alias_(k, n) for k, n in zip(keys, names))).from_(table.copy())
    zero = exp.Literal.number(0)
    ifs = [exp.If(this=exp.func("grouping", exp.column(n)).eq(zero), true=exp.Literal.number(i)) for i, n in enumerate(names)]
    fid = exp.Case(ifs=ifs, default=exp.Literal.number(-1)) if ifs else exp.Literal.number(-1)
    value = exp.func("coalesce", *(exp.column(n) for n in names)) if names else exp.null()
    grouped = exp.select(exp.alias_(fid, "fid"), exp.alias_(value, "value"), exp.alias_(exp.Count(this=exp.Star()), "cnt"))
    grouped = grouped.from_(inner.subquery("t"))
    sets = [exp.Tuple(expressions=[])] + [exp.Tuple(expressions=[exp.column(n)]) for n in names]
    grouped.set("group", exp.Group(grouping_sets=[exp.GroupingSets(expressions=sets)]))
    return grouped


def drift_query(table: exp.Table, baseline: Profile) -> exp.Select:
    """ONE pass: (fid, value, cnt) with value the bin / category index (see _grouped)."""
    keys = [_bin_index(f) if f.family == "numeric" else _category_index(f) for f in baseline.features]
    return _grouped(table, keys)


def counts_query(table: exp.Table, stats: Profile) -> exp.Select:
    """Pass 2 of a profile: (fid, value, cnt) with numeric bin indexes and categorical
    values as text; per categorical only its top_k non-NULL values by count."""
    keys = [exp.cast(_bin_index(f), "text") if f.family == "numeric" else _text(f.name) for f in stats.features]
    order = exp.Order(
        expressions=[
            exp.Ordered(this=exp.column("cnt"), desc=True),
            exp.Ordered(this=exp.Collate(this=exp.column("value"), expression=exp.to_identifier("C", quoted=True))),
        ]
    )
    rank = exp.Window(this=exp.func("row_number"), partition_by=[exp.column("fid")], order=order)
    # NULL groups are dropped before ranking (NULL counts come from pass 1)
    ranked = exp.select("*", exp.alias_(rank, "rn")).from_(_grouped(table, keys).subquery("g"))
    ranked = ranked.where(exp.column("value").is_(exp.null()).not_())
    numeric = [exp.Literal.number(i) for i, f in enumerate(stats.features) if f.family == "numeric"]
    keep = exp.column("rn") <= stats.top_k
    if numeric:
        keep = exp.or_(exp.column("fid").isin(*numeric), keep)
    return exp.select("fid", "value", "cnt").from_(ranked.subquery("r")).where(keep)


# -- running them ---------------------------------------------------------------------


def _by_feature(rows) -> dict[int, dict]:
    """fid -> {value: count} from (fid, value, cnt) rows."""
    out: dict[int, dict] = {}
    for fid, value, count in rows:
        out.setdefault(int(fid), {})[value] = int(count)
    return out


def profile(engine, table: exp.Table, features, bins: int = 10, top_k: int = 20) -> Profile:
    """Two queries on `engine` (anything with fetch_rows(expression)): a Profile."""
    features = _check_features(features)
    row = list(engine.fetch_rows(profile_query(table, features, bins))[0])
    rows = int(row.pop(0))
    stats = []
    for name, family in features:
        nonnull = int(row.pop(0))
        if family == "numeric":
            mean, std, quantiles = row.pop(0), row.pop(0), row.pop(0)
            edges = _edges([float(q) for q in quantiles]) if nonnull else []
            stats.append(FeatureProfile(name, family, rows, rows - nonnull, _float(mean), _float(std), edges))
        else:
            stats.append(FeatureProfile(name, family, rows, rows - nonnull))
    groups = _by_feature(engine.fetch_rows(counts_query(table, Profile(bins, top_k, stats))))
    done = []
    for i, feature in enumerate(stats):
        found = groups.get(i, {})
        if feature.family == "numeric":
            counts = [found.get(str(j), 0) for j in range(len(feature.edges) + 1)]
            done.append(replace(feature, counts=counts))
        else:
            top = sorted(found.items(), key=lambda vc: (-vc[1], vc[0].encode()))[:top_k]
            counts = [c for _, c in top]
            other = feature.rows - feature.nulls - sum(counts)
            done.append(replace(feature, categories=[v for v, _ in top], counts=counts + [other]))
    return Profile(bins, top_k, done)


def _edges(quantiles: list[float]) -> list[float]:
    """Unique interior quantiles; a constant column c gets [c, next double after c] so
    that a later move either way leaves its one bin."""
    low, high = quantiles[0], quantiles[-1]
    if low == high:
        return [low, math.nextafter(low, math.inf)]
    return sorted(set(quantiles[1:-1]))


def _float(value) -> float | None:
    return None if value is None else float(value)


def current_counts(engine, table: exp.Table, baseline: Profile) -> tuple[int, list[tuple[int, list[int]]]]:
    """ONE query: rows of `table`, and per baseline feature (nulls, counts per bin/category+other)."""
    groups = _by_feature(engine.fetch_rows(drift_query(table, baseline)))
    rows = groups[-1][None]
    result = []
    for i, feature in enumerate(baseline.features):
        found = groups.get(i, {})
        width = len(feature.edges) + 1 if feature.family == "numeric" else len(feature.categories) + 1
        result.append((found.get(None, 0), [found.get(j, 0) for j in range(width)]))
    return rows, result



# -- metrics --------------------------------------------------------------------------


def _frequencies(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts]


def psi(baseline: list[int], current: list[int]) -> float:
    p = [f if f > 0 else EPSILON for f in _frequencies(baseline)]
    q = [f if f > 0 else EPSILON for f in _frequencies(current)]
    return sum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q))


def js_distance(baseline: list[int], current: list[int]) -> float:
    p, q = _frequencies(baseline), _frequencies(current)
    divergence = 0.0
    for pi, qi in zip(p, q):
        mi = (pi + qi) / 2
        divergence += sum(0.5 * a * math.log(a / mi) for a in (pi, qi) if a > 0)
    return math.sqrt(max(divergence / math.log(2), 0.0))


def l_infinity(baseline: list[int], current: list[int]) -> float:
    return max(abs(pi - qi) for pi, qi in zip(_frequencies(baseline), _frequencies(current)))


def drift_metrics(baseline: Profile, rows: int, current: list[tuple[int, list[int]]]) -> list[tuple[str, str, float]]:
    """(feature, metric, value) for every feature of `baseline`, from current_counts()."""
    out = []
    for feature, (nulls, counts) in zip(baseline.features, current):
        rate = nulls / rows if rows else 0.0
        out.append((feature.name, "null_rate_change", abs(rate - feature.null_rate)))
        if not sum(feature.counts) or not sum(counts):
            continue
        out.append((feature.name, "psi", psi(feature.counts, counts)))
        if feature.family == "numeric":
            out.append((feature.name, "js_distance", js_distance(feature.counts, counts)))
        else:
            out.append((feature.name, "l_infinity", l_infinity(feature.counts, counts)))
    return out


def drift(engine, table: exp.Table, baseline: Profile) -> list[tuple[str, str, float]]:
    """Drift metrics of `table` against `baseline`: one query."""
    rows, counts = current_counts(engine, table, baseline)
    return drift_metrics(baseline, rows, counts)


# -- thresholds -----------------------------------------------------------------------


def _rule(where: str, rule) -> tuple[float, str, str]:
    """-> (bound, "max" | "min", severity)."""
    if isinstance(rule, (int, float)) and not isinstance(rule, bool):
        return float(rule), "max", "warn"
    if isinstance(rule, dict):
        unknown = set(rule) - {"max", "min", "severity"}
        kinds = [k for k in ("max", "min") if k in rule]
        severity = rule.get("severity", "warn")
        if not unknown and len(kinds) == 1 and severity in SEVERITIES:
            bound = rule[kinds[0]]
            if isinstance(bound, (int, float)) and not isinstance(bound, bool):
                return float(bound), kinds[0], severity
    raise ProjectError(
        f"threshold {where}: expected a number or {{'max'|'min': number, 'severity': 'warn'|'error'}}, got {rule!r}"
    )


def _unknown(name: str, candidates) -> ProjectError:
    hint = did_you_mean(name, candidates)
    return ProjectError(f"thresholds: unknown feature or metric '{name}'", hint=hint)


def evaluate(metrics: list[Metric], thresholds: dict, features=(), metric_names=()) -> list[Metric]:
    """`metrics` with threshold and status set. Known names: those in `metrics`, the drift
    metrics, `features` and `metric_names`; any other key of `thresholds` is a ProjectError."""
    known_metrics = set(DRIFT_METRICS) | set(metric_names) | {m.metric for m in metrics}
    known_features = set(features) | {m.feature for m in metrics if m.feature is not None}
    defaults, overrides = {}, {}
    for key, rule in thresholds.items():
        if key in known_metrics:
            defaults[key] = _rule(f"'{key}'", rule)
        elif key in known_features:
            if not isinstance(rule, dict):
                raise ProjectError(f"threshold '{key}': expected {{metric: rule}} for a feature, got {rule!r}")
            for metric, sub in rule.items():
                if metric not in known_metrics:
                    raise _unknown(metric, known_metrics)
                overrides[(key, metric)] = _rule(f"'{key}.{metric}'", sub)
        else:
            raise _unknown(key, known_metrics | known_features)
    out = []
    for m in metrics:
        rule = overrides.get((m.feature, m.metric)) or defaults.get(m.metric)
        if rule is None:
            out.append(replace(m, threshold=None, status="ok"))
            continue
        bound, kind, severity = rule
        breach = m.value > bound if kind == "max" else m.value < bound
        out.append(replace(m, threshold=bound, status=severity if breach else "ok"))
    return out
