"""A freshness column made from toolkit's clock (scored_at, naive UTC) in a way that is not
carried as it is (coalesce with a literal, a FILTER, a CASE) was read as a wall time of the
project's time_zone: stale predictions passed west of UTC (tester G). Such a column is read
both ways now, and stale when either reading is: exact west of UTC, erring toward failing
east of it (Tokyo: read as a wall time, it is 9 hours older: stale at once), as before."""

from __future__ import annotations

import pytest

from test_freshness_zones import FRESH, T0, duckdb_project, run_at

MIXED = {
    "features/co.sql": FRESH.format(kind="table", column="last")
    + "select coalesce(max(scored_at), timestamp '1970-01-01') as last from {{ ref(\"m\") }}\n",
    "features/filtered.sql": FRESH.format(kind="table", column="last")
    + 'select max(scored_at) filter (where prediction is not null) as last from {{ ref("m") }}\n',
}


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "America/Sao_Paulo"])
def test_a_column_made_from_scored_at_with_a_literal_is_stale_after_max_age_in_any_zone(tmp_path, zone):
    root = duckdb_project(tmp_path / "p", zone, MIXED)
    code, output = run_at(root, T0)
    assert code == 0, output
    code, output = run_at(root, "2024-07-01T10:59")  # fresh both ways
    assert code == 0, output
    code, output = run_at(root, "2024-07-01T11:01")  # stale as UTC (Los Angeles: fresh as a wall time)
    assert code == 1 and output.count("freshness(last)") >= 2, output
