"""The corpus: a table of mutations, each turning the published base project
(tests/adversarial/test_adv_corpus.py builds it once) into one broken project.

A Case writes/deletes files and runs one CLI command; the project must refuse it
with `code` (2 for a user mistake, 1 where a step legitimately fails at run time),
one short stderr line naming `where` (a project-relative file; `line=True` when the
message must carry file:LINE), no traceback, and no published relation changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STEP = "features/country_totals.sql"  # the scaffold's step (reads a source, a seed, a var)
LEAF = "features/leaf.sql"  # added by the base project: reads country_totals
CONFIG = "toolkit.toml"
SOURCES = "warehouse/sources.toml"
SEED = "warehouse/seeds/countries.csv"

BASE_FILES = {
    LEAF: '{{ config(materialized="view") }}\nselect country, users from {{ ref("country_totals") }}\n',
}


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    files: dict = field(default_factory=dict)  # path -> str | bytes | None (delete)
    args: tuple = ("run",)
    code: int | tuple = 2
    where: str | None = None
    line: bool = False
    subprocess: bool = False


def _step(body: str) -> str:
    return '{{ config(materialized="table") }}\n' + body + "\n"


SQL_BODIES = {
    "double-comma-select": "select country, , users from {{ ref('country_totals') }}",
    "double-comma-group": "select country, count(*) as n from {{ ref('country_totals') }} group by country,, users",
    "dangling-order": "select country from {{ ref('country_totals') }} order",
    "select-from": "select from {{ ref('country_totals') }}",
    "trailing-group-by": "select country, count(*) as n from {{ ref('country_totals') }} group by",
    "empty-in": "select country from {{ ref('country_totals') }} where country in ()",
    "unclosed-paren": "select (country from {{ ref('country_totals') }}",
    "unclosed-string": "select 'abc as x from {{ ref('country_totals') }}",
    "two-statements": "select 1 as x; select 2 as y",
    "drop-statement": "drop table features.country_totals",
    "insert-statement": "insert into features.country_totals values (1)",
    "create-statement": "create table x as select 1 as y",
    "empty-body": "",
    "only-comment": "-- nothing here",
    "where-without-predicate": "select country from {{ ref('country_totals') }} where",
    "join-without-on": "select a.country from {{ ref('country_totals') }} a join {{ ref('country_totals') }} b on",
    "from-missing-table": "select country from",
    "select-star-star": "select ** from {{ ref('country_totals') }}",
    "bad-case": "select case when users > 1 then 'a' from {{ ref('country_totals') }}",
    "bad-cast": "select cast(users as) as u from {{ ref('country_totals') }}",
    "limit-no-number": "select country from {{ ref('country_totals') }} limit",
    "having-alone": "select country from {{ ref('country_totals') }} having",
    "unbalanced-close": "select country) from {{ ref('country_totals') }}",
    "keyword-as-alias": "select country as from from {{ ref('country_totals') }}",
    "trailing-comma": "select country, users, from {{ ref('country_totals') }} where",
    "union-dangling": "select country from {{ ref('country_totals') }} union",
    "with-dangling": "with x as (select 1 as y)",
    "between-half": "select country from {{ ref('country_totals') }} where users between 1",
    "not-sql": "this is not sql at all",
    "unknown-table": "select * from nowhere.missing_table",
    "raw-physical-read": "select * from toolkit.runs",
    "unknown-column": "select no_such_column from {{ ref('country_totals') }}",
    "read-text": "select * from read_text('/etc/passwd')",
    "read-csv": "select * from read_csv('/etc/passwd')",
    "read-blob": "select * from read_blob('/etc/hostname')",
    "glob": "select * from glob('/etc/*')",
    "duckdb-settings": "select * from duckdb_settings()",
    "read-parquet": "select * from read_parquet('/tmp/*.parquet')",
    "attach-like": "select * from '/etc/passwd'",
    "toolkit-var-marker": "select '__toolkit_var_1__' as x, __toolkit_var_1__ as y",
    "columns-expression": "select country, min(columns(*)) from {{ ref('country_totals') }}",
    "columns-aliased": "select columns('c.*') as c from {{ ref('country_totals') }}",
    "repeated-output-name": "select country, country from {{ ref('country_totals') }}",
}
RUNTIME_SQL = {"unknown-column", "unknown-table", "raw-physical-read"}

JINJA_BODIES = {
    "div-zero": "select {{ 1/0 }} as x",
    "ref-empty": "select * from {{ ref() }}",
    "ref-int": "select * from {{ ref(1) }}",
    "ref-unknown": "select * from {{ ref('no_such_step') }}",
    "ref-two-args": "select * from {{ ref('pkg', 'model') }}",
    "ref-kwarg": "select * from {{ ref('country_totals', v=1) }}",
    "ref-self": "select * from {{ ref('leaf2') }}",
    "source-one-arg": "select * from {{ source('shop') }}",
    "source-unknown": "select * from {{ source('app', 'nope') }}",
    "source-unknown-group": "select * from {{ source('nope', 'events') }}",
    "source-int": "select * from {{ source(1, 2) }}",
    "var-empty": "select {{ var() }} as x",
    "var-unknown": "select {{ var('no_such_var') }} as x",
    "var-int-name": "select {{ var(3) }} as x",
    "str-times-str": "select {{ 'x' * 'y' }} as x",
    "undefined-name": "select {{ nothing_here }} as x",
    "undefined-call": "select {{ nothing_here() }} as x",
    "undefined-attr": "select {{ ref('country_totals').nope.deeper }} as x",
    "unclosed-expr": "select {{ 1 as x",
    "unclosed-block": "{% if true %} select 1 as x",
    "unknown-tag": "{% frobnicate %} select 1 as x",
    "unknown-filter": "select {{ 1 | frobnicate }} as x",
    "endfor-alone": "select 1 as x {% endfor %}",
    "lipsum-bomb": "select {{ lipsum(n=10**7) | length }} as x",
    "range-bomb": "select {{ range(10**9) | list | length }} as x",
    "pow-bomb": "select {{ 10 ** (10 ** 10) }} as x",
    "recursive-macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}select {{ f(0) }} as x",
    "string-repeat-bomb": "select '{{ 'a' * 10**9 }}' as x",
    "config-twice": "{{ config(materialized='table') }}{{ config(materialized='view') }} select 1 as x",
    "config-unknown-key": "{{ config(colour='blue') }} select 1 as x",
    "config-positional": "{{ config('table') }} select 1 as x",
    "config-bad-materialized": "{{ config(materialized='cube') }} select 1 as x",
    "config-materialized-int": "{{ config(materialized=3) }} select 1 as x",
    "batch-zero": "select {{ batch(0) }} as x",
    "self-import": "{% import 'nope.sql' as m %} select 1 as x",
    "include-file": "{% include '/etc/passwd' %}",
    "dunder-access": "select '{{ ''.__class__.__mro__ }}' as x",
    "globals-access": "select '{{ config.__globals__ }}' as x",
    "cycler-escape": "select '{{ cycler.__init__.__globals__ }}' as x",
    "raise-in-template": "{{ raise_error('boom') }} select 1 as x",
    "var-placeholder-upper": "select 1 as {{ (var('label', 'n') ~ '_x') | upper }}",  # would name a column __TOOLKIT_VAR_0___X
    "var-placeholder-slice": "{% set s %}{{ var('label', 'n') }}{% endset %}select '{{ s[:3] }}' as x",  # would be '__t'
    # would be 'toolkitvar0'
    "var-placeholder-loop": "{% set s %}{{ var('label', 'n') }}{% endset %}select '{% for c in s if c != '_' %}{{ c }}{% endfor %}' as x",
}

BOMBS = {"lipsum-bomb", "range-bomb", "pow-bomb", "recursive-macro", "string-repeat-bomb"}

STEP_CONFIG = {
    "incremental-no-time": "{{ config(materialized='incremental') }} select country from {{ ref('country_totals') }}",
    "incremental-bad-lookback": "{{ config(materialized='incremental', time_column='x', lookback='soon') }} select 1 as x",
    "unique-key-no-column": "{{ config(materialized='incremental', time_column='ts', unique_key='nope') }} select country, now() as ts from {{ ref('country_totals') }}",
    "time-column-missing": "{{ config(materialized='incremental', time_column='nope') }} select country from {{ ref('country_totals') }}",
    "tests-unknown-column": "{{ config(materialized='table', tests={'nope': ['not_null']}) }} select country from {{ ref('country_totals') }}",
    "tests-unknown-test": "{{ config(materialized='table', tests={'country': ['frobnicate']}) }} select country from {{ ref('country_totals') }}",
    "tests-not-dict": "{{ config(materialized='table', tests=['country']) }} select country from {{ ref('country_totals') }}",
    "tests-string-list": "{{ config(materialized='table', tests={'country': 'not_null'}) }} select country from {{ ref('country_totals') }}",
    "tags-int": "{{ config(materialized='table', tags=3) }} select 1 as x",
    "materialized-empty": "{{ config(materialized='') }} select 1 as x",
    "materialized-none": "{{ config(materialized=none) }} select 1 as x",
    "unique-key-int": "{{ config(materialized='incremental', time_column='ts', unique_key=1) }} select now() as ts",
    "lookback-int": "{{ config(materialized='incremental', time_column='ts', lookback=5) }} select now() as ts",
    "time-column-int": "{{ config(materialized='incremental', time_column=5) }} select now() as ts",
}

CONFIG_TEXTS = {
    "path-int": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\nengine = "duckdb"\npath = 123\n',
    "threads-string": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\nthreads = "many"\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/shop.duckdb"\n',
    "unknown-engine": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\nengine = "oracle"\npath = "warehouse/shop.duckdb"\n',
    "unknown-dialect": 'name = "shop"\ndialect = "klingon"\ntarget = "dev"\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/shop.duckdb"\n',
    "missing-target": 'name = "shop"\ndialect = "duckdb"\ntarget = "prod"\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/shop.duckdb"\n',
    "no-targets": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\n',
    "bad-toml": 'name = "shop\n',
    "bad-toml-table": '[targets.dev\nengine = "duckdb"\n',
    "duplicate-key": 'name = "shop"\nname = "shop2"\n',
    "name-int": 'name = 5\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/shop.duckdb"\n',
    "target-int": 'name = "shop"\ndialect = "duckdb"\ntarget = 1\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/shop.duckdb"\n',
    "targets-list": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\ntargets = [1, 2]\n',
    "engine-missing": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\npath = "warehouse/shop.duckdb"\n',
    "path-missing": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\nengine = "duckdb"\n',
    "path-unwritable": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\nengine = "duckdb"\npath = "/proc/nope/x.duckdb"\n',
    "path-is-folder": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\nengine = "duckdb"\npath = "warehouse"\n',
    "vars-not-table": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\nvars = 3\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/shop.duckdb"\n',
    "threads-zero": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\nthreads = 0\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/shop.duckdb"\n',
    "threads-negative": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\nthreads = -4\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/shop.duckdb"\n',
    "unknown-top-key": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\ncolour = "blue"\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/shop.duckdb"\n',
    "empty-file": "",
    "postgres-no-url": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\nengine = "postgres"\n',
    "env-var-unset": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\nengine = "duckdb"\npath = "${TOOLKIT_ADV_UNSET_VAR}"\n',
    "engine-int": 'name = "shop"\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\nengine = 1\npath = "warehouse/shop.duckdb"\n',
}

CATALOG_ONLY = {"wrong-type"}  # mistakes only the warehouse's catalog shows
SOURCES_TEXTS = {
    "varchr-type": '[app]\nschema = "app"\n[app.tables.events]\ncolumns = { event_id = "bigint", user_id = "bigint", country = "varchr", amount = "double", happened_at = "timestamp" }\n',
    "wrong-type": '[app]\nschema = "app"\n[app.tables.events]\ncolumns = { event_id = "varchar", user_id = "bigint", country = "varchar", amount = "double", happened_at = "timestamp" }\n',
    "missing-column-declared": '[app]\nschema = "app"\n[app.tables.events]\ncolumns = { event_id = "bigint", nope = "bigint" }\n',
    "table-missing": '[app]\nschema = "app"\n[app.tables.events]\ncolumns = { event_id = "bigint" }\n[app.tables.ghost]\ncolumns = { x = "bigint" }\n',
    "schema-missing": '[app]\nschema = "nope"\n[app.tables.events]\ncolumns = { event_id = "bigint" }\n',
    "bad-toml": '[app\nschema = "app"\n',
    "schema-int": '[app]\nschema = 5\n[app.tables.events]\ncolumns = { event_id = "bigint" }\n',
    "columns-list": '[app]\nschema = "app"\n[app.tables.events]\ncolumns = ["event_id"]\n',
    "column-type-int": '[app]\nschema = "app"\n[app.tables.events]\ncolumns = { event_id = 5 }\n',
    "tables-not-table": '[app]\nschema = "app"\ntables = 3\n',
    "group-not-table": 'app = 3\n',
    "empty-columns": '[app]\nschema = "app"\n[app.tables.events]\ncolumns = {}\n',
    "unknown-key": '[app]\nschema = "app"\ncolour = "red"\n[app.tables.events]\ncolumns = { event_id = "bigint" }\n',
    "type-injection": '[app]\nschema = "app"\n[app.tables.events]\ncolumns = { event_id = "bigint); drop table features.country_totals; --" }\n',
    "name-injection": '[app]\nschema = "app\\"; drop table x; --"\n[app.tables.events]\ncolumns = { event_id = "bigint" }\n',
    "no-group-events-now": '[other]\nschema = "app"\n[other.tables.events]\ncolumns = { event_id = "bigint" }\n',
}

SEED_TEXTS = {
    "empty": "",
    "header-only-dup": "country,country\nDE,DE\n",
    "ragged": "country,region\nDE\nFR,Europe,extra\n",
    "no-header-cols": ",\n1,2\n",
    "binary": b"\x00\x01\x02\xff\xfe\x00",
    "utf16": "country,region\nDE,Europe\n".encode("utf-16"),
    "latin1": "country,region\nDE,Europ\xe9\n".encode("latin-1"),
    "unclosed-quote": 'country,region\n"DE,Europe\n',
    "country-column-gone": "land,region\nDE,Europe\n",
    "bad-header-name": "country,\"re\"\"gion\"\nDE,Europe\n",
    "unnamed-header-column": "country,,region\nDE,x,Europe\n",
}

NEW_SEEDS = {
    "seed-named-like-step": ("warehouse/seeds/country_totals.csv", "a\n1\n"),
    "seed-space-name": ("warehouse/seeds/my seed.csv", "a\n1\n"),
    "seed-dash-name": ("warehouse/seeds/my-seed.csv", "a\n1\n"),
    "seed-binary": ("warehouse/seeds/blob.csv", b"\x89PNG\r\n\x1a\n\x00\x00"),
    "seed-empty": ("warehouse/seeds/nothing.csv", ""),
}

DAG_FILES = {
    "cycle-two": {"features/a.sql": "select * from {{ ref('b') }}", "features/b.sql": "select * from {{ ref('a') }}"},
    "cycle-self": {"features/a.sql": "select * from {{ ref('a') }}"},
    "cycle-three": {
        "features/a.sql": "select * from {{ ref('c') }}",
        "features/b.sql": "select * from {{ ref('a') }}",
        "features/c.sql": "select * from {{ ref('b') }}",
    },
    "cycle-via-leaf": {STEP: _step("select * from {{ ref('leaf') }}")},
    "duplicate-name-folders": {"features/x/dup.sql": "select 1 as a", "features/y/dup.sql": "select 2 as a"},
    "case-collision": {"features/COUNTRY_TOTALS.sql": "select 1 as country"},
    "case-collision-new": {"features/Mixed.sql": "select 1 as a", "features/mixed.sql": "select 2 as a"},
    "step-named-like-seed": {"features/countries.sql": "select 1 as a"},
    # Keyword names (from.sql, select.csv) are not broken any more: tests/test_reserved_names.py
    "name-with-dash": {"features/my-step.sql": "select 1 as a"},
    "name-with-space": {"features/my step.sql": "select 1 as a"},
    "name-starts-digit": {"features/1step.sql": "select 1 as a"},
    "name-with-dot": {"features/a.b.sql": "select 1 as a"},
    # A 130-character name is fine on DuckDB (no identifier limit); the PostgreSQL limit is tested in test_reliability.py
    "name-unicode": {"features/schrödinger.sql": "select 1 as a"},
    "name-quote": {'features/a"b.sql': "select 1 as a"},
}

FILE_BYTES = {
    "step-binary": (STEP, b"\x00\x01\x02\x03\xff\xfe"),
    "step-utf16": (STEP, _step("select 1 as x").encode("utf-16")),
    "step-latin1": (STEP, _step("select 'caf\xe9' as x").encode("latin-1")),
    "step-nul-inside": (STEP, b"select 1 as x\x00, 2 as y\n"),
    "config-binary": (CONFIG, b"\x00\x01\xff\xfe\x00"),
    "config-utf16": (CONFIG, 'name = "shop"\n'.encode("utf-16")),
    "config-latin1": (CONFIG, 'name = "sh\xf6p"\n'.encode("latin-1")),
    "sources-binary": (SOURCES, b"\x00\xff\xfe\x01"),
    "sources-utf16": (SOURCES, '[app]\nschema = "app"\n'.encode("utf-16")),
    "sources-latin1": (SOURCES, '[app]\nschema = "\xe4pp"\n'.encode("latin-1")),
    "leaf-binary": (LEAF, b"\xff\xfe\xfd"),
    "leaf-utf16": (LEAF, "select 1 as x".encode("utf-16")),
    "macro-binary": ("features/macros/m.sql", b"\x00\xff"),
    "macro-latin1": ("features/macros/m.sql", "{% macro m() %}'\xe9'{% endmacro %}".encode("latin-1")),
    "model-binary": ("models/bad.py", b"\x00\xff\xfe"),
    "model-latin1": ("models/bad.py", "x = '\xe9'\n".encode("latin-1")),
}

MODEL_FILES = {
    "sys-exit-0": "import sys\nsys.exit(0)\n",
    "sys-exit-1": "import sys\nsys.exit(1)\n",
    "keyboard-interrupt": "raise KeyboardInterrupt\n",
    "syntax-error": "def (:\n",
    "import-error": "import no_such_module_anywhere\n",
    "raise-error": "raise RuntimeError('boom')\n",
    "name-error": "undefined_name_here\n",
    "os-exit": "import os\nos._exit(0)\n",
    "recursion": "def f():\n    return f()\nf()\n",
    "memory-error": "raise MemoryError\n",
}

CLI_ARGS = {
    "select-comma": ("run", "--select", ","),
    "select-empty": ("run", "--select", ""),
    "select-unknown": ("run", "--select", "no_such_step"),
    "select-bad-syntax": ("run", "--select", "+++"),
    "select-tag-unknown": ("run", "--select", "tag:nope"),
    "exclude-comma": ("run", "--exclude", ","),
    "exclude-unknown": ("run", "--exclude", "no_such_step"),
    "threads-zero": ("run", "--threads", "0"),
    "threads-negative": ("run", "--threads", "-1"),
    "threads-word": ("run", "--threads", "many"),
    "lock-timeout-negative": ("run", "--lock-timeout", "-5"),
    "lock-timeout-word": ("run", "--lock-timeout", "soon"),
    "target-unknown": ("run", "--target", "nope"),
    "vars-bad-json": ("run", "--vars", "{not json"),
    "vars-json-list": ("run", "--vars", "[1, 2]"),
    "vars-json-string": ("run", "--vars", '"x"'),
    "vars-no-equals": ("run", "--vars", "min_amount"),
    "vars-empty-key": ("run", "--vars", "=3"),
    "vars-type-wrong": ("run", "--vars", '{"min_amount": "x"}'),
    "vars-type-list": ("run", "--vars", '{"min_amount": [1]}'),
    "vars-type-object": ("run", "--vars", '{"min_amount": {"a": 1}}'),
    "vars-type-null": ("run", "--vars", '{"min_amount": null}'),
    "unknown-option": ("run", "--frobnicate"),
    "unknown-command": ("frobnicate",),
    "compile-unknown-step": ("compile", "no_such_step"),
    "compile-bad-dialect": ("compile", "country_totals", "--dialect", "klingon"),
    "ls-bad-select": ("ls", "--select", ","),
    "plan-unknown-target": ("plan", "--target", "nope"),
    "models-show-unknown": ("models", "show", "no_such_model"),
    "rollback-unknown-env": ("rollback", "no_such_env"),
    "promote-unknown-env": ("promote", "no_such_env", "prod"),
    "run-env-bad-name": ("run", "--env", "bad name; drop"),
    "project-missing": ("run", "-p", "/nonexistent/project"),
    "project-is-file": ("run", "-p", "toolkit.toml"),
    "gc-bad-age": ("gc", "--older-than", "yesterday-ish"),
    "log-format-unknown": ("run", "--log-format", "xml"),
    "select-injection": ("run", "--select", "country_totals; drop table x"),
    "select-glob-nothing": ("run", "--select", "zzz*"),
}


def _cases() -> list[Case]:
    cases: list[Case] = []
    for name, body in SQL_BODIES.items():
        code = (1, 2) if name in RUNTIME_SQL else 2
        cases.append(Case(f"sql-step-{name}", "SQL", {STEP: _step(body.replace("{{ ref('country_totals') }}", "{{ ref('countries') }}"))}, code=code, where=STEP, line=True))
        cases.append(Case(f"sql-leaf-{name}", "SQL", {LEAF: _step(body)}, code=code, where=LEAF, line=True))
        cases.append(Case(f"sql-new-{name}", "SQL", {"features/fresh.sql": body}, code=code, where="features/fresh.sql", line=True))
    for name, body in JINJA_BODIES.items():
        if name in BOMBS:  # one form each, in a subprocess with CPU and memory limits
            cases.append(Case(f"jinja-new-{name}", "Jinja", {"features/fresh.sql": body}, where="features/fresh.sql", line=True, subprocess=True))
            continue
        cases.append(Case(f"jinja-leaf-{name}", "Jinja", {LEAF: body}, where=LEAF, line=True))
        cases.append(Case(f"jinja-new-{name}", "Jinja", {"features/fresh.sql": body}, where="features/fresh.sql", line=True))
        cases.append(Case(f"jinja-compile-{name}", "Jinja", {"features/fresh.sql": body}, args=("compile", "fresh"), where="features/fresh.sql", line=True))
    for name, body in STEP_CONFIG.items():
        cases.append(Case(f"stepconfig-{name}", "step config", {"features/fresh.sql": body}, code=(1, 2), where="features/fresh.sql", line=True))
        cases.append(Case(f"stepconfig-leaf-{name}", "step config", {LEAF: body}, code=(1, 2), where=LEAF, line=True))
    for name, text in CONFIG_TEXTS.items():
        cases.append(Case(f"config-{name}", "config", {CONFIG: text}, where=CONFIG))
        cases.append(Case(f"config-plan-{name}", "config", {CONFIG: text}, args=("plan",), where=CONFIG))
    for name, text in SOURCES_TEXTS.items():
        cases.append(Case(f"sources-{name}", "sources", {SOURCES: text}, where=SOURCES))
        if name not in CATALOG_ONLY:  # `toolkit compile` reads no warehouse: it cannot see a type the table disagrees with
            cases.append(Case(f"sources-compile-{name}", "sources", {SOURCES: text}, args=("compile", "country_totals"), where=SOURCES))
    for name, data in SEED_TEXTS.items():
        cases.append(Case(f"seeds-{name}", "seeds", {SEED: data}, code=(1, 2), where=SEED))
    for name, (path, data) in NEW_SEEDS.items():
        cases.append(Case(f"seeds-{name}", "seeds", {path: data}, code=(1, 2), where=path))
    for name, files in DAG_FILES.items():
        first = next(iter(files))
        kind = "DAG" if name.startswith(("cycle", "duplicate", "case", "step-named")) else "refs"
        cases.append(Case(f"dag-{name}", kind, files, where=first))
    for name, (path, data) in FILE_BYTES.items():
        cases.append(Case(f"files-{name}", "files and encodings", {path: data}, where=path, subprocess=path.startswith("models/")))
    cases.append(Case("files-corrupt-duckdb", "files and encodings", {"warehouse/warehouse.duckdb": b"not a duckdb file" * 100}, where="warehouse/warehouse.duckdb"))
    cases.append(Case("files-step-is-folder", "files and encodings", {"features/dir.sql/x.sql": "select 1 as x"}, where="features/dir.sql"))
    for name, text in MODEL_FILES.items():
        cases.append(Case(f"models-{name}", "models", {"models/bad.py": text}, where="models/bad.py", subprocess=True))
    for name, args in CLI_ARGS.items():
        cases.append(Case(f"cli-{name}", "CLI", args=args))
    cases.append(Case("cli-subprocess-select-comma", "CLI", args=("run", "--select", ","), subprocess=True))
    cases.append(Case("cli-subprocess-vars-bad-json", "CLI", args=("run", "--vars", "{not json"), subprocess=True))
    cases.append(Case("sql-subprocess-double-comma", "SQL", {LEAF: _step(SQL_BODIES["double-comma-select"])}, where=LEAF, line=True, subprocess=True))
    return cases


CASES = _cases()
assert len({case.id for case in CASES}) == len(CASES), "duplicate case ids"
