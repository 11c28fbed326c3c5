"""Where data tests run and what they make a step read: a relationships test adds its
parent as upstream (or moves to the parent when the parent reads the step), each custom
test (features/tests/*.sql) is parsed and attached to the last step it reads, and the
sources' declared tests are parsed and checked.

Data flow: called by sqlsteps.py / pythonsteps.py as each step compiles
(_add_test_dependencies), then by compiler.compile_project on the whole set of steps.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlglot import exp

from toolkit import sql
from toolkit.compiling.clockcolumns import source_clock_columns
from toolkit.compiling.compiledstep import CompiledStep
from toolkit.compiling.nameindex import _NameIndex
from toolkit.compiling.stepparse import _parse, resolve_references, stored_names
from toolkit.compiling.steptypes import not_dated
from toolkit.datatests import DataTest, TestSpecError, mark_clock, parse_expressions, parse_tests
from toolkit.errors import ProjectError, did_you_mean, line_of
from toolkit.project import Project

if TYPE_CHECKING:
    from toolkit.templating import Renderer


def _add_test_dependencies(step: CompiledStep, names: "_NameIndex", line: int) -> None:
    """A relationships test reads its parent, so the parent is built first."""
    for test in step.data_tests:
        if test.name != "relationships":
            continue
        parent = test.args["to"]
        if parent in names.refs:
            if parent not in names.project.steps and parent != step.name and parent not in step.upstream:
                step.upstream = sorted(step.upstream + [parent])  # a seed or a model: never downstream
        elif parent in names.project.sources:
            # read like any source: its data fingerprint makes the step re-test when it changes
            step.sources = sorted(set(step.sources) | {parent})
        else:
            hint = did_you_mean(parent, list(names.refs) + list(names.project.sources))
            raise ProjectError(f"relationships: '{parent}' is not a step, seed or source (name.table)", step.file, line, hint=hint)


def _order_test_parents(steps: dict[str, CompiledStep], dialect: str) -> None:
    """A relationships test reads its parent step, so the parent is built first. When the
    parent reads the tested step (a test toward a downstream step, which dbt allows), the
    test moves to the parent instead: it runs when the parent is built, on the parent's
    unpublished table and the step's table, and blocks the parent's publish."""
    from toolkit.datatests import failing_rows

    def reads(start: str, wanted: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            name = stack.pop()
            if name == wanted:
                return True
            if name not in seen and name in steps:
                seen.add(name)
                stack.extend(steps[name].upstream)
        return False

    for step in list(steps.values()):
        for test in list(step.data_tests):
            parent = test.args.get("to") if test.name == "relationships" else None
            if parent not in steps or parent == step.name or parent in step.upstream or steps[parent].kind != "feature":
                continue
            if not reads(parent, step.name):
                step.upstream = sorted(step.upstream + [parent])
                continue
            owner = steps[parent]
            if not owner.strategy.testable:
                raise ProjectError(f"relationships: {parent} reads {step.name}, so the test runs with {parent}, which is "
                                   f"{owner.materialized} (never built)", step.file, line_of(step.template, "relationships"),
                                   hint=f"materialize {parent} as a table or view, or test toward a step {step.name} does not feed")
            query = failing_rows(test, step.relation, dialect, lambda name: steps[name].relation.copy())
            relations = {(step.relation.db, step.relation.name): step.name, (owner.relation.db, owner.relation.name): parent}
            name = f"relationships {step.name}.{test.column} -> {parent}.{test.args['field']}"
            step.data_tests.remove(test)
            # It fails in the step that declares it, not in the parent it runs with.
            where = f"{step.file}:{line_of(step.template, 'relationships') or 1}"
            owner.data_tests.append(DataTest("custom", None, {"name": name, "query": query, "relations": relations}, test.severity, where=where))


def _attach_custom_tests(project: Project, renderer: "Renderer", names: "_NameIndex", steps: dict, order: list[str]) -> list[CompiledStep]:
    """Each custom test (features/tests/*.sql) runs with the last step it reads, on
    that step's unpublished table, so it blocks that step's publish. Returns a probe per
    test (its file, text and what it reads), for sqlsteps._check_custom_tests once the
    columns of what they read are known."""
    position = {name: index for index, name in enumerate(order)}
    probes = []
    for test_file in project.custom_tests.values():
        relative = project.relative(test_file.path)
        rendered, config, bindings = renderer.render(test_file.path, test_file.name)
        unknown = set(config) - {"severity", "description"}
        if unknown:
            raise ProjectError(f"unknown config key '{sorted(unknown)[0]}' in a custom test", relative, line_of(test_file.text, "config("), hint="a custom test takes severity and description")
        probe = CompiledStep(test_file.name, "test", relative, "test", exp.table_(test_file.name), template=test_file.text, rendered=rendered,
                             bindings=bindings)
        probes.append(probe)
        tree = sql.normalize(resolve_references(probe, _parse(rendered, test_file, relative, project.config.dialect, bindings, project.config.allowed_functions), names, project.config.dialect), project.config.dialect)
        if not probe.upstream:
            raise ProjectError("a custom test must read at least one step or seed with ref()", relative, 1)
        stored = stored_names(project, probe.sources)
        if stored:  # a source stored in mixed case, read as stored (its columns where qualified: e.UserId)
            sql.quote_stored_names(tree, stored, columns=True)
        owner = steps[max(probe.upstream, key=position.__getitem__)]
        if not owner.strategy.testable:
            raise ProjectError(f"a custom test runs with the last step it reads, and {owner.name} is {owner.materialized} (never built)",
                               relative, 1, hint=f"materialize {owner.name} as a table or view to test it")
        relations = {(steps[n].relation.db, steps[n].relation.name): n for n in probe.upstream}
        args = {"name": test_file.name, "query": tree, "relations": relations}
        try:
            owner.data_tests.append(DataTest("custom", None, args, _severity(config.get("severity", "error")), where=_query_place(relative, test_file.text)))
        except TestSpecError as error:
            raise ProjectError(str(error), relative, line_of(test_file.text, "severity")) from None
        owner.upstream = sorted(set(owner.upstream) | set(probe.upstream) - {owner.name})
    return probes


def _query_place(relative, text: str) -> str:
    """file:line where a custom test's query starts (after its comments and config)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(r"\s*(select|with|from)\b", line, re.IGNORECASE):
            return f"{relative}:{number}"
    return str(relative)


def _severity(value: str) -> str:
    if value not in ("error", "warn"):
        raise TestSpecError(f"severity must be 'error' or 'warn', got {value!r}")
    return value


_TESTS_KEY = re.compile(r"^\s*(?:(?:table_)?tests\s*=|\[[^\]]*\.(?:table_)?tests\s*\])")


def _tests_line(project: Project, source) -> int | None:
    """The first `tests =` / `table_tests =` line (or [....tests] table) of the source's table
    in sources.toml, where its tests are declared; else the table's header line."""
    try:
        lines = (project.root / source.file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return source.line
    start = source.line or 1
    for number in range(start, len(lines) + 1):
        if number > start and lines[number - 1].lstrip().startswith("[") and not _TESTS_KEY.match(lines[number - 1]):
            break  # the next table: not this source's
        if _TESTS_KEY.match(lines[number - 1]):
            return number
    return source.line


def _source_tests(project: Project) -> dict[str, list[DataTest]]:
    tests = {}
    for key, source in project.sources.items():
        def fail(message: str, hint: str | None = None):
            raise ProjectError(f"source {key}: {message}", source.file, _tests_line(project, source), hint=hint)

        try:
            tests[key] = parse_tests(source.tests, source.table_tests)
            parse_expressions(tests[key], project.config.dialect)
        except TestSpecError as error:
            fail(str(error))
        for test in tests[key]:
            missing = [c for c in test.columns() if c.lower() not in source.columns]
            if missing and source.columns_known:
                fail(f"test {test.label} reads undeclared column '{missing[0]}'", did_you_mean(missing[0], source.columns))
            kind = source.columns.get(test.args["column"].lower()) if test.name == "freshness" else None
            if not_dated(kind, project.config.dialect):
                fail(f"test {test.label}: column '{test.args['column']}' is declared {kind}, not a date or timestamp",
                     "point freshness at a date or timestamp column")
            if test.name == "freshness":
                mark_clock(test, test.args["column"].lower() in source_clock_columns(source, project))
            if test.name == "relationships":
                parent = project.sources.get(test.args["to"])
                if parent is None:  # sources are checked before any step is built
                    fail(f"relationships: '{test.args['to']}' is not a source; a source's parent must be another source (name.table)",
                         did_you_mean(test.args["to"], project.sources))
                if parent.columns_known and test.args["field"].lower() not in parent.columns:
                    fail(f"relationships: {test.args['to']} has no column '{test.args['field']}'", did_you_mean(test.args["field"], parent.columns))
    return tests
