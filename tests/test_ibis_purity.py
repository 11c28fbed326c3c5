"""A Python (ibis) step is evaluated at compile and its SQL kept in the compile cache:
what its Python reads from the environment counts like env_var() in a template, and
the clock, randomness, files and Python UDFs are refused at compile (ibispurity.py)."""

from __future__ import annotations

import json
import os

import pytest

from _projects import cli_tuple, make_project, query
from toolkit.compiler import compile_project
from toolkit.errors import ProjectError

SEEDS = {
    "warehouse/seeds.toml": '[orders]\ncolumns = { order_id = "bigint", amount = "double" }\n',
    "warehouse/seeds/orders.csv": "order_id,amount\n1,10\n2,60\n3,100\n",
}
ENV_STEP = """
import os
from toolkit import feature


@feature()
def big_orders(ref):
    thr = float(os.environ.get("THR", "0"))
    floor = float(os.getenv("FLOOR_AMOUNT", "0"))
    o = ref("orders")
    if "ONLY_TWO" in os.environ:
        o = o.filter(o.order_id == 2)
    return o.filter((o.amount > thr) & (o.amount >= floor)).select("order_id")
"""


def _published(root):
    return [row[0] for row in query(root, "select order_id from features.big_orders order by 1")]


def test_an_environment_variable_the_step_reads_invalidates_the_compile_cache(tmp_path):
    root = make_project(tmp_path / "p", {**SEEDS, "features/big_orders.py": ENV_STEP})
    base = {k: v for k, v in os.environ.items() if k not in ("THR", "FLOOR_AMOUNT", "ONLY_TWO")}
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root, env={**base, "THR": "50"})
    assert code == 0, out + err
    assert _published(root) == [2, 3]
    for changed, expected in (({"THR": "0"}, [1, 2, 3]), ({"THR": "0", "FLOOR_AMOUNT": "100"}, [3]),
                              ({"THR": "0", "ONLY_TWO": ""}, [2])):
        code, out, err = cli_tuple("plan", "-p", str(root), cwd=root, env={**base, **changed})
        assert code == 0 and "big_orders  rebuild" in out, out + err
        code, out, err = cli_tuple("run", "-p", str(root), cwd=root, env={**base, **changed})
        assert code == 0, out + err
        assert _published(root) == expected, changed
    code, out, err = cli_tuple("plan", "-p", str(root), cwd=root, env={**base, "THR": "0", "ONLY_TWO": ""})
    assert code == 0 and "big_orders  reuse" in out, out + err  # unchanged environment: the cache holds


def test_what_the_step_prints_goes_to_stderr(tmp_path):
    step = "from toolkit import feature\nprint('importing')\n\n@feature()\ndef s(ref):\n    print('calling')\n    return ref('orders')\n"
    root = make_project(tmp_path / "p", {**SEEDS, "features/s.py": step})
    code, out, err = cli_tuple("plan", "-p", str(root), "--log-format", "json", cwd=root)
    assert code == 0, out + err
    assert "importing" not in out and "calling" not in out and "importing" in err and "calling" in err
    [json.loads(line) for line in out.splitlines() if line.strip()]


def _step(body: str, imports: str = "") -> str:
    return f"import ibis\nfrom toolkit import feature\n{imports}\n\n@feature()\ndef s(ref):\n    o = ref('orders')\n{body}"


REFUSED = [
    ("today", _step("    return o.filter(o.amount > datetime.date.today().day)\n", "import datetime"), "datetime.date.today", 8),
    ("now_alias", _step("    return o.mutate(at=dt.datetime.now())\n", "import datetime as dt"), "datetime.datetime.now", 8),
    ("date_from", _step("    return o.mutate(at=date.today())\n", "from datetime import date"), "datetime.date.today", 8),
    ("time", _step("    return o.mutate(at=time())\n", "from time import time"), "time.time", 8),
    ("random", _step("    return o.filter(o.amount > random.random())\n", "import random"), "random.random", 8),
    ("numpy_random", _step("    return o.filter(o.amount > np.random.rand())\n", "import numpy as np"), "numpy.random.rand", 8),
    ("open", _step("    limit = float(open('/tmp/limit.txt').read())\n    return o.filter(o.amount > limit)\n"), "open", 8),
    ("read_text", _step("    limit = float((Path(__file__).parent / 'limit.txt').read_text())\n    return o\n",
                        "from pathlib import Path"), ".read_text()", 8),
    ("path_open", _step("    with Path('/tmp/x').open() as f:\n        return o.limit(int(f.read()))\n", "from pathlib import Path"),
     ".open()", 8),
    ("listdir", _step("    return o.limit(len(os.listdir('/tmp')))\n", "import os"), "os.listdir", 8),
    ("udf_python", "import ibis\nfrom toolkit import feature\n\n@ibis.udf.scalar.python\ndef double_it(x: float) -> float:\n"
                   "    return x * 2\n\n@feature()\ndef s(ref):\n    o = ref('orders')\n    return o.select(t=double_it(o.amount))\n",
     "ibis.udf.scalar.python is a Python UDF", 4),
    ("udf_pandas_from", "from ibis import udf\nfrom toolkit import feature\n\n@udf.scalar.pandas()\ndef double_it(x: float) -> float:\n"
                        "    return x * 2\n\n@feature()\ndef s(ref):\n    o = ref('orders')\n    return o.select(t=double_it(o.amount))\n",
     "ibis.udf.scalar.pandas is a Python UDF", 4),
]


def _compile(root):
    return compile_project(root)


@pytest.mark.parametrize(("name", "text", "message", "line"), REFUSED, ids=[r[0] for r in REFUSED])
def test_the_clock_randomness_files_and_python_udfs_are_refused_at_their_line(tmp_path, name, text, message, line):
    root = make_project(tmp_path / "p", {**SEEDS, "features/s.py": text})
    with pytest.raises(ProjectError) as raised:
        _compile(root)
    assert message in raised.value.message, raised.value.message
    assert (raised.value.file, raised.value.line) == ("features/s.py", line), raised.value
    assert raised.value.hint


def test_a_helper_file_the_step_imports_is_checked_too(tmp_path):
    helper = "import datetime\n\n\ndef cutoff():\n    return datetime.datetime.utcnow().year\n"
    step = "from toolkit import feature\nfrom .._shared import cutoff\n\n@feature()\ndef s(ref):\n    return ref('orders').limit(cutoff())\n"
    root = make_project(tmp_path / "p", {**SEEDS, "features/_shared.py": helper, "features/sub/s.py": step})
    with pytest.raises(ProjectError) as raised:
        _compile(root)
    assert (raised.value.file, raised.value.line) == ("features/_shared.py", 5), raised.value
    assert "datetime.datetime.utcnow reads the clock" in raised.value.message


def test_names_that_only_look_like_the_clock_or_files_compile(tmp_path):
    step = """import datetime
import ibis
from toolkit import feature


def open(x):  # the file's own open
    return x


@feature()
def s(ref):
    o = ref('orders')
    open_orders = o.filter(o.amount > 0)
    start = datetime.date(2024, 1, 1)
    return open(open_orders).mutate(start=start, at=ibis.now(), r=ibis.random(), day=ibis.today())
"""
    root = make_project(tmp_path / "p", {**SEEDS, "features/s.py": step})
    compiled = _compile(root)
    assert compiled.steps["s"].volatile  # ibis.now(): the engine's clock, rebuilt every run


def test_evaluating_records_this_threads_environment_reads_and_restores_os_environ(monkeypatch):
    import threading

    from toolkit import ibispurity

    monkeypatch.setenv("PURITY_SET", "1")
    monkeypatch.delenv("PURITY_UNSET", raising=False)
    real, reads, other = os.environ, {}, {}
    with ibispurity.evaluating(reads):
        assert os.getenv("PURITY_SET") == "1" and "PURITY_UNSET" not in os.environ
        with pytest.raises(KeyError):
            os.environ["PURITY_MISSING"]
        with ibispurity.evaluating(other):  # an upstream step compiled from a ref()
            os.environ.get("PURITY_INNER")
        thread = threading.Thread(target=lambda: os.environ.get("PURITY_THREAD"))
        thread.start()
        thread.join()
        print("to stderr")
    assert os.environ is real
    assert reads == {"env:PURITY_SET": "1", "env:PURITY_UNSET": None, "env:PURITY_MISSING": None}
    assert other == {"env:PURITY_INNER": None}
