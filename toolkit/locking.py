"""Who holds a target: run id, host, pid and start time, readable by the process that waits.

DuckDB's file lock cannot be inspected from another process (it only names a PID
when opening fails), so the run that holds the file writes a sidecar next to it,
`<file>.toolkit-lock.json`, once the lock is acquired, and removes it at close. A
sidecar whose process is gone is stale (DuckDB released the file lock when that
process died) and is ignored, then overwritten.

Engines with a lock of their own (PostgreSQL advisory locks) can answer
`lock_holder()` from the warehouse; `holder(engine)` asks an adapter that has it.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from toolkit.state import now

SUFFIX = ".toolkit-lock.json"


@dataclass(frozen=True)
class Holder:
    run_id: int | None
    host: str
    pid: int
    started_at: str

    def describe(self) -> str:
        run = f"run {self.run_id}" if self.run_id else "a toolkit run"
        return f"{run} ({self.host}, pid {self.pid}, started at {self.started_at})"


def sidecar(target, root: Path) -> Path | None:
    """The sidecar file of a DuckDB target (None for in-memory or other engines)."""
    if target.engine != "duckdb":
        return None
    path = target.settings.get("path", ":memory:")
    if path == ":memory:":
        return None
    database = (root / path).resolve()
    return database.with_name(database.name + SUFFIX)


def _alive(pid: int, host: str) -> bool:
    if host != socket.gethostname():
        return True  # cannot tell; assume it is
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read(path: Path | None) -> Holder | None:
    """The live holder recorded in `path`, or None (no file, unreadable, or its process died)."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
        holder = Holder(data.get("run_id"), str(data["host"]), int(data["pid"]), str(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return holder if _alive(holder.pid, holder.host) and holder.pid != os.getpid() else None


def write(path: Path | None, run_id: int | None = None, started_at: str | None = None) -> None:
    if path is None:
        return
    record = {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(),
              "started_at": started_at or now().isoformat(sep=" ", timespec="seconds")}
    temporary = path.with_name(path.name + f".{os.getpid()}")
    temporary.write_text(json.dumps(record))
    os.replace(temporary, path)  # readers see the old or the new file, never half of one


def remove(path: Path | None) -> None:
    if path is None:
        return
    try:
        data = json.loads(path.read_text())
        if int(data.get("pid", -1)) == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def holder(engine, target, root: Path) -> Holder | None:
    """Who holds the target now: the adapter's own answer when it has one, else the sidecar."""
    ask = getattr(engine, "lock_holder", None)
    if callable(ask):
        try:
            return ask()
        except Exception:
            return None
    return read(sidecar(target, root))
