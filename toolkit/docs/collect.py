"""Everything the docs site shows, as one JSON-able document, from two places only: the
compiled project (steps, SQL, config, descriptions, column lineage) and the state in the
target's warehouse (runs, step runs, test results, the registry with each version's
evaluation, monitoring, and the catalog's column types). No file besides the project's
own is read, so a site built on any machine that can reach the target is the same.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlglot import exp

from toolkit import __version__, lineage, sql
from toolkit.docs import layout, plots
from toolkit.errors import ProjectError, did_you_mean, line_of

RUNS_SHOWN = 100  # run history rows
STEP_RUNS_SHOWN = 10  # last runs per step
MONITORING_RUNS = 50  # scoring runs per model in the drift plots


def collect(compiled, session) -> dict:
    state = session.state_engine
    present = set(state.relations("toolkit")) if state is not None else set()
    catalog = lineage.published_catalog(session.engine, compiled)
    graph = lineage.build(compiled, catalog={name: list(columns) for name, columns in catalog.items()})
    dialect = session.engine.dialect
    tests = _latest_tests(state) if "test_results" in present else {}
    step_runs = _step_runs(state) if "step_runs" in present else {}
    relations = {}
    for name, relation in graph.relations.items():
        relations[name] = _relation(compiled, graph, relation, catalog.get(name, {}), tests, step_runs, dialect)
    models = {name: _model(compiled, session.registry, state, name, step_runs, present) for name in compiled.project.models}
    nodes, edges = _dag(compiled, graph)
    return {
        "project": compiled.project.config.name,
        "target": session.target.name,
        "engine": session.target.engine,
        "built_at": datetime.now().isoformat(timespec="seconds"),
        "toolkit_version": __version__,
        "dag": {"nodes": nodes, "edges": edges, **_size(nodes)},
        "relations": relations,
        "models": models,
        "runs": _runs(state) if "runs" in present else [],
    }


def _size(nodes: list[dict]) -> dict:
    return {"width": max((n["x"] for n in nodes), default=0) + layout.NODE_WIDTH + 10,
            "height": max((n["y"] for n in nodes), default=0) + layout.NODE_HEIGHT + 10}


# -- the warehouse ----------------------------------------------------------------------


def _rows(engine, query: exp.Select) -> list[dict]:
    names = [e.alias_or_name for e in query.expressions]
    return [dict(zip(names, row)) for row in engine.fetch_rows(query)]


def _table(name: str) -> exp.Table:
    return exp.table_(name, db="toolkit")


def _latest_tests(state) -> dict[tuple[str, str], dict]:
    """(step, test label) -> its newest result."""
    ranked = exp.select("*", exp.Window(
        this=exp.RowNumber(), partition_by=[exp.column("step"), exp.column("test")],
        order=exp.Order(expressions=[exp.Ordered(this=exp.column("run_id"), desc=True)]),
    ).as_("newest")).from_(_table("test_results"))
    query = exp.select("step", "kind", "test", "severity", "status", "failing_rows", "run_id", "checked_at") \
        .from_(ranked.subquery("ranked")).where(exp.column("newest").eq(1))
    return {(r["step"], r["test"]): r for r in _rows(state, query)}


def _step_runs(state) -> dict[str, list[dict]]:
    ranked = exp.select("*", exp.Window(
        this=exp.RowNumber(), partition_by=[exp.column("step")],
        order=exp.Order(expressions=[exp.Ordered(this=exp.column("run_id"), desc=True)]),
    ).as_("newest")).from_(_table("step_runs"))
    query = (exp.select("step", "run_id", "action", "reason", "status", "rows_written", "started_at", "finished_at", "error", "details")
             .from_(ranked.subquery("ranked")).where(exp.column("newest") <= STEP_RUNS_SHOWN).order_by("step", exp.column("run_id").desc()))
    found: dict[str, list[dict]] = {}
    for row in _rows(state, query):
        row["seconds"] = _seconds(row.pop("started_at"), row.pop("finished_at"))
        found.setdefault(row["step"], []).append(row)
    return found


def _runs(state) -> list[dict]:
    query = (exp.select("run_id", "command", "status", "started_at", "finished_at", "host", "toolkit_version")
             .from_(_table("runs")).order_by(exp.column("run_id").desc()).limit(RUNS_SHOWN))
    runs = _rows(state, query)
    if not runs:
        return []
    counts = exp.select("run_id", "status", exp.func("count", exp.Star()).as_("steps"), exp.func("sum", exp.column("rows_written")).as_("rows")) \
        .from_(_table("step_runs")).where(exp.column("run_id") >= runs[-1]["run_id"]).group_by("run_id", "status")
    by_run: dict[int, dict] = {}
    for row in _rows(state, counts):
        by_run.setdefault(row["run_id"], {})[row["status"]] = int(row["steps"])
    for run in runs:
        run["seconds"] = _seconds(run["started_at"], run["finished_at"])
        run["steps"] = by_run.get(run["run_id"], {})
    return runs


def _seconds(start, end) -> float | None:
    return round((end - start).total_seconds(), 2) if isinstance(start, datetime) and isinstance(end, datetime) else None


# -- relations --------------------------------------------------------------------------


def _relation(compiled, graph, relation, types: dict, tests: dict, step_runs: dict, dialect: str) -> dict:
    project = compiled.project
    step = compiled.steps.get(relation.step) if relation.step else None
    described: dict[str, str] = {}
    out: dict[str, Any] = {"name": relation.name, "kind": relation.kind, "step": relation.step, "followed": relation.followed,
                           "inlined": relation.inlined}
    if step is None:  # a source
        source = next(s for s in project.sources.values() if f"{s.schema}.{s.table}".lower() == relation.name)
        described = {c.lower(): text for c, text in source.descriptions.items()}
        out.update(description=source.description, meta=source.meta, file=str(source.file) if source.file else None,
                   key=source.key, tests=[_test(t.label, tests.get((source.key, t.label))) for t in compiled.source_tests.get(source.key, [])])
        types = {**{c.lower(): t for c, t in source.columns.items()}, **types}
        tags = source.column_tags
    else:
        config = step.config
        described = _column_descriptions(step)
        out.update(description=config.get("description", ""), file=str(step.file), materialized=step.materialized,
                   tags=sorted(step.tags), meta=config.get("meta") or {}, upstream=step.upstream, sources=step.sources,
                   template=step.template, compiled=_compiled_sql(compiled, step, dialect),
                   tests=[_test(t.label, tests.get((step.name, t.label))) for t in step.data_tests],
                   runs=[_run_row(r) for r in step_runs.get(step.name, [])])
        tags = {c: list(t) for c, t in step.column_tags.items()}
        if step.kind == "model":
            out["description"] = _model_description(project.models[step.name])
            out["model"] = step.name
    out["columns"] = [
        {"name": c, "type": types.get(c.lower()), "description": described.get(c.lower(), ""),
         "tags": sorted(tags.get(c, [])),
         "upstream": [f"{r}.{n}" for r, n in graph.upstream_of(relation.name, c)],
         "downstream": [f"{r}.{n}" for r, n in graph.downstream_of(relation.name, c)]}
        for c in relation.columns
    ]
    return out


def _column_descriptions(step) -> dict[str, str]:
    """config(columns={"x": "what x means"}): each name must be an output column (exit 2)."""
    declared = step.config.get("columns") or {}
    if step.columns is not None:
        known = {c.lower() for c in step.columns}
        for name in declared:
            if name.lower() not in known:
                raise ProjectError(f"config columns: '{name}' is not an output column of {step.name}", step.file,
                                   line_of(step.template, name) or line_of(step.template, "columns"),
                                   hint=did_you_mean(name, step.columns))
    return {name.lower(): text for name, text in declared.items()}


def _compiled_sql(compiled, step, dialect: str) -> str | None:
    """The step's SQL reading every step under its published name, as `toolkit compile` shows it."""
    from toolkit.compiler import cast_types, with_published_names

    if step.tree is None:
        return None
    try:
        types = cast_types(compiled)(step, dialect)  # before the copy: it tags the casts the copy keeps
        return sql.pretty(sql.to_target(with_published_names(compiled, step.tree), compiled.dialect, dialect, types), dialect)
    except sql.SqlError as error:
        return f"-- does not compile for {dialect}: {error.message}"


def _test(label: str, result: dict | None) -> dict:
    out = {"test": label, "status": None}
    if result:
        out.update(status=result["status"], severity=result["severity"], failing_rows=result["failing_rows"],
                   run_id=result["run_id"], checked_at=result["checked_at"])
    return out


def _run_row(row: dict) -> dict:
    return {k: row[k] for k in ("run_id", "action", "reason", "status", "rows_written", "seconds", "error")}


# -- models -----------------------------------------------------------------------------


def _model(compiled, registry, state, name: str, step_runs: dict, present: set) -> dict:
    spec = compiled.project.models[name]
    declared = {k: getattr(spec, k) for k in ("training", "scoring_table", "label", "key", "split", "split_column",
                                               "test_fraction", "metrics", "gates", "promote", "scoring")}
    versions = registry.versions(name) if "model_versions" in present else []
    history = registry.history(name) if versions else []
    candidates = {}
    for row in step_runs.get(name, []):
        details = _json(row.get("details"))
        if details.get("trained") and details.get("candidates"):
            candidates.setdefault(details["version"], details["candidates"])
    production = next((v for v in reversed(versions) if v.status == "production"), None)
    since = next((c.changed_at for c in reversed(history) if production and c.version == production.version
                  and c.status == "production"), None)
    shown = []
    for version in reversed(versions):
        evaluation = version.evaluation or {}
        shown.append({
            "version": version.version, "status": version.status, "candidate": version.candidate,
            "created_at": version.created_at, "run_id": version.run_id, "metrics": version.metrics,
            "candidates": candidates.get(version.version, []), "evaluation": _summary(evaluation),
            "plots": _plots(evaluation), "features": [f.name for f in version.features],
            "scoring": "sql" if version.scoring_sql else "python", "sha256": version.sha256,
        })
    return {
        "name": name, "file": spec.file, "relation": f"predictions.{name}".lower(), "declared": declared,
        "description": _model_description(spec), "meta": spec.meta,
        "production": production.version if production else None, "production_since": since,
        "versions": shown,
        "history": [{"changed_at": c.changed_at, "version": c.version, "status": c.status, "action": c.action,
                     "actor": c.actor, "reason": c.reason, "run_id": c.run_id} for c in history],
        **(_monitoring(state, name) if "monitoring" in present else {"drift": [], "drift_plots": []}),
    }


def _model_description(spec) -> str:
    """@model(description=...), else the function's docstring, else its file's (read
    without importing the file)."""
    import ast
    from pathlib import Path

    if spec.description:
        return spec.description
    try:
        tree = ast.parse(Path(spec.path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return ""
    function = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == spec.name), None)
    return ((function and ast.get_docstring(function)) or ast.get_docstring(tree) or "").strip()


def _summary(evaluation: dict) -> dict:
    """What the card prints as text: the split, class balance, residuals, areas."""
    out = {k: evaluation[k] for k in ("split", "classes", "confusion", "residuals", "task", "error", "positive") if k in evaluation}
    for curve in ("roc", "pr"):
        if curve in evaluation:
            out[f"{curve}_auc"] = evaluation[curve].get("auc")
    return out


def _plots(evaluation: dict) -> dict[str, str]:
    out = {}
    if "roc" in evaluation:
        roc = evaluation["roc"]
        out["roc"] = plots.lines("roc-curve", f"ROC curve (AUC {roc['auc']:.3f})", [("ROC", roc["fpr"], roc["tpr"])],
                                 "false positive rate", "true positive rate", unit_square=True, diagonal=True)
    if "pr" in evaluation:
        pr = evaluation["pr"]
        out["pr"] = plots.lines("pr-curve", f"Precision-recall (AUC {pr['auc']:.3f})", [("PR", pr["recall"], pr["precision"])],
                                "recall", "precision", unit_square=True, reference=pr.get("base_rate"))
    if "calibration" in evaluation:
        cal = evaluation["calibration"]
        out["calibration"] = plots.lines("calibration-curve", "Calibration (10 quantile bins)", [("observed", cal["predicted"], cal["observed"])],
                                         "mean predicted probability", "observed rate", unit_square=True, diagonal=True, markers=True)
    if "confusion" in evaluation:
        out["confusion"] = plots.confusion(evaluation["confusion"]["labels"], evaluation["confusion"]["matrix"])
    if "points" in evaluation:
        points = evaluation["points"]
        out["predicted_vs_actual"] = plots.scatter("predicted-vs-actual", "Predicted vs actual (held-out sample)",
                                                   points["actual"], points["predicted"], "actual", "predicted")
    if "residuals" in evaluation and "histogram" in evaluation["residuals"]:
        histogram = evaluation["residuals"]["histogram"]
        out["residuals"] = plots.bars("residuals", "Residuals (actual - predicted)", histogram["edges"], histogram["counts"], "residual", "rows")
    if "importances" in evaluation:
        found = evaluation["importances"]
        out["importances"] = plots.bars("importances", f"Feature importances ({found['kind']})", found["names"], found["values"],
                                        "importance", "", horizontal=True)
    return out


def _monitoring(state, model: str) -> dict:
    """The latest value of every (feature, metric), and plots over the last scoring runs:
    drift (PSI) of the features that drifted most, and realized performance. Prod's runs
    only: the site documents what is published, not what a dev run scored."""
    from toolkit.monitoring.watch import PROD, in_env, records_env

    prod = in_env(PROD, records_env(state))
    recent = exp.select("run_id").distinct().from_(_table("monitoring")).where(exp.column("model").eq(exp.Literal.string(model))) \
        .where(prod.copy()).order_by(exp.column("run_id").desc()).limit(MONITORING_RUNS)
    query = (exp.select("version", "run_id", "scored_at", "feature", "metric", "value", "threshold", "status").from_(_table("monitoring"))
             .where(exp.column("model").eq(exp.Literal.string(model))).where(prod)
             .where(exp.column("run_id").isin(recent.subquery())).order_by("run_id"))
    rows = _rows(state, query)
    latest: dict[tuple, dict] = {}
    for row in rows:
        latest[(row["feature"], row["metric"])] = row
    series: dict[tuple, list] = {}
    runs = sorted({r["run_id"] for r in rows})
    for row in rows:
        series.setdefault((row["feature"], row["metric"]), []).append((runs.index(row["run_id"]), row["value"]))
    figures = []
    for metric, title in (("psi", "Drift: PSI against the first scoring"), ("training_psi", "Skew: PSI against training")):
        keyed = sorted(((f, s) for (f, m), s in series.items() if m == metric and f), key=lambda item: -max(v for _, v in item[1]))[:5]
        if keyed and len(runs) > 1:
            figures.append(plots.lines(f"drift-{metric}", title, [(f, [x for x, _ in s], [v for _, v in s]) for f, s in keyed],
                                       f"scoring run (of the last {len(runs)})", metric, markers=True))
    realized = [(m, s) for (f, m), s in series.items() if not f and m not in ("psi", "training_psi")]
    if realized and len(runs) > 1:
        figures.append(plots.lines("realized", "Realized performance", [(m, [x for x, _ in s], [v for _, v in s]) for m, s in realized[:5]],
                                   "scoring run", "value", markers=True))
    drift = sorted(latest.values(), key=lambda r: (r["status"] == "ok", str(r["feature"]), r["metric"]))
    return {"drift": drift, "drift_plots": figures, "scoring_runs": len(runs)}


def _json(value) -> dict:
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value) if value else {}
    except (TypeError, ValueError):
        return {}


# -- the DAG ----------------------------------------------------------------------------


def _dag(compiled, graph) -> tuple[list[dict], list[list[str]]]:
    """One node per source table and per step (seed, feature, model), laid out at build time."""
    ids: list[str] = [name for name, r in graph.relations.items() if r.kind == "source"]
    source_of_key = {s.key: f"{s.schema}.{s.table}".lower() for s in compiled.project.sources.values()}
    relation_of = {name: lineage.graph_name(step) for name, step in compiled.steps.items()}  # as the graph names it
    edges: list[tuple[str, str]] = []
    for name in compiled.dag.order():
        step = compiled.steps[name]
        ids.append(relation_of[name])
        edges += [(relation_of[u], relation_of[name]) for u in step.upstream]
        edges += [(source_of_key[s], relation_of[name]) for s in step.sources if s in source_of_key]
    placed, _, _ = layout.layout(ids, edges)
    nodes = []
    for node in ids:
        relation = graph.relations[node]
        label = relation.step if relation.step else node
        nodes.append({"id": node, "label": label, "kind": relation.kind, "step": relation.step,
                      "x": placed[node][0], "y": placed[node][1]})
    return nodes, [list(e) for e in edges]


def to_json(document: dict) -> str:
    def default(value):
        if isinstance(value, (datetime, date)):
            return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else value.isoformat()
        return str(value)

    return json.dumps(document, default=default, separators=(",", ":"))
