"""Read `features/**/*.unit.toml` into tests, checking shape and names.

A mistake in a file is a ProjectError naming the file and the line of the key
that is wrong. Column names are checked later, against the inputs' schemas
(see fixtures.Schemas), by `check_columns`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from toolkit.compiler import CompiledProject
from toolkit.config import read_toml
from toolkit.errors import ProjectError, did_you_mean

SUFFIX = ".unit.toml"
NULL = {"null": True}  # TOML has no null: a value written { null = true } is NULL
TEST_KEYS = ("name", "step", "description", "order_matters", "given", "expect")


@dataclass
class Given:
    """The rows given for one input of the step."""

    key: str  # step or seed name, or source key "name.table"
    relation: exp.Table  # the canonical name the step's compiled tree reads
    rows: list[dict[str, Any]]  # column names lowercased
    line: int


@dataclass
class UnitTest:
    name: str
    step: str
    file: str
    line: int
    end: int  # last line of the test's section of the file
    text: str  # the whole file
    order_matters: bool = False
    given: dict[str, Given] = field(default_factory=dict)
    expect: list[dict[str, Any]] = field(default_factory=list)
    expect_line: int = 0

    def fail(self, message: str, line: int | None = None, hint: str | None = None) -> ProjectError:
        return ProjectError(f"unit test '{self.name}': {message}", self.file, line or self.line, hint=hint)

    def key_line(self, key: str, start: int | None = None) -> int:
        """The first line of this test, at or after `start`, that sets or names `key`."""
        pattern = re.compile(rf"""(^|[\s{{,.\[])["']?{re.escape(key)}["']?\s*(=|\]|\.)""", re.IGNORECASE)
        lines = self.text.splitlines()
        for number in range(start or self.line, min(self.end, len(lines)) + 1):
            if pattern.search(lines[number - 1]):
                return number
        return start or self.line


def column_order(rows: list[dict[str, Any]]) -> list[str]:
    """Every column named in `rows`, in order of first appearance."""
    return list(dict.fromkeys(column for row in rows for column in row))


def discover(root: Path) -> list[Path]:
    folder = root / "features"
    return sorted(folder.glob(f"**/*{SUFFIX}")) if folder.is_dir() else []


def load_tests(compiled: CompiledProject) -> list[UnitTest]:
    """Every unit test of the project, its file checked for shape and names."""
    return [test for path in discover(compiled.project.root) for test in _load_file(compiled, path)]


def check_columns(test: UnitTest, columns) -> None:
    """Given and expected columns exist; `columns(key)` is a relation's column names, or None if unknown."""
    for given in test.given.values():
        known = columns(given.key)
        for column in column_order(given.rows):
            if known is not None and column not in known:
                raise test.fail(
                    f"'{given.key}' has no column '{column}'", test.key_line(column, given.line),
                    did_you_mean(column, known) or f"its columns: {', '.join(known)}",
                )
    output = columns(test.step)
    for column in column_order(test.expect):
        if output is not None and column not in output:
            raise test.fail(
                f"expected column '{column}' is not an output column of {test.step}", test.key_line(column, test.expect_line),
                did_you_mean(column, output) or f"its columns: {', '.join(output)}",
            )


def _load_file(compiled: CompiledProject, path: Path) -> list[UnitTest]:
    root = compiled.project.root
    relative = path.relative_to(root).as_posix()
    try:
        data, text = read_toml(path, root)
    except ProjectError as error:
        line = path.read_text(encoding="utf-8").splitlines()[error.line - 1] if error.line else ""
        if line.count("{") > line.count("}"):
            error.hint = "TOML needs each inline table { ... } on one line: write one row per line"
        raise
    for key in data:
        if key != "test":
            raise ProjectError(
                f"unknown key '{key}'", relative, _top_line(text, key),
                hint=did_you_mean(key, ["test"]) or "a unit-test file holds [[test]] tables",
            )
    entries = data.get("test", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ProjectError("'test' must be a list of tables: write each test under [[test]]", relative, _top_line(text, "test"))
    headers = [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*test\s*\]\]", line)]
    if len(headers) != len(entries):  # e.g. test = [ {...} ]: point at its start
        headers = [_top_line(text, "test")] * len(entries)
    ends = headers[1:] + [len(text.splitlines()) + 1]
    tests, seen = [], set()
    for entry, start, end in zip(entries, headers, ends):
        test = _load_test(compiled, entry, path, relative, text, start, end - 1)
        if (test.step, test.name) in seen:
            raise test.fail(f"a second test of {test.step} has this name", hint="test names must be unique per step")
        seen.add((test.step, test.name))
        tests.append(test)
    return tests


def _load_test(compiled: CompiledProject, entry: dict, path: Path, relative: str, text: str, start: int, end: int) -> UnitTest:
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ProjectError('every [[test]] needs a name = "..." saying what it checks', relative, start)
    test = UnitTest(name, entry.get("step", path.name[: -len(SUFFIX)]), relative, start, end, text)
    for key in entry:
        if key not in TEST_KEYS:
            raise test.fail(f"unknown key '{key}'", test.key_line(key), did_you_mean(key, TEST_KEYS) or f"keys: {', '.join(TEST_KEYS)}")
    if not isinstance(test.step, str) or test.step not in compiled.steps:
        if "step" not in entry:
            raise test.fail('the file is not named after a step, so the test must say which: step = "..."')
        raise test.fail(f"unknown step '{test.step}'", test.key_line("step"), did_you_mean(str(test.step), compiled.steps))
    step = compiled.steps[test.step]
    if step.tree is None:
        raise test.fail(f"'{test.step}' is a seed; unit tests test feature steps", test.key_line("step"))
    test.order_matters = entry.get("order_matters", False)
    if not isinstance(test.order_matters, bool):
        raise test.fail("order_matters must be true or false", test.key_line("order_matters"))
    given = entry.get("given", {})
    if not isinstance(given, dict):
        raise test.fail("given must be a table: [test.given.NAME] with rows = [...]", test.key_line("given"))
    for given_name, spec in _flatten(given):
        item = _load_given(compiled, test, given_name, spec)
        if item.key in test.given:
            raise test.fail(f"'{given_name}' is given twice", item.line)
        test.given[item.key] = item
    for key in sql_reads(compiled, test.step):
        if key not in test.given:
            raise test.fail(
                f"no rows given for '{key}', which {test.step} reads",
                hint=f'add [test.given."{key}"] with rows = [...]; rows = [] for an empty input',
            )
    expect = entry.get("expect")
    if not isinstance(expect, dict) or set(expect) != {"rows"}:
        line = test.key_line("expect") if "expect" in entry else test.line
        raise test.fail("expect must be a table holding only rows = [...]: the expected output rows", line, "rows = [] expects no rows")
    test.expect_line = test.key_line("expect")
    test.expect = _rows(test, expect["rows"], test.expect_line)
    return test


def _flatten(given: dict) -> list[tuple[str, Any]]:
    """[test.given.shop.orders] (unquoted) parses as given.shop.orders: accept it as "shop.orders"."""
    items = []
    for name, spec in given.items():
        if isinstance(spec, dict) and spec and "rows" not in spec and all(isinstance(v, dict) for v in spec.values()):
            items.extend((f"{name}.{table}", inner) for table, inner in spec.items())
        else:
            items.append((name, spec))
    return items


def _load_given(compiled: CompiledProject, test: UnitTest, name: str, spec: Any) -> Given:
    line = test.key_line(name.split(".")[-1], test.key_line("given"))
    key = _input_key(compiled, name)
    reads = sql_reads(compiled, test.step)
    if key is None:
        candidates = list(compiled.steps) + list(compiled.project.sources)
        raise test.fail(f"unknown input '{name}': not a step, seed or declared source", line, did_you_mean(name, candidates))
    if key not in reads:
        raise test.fail(f"{test.step} does not read '{name}'", line, f"it reads: {', '.join(reads) or 'nothing'}")
    if not isinstance(spec, dict) or set(spec) != {"rows"}:
        raise test.fail(f"given '{name}' must be a table holding only rows = [...]", line, "rows = [] for an empty input")
    if key in compiled.steps:
        relation = compiled.steps[key].relation
    else:
        source = compiled.project.sources[key]
        relation = exp.table_(exp.to_identifier(source.table), db=exp.to_identifier(source.schema))
    return Given(key, relation, _rows(test, spec["rows"], line), line)


def sql_reads(compiled: CompiledProject, name: str) -> list[str]:
    """The steps, seeds and sources the step's SQL reads: its upstream without the parents
    of its relationships tests (a test is not run by a unit test, so they need no rows)."""
    step = compiled.steps[name]
    found = {compiled.names.lookup(table) for table in step.tree.find_all(exp.Table) if table.db}
    return [key for key in step.upstream + step.sources if ("step", key) in found or ("source", key) in found]


def _input_key(compiled: CompiledProject, name: str) -> str | None:
    """A step, seed or source key for a name as written: `orders_step`, `shop.orders`, `raw.seed`."""
    if name in compiled.steps or name in compiled.project.sources:
        return name
    parts = name.split(".")
    if len(parts) > 2:
        return None
    found = compiled.names.lookup(exp.table_(parts[-1], db=parts[0] if len(parts) == 2 else None))
    return found[1] if found else None


def _rows(test: UnitTest, rows: Any, line: int) -> list[dict[str, Any]]:
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise test.fail("rows must be a list of tables, e.g. rows = [ { id = 1 }, { id = 2 } ]", line)
    def value(column: str, item: Any, inside: bool = False) -> Any:
        if item == NULL:
            return None
        if isinstance(item, dict) or (inside and isinstance(item, list)):
            raise test.fail(f"column '{column}': nested tables are not supported as values", test.key_line(column, line),
                            "write NULL as { null = true }")
        return [value(column, v, True) for v in item] if isinstance(item, list) else item

    return [{column.lower(): value(column, item) for column, item in row.items()} for row in rows]


def _top_line(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*(\[+\s*)?{re.escape(key)}\b", line):
            return number
    return 1
