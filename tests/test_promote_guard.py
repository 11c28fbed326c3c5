"""A promote checks every name it keeps in the destination (publishguard.check_promote), and
a refused promote changes nothing in the warehouse.

Before, a name the destination read the source's table under already counted as
"unchanged" and was not checked: a view or table the user put there since stayed, and
the promote said "nothing to promote" (or, with another step changed, saved a state
recording the user's object as the source's step). A view of the user's that reads
another of toolkit's tables, at a name the promote kept or re-pointed, passed as
toolkit's. And promote created the destination's schemas before the check: a refused
promote left an empty schema behind."""

from __future__ import annotations

import pytest

from postgres_support import pg_url  # noqa: F401 (fixture)
from test_publish_guard import STEP
from test_publish_guard_more import USERS_TABLE, USERS_VIEW, replace_by_hand, warehouse  # noqa: F401 (fixture)

REFUSED = ("cannot promote dev -> prod: vs would be published again as app.report, which is now a {kind} toolkit did not make "
           "(replaced by hand since toolkit published it); nothing was changed")


def promoted_once(wh) -> None:
    """dev built, and prod reading dev's tables: vs at app.report, other at features.other."""
    assert wh.toolkit("run", "--env", "dev")[0] == 0
    code, text = wh.toolkit("promote", "dev", "prod")
    assert code == 0 and "2 step(s) now read dev's tables" in text, text


def physical_of(wh, step: str, env: str) -> str:
    return wh.rows(f"select physical_name from toolkit.published where step = '{step}' and env = '{env}'")[0][0]


def saved_states(wh) -> int:
    return wh.rows("select count(distinct version) from toolkit.published_history")[0][0]


def schemas(wh) -> set[str]:
    return {row[0] for row in wh.rows("select schema_name from information_schema.schemata")}


@pytest.mark.parametrize("statement", [USERS_VIEW, USERS_TABLE], ids=["view", "table"])
def test_an_unchanged_name_the_user_took_is_refused(warehouse, statement):  # noqa: F811 (fixture)
    """Nothing else to promote: before, "nothing to promote", exit 0, the user's object serving prod."""
    promoted_once(warehouse)
    replace_by_hand(warehouse, statement)
    code, text = warehouse.toolkit("promote", "dev", "prod")
    kind = "view" if "view" in statement else "table"
    assert code == 2, text
    assert REFUSED.format(kind=kind) in text and "then promote again" in text, text
    assert warehouse.rows("select * from app.report") == [("precious",)]
    warehouse.sql(f"drop {kind} app.report")  # gone: the promote goes through (a dropped view stays unchanged)
    assert warehouse.toolkit("promote", "dev", "prod")[0] == 0


def test_an_unchanged_name_the_user_took_refuses_the_whole_promote(warehouse):  # noqa: F811 (fixture)
    """Another step changed in dev: before, the promote re-pointed it and saved a state that
    recorded the user's table as dev's vs."""
    promoted_once(warehouse)
    replace_by_hand(warehouse, USERS_TABLE)
    (warehouse.root / "features/other.sql").write_text("select 3 as b\n")
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    states = saved_states(warehouse)
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2 and REFUSED.format(kind="table") in text, text
    assert warehouse.rows("select * from features.other") == [(2,)]  # prod's as it was
    assert saved_states(warehouse) == states
    assert warehouse.rows("select * from app.report") == [("precious",)]


@pytest.mark.parametrize("changed", [False, True], ids=["unchanged", "re-pointed"])
def test_a_kept_name_the_user_pointed_at_another_table_is_refused(warehouse, changed):  # noqa: F811 (fixture)
    """A view of the user's that reads another of toolkit's tables looks like toolkit's: the
    state says which one toolkit's reads. Before, it passed: left serving other's rows while
    the promote said vs was dev's already, or replaced silently."""
    promoted_once(warehouse)
    other = physical_of(warehouse, "other", "prod")
    warehouse.sql("drop view app.report")
    warehouse.sql(f"create view app.report as select * from toolkit_physical.{other}")
    if changed:
        (warehouse.root / "features/vs.sql").write_text(STEP.replace("select 1", "select 5"))
        assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2 and REFUSED.format(kind="view") in text, text
    assert warehouse.rows("select * from app.report") == [(2,)]


def test_a_refused_promote_creates_no_schema(warehouse):  # noqa: F811 (fixture)
    """A step in a schema prod does not have yet, and a name prod's user holds: refused before
    anything is created (before, the schema was created first, and left empty)."""
    (warehouse.root / "features/fresh.sql").write_text('{{ config(schema="fresh") }}\nselect 4 as c\n')
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    warehouse.sql("create schema app")
    warehouse.sql(USERS_TABLE)
    before = schemas(warehouse)
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2, text
    assert "cannot promote dev -> prod: vs would be published as app.report, which already exists" in text, text
    assert schemas(warehouse) == before and "fresh" not in before
    warehouse.sql("drop table app.report")
    assert warehouse.toolkit("promote", "dev", "prod")[0] == 0
    assert warehouse.rows("select * from fresh.fresh") == [(4,)]


def test_a_refused_promote_into_a_new_environment_creates_no_schema(warehouse):  # noqa: F811 (fixture)
    """Every schema of the destination is new: none of them is created by a refused promote."""
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    warehouse.sql("create schema app__qa")
    warehouse.sql("create view app__qa.report as select 'precious' as what")
    code, text = warehouse.toolkit("promote", "dev", "qa")
    assert code == 2 and "cannot promote dev -> qa: vs would be published as app__qa.report" in text, text
    assert "features__qa" not in schemas(warehouse)
