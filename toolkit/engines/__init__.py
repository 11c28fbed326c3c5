"""Engine registry: a name -> adapter class path, imported only when connected.

A DuckDB user never imports a PostgreSQL driver; `toolkit --help` imports none.
Each entry also lists the target settings that engine accepts, so config
validation needs no adapter import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class EngineSpec:
    module: str
    cls: str
    settings: frozenset[str]


ENGINES: dict[str, EngineSpec] = {
    "duckdb": EngineSpec(
        "toolkit.engines.duckdb", "DuckDBEngine", frozenset({"path", "threads", "memory_limit"})
    ),
    "postgres": EngineSpec("toolkit.engines.postgres", "PostgresEngine", frozenset({"url"})),
}


def engine_class(name: str):
    spec = ENGINES[name]
    return getattr(importlib.import_module(spec.module), spec.cls)


def connect(target, root, lock_timeout: float = 10.0):
    """An open adapter for `target` (a config.Target), holding the target's lock."""
    engine = engine_class(target.engine)(target, root)
    engine.open(lock_timeout)
    return engine


def dialect_of(engine_name: str) -> str:
    return engine_class(engine_name).dialect
