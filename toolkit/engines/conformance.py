"""The checks every engine adapter must pass, like scikit-learn's check_estimator.

    from toolkit.engines.conformance import CHECKS

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_my_engine(check):
        check(lambda timeout=5.0: my_connect(timeout))   # a fresh open adapter per call

Each check gets a factory that opens a new adapter on the same, otherwise empty
target (a second call is a second client: the lock check uses that), works in
schema `conformance` and closes what it opened. A check fails with an
AssertionError that says what the adapter got wrong.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import date, datetime
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from toolkit.errors import TargetBusy

SCHEMA = "conformance"
Factory = Callable[..., object]


def table(name: str) -> exp.Table:
    return exp.table_(name, db=SCHEMA)


@contextmanager
def session(factory: Factory, **options) -> Iterator:
    engine = factory(**options)
    try:
        engine.create_schema(SCHEMA)
        yield engine
    finally:
        engine.close()


def sample() -> pa.Table:
    """One column per type family a pipeline moves, with NULLs in each."""
    return pa.table(
        {
            "pos": pa.array([0, 1, 2, 3], pa.int32()),
            "id": pa.array([1, 2, 3, None], pa.int64()),
            "amount": pa.array([1.5, -0.25, None, 1e300], pa.float64()),
            "name": pa.array(["a", "é", None, "x'y\"z"], pa.string()),
            "flag": pa.array([True, False, None, True], pa.bool_()),
            "at": pa.array([datetime(2024, 1, 2, 3, 4, 5, 6), None, datetime(1999, 12, 31), datetime(2030, 6, 1)], pa.timestamp("us")),
            "day": pa.array([date(2024, 1, 2), None, date(1970, 1, 1), date(2100, 2, 28)], pa.date32()),
        }
    )


def check_arrow_round_trip(factory: Factory) -> None:
    """Arrow in, Arrow out: same values, same type families, NULLs kept."""
    with session(factory) as engine:
        data = sample()
        engine.drop(table("round_trip"))
        engine.create_table_from_arrow(table("round_trip"), data)
        back = engine.fetch_arrow(exp.select(*data.column_names).from_(table("round_trip")).order_by("pos"))
        assert back.column_names == data.column_names, f"columns came back as {back.column_names}"
        for name in data.column_names:
            got, sent = back.column(name).to_pylist(), data.column(name).to_pylist()
            assert got == sent, f"column {name} changed: sent {sent}, got {got}"
        assert engine.count_rows(table("round_trip")) == 4
        engine.drop(table("round_trip"))


def check_streamed_read_and_write(factory: Factory) -> None:
    """read_batches streams in bounded batches on its own session; insert_arrow appends a stream."""
    with session(factory) as engine:
        rows = 300_000
        data = pa.table({"n": pa.array(range(rows), pa.int64()), "half": pc.divide(pa.array(range(rows), pa.float64()), 2.0)})
        engine.drop(table("stream"))
        engine.create_table_from_arrow(table("stream"), pa.RecordBatchReader.from_batches(data.schema, data.to_batches(50_000)))
        engine.insert_arrow(table("stream"), pa.RecordBatchReader.from_batches(data.schema, data.slice(0, 10).to_batches()))
        reader = engine.read_batches(exp.select("n", "half").from_(table("stream")), batch_rows=100_000)
        total, largest = 0, 0
        for batch in reader:
            total += batch.num_rows
            largest = max(largest, batch.num_rows)
            assert engine.count_rows(table("stream")) == rows + 10, "another statement failed while a reader was open"
        assert total == rows + 10, f"read {total} rows of {rows + 10}"
        assert largest < rows, "read_batches returned everything in one batch"
        engine.drop(table("stream"))


def check_transaction_is_atomic(factory: Factory) -> None:
    """DDL and writes inside transaction() vanish on error and all appear on commit
    (engines that declare SUPPORTS_TRANSACTIONAL_DDL)."""
    with session(factory) as engine:
        if not engine.SUPPORTS_TRANSACTIONAL_DDL:
            return
        for name in ("atomic_view", "atomic"):
            engine.drop(table(name), "VIEW" if name.endswith("view") else "TABLE")
        try:
            with engine.transaction():
                engine.create_table_as(table("atomic"), exp.select(exp.Literal.number(1).as_("x")))
                engine.replace_view(table("atomic_view"), exp.select("x").from_(table("atomic")))
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert engine.columns(table("atomic")) is None, "a rolled-back CREATE TABLE is visible"
        with engine.transaction():
            engine.create_table_as(table("atomic"), exp.select(exp.Literal.number(1).as_("x")))
            engine.replace_view(table("atomic_view"), exp.select("x").from_(table("atomic")))
        assert engine.fetch_rows(exp.select("x").from_(table("atomic_view"))) == [(1,)]
        engine.drop(table("atomic_view"), "VIEW")
        engine.drop(table("atomic"))


def check_replace_view_changes_columns(factory: Factory) -> None:
    """Publishing may point a view at a relation with other columns (a step dropped one)."""
    with session(factory) as engine:
        view = table("swapped")
        with engine.transaction():
            engine.replace_view(view, exp.select(exp.Literal.number(1).as_("a"), exp.Literal.number(2).as_("b")))
        with engine.transaction():
            engine.replace_view(view, exp.select(exp.Literal.string("x").as_("c")))
        assert list(engine.columns(view)) == ["c"]
        engine.drop(view, "VIEW")


def check_catalog(factory: Factory) -> None:
    """relations(), columns() and catalog() see tables and views of one schema, in column
    order, names exactly as created."""
    with session(factory) as engine:
        engine.create_table_as(table("cat_t"), exp.select(exp.Literal.number(1).as_("b"), exp.Literal.string("x").as_("a")))
        engine.replace_view(table("cat_v"), exp.select(exp.column("a").as_("Mixed")).from_(table("cat_t")))
        relations = engine.relations(SCHEMA)
        assert relations.get("cat_t") == "table" and relations.get("cat_v") == "view", relations
        assert list(engine.columns(table("cat_t"))) == ["b", "a"]
        assert engine.columns(table("missing")) is None
        catalog = engine.catalog(SCHEMA)
        assert list(catalog["cat_t"]) == ["b", "a"] and list(catalog["cat_v"]) == ["Mixed"], catalog
        assert catalog["cat_t"] == engine.columns(table("cat_t"))
        engine.drop(table("cat_v"), "VIEW")
        engine.drop(table("cat_t"))


def check_fingerprint_ignores_order(factory: Factory) -> None:
    """table_fingerprint: same rows in any order -> same; one changed value -> different."""
    with session(factory) as engine:
        rows = pa.table({"k": [1, 2, 3], "v": ["a", "b", None]})
        engine.create_table_from_arrow(table("fp1"), rows)
        engine.create_table_from_arrow(table("fp2"), rows.take([2, 0, 1]))
        engine.create_table_from_arrow(table("fp3"), pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"]}))
        one, two, three = (engine.table_fingerprint(table(n)) for n in ("fp1", "fp2", "fp3"))
        assert one == two, f"row order changed the fingerprint: {one} vs {two}"
        assert one != three, "a changed value kept the fingerprint"
        assert one.startswith("3:"), one
        for name in ("fp1", "fp2", "fp3"):
            engine.drop(table(name))


def check_shapes(factory: Factory) -> None:
    """shapes(): kind and columns (names, order, types) of each table asked for that
    exists; a retyped column changes its type."""
    with session(factory) as engine:
        engine.create_table_from_arrow(table("sh_t"), pa.table({"b": pa.array([1], pa.int64()), "a": ["x"]}))
        engine.replace_view(table("sh_v"), exp.select("a").from_(table("sh_t")))
        shapes = engine.shapes([table("sh_t"), table("sh_v"), table("missing")])
        assert set(shapes) == {(SCHEMA, "sh_t"), (SCHEMA, "sh_v")}, shapes
        kind, columns = shapes[(SCHEMA, "sh_t")]
        assert kind == "table" and [c for c, _ in columns] == ["b", "a"] and columns[0][1] != columns[1][1], shapes
        kind, columns = shapes[(SCHEMA, "sh_v")]
        assert kind == "view" and [c for c, _ in columns] == ["a"], shapes
        engine.drop(table("sh_v"), "VIEW")
        engine.drop(table("sh_t"))


def check_key_hash(factory: Factory) -> None:
    """key_hash is deterministic, non-negative and spreads keys over buckets."""
    with session(factory) as engine:
        engine.create_table_from_arrow(table("keys"), pa.table({"a": pa.array(range(1000), pa.int64()), "b": ["x"] * 1000}))
        hashed = engine.key_hash(["a", "b"])
        buckets = exp.Mod(this=hashed, expression=exp.Literal.number(10))
        query = exp.select("a", hashed.copy().as_("h"), buckets.as_("bucket")).from_(table("keys")).order_by("a")
        first, second = engine.fetch_rows(query), engine.fetch_rows(query)
        assert first == second, "key_hash is not deterministic"
        assert all(h >= 0 for _, h, _ in first), "key_hash went negative"
        assert len({bucket for _, _, bucket in first}) == 10, "key_hash does not spread 1000 keys over 10 buckets"
        engine.drop(table("keys"))


def check_binary_literal(factory: Factory) -> None:
    """binary_literal stores bytes exactly (model artifacts)."""
    with session(factory) as engine:
        payload = bytes(range(256)) * 4
        engine.create_table_as(table("blob"), exp.select(engine.binary_literal(payload).as_("data")))
        [(data,)] = engine.fetch_rows(exp.select("data").from_(table("blob")))
        assert bytes(data) == payload, "binary_literal changed the bytes"
        engine.drop(table("blob"))


def check_parallel_sessions(factory: Factory) -> None:
    """Statements from several threads run on their own sessions without interfering."""
    with session(factory) as engine:
        errors: list[BaseException] = []

        def build(i: int) -> None:
            try:
                name = table(f"par_{i}")
                engine.drop(name)
                engine.create_table_as(name, exp.select(exp.Literal.number(i).as_("i")))
                assert engine.fetch_rows(exp.select("i").from_(name)) == [(i,)]
                engine.drop(name)
            except BaseException as error:  # reported below, on the test's thread
                errors.append(error)

        threads = [threading.Thread(target=build, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, f"parallel sessions failed: {errors[0]!r}"


def check_lock_is_exclusive(factory: Factory) -> None:
    """While one adapter is open, a second one waits out its timeout and raises TargetBusy;
    once the first closes, the second opens. An engine that holds no state (HOLDS_STATE
    False) holds no lock either: the state store's lock is the run lock, and a second
    client opens at once."""
    first = factory()
    if not first.HOLDS_STATE:
        try:
            factory(lock_timeout=0.3).close()
        finally:
            first.close()
        return
    try:
        try:
            second = factory(lock_timeout=0.3)
        except TargetBusy as busy:
            assert "busy" in str(busy) and "0.3" in str(busy), f"unhelpful busy message: {busy}"
        else:
            second.close()
            raise AssertionError("a second adapter opened while the first held the target")
    finally:
        first.close()
    factory(lock_timeout=5.0).close()


def check_open_stops_waiting_when_told(factory: Factory) -> None:
    """An adapter waiting for the lock gives up when its `stop_waiting` event is set
    (OpenCancelled; session.SessionAhead when the command failed first) and leaves
    nothing open: the target opens at once once the holder closes."""
    import threading
    import time

    from toolkit.engines.base import OpenCancelled

    first = factory()
    if not first.HOLDS_STATE:
        first.close()
        return
    stop, outcome = threading.Event(), []

    def wait() -> None:
        try:
            outcome.append(factory(lock_timeout=600, stop_waiting=stop))
        except BaseException as error:
            outcome.append(error)

    waiter = threading.Thread(target=wait)
    try:
        waiter.start()
        time.sleep(0.3)  # most likely waiting by now; if not, it stops at its first wait
        stop.set()
        waiter.join()
    finally:
        first.close()
    assert len(outcome) == 1 and isinstance(outcome[0], OpenCancelled), f"did not stop waiting: {outcome}"
    factory(lock_timeout=5.0).close()


def check_publish_guarantee(factory: Factory) -> None:
    """publish(): the state is recorded only once every swap is visible; with transactional
    DDL a failure changes nothing, without it the swaps before the failure stand."""
    from toolkit.engines.base import Swap

    with session(factory) as engine:
        for name, value in (("pub_old", 1), ("pub_new_a", 2), ("pub_new_b", 3)):
            engine.drop(table(name))
            engine.create_table_as(table(name), exp.select(exp.Literal.number(value).as_("v")))
        for view in ("pub_a", "pub_b"):
            engine.replace_view(table(view), exp.select("v").from_(table("pub_old")))

        def seen() -> tuple:
            return tuple(engine.fetch_rows(exp.select("v").from_(table(v)))[0][0] for v in ("pub_a", "pub_b"))

        def fail(_engine):
            raise RuntimeError("boom")

        recorded: list[int] = []
        swaps = [Swap(table("pub_a"), table("pub_new_a")), Swap(table("pub_b"), table("pub_new_b"), extras=fail)]
        try:
            engine.publish(swaps, record=lambda: recorded.append(1))
        except RuntimeError:
            pass
        assert not recorded, "the state was recorded although publishing failed"
        expected = (1, 1) if engine.SUPPORTS_TRANSACTIONAL_DDL else (2, 3)
        assert seen() == expected, f"after a failed publish readers see {seen()}, expected {expected}"
        engine.publish([Swap(table("pub_a"), table("pub_new_a")), Swap(table("pub_b"), table("pub_new_b"))],
                       drops=[table("pub_gone")], record=lambda: recorded.append(1))
        assert recorded == [1] and seen() == (2, 3)
        for view in ("pub_a", "pub_b"):
            engine.drop(table(view), "VIEW")


def check_readers_and_the_lock(factory: Factory) -> None:
    """A reader (exclusive=False) opens beside a run where CONCURRENT_READERS, else it waits."""
    first = factory()
    try:
        try:
            reader = factory(lock_timeout=0.3, exclusive=False)
        except TargetBusy:
            assert not first.CONCURRENT_READERS, "a reader waited although the engine declares CONCURRENT_READERS"
        else:
            try:
                assert first.CONCURRENT_READERS, "a reader opened beside the run lock on an engine without CONCURRENT_READERS"
                assert reader.fetch_rows(exp.select(exp.Literal.number(1))) == [(1,)]
            finally:
                reader.close()
    finally:
        first.close()


def check_state_store(factory: Factory) -> None:
    """The engine can hold toolkit's state: tables created, run ids allocated in order,
    published rows written and read back as written."""
    from toolkit.state import Published, State

    with session(factory) as engine:
        if not engine.HOLDS_STATE:  # its targets get a state store of their own (session.state_target)
            from toolkit.config import Target
            from toolkit.session import state_target

            store = state_target(Target("t", engine.name, {}))
            assert store is not None and store.engine != engine.name, f"no state store of its own: {store}"
            return
        state = State(engine)
        state.ensure()
        first, second = state.start_run("p", "t", "run", env="dev"), state.start_run("p", "t", "test", abandon_others=False)
        assert second == first + 1, (first, second)
        assert state.last_run("dev") == (first, "running") and state.last_run("prod") is None, state.last_run("dev")
        row = Published(step="s", relation="features.s", physical_name="s__x__r1", fingerprint="f", definition="d",
                        materialized="table", run_id=first, reads=("a",), columns={"x": ["a"]}, inputs={"a": "f1"})
        state.record_published([row], first)
        back = State(engine).published()["s"]
        assert (back.physical_name, back.fingerprint, tuple(back.reads), back.columns) == ("s__x__r1", "f", ("a",), {"x": ["a"]}), back


CHECKS = [
    check_arrow_round_trip,
    check_streamed_read_and_write,
    check_transaction_is_atomic,
    check_replace_view_changes_columns,
    check_catalog,
    check_fingerprint_ignores_order,
    check_shapes,
    check_key_hash,
    check_binary_literal,
    check_parallel_sessions,
    check_lock_is_exclusive,
    check_open_stops_waiting_when_told,
    check_publish_guarantee,
    check_readers_and_the_lock,
    check_state_store,
]
