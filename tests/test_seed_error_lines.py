"""A seed value Arrow cannot convert is named with its file's line, column and value.

A tester saw `warehouse/seeds/ca.csv: malformed CSV: In CSV column #1: Rescaling Decimal
value would cause data loss`: no line, no value, and Arrow's column number counted from 0
(#1 is the second column). Now each names the line and the column by its header.
"""

from __future__ import annotations

import pytest

from _projects import cli_tuple, make_project


@pytest.mark.parametrize("declared, csv, said", [
    ('{ code = "varchar", amt = "decimal(10,2)" }', "code,amt\n007,1.00\n010,2.5\n011,3.125\n",
     "warehouse/seeds/s.csv:4: malformed CSV: column 'amt' value '3.125' has more decimal places than its declared type keeps"),
    ('{ tz = "timestamptz" }', "id,tz\n1,2024-01-31 10:00:00+02:00\n2,2024-01-31 10:00:00\n",
     "warehouse/seeds/s.csv:3: malformed CSV: column 'tz' value '2024-01-31 10:00:00' is not a valid timestamp[us, tz=UTC] "
     "(expected a zone offset in '2024-01-31 10:00:00')"),
    ('{ a = "timestamp with time zone" }', "a\n1.5\n",
     "warehouse/seeds/s.csv:2: malformed CSV: column 'a' value '1.5' is not a valid timestamp[us, tz=UTC]"),
])
def test_a_value_arrow_cannot_convert_is_named_at_its_line(tmp_path, declared, csv, said):
    root = make_project(tmp_path / "p", {"warehouse/seeds.toml": f"[s]\ncolumns = {declared}\n", "warehouse/seeds/s.csv": csv})
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 2, out + err
    assert said in err and "Traceback" not in err, err
