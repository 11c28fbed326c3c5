"""What a command asks of a plan (`--full-refresh`, `--env`, ...), checked before anything
heavy is imported: `toolkit run` validates its options, starts opening the target, and only
then imports the planner, so that the open overlaps those imports (cli.run, session.SessionAhead).
This module imports nothing of sqlglot or the state; planning.py re-exports both names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from toolkit.errors import ProjectError

PROD = "prod"  # state.PROD (tests/test_noop_floor.py checks they agree); not imported: state imports sqlglot

_ENV_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


@dataclass(frozen=True)
class Options:
    full_refresh: bool = False
    env: str = PROD
    ignore_schedule: bool = False
    start: datetime | None = None
    end: datetime | None = None
    now: datetime | None = None


def check_env(env: str) -> str:
    if not _ENV_NAME.match(env or ""):
        raise ProjectError(f"environment name '{env}' is not valid", hint="lower-case letters, digits and _, starting with a letter, e.g. dev")
    return env
