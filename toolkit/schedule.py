"""Step schedules (`cron` in config()) and the clock they are checked against.

    cron="@hourly" | "@daily" | "@weekly" | "@monthly" | "0 6 * * *" (5 fields, UTC)

A scheduled step is due when its data was last built before the schedule's latest
fire time at or before now. croniter evaluates the expressions (a small, widely used
library; toolkit only validates and asks it for the previous and next fire time).
"now" is toolkit.clock's (TOOLKIT_NOW sets it for tests and replays).
"""

from __future__ import annotations

from datetime import datetime

from toolkit.clock import now  # noqa: F401 (schedule.now: callers ask the schedule what time it is)

ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *"}


def expression(cron: str) -> str:
    return ALIASES.get(cron.strip().lower(), cron.strip())


def check(cron: str) -> str | None:
    """None if `cron` is a valid schedule, else what is wrong with it."""
    from croniter import croniter

    text = expression(cron)
    if text.startswith("@"):
        return f"unknown schedule '{cron}' (use @hourly, @daily, @weekly, @monthly or 5 cron fields)"
    if len(text.split()) != 5:
        return f"cron '{cron}' must have 5 fields (minute hour day-of-month month day-of-week), got {len(text.split())}"
    from croniter import CroniterBadDateError

    try:
        # A date that never comes (February 31) parses, then fails every due() check later.
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        return f"cron '{cron}' never fires: no date matches it"
    except (ValueError, KeyError) as error:
        return f"cron '{cron}' is not valid: {error}"
    return None




def previous_fire(cron: str, at: datetime) -> datetime:
    """The latest fire time at or before `at` (croniter's get_prev leaves `at` itself out:
    a run at exactly 06:00 of a "0 6 * * *" step would wait a day)."""
    from croniter import croniter

    if at.second == 0 and at.microsecond == 0 and croniter.match(expression(cron), at):
        return at
    return croniter(expression(cron), at).get_prev(datetime)


def next_fire(cron: str, at: datetime) -> datetime:
    from croniter import croniter

    return croniter(expression(cron), at).get_next(datetime)


def due(cron: str, built_at: datetime | None, at: datetime) -> bool:
    return built_at is None or built_at < previous_fire(cron, at)
