"""Monitoring rows and thresholds: a value against a max or min bound -> ok | warn | error."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from toolkit.errors import ProjectError, did_you_mean
from toolkit.monitoring.metrics import DRIFT_METRICS

SEVERITIES = ("warn", "error")


@dataclass(frozen=True)
class Metric:
    """One row of the toolkit.monitoring table (written by the caller)."""

    model: str
    version: int | None
    run_id: int | None
    scored_at: datetime | None
    feature: str | None
    metric: str
    value: float
    threshold: float | None = None
    status: str = "ok"
    env: str | None = None  # the environment whose run scored (watch.py writes it; NULL read as prod)


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


def _check_names(names: list[str], candidates) -> None:
    unknown = [n for n in names if n not in candidates]
    if unknown:
        listed = ", ".join(f"'{n}'" for n in unknown)
        plural = "s" if len(unknown) > 1 else ""
        hints = [h for h in (did_you_mean(n, candidates) for n in unknown) if h]
        raise ProjectError(f"thresholds: unknown feature or metric name{plural} {listed}", hint="; ".join(hints) or None)


def evaluate(metrics: list[Metric], thresholds: dict, features=(), metric_names=()) -> list[Metric]:
    """`metrics` with threshold and status set. Known names: those in `metrics`, the drift
    metrics, `features` and `metric_names`; any other key of `thresholds` is a ProjectError."""
    known_metrics = set(DRIFT_METRICS) | set(metric_names) | {m.metric for m in metrics}
    known_features = set(features) | {m.feature for m in metrics if m.feature is not None}
    _check_names(list(thresholds), known_metrics | known_features)
    nested = [m for k, r in thresholds.items() if k not in known_metrics and isinstance(r, dict) for m in r]
    _check_names(nested, known_metrics)
    defaults, overrides = {}, {}
    for key, rule in thresholds.items():
        if key in known_metrics:
            defaults[key] = _rule(f"'{key}'", rule)
        elif not isinstance(rule, dict):
            raise ProjectError(f"threshold '{key}': expected {{metric: rule}} for a feature, got {rule!r}")
        else:
            for metric, sub in rule.items():
                overrides[(key, metric)] = _rule(f"'{key}.{metric}'", sub)
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
