"""The training read returns rows ordered by the key on every engine, whether or not the
table is stored in key order: a table stored in order is read once without ORDER BY,
anything else (out of order anywhere, duplicate or NULL keys, text keys) gets the
ORDER BY read (training._read_in_key_order). DuckDB and PostgreSQL."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sqlglot import exp

from postgres_support import pg_url  # noqa: F401 (a fixture)
from toolkit.config import Target
from toolkit.engines import connect
from toolkit.training import RepeatedKey, _keys_increase, _orderable, _read_in_key_order

TABLE = exp.table_("train", db="features")


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request, tmp_path):
    if request.param == "duckdb":
        target = Target("t", "duckdb", {"path": "warehouse.duckdb"})
    else:
        target = Target("t", "postgres", {"url": request.getfixturevalue("pg_url")})
    e = connect(target, tmp_path, 5)
    e.create_schema("features")
    reads = []
    plain = e.read_batches

    def recording(statement, batch_rows=100_000):  # the real engine's read, remembered
        reads.append(e.generate(statement))
        return plain(statement, batch_rows)

    e.read_batches = recording
    e.reads = reads
    yield e
    e.close()


def make(engine, select: str, order: str) -> None:
    """features.train from `select` over generate_series(1, n) as t(i), stored in `order`."""
    engine.execute(f"create table features.train as {select} order by {order}")


def read(engine, key=("k",), batch_rows=100_000) -> pa.Table:
    engine.reads.clear()
    query = exp.select("*").from_(TABLE.copy())
    types = engine.columns(TABLE)
    return _read_in_key_order(engine, query, list(key), [types[c] for c in key], batch_rows=batch_rows)


def sorted_read(engine, key=("k",)) -> pa.Table:
    return engine.fetch_arrow(f"select * from features.train order by {', '.join(key)}")


def used_order_by(engine) -> list[bool]:
    return ["ORDER BY" in statement.upper() for statement in engine.reads]


def test_a_table_stored_in_key_order_is_read_once_without_sorting(engine):
    make(engine, "select i as k, i * 0.5 as x, i % 2 as y from generate_series(1, 3000) as t(i)", "i")
    data = read(engine, batch_rows=700)  # several batches: the check spans their boundaries
    assert data.equals(sorted_read(engine))
    assert used_order_by(engine) == [False]


@pytest.mark.parametrize(
    "order",
    [
        "(i * 7919) % 3001",  # shuffled
        "case when i = 2999 then 3000 when i = 3000 then 2999 else i end",  # only the last two swapped
        "case when i = 700 then 701 when i = 701 then 700 else i end",  # across a batch boundary
    ],
)
def test_rows_out_of_key_order_anywhere_are_sorted(engine, order):
    make(engine, "select i as k, i * 0.5 as x from generate_series(1, 3000) as t(i)", order)
    data = read(engine, batch_rows=700)
    assert data.equals(sorted_read(engine))
    assert used_order_by(engine) == [False, True]


@pytest.mark.parametrize("select", ["i - i % 2", "case when i > 390 then null else i end"], ids=["equal", "two-nulls"])
def test_a_repeated_key_is_refused(engine, select):
    """Equal keys have no order of their own (the sort returns them in any order: the
    fit would not be reproducible); the stored-order read gives up on them, then the
    sorted read names the first one."""
    make(engine, f"select {select} as k, i as x from generate_series(1, 400) as t(i)", "i")
    with pytest.raises(RepeatedKey) as raised:
        read(engine)
    assert used_order_by(engine) == [False, True]
    assert raised.value.key == ({"k": 2} if "%" in select else {"k": None})


def test_a_null_key_goes_last_as_order_by_puts_it(engine):
    make(engine, "select case when i = 5 then null else i end as k, i as x from generate_series(1, 200) as t(i)", "i")
    data = read(engine)
    assert used_order_by(engine) == [False, True]
    assert data.column("k").to_pylist()[-1] is None
    assert data.column("x").to_pylist()[-1] == 5


def test_text_keys_are_always_sorted_by_the_engine(engine):
    # byte order and the database's collation may disagree: never judged in Python
    make(engine, "select 'c' || lpad(cast(i as varchar), 5, '0') as k, i as x from generate_series(1, 300) as t(i)", "i")
    data = read(engine)
    assert used_order_by(engine) == [True]
    assert data.equals(sorted_read(engine))


def test_two_column_keys_compare_column_by_column(engine):
    select = "select i % 7 as a, i as b, i * 2 as x from generate_series(1, 700) as t(i)"
    make(engine, select, "i % 7, i")
    assert read(engine, ("a", "b")).equals(sorted_read(engine, ("a", "b")))
    assert used_order_by(engine) == [False]

    engine.execute("drop table features.train")
    make(engine, select, "i % 7, i desc")  # first column in order, second not
    assert read(engine, ("a", "b")).equals(sorted_read(engine, ("a", "b")))
    assert used_order_by(engine) == [False, True]


def test_dates_are_ordered_keys(engine):
    make(engine, "select date '2020-01-01' + cast(i as integer) as k, i as x from generate_series(1, 300) as t(i)", "i")
    assert read(engine).equals(sorted_read(engine))
    assert used_order_by(engine) == [False]


def batch(**columns) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(columns)


@pytest.mark.parametrize(
    ("type_name", "dialect", "orderable"),
    [
        ("BIGINT", "duckdb", True),
        ("DECIMAL(18,3)", "duckdb", True),
        ("TIMESTAMP WITH TIME ZONE", "duckdb", True),
        ("timestamp without time zone", "postgres", True),
        ("numeric", "postgres", True),
        ("VARCHAR", "duckdb", False),
        ("text", "postgres", False),
        ("DOUBLE", "duckdb", False),  # NaN
        ("STRUCT(a INTEGER)", "duckdb", False),
        ("no such type !", "duckdb", False),
    ],
)
def test_which_key_types_are_judged_in_python(type_name, dialect, orderable):
    assert _orderable(type_name, dialect) is orderable


def test_keys_increase_compares_with_the_previous_batch():
    assert _keys_increase(batch(k=[3, 4]), ["k"], batch(k=[2]))
    assert not _keys_increase(batch(k=[3, 4]), ["k"], batch(k=[3]))  # equal at the boundary
    assert not _keys_increase(batch(k=[3, 4]), ["k"], batch(k=[9]))
    assert _keys_increase(batch(a=[1, 1, 2], b=[5, 6, 0]), ["a", "b"], None)
    assert not _keys_increase(batch(a=[1, 1, 2], b=[6, 6, 0]), ["a", "b"], None)
    assert not _keys_increase(batch(a=[1, 1, 2], b=[6, 5, 0]), ["a", "b"], batch(a=[0], b=[9]))
    assert _keys_increase(batch(k=[7]), ["k"], None)


def test_a_model_whose_key_repeats_fails_naming_it(tmp_path, run_cli):
    from _projects import make_project

    model = ("from sklearn.linear_model import LogisticRegression\nfrom toolkit import model\n\n\n"
             "@model(training='training', label='label', key='id', split='random', metrics=['accuracy'])\n"
             "def m():\n    return LogisticRegression()\n")
    root = make_project(tmp_path / "p", {"models/m.py": model, "features/training.sql":
                                         "select i % 50 as id, i * 0.5 as x, i % 2 as label from range(100) as t(i)\n"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 1, out + err
    assert "model m: key id repeats in training table features.training (id = 0)" in out, out


# -- a table a model trains on is written in the model's key order ---------------------

MODEL = ("from sklearn.linear_model import LogisticRegression\nfrom toolkit import model\n\n\n"
         "@model(training='training', label='label', key='{key}', features=['x'], split='random', metrics=['accuracy'])\n"
         "def {name}():\n    return LogisticRegression()\n")
SHUFFLED = ("select (i * 7919) % 3001 as id, 'k' || lpad(((i * 7919) % 3001)::varchar, 5, '0') as code, i * 0.5 as x, "
            "i % 2 as label from range(3000) as t(i)\n")


def trained_project(tmp_path, models: dict[str, str]):
    from _projects import make_project

    files = {f"models/{name}.py": MODEL.format(key=key, name=name) for name, key in models.items()}
    return make_project(tmp_path / "p", {**files, "features/training.sql": SHUFFLED})


def stored_keys(root, column: str) -> list:
    """The training table's keys in the order the physical table stores them."""
    from _projects import published, query

    physical = published(root)["training"]["physical_name"]
    return [row[0] for row in query(root, f'select {column} from toolkit_physical."{physical}"')]


@pytest.fixture
def training_reads(monkeypatch):
    """The statements models read their training rows with, in this process."""
    from toolkit.engines.duckdb import DuckDBEngine

    reads, plain = [], DuckDBEngine.read_batches

    def recording(self, statement, batch_rows=100_000):
        reads.append(self.generate(statement))
        return plain(self, statement, batch_rows)

    monkeypatch.setattr(DuckDBEngine, "read_batches", recording)
    return reads


def test_a_table_a_model_trains_on_is_stored_in_its_key_order(tmp_path, training_reads):
    from _projects import rows, run_in_process

    root = trained_project(tmp_path, {"m": "id"})
    assert run_in_process(root).ok
    keys = stored_keys(root, "id")
    assert keys == sorted(keys) and len(keys) == 3000
    # what the table holds is the query's result, whatever its order
    assert rows(root, "features.training", "id") == rows(root, f"({SHUFFLED}) as q", "id")
    fits = [s for s in training_reads if "features" in s or "toolkit_physical" in s]
    assert fits and not any("ORDER BY" in s.upper() for s in fits), fits  # read as stored: no sort


@pytest.mark.parametrize("models", [{"m": "code"}, {"m": "id", "n": "code"}], ids=["text key", "two keys"])
def test_a_table_is_not_sorted_where_no_read_would_use_it(tmp_path, models):
    # A text key is always sorted by the engine at read time (collations differ); two
    # models reading by different keys leave the table as the query made it.
    from _projects import run_in_process

    root = trained_project(tmp_path, models)
    assert run_in_process(root).ok
    keys = stored_keys(root, "id")
    assert keys != sorted(keys)


def test_sorting_the_table_changes_no_fingerprint(tmp_path):
    # A model added to a step's readers does not rebuild the step: the order is storage only.
    from _projects import published, run_in_process, write

    root = trained_project(tmp_path, {})
    assert run_in_process(root).ok
    before = published(root)["training"]
    write(root, {"models/m.py": MODEL.format(key="id", name="m")})
    summary = run_in_process(root)
    assert summary.ok
    assert {r.step: r.status for r in summary.results}["training"] == "reused"
    assert published(root)["training"]["fingerprint"] == before["fingerprint"]


def test_the_engine_writes_a_training_table_in_key_order(engine):
    # DuckDB and PostgreSQL: the CREATE TABLE AS of a model's training table sorts it.
    from types import SimpleNamespace

    from toolkit.materializations.table import Table

    spec = SimpleNamespace(training="train", key=["K"])
    ctx = SimpleNamespace(engine=engine, compiled=SimpleNamespace(project=SimpleNamespace(models={"m": spec})))
    query = exp.maybe_parse("select (i * 7919) % 3001 as k, i * 0.5 as x from generate_series(1, 3000) as t(i)",
                            dialect=engine.dialect)
    assert Table().create(ctx, SimpleNamespace(name="train"), TABLE.copy(), query) == 3000
    engine.reads.clear()
    stored = engine.fetch_arrow("select k from features.train").column("k").to_pylist()
    assert stored == sorted(stored)
    assert used_order_by(engine) == [] and read(engine).equals(sorted_read(engine))
    assert used_order_by(engine) == [False]
