"""Engine registry: a name -> adapter class path, imported only when connected.

A DuckDB user never imports a PostgreSQL driver; `toolkit --help` imports none.
Each entry also lists the target settings that engine accepts, so config
validation needs no adapter import.

Other warehouses plug in without changing toolkit: a package declares an entry
point in group `toolkit.engines`, e.g. in its pyproject.toml

    [project.entry-points."toolkit.engines"]
    snowflake = "toolkit_snowflake:SnowflakeEngine"

naming a subclass of toolkit.engines.base.Engine; `engine = "snowflake"` in a target
then loads it (its settings are checked by the adapter itself), and
toolkit.engines.conformance is the test suite it must pass.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from toolkit import interrupts


@dataclass(frozen=True)
class EngineSpec:
    module: str
    cls: str
    settings: frozenset[str] | None  # None: any settings, the adapter checks them


ENGINES: dict[str, EngineSpec] = {
    "duckdb": EngineSpec(
        "toolkit.engines.duckdb", "DuckDBEngine", frozenset({"path", "threads", "memory_limit", "state"})
    ),
    "postgres": EngineSpec("toolkit.engines.postgres", "PostgresEngine", frozenset({"url", "state"})),
    "spark": EngineSpec(
        "toolkit.engines.spark", "SparkEngine", frozenset({"master", "remote", "conf", "warehouse", "state"})
    ),
}


def available() -> dict[str, EngineSpec]:
    """Built-in engines and those plugged in through the `toolkit.engines` entry point."""
    from importlib.metadata import entry_points  # scanning installed packages costs ~20 ms: only when asked

    plugged = {}
    for point in entry_points(group="toolkit.engines"):
        module, _, cls = point.value.partition(":")
        plugged[point.name] = EngineSpec(module, cls, None)
    return {**plugged, **ENGINES}


def engine_spec(name: str) -> EngineSpec | None:
    """The engine called `name` (a built-in one wins), or None."""
    return ENGINES.get(name) or available().get(name)


def engine_class(name: str):
    spec = engine_spec(name)
    return getattr(importlib.import_module(spec.module), spec.cls)


def connect(target, root, lock_timeout: float = 10.0, on_wait=None, exclusive: bool = True, stop_waiting=None):
    """An open adapter for `target` (a config.Target), holding the target's run lock
    (exclusive) or not (a reader, where the engine has CONCURRENT_READERS).
    `on_wait(holder)` is called once if the adapter has to wait, naming the holder;
    `stop_waiting` (a threading.Event), once set, makes it give up waiting (OpenCancelled)."""
    engine = engine_class(target.engine)(target, root)
    engine.on_wait, engine.stop_waiting = on_wait, stop_waiting
    engine.open(lock_timeout, exclusive)
    interrupts.register(engine)
    return engine


def dialect_of(engine_name: str) -> str:
    return engine_class(engine_name).dialect
