"""Every engine adapter passes the same conformance checks (toolkit.engines.conformance)."""

from __future__ import annotations

import pytest

from postgres_support import pg_url  # noqa: F401 (a fixture)
from toolkit.config import Target
from toolkit.engines import connect
from toolkit.engines.conformance import CHECKS

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"


@pytest.fixture(params=["duckdb", "postgres"])
def open_engine(request, tmp_path):
    if request.param == "duckdb":
        target = Target("conformance", "duckdb", {"path": "warehouse.duckdb"})
    else:
        target = Target("conformance", "postgres", {"url": request.getfixturevalue("pg_url")})
    return lambda lock_timeout=5.0, exclusive=True, stop_waiting=None: connect(target, tmp_path, lock_timeout, exclusive=exclusive,
                                                                            stop_waiting=stop_waiting)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_engine_conformance(check, open_engine):
    check(open_engine)
