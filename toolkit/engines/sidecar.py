"""Who holds a DuckDB file: run id, host, pid and start time, readable by the process that waits.

DuckDB's file lock cannot be inspected from another process (it only names a PID
when opening fails), so the DuckDB adapter, once it holds the file, writes a sidecar
next to it, `<file>.toolkit-lock.json`, rewrites it when the run has an id, and
removes it at close. A sidecar whose process is gone is stale (DuckDB released the
file lock when that process died) and is ignored, then overwritten. Engines with an
inspectable lock of their own (PostgreSQL's advisory lock) need none of this.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from toolkit.clock import now

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


def path_for(database: str) -> Path:
    """The sidecar of the DuckDB file at `database` (an absolute path)."""
    path = Path(database)
    return path.with_name(path.name + SUFFIX)


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
