"""`toolkit import-dbt` never converts a model into one that computes other rows in
silence: what dbt means and toolkit cannot say the same way is converted faithfully
or listed in IMPORT_REPORT.md with file:line and why. One test per way it went wrong."""

from __future__ import annotations

import textwrap

from _projects import cli, write
from toolkit.dbtimport import import_dbt

PROJECT = "name: shop\nversion: '1.0'\nconfig-version: 2\n"


def _import(tmp_path, files: dict[str, str], check: bool = True):
    write(tmp_path / "dbt", {"dbt_project.yml": PROJECT, **files})
    report, out = import_dbt(tmp_path / "dbt", tmp_path / "out", check=check)
    return report, out, (out / "IMPORT_REPORT.md").read_text()


def _skipped(report) -> list[tuple[str, str, str, str]]:
    """(kind, what, where, why) of everything reported as not converted."""
    return [(kind, what, where, why) for (kind, why), items in report.skipped.items() for what, where in items]


def test_execute_is_true_so_introspection_under_it_is_reported_and_exit_2(tmp_path):
    model = textwrap.dedent("""\
        {% if execute %}
        {% set statuses = dbt_utils.get_column_values(ref('orders'), 'status') %}
        {% else %}
        {% set statuses = [] %}
        {% endif %}
        select order_id{% for s in statuses %}, status = '{{ s }}' as is_{{ s }}{% endfor %} from {{ ref('orders') }}
        """)
    report, out, text = _import(tmp_path, {"models/orders.sql": "select 1 as order_id, 'paid' as status\n",
                                           "models/pivot.sql": model})
    assert any(what == "get_column_values()" and where == "models/pivot.sql:2" for _, what, where, _ in _skipped(report)), text
    assert "stops at: features/pivot.sql:3: dbt_utils.get_column_values" in report.check, report.check  # its config() is line 1


def test_a_config_inside_a_jinja_block_is_not_converted_but_reported_at_its_line(tmp_path):
    files = {
        "models/per_target.sql": "{% if target.name == 'prod' %}{{ config(materialized='table', alias='x') }}"
                                 "{% else %}\n{{ config(materialized='view') }}{% endif %}\nselect 1 as a\n",
        "models/off_in_ci.sql": "{% if target.name == 'ci' %}\n{{ config(enabled=false) }}\n{% endif %}\nselect 1 as a\n",
        "models/plain.sql": "{{ config(materialized='table') }}\n{% if target.name == 'ci' %}select 2 as a{% else %}select 1 as a{% endif %}\n",
    }
    report, out, text = _import(tmp_path, files, check=False)
    skipped = {(what, where): why for _, what, where, why in _skipped(report)}
    assert "config() inside a Jinja block" in skipped[("per_target", "models/per_target.sql:1")]
    assert "config() inside a Jinja block" in skipped[("off_in_ci", "models/off_in_ci.sql:2")]
    assert not any("disabled" in why for why in skipped.values()), text  # not "disabled in dbt": it is enabled off ci
    assert not (out / "features" / "per_target.sql").exists() and (out / "dbt_unconverted" / "models" / "per_target.sql").is_file()
    assert "materialized='table'" in (out / "features" / "plain.sql").read_text()


def test_a_bare_var_is_sql_text_in_dbt_so_a_name_is_written_and_other_text_reported(tmp_path):
    files = {
        "dbt_project.yml": PROJECT + "vars:\n  date_col: ts\n  status_in: \"('paid','open')\"\n  pat: ai\n  days: 3\n",
        "models/m.sql": textwrap.dedent("""\
            select {{ var('date_col') }} as k, '%{{ var("pat") }}%' as p
            from (select 1 as ts, 'paid' as status) as o
            where {{ var('date_col') }} >= {{ var('days') }}
              and status in {{ var('status_in') }}
            """),
    }
    report, out, text = _import(tmp_path, files, check=False)
    skipped = {(what, where): why for _, what, where, why in _skipped(report)}
    assert "as that name" in skipped[("date_col", "models/m.sql:1")] and ("date_col", "models/m.sql:3") in skipped
    assert "computes something else" in skipped[("status_in", "models/m.sql:4")]
    assert not any(what in ("pat", "days") for what, _ in skipped)  # quoted text, and a number: the same in both
    converted = (out / "features" / "m.sql").read_text()
    assert "select ts as k" in converted and "where ts >= {{ var('days') }}" in converted
    assert "'%{{ var(\"pat\") }}%'" in converted and "in {{ var('status_in') }}" in converted


def test_a_bare_var_in_a_macro_or_a_singular_test_is_written_or_reported_too(tmp_path):
    files = {
        "dbt_project.yml": PROJECT + "vars:\n  date_col: ts\n  status_in: \"('paid','open')\"\n",
        "macros/since.sql": "{% macro since(n) %}\n{{ var('date_col') }} >= {{ n }}\n{% endmacro %}\n",
        "models/m.sql": "select 1 as ts, 'paid' as status from (select 1) as o where {{ since(0) }}\n",
        "tests/no_open.sql": "select * from {{ ref('m') }}\nwhere status not in {{ var('status_in') }} and {{ var('date_col') }} < 0\n",
    }
    report, out, text = _import(tmp_path, files, check=False)
    skipped = {(what, where): why for _, what, where, why in _skipped(report)}
    assert "as that name" in skipped[("date_col", "macros/since.sql:2")], text
    assert "as that name" in skipped[("date_col", "tests/no_open.sql:2")], text
    assert "computes something else" in skipped[("status_in", "tests/no_open.sql:2")], text
    assert "\nts >= {{ n }}\n" in (out / "features" / "macros" / "since.sql").read_text()
    assert "and ts < 0" in (out / "features" / "tests" / "no_open.sql").read_text()


def test_unique_combination_of_columns_counts_null_keys_as_dbt_utils_does(tmp_path):
    files = {
        "models/m.sql": "{{ config(materialized='table') }}\nselect * from (values (null, 3), (null, 3), (1, 2)) as v(a, b)\n",
        "models/m.yml": "version: 2\nmodels:\n  - name: m\n    tests:\n      - dbt_utils.unique_combination_of_columns:\n"
                        "          combination_of_columns: [a, b]\n",
    }
    report, out, text = _import(tmp_path, files)
    assert "compiles" in report.check, report.check
    run = cli("run", "-p", str(out))
    assert run.code == 1 and "unique_combination_of_columns" in run.out + run.err, run  # (NULL, 3) twice fails in dbt


def test_ephemeral_tests_are_reported_once_and_a_quoted_column_is_quoted(tmp_path):
    files = {
        "models/e.sql": "{{ config(materialized='ephemeral') }}\nselect 1 as id\n",
        "models/w.sql": "{{ config(materialized='table') }}\nselect 1 as \"Weird Col\"\n",
        "models/m.yml": textwrap.dedent("""\
            version: 2
            models:
              - name: e
                columns:
                  - name: id
                    tests: [unique, not_null]
              - name: w
                columns:
                  - name: Weird Col
                    quote: true
                    tests: [not_null]
            """),
    }
    report, out, text = _import(tmp_path, files)
    assert ("test", "tests of e", "models/m.yml", "an ephemeral step is never built, so it is never tested") in _skipped(report)
    assert "data tests" not in report.converted, report.converted  # not "converted 2 data tests" as well
    (test,) = (out / "features" / "tests").glob("w__not_null*.sql")
    assert 'where "Weird Col" is null' in test.read_text()
    assert "compiles" in report.check, report.check
    run = cli("run", "-p", str(out))
    assert run.code == 0, run


def test_tests_on_seeds_become_custom_tests_reading_the_seed(tmp_path):
    files = {
        "seeds/cc.csv": "code,name\nA,x\nA,y\n,z\n",
        "seeds/cc.yml": "version: 2\nseeds:\n  - name: cc\n    columns:\n      - name: code\n        tests: [unique, not_null]\n",
    }
    report, out, text = _import(tmp_path, files)
    assert report.converted["custom tests (from generic tests)"] == 2, text
    assert "compiles" in report.check, report.check
    run = cli("run", "-p", str(out))
    assert run.code == 1 and "cc__unique__code" in run.out + run.err, run  # 'A' twice, as dbt test finds


def test_a_seed_text_field_dbt_reads_as_null_is_reported(tmp_path):
    files = {"seeds/cc.csv": "code,name,n\nA,x,1\n,null,\nB,z,3\n"}
    report, out, text = _import(tmp_path, files, check=False)
    where = {what: where for kind, what, where, _ in _skipped(report) if kind == "seed"}
    assert where == {"cc.code": "seeds/cc.csv:3", "cc.name": "seeds/cc.csv:3"}, text  # n is a number: NULL in both


def test_dispatch_overrides_of_dbt_utils_and_dbt_become_namespace_macros(tmp_path):
    files = {
        "dbt_project.yml": PROJECT + ("dispatch:\n  - macro_namespace: dbt_utils\n    search_order: ['shop', 'dbt_utils']\n"
                                      "  - macro_namespace: dbt\n    search_order: ['shop', 'dbt']\n"),
        "macros/over.sql": "{% macro default__generate_surrogate_key(field_list) %}'custom_key'{% endmacro %}\n"
                           "{% macro default__datediff(first_date, second_date, datepart) %}999{% endmacro %}\n",
        "models/m.sql": "{{ config(materialized='table') }}\nselect {{ dbt_utils.generate_surrogate_key(['a']) }} as sk, "
                        "{{ dbt.datediff('d1', 'd2', 'day') }} as dd\n"
                        "from (select 1 as a, date '2024-01-01' as d1, date '2024-01-05' as d2) as t\n",
    }
    report, out, text = _import(tmp_path, files)
    assert "compiles" in report.check, report.check
    assert not any(what == "dispatch" for _, what, _, _ in _skipped(report)), text
    assert cli("run", "-p", str(out)).code == 0
    import duckdb

    with duckdb.connect(str(out / "warehouse" / "shop.duckdb"), read_only=True) as con:
        assert con.execute("select sk, dd from features.m").fetchall() == [("custom_key", 999)]


def test_dispatch_the_import_cannot_follow_is_reported(tmp_path):
    files = {
        "dbt_project.yml": PROJECT + ("dispatch:\n  - macro_namespace: dbt_utils\n    search_order: ['dbt_utils', 'shop']\n"
                                      "  - macro_namespace: dbt_date\n    search_order: ['shop', 'dbt_date']\n"),
        "macros/over.sql": "{% macro default__generate_surrogate_key(field_list) %}'custom_key'{% endmacro %}\n",
    }
    report, out, text = _import(tmp_path, files, check=False)
    whats = {what: why for _, what, _, why in _skipped(report)}
    assert "does not put the project first" in whats["dispatch of dbt_utils"]
    assert "search_order is not read" in whats["dispatch of dbt_date"]
    assert not (out / "features" / "macros" / "dbt_utils").exists()


def test_a_config_in_a_jinja_comment_is_not_applied(tmp_path):
    report, out, text = _import(tmp_path, {"models/m.sql": "{# {{ config(materialized='table') }} #}\nselect 1 as a\n"}, check=False)
    converted = (out / "features" / "m.sql").read_text()
    assert converted.startswith("{{ config(materialized='view') }}") and "{# {{ config(materialized='table') }} #}" in converted
