"""A step's config(): what keys exist, what they may hold, and what each means.

    materialized          table (default) | view | incremental | ephemeral (toolkit/materializations/)
    unique_key            incremental merge: rows whose key arrives again are replaced
    time_column, lookback incremental append that re-reads a late-data window
    incremental_strategy  dbt's name for the above; merge and delete+insert need unique_key
    tests, table_tests    data tests (see datatests.py); metadata: editing them re-runs the
                          tests on the published table, never rebuilds it
    tags, description     metadata: editing them never rebuilds data
    columns               metadata: {"column": "what it means"}, shown by toolkit docs
    cron                  schedule: "@hourly", "@daily", "@weekly", "@monthly" or 5 cron fields (UTC);
                          `toolkit run` rebuilds the step for changed data only when due
    meta, docs            dbt's free-form metadata: kept, never rebuilds data
    enabled               false: the step is not compiled nor built; a step reading it is exit 2
    on_schema_change      incremental steps, dbt's names: 'ignore', 'append_new_columns' and
                          'sync_all_columns' are accepted and mean what toolkit does anyway (a
                          changed definition rebuilds the step from its query, so the table has
                          exactly the query's columns); 'fail' is refused: it cannot stop that
    alias, schema         where the step is published (<schema>.<alias>; <schema>__<env> outside prod);
                          its name (ref(), plans, state) stays its file's; no two steps may share one,
                          nor a declared source's; editing them republishes (the old name is dropped
                          in the same commit), never rebuilds
    post_hook             a SQL string or a list of them, each one statement on `{{ this }}` from an
                          allow-list (toolkit/hooks.py): ANALYZE, COMMENT ON TABLE|VIEW|COLUMN,
                          GRANT SELECT, REVOKE; run in the publishing transaction each time the step
                          is published (a failing hook fails it and the published data stays as it
                          was); a kind the target lacks is exit 2 at plan time; editing one rebuilds
    database, pre_hook    refused with exit 2 and the reason (REFUSED)
"""

from __future__ import annotations

import re
from typing import Any

from toolkit import hooks
from toolkit.datatests import DataTest, TestSpecError, parse_expressions, parse_tests
from toolkit.errors import ProjectError, did_you_mean, line_of
from toolkit.materializations import USER_FACING, strategy as strategy_of
from toolkit.materializations.incremental import LOOKBACK

CONFIG_KEYS = {
    "materialized": str,
    "tags": (list, str),
    "description": str,
    "unique_key": (list, str),
    "time_column": str,
    "lookback": str,
    "tests": dict,
    "table_tests": list,
    "incremental_strategy": str,  # dbt's name; the strategy follows from unique_key/time_column
    "cron": str,  # schedule (toolkit/schedule.py)
    "meta": dict,
    "docs": dict,
    "enabled": bool,
    "on_schema_change": str,
    "columns": dict,  # column -> description (toolkit docs)
    "alias": str,  # dbt's: the published name (the step's own name stays what ref() and the state use)
    "schema": str,  # dbt's: the published schema (schema__<env> outside prod)
    "post_hook": (list, str),  # allow-listed statements on the step's relation (toolkit/hooks.py)
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_SCHEMAS = {"toolkit", "toolkit_physical", "raw", "predictions", "information_schema", "pg_catalog"}
ON_SCHEMA_CHANGE = ("ignore", "append_new_columns", "sync_all_columns")
# dbt keys toolkit does not do, and why (exit 2 at the config() line).
REFUSED = {
    "database": "a step publishes in its target's database",
    "pre_hook": "hooks would run analyst SQL outside the one-SELECT rule (no DDL, ATTACH, COPY, PRAGMA), and before "
                "the step's table exists there is nothing of its own to act on; post_hook takes an allow-list "
                "(ANALYZE, COMMENT ON, GRANT SELECT, REVOKE on {{ this }}), the rest belongs in the SELECT or another step",
}
# merge and delete+insert both replace rows whose unique_key arrives again;
# append inserts the query's rows (with time_column: re-reading a lookback window).
INCREMENTAL_STRATEGIES = ("merge", "delete+insert", "append")
METADATA_KEYS = {"description", "tags", "cron", "tests", "table_tests", "meta", "docs", "on_schema_change", "enabled", "columns",
                 "alias", "schema"}  # editing these never rebuilds data


def _names(value: list | str) -> bool:
    """A name, or a list of names (unique_key=["id", 3] failed in the build, not here; post_hook
    items are checked by hooks.py, which says what each must be)."""
    return isinstance(value, str) or all(isinstance(item, str) for item in value)


def check_config(config: dict[str, Any], template: str, relative: str, dialect: str, anchor: str = "config(") -> list[DataTest]:
    """Validate a step's config() (or a Python step's @feature(...): anchor) and return its data tests."""
    line = line_of(template, anchor)

    def fail(message: str, hint: str | None = None):
        raise ProjectError(message, relative, line, hint=hint)

    for key, value in config.items():
        if key in REFUSED:
            fail(f"config {key}= is not supported: {REFUSED[key]}")
        if key not in CONFIG_KEYS:
            fail(f"unknown config key '{key}'", did_you_mean(key, CONFIG_KEYS) or f"keys: {', '.join(CONFIG_KEYS)}")
        if not isinstance(value, CONFIG_KEYS[key]) or (key in ("unique_key", "tags") and not _names(value)):
            fail(f"config {key}={value!r} has the wrong type")
    for column, text in config.get("columns", {}).items():
        if not isinstance(column, str) or not isinstance(text, str):
            fail(f"config columns: {column!r}: {text!r} is not column name: description",
                 'columns={"x": "what x means"}')
    for key in ("alias", "schema"):
        value = config.get(key)
        if value is not None and not _IDENTIFIER.match(value):
            fail(f"config {key}='{value}' is not a plain name", "letters, digits and underscores, starting with a letter")
        if key == "schema" and value is not None and (value.lower() in RESERVED_SCHEMAS or "__" in value):
            fail(f"config schema='{value}' is reserved", f"toolkit keeps {', '.join(sorted(RESERVED_SCHEMAS))} and "
                 "<schema>__<env> for itself")
    materialized = config.get("materialized", "table")
    if materialized not in USER_FACING:
        fail(f"unknown materialization '{materialized}'", did_you_mean(materialized, USER_FACING) or f"one of {', '.join(USER_FACING)}")
    if not strategy_of(materialized).testable and (config.get("tests") or config.get("table_tests")):
        raise ProjectError(f"an {materialized} step is never built, so it has no data tests", relative, line_of(template, "tests") or line,
                           hint="materialize it as a table or view to test it")
    change = config.get("on_schema_change")
    if change is not None and materialized != "incremental":
        fail("on_schema_change applies to incremental steps only")
    if change == "fail":
        fail("on_schema_change='fail' is not supported: toolkit rebuilds an incremental step whose definition changed, "
             "so its columns always follow its query", "drop the key, or use 'append_new_columns' / 'sync_all_columns'")
    if change is not None and change not in ON_SCHEMA_CHANGE:
        fail(f"unknown on_schema_change '{change}'", f"one of {', '.join(ON_SCHEMA_CHANGE)}")
    incremental = config.get("incremental_strategy")
    if incremental is not None and incremental not in INCREMENTAL_STRATEGIES:
        fail(f"unknown incremental_strategy '{incremental}'", f"one of {', '.join(INCREMENTAL_STRATEGIES)}")
    if incremental in ("merge", "delete+insert") and "unique_key" not in config:
        fail(f"incremental_strategy '{incremental}' needs a unique_key")
    if "cron" in config:
        from toolkit.schedule import check

        problem = check(config["cron"])
        if problem:
            raise ProjectError(problem, relative, line_of(template, "cron") or line)
    if "post_hook" in config:
        try:
            hooks.parse(config["post_hook"], dialect, materialized)
        except hooks.HookError as error:
            raise ProjectError(f"config {error}", relative, line_of(template, "post_hook") or line,
                               hint="a hook acts on {{ this }} only; put other SQL in the SELECT or another step") from None
    if "lookback" in config and not LOOKBACK.match(config["lookback"]):
        fail(f"lookback '{config['lookback']}' is not an interval like '3 days'")
    try:
        tests = parse_tests(config.get("tests", {}), config.get("table_tests", []))
        parse_expressions(tests, dialect)
    except TestSpecError as error:
        fail(f"tests: {error}")
    return tests

