"""Hostile strings through vars (every way a template can use one), step names and
seeds: no statement beyond the build runs (the canary table is untouched) and the
compiled SQL holds the var's text only inside string literals (checked on the
sqlglot tree: every literal blanked, the payload's marker must be gone)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from _projects import create_tables, make_test_project
from known_failures import KNOWN_FAILURES
from published import published_state

pytestmark = pytest.mark.slow
MARKER = "zz9q"
CONFIG = 'name = "inj"\ndialect = "duckdb"\ntarget = "dev"\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/inj.duckdb"\n'
SOURCES = '[app]\nschema = "app"\n[app.tables.people]\ncolumns = { id = "bigint", name = "varchar" }\n'

PREFIXES = ["", ")", "0 ", "1)", "null)", "''", "\\", "'", '"', "')", "'))", "\\'", "$$", "`", "';", "*/", "--\n", "\n"]
SUFFIXES = [
    f"; drop table app.canary; -- {MARKER}",
    f" or 1=1 -- {MARKER}",
    f"; insert into app.canary values (666, '{MARKER}'); --",
    f" union select 666, '{MARKER}' --",
    f"/* {MARKER} */ , (select count(*) from app.canary) as {MARKER}",
    f" || (select name from app.canary) || '{MARKER}",
]
EXTRA = [
    "{{ 7*7 }}" + MARKER, "{% raw %}" + MARKER, MARKER + "\x00; drop table app.canary", "’ or 1=1 -- " + MARKER,
    "E'\\'' ; drop table app.canary; --" + MARKER, f"$tag$ {MARKER} $tag$", f"__toolkit_var_1__ {MARKER}",
    f"{MARKER}' ; copy app.canary to '/tmp/x.csv'; --", f"{MARKER}'); attach '/tmp/evil.db' as e; --",
    f"read_text('/etc/passwd') {MARKER}", f"{MARKER}\\", f"{MARKER}%s%s%(x)s",
]
HOSTILE = [prefix + suffix for prefix in PREFIXES for suffix in SUFFIXES] + EXTRA

FORMS = {  # how the step uses var('c') (a string) or var('l') (a list of strings)
    "bare": "{{ var('c') }}",
    "quoted": "'{{ var('c') }}'",
    "upper": "{{ var('c') | upper }}",
    "lower": "{{ var('c') | lower }}",
    "trim": "{{ var('c') | trim }}",
    "join": "{{ var('l') | join(',') }}",
    "replace": "{{ var('c') | replace('a', 'b') }}",
    "concat": "{{ 'x' ~ var('c') }}",
    "slice": "{{ var('c')[0:200] }}",
    "method-upper": "{{ var('c').upper() }}",
    "percent": "{{ '%s' % var('c') }}",
    "index": "{{ var('l')[0] }}",
    "loop": "{% for x in var('l') %}{{ x }}{% endfor %}",
    "quoted-upper": "'{{ var('c') | upper }}'",
    "where-concat": "'a' where name = {{ 'n' ~ var('c') }}",
}


def _cases():
    forms = list(FORMS)
    for i, text in enumerate(HOSTILE):
        form = forms[i % len(forms)]
        via = "cli" if i % 3 == 0 else "config"
        yield f"inject-var-{form}-{via}-{i}", form, via, text


def _param(case_id: str, *values):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[case_id])] if case_id in KNOWN_FAILURES else []
    return pytest.param(*values, id=case_id, marks=marks)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    root = make_test_project(
        tmp_path_factory.mktemp("injection") / "inj",
        {"toolkit.toml": CONFIG, "warehouse/sources.toml": SOURCES, "features/people.sql": "select id, name from {{ source('app', 'people') }}"},
    )
    create_tables(root / "warehouse/inj.duckdb", {
        "app.people": "select 1::bigint as id, 'ann' as name",
        "app.canary": "select 42::bigint as id, 'alive' as name",
    })
    from toolkit.cli import main  # noqa: F401 - imported once, outside the timed cases

    return root


def invoke(root: Path, args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    from toolkit.cli import main

    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["toolkit", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def canary(root: Path) -> dict:
    return {"app.canary": published_state(root / "warehouse/inj.duckdb", ("app",)).get("app.canary")}


def marker_outside_literals(sql: str) -> list[str]:
    """The statements of `sql` in which MARKER survives once every string literal is blanked."""
    found = []
    for tree in sqlglot.parse(sql, read="duckdb"):
        if tree is None:
            continue
        blanked = tree.transform(lambda node: exp.Literal.string("") if isinstance(node, exp.Literal) and node.is_string else node)
        if MARKER.lower() in blanked.sql(dialect="duckdb").lower():
            found.append(blanked.sql(dialect="duckdb"))
    return found


@pytest.mark.parametrize("case_id, form, via, text", [_param(c[0], *c) for c in _cases()])
def test_hostile_var_stays_a_value(case_id, form, via, text, base, tmp_path, monkeypatch, capsys):
    root = tmp_path / "inj"
    shutil.copytree(base, root)
    (root / "features/v.sql").write_text(f"select {FORMS[form]} as v, id from {{{{ ref('people') }}}}\n", encoding="utf-8")
    values = {"c": text, "l": [text, "ok"]}
    args: list[str] = []
    if via == "cli":
        args = ["--vars", json.dumps(values)]
    else:
        with (root / "toolkit.toml").open("a", encoding="utf-8") as config:
            config.write("[vars]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    before = canary(root)
    code, out, err = invoke(root, ["run", *args], monkeypatch, capsys)
    assert "Traceback" not in out + err and "internal error" not in err, err
    assert code in (0, 1, 2), f"exit {code}: {err}"  # 1: the engine rejected the SQL; compile shows why
    assert canary(root) == before  # no extra statement ran
    if code == 2:  # refused: must name the template line
        assert "features/v.sql:" in err, err
        return
    code, sql, err = invoke(root, ["compile", "v", *args], monkeypatch, capsys)
    assert code == 0, err
    leaked = marker_outside_literals(sql)
    assert not leaked, f"var text outside a literal:\n{leaked}"


NAME_CASES = {
    "inject-seed-values": ("warehouse/seeds/evil.csv", f"a,b\n\"'); drop table app.canary; --{MARKER}\",1\n"),
    "inject-seed-header": ("warehouse/seeds/evil.csv", f"\"a\"\"; drop table app.canary; --{MARKER}\",b\n1,2\n"),
    "inject-seed-header-quote": ("warehouse/seeds/evil.csv", "\"a'b\",\"c\"\"d\"\n1,2\n"),
    "inject-seed-name": ("warehouse/seeds/x;drop table app.canary;--.csv", "a\n1\n"),
    "inject-seed-name-quote": ('warehouse/seeds/x"y.csv', "a\n1\n"),
    "inject-step-name": ("features/x;drop table app.canary;--.sql", "select 1 as a"),
    "inject-step-name-quote": ('features/x"); drop table app.canary; --.sql', "select 1 as a"),
    "inject-step-name-single": ("features/x'y.sql", "select 1 as a"),
    "inject-step-column-alias": ("features/evil.sql", f'select 1 as "a""; drop table app.canary; --{MARKER}"'),
    "inject-source-column": ("warehouse/sources.toml", SOURCES.replace('name = "varchar"', 'name = "varchar", "x\\"; drop table app.canary; --" = "bigint"')),
}


@pytest.mark.parametrize("case_id", [_param(case_id, case_id) for case_id in NAME_CASES])
def test_hostile_names_and_seeds_run_no_statement(case_id, base, tmp_path, monkeypatch, capsys):
    root = tmp_path / "inj"
    shutil.copytree(base, root)
    relative, text = NAME_CASES[case_id]
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_text(text, encoding="utf-8")
    before = canary(root)
    code, out, err = invoke(root, ["run"], monkeypatch, capsys)
    assert "Traceback" not in out + err and "internal error" not in err, err
    assert code in (0, 2), f"exit {code}: {err}"
    assert canary(root) == before
