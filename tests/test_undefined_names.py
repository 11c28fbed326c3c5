"""An undefined Jinja name passed to config(), ref() or source(): Jinja's StrictUndefined
raises only when a value is used, and config() stores its values, so dbt's `null` in a
test's list reached the run as an object ("internal error: UndefinedError", exit 1) and
was written into the compile cache, failing every later command after the user fixed
the file. Now it is exit 2 at the call's line, before anything is cached or run."""

from __future__ import annotations

import pytest
from test_bad_input import project, published_template, rejected  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow  # end-to-end runs, as test_bad_input's

NULL_IN_TESTS = '{{ config(tests={"a": [{"accepted_values": [1, null]}]}) }}\nselect 1 as a\n'


@pytest.mark.parametrize("command", ["compile", "plan", "run"])
@pytest.mark.parametrize("body, phrase", [
    (NULL_IN_TESTS, "config() uses an undefined name: 'null' (Jinja spells null as none)"),
    ("{{ config(meta={'owner': nobody}) }}\nselect 1 as a\n", "config() uses an undefined name: 'nobody'"),
    ("select * from {{ ref(country_totals) }}\n", "ref() uses an undefined name: 'country_totals'"),
    ("select * from {{ source(shop, 'orders') }}\n", "source() uses an undefined name: 'shop'"),
])
def test_an_undefined_name_given_to_a_call_is_exit_2_at_its_line(project, rejected, command, body, phrase):
    project.write({"features/s.sql": body})
    rejected("features/s.sql:1", phrase, args=(command,))


def test_after_the_fix_the_run_succeeds(project, rejected, run_cli):
    """The old code cached the undefined value: the fixed file failed the same way until
    .toolkit/cache was deleted by hand."""
    project.write({"features/s.sql": NULL_IN_TESTS})
    rejected("features/s.sql:1", "'null'", args=("run",))
    project.write({"features/s.sql": NULL_IN_TESTS.replace("null", "none")})
    code, out, err = run_cli("run", cwd=project.root)
    assert code == 0, out + err
