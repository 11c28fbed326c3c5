"""Bad input found by a tester (stop 46): each is exit 2 naming the file and line, no
traceback, nothing published or written changed (test_bad_input's `rejected` checks it)."""

from __future__ import annotations

from test_bad_input import project, published_template, rejected  # noqa: F401 (fixtures)


def test_unique_key_list_holding_a_number(project, rejected):
    """unique_key=["id", 3] passed compile and plan and failed the build ('int' object has
    no attribute 'lower', exit 1, no line)."""
    project.write({"features/inc.sql": "-- inc\n{{ config(materialized='incremental', unique_key=['country', 3]) }}\n"
                                       "select country, users\nfrom {{ ref('country_totals') }}\n"})
    rejected("features/inc.sql:2", "config unique_key=['country', 3] has the wrong type")


def test_tags_list_holding_a_number(project, rejected):
    project.write({"features/tagged.sql": "{{ config(tags=['daily', 1]) }}\nselect 1 as x\n"})
    rejected("features/tagged.sql:1", "has the wrong type")


def test_model_file_with_a_latin1_byte_in_a_comment(project, rejected):
    """Python imported it, then reading its source back failed: 'internal error: OSError:
    could not get source code', exit 1."""
    (project.root / "models").mkdir(exist_ok=True)
    (project.root / "models/m.py").write_bytes(b"import math\n\n# caf\xe9\n")
    rejected("models/m.py:3", "not UTF-8 text (byte 0xe9)")
