"""`toolkit import-dbt DBT_PROJECT_DIR [OUT_DIR]`: a dbt project as a toolkit project.

    models/**.sql          -> features/** (folders kept; configs folded into config())   models.py
    seeds/**.csv           -> warehouse/seeds/ + seeds.toml (column types)                warehouse.py
    sources: (yml)         -> warehouse/sources.toml (identifier = the table's name)     warehouse.py
    source() calls         -> the table dbt reads, or stop where dbt stops                sourcecalls.py
    tests: / data_tests:   -> config(tests=..., table_tests=...) or features/tests/*.sql testmap.py
    tests/**.sql           -> features/tests/ (singular tests)                           macros.py
    unit_tests: (yml)      -> features/**/<model>.unit.toml                               unittests.py
    macros/**, packages    -> features/macros/ (a package: features/macros/<pkg>/)      macros.py
    vars, name, adapter    -> toolkit.toml ([vars], dialect from profiles.yml, a DuckDB target)

Jinja is kept as written: toolkit renders ref, source, var, config, this,
is_incremental and the dbt names of toolkit/dbtnames.py. What is not converted
(snapshots, Python models, hooks, exposures, unsupported configs and tests, packages
not vendored in dbt_packages/, ...) is listed with the reason in IMPORT_REPORT.md;
the files toolkit does not use are kept in dbt_unconverted/. The converted project
is compiled at the end (check.py): each step that does not compile is reported at its line.

Everything is written into a temporary folder beside OUT_DIR and moved into place
at the end: a failed import leaves no half-converted OUT_DIR behind.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from toolkit.dbtimport import toml
from toolkit.dbtimport.check import check_converted
from toolkit.dbtimport.macros import convert_dispatch, convert_macros, convert_packages, convert_singular_tests
from toolkit.dbtimport.models import add_model_tests, copy_unconverted, read_models, reads_fn, write_models
from toolkit.dbtimport.reading import DbtProject, load_yaml, read_project
from toolkit.dbtimport.report import Report
from toolkit.dbtimport.sourcecalls import SourceCalls, write_macro
from toolkit.dbtimport.testmap import Context, relation_name
from toolkit.dbtimport.unittests import convert_unit_tests
from toolkit.dbtimport.warehouse import add_seed_tests, add_source_tests, convert_seeds, read_sources, seed_backed, write_sources
from toolkit.errors import ProjectError

REPORT_FILE = "IMPORT_REPORT.md"
_SINGULAR = {"analyses": "analysis", "saved_queries": "saved query", "semantic_models": "semantic model"}
DIALECTS = {"duckdb": "duckdb", "postgres": "postgres", "redshift": "redshift", "snowflake": "snowflake",
            "bigquery": "bigquery", "databricks": "databricks", "spark": "spark", "trino": "trino", "athena": "athena",
            "sqlserver": "tsql", "fabric": "tsql", "clickhouse": "clickhouse", "materialize": "postgres"}


def import_dbt(source: str | Path, out: str | Path | None = None, check: bool = True) -> tuple[Report, Path]:
    """Convert the dbt project in `source` into a new toolkit project `out`."""
    source = Path(source).resolve()
    project = read_project(source)
    out = Path(out) if out is not None else source.parent / f"{source.name}_toolkit"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ProjectError(f"{out} already exists and is not empty", hint="name a new folder for the toolkit project")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    except OSError as error:  # /proc/x, a read-only folder, a file where a folder should be
        raise ProjectError(f"cannot write {out}: {error.strerror or error}", hint="name a folder you can write to") from None
    try:
        report = _convert(project, work)
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report.check = check_converted(out, report) if check else ""
    (out / REPORT_FILE).write_text(report.markdown(str(source), str(out)), encoding="utf-8")
    return report, out


def _convert(project: DbtProject, out: Path) -> Report:
    report = Report(project.name)
    unconverted = copy_unconverted(project, out)
    sources = read_sources(project, report)
    seeds = convert_seeds(project, out, report)
    from_seeds = seed_backed(sources, seeds, report)
    aliases = _source_calls(project, sources, from_seeds)
    models = read_models(project, report, unconverted)
    dialect = _dialect(project, report)
    refs = set(models) | set(seeds)
    source_keys = {**{(item.source, name): item.key for item in sources.values() for name in [item.dbt_name, *item.also]}, **from_seeds}
    ctx = Context(report, lambda text: relation_name(text, refs, source_keys), reads_fn(models), seeds=set(seeds),
                  severity=_default_severity(project), dialect=dialect)
    add_source_tests(sources, ctx)
    add_model_tests(models, ctx)
    seed_tests = add_seed_tests(project, seeds, ctx)
    write_models(models, out, project, report, aliases, dialect)
    _write_custom_tests([model.target for model in models.values()] + seed_tests, out)
    convert_singular_tests(project, out, report, ctx, models, aliases, dialect)
    convert_macros(project, out, report, unconverted, aliases, dialect)
    convert_packages(project, out, report, unconverted)
    convert_dispatch(project, out, report, adapter_type(project))
    convert_unit_tests(project, out, report, models, source_keys, set(seeds))
    write_macro(aliases, out, report)
    write_sources(sources, out)
    _not_converted(project, report, unconverted)
    (out / "toolkit.toml").write_text(_config_text(project, report, dialect), encoding="utf-8")
    for folder in ("features", "models", "warehouse"):
        (out / folder).mkdir(exist_ok=True)
    (out / ".gitignore").write_text("warehouse/*.duckdb*\n.toolkit/\n", encoding="utf-8")
    return report


def _source_calls(project: DbtProject, sources: dict, from_seeds: dict) -> SourceCalls:
    """What each dbt source table name reads in the converted project: its identifier's
    source table, or its seed."""
    calls = SourceCalls()
    for item in sources.values():
        for name in (item.dbt_name, *item.also):
            calls.add((item.source, name), "source", item.source, item.table)
    for key, seed in from_seeds.items():
        calls.add(key, "ref", seed)
    taken = "".join(path.read_text(encoding="utf-8", errors="replace") for folder in project.folders("macro")
                    for path in folder.rglob("*.sql") if path.is_file())
    while re.search(rf"\b{calls.macro}\b", taken):  # a project macro of that name: another one
        calls.macro += "_"
    return calls


def _write_custom_tests(targets, out: Path) -> None:
    for target in targets:
        for name, text in target.custom:
            path = out / "features" / "tests" / f"{name}.sql"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


def _default_severity(project: DbtProject) -> str:
    from toolkit.dbtimport.configs import tree_config

    tree = project.config.get("data_tests", project.config.get("tests"))
    return "warn" if str(tree_config(tree, project.name, []).get("severity", "")).lower() == "warn" else "error"


def _not_converted(project: DbtProject, report: Report, unconverted) -> None:
    for key in ("on-run-start", "on-run-end"):
        if project.config.get(key):
            report.skip("hook", key, "dbt_project.yml", "run hooks are not run: toolkit runs only SELECT steps")
    for key, why in (("snapshots", "snapshots (SCD type 2) are not supported"), ("exposures", "exposures are documentation toolkit does not hold"),
                     ("metrics", "the semantic layer is not supported"), ("semantic_models", "the semantic layer is not supported"),
                     ("saved_queries", "the semantic layer is not supported"), ("groups", "groups and access are not supported"),
                     ("analyses", "analyses are not built")):
        for file, entry in project.entries(key):
            report.skip(_SINGULAR.get(key, key.rstrip("s")), str(entry.get("name")), file, why)
    for kind, why in (("snapshot", "snapshots (SCD type 2) are not supported"), ("analysis", "analyses are not built")):
        for folder in project.folders(kind):
            for path in sorted(folder.rglob("*.sql")):
                report.skip(kind, path.stem, project.relative(path), why + "; kept in dbt_unconverted/")
                unconverted(path)


def _config_text(project: DbtProject, report: Report, dialect: str) -> str:
    text = (f"# Converted from the dbt project '{project.name}' by `toolkit import-dbt` (see {REPORT_FILE}).\n"
            + toml.table("", {"name": project.name, "dialect": dialect, "target": "dev"})
            + "\n" + toml.table("targets.dev", {"engine": "duckdb", "path": f"warehouse/{project.name}.duckdb"}))
    values = {}
    raw = project.config.get("vars") or {}
    for key, value in (raw.items() if isinstance(raw, dict) else []):
        if key == project.name and isinstance(value, dict):
            values.update({k: v for k, v in value.items()})
        elif isinstance(value, dict) and (project.root / project.packages_dir / str(key)).is_dir():
            report.skip("var", str(key), "dbt_project.yml", "vars scoped to a package are not carried")
        else:
            values.setdefault(key, value)
    kept = {}
    for key, value in values.items():
        if value is None:
            report.skip("var", str(key), "dbt_project.yml", "TOML has no null: give it a value or pass --vars")
            continue
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            report.skip("var", str(key), "dbt_project.yml", "a Jinja value: toolkit reads vars as plain values (kept as text)")
        kept[str(key)] = value
    if kept:
        text += "\n" + toml.table("vars", kept)
        report.count("vars", len(kept))
    return text


def _dialect(project: DbtProject, report: Report) -> str:
    """The SQL dialect of the models: the adapter type in the project's own profiles.yml, else DuckDB's."""
    kind = adapter_type(project)
    if kind in DIALECTS:
        if DIALECTS[kind] != "duckdb":
            report.notes.append(f"models are read as {DIALECTS[kind]} SQL (profiles.yml type {kind}) and built on DuckDB")
        return DIALECTS[kind]
    return "duckdb"


def adapter_type(project: DbtProject) -> str:
    """The dbt adapter (profiles.yml `type`) of the project's own profile; '' when unknown."""
    path = project.root / "profiles.yml"
    if not path.is_file():
        return ""
    try:
        profiles = load_yaml(path, project.root)
        profile = profiles.get(project.config.get("profile") or project.name) or next(iter(profiles.values()))
        outputs = profile.get("outputs") or {}
        output = outputs.get(profile.get("target")) or next(iter(outputs.values()))
        return str(output.get("type"))
    except (ProjectError, AttributeError, StopIteration, TypeError):
        return ""
