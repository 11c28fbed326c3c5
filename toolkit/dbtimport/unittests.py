"""dbt 1.8 `unit_tests:` -> features/**/<model>.unit.toml beside the step.

Inputs `ref('x')` / `source('a', 'b')` become [test.given.x] / [test.given."a.b"]; rows
given as dicts or CSV (inline or a tests/fixtures/ file) become TOML rows; a NULL is
`{ null = true }`. Rows given as SQL, overrides
(is_incremental, vars, env_vars) and disabled tests are reported, not converted.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from toolkit.dbtimport import toml
from toolkit.dbtimport.testmap import relation_name

NULL = {"null": True}  # toolkit's NULL in TOML fixtures
_NUMBER = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?\d*\.\d+(e-?\d+)?$", re.I)


def convert_unit_tests(project, out: Path, report, models: dict, sources: dict[tuple[str, str], str], seeds: set[str]) -> None:
    """`sources`: (dbt source, table) -> toolkit's name for it (a source key, or a seed)."""
    files: dict[str, list[str]] = {}
    for file, entry in project.entries("unit_tests"):
        name, model = entry.get("name"), entry.get("model")
        where = f"{file} ({name})"
        if not isinstance(name, str) or model not in models:
            report.skip("unit test", str(name), file, f"its model {model!r} was not converted")
            continue
        if (entry.get("config") or {}).get("enabled") is False:
            continue
        if entry.get("overrides"):
            report.skip("unit test", name, where, "overrides (macros such as is_incremental, vars, env_vars) are not supported")
            continue
        try:
            text = _test(project, entry, name, set(models) | seeds, sources)
        except ValueError as error:
            report.skip("unit test", name, where, str(error))
            continue
        files.setdefault(model, []).append(text)
        report.count("unit tests")
    for model, tests in files.items():
        path = out / models[model].out.with_suffix(".unit.toml")
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"# Unit tests of {model}, converted from dbt by `toolkit import-dbt`: toolkit test --unit --select {model}\n"
        path.write_text(header + "\n" + "\n".join(tests), encoding="utf-8")


def _test(project, entry: dict, name: str, refs: set[str], sources: dict) -> str:
    parts = ["[[test]]\n" + toml.table("", {"name": name, "description": toml.one_line(entry.get("description") or "", 400) or None})]
    for given in entry.get("given") or []:
        if not isinstance(given, dict) or not isinstance(given.get("input"), str):
            raise ValueError("a given without an input")
        key = relation_name(given["input"], refs, sources)
        if key is None:
            if given["input"].strip().startswith("this"):
                raise ValueError("a given for `this` (incremental) is not supported")
            raise ValueError(f"input {given['input']} is not a converted model, seed or source")
        rows = _rows(project, given)
        parts.append(f"[test.given.{toml.key(key)}]\nrows = {_rows_text(rows)}\n")
    expect = entry.get("expect")
    if not isinstance(expect, dict):
        raise ValueError("no expect rows")
    parts.append(f"[test.expect]\nrows = {_rows_text(_rows(project, expect))}\n")
    return "".join(parts)


def _rows(project, spec: dict) -> list[dict[str, Any]]:
    fmt = spec.get("format", "dict")
    rows = spec.get("rows")
    if spec.get("fixture"):
        rows = _fixture(project, str(spec["fixture"]), fmt)
    if fmt == "sql":
        raise ValueError("rows given as SQL are not supported: write them as dict or csv rows")
    if fmt == "csv":
        if not isinstance(rows, str):
            raise ValueError("csv rows must be text")
        reader = csv.DictReader(io.StringIO(rows.strip()))
        rows = [{k.strip(): _csv_value(v) for k, v in row.items() if k is not None} for row in reader]
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("rows must be a list of mappings")
    return [{str(k): NULL if v is None else v for k, v in row.items()} for row in rows]


def _fixture(project, name: str, fmt: str) -> str:
    suffix = ".sql" if fmt == "sql" else ".csv"
    for folder in project.folders("test"):
        for path in folder.rglob(f"{name}{suffix}"):
            return path.read_text(encoding="utf-8-sig")
    raise ValueError(f"fixture {name}{suffix} not found under the test paths")


def _csv_value(text: str | None) -> Any:
    if text is None:
        return None
    value = text.strip()
    if value == "" or value.lower() == "null":
        return None
    if _NUMBER.match(value):
        return int(value)
    if _DECIMAL.match(value):
        return float(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _rows_text(rows: list[dict]) -> str:
    if not rows:
        return "[]"
    return "[\n" + "".join(f"    {toml.value(row)},\n" for row in rows) + "]"
