"""A CSV seed's columns are known apart: a change of one column's values rebuilds the seed and
the steps reading that column (and those counting its rows), not the steps reading only its
other columns (fingerprint._seed_column_prints, seeds.column_hashes). Before, a seed had one
pseudo column: any edit of the file rebuilt every step reading any column of it.

What must still rebuild, and is pinned here: every reader when a row comes or goes, or when
the declared types change; every reader of a Parquet seed (one pseudo column still)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _projects import make_project, query, run, step_runs

pytestmark = pytest.mark.slow  # end-to-end runs

REGIONS = "country,region\nFR,EU\nDE,EU\nUS,NA\n"

FILES = {
    "warehouse/seeds/regions.csv": REGIONS,
    "features/countries.sql": 'select country from {{ ref("regions") }}\n',
    "features/region_names.sql": 'select region from {{ ref("regions") }}\n',
    "features/counter.sql": 'select count(*) as n from {{ ref("regions") }}\n',
    "features/eu.sql": "select country from {{ ref('regions') }} where region = 'EU'\n",  # filters on region
    "features/country_keys.sql": (
        '{{ config(materialized="incremental", unique_key="country") }}\n'
        'select country, length(country) as len from {{ ref("regions") }}\n'),
}


def physical_names(root) -> dict[str, str]:
    return dict(query(root, "select step, physical_name from toolkit.published"))


def actions(root) -> dict[str, str]:
    return {step: row["action"] for step, row in step_runs(root).items()}


@pytest.fixture
def project(tmp_path):
    root = make_project(tmp_path / "p", FILES)
    assert run(root).code == 0
    return root


def rerun(root, seed_text: str) -> dict[str, str]:
    (root / "warehouse/seeds/regions.csv").write_text(seed_text)
    done = run(root)
    assert done.code == 0, str(done)
    return actions(root)


def test_a_change_of_one_column_rebuilds_its_readers_only(project):
    before = physical_names(project)

    done = rerun(project, "country,region\nFR,EU\nDE,EU\nUS,AM\n")

    assert done == {"regions": "rebuild", "region_names": "rebuild", "counter": "rebuild", "eu": "rebuild",
                    "countries": "reuse", "country_keys": "reuse"}
    after = physical_names(project)
    assert after["countries"] == before["countries"] and after["country_keys"] == before["country_keys"]
    assert sorted(query(project, "select region from features.region_names")) == [("AM",), ("EU",), ("EU",)]
    assert sorted(query(project, "select country from features.countries")) == [("DE",), ("FR",), ("US",)]


def test_a_value_moved_to_the_filtered_column_rebuilds_the_filtering_step(project):
    """eu reads region in its WHERE only: its rows change, so it is rebuilt."""
    rerun(project, "country,region\nFR,EU\nDE,EU\nUS,EU\n")

    assert sorted(query(project, "select country from features.eu")) == [("DE",), ("FR",), ("US",)]


@pytest.mark.parametrize("seed_text", [
    "country,region\nFR,EU\nDE,EU\nUS,NA\nJP,AS\n",  # a row more
    "country,region\nFR,EU\nDE,EU\n",  # a row less
    "country,region\nUS,NA\nFR,EU\nDE,EU\n",  # the order of the rows: both columns' values move
])
def test_rows_that_come_go_or_move_rebuild_every_reader(project, seed_text):
    done = rerun(project, seed_text)

    assert done["countries"] == "rebuild" and done["region_names"] == "rebuild" and done["counter"] == "rebuild"
    assert query(project, "select n from features.counter") == [(seed_text.count("\n") - 1,)]


def test_the_same_values_written_otherwise_rebuild_the_seed_alone(project):
    done = rerun(project, 'country,region\n"FR",EU\nDE,"EU"\nUS,NA\n')

    assert done["regions"] == "rebuild"
    assert {step: action for step, action in done.items() if step != "regions"} == dict.fromkeys(
        ("countries", "region_names", "counter", "eu", "country_keys"), "reuse")


def test_declared_types_are_every_column_s(project):
    """A type declared for one column (seeds.toml) may change what the others publish as
    (nothing told apart there): every reader is rebuilt, and the retyped column is right."""
    (project / "warehouse/seeds.toml").write_text('[regions]\ncolumns = { region = "varchar(2)" }\n')

    done = run(project)

    assert done.code == 0, str(done)
    assert actions(project)["countries"] == "rebuild" and actions(project)["region_names"] == "rebuild"


def test_a_parquet_seed_keeps_one_pseudo_column(tmp_path):
    files = {name: text for name, text in FILES.items() if not name.endswith(".csv")}
    root = make_project(tmp_path / "p", files)
    seed = root / "warehouse/seeds/regions.parquet"
    seed.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"country": ["FR", "DE", "US"], "region": ["EU", "EU", "NA"]}), seed)
    assert run(root).code == 0
    pq.write_table(pa.table({"country": ["FR", "DE", "US"], "region": ["EU", "EU", "AM"]}), seed)

    done = run(root)

    assert done.code == 0, str(done)
    assert actions(root)["countries"] == "rebuild"
