"""templating.py: the dbt-familiar names, project macros, the sandbox and error locations."""

from __future__ import annotations

import textwrap

import pytest

from toolkit.errors import ProjectError
from toolkit.templating import Renderer

STEPS = {"orders": "features.orders", "countries": "raw.countries"}
SOURCES = {("shop", "orders"): "shop_raw.orders"}


def make_renderer(tmp_path, files: dict[str, str] | None = None, vars: dict | None = None) -> Renderer:
    for relative, text in (files or {}).items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return Renderer(
        tmp_path,
        {"days": 30} if vars is None else vars,
        resolve_ref=STEPS.get,
        resolve_source=lambda source, table: SOURCES.get((source, table)),
        ref_names=lambda: sorted(STEPS),
        source_names=lambda: ["shop.orders"],
    )


def render(tmp_path, text: str, files: dict[str, str] | None = None, **kwargs) -> tuple[str, dict]:
    renderer = make_renderer(tmp_path, {**(files or {}), "features/step.sql": text})
    sql, config, _ = renderer.render(tmp_path / "features/step.sql", "step", **kwargs)
    return sql, config


def render_error(tmp_path, text: str, files: dict[str, str] | None = None) -> ProjectError:
    with pytest.raises(ProjectError) as caught:
        render(tmp_path, text, files)
    return caught.value


def test_ref_source_var(tmp_path):
    sql, config = render(
        tmp_path,
        "select * from {{ ref('orders') }} join {{ source('shop', 'orders') }} "
        "where d > {{ var('days') }} and x = {{ var('missing', 5) }}",
    )
    assert sql == "select * from features.orders join shop_raw.orders where d > 30 and x = 5"
    assert config == {}


def test_config_is_collected_and_renders_nothing(tmp_path):
    sql, config = render(tmp_path, "{{ config(materialized='view', tags=['daily']) }}select 1")
    assert sql == "select 1"
    assert config == {"materialized": "view", "tags": ["daily"]}


def test_config_does_not_leak_between_renders(tmp_path):
    renderer = make_renderer(tmp_path, {"features/a.sql": "{{ config(materialized='view') }}select 1", "features/b.sql": "select 2"})
    assert renderer.render(tmp_path / "features/a.sql", "a")[1] == {"materialized": "view"}
    assert renderer.render(tmp_path / "features/b.sql", "b")[1] == {}


def test_this_and_is_incremental(tmp_path):
    text = "select * from src{% if is_incremental() %} where t > (select max(t) from {{ this }}){% endif %}"
    full, _ = render(tmp_path, text, this="features.step")
    incremental, _ = render(tmp_path, text, incremental=True, this="features.step")
    assert full == "select * from src"
    assert incremental == "select * from src where t > (select max(t) from features.step)"


def test_macros_are_callable_from_steps(tmp_path):
    files = {
        "features/macros/money.sql": "{% macro cents(column) %}round({{ column }} * 100){% endmacro %}",
        "features/macros/nested/dates.sql": "{% macro days_ago(n) %}current_date - {{ n }}{% endmacro %}",
    }
    sql, _ = render(tmp_path, "select {{ cents('amount') }} as c where d > {{ days_ago(var('days')) }}", files)
    assert sql == "select round(amount * 100) as c where d > current_date - 30"


def test_macros_can_use_ref(tmp_path):
    files = {"features/macros/m.sql": "{% macro all_orders() %}select * from {{ ref('orders') }}{% endmacro %}"}
    assert render(tmp_path, "{{ all_orders() }}", files)[0] == "select * from features.orders"


def test_set_and_for_loop(tmp_path):
    text = "{% set cols = ['a', 'b'] %}select {% for c in cols %}{{ c }}{{ ', ' if not loop.last }}{% endfor %} from t"
    assert render(tmp_path, text)[0] == "select a, b from t"


def test_unknown_ref_has_hint_and_line(tmp_path):
    error = render_error(tmp_path, "select *\nfrom {{ ref('order') }}")
    assert (error.file, error.line) == ("features/step.sql", 2)
    assert error.hint == "did you mean 'orders'?"


def test_unknown_source(tmp_path):
    error = render_error(tmp_path, "select *\n\nfrom {{ source('shop', 'order') }}")
    assert error.line == 3
    assert "not declared in warehouse/sources.toml" in error.message
    assert error.hint == "did you mean 'shop.orders'?"


def test_undefined_var(tmp_path):
    error = render_error(tmp_path, "select {{ var('dayz') }}")
    assert error.message == "var('dayz') is not defined"
    assert error.hint == "did you mean 'days'?"


@pytest.mark.parametrize("text", ["select {{ nope }}", "select {{ nope.column }}", "{% if nope %}select 1{% endif %}"])
def test_undefined_names_are_errors(tmp_path, text):
    error = render_error(tmp_path, "-- first line\n" + text)
    assert "'nope' is undefined" in error.message
    assert (error.file, error.line) == ("features/step.sql", 2)


def test_syntax_error_line(tmp_path):
    error = render_error(tmp_path, "select 1\n\n{% for x in %}\n")
    assert (error.file, error.line) == ("features/step.sql", 3)
    assert error.message.startswith("template syntax error")


def test_error_inside_a_macro_points_at_the_macro(tmp_path):
    files = {"features/macros/m.sql": "{% macro broken() %}\n\n{{ undefined_thing }}\n{% endmacro %}"}
    error = render_error(tmp_path, "select {{ broken() }}", files)
    assert (error.file, error.line) == ("features/macros/m.sql", 3)


def test_syntax_error_in_a_macro_file(tmp_path):
    with pytest.raises(ProjectError) as caught:
        make_renderer(tmp_path, {"features/macros/m.sql": "{% macro m() %}\n{% if %}\n{% endmacro %}"})
    assert (caught.value.file, caught.value.line) == ("features/macros/m.sql", 2)


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ref.__globals__ }}",
        "{{ (1).__class__.__base__ }}",
    ],
)
def test_sandbox_blocks_python_internals(tmp_path, text):
    error = render_error(tmp_path, "select 1\n-- " + text)
    assert "unsafe" in error.message or "undefined" in error.message
    assert (error.file, error.line) == ("features/step.sql", 2)


def test_string_vars_render_as_placeholders_bound_later(tmp_path):
    # A var() string never becomes SQL text: the SQL pass binds it as a literal.
    renderer = make_renderer(tmp_path, {"features/step.sql": "select {{ var('v') }} as v, '{{ var('v') }}' as w, {{ var('n') }} as n"},
                             vars={"v": "x'; drop table t; --{{ 7 * 7 }}", "n": 3})
    sql, _, bindings = renderer.render(tmp_path / "features/step.sql", "step")
    assert sql == "select __toolkit_var_0__ as v, '__toolkit_var_1__' as w, 3 as n"
    assert bindings == {"__toolkit_var_0__": "x'; drop table t; --{{ 7 * 7 }}", "__toolkit_var_1__": "x'; drop table t; --{{ 7 * 7 }}"}


def test_var_values_joined_into_config_text_are_the_values(tmp_path):
    """`~` makes plain text holding a placeholder: config() kept it, so an expression test
    compared with '__toolkit_var_0__' (and passed), accepted values and descriptions
    held it. An expression gets the value as a literal (never SQL text); other text as text."""
    text = ('''{{ config(table_tests=[{"expression": "country <> '" ~ var('c') ~ "' and n < " ~ var('c')}],'''
            ''' tests={"country": [{"accepted_values": {"values": ["A" ~ var('c')]}}]}, description="for " ~ var('c')) }}'''
            "select 1 as n")
    renderer = make_renderer(tmp_path, {"features/step.sql": text}, vars={"c": "D'E"})
    _, config, _ = renderer.render(tmp_path / "features/step.sql", "step")
    assert config["table_tests"] == [{"expression": "country <> 'D''E' AND n < 'D''E'"}]
    assert config["tests"] == {"country": [{"accepted_values": {"values": ["AD'E"]}}]}
    assert config["description"] == "for D'E"


def test_a_var_joined_into_a_post_hook_is_refused_at_its_line(tmp_path):
    renderer = make_renderer(tmp_path, {"features/step.sql": "-- a hook\n{{ config(post_hook=[\"comment on table {{ this }} is '\" "
                                                             "~ var('c') ~ \"'\"]) }}\nselect 1 as a\n"}, vars={"c": "x"})
    with pytest.raises(ProjectError) as caught:
        renderer.render(tmp_path / "features/step.sql", "step")
    assert caught.value.line == 2 and "post_hook holds a var() value" in str(caught.value)


def bound_sql(tmp_path, text: str, vars: dict) -> str:
    import sqlglot

    from toolkit import sql

    renderer = make_renderer(tmp_path, {"features/step.sql": text}, vars=vars)
    rendered, _, bindings = renderer.render(tmp_path / "features/step.sql", "step")
    return sql.bind_values(sqlglot.parse_one(rendered, read="duckdb"), bindings).sql("duckdb")


def test_toml_dates_and_times_are_literals_not_arithmetic(tmp_path):
    """`[vars] cutoff = 2024-01-31` rendered as 2024-01-31: published as 1992."""
    from datetime import date, datetime, timezone

    vars = {"d": date(2024, 1, 31), "t": datetime(2024, 1, 31, 7, 32, tzinfo=timezone.utc)}
    assert bound_sql(tmp_path, "select {{ var('d') }} as d, '{{ var('d') }}' as q, {{ var('t') }} as t", vars) == \
        "SELECT '2024-01-31' AS d, '2024-01-31' AS q, '2024-01-31 07:32:00+00:00' AS t"


def test_a_date_var_made_text_by_a_filter_a_method_or_arithmetic_is_still_bound(tmp_path):
    """`| string`, `~ ''` and `.isoformat()` made plain text of a date var: 2024-01-31 again
    (1992). Jinja logic still sees a date."""
    from datetime import date

    text = ("select {{ var('d') | string }} as a, {{ var('d') ~ '' }} as b, {{ var('d').isoformat() }} as c, "
            "{{ var('d').strftime('%Y%m%d') }} as s, {{ (var('d') - (var('d') - var('d0'))) | string }} as m, "
            "{{ var('d').year + 1 }} as y, {{ 1 if var('d') > var('d0') else 0 }} as later")
    assert bound_sql(tmp_path, text, {"d": date(2024, 1, 31), "d0": date(2024, 1, 1)}) == (
        "SELECT '2024-01-31' AS a, '2024-01-31' AS b, '2024-01-31' AS c, '20240131' AS s, '2024-01-01' AS m, "
        "2025 AS y, 1 AS later")


def test_list_vars_render_as_sql_lists_of_bound_values(tmp_path):
    """Python's repr wrote the items' text into SQL: ["it's"] was a quoted name, and an item
    holding both quote marks could end its string early."""
    vars = {"xs": ["a", "it's", "q\" ' ) or 1=1 --"], "ys": [True, None, 1.5], "n": float("nan")}
    assert bound_sql(tmp_path, "select 1 as a where x in {{ var('xs') }} and y in {{ var('ys') }} and z <> {{ var('n') }}", vars) == \
        "SELECT 1 AS a WHERE x IN ('a', 'it''s', 'q\" '' ) or 1=1 --') AND y IN (TRUE, NULL, 1.5) AND z <> CAST('nan' AS DOUBLE)"


def test_a_dict_written_whole_is_refused_at_its_line(tmp_path):
    renderer = make_renderer(tmp_path, {"features/step.sql": "select 1 as a\nwhere z = {{ var('m') }}\n"}, vars={"m": {"a": 1}})
    with pytest.raises(ProjectError) as caught:
        renderer.render(tmp_path / "features/step.sql", "step")
    assert caught.value.line == 2 and "a dict cannot be written into SQL whole" in str(caught.value)


def test_a_time_span_written_into_sql_is_refused_at_its_line_and_its_days_are_a_number(tmp_path):
    """`{{ end - start }}` wrote Python's `30 days, 0:00:00`: a syntax error far from the cause."""
    from datetime import date

    spans = {"features/step.sql": "select 1 as a\nwhere n = {{ var('end') - var('start') }}\n",
             "features/days.sql": "select {{ (var('end') - var('start')).days }} as n\n"}
    renderer = make_renderer(tmp_path, spans, vars={"start": date(2024, 1, 1), "end": date(2024, 1, 31)})
    with pytest.raises(ProjectError) as caught:
        renderer.render(tmp_path / "features/step.sql", "step")
    assert caught.value.line == 2 and "a time span" in str(caught.value) and ".days" in str(caught.value)
    assert "select 30 as n" in renderer.render(tmp_path / "features/days.sql", "days")[0]


@pytest.mark.parametrize("name", [".env", "outside/hostname", "snippets/linked.sql"])
def test_include_takes_only_the_projects_sql_templates(tmp_path, name):
    """`{% include %}` pasted any file's text into SQL: a .env, or through a link in the
    project, a file outside it."""
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "hostname").write_text("secret-host")
    (tmp_path / "outside").symlink_to(outside)
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "linked.sql").symlink_to(outside / "hostname")
    error = render_error(tmp_path, f"select 1 as x,\n  '{{% include '{name}' %}}' as s\n", files={".env": "SECRET=1"})
    assert error.line == 2 and f"'{name}' is not a .sql template of the project" in str(error)
    assert render(tmp_path, "select {% include 'snippets/cols.sql' %}", files={"snippets/cols.sql": "1 as one"})[0] == "select 1 as one"


def test_a_macro_calls_one_defined_in_a_file_loaded_after_its_own(tmp_path):
    """dbt allows it; each macro file's names were a copy of the globals when it loaded."""
    files = {"features/macros/a.sql": "{% macro outer(x) %}{{ inner(x) }} + 1{% endmacro %}",
             "features/macros/b.sql": "{% macro inner(x) %}{{ x }} * 2{% endmacro %}"}
    assert render(tmp_path, "select {{ outer(3) }} as v", files=files)[0] == "select 3 * 2 + 1 as v"


def test_string_vars_are_ordinary_strings_for_jinja_logic(tmp_path):
    renderer = make_renderer(tmp_path, {"features/step.sql": "select {{ 1 if var('mode') == 'full' else 2 }}{% if var('mode').startswith('f') %}, 3{% endif %}"},
                             vars={"mode": "full"})
    assert renderer.render(tmp_path / "features/step.sql", "step")[0] == "select 1, 3"


def test_joining_a_list_var_with_quotes_is_refused_not_silently_one_literal(tmp_path):
    """dbt's `'{{ var("xs") | join("', '") }}'` would be `IN ('a'', ''b')` here (var values
    stay literals): refused at the line, pointing at `in {{ var('xs') }}`."""
    renderer = make_renderer(tmp_path, {"features/step.sql": "select 1\nwhere x in ('{{ var('xs') | join(\"', '\") }}')\n"},
                             vars={"xs": ["a", "b"]})
    with pytest.raises(ProjectError) as caught:
        renderer.render(tmp_path / "features/step.sql", "step")
    assert caught.value.line == 2 and "A list var renders as a SQL list" in str(caught.value)
    # a plain separator, or joining values that are not var()s, still works
    sql, _ = render(tmp_path, "{{ ['a', 'b'] | join(\"', '\") }}")
    assert sql == "a', 'b"


# -- text that holds a var's placeholder (made with ~, a macro or a {% set %} block) --

def compiled_sql(tmp_path, template: str, vars: dict) -> str:
    from _projects import make_project
    from toolkit.compiler import compile_project

    root = make_project(tmp_path / "p", {"features/s.sql": template})
    return compile_project(root, vars).steps["s"].tree.sql(dialect="duckdb")


@pytest.mark.parametrize(("template", "operation"), [
    # each of these compiled before, to a value that was not the var's
    ("select 1 as {{ (var('p') ~ '_x') | upper }}", "'upper'"),  # the column was named __TOOLKIT_VAR_0___X
    ("select '{{ (var('p') ~ '_X') | lower }}' as c", "'lower'"),  # the value kept its case: 'Ab_x'
    ("select '{% filter upper %}{{ var('p') }}{% endfilter %}' as c", "'upper'"),  # '__TOOLKIT_VAR_0__'
    ("select '{{ (var('p') ~ '') | first }}' as c", "'first'"),  # '_', the placeholder's first character
    ("{% set s %}{{ var('p') }}{% endset %}select {{ s | length }} as c", "'length'"),  # 17, the placeholder's length
    ("{% set s %}{{ var('p') }}{% endset %}select '{{ s[:3] }}' as c", "'slice'"),  # '__t'
    ("{% set s %}{{ var('p') }}{% endset %}select '{{ s.upper() }}' as c", "'upper'"),
    ("{% set s %}{{ var('p') }}{% endset %}select '{{ s | trim('_') }}' as c", "'trim'"),  # 'toolkit_var_0'
    ("{% set s %}{{ var('p') }}{% endset %}select '{% for ch in s %}{{ ch | upper }}{% endfor %}' as c",
     "a {% for %} loop walks text that holds a var() value"),
    # dropping characters lost the var without a trace: 'toolkitvar0' was published
    ("{% set s %}{{ var('p') }}{% endset %}select '{% for ch in s %}{% if ch != '_' %}{{ ch }}{% endif %}{% endfor %}' as c",
     "a {% for %} loop walks text that holds a var() value"),
    ("{% set s = var('p') ~ '' %}select '{% for ch in s if ch != '_' %}{{ ch }}{% endfor %}' as c",
     "a {% for %} loop walks text that holds a var() value"),
])
def test_changing_text_that_holds_a_var_is_refused(tmp_path, template, operation):
    with pytest.raises(ProjectError) as caught:
        compiled_sql(tmp_path, template, {"p": "Ab"})
    assert operation in str(caught.value) and caught.value.line == 1, caught.value


@pytest.mark.parametrize(("template", "env", "what"), [
    # `a` was published as q's value: binding resolves placeholders inside bound text
    ("select '{{ var('p') }}' as a, '{{ var('q') }}' as b", {}, "var('p')"),
    ("select '{{ var('l') }}' as a, '{{ var('q') }}' as b", {}, "var('l')"),
    ("select '{{ var('p') | lower | trim }}' as a, '{{ var('q') }}' as b", {}, "var('p')"),  # through filters too
    ("select '{{ var('nope', '__toolkit' ~ '_var_1__') }}' as a, '{{ var('q') }}' as b", {}, "var('nope')'s default"),
    ("select '{{ env_var('TOOLKIT_TEST_RESERVED') }}' as a, '{{ var('q') }}' as b",
     {"TOOLKIT_TEST_RESERVED": "__toolkit_var_1__"}, "env_var('TOOLKIT_TEST_RESERVED')"),
])
def test_a_value_holding_placeholder_text_is_refused(tmp_path, monkeypatch, template, env, what):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ProjectError) as caught:
        compiled_sql(tmp_path, template, {"p": "__toolkit_var_1__", "l": ["a", "__TOOLKIT_VAR_1__"], "q": "x"})
    assert f"{what} holds the text '__toolkit_var_', which toolkit reserves" in str(caught.value) and caught.value.line == 1


@pytest.mark.parametrize(("template", "expected"), [
    ("select 1 as {{ var('p') ~ '_x' }}", 'SELECT 1 AS "ab_x"'),  # published names are lower case
    ("select 1 as {{ (var('p') | replace('A', 'C')) ~ '_X' }}", 'SELECT 1 AS "cb_x"'),
    ("{% macro eq(c, v) %}\n  {{ c }} = '{{ v }}'\n{% endmacro %}select 1 as c where {{ eq('1', var('p')) | trim }}",
     "SELECT 1 AS c WHERE 1 = 'Ab'"),
    ("{% macro eq(c, v) %}\n  {{ c }} = '{{ v }}'\n{% endmacro %}select 1 as c where {{ eq('1', var('p')) | replace('\\n', ' ') }}",
     "SELECT 1 AS c WHERE 1 = 'Ab'"),
    ("{% set cols %}{% for c in var('l') %}{{ c }},{% endfor %}{% endset %}select '{{ cols[:-1] }}' as c", "SELECT 'x,y' AS c"),
    ("select '{{ [var('p') ~ 'a', 'b'] | join('-') }}' as c", "SELECT 'Aba-b' AS c"),
    ("select '{{ '{}!'.format(var('p') ~ 'a') }}' as c", "SELECT 'Aba!' AS c"),
    # loops over a var, over a list holding placeholders, and over text without one still run
    ("select '{% for ch in var('p') if ch != 'b' %}{{ ch }}{% endfor %}' as c", "SELECT 'A' AS c"),
    ("select {% for c in [var('p') ~ '_x', 'y'] %}1 as {{ c }}{{ ',' if not loop.last }}{% endfor %}", 'SELECT 1 AS "ab_x", 1 AS y'),
    ("select {% for c in 'xy' %}1 as {{ c }}{{ ',' if not loop.last }}{% endfor %}", "SELECT 1 AS x, 1 AS y"),
])
def test_text_around_a_vars_placeholder_still_moves(tmp_path, template, expected):
    assert compiled_sql(tmp_path, template, {"p": "Ab", "l": ["x", "y"]}) == expected


# -- plain templates: rendered from Jinja's parse, without compiling them (_plain_parts) --

PLAIN = [
    '{{ config(materialized="table") }}\nselect a.id from {{ ref("orders") }} as a\n',
    "select * from {{ source('shop', 'orders') }}",  # no trailing newline
    "{{ config(tests={'id': ['not_null', {'accepted_values': {'values': [1, 2]}}]}, enabled=true, x=none) }}select 1",
    "select 1\n\n\n",
    "{# a comment #}\nselect {{ 'text' }}, {{ 1.5 }}, {{ true }} from {{ ref('countries') }}\n",
    "select 1 as x\n   {{- ref('orders') -}}   \n",  # whitespace control
    "{% raw %}{{ not jinja }}{% endraw %} select 1",
    "{{ config(alias='o', tags=['a', 'b']) }}{{ config(schema='marts') }}select * from {{ ref('orders') }}",
    "select 'a''b' as q, \"{{ ref('orders') }}\" from x -- {{ ref('countries') }}\n",
]
NOT_PLAIN = [
    "select {{ var('days') }}",
    "{% if is_incremental() %}select 1{% else %}select 2{% endif %}",
    "select * from {{ ref('orders') | upper }}",
    "select * from {{ ref(name) }}",
    "{% set t = 'orders' %}select * from {{ ref(t) }}",
    "select {{ 1 + 1 }}",
]


def both_ways(tmp_path, text: str, monkeypatch, **kwargs):
    """(plain path, Jinja path) results of rendering `text`: (sql, config, bindings) or the error."""
    results = []
    for plain in (True, False):
        renderer = make_renderer(tmp_path, {"features/step.sql": text})
        if not plain:
            monkeypatch.setattr(renderer, "_plain_parts", lambda path, text: None)
        try:
            results.append(renderer.render(tmp_path / "features/step.sql", "step", **kwargs))
        except ProjectError as error:
            results.append((str(error), error.file, error.line))
    return results


@pytest.mark.parametrize("text", PLAIN + NOT_PLAIN)
def test_plain_templates_render_as_jinja_does(tmp_path, monkeypatch, text):
    plain, jinja = both_ways(tmp_path, text, monkeypatch)
    assert plain == jinja


@pytest.mark.parametrize(("text", "plain"), [(t, True) for t in PLAIN] + [(t, False) for t in NOT_PLAIN])
def test_which_templates_skip_compiling(tmp_path, text, plain):
    renderer = make_renderer(tmp_path, {"features/step.sql": text})
    path = tmp_path / "features/step.sql"
    assert (renderer._plain_parts(path, path.read_text()) is not None) is plain


SCANNED = [  # read without Jinja's parser (Renderer._scanned_parts)
    '{{ config(materialized="table") }}\n-- layer 1\nselect a.id from {{ ref("orders") }} as a\n',
    "select * from {{source('shop','orders')}}",
    "{{ config(alias = 'o', materialized=\"table\") }}{{ config() }}select 'a=\"b\", c' from {{ ref('orders') }} -- }} %} #}",
    PLAIN[1], PLAIN[3], PLAIN[8],
]
NOT_SCANNED = [PLAIN[i] for i in (2, 4, 5, 6, 7)] + NOT_PLAIN + [
    "{{{ ref('orders') }}",  # Jinja starts at the first brace: a dict literal
    "select '{{' || x from {{ ref('orders') }}",
    "{{ config(materialized='table', materialized='view') }}select 1",
    "{{ config(alias='o', 'x') }}select 1",
    "{{ ref('orders', ) }}",
    "{{ ref('orders') }}\r\nselect 1",
    "{{ config(alias='\u00e9') }}select 1",
    "{{ ref('orders')\n}}",
    "{{ ref('orders') }}{{ var('x') }}",
]


@pytest.mark.parametrize("text", SCANNED + NOT_SCANNED)
def test_scanned_templates_have_the_parts_of_jinjas_parse(tmp_path, monkeypatch, text):
    renderer = make_renderer(tmp_path, {"features/step.sql": text, "features/macros/m.sql": "{% macro f() %}{% endmacro %}"})
    path = tmp_path / "features/step.sql"
    scanned = renderer._scanned_parts(text)
    assert (scanned is not None) is (text in SCANNED)
    monkeypatch.setattr(renderer, "_scanned_parts", lambda text: None)
    parsed = renderer._plain_parts(path, text)
    if scanned is not None:
        assert scanned == parsed


def test_a_replaced_builtin_is_not_scanned(tmp_path):
    """A global that is no longer toolkit's ref() (macros may not take the name today) goes
    through Jinja, as _plain_call does."""
    text = "select * from {{ ref('orders') }}"
    renderer = make_renderer(tmp_path, {"features/step.sql": text})
    assert renderer._scanned_parts(text) is not None
    renderer.env.globals["ref"] = lambda name: name
    assert renderer._scanned_parts(text) is None


@pytest.mark.parametrize("text", [
    "select 1\nfrom {{ ref('nope') }}\n",
    "{{ config(materialized='table') }}\n{{ config(materialized='view') }}\nselect 1",
    "select * from {{ source('shop', 'nope') }}",
    "select * from {{ ref(1) }}",
])
def test_a_mistake_in_a_plain_template_names_the_same_line(tmp_path, monkeypatch, text):
    plain, jinja = both_ways(tmp_path, text, monkeypatch)
    assert plain == jinja and isinstance(plain[2], int), plain


def test_a_macro_named_ref_is_refused_not_called(tmp_path, monkeypatch):
    """It replaced ref() silently (and with it what the step reads): exit 2 at the macro."""
    from toolkit.errors import ProjectError

    files = {"features/macros/override.sql": "{% macro ref(name) %}my_{{ name }}{% endmacro %}"}
    with pytest.raises(ProjectError, match="macro 'ref' would replace toolkit's built-in ref"):
        make_renderer(tmp_path, {**files, "features/step.sql": "select * from {{ ref('orders') }}"})


def test_one_macro_name_in_two_packages_is_theirs_and_the_projects_own_wins(tmp_path):
    files = {"features/macros/pa/x.sql": "{% macro f() %}a{% endmacro %}{% macro g() %}a{% endmacro %}",
             "features/macros/pb/y.sql": "{% macro f() %}b{% endmacro %}",
             "features/macros/own.sql": "{% macro g() %}own{% endmacro %}",
             "features/step.sql": "select '{{ pa.f() }}{{ pb.f() }}{{ g() }}{{ pa.g() }}'",
             "features/bare.sql": "select\n{{ f() }}"}
    renderer = make_renderer(tmp_path, files)
    assert renderer.render(tmp_path / "features/step.sql", "step")[0] == "select 'abowna'"
    with pytest.raises(Exception, match=r"features/bare.sql:2: f\(\) is a macro of the packages pa and pb"):
        renderer.render(tmp_path / "features/bare.sql", "bare")


def test_every_step_of_the_demo_and_a_layered_project_renders_the_same(tmp_path, monkeypatch):
    from pathlib import Path

    from toolkit.compiler import compile_project
    from toolkit.templating import Renderer as Real

    from test_compile_reuse import _layered

    repo = Path(__file__).resolve().parent.parent
    roots = [repo, _layered(tmp_path / "layered", 30).root]
    for root in roots:
        plain = compile_project(root)
        with monkeypatch.context() as patch:
            patch.setattr(Real, "_plain_parts", lambda self, path, text: None)
            jinja = compile_project(root)
        assert list(plain.steps) == list(jinja.steps)
        for name, step in plain.steps.items():
            other = jinja.steps[name]
            assert (step.rendered, step.config, step.bindings, step.content_hash) == \
                   (other.rendered, other.config, other.bindings, other.content_hash), (root, name)


def test_this_has_the_parts_of_dbts_relation(tmp_path):
    """dbt projects read this.schema / this.identifier / this.name: 'str object' has no
    attribute 'identifier' stopped them at compile."""
    renderer = make_renderer(tmp_path, {"features/step.sql": "select '{{ this.schema }}|{{ this.identifier }}|{{ this.name }}|{{ this }}' as a\n"})
    text = renderer.render(tmp_path / "features/step.sql", "step", this="features.step")[0]
    assert "'features|step|step|features.step'" in text, text


def test_a_byte_order_mark_is_not_text_of_the_step_or_its_macros(tmp_path):
    """Editors on Windows save UTF-8 with a BOM; the project reads it as UTF-8 (config.read_text)
    but Jinja read the file again with the BOM kept: the step's SQL began with U+FEFF, a
    syntax error at 1:8 of a file that looked right."""
    macro = tmp_path / "features/macros/m.sql"
    macro.parent.mkdir(parents=True)
    macro.write_bytes(b"\xef\xbb\xbf{% macro one() %}1{% endmacro %}")
    renderer = make_renderer(tmp_path)
    step = tmp_path / "features/step.sql"
    step.write_bytes(b"\xef\xbb\xbfselect {{ one() }} as x")
    sql, _, _ = renderer.render(step, "step")
    assert sql == "select 1 as x"
    plain = tmp_path / "features/plain.sql"  # no Jinja in it: rendered without Jinja's loader
    plain.write_bytes(b"\xef\xbb\xbfselect 1 as x")
    assert renderer.render(plain, "plain")[0] == "select 1 as x"
