"""`toolkit lineage` calls a seed's column a seed column (a tester saw "a source column")."""

from __future__ import annotations

from _projects import cli_tuple, make_project


def test_a_seed_column_is_said_to_be_one(tmp_path):
    root = make_project(tmp_path / "p", {"warehouse/seeds/codes.csv": "code,label\na,Alpha\n",
                                         "features/s.sql": "select code, label from {{ ref('codes') }}\n"})
    code, out, err = cli_tuple("lineage", "codes.label", cwd=root)
    assert code == 0, out + err
    assert "(upstream: a seed column)" in out, out
