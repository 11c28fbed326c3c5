"""The columns of sources that do not declare them.

A file source's columns are read from its files (filesources.describe); a declared
list is checked against them, a type of another family being an error that names
the source and column. A table source's columns are read from the warehouse catalog
by the run that checks the sources (sources.check_sources) and remembered in
`.toolkit/cache/source_columns.json` under the project, per target (one target's
warehouse is not another's: a column one has is not refused on the other), which is
part of the compile cache key: the next compile qualifies the steps that read it, and
a run that finds the catalog changed compiles again before it plans (execute.py).
Until a run has seen the catalog, SQL steps reading such a source are compiled
unchecked; a Python (ibis) step cannot compile without its columns, so the command
reads them first (cli._compile). A step refused for a column its remembered source
columns lack (the source gained it since) is compiled again after the command read
that source's columns anew (errors.SourceColumnsUnknown): refused only if the
catalog lacks it too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

from sqlglot import exp

from toolkit import filesources
from toolkit.errors import ProjectError, line_of
from toolkit.sql import data_type, declared_type, type_family

CACHE = ".toolkit/cache/source_columns.json"


def resolve(sources: dict, root: Path, target: str | None = None, files_read: dict | None = None) -> dict:
    """The sources with the columns they do not declare filled in where known (on `target`).
    `files_read`: {source: columns} of file sources as read from their files, unchanged
    since (the compile cache's, whose key has the files' stats): not read again."""
    remembered = _remembered(root, target)
    files_read = files_read or {}
    resolved = {}
    for key, source in sources.items():
        if source.path:
            columns = dict(files_read[key]) if key in files_read else _file_columns(source, root)
            resolved[key] = dataclasses.replace(source, columns=columns, inferred=True)
        elif key in remembered:
            resolved[key] = _with_catalog(source, remembered[key])
        else:
            resolved[key] = source
        if resolved[key].inferred and (source.column_tags or source.descriptions):
            from toolkit import columntags  # only a project with tagged or described sources pays for its import (lineage)

            columntags.check_source_columns(resolved[key], root)
    return resolved


def _with_catalog(source, stored: dict[str, str]):
    """A table source with what the catalog said: its columns when it declares none
    (lower-cased, as every name toolkit compares), and the stored spelling of names
    that are not lower case, so compiled steps quote them as the table has them.

    Where "UserId" and "userid" are both stored, a step reading either is refused at
    compile time (`ambiguous`): `"UserId"` folded to userid and read the other column."""
    spelled = {name.lower(): name for name in stored if name != name.lower() and name.lower() not in stored}
    shared: dict[str, list[str]] = {}
    for name in stored:
        shared.setdefault(name.lower(), []).append(name)
    ambiguous = {lower: tuple(names) for lower, names in shared.items() if len(names) > 1}
    if source.columns:
        return dataclasses.replace(source, stored_names=spelled, ambiguous=ambiguous)
    columns = {name.lower(): kind for name, kind in stored.items() if name == name.lower() or name.lower() not in stored}
    return dataclasses.replace(source, columns=columns, inferred=True, stored_names=spelled, ambiguous=ambiguous)


def _file_columns(source, root: Path) -> dict[str, str]:
    """The files' columns; a CSV file is read with its declared types, a Parquet file's
    declared types must be of the family its own are."""
    actual = filesources.describe(source, root)
    read_as = filesources.read_types(source, root)
    for column, declared in source.declared.items():
        if column not in actual:
            raise ProjectError(f"source {source.key}: declared column {column} is not in the files of '{source.path}'",
                               source.file, source.line, hint=f"its columns: {', '.join(actual)}")
        _check_not_narrowed(source, root, column, actual[column])
        if filesources.file_format(source) == "csv":
            actual[column] = read_as[column]
            continue
        want, have = type_family(declared, source.dialect), type_family(actual[column], "duckdb")
        if want and have and want != have:
            raise ProjectError(
                f"source {source.key}: column {column} is declared {declared} but is {actual[column]} in "
                f"'{source.path}' ({have}, not {want})",
                source.file, source.line, hint="fix the declaration in warehouse/sources.toml, or the files",
            )
        actual[column] = read_as.get(column, actual[column])  # cast to it as read (filesources.reader)
    return actual


def _check_not_narrowed(source, root: Path, column: str, have: str) -> None:
    """A file's column is read as its declared type (a Parquet column cast, a CSV one parsed):
    declared an integer over the files' fractions (double, decimal; in a CSV file, as DuckDB's
    sniffer finds them in the rows it samples), 2.675 was read as 3 without a word. Exit 2 at
    the column's line; a decimal of fewer digits is a rounding the declaration asks for."""
    want, own = declared_type(source.declared[column], source.dialect), data_type(have, "duckdb")
    if own is None or not want.is_type(*exp.DataType.INTEGER_TYPES) or not own.is_type(*exp.DataType.REAL_TYPES):
        return
    try:
        text = (root / source.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    raise ProjectError(f"source {source.key}: column {column} is declared {source.declared[column]} but is {have} in "
                       f"'{source.path}': read as declared, its fractions would be cut (2.675 read as 3)",
                       source.file, line_of(text, f"{column} =", source.line or 1) or source.line,
                       hint=f'declare it {have.lower()} (or a decimal type), or round it in a step')


def _targets(root: Path) -> dict[str, dict]:
    """{target: {source: {column: type}}}; a file of another layout (an older toolkit's,
    one list for every target) is none: the next run reads the catalog again."""
    try:
        data = json.loads((root / CACHE).read_text())
    except (OSError, ValueError):
        return {}  # none yet, or damaged: the next run reads the catalog again
    targets = data.get("targets") if isinstance(data, dict) else None
    return {name: value for name, value in targets.items() if isinstance(value, dict)} if isinstance(targets, dict) else {}


def _remembered(root: Path, target: str | None) -> dict[str, dict[str, str]]:
    return _targets(root).get(target or "", {})


def cache_text(root: Path, target: str | None = None) -> str:
    """What the compile cache key includes: what is remembered for `target`."""
    remembered = _remembered(root, target)
    return json.dumps(remembered) if remembered else ""


def remember(root: Path, seen: dict[str, dict[str, str]], target: str | None = None) -> bool:
    """Record the catalog columns of table sources on `target`, as stored; True if they changed."""
    if not seen:
        return False
    targets = _targets(root)
    remembered = targets.get(target or "", {})
    merged = {**remembered, **seen}
    if merged == remembered:
        return False
    targets[target or ""] = merged
    path = root / CACHE
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        json.dump({"targets": targets}, file)  # column order is the table's: not sorted
    os.replace(temporary, path)  # a concurrent reader sees the old file or the new one
    return True
