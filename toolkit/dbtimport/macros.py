"""dbt macros, packages and singular tests.

Project macros (macros/**) -> features/macros/ (folders kept). A vendored package
(dbt_packages/<pkg>/macros/**) -> features/macros/<pkg>/, a macro namespace of that
name; dbt_utils is not copied: toolkit has its own (toolkit/dbtnames.py), and dbt_utils'
own macros lean on dbt internals. dbt-only blocks ({% test %}, {% materialization %})
are taken out and reported; a file toolkit's Jinja cannot parse is kept aside in
dbt_unconverted/. Singular tests (tests/**/*.sql) -> features/tests/.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from toolkit.dbtimport import configs, varuse
from toolkit.dbtimport.reading import load_yaml
from toolkit.dbtimport.sourcecalls import SourceCalls, report_undeclared, rewrite_sources

BUILTIN_PACKAGES = {"dbt_utils": "toolkit has dbt_utils' common macros built in (toolkit/dbtnames.py)",
                    "dbt": "toolkit has dbt's cross-database macros built in"}
_BLOCK = re.compile(r"{%-?\s*(test|materialization|snapshot)\s+([\w ,=]+?)[\s(].*?{%-?\s*end\1\s*-?%}", re.S)
_OVERRIDES = ("generate_schema_name", "generate_alias_name", "generate_database_name")
_RETURN = re.compile(r"{{(-?\s*)return\(")
_REF = re.compile(r"""\bref\(\s*(['"])(\w+)\1(?:\s*,\s*(['"])(\w+)\3)?""")


def convert_macros(project, out: Path, report, unconverted, aliases, dialect: str) -> None:
    values = varuse.project_vars(project.config, project.name)
    for folder in project.folders("macro"):
        for path in sorted(folder.rglob("*.sql")):
            _macro_file(path, out, Path("features", "macros", path.relative_to(folder)), project.relative(path), report,
                        unconverted, aliases, lambda text, relative: varuse.convert_bare(text, values, relative, dialect, report))


def _macro_file(path: Path, out: Path, converted: Path, relative: str, report, unconverted, aliases,
                bare_vars=lambda text, relative: text) -> bool:
    """The dbt macro file `path` (`relative` in the dbt project) as out/`converted`; whether written."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")

    def cut(match: re.Match) -> str:
        why = {"test": "a generic test definition: toolkit's data tests are built in or custom SELECTs in features/tests/",
               "materialization": "custom materializations are not supported"}.get(match.group(1), "not a macro")
        report.skip(f"{match.group(1)} block", match.group(2).strip(), relative, why)
        return "\n" * match.group(0).count("\n")  # keep the line numbers

    kept, returns = unreturn(_BLOCK.sub(cut, text))
    if returns:
        report.skip("macro", "{{ return(...) }}", relative, "written as {{ ... }}: toolkit's macros output their text")
    try:
        jinja2.Environment().parse(kept)
    except jinja2.TemplateSyntaxError as error:
        report.skip("macro file", path.name, f"{relative}:{error.lineno}", f"Jinja toolkit cannot read: {error.message}")
        unconverted(path)
        return False
    for name in _OVERRIDES:
        if re.search(rf"{{%-?\s*macro\s+{name}\b", kept):
            report.skip("macro", name, relative, "overrides dbt's naming of schemas/tables; toolkit names steps after their files")
    if not kept.strip():
        return False
    report_undeclared(kept, aliases, relative, report)  # same lines as the dbt file (cut blocks keep theirs)
    written = rewrite_sources(bare_vars(kept, relative), aliases)
    target = out / converted
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(written, encoding="utf-8")
    report.converted_from(converted.as_posix(), relative, text, written)
    report.count("macro files")
    return True


def convert_packages(project, out: Path, report, unconverted) -> None:
    declared = []
    for file in ("packages.yml", "dependencies.yml"):
        path = project.root / file
        if path.is_file():
            data = load_yaml(path, project.root) or {}
            for entry in data.get("packages") or [] if isinstance(data, dict) else []:
                if isinstance(entry, dict):
                    spec = entry.get("package") or entry.get("git") or entry.get("local") or ""
                    declared.append((file, str(spec), re.split(r"[/:]", str(spec).rstrip("/").removesuffix(".git"))[-1]))
    vendored = {}
    for base in [project.root / project.packages_dir]:
        for folder in sorted(base.iterdir()) if base.is_dir() else []:
            config = folder / "dbt_project.yml"
            if config.is_file():
                data = load_yaml(config, project.root)
                name = data.get("name") if isinstance(data, dict) else None
                vendored[folder.name] = (str(name or folder.name), folder, data if isinstance(data, dict) else {})
    for file, spec, folder_name in declared:
        if folder_name in BUILTIN_PACKAGES or spec.endswith("dbt_utils"):
            report.notes.append(f"package {spec}: not copied, {BUILTIN_PACKAGES['dbt_utils']}")
            continue
        found = vendored.get(folder_name) or next((v for v in vendored.values() if v[0] == folder_name.replace("-", "_")), None)
        if found is None and spec.startswith((".", "/")):
            local = (project.root / spec).resolve()
            found = (folder_name, local, {}) if local.is_dir() else None
        if found is None:
            report.skip("package", spec, file, f"not vendored in {project.packages_dir}/ (run `dbt deps` first): its macros are undefined")
            continue
        name, folder, data = found
        if name in BUILTIN_PACKAGES:
            report.notes.append(f"package {spec}: not copied, {BUILTIN_PACKAGES[name]}")
            continue
        paths = data.get("macro-paths") or ["macros"]
        copied = 0
        for macros in [folder / p for p in paths if (folder / p).is_dir()]:
            for path in sorted(macros.rglob("*.sql")):
                relative = f"{project.packages_dir}/{folder.name}/{path.relative_to(folder).as_posix()}"
                copied += _macro_file(path, out, Path("features", "macros", name, path.relative_to(macros)), relative,
                                      report, unconverted, SourceCalls())
        report.notes.append(f"package {spec}: {copied} macro files copied to features/macros/{name}/ (namespace {name})")
        models = [p for p in (folder / "models").rglob("*.sql")] if (folder / "models").is_dir() else []
        if models:
            report.skip("package models", f"{len(models)} models of {name}", spec, "models of packages are not converted")


_DISPATCHED = re.compile(r"{%-?\s*macro\s+(\w+?)__(\w+)\s*\(")
_OVERRIDABLE = ("dbt_utils", "dbt")  # toolkit's built-in namespaces; a folder of that name overrides single macros


def convert_dispatch(project, out: Path, report, adapter: str) -> None:
    """dbt_project.yml `dispatch:`: for dbt_utils and dbt, a project macro <adapter>__X or
    default__X (X one of toolkit's built-in macros there) found first in search_order becomes features/macros/<namespace>/X.sql, a macro X
    calling it, which toolkit's namespace takes over its built-in X. Other namespaces are reported:
    toolkit's adapter.dispatch reads no search_order."""
    entries = project.config.get("dispatch") or []
    defined = _project_dispatch_macros(project)
    for entry in entries if isinstance(entries, list) else []:
        namespace = entry.get("macro_namespace") if isinstance(entry, dict) else None
        order = [str(p) for p in entry.get("search_order") or []] if isinstance(entry, dict) else []
        if namespace not in _OVERRIDABLE:
            report.skip("config", f"dispatch of {namespace}", "dbt_project.yml",
                        "search_order is not read: toolkit's adapter.dispatch tries the package's macros, then the project's, at each prefix")
            continue
        if not order or order[0] != project.name:
            report.skip("config", f"dispatch of {namespace}", "dbt_project.yml",
                        f"search_order {order} does not put the project first: only the project's own overrides are converted")
            continue
        known = _builtin_names(namespace)  # dbt has no dbt.generate_surrogate_key to override
        for name, implementation in sorted(_overrides(defined, adapter).items()):
            if name not in known:
                continue
            path = out / "features" / "macros" / namespace / f"{name}.sql"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{{#- dbt dispatch: {namespace}.{name} is the project's {implementation} (dbt_project.yml) -#}}\n"
                            f"{{% macro {name}() %}}{{{{ {implementation}(*varargs, **kwargs) }}}}{{% endmacro %}}\n", encoding="utf-8")
            report.notes.append(f"dispatch: {namespace}.{name} calls the project's {implementation} (features/macros/{namespace}/{name}.sql)")


def _builtin_names(namespace: str) -> set[str]:
    """The macros toolkit has built in under `namespace` (dbt_utils, dbt)."""
    from toolkit import dbtnames

    return set(dbtnames.names(dbtnames.Context(), {}, lambda name: None)[namespace]._names())


def _project_dispatch_macros(project) -> set[tuple[str, str]]:
    """(prefix, name) of every project macro named prefix__name."""
    found = set()
    for folder in project.folders("macro"):
        for path in sorted(folder.rglob("*.sql")):
            found |= set(_DISPATCHED.findall(path.read_text(encoding="utf-8-sig", errors="replace")))
    return found


def _overrides(defined: set[tuple[str, str]], adapter: str) -> dict[str, str]:
    """name -> the project macro dbt dispatches to: <adapter>__name, else default__name."""
    chosen = {}
    for prefix in ("default", adapter):  # the adapter's own, written last, wins
        for found_prefix, name in sorted(defined):
            if prefix and found_prefix == prefix:
                chosen[name] = f"{prefix}__{name}"
    return chosen


def convert_singular_tests(project, out: Path, report, ctx, models: dict, aliases, dialect: str) -> None:
    values = varuse.project_vars(project.config, project.name)
    for folder in project.folders("test"):
        for path in sorted(folder.rglob("*.sql")):
            relative = project.relative(path)
            parts = path.relative_to(folder).parts
            if parts[0] == "generic" or re.search(r"{%-?\s*test\s", path.read_text(errors="replace")):
                continue  # generic test definitions (reported with the macros when in macro-paths)
            text = path.read_text(encoding="utf-8-sig", errors="replace")
            refs = {m.group(4) or m.group(2) for m in _REF.finditer(text)}
            if not refs:
                report.skip("singular test", path.stem, relative, "reads no model with ref(): a toolkit custom test runs with a step it reads")
                continue
            missing = sorted(r for r in refs if r not in models and r not in ctx.seeds)
            if missing:
                report.skip("singular test", path.stem, relative, f"reads {', '.join(missing)}, not converted")
                continue
            if any(models[r].config.get("materialized") == "ephemeral" for r in refs if r in models):
                report.skip("singular test", path.stem, relative, "reads an ephemeral model, which is never built")
                continue
            calls = configs.find_calls(text)
            if any(c.values is None for c in calls):
                report.skip("singular test", path.stem, relative, "its config() cannot be read")
                continue
            config = {}
            for call in calls:
                config.update(call.values)
            kept = {}
            for key, value in config.items():
                if key == "severity" and isinstance(value, str):
                    kept["severity"] = "warn" if value.lower() == "warn" else "error"
                elif key == "description" and isinstance(value, str):
                    kept["description"] = value
                elif key not in ("enabled", "tags", "meta"):
                    report.skip("test config", key, relative, "a custom test takes severity and description")
            if config.get("enabled") is False:
                continue
            name = path.stem
            if name.lower() in ctx.names:
                report.skip("singular test", name, relative, "a second test of this name")
                continue
            ctx.names.add(name.lower())
            converted = Path("features", "tests", *parts)
            (out / converted).parent.mkdir(parents=True, exist_ok=True)
            varuse.report_uses(text, values, relative, dialect, report)
            report_undeclared(text, aliases, relative, report)
            written = rewrite_sources(varuse.write_names(configs.replace_calls(text, calls, kept), values, dialect), aliases)
            (out / converted).write_text(written, encoding="utf-8")
            report.converted_from(converted.as_posix(), relative, text, written)
            report.count("singular tests")


def unreturn(text: str) -> tuple[str, int]:
    """`{{ return(x) }}` -> `{{ x }}`: dbt's return() hands a value back from a macro; a
    macro returning SQL text (adapter.dispatch(...)(...), mostly) does the same by output."""
    count, at = 0, 0
    while True:
        match = _RETURN.search(text, at)
        if match is None:
            return text, count
        close = configs._closing(text, match.end())
        tail = re.compile(r"\s*-?}}").match(text, close + 1) if close is not None else None
        if tail is None:
            at = match.end()
            continue
        text = text[: match.start()] + "{{" + match.group(1) + text[match.end(): close] + text[close + 1:]
        count, at = count + 1, match.start() + 2
