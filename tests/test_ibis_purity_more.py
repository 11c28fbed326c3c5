"""ibispurity.py's gaps found by a tester: the clock through a parsed "now"/"today"
(pd.Timestamp("now"), np.datetime64("today"), ibis.literal("now", type=...)), files read
with pyarrow / polars / duckdb, and a helper file that is not UTF-8 (exit 2 at its own
file and byte line, not at the import in the step)."""

from __future__ import annotations

import pytest

from _projects import make_project
from toolkit.compiler import compile_project
from toolkit.errors import ProjectError

SEEDS = {
    "warehouse/seeds.toml": '[orders]\ncolumns = { order_id = "bigint", amount = "double" }\n',
    "warehouse/seeds/orders.csv": "order_id,amount\n1,10\n2,60\n3,100\n",
}


def _step(body: str, imports: str = "") -> str:
    return f"import ibis\nfrom toolkit import feature\n{imports}\n\n@feature()\ndef s(ref):\n    o = ref('orders')\n{body}"


REFUSED = [
    ("timestamp_now", _step("    return o.mutate(at=ibis.literal(str(pd.Timestamp('now'))))\n", "import pandas as pd"),
     'pandas.Timestamp("now") reads the clock'),
    ("timestamp_today_from", _step("    return o.mutate(at=Timestamp(ts_input='today'))\n", "from pandas import Timestamp"),
     'pandas.Timestamp("today") reads the clock'),
    ("timestamp_now_method", _step("    return o.mutate(at=Timestamp.now())\n", "from pandas import Timestamp"),
     "pandas.Timestamp.now reads the clock"),
    ("to_datetime_list", _step("    return o.mutate(at=pd.to_datetime(['now'])[0])\n", "import pandas as pd"),
     'pandas.to_datetime("now") reads the clock'),
    ("datetime64_now", _step("    return o.mutate(at=str(np.datetime64('now')))\n", "import numpy as np"),
     'numpy.datetime64("now") reads the clock'),
    ("datetime64_today", _step("    return o.mutate(at=str(numpy.datetime64('today', 'D')))\n", "import numpy"),
     'numpy.datetime64("today") reads the clock'),
    ("ibis_timestamp_now", _step("    return o.mutate(at=ibis.timestamp('now'))\n"), 'ibis.timestamp("now") reads the clock'),
    ("ibis_literal_typed_now", _step("    return o.mutate(at=ibis.literal('now', type='timestamp'))\n"),
     'ibis.literal("now") reads the clock'),
    ("pyarrow_csv", _step("    return o.limit(pc.read_csv('/tmp/x.csv').num_rows)\n", "import pyarrow.csv as pc"),
     "pyarrow.csv.read_csv reads a file"),
    ("pyarrow_csv_from", _step("    return o.limit(csv.read_csv('/tmp/x.csv').num_rows)\n", "from pyarrow import csv"),
     "pyarrow.csv.read_csv reads a file"),
    ("pyarrow_parquet", _step("    return o.limit(pq.read_table('/tmp/x.parquet').num_rows)\n", "import pyarrow.parquet as pq"),
     "pyarrow.parquet.read_table reads a file"),
    ("pyarrow_json", _step("    return o.limit(pa.json.read_json('/tmp/x.json').num_rows)\n", "import pyarrow as pa"),
     "pyarrow.json.read_json reads a file"),
    ("pyarrow_feather", _step("    return o.limit(feather.read_table('/tmp/x').num_rows)\n", "from pyarrow import feather"),
     "pyarrow.feather.read_table reads a file"),
    ("pyarrow_dataset", _step("    return o.limit(ds.dataset('/tmp/x').count_rows())\n", "import pyarrow.dataset as ds"),
     "pyarrow.dataset.dataset reads a file"),
    ("polars_read", _step("    return o.limit(pl.read_csv('/tmp/x.csv').height)\n", "import polars as pl"),
     "polars.read_csv reads a file"),
    ("polars_scan", _step("    return o.limit(scan_parquet('/tmp/x').collect().height)\n", "from polars import scan_parquet"),
     "polars.scan_parquet reads a file"),
    ("duckdb_connect", _step("    return o.limit(duckdb.connect('/tmp/x.duckdb').sql('select 1').fetchone()[0])\n", "import duckdb"),
     "duckdb.connect reads a database"),
    ("duckdb_read", _step("    return o.limit(len(duckdb.read_csv('/tmp/x.csv').fetchall()))\n", "import duckdb"),
     "duckdb.read_csv reads a database"),
    ("ibis_backend_connect", _step("    return o.limit(ibis.duckdb.connect('/tmp/x.duckdb').list_tables().__len__())\n"),
     "ibis.duckdb.connect reads a database"),
]


@pytest.mark.parametrize(("name", "text", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_the_clock_parsed_from_now_and_files_read_by_pyarrow_polars_duckdb_are_refused(tmp_path, name, text, message):
    root = make_project(tmp_path / "p", {**SEEDS, "features/s.py": text})
    with pytest.raises(ProjectError) as raised:
        compile_project(root)
    assert message in raised.value.message, raised.value.message
    assert (raised.value.file, raised.value.line) == ("features/s.py", 8), raised.value
    assert raised.value.hint


def test_fixed_dates_and_now_as_a_plain_string_compile(tmp_path):
    body = ("    start = pd.Timestamp('2024-01-01')\n    day = np.datetime64('2024-01-02')\n"
            "    return o.mutate(start=ibis.literal(str(start)), day=ibis.literal(str(day)), label=ibis.literal('now'),\n"
            "                    d=ibis.timestamp('2024-01-03'), at=pd.to_datetime('2024-01-04').year)\n")
    root = make_project(tmp_path / "p", {**SEEDS, "features/s.py": _step(body, "import numpy as np\nimport pandas as pd")})
    assert "s" in compile_project(root).steps


def test_a_helper_file_that_is_not_utf8_is_named_at_its_byte_line(tmp_path):
    step = "from toolkit import feature\nfrom ._lat2 import X\n\n@feature()\ndef s(ref):\n    return ref('orders')\n"
    root = make_project(tmp_path / "p", {**SEEDS, "features/s.py": step})
    (root / "features/_lat2.py").write_bytes(b'# helper\nX = "caf\xe9"\n')
    with pytest.raises(ProjectError) as raised:
        compile_project(root)
    assert (raised.value.file, raised.value.line) == ("features/_lat2.py", 2), raised.value
    assert "not UTF-8" in raised.value.message, raised.value.message
