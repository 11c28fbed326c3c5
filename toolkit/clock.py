"""The one clock: UTC "now", naive (as the state tables store it).

Everything that stamps or compares times (runs, publish times, schedules, scoring
stamps, retention) asks this module, so one setting moves all of them together:
`TOOLKIT_NOW` (ISO timestamp; UTC unless it carries an offset) for tests and
replays of schedules, or `fixed(at)` in-process.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

_fixed: datetime | None = None


def now() -> datetime:
    if _fixed is not None:
        return _fixed
    setting = os.environ.get("TOOLKIT_NOW")
    if setting:
        value = _setting(setting)
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _setting(setting: str) -> datetime:
    try:
        return datetime.fromisoformat(setting.strip())
    except ValueError:
        from toolkit.errors import ProjectError

        raise ProjectError(f"TOOLKIT_NOW={setting!r} is not an ISO timestamp",
                           hint="e.g. TOOLKIT_NOW=2024-01-01T06:00 (UTC) or 2024-01-01T07:00+01:00; unset it for the real clock") from None


@contextmanager
def fixed(at: datetime) -> Iterator[None]:
    """Stop the clock at `at` (naive UTC) for the duration of the block."""
    global _fixed
    previous, _fixed = _fixed, at
    try:
        yield
    finally:
        _fixed = previous


def wall_time(instant: datetime, zone: str, side: str) -> datetime:
    """An instant (aware, or naive UTC) as a naive wall time of `zone`, as intervals and
    --start/--end are. A wall time the fall-back repeats (02:30 twice in Berlin on the
    last Sunday of October) names two instants, and an engine reads such a literal as
    one of them: it is moved off the repeated hour, `side` "down" to a time no later
    than the instant in either reading, "up" to one no earlier, so that an interval
    edge claims no row it did not read (and a backfill reads at most an hour more)."""
    from zoneinfo import ZoneInfo

    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=timezone.utc)
    local = aware.astimezone(ZoneInfo(zone))
    wall = local.replace(tzinfo=None, fold=0)
    repeated = local.replace(fold=0).utcoffset() - local.replace(fold=1).utcoffset()
    if repeated.total_seconds() <= 0:  # one instant (a gap's wall times are never an instant's)
        return wall
    return wall - repeated if side == "down" else wall + repeated
