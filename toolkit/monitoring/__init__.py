"""Drift profiles and drift metrics computed in the warehouse, as sqlglot trees.

Contract (issue 13). Wired into model runs by watch.py (baselines, drift per scoring
run, thresholds -> toolkit.monitoring, `toolkit monitor`) and outcomes.py (realized
metrics once labels arrive):

Profile of a table (stored with a model version later), TWO queries, two passes:
  1. `profile_query`: one single-row aggregate: row count, per feature the non-NULL
     count (NaN counts as NULL: missing, as scikit-learn treats it); for numerics mean, POPULATION standard deviation (stddev_pop, ddof=0) of the
     finite values (NaN and infinities left out; values beyond 1e100 in magnitude
     aggregated scaled and combined exactly, so that no engine overflows) and
     the quantiles q = 0, 1/bins, ..., 1 of the finite values (quantile_cont /
     percentile_cont: linear interpolation, numpy.quantile's default method; where the
     engine's interpolation overflows, PostgreSQL's near +-1.7e308, those of x / 2
     doubled). Edges, low and high are therefore finite; an infinity is counted in the
     first or last bin, and at drift time as a value out of the (finite) training range.
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
  null_rate_change |NULL rate now - NULL rate at training|, every feature (NaN is NULL)
  out_of_range     share of a numeric's non-NULL values outside [training min, max]:
                   train/serve skew, from the same single pass
When either side has no non-NULL value the distribution metrics are not defined and
not emitted (null_rate_change shows the change). A table with no rows has no rates:
no metric is emitted for it. No metric divides by zero.

Thresholds (`evaluate`): {"psi": 0.2} is a maximum for every feature,
{"roc_auc": {"min": 0.65}} a minimum, {"feature_x": {"psi": 0.1}} a per-feature
override; a rule may add "severity": "warn" (default) | "error". A breach gets the
rule's severity as status, otherwise "ok". Names in thresholds that are neither a
known metric nor a feature raise ProjectError naming them (the caller adds file:line).

Engines: the functions that run SQL take anything with `fetch_rows(expression)` (an
engine adapter); it generates the tree in its dialect with every identifier quoted.
Values reach SQL only as literals. NaN is NULL (NULLIF(CAST(x AS DOUBLE), NaN)): the
NULL rate counts it; no bin, range or moment sees it.

Measured (tests/bench/bench_monitoring.py; 20 features: 15 numeric, 5 categorical;
2 shared cores at load 3.5-4.8, so absolute times are inflated):
  DuckDB 1M rows:  drift 2.3 s (1 query) | scan of the 20 columns 0.14 s |
                   CREATE TABLE AS SELECT * 3.6 s | profile 9.6 s (2 queries)
  DuckDB 10M rows: drift 25.4 s | scan 1.1 s | CTAS 33.7 s | profile 95.6 s
  PostgreSQL 1M:   drift 13.0 s | scan 0.41 s | CTAS 2.2 s | profile 13.3 s
The cost is the per-row bin CASE chains and the 20 grouping sets, not the reading:
drift is 0.65-0.75x a CTAS of the table on DuckDB and 6x on PostgreSQL, whose
planner cannot know a CASE has <= bins+1 values and sorts once per numeric set
(the single-row conditional-count shape measured 11.0 s there, no better).
"""

from toolkit.monitoring.metrics import (
    DRIFT_METRICS,
    EPSILON,
    drift,
    drift_metrics,
    js_distance,
    l_infinity,
    psi,
)
from toolkit.monitoring.profiles import (
    FAMILIES,
    FeatureProfile,
    Profile,
    counts_query,
    current_counts,
    drift_query,
    profile,
    profile_query,
)
from toolkit.monitoring.thresholds import SEVERITIES, Metric, evaluate

__all__ = [
    "DRIFT_METRICS", "EPSILON", "FAMILIES", "SEVERITIES", "FeatureProfile", "Metric", "Profile",
    "counts_query", "current_counts", "drift", "drift_metrics", "drift_query", "evaluate",
    "js_distance", "l_infinity", "profile", "profile_query", "psi",
]
