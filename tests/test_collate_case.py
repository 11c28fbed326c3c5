"""A collation the user names in quotes keeps its case: DuckDB's identifier normalization
lower-cases quoted names too, so `COLLATE "C"` reached PostgreSQL as "c", which it has not."""

from __future__ import annotations


from postgres_support import pg_query, pg_url  # noqa: F401 (a fixture)
from toolkit import sql

STEP = "select name from {{ ref('t') }} where name collate \"C\" < 'b' order by name collate \"C\"\n"


def test_compiled_postgres_sql_keeps_the_collation_case():
    tree = sql.prepare(sql.parse_select('select name collate "C" as n from t order by name collate "C"', "duckdb"), "duckdb")
    text = tree.sql("postgres")
    assert 'COLLATE "C"' in text and 'COLLATE "c"' not in text


def _project(root, url: str) -> None:
    files = {
        "toolkit.toml": 'name = "cc"\ndialect = "duckdb"\ntarget = "local"\n'
                        '[targets.local]\nengine = "duckdb"\npath = "warehouse/w.duckdb"\n'
                        f'[targets.pg]\nengine = "postgres"\nurl = "{url}"\n',
        "warehouse/seeds/t.csv": "name\na\nB\nc\nA\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { name = "varchar" }\n',
        "features/below_b.sql": STEP,
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")


def test_a_step_naming_collation_c_runs_on_duckdb_and_postgres(tmp_path, run_cli, pg_url):
    root = tmp_path / "project"
    _project(root, pg_url)
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err
    assert pg_query(pg_url, "select name from features.below_b") == [("A",), ("B",), ("a",)]
