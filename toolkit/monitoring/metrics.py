"""Drift metrics from counts: PSI, Jensen-Shannon distance, L-infinity, NULL-rate change."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from toolkit.monitoring.profiles import Profile, current_counts_and_range

if TYPE_CHECKING:  # an annotation only: this module builds no SQL
    from sqlglot import exp

EPSILON = 1e-6
DRIFT_METRICS = ("psi", "js_distance", "l_infinity", "null_rate_change", "out_of_range", "training_psi")


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
    """(feature, metric, value) for every feature of `baseline`, from current_counts();
    none when the table or the baseline has no rows (no rate to compare: nothing changed)."""
    out = []
    if not rows:
        return out
    for feature, (nulls, counts) in zip(baseline.features, current):
        if not feature.rows:
            continue
        out.append((feature.name, "null_rate_change", abs(nulls / rows - feature.null_rate)))
        if not sum(feature.counts) or not sum(counts):
            continue
        out.append((feature.name, "psi", psi(feature.counts, counts)))
        if feature.family == "numeric":
            out.append((feature.name, "js_distance", js_distance(feature.counts, counts)))
        else:
            out.append((feature.name, "l_infinity", l_infinity(feature.counts, counts)))
    return out


def drift(engine, table: exp.Table, baseline: Profile) -> list[tuple[str, str, float]]:
    """Drift metrics of `table` against `baseline`, and the train/serve skew of each
    numeric (out_of_range: the share of its non-NULL, non-NaN values outside the
    training range): one query."""
    rows, counts, outside = current_counts_and_range(engine, table, baseline)
    found = drift_metrics(baseline, rows, counts)
    for feature, (nulls, _), out in zip(baseline.features, counts, outside):
        if out is not None and rows - nulls:
            found.append((feature.name, "out_of_range", out / (rows - nulls)))
    return found
