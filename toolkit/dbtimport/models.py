"""dbt models -> feature steps: features/<same folders>/<model>.sql, Jinja kept as is.

Each step gets one config() with what dbt would apply (dbt_project.yml tree, property
file, the model's own config()), written with toolkit's keys: materialized (dbt's
default is view), unique_key, incremental_strategy, tags, description, and the data
tests from the property files. Keys toolkit does not accept are left out and
reported; keys a newer toolkit accepts (stepconfig.CONFIG_KEYS) pass through.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.dbtimport import configs, varuse
from toolkit.dbtimport.configs import Raw, merge, normal
from toolkit.dbtimport.sourcecalls import SourceCalls, report_undeclared, rewrite_sources
from toolkit.dbtimport.testmap import Context, Target, add_test
from toolkit.stepconfig import CONFIG_KEYS

try:
    from toolkit.stepconfig import REFUSED
except ImportError:  # a toolkit without dbt's refused keys
    REFUSED = {}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REFS = re.compile(r"""\bref\(\s*(['"])(\w+)\1(?:\s*,\s*(['"])(\w+)\3)?""")
# Calls that query the warehouse while dbt renders; toolkit renders without a connection.
_INTROSPECTION = re.compile(r"\b(run_query|statement|get_column_values|get_query_results_as_dict|get_single_value|"
                            r"get_relations_by_pattern|get_relations_by_prefix|get_filtered_columns_in_relation|"
                            r"get_columns_in_relation|get_relation|load_result)\s*\(")
_MATERIALIZED = {"table": "table", "view": "view", "incremental": "incremental", "ephemeral": "ephemeral",
                 "materialized_view": "table", "dynamic_table": "table"}
_OWN = {"materialized", "unique_key", "incremental_strategy", "tags", "description", "tests", "table_tests"}
WHY = {
    "schema": "toolkit publishes every step in the features schema", "alias": "a step's table is named after its file",
    "database": "toolkit builds in the target's database", "pre_hook": "hooks are not run",
    "meta": "metadata is not carried", "docs": "docs settings are not carried", "persist_docs": "descriptions stay in the project",
    "grants": "toolkit grants nothing", "contract": "toolkit checks columns at compile time, not contracts",
    "full_refresh": "--full-refresh applies to every selected step", "sql_header": "a step is one SELECT",
    "enabled": "a Jinja condition: the model was converted as enabled",
    "on_schema_change": "toolkit rebuilds an incremental step whose definition changed",
}


@dataclass
class Model:
    name: str
    source: Path
    out: Path  # relative to the toolkit project
    text: str
    config: dict[str, Any]
    calls: list
    entry: dict = field(default_factory=dict)  # its property-file entry
    file: str = ""  # the property file
    reads: set[str] = field(default_factory=set)
    target: Target | None = None


def read_models(project, report, unconverted) -> dict[str, Model]:
    properties = {e["name"]: (f, e) for f, e in project.entries("models") if isinstance(e.get("name"), str)}
    models: dict[str, Model] = {}
    for folder in project.folders("model"):
        for path in sorted(folder.rglob("*")):
            relative, parts = project.relative(path), path.relative_to(folder).parts
            if not path.is_file() or path.suffix.lower() in (".yml", ".yaml", ".md") or path.name.startswith("."):
                continue
            if path.suffix.lower() != ".sql":
                why = "a Python model: toolkit feature steps are SQL (or ibis expressions)" if path.suffix == ".py" else "not a SQL model"
                report.skip("model", path.name, relative, why)
                unconverted(path)
                continue
            name = path.stem
            if not _NAME.match(name) or name.lower() in {m.lower() for m in models}:
                report.skip("model", name, relative, "not a valid step name" if not _NAME.match(name) else "a second model of this name")
                continue
            text = path.read_text(encoding="utf-8-sig", errors="replace")
            file, entry = properties.pop(name, ("", {}))
            config = configs.tree_config(project.config.get("models"), project.name, [*parts[:-1], name])
            config = merge(config, {normal(k): v for k, v in (entry.get("config") or {}).items()})
            conditional = configs.conditional_lines(text)
            if conditional:
                report.skip("model", name, f"{relative}:{conditional[0]}",
                            "config() inside a Jinja block applies only when its branch renders (e.g. per target); a step has "
                            "one config, so this model is not converted: write the config the toolkit target needs (kept in dbt_unconverted/)")
                unconverted(path)
                continue
            calls = configs.find_calls(text)
            for call in calls:
                config = merge(config, call.values or {})
            if config.get("enabled") is False:
                report.skip("model", name, relative, "disabled in dbt (enabled: false)")
                continue
            if entry.get("versions"):
                report.skip("model", f"versions of {name}", file, "model versions are not supported: only the latest file is a step")
            report_introspection(text, relative, report)
            reads = {m.group(4) or m.group(2) for m in _REFS.finditer(text)}
            models[name] = Model(name, path, Path("features", *parts), text, config, calls, entry, file, reads)
    for name, (file, _) in properties.items():
        report.skip("model properties", name, file, "no SQL model of this name was converted")
    return models


def report_introspection(text: str, relative: str, report) -> None:
    """Each call that queries the warehouse while rendering, at its line: dbt runs it (under
    `{% if execute %}`), toolkit cannot, so the converted step stops `toolkit compile` there."""
    for match in _INTROSPECTION.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        report.skip("model", f"{match.group(1)}()", f"{relative}:{line}",
                    "queries the warehouse while rendering; toolkit renders without a connection, so the step is "
                    "exit 2 at this line: write the values out")


def reads_fn(models: dict[str, Model]):
    """reads(a, b): whether model a reads model b, directly or through others."""
    memo: dict[str, set[str]] = {}

    def upstream(name: str) -> set[str]:
        if name not in memo:
            memo[name] = set()
            found = set()
            for parent in models[name].reads if name in models else ():
                found |= {parent} | upstream(parent)
            memo[name] = found
        return memo[name]

    return lambda a, b: b in upstream(a)


def add_model_tests(models: dict[str, Model], ctx: Context) -> None:
    for model in models.values():
        model.target = Target("model", model.name, model.file or model.source.name)
        entry = model.entry
        if model.config.get("materialized") == "ephemeral" and _declares_tests(entry):
            ctx.report.skip("test", f"tests of {model.name}", model.file, "an ephemeral step is never built, so it is never tested")
            continue
        for spec in entry.get("data_tests") or entry.get("tests") or []:
            add_test(ctx, model.target, spec, None)
        for column in entry.get("columns") or []:
            if isinstance(column, dict) and isinstance(column.get("name"), str):
                for spec in column.get("data_tests") or column.get("tests") or []:
                    add_test(ctx, model.target, spec, column["name"], column.get("quote") is True)


def _declares_tests(entry: dict) -> bool:
    columns = [c for c in entry.get("columns") or [] if isinstance(c, dict)]
    return bool(entry.get("data_tests") or entry.get("tests") or any(c.get("data_tests") or c.get("tests") for c in columns))


def step_config(model: Model, report, description: str, dialect: str = "duckdb") -> dict[str, Any]:
    """The toolkit config() of a model (`dialect`: the one its SQL is read in)."""
    config = model.config
    out: dict[str, Any] = {}
    materialized = config.get("materialized", "view")
    if isinstance(materialized, Raw):
        out["materialized"] = materialized
    else:
        out["materialized"] = _MATERIALIZED.get(str(materialized), "table")
        if str(materialized) not in _MATERIALIZED or _MATERIALIZED[str(materialized)] != materialized:
            report.skip("materialization", str(materialized), model.name, "built as a table")
    key = config.get("unique_key")
    strategy = config.get("incremental_strategy")
    if out["materialized"] == "incremental":
        if key is not None and not isinstance(key, Raw) and not all(isinstance(k, str) and _NAME.match(k) for k in configs._list(key)):
            report.skip("config", f"unique_key {key!r}", model.name, "toolkit merges on output columns, not expressions: built as a table")
            out["materialized"], key, strategy = "table", None, None
        elif strategy is not None and strategy not in ("merge", "delete+insert", "append"):
            report.skip("config", f"incremental_strategy {strategy}", model.name, "merge with unique_key, else append")
            strategy = None
        if out["materialized"] == "incremental":
            if key is not None:
                out["unique_key"] = key
            if strategy is not None:
                out["incremental_strategy"] = strategy
            elif key is None:
                out["incremental_strategy"] = "append"  # dbt's default without a unique_key
    tags = config.get("tags")
    if tags:
        out["tags"] = tags if isinstance(tags, Raw) else [str(t) for t in configs._list(tags)]
    if description:
        out["description"] = description
    target = model.target  # an ephemeral model has none (add_model_tests reports them)
    if target:
        if target.columns:
            out["tests"] = target.columns
        if target.table:
            out["table_tests"] = target.table
    for key, value in config.items():
        if key in _OWN or key in ("column_types",) or (key == "enabled" and value is True):
            continue
        if key == "post_hook":
            kept = post_hooks(value, dialect, out["materialized"], model.name, report)
            if kept:
                out[key] = kept[0] if len(kept) == 1 else kept
            continue
        if key == "on_schema_change" and (out["materialized"] != "incremental" or value == "ignore"):
            continue  # dbt reads it for incremental models only; 'ignore' is toolkit's behaviour too
        if key in CONFIG_KEYS and not (key == "on_schema_change" and value == "fail"):
            out[key] = value
        else:
            report.skip("config", key if key != "on_schema_change" else "on_schema_change='fail'", model.name,
                        REFUSED.get(key) or WHY.get(key, "not a toolkit config key"))
    return out


def post_hooks(value, dialect: str, materialized, name: str, report) -> list[str]:
    """The dbt post_hooks toolkit runs (its allow-list, on the DuckDB target the import
    writes); each other one is reported with the reason."""
    from toolkit import hooks
    from toolkit.engines.duckdb import DuckDBEngine

    kept = []
    for text in configs._list(value):
        try:
            (hook,) = hooks.parse([text], dialect, materialized if isinstance(materialized, str) else "table")
        except hooks.HookError as error:
            report.skip("config", f"post_hook {text!r}", name, str(error))
            continue
        if hook.kind not in DuckDBEngine.HOOKS:
            report.skip("config", f"post_hook {text!r}", name,
                        f"{hook.kind.upper()}: the converted project's target is DuckDB, which has no roles (add it back for a PostgreSQL target)")
            continue
        kept.append(text)
    return kept


def write_models(models: dict[str, Model], out: Path, project, report, aliases: SourceCalls, dialect: str = "duckdb") -> None:
    for model in models.values():
        description = project.describe(model.entry.get("description"), model.file, report)
        notes = [(c["name"], project.describe(c.get("description"), model.file, report))
                 for c in model.entry.get("columns") or [] if isinstance(c, dict) and isinstance(c.get("name"), str)]
        notes = [(n, d) for n, d in notes if d]
        if any(call.values is None for call in model.calls):
            report.skip("config", "config() call", project.relative(model.source),
                        "not a call of keyword arguments toolkit can read: kept as written, no dbt_project.yml configs folded in")
            text = model.text
        else:
            config = step_config(model, report, description, dialect)
            if notes and "columns" in CONFIG_KEYS and "columns" not in config:
                config["columns"], notes = {n.lower(): " ".join(d.split()) for n, d in notes}, []
            text = configs.replace_calls(model.text, model.calls, config)
        if notes:
            block = "\n".join(f"    {n}: {' '.join(d.split())}" for n, d in notes).replace("#}", "# }")
            text = "{#- columns (descriptions from dbt):\n" + block + "\n-#}\n" + text
        values, relative = varuse.project_vars(project.config, project.name), project.relative(model.source)
        varuse.report_uses(model.text, values, relative, dialect, report)  # lines of the dbt file
        report_undeclared(model.text, aliases, relative, report)
        text = rewrite_sources(varuse.write_names(text, values, dialect), aliases)
        target = out / model.out
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        report.converted_from(model.out.as_posix(), relative, model.text, text)
        report.count("models")


def copy_unconverted(project, out: Path):
    """A function saving a dbt file toolkit does not use under dbt_unconverted/, for reference."""
    def save(path: Path) -> None:
        target = out / "dbt_unconverted" / project.relative(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)

    return save
