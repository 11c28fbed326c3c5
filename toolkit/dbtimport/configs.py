"""dbt configs: the dbt_project.yml tree (`models:`, `seeds:`), property-file `config:`
and in-file `{{ config(...) }}` calls, merged with dbt's precedence and written back
as one toolkit `config()` call.

Precedence (dbt's): dbt_project.yml, outer folder first, then the property file, then
the model's own config(). Tags add up at every level, meta merges, hooks accumulate.
An in-file value that is a Jinja expression (not a literal) is kept as its text.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

# Config keys whose value is a mapping, so a key of that name is a config, never a folder.
_MAPPING_CONFIGS = {"meta", "docs", "persist_docs", "column_types", "grants", "contract", "quoting", "partition_by",
                    "labels", "config", "freshness", "snowflake_warehouse"}
_KNOWN = {"materialized", "enabled", "tags", "schema", "alias", "database", "unique_key", "incremental_strategy",
          "on_schema_change", "pre_hook", "post_hook", "full_refresh", "persist_docs", "meta", "docs", "grants",
          "contract", "sql_header", "column_types", "quote_columns", "delimiter", "severity", "where", "limit",
          "warn_if", "error_if", "store_failures", "fail_calc", "access", "group", "cluster_by", "sort", "dist",
          "batch_size", "event_time", "lookback", "begin", "incremental_predicates", "file_format", "location_root"}
_CALL = re.compile(r"{{-?\s*config\s*\(")
_COMMENT = re.compile(r"{#.*?#}", re.S)


@dataclass(frozen=True)
class Raw:
    """A config value that is Jinja (e.g. var('x') or a conditional): kept as its text."""

    text: str


def normal(key: str) -> str:
    return key.lstrip("+").replace("-", "_")


def level_configs(level: dict) -> dict[str, Any]:
    """The configs set at one level of a dbt_project.yml tree (`+key`, or a known key)."""
    found = {}
    for key, value in level.items():
        if not isinstance(key, str):
            continue
        name = normal(key)
        if key.startswith("+") or name in _MAPPING_CONFIGS or (name in _KNOWN and not isinstance(value, dict)):
            found[name] = value
    return found


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        if key == "tags" and old is not None and not isinstance(value, Raw) and not isinstance(old, Raw):
            merged[key] = list(dict.fromkeys(_list(old) + _list(value)))
        elif key in ("pre_hook", "post_hook") and old is not None:
            merged[key] = _list(old) + _list(value)
        elif key == "meta" and isinstance(old, dict) and isinstance(value, dict):
            merged[key] = {**old, **value}
        else:
            merged[key] = value
    return merged


def _list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def tree_config(tree: Any, project: str, parts: list[str]) -> dict[str, Any]:
    """The configs a resource at folder `parts` (its name last) gets from a dbt_project.yml tree."""
    if not isinstance(tree, dict):
        return {}
    merged = level_configs(tree)
    level = tree.get(project)
    for part in [None, *parts]:
        if part is not None:
            level = level.get(part) if isinstance(level, dict) else None
        if not isinstance(level, dict):
            break
        merged = merge(merged, level_configs(level))
    return merged


# -- in-file config() calls -------------------------------------------------------------------


@dataclass
class ConfigCall:
    start: int
    end: int
    values: dict[str, Any] | None  # None: not a call of keyword literals/expressions we can read


def find_calls(text: str) -> list[ConfigCall]:
    """Every `{{ config(...) }}` in a template, with its keyword values; one inside a Jinja
    comment is not a call (dbt never runs it)."""
    calls = []
    comments = [m.span() for m in _COMMENT.finditer(text)]
    for match in _CALL.finditer(text):
        if any(start <= match.start() < end for start, end in comments):
            continue
        close = _closing(text, match.end())
        if close is None:
            continue
        tail = re.compile(r"\s*-?}}").match(text, close + 1)
        if tail is None:
            calls.append(ConfigCall(match.start(), close + 1, None))
            continue
        calls.append(ConfigCall(match.start(), tail.end(), _keywords(text[match.end(): close])))
    return calls


_OPENERS = {"if", "for", "macro", "call", "filter", "with", "block", "set"}


def conditional_lines(text: str) -> list[int]:
    """Lines of config() calls inside a Jinja block ({% if %}, {% for %}, {% macro %}, ...):
    dbt applies such a call only when its branch renders, toolkit has one config per step.
    A template Jinja cannot read gives none (it is reported where it is converted)."""
    import jinja2

    try:
        tokens = [t for t in jinja2.Environment().lex(text) if t[1] != "whitespace"]
    except jinja2.TemplateSyntaxError:
        return []
    depth, lines = 0, []
    for index, (line, kind, value) in enumerate(tokens):
        if kind == "block_begin":
            depth += _depth_change(tokens[index + 1:])
        elif (kind, value) == ("name", "config") and depth > 0 and tokens[index + 1:index + 2] and tokens[index + 1][2] == "(":
            lines.append(line)
    return lines


def _depth_change(rest: list[tuple[int, str, str]]) -> int:
    """+1 for a tag opening a block, -1 for one closing it ({% set x = ... %} opens none)."""
    tag = []
    for _, kind, value in rest:
        if kind == "block_end":
            break
        tag.append((kind, value))
    name = tag[0][1] if tag and tag[0][0] == "name" else ""
    if name.startswith("end"):
        return -1
    if name == "set":
        return 0 if ("operator", "=") in tag else 1
    return 1 if name in _OPENERS else 0


def _closing(text: str, at: int) -> int | None:
    """Index of the ')' closing the '(' just before `at`, skipping strings and nesting."""
    depth, quote, i = 1, None, at
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


_JINJA_CONSTANTS = {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}


def _keywords(arguments: str) -> dict[str, Any] | None:
    source = "f(" + arguments.replace("\n", " ") + ")"
    try:
        call = ast.parse(source, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call) or call.args or any(k.arg is None for k in call.keywords):
        return None
    values = {}
    for keyword in call.keywords:
        try:
            values[normal(keyword.arg)] = _literal(keyword.value)
        except ValueError:
            values[normal(keyword.arg)] = Raw(ast.get_source_segment(source, keyword.value))
    return values


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Name) and node.id in _JINJA_CONSTANTS:
        return _JINJA_CONSTANTS[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    return ast.literal_eval(node)


def jinja(value: Any) -> str:
    """A Python value as a Jinja literal (Raw: its own text)."""
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{jinja(str(k))}: {jinja(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(jinja(v) for v in value) + "]"
    return repr(str(value))


def config_call(config: dict[str, Any]) -> str:
    """`{{ config(...) }}`, one key per line when it is long."""
    items = [f"{key}={jinja(value)}" for key, value in config.items()]
    one = "{{ config(" + ", ".join(items) + ") }}"
    if len(one) <= 100:
        return one
    items = [f"{key}={_long(value)}" for key, value in config.items()]
    return "{{ config(\n    " + ",\n    ".join(items) + ",\n) }}"


def _long(value: Any) -> str:
    """A long dict or list (tests, table_tests) one entry per line."""
    text = jinja(value)
    if len(text) <= 80 or isinstance(value, Raw):
        return text
    if isinstance(value, dict):
        return "{\n" + "".join(f"        {jinja(str(k))}: {jinja(v)},\n" for k, v in value.items()) + "    }"
    if isinstance(value, (list, tuple)):
        return "[\n" + "".join(f"        {jinja(v)},\n" for v in value) + "    ]"
    return text


def replace_calls(text: str, calls: list[ConfigCall], config: dict[str, Any]) -> str:
    """The template with its config() calls replaced by one call holding `config`
    (at the first call's place, else at the top); nothing when `config` is empty."""
    new = config_call(config) if config else ""
    if not calls:
        return f"{new}\n{text}" if new else text
    for index, call in reversed(list(enumerate(calls))):
        text = text[: call.start] + (new if index == 0 else "") + text[call.end:]
    return text
